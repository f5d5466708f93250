"""Family-based care upstream of residential care (the ``fostering`` config section).

With fostering on, each need's arrivals are the children of that need entering care who need a
placement. A share of them is planned for family-based care: such a child is placed with a free
in-house foster carer; else an independent fostering agency (IFA) search runs and finds a
placement with some probability after its search time; else the child enters the residential
cascade "for want of a foster placement" (a NO_FOSTER row, then its ARRIVE). Such a child steps
down from residential care to an in-house carer as soon as one is free (carers freeing up or
recruited serve these children, first come first served, before any new child). The other
arrivals go through the residential cascade exactly as without fostering.

A foster placement is the residential system's concern only in that it holds a carer and costs
money: it is logged (FOSTER_PLACE, FOSTER_END) so that it is counted and costed, and the carer
takes nobody else meanwhile. In-house carers are a pool of individuals: an initial number,
recruitment spread through the year, and (optionally) deregistration after an exponential time
registered, when free or at the end of the placement in hand.

Draws: one row of uniforms per arriving child on the need's own stream ``foster:<need>`` (the
cohort draws none), in arrival order, so the k-th arrival of a need gets the same draws under
every strategy; carers' registered times come from ``foster_carer_registered``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
import simpy

from simulation.calendar import DAYS_PER_YEAR
from simulation.events import FOSTER_IFA, FOSTER_IN_HOUSE, NO_UNIT, EventKind, Route
from simulation.processes.arrivals import Children
from simulation.processes.placement import GONE, Placements
from simulation.scenario import Fostering, Scenario
from simulation.streams import DrawBuffer, Streams

# Column of each draw in a child's row of fostering uniforms. Append-only: never renumber.
COL_PLAN = 0  # family-based or residential plan
COL_IFA_FOUND = 1
COL_IFA_SEARCH = 2
COL_DAYS = 3  # time with the carer (in-house or IFA, each from its own distribution)
COL_IFA_PRICE = 4
N_FOSTER_COLUMNS = 8  # spare columns for draws to come

_FAMILY_PLAN = int(EventKind.FAMILY_PLAN)
_FOSTER_PLACE = int(EventKind.FOSTER_PLACE)
_FOSTER_END = int(EventKind.FOSTER_END)


@dataclass(frozen=True)
class FosterDraws:
    """Each child's fostering draws, by child id (plain lists for speed)."""

    family_plan: list[bool]
    ifa_found: list[bool]
    ifa_search_days: list[float]
    in_house_days: list[float]
    ifa_days: list[float]
    ifa_price: list[float]


def draw_foster(scenario: Scenario, streams: Streams, children: Children) -> FosterDraws:
    """Every child's fostering draws: arrivals only (the cohort is already placed)."""
    cfg = scenario.fostering
    assert cfg is not None
    n = len(children)
    u = np.zeros((n, N_FOSTER_COLUMNS))
    need = np.asarray(children.need, dtype=np.intp)
    arriving = ~np.asarray(children.initial, dtype=bool)
    share = np.zeros(n)
    age = (np.asarray(children.arrival) - np.asarray(children.born)) / DAYS_PER_YEAR
    for k, name in enumerate(scenario.need_names):
        rows = np.flatnonzero((need == k) & arriving)  # child ids run in arrival order
        if not len(rows):
            continue
        u[rows] = streams(f"foster:{name}").random((len(rows), N_FOSTER_COLUMNS))
        share[rows] = cfg.family_plan_share.get(name, 0.0)
        bands = cfg.family_plan_share_by_age.get(name, [])
        if bands:
            # The first band whose upper age is above the child's age at entry.
            upper = np.array([b.below_age_years for b in bands])
            band = np.searchsorted(upper, age[rows], side="right")
            in_band = band < len(bands)
            shares = np.array([b.share for b in bands])
            share[rows[in_band]] = shares[band[in_band]]
    plan = arriving & (u[:, COL_PLAN] < share)
    in_house_days = np.maximum(cfg.in_house.placement_days.ppf(u[:, COL_DAYS]), 0.0)
    ifa = cfg.ifa
    if ifa is not None:
        found = u[:, COL_IFA_FOUND] < ifa.find_probability
        search = np.maximum(ifa.search_days.ppf(u[:, COL_IFA_SEARCH]), 0.0)
        ifa_days = np.maximum(ifa.placement_days.ppf(u[:, COL_DAYS]), 0.0)
        price = np.maximum(ifa.weekly_price_gbp.ppf(u[:, COL_IFA_PRICE]), 0.0)
    else:
        found = np.zeros(n, dtype=bool)
        search = ifa_days = price = np.zeros(n)
    return FosterDraws(
        plan.tolist(),
        found.tolist(),
        search.tolist(),
        in_house_days.tolist(),
        ifa_days.tolist(),
        price.tolist(),
    )


class FosterCare:
    """The in-house carer pool, IFA searches and the children in residential care for want of
    a foster placement (attached to the cascade core; its ``arrive`` replaces the core's as
    the entry point of arrivals)."""

    def __init__(
        self,
        placements: Placements,
        cfg: Fostering,
        draws: FosterDraws,
        registered_days: DrawBuffer | None,
    ) -> None:
        """``registered_days``: each new carer's time registered (None: nobody leaves)."""
        self.placements = placements
        self.draws = draws
        self.in_house_weekly = cfg.in_house.weekly_cost_gbp
        self.has_ifa = cfg.ifa is not None
        self.step_down = cfg.step_down_from_residential
        self.registered_days = registered_days
        self.leave_day: list[float] = []  # each carer's end of registration
        self.free: dict[int, None] = {}  # free carers, longest free first
        self.want: dict[int, None] = {}  # in residential care for want of a foster placement
        self.recruiting = False  # the first add_carers is the initial pool

    # -- children ---------------------------------------------------------------------------

    def arrive(self, child: int) -> None:
        p = self.placements
        if not self.draws.family_plan[child]:
            p.arrive(child)
            return
        now, need = p.env.now, p.children.need[child]
        p.rows.append((now, _FAMILY_PLAN, child, NO_UNIT, need, 0.0, -1, -1))
        if self.free:
            self._to_in_house(child, from_residential=False)
        elif self.has_ifa:
            # A search still going on at 18 ends then: the young person leaves care.
            search_days = self._days(child, self.draws.ifa_search_days[child])
            p.env.timeout(search_days).callbacks.append(partial(self._ifa_search_ends, child))
        else:
            self._no_foster(child)

    def _ifa_search_ends(self, child: int, _event: simpy.Event) -> None:
        p = self.placements
        if p.env.now >= p.children.age_out_at[child]:
            return  # aged out while searching: no foster or residential placement follows
        if not self.draws.ifa_found[child]:
            self._no_foster(child)
            return
        now, need = p.env.now, p.children.need[child]
        days = self._days(child, self.draws.ifa_days[child])
        price = self.draws.ifa_price[child]
        p.rows.append((now, _FOSTER_PLACE, child, NO_UNIT, need, price, 0, FOSTER_IFA))
        p.env.timeout(days).callbacks.append(partial(self._ifa_ends, child))

    def _ifa_ends(self, child: int, _event: simpy.Event) -> None:
        p = self.placements
        p.rows.append(
            (p.env.now, _FOSTER_END, child, NO_UNIT, p.children.need[child], 0.0, -1, FOSTER_IFA)
        )

    def _no_foster(self, child: int) -> None:
        p = self.placements
        p.log.append(p.env.now, EventKind.NO_FOSTER, child, need=p.children.need[child])
        p.arrive(child)
        if self.step_down and p.location[child] != GONE:
            self.want[child] = None

    def _days(self, child: int, days: float) -> float:
        """Time with the carer, ending by the age-out day at the latest."""
        p = self.placements
        return max(min(days, p.children.age_out_at[child] - p.env.now), 0.0)

    def _to_in_house(self, child: int, from_residential: bool) -> None:
        p = self.placements
        carer = next(iter(self.free))
        del self.free[carer]
        days = self._days(child, self.draws.in_house_days[child])
        if from_residential:
            p.exit(child, Route.FOSTER, value=days)
        p.rows.append(
            (
                p.env.now,
                _FOSTER_PLACE,
                child,
                NO_UNIT,
                p.children.need[child],
                self.in_house_weekly,
                int(from_residential),
                FOSTER_IN_HOUSE,
            )
        )
        p.env.timeout(days).callbacks.append(partial(self._in_house_ends, child, carer))

    def _in_house_ends(self, child: int, carer: int, _event: simpy.Event) -> None:
        p = self.placements
        now = p.env.now
        p.rows.append(
            (now, _FOSTER_END, child, NO_UNIT, p.children.need[child], 0.0, -1, FOSTER_IN_HOUSE)
        )
        if now >= self.leave_day[carer]:
            p.log.append(now, EventKind.CARER_LEAVE)
            return
        self.free[carer] = None
        self._serve_want()

    def _serve_want(self) -> None:
        """Free carers take the children in residential care for want of a foster placement,
        first come first served (a child who has left meanwhile is dropped)."""
        want, location = self.want, self.placements.location
        while self.free and want:
            child = next(iter(want))
            del want[child]
            if location[child] != GONE:
                self._to_in_house(child, from_residential=True)

    # -- carers -----------------------------------------------------------------------------

    def add_carers(self, count: int) -> None:
        """Carers register: the initial pool (first call), then each recruit."""
        p = self.placements
        now = p.env.now
        p.log.append(now, EventKind.CARERS_JOIN, value=count, route=int(self.recruiting))
        self.recruiting = True
        for _ in range(count):
            carer = len(self.leave_day)
            leave = now + self.registered_days() if self.registered_days else math.inf
            self.leave_day.append(leave)
            self.free[carer] = None
            if leave < math.inf:
                p.env.timeout(leave - now).callbacks.append(partial(self._registration_ends, carer))
        self._serve_want()

    def _registration_ends(self, carer: int, _event: simpy.Event) -> None:
        """A free carer leaves now; a busy one at the end of the placement in hand."""
        if carer in self.free:
            del self.free[carer]
            p = self.placements
            p.log.append(p.env.now, EventKind.CARER_LEAVE)


def registered_days(cfg: Fostering, streams: Streams) -> DrawBuffer | None:
    """Each new carer's days registered: exponential with the configured mean."""
    mean_years = cfg.in_house.years_registered_mean
    if mean_years is None:
        return None
    mean_days = mean_years * DAYS_PER_YEAR
    return DrawBuffer(streams("foster_carer_registered"), lambda u: -np.log1p(-u) * mean_days)
