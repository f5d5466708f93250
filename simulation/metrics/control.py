"""What variance reduction needs from each replication: the total cost at mean prices, and
control variates whose expectations are known exactly from the scenario.

Conditional Monte Carlo. Every market placement's weekly price is a draw made for the child
(``spot_price``, ``fw_price``, ``unregistered_price``), independent of everything that decides
where and how long children are placed (see :func:`prices_steer_placements` for the one rule
that would break this); so is each yearly uplift (a placement running on 1 April gets one with
probability ``p``, of a drawn size ``U``, on its market's own streams). Cost is linear in the
price and multiplied by ``1 + U`` at each uplift, so the cost with each drawn price replaced by
its distribution's mean and each round's multiplier by its expectation ``1 + p E[U]`` (rounds
are independent of each other and of the price) is the cost's expectation given the
replication's path: same mean as the drawn-price cost, never a larger variance
(``cost_total_at_mean_prices_gbp``). The drawn-price cost stays the one for distributions.

Controls (``control_*``): functions of the children's draws minus their exact expectation, so
each has mean 0 whatever the strategy (Law & Kelton, *Simulation Modeling and Analysis*, s11.4;
Nelson 1990, "Control variate remedies", *Operations Research* 38(6)):

- ``control_arrivals``: children arriving during the run (random and scheduled), less the
  integral of the non-homogeneous arrival rate (trend and seasonality) plus the scheduled ones;
- ``control_stay_days``: the sum over arrivals of ``min(length of stay, days left in the run)``
  less its expectation, ``∫ λ(t) E[min(L, H - t)] dt`` (by quadrature once per scenario);
- ``control_stay_spot_gbp``: the same with each child's days weighted by its need's mean weekly
  spot price / 7 (the days a strategy may have to buy, in pounds).

The estimators that use them live in :mod:`simulation.variance`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR
from simulation.distributions import Distribution, Fixed
from simulation.kinds import KIND
from simulation.metrics.context import Context
from simulation.metrics.market import retainer_payments
from simulation.metrics.steps import Array
from simulation.model import april_firsts
from simulation.processes.arrivals import Children, _children_plan, _NeedPlan, _Prices
from simulation.scenario import Scenario
from simulation.scenario_cache import per_scenario, read_only

CONDITIONAL_COST = "cost_total_at_mean_prices_gbp"
CONTROLS = ("control_arrivals", "control_stay_days", "control_stay_spot_gbp")
CONTROL_SUMMARY = (CONDITIONAL_COST, *CONTROLS)

# Quadrature step (days) for E[min(L, x)] and the rate integral: the error of the midpoint rule
# on this grid is below 1e-6 of the expectation for the scenario's smooth distributions.
_STEP_DAYS = 1.0 / 32.0


def _mixture_mean(prices: _Prices | None) -> float:
    """The mean of a market's price draw: the base price, or the high-cost tail where it
    applies (the tail is chosen by its own uniform, independent of the price's)."""
    if prices is None:
        return 0.0
    if prices.tail_price is None:
        return prices.price.mean
    s = prices.tail_share
    return (1.0 - s) * prices.price.mean + s * prices.tail_price.mean


def _mean_min(los: Distribution, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``E[min(L, x)] = ∫_0^x P(L > l) dl`` for each ``x >= 0``."""
    if isinstance(los, Fixed):
        return np.minimum(max(los.value, 0.0), x)
    top = float(np.max(x, initial=0.0))
    grid = np.arange(0.0, top + 2 * _STEP_DAYS, _STEP_DAYS)
    mid = grid[:-1] + _STEP_DAYS / 2
    survival = 1.0 - np.clip(los.cdf(mid), 0.0, 1.0)
    cum = np.concatenate([[0.0], np.cumsum(survival) * _STEP_DAYS])
    return np.interp(x, grid, cum)


def _rate_per_day(need: _NeedPlan, t: NDArray[np.float64]) -> NDArray[np.float64]:
    """The arrival rate the thinning in ``_arrival_times`` realises, per day at day ``t``."""
    season = need.season_of_day[t.astype(int)]
    return need.arrivals_per_year * need.growth ** (t / DAYS_PER_YEAR) * season / DAYS_PER_YEAR


def expected_arrivals(need: _NeedPlan, horizon: float) -> float:
    """Expected random arrivals of ``need`` in ``[0, horizon)``: the rate's exact integral."""
    if need.arrivals_per_year <= 0:
        return 0.0
    edges = np.append(np.arange(0.0, math.ceil(horizon)), horizon)
    edges = np.unique(np.minimum(edges, horizon))
    a, b = edges[:-1], edges[1:]
    season = need.season_of_day[a.astype(int)]
    if need.growth == 1.0:
        growth_integral = b - a
    else:
        k = math.log(need.growth) / DAYS_PER_YEAR
        growth_integral = (np.exp(k * b) - np.exp(k * a)) / k
    return float(np.sum(need.arrivals_per_year / DAYS_PER_YEAR * season * growth_integral))


def expected_stay_days(need: _NeedPlan, horizon: float) -> float:
    """Expected ``Σ min(L, horizon - t)`` over the need's random and scheduled arrivals."""
    total = 0.0
    if need.arrivals_per_year > 0:
        n = math.ceil(horizon / _STEP_DAYS)
        t: NDArray[np.float64] = (np.arange(n, dtype=float) + 0.5) * (horizon / n)
        total += float(
            np.sum(_rate_per_day(need, t) * _mean_min(need.los, horizon - t)) * (horizon / n)
        )
    if len(need.scheduled):
        total += float(np.sum(_mean_min(need.los, np.maximum(horizon - need.scheduled, 0.0))))
    return total


@dataclass(frozen=True)
class Expectations:
    """Per need (scenario order): the exact expectations of the controls' parts, and the mean
    of each market's price draw (by price attribute); the cohort children whose price is set."""

    arrivals: NDArray[np.float64]  # random + scheduled arrivals
    stay_days: NDArray[np.float64]
    spot_day_gbp: NDArray[np.float64]  # mean weekly spot price / 7
    price_mean: dict[str, NDArray[np.float64]]
    set_price_children: NDArray[np.intp]  # child ids (the cohort comes first, in config order)


@per_scenario
def expectations(scenario: Scenario) -> Expectations:
    """Worked out once per scenario, from the same plan the children are drawn from."""
    plan = _children_plan(scenario)
    horizon = scenario.horizon_days
    arrivals = [expected_arrivals(n, horizon) + len(n.scheduled) for n in plan.needs]
    stay = [expected_stay_days(n, horizon) for n in plan.needs]
    spot = np.array([_mixture_mean(n.spot) for n in plan.needs])
    unreg = plan.unregistered_price.mean if plan.unregistered_price is not None else 0.0
    cohort = plan.cohort
    return Expectations(
        arrivals=read_only(np.array(arrivals)),
        stay_days=read_only(np.array(stay)),
        spot_day_gbp=read_only(spot / 7.0),
        price_mean={
            "spot_price": read_only(spot),
            "fw_price": read_only(np.array([_mixture_mean(n.framework) for n in plan.needs])),
            "unregistered_price": read_only(np.full(len(plan.needs), unreg)),
        },
        # The cohort is sorted into config order, first among the children (model's order).
        set_price_children=read_only(cohort.config_row[cohort.price_rows]),
    )


def controls(scenario: Scenario, children: Children) -> dict[str, float]:
    """The replication's control variates (each with expectation exactly 0)."""
    e = expectations(scenario)
    # The cohort comes first among the children (the model's order): the rest arrived.
    first = _children_plan(scenario).cohort.size
    arrival = np.asarray(children.arrival[first:])
    stay = np.minimum(
        np.asarray(children.los[first:]), np.maximum(scenario.horizon_days - arrival, 0)
    )
    need_new = np.asarray(children.need[first:], dtype=np.intp)
    return {
        "control_arrivals": float(len(arrival) - e.arrivals.sum()),
        "control_stay_days": float(stay.sum() - e.stay_days.sum()),
        "control_stay_spot_gbp": float(
            np.sum(stay * e.spot_day_gbp[need_new]) - np.sum(e.stay_days * e.spot_day_gbp)
        ),
    }


def prices_steer_placements(scenario: Scenario) -> bool:
    """Whether a drawn price changes where children go (repatriating the most expensive first):
    then the cost at mean prices is not the expected cost given the path, and is not given."""
    rule = scenario.placement_policy.repatriation
    return rule is not None and rule.priority == "most_expensive"


def _price_ratio(
    scenario: Scenario, children: Children, child: NDArray[np.intp], attr: str
) -> NDArray[np.float64]:
    """Mean price over drawn price of each ``child``'s ``attr`` (1 where the price is set)."""
    e = expectations(scenario)
    ids = child.tolist()  # a few children: read the lists, not whole arrays of them
    drawn_of, need_of = getattr(children, attr), children.need
    d = np.array([drawn_of[i] for i in ids], dtype=float)
    m = e.price_mean[attr][np.array([need_of[i] for i in ids], dtype=np.intp)]
    m = np.where(np.isin(child, e.set_price_children), d, m)
    return np.divide(m, d, out=np.ones_like(d), where=d != 0.0)


def uplift_factor_per_round(scenario: Scenario, kind: str) -> float:
    """The expected price multiplier of one 1 April uplift round for a placement in the
    market ``kind``: ``1 + p E[U]`` (1 where the market has no uplifts)."""
    market = getattr(scenario.provision, kind, None)
    p = getattr(market, "uplift_probability_per_year", 0.0)
    size = getattr(market, "uplift", None)
    if p <= 0 or size is None:
        return 1.0
    return 1.0 + p * size.mean


def _placement_starts(sp_start: Array, placement: NDArray[np.int64]) -> Array:
    """The start of the placement each spell belongs to (spells split by a price change share
    a placement)."""
    ids, inverse = np.unique(placement, return_inverse=True)
    first = np.full(len(ids), np.inf)
    np.minimum.at(first, inverse, sp_start)
    return first[inverse]


def _expected_uplift_days(
    ctx: Context, start: Array, end: Array, placed_at: Array, factor: float
) -> Array:
    """Σ over the pieces of each spell between 1 April rounds of ``factor**k`` times the piece's
    price-indexed days, ``k`` the rounds the placement has met by then (those after it
    started): the spell's expected uplift multiplier, integrated over its days."""
    rounds = np.asarray(april_firsts(ctx.scenario), dtype=float)
    edges = np.concatenate([[-np.inf], rounds, [np.inf]])
    lo = np.clip(edges[None, :-1], start[:, None], end[:, None])
    hi = np.clip(edges[None, 1:], start[:, None], end[:, None])
    # Between edges k and k+1 the rounds met are those at or before edge k, after the start.
    met = np.arange(len(rounds) + 1)[None, :] - np.searchsorted(rounds, placed_at, "right")[:, None]
    weight = factor ** np.maximum(met, 0)
    return np.sum(weight * (ctx.g(hi) - ctx.g(lo)), axis=1)


def cost_at_mean_prices(ctx: Context, children: Children, cost_total_gbp: float) -> float:
    """``cost_total_gbp`` with every drawn market price at its mean and every yearly uplift
    at its expectation (the cost's expectation given the path: neither changes where or how
    long a child is placed)."""
    scenario = ctx.scenario
    if prices_steer_placements(scenario):
        return math.nan
    sp = ctx.placed
    g_start, g_end = ctx.placed_g
    ret_rows, ret_cost = retainer_payments(ctx)
    shift = 0.0
    for unit in ctx.units:
        attr = KIND[unit.kind].price_attr
        if attr is None:
            continue
        here = sp.unit == unit.index
        if here.any():
            child = sp.child[here].astype(np.intp)
            ratio = _price_ratio(scenario, children, child, attr)
            spent = sp.price[here] / 7.0 * (g_end[here] - g_start[here])
            factor = uplift_factor_per_round(scenario, unit.kind)
            if factor == 1.0:
                shift += float(np.sum((ratio - 1.0) * spent))
            else:
                # The price at placement is the child's draw: the mean is ratio * draw.
                drawn = np.array([getattr(children, attr)[i] for i in child.tolist()])
                start = sp.start[here]
                placed_at = _placement_starts(start, sp.placement[here])
                days = _expected_uplift_days(ctx, start, sp.end[here], placed_at, factor)
                shift += float(np.sum(ratio * drawn / 7.0 * days - spent))
        held = ctx.log.unit[ret_rows] == unit.index
        if held.any():
            who = ctx.log.child[ret_rows][held].astype(np.intp)
            ratio = _price_ratio(scenario, children, who, attr)
            shift += float(np.sum((ratio - 1.0) * ret_cost[held]))
    return cost_total_gbp + shift


def control_summary(ctx: Context, children: Children, cost_total_gbp: float) -> dict[str, float]:
    """The summary's variance-reduction figures (:data:`CONTROL_SUMMARY`)."""
    return {
        CONDITIONAL_COST: cost_at_mean_prices(ctx, children, cost_total_gbp),
        **controls(ctx.scenario, children),
    }
