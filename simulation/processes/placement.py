"""The placement cascade: finding each child a bed, moving children, and freeing beds.

A child needing a placement tries each provision in the policy's order. Internal homes and block
contracts admit at once when an open unit that accepts the child's need has a free bed (and the
child can be matched with the children there). Framework and spot are markets: a search takes
time; a framework offer comes with some probability, spot always finds a bed. While searching the
child waits (unplaced), and takes the first matching internal or block bed that frees up before
the search ends. A spot search that outlasts a limit puts the child in an unregistered placement
until the registered bed is found.

A stay ends at its planned length (exit by the sampled route) or at the age-out age, whichever
comes first. A child due to step down to foster care needs a free "next step" carer when carers
are limited: without one the child stays in the bed (a delayed step-down). Placements can break
down (the child goes back through the cascade), and freed in-city beds that nobody waits for can
bring a child back from a market placement (repatriation).

Stays and searches are plain timeout callbacks rather than processes: they are the hot path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import simpy
from numpy.typing import NDArray

from simulation.distributions import Distribution
from simulation.events import MOVE_FOUND, MOVE_REPATRIATION, NO_UNIT, EventKind, EventLog, Route
from simulation.processes.arrivals import Children
from simulation.streams import DrawBuffer

MONTH_DAYS = 365.25 / 12
# Event codes as plain ints for the hot paths, which append log rows as tuples.
_ARRIVE, _SEARCH, _PLACE, _EXIT = (
    int(EventKind.ARRIVE),
    int(EventKind.SEARCH),
    int(EventKind.PLACE),
    int(EventKind.EXIT),
)
_MOVE, _BED_HOLD, _BED_RELEASE = (
    int(EventKind.MOVE),
    int(EventKind.BED_HOLD),
    int(EventKind.BED_RELEASE),
)
_PREVENT, _RETAINER = int(EventKind.PREVENT), int(EventKind.RETAINER)
WAITING = -1
GONE = -2
NOT_ARRIVED = -3
BED_KINDS = ("internal", "block")
MARKET_KINDS = ("framework", "spot", "unregistered")


@dataclass(frozen=True)
class UnitInfo:
    """A place children can live: an internal home, a block contract, or a market."""

    index: int
    name: str
    kind: str  # internal | block | framework | spot | unregistered
    beds: int  # 0 for a market (unbounded)
    in_city: bool
    needs: frozenset[int]
    weekly_cost_gbp: float  # internal: the home's running cost; block: price per bed
    assumed_occupancy: float | None = None
    match_probability: float = 1.0
    turnaround: Distribution | None = None
    solo_needs: frozenset[int] = frozenset()
    max_stay_days: float | None = None
    return_home_share: float = 0.0
    fill_per_month: int = 0  # phased fill: admissions per month after opening (0 = no cap)
    fill_months: int = 0
    planned_open_day: float = 0.0
    capital_annual_gbp: float = 0.0  # annuity repaying the borrowed capital
    capital_from_day: float = 0.0
    capital_years: int = 0


@dataclass
class UnitDraws:
    """Per-unit random draws: matching a child to the group, bed turnaround days, and whether a
    child at a short-stay home's limit returns home."""

    match: DrawBuffer | None = None
    turnaround: DrawBuffer | None = None
    stay_limit: DrawBuffer | None = None


@dataclass(frozen=True)
class PreventionRule:
    """A prevention service in model time: needs, share, active days, optional home."""

    needs: frozenset[int]
    share: float
    start: float
    end: float
    home: int  # unit index, or -1


@dataclass(frozen=True)
class RepatriationRule:
    from_kinds: tuple[str, ...]
    out_of_city_only: bool
    min_remaining_days: float
    max_moves_per_month: int
    priority: str


@dataclass
class Flows:
    """Settings and random draws of the flows beyond the basic cascade (all off by default)."""

    carers_limited: bool = False
    carer_needs: frozenset[int] | None = None  # None: every need's foster step-down
    repatriation: RepatriationRule | None = None
    breakdown_rate_per_day: dict[str, float] = field(default_factory=dict)
    breakdown_draws: list[DrawBuffer] = field(default_factory=list)  # per need: uniforms
    unregistered_after_days: float | None = None
    prevention: tuple[PreventionRule, ...] = ()
    month_of_day: NDArray | None = None  # calendar month number of each whole day


class Placements:
    """Occupancy state of every unit and the cascade that fills them."""

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        units: list[UnitInfo],
        children: Children,
        order: list[str],
        draws: list[UnitDraws] | None = None,
        flows: Flows | None = None,
    ) -> None:
        self.env = env
        self.log = log
        self.units = units
        self.children = children
        self.order = order
        self.flows = flows or Flows()
        n = len(children)
        self.occupants: list[set[int]] = [set() for _ in units]
        self.held = [0] * len(units)  # beds emptied but not yet ready for the next child
        self.hold_epoch = [0] * len(units)  # bumps on closure, voiding pending releases
        self.draws = draws or [UnitDraws() for _ in units]
        self.is_open = [False] * len(units)
        # Day each unit closes: from then on it admits nobody, even before its close event at
        # that instant has run (another unit closing the same day must not move children in).
        self.close_day = [math.inf] * len(units)
        self.location = [NOT_ARRIVED] * n
        self.placed_once = [False] * n
        self.search_token = [0] * n
        self.place_token = [0] * n  # bumps at every placement: voids stale breakdown timers
        self.exit_at = [math.inf] * n  # planned exit day, set at the first placement
        self.placed_since = [0.0] * n
        self.price_now = [0.0] * n  # weekly price of the current market placement
        self.in_city_now = [False] * n
        self.barred = [-1] * n  # the unit a child's placement just broke down in
        self.waiting: dict[int, None] = {}  # insertion-ordered: first come, first served
        self.foster_queue: dict[int, None] = {}  # ready to step down, no carer yet
        self.carers_free = 0
        self.moves_in_month: dict[int, int] = {}
        self.solo_in = [0] * len(units)  # children of a solo need living in each unit
        self.staff_closed = [0] * len(units)  # beds out of use while short-staffed
        self.beds = [u.beds for u in units]  # 0 for markets: never "room" in the bed sense
        self.phased = [u.fill_per_month > 0 for u in units]
        self.opened_at = [math.nan] * len(units)
        self.fill_window = [-1] * len(units)  # phased fill: current month window since opening
        self.fill_count = [0] * len(units)  # admissions in that window
        self.bed_units = {k: [u.index for u in units if u.kind == k] for k in BED_KINDS}
        n_needs = 1 + max((nd for u in units for nd in u.needs), default=0)
        # Bed units of each kind that accept each need, in priority (config) order.
        self.candidates = {
            (k, nd): [u for u in self.bed_units[k] if nd in units[u].needs]
            for k in BED_KINDS
            for nd in range(n_needs)
        }
        self.market_unit = {u.kind: u.index for u in units if u.kind in MARKET_KINDS}
        self.kinds_in_order = frozenset(order)
        # Hot-path views: plain lists and flags looked up once, not per call.
        self.rows = log.rows
        self.free = list(self.beds)  # beds - occupants - held - staff-closed (bed units)
        self.solo = [u.solo_needs for u in units]
        self.unit_needs = [u.needs for u in units]
        self.offered = [
            u.kind in self.kinds_in_order and u.kind in BED_KINDS and u.beds > 0 for u in units
        ]
        self.repatriates_into = [
            self.flows.repatriation is not None and u.in_city and u.kind in BED_KINDS for u in units
        ]
        self.order_is_bed = [k in BED_KINDS for k in order]
        months = self.flows.month_of_day
        self.month_of_day: list[int] = months.tolist() if months is not None else []
        # A repatriation search that found nobody stays fruitless while no child has been
        # placed in a market (the only way to add a candidate: the others only run out of
        # time) and the unit's own group is unchanged (solo rules): remember those versions.
        self.market_version = 0
        self.unit_version = [0] * len(units)
        self.fruitless: list[tuple[int, int] | None] = [None] * len(units)

    # -- arrivals and exits -----------------------------------------------------------------

    def arrive(self, child: int) -> None:
        need = self.children.need[child]
        if self.flows.prevention and self._prevented(child):
            self.rows.append((self.env.now, _PREVENT, child, NO_UNIT, need, 0.0, -1, -1))
            self.location[child] = GONE
            return
        self.rows.append((self.env.now, _ARRIVE, child, NO_UNIT, need, 0.0, -1, -1))
        self.location[child] = WAITING
        self.waiting[child] = None
        self.seek(child, 0)

    def _prevented(self, child: int) -> bool:
        """Diverted home by a prevention service running now (the largest share applies)."""
        now, need = self.env.now, self.children.need[child]
        share = 0.0
        for rule in self.flows.prevention:
            if (
                need in rule.needs
                and rule.start <= now < rule.end
                and (rule.home < 0 or (self.is_open[rule.home] and now < self.close_day[rule.home]))
            ):
                share = max(share, rule.share)
        return self.children.prevent_u[child] < share

    def start_in_unit(self, child: int, unit: int) -> None:
        """Place a child of the initial cohort, already in care on day 0."""
        c = self.children
        self.log.append(0.0, EventKind.ARRIVE, child, unit, c.need[child], value=c.elapsed[child])
        self.location[child] = WAITING
        self._place(child, unit)

    def _schedule_age_out(self, child: int) -> None:
        delay = self.children.age_out_at[child] - self.env.now
        self.env.timeout(max(delay, 0.0)).callbacks.append(partial(self._age_out, child))

    # Each child's exit is one timeout, set at the first placement: the planned end of stay or
    # the age-out day, whichever is first. A child who has never been placed can only reach the
    # age-out day while searching, so a search that would outlast it sets the age-out instead;
    # a child held waiting for a foster carer gets its own age-out timeout.
    # (Events are the hot path: most children never need a separate age-out timeout.)

    def _age_out(self, child: int, _event: simpy.Event) -> None:
        if self.location[child] != GONE:
            self.exit(child, Route.AGE_OUT)

    def _planned_exit(self, child: int, _event: simpy.Event) -> None:
        if self.location[child] == GONE:
            return
        route = self.children.route[child]
        flows = self.flows
        if (
            route == Route.FOSTER
            and flows.carers_limited
            and (flows.carer_needs is None or self.children.need[child] in flows.carer_needs)
        ):
            if self.carers_free > 0:
                self._step_down_to_carer(child)
            else:
                # No carer: the child stays where it is (a bed, or unplaced) until one is free
                # or it turns 18, and stops seeking a residential placement.
                self.waiting.pop(child, None)
                self.search_token[child] += 1
                self.log.append(
                    self.env.now,
                    EventKind.READY,
                    child,
                    self.location[child],
                    self.children.need[child],
                )
                self.foster_queue[child] = None
                self._schedule_age_out(child)
            return
        self.exit(child, route)

    def exit(self, child: int, route: int, value: float = 0.0) -> None:
        where = self.location[child]
        self.location[child] = GONE
        self.search_token[child] += 1
        self.place_token[child] += 1
        if self.foster_queue:
            self.foster_queue.pop(child, None)
        self.rows.append(
            (self.env.now, _EXIT, child, where, self.children.need[child], value, -1, route)
        )
        self.waiting.pop(child, None)
        if where >= 0:
            self._leave(child, where)
            self._vacated(where)

    # -- step-down foster carers ------------------------------------------------------------

    def add_carers(self, count: int) -> None:
        self.carers_free += count
        self.log.append(self.env.now, EventKind.CARER_ADDED, value=count)
        self._serve_foster_queue()

    def _step_down_to_carer(self, child: int) -> None:
        days = self.children.carer_days[child]
        self.carers_free -= 1
        self.exit(child, Route.FOSTER, value=days)
        self.env.timeout(days).callbacks.append(self._carer_free)

    def _carer_free(self, _event: simpy.Event) -> None:
        self.carers_free += 1
        self.log.append(self.env.now, EventKind.CARER_FREE)
        self._serve_foster_queue()

    def _serve_foster_queue(self) -> None:
        while self.carers_free > 0 and self.foster_queue:
            child = next(iter(self.foster_queue))
            self._step_down_to_carer(child)

    # -- the cascade ------------------------------------------------------------------------

    def seek(self, child: int, stage: int) -> None:
        """Try the policy's provisions from ``stage`` on; the child is waiting meanwhile."""
        order = self.order
        is_bed = self.order_is_bed
        for i in range(stage, len(order)):
            kind = order[i]
            if is_bed[i]:
                unit = self._free_unit(kind, child)
                if unit >= 0:
                    self._place(child, unit)
                    return
            else:
                self._search(child, kind, i)
                return

    def _search(self, child: int, market: str, stage: int) -> None:
        c = self.children
        days = c.fw_search[child] if market == "framework" else c.spot_search[child]
        self.search_token[child] += 1
        token = self.search_token[child]
        unit = self.market_unit[market]
        now = self.env.now
        if not self.placed_once[child] and now + days >= c.age_out_at[child]:
            self._schedule_age_out(child)
        self.rows.append((now, _SEARCH, child, unit, c.need[child], days, -1, -1))
        limit = self.flows.unregistered_after_days
        if market == "spot" and limit is not None and days > limit:
            self.env.timeout(limit).callbacks.append(partial(self._go_unregistered, child, token))
        if days <= 0.0:
            self._search_done(child, token, market, stage, None)
        else:
            self.env.timeout(days).callbacks.append(
                partial(self._search_done, child, token, market, stage)
            )

    def _go_unregistered(self, child: int, token: int, _event: simpy.Event) -> None:
        if token == self.search_token[child] and self.location[child] == WAITING:
            self._place(child, self.market_unit["unregistered"], keep_searching=True)

    def _search_done(
        self, child: int, token: int, market: str, stage: int, _event: simpy.Event | None
    ) -> None:
        if token != self.search_token[child] or child not in self.waiting:
            return  # placed elsewhere or gone while searching
        if market == "spot" or self.children.fw_offer[child]:
            self._place(child, self.market_unit[market])
        else:
            self.seek(child, stage + 1)

    def _has_room(self, u: int) -> bool:
        # The hot path of the cascade: plain list lookups, cheapest test first.
        return (
            self.free[u] > 0
            and self.is_open[u]
            and self.env.now < self.close_day[u]
            and (not self.phased[u] or self._fill_allows(u))
        )

    def _admits(self, u: int, child: int) -> bool:
        """Solo rules: a solo child needs an empty unit, and nobody joins a solo child."""
        solo = self.solo[u]
        if not solo:
            return True
        return self.solo_in[u] == 0 and (
            self.children.need[child] not in solo or not self.occupants[u]
        )

    def _fill_allows(self, u: int) -> bool:
        """Phased fill: fewer than k admissions in this month-long window since opening."""
        info = self.units[u]
        window = int((self.env.now - self.opened_at[u]) // MONTH_DAYS)
        if window >= info.fill_months:
            return True
        if window != self.fill_window[u]:
            self.fill_window[u], self.fill_count[u] = window, 0
        return self.fill_count[u] < info.fill_per_month

    def _count_admission(self, u: int) -> None:
        info = self.units[u]
        if info.fill_per_month == 0 or not self.is_open[u]:
            return
        window = int((self.env.now - self.opened_at[u]) // MONTH_DAYS)
        if window >= info.fill_months:
            return
        if window != self.fill_window[u]:
            self.fill_window[u], self.fill_count[u] = window, 0
        self.fill_count[u] += 1
        if self.fill_count[u] == info.fill_per_month:
            # The cap binds until the next window: log it, and offer the beds again then.
            self.log.append(self.env.now, EventKind.FILL_CAPPED, unit=u)
            resume = self.opened_at[u] + (window + 1) * MONTH_DAYS
            self.env.timeout(resume - self.env.now).callbacks.append(
                partial(self._fill_resume, u, self.hold_epoch[u])
            )

    def _fill_resume(self, unit: int, epoch: int, _event: simpy.Event) -> None:
        if epoch != self.hold_epoch[unit]:
            return
        self.log.append(self.env.now, EventKind.FILL_RESUMED, unit=unit)
        self._offer_bed(unit)

    def set_staff_closed(self, unit: int, beds: int) -> None:
        """Beds out of use for want of staff (all of them: closed to admissions)."""
        reopened = beds < self.staff_closed[unit]
        self.free[unit] += self.staff_closed[unit] - beds
        self.staff_closed[unit] = beds
        if reopened:
            self._offer_bed(unit)

    def _leave(self, child: int, unit: int) -> None:
        self.occupants[unit].discard(child)
        self.free[unit] += 1
        self.unit_version[unit] += 1
        if self.solo[unit] and self.children.need[child] in self.solo[unit]:
            self.solo_in[unit] -= 1

    def _matches(self, u: int) -> bool:
        """Whether the next child seeking a bed in ``u`` can join the children there."""
        match = self.draws[u].match
        if match is None or not self.occupants[u]:
            return True
        return match() < self.units[u].match_probability

    def _free_unit(self, kind: str, child: int) -> int:
        barred = self.barred[child]
        free, is_open, close_day, phased = self.free, self.is_open, self.close_day, self.phased
        now = self.env.now
        for u in self.candidates[kind, self.children.need[child]]:
            # _has_room, inlined: this loop runs for every child seeking a bed.
            if (
                u != barred
                and free[u] > 0
                and is_open[u]
                and now < close_day[u]
                and (not phased[u] or self._fill_allows(u))
                and self._admits(u, child)
                and self._matches(u)
            ):
                return u
        return -1

    def _vacated(self, unit: int) -> None:
        """A bed in ``unit`` was just emptied: hold it for turnaround, then offer the unit's
        free beds: the group changed, so a child who could not be matched may be now."""
        if not self.beds[unit]:
            return  # a market: no bed to hold or offer
        turnaround = self.draws[unit].turnaround
        days = turnaround() if turnaround is not None else 0.0
        if days > 0.0:
            self.held[unit] += 1
            self.free[unit] -= 1
            self.rows.append((self.env.now, _BED_HOLD, -1, unit, -1, days, -1, -1))
            self.env.timeout(days).callbacks.append(
                partial(self._release_bed, unit, self.hold_epoch[unit])
            )
        self._offer_bed(unit)

    def _release_bed(self, unit: int, epoch: int, _event: simpy.Event) -> None:
        if epoch != self.hold_epoch[unit]:
            return  # the unit closed meanwhile: its holds went with it
        self.held[unit] -= 1
        self.free[unit] += 1
        self.rows.append((self.env.now, _BED_RELEASE, -1, unit, -1, 0.0, -1, -1))
        self._offer_bed(unit)

    def _place(
        self, child: int, unit: int, keep_searching: bool = False, reason: int = MOVE_FOUND
    ) -> None:
        """Move ``child`` into ``unit`` (from waiting, or from another unit)."""
        c = self.children
        now = self.env.now
        info = self.units[unit]
        need = c.need[child]
        rows = self.rows
        previous = self.location[child]
        if previous >= 0:
            rows.append((now, _MOVE, child, previous, need, 0.0, -1, reason))
            self._leave(child, previous)
        if not keep_searching:
            self.waiting.pop(child, None)
            self.search_token[child] += 1
        self.location[child] = unit
        self.occupants[unit].add(child)
        self.free[unit] -= 1
        self.unit_version[unit] += 1
        if not info.beds:
            self.market_version += 1
        if need in info.solo_needs:
            self.solo_in[unit] += 1
        self.place_token[child] += 1
        self.placed_since[child] = now
        self.barred[child] = -1
        kind = info.kind
        if kind == "framework":
            price, in_city = c.fw_price[child], c.fw_in_city[child]
        elif kind == "spot":
            price, in_city = c.spot_price[child], c.spot_in_city[child]
        elif kind == "unregistered":
            price, in_city = c.unregistered_price[child], c.spot_in_city[child]
        else:
            price, in_city = 0.0, info.in_city
        self.price_now[child] = price
        self.in_city_now[child] = in_city
        rows.append((now, _PLACE, child, unit, need, price, int(in_city), -1))
        retainer = (
            c.spot_retainer_days[child]
            if kind == "spot"
            else c.fw_retainer_days[child]
            if kind == "framework"
            else 0.0
        )
        if retainer > 0.0:
            rows.append((now, _RETAINER, child, unit, need, retainer, -1, -1))
        if not self.placed_once[child]:
            self.placed_once[child] = True
            if now + c.los[child] < c.age_out_at[child]:
                self.exit_at[child] = now + c.los[child]
                self.env.timeout(c.los[child]).callbacks.append(partial(self._planned_exit, child))
            else:
                self.exit_at[child] = c.age_out_at[child]
                self._schedule_age_out(child)
        if info.beds and info.fill_per_month:
            self._count_admission(unit)
        if info.max_stay_days is not None and now + info.max_stay_days < self.exit_at[child]:
            self.env.timeout(info.max_stay_days).callbacks.append(
                partial(self._stay_limit, child, self.place_token[child])
            )
        rates = self.flows.breakdown_rate_per_day
        rate = rates.get(kind, 0.0) if rates else 0.0
        if rate > 0.0:
            delay = -math.log1p(-self.flows.breakdown_draws[need]()) / rate
            if now + delay < self.exit_at[child]:
                self.env.timeout(delay).callbacks.append(
                    partial(self._breakdown, child, self.place_token[child])
                )
        if previous >= 0:
            self._vacated(previous)

    def _breakdown(self, child: int, token: int, _event: simpy.Event) -> None:
        """The placement ends unplanned: the child seeks a new one through the cascade."""
        unit = self.location[child]
        if token != self.place_token[child] or unit < 0:
            return
        self._seek_again(child, unit, EventKind.BREAKDOWN)

    def _stay_limit(self, child: int, token: int, _event: simpy.Event) -> None:
        """A short-stay home's longest stay: the child returns home or moves on."""
        unit = self.location[child]
        if token != self.place_token[child] or unit < 0:
            return
        draw = self.draws[unit].stay_limit
        if draw is not None and draw() < self.units[unit].return_home_share:
            self.exit(child, Route.HOME)
            return
        self._seek_again(child, unit, EventKind.STAY_LIMIT)

    def _seek_again(self, child: int, unit: int, why: EventKind) -> None:
        """The child leaves ``unit`` and seeks a new placement through the cascade; that unit
        is not offered again at once (a placement that ended is not simply restarted)."""
        self.log.append(self.env.now, why, child, unit, self.children.need[child])
        self._leave(child, unit)
        self.place_token[child] += 1
        self.location[child] = WAITING
        self.waiting[child] = None
        self.barred[child] = unit
        self._vacated(unit)
        if self.location[child] == WAITING:
            self.seek(child, 0)

    def _offer_bed(self, unit: int) -> None:
        """Give free beds in ``unit`` to waiting children (first come first served), then
        to children brought back from market placements when repatriation is on."""
        if not self.offered[unit]:
            return
        waiting = self.waiting
        if waiting:
            needs, need, barred = self.unit_needs[unit], self.children.need, self.barred
            while self._has_room(unit):
                for child in waiting:
                    if (
                        need[child] in needs
                        and barred[child] != unit
                        and self._admits(unit, child)
                        and self._matches(unit)
                    ):
                        break
                else:
                    break
                self._place(child, unit)
        if self.repatriates_into[unit] and self.free[unit] > 0:
            self._repatriate(unit)

    def _repatriate(self, unit: int) -> None:
        rule = self.flows.repatriation
        months = self.flows.month_of_day
        if rule is None or months is None:
            return
        info = self.units[unit]
        now = self.env.now
        by_day = self.month_of_day
        month = by_day[min(int(now), len(by_day) - 1)]
        need, in_city_now, exit_at = self.children.need, self.in_city_now, self.exit_at
        needs, foster_queue = info.needs, self.foster_queue
        out_only, min_days = rule.out_of_city_only, rule.min_remaining_days
        while self._has_room(unit) and self.moves_in_month.get(month, 0) < rule.max_moves_per_month:
            versions = (self.market_version, self.unit_version[unit])
            if self.fruitless[unit] == versions:
                return
            best, best_key = -1, -math.inf
            for kind in rule.from_kinds:
                market = self.market_unit.get(kind)
                if market is None:
                    continue
                for ch in self.occupants[market]:
                    if (
                        need[ch] not in needs
                        or (out_only and in_city_now[ch])
                        or exit_at[ch] - now < min_days
                        or ch in foster_queue
                        or not self._admits(unit, ch)
                    ):
                        continue
                    if rule.priority == "most_expensive":
                        key = self.price_now[ch]
                    elif rule.priority == "longest_placed":
                        key = now - self.placed_since[ch]
                    else:
                        key = self.exit_at[ch] - now
                    if key > best_key or (key == best_key and ch < best):
                        best, best_key = ch, key
            if best < 0:
                self.fruitless[unit] = versions
                return
            if not self._matches(unit):
                return
            self.moves_in_month[month] = self.moves_in_month.get(month, 0) + 1
            self._place(best, unit, reason=MOVE_REPATRIATION)

    # -- prices -----------------------------------------------------------------------------

    def uplift(
        self, kinds: tuple[str, ...], probability: float, draw: DrawBuffer, size: DrawBuffer
    ) -> None:
        """Providers' yearly uplift requests: each running placement may get a price rise."""
        for kind in kinds:
            market = self.market_unit.get(kind)
            if market is None:
                continue
            for child in sorted(self.occupants[market]):
                if draw() < probability:
                    self.price_now[child] *= 1.0 + size()
                    self.log.append(
                        self.env.now,
                        EventKind.PRICE_CHANGE,
                        child,
                        market,
                        self.children.need[child],
                        self.price_now[child],
                        int(self.in_city_now[child]),
                    )

    # -- units opening and closing ----------------------------------------------------------

    def open_unit(self, unit: int) -> None:
        self.is_open[unit] = True
        self.opened_at[unit] = self.env.now
        self.log.append(self.env.now, EventKind.UNIT_OPEN, unit=unit, value=self.units[unit].beds)
        self._offer_bed(unit)

    def close_unit(self, unit: int) -> None:
        self.is_open[unit] = False
        self.held[unit] = 0
        # Everyone leaves and holds lapse: all beds but the staff-closed ones are free again.
        self.free[unit] = self.beds[unit] - self.staff_closed[unit]
        self.hold_epoch[unit] += 1
        self.log.append(self.env.now, EventKind.UNIT_CLOSE, unit=unit, value=self.units[unit].beds)
        residents = sorted(self.occupants[unit])
        self.occupants[unit].clear()
        self.unit_version[unit] += 1
        self.solo_in[unit] = 0
        for child in residents:
            self.log.append(
                self.env.now, EventKind.DISPLACE, child, unit, self.children.need[child]
            )
            self.location[child] = WAITING
            self.place_token[child] += 1
            self.waiting[child] = None
        for child in residents:
            if self.location[child] == WAITING:
                self.seek(child, 0)
