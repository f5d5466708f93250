"""The market: new spot, framework and unregistered placements, their prices (in cash terms at
placement, with uplifts as price changes), retainers, and the most expensive 5% of placements."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.events import FrozenLog
from simulation.metrics.bins import bin_counts, weighted_bins
from simulation.metrics.context import Context, FamilyTables
from simulation.metrics.flows import Placements
from simulation.metrics.kinds import _FRAMEWORK, _SPOT, _UNREGISTERED, market_codes
from simulation.metrics.spells import _C
from simulation.metrics.steps import Array


@dataclass(slots=True)
class Retainers:
    """Retainers paid, in cash, by financial year and by week."""

    by_year: Array
    by_week: Array


def retainers(ctx: Context) -> Retainers:
    """Retainers: the placement's weekly price for the days the bed was held, paid on moving in
    (at the price index of that day)."""
    log, cal = ctx.log, ctx.cal
    ret_rows, ret_cost = retainer_payments(ctx)
    if not len(ret_rows):  # (what binning no payments gives, for less)
        return Retainers(np.zeros(len(cal.years.edges) - 1), np.zeros(len(cal.weeks.edges) - 1))
    by_year, by_week = weighted_bins(
        log.time[ret_rows], ret_cost, [cal.years.edges, cal.weeks.edges]
    )
    return Retainers(by_year, by_week)


def retainer_payments(ctx: Context) -> tuple[NDArray[np.intp], Array]:
    """The RETAINER rows of the log and the cash each one pays."""
    log = ctx.log
    ret_rows = ctx.rows[_C.RETAINER]
    if not len(ret_rows):
        return ret_rows, np.zeros(0)
    price = _retainer_prices(ctx, ret_rows)
    return ret_rows, price / 7.0 * log.value[ret_rows] * ctx.price_index(log.time[ret_rows])


def _retainer_prices(ctx: Context, ret_rows: NDArray[np.intp]) -> Array:
    """The weekly price of the placement each RETAINER row holds the bed for: the PLACE of the
    same child, into the same unit at the same time (the child's last PLACE logged before it)."""
    log = ctx.log
    place_rows = ctx.rows[_C.PLACE]  # in log order
    if len(ret_rows) and not len(place_rows):
        raise ValueError("RETAINER rows but no PLACE rows in the log")
    # Most often the last PLACE logged before a RETAINER is its own; else look up the child's.
    before = place_rows.searchsorted(ret_rows) - 1
    place = place_rows[np.maximum(before, 0)]
    own = (before >= 0) & _same_placement(log, place, ret_rows)
    if not own.all():
        other = ~own
        found, place[other] = _last_place_of_child(ctx, ret_rows[other])
        if not (found & _same_placement(log, place[other], ret_rows[other])).all():
            raise ValueError("a RETAINER row without the PLACE it holds the bed for, in the log")
    return log.value[place]


def _same_placement(
    log: FrozenLog, place: NDArray[np.intp], ret_rows: NDArray[np.intp]
) -> NDArray[np.bool_]:
    """Whether each PLACE row is of the same child, unit and time as its RETAINER row."""
    return (
        (log.child[place] == log.child[ret_rows])
        & (log.unit[place] == log.unit[ret_rows])
        & (log.time[place] == log.time[ret_rows])
    )


def _last_place_of_child(
    ctx: Context, rows: NDArray[np.intp]
) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """Whether each row's child has a PLACE row logged before it, and the last such row."""
    log, by_child = ctx.log, ctx.by_child
    # The PLACE rows by child, then in log order: (child, row) increases along them.
    is_place = by_child.kind == _C.PLACE
    place_rows = by_child.rows[is_place]
    n = len(log.time)
    child = log.child[rows].astype(np.int64)
    before = (by_child.key[is_place].astype(np.int64) * n + place_rows).searchsorted(
        child * n + rows
    ) - 1
    place = place_rows[np.maximum(before, 0)]
    return (before >= 0) & (log.child[place] == child), place


def market(
    ctx: Context, placed: Placements, spot_bed_days: float, weekly_spot: Array
) -> FamilyTables:
    """New market placements per week and year, and the market's summary figures.

    ``spot_bed_days``: bed-days in spot placements; ``weekly_spot``: children in spot, weekly.
    """
    log, cal = ctx.log, ctx.cal
    new_spot = placed.rows[placed.is_new & (placed.kind == _SPOT)]
    spot_times = log.time[new_spot]
    spot_sorted = np.sort(spot_times)
    weekly = {"spot_new_placements": bin_counts(spot_sorted, cal.weeks.edges)}
    finance = {"spot_new_placements": bin_counts(spot_sorted, cal.years.edges)}
    summary: dict[str, float] = {}
    summary["spot_placements"] = float(len(new_spot))
    summary["spot_placements_per_year"] = summary["spot_placements"] / ctx.years
    summary["framework_placements"] = float(
        np.count_nonzero(placed.is_new & (placed.kind == _FRAMEWORK))
    )
    summary["spot_stock_mean"] = spot_bed_days / ctx.horizon
    summary["spot_stock_peak_week"] = float(weekly_spot.max(initial=0.0))
    summary["unregistered_placements"] = float(
        np.count_nonzero(placed.is_new & (placed.kind == _UNREGISTERED))
    )
    # Prices in cash terms at placement: the P95 weekly price of new spot placements.
    spot_prices = log.value[new_spot] * ctx.price_index(spot_times)
    summary["spot_price_p95_weekly_gbp"] = (
        _percentile(spot_prices, 95) if len(spot_prices) else math.nan
    )
    summary.update(_top_placements(ctx))
    return FamilyTables(weekly, finance, summary)


def _top_placements(ctx: Context) -> dict[str, float]:
    """The cost of the most expensive 5% of market placements (whole placements, across price
    changes), and their share of all market placements' cost."""
    sp = ctx.placed
    in_market = market_codes(ctx.placed_kind)
    if not in_market.any():
        return {"cost_top5pct_placements_gbp": 0.0, "cost_top5pct_share": math.nan}
    g_start, g_end = ctx.placed_g
    spell_cost = sp.price[in_market] / 7.0 * (g_end[in_market] - g_start[in_market])
    # Placement ids never decrease along the spells: number each run of equal ids.
    ids = sp.placement[in_market]
    pid = np.concatenate(([0], np.cumsum(ids[1:] != ids[:-1])))
    per_placement = np.sort(np.bincount(pid, weights=spell_cost))[::-1]
    top = per_placement[: math.ceil(0.05 * len(per_placement))]
    total = per_placement.sum()
    return {
        "cost_top5pct_placements_gbp": float(top.sum()),
        "cost_top5pct_share": float(top.sum() / total) if total > 0 else math.nan,
    }


def _percentile(x: Array, q: float) -> float:
    """``np.percentile(x, q)`` (its default 'linear' method) of a non-empty 1-D array, by the
    same arithmetic: a sort is far cheaper than numpy's general machinery for one quantile."""
    s = np.sort(x)
    if np.isnan(s[-1]):
        return math.nan
    n = len(s)
    v = (n - 1) * (q / 100)
    if v >= n - 1:
        return float(s[-1])
    i = math.floor(v)
    t = v - i
    a, b = float(s[i]), float(s[i + 1])
    d = b - a
    # numpy's lerp: from the nearer end, to stay monotonic.
    return b - d * (1 - t) if t >= 0.5 else a + d * t
