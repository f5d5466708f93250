"""The placement cascade: finding each child a bed, and freeing it when the child leaves.

A child needing a placement tries each provision in the policy's order. Internal homes and block
contracts admit at once when an open unit that accepts the child's need has a free bed. Framework
and spot are markets: a search takes time; a framework offer comes with some probability,
spot always finds a bed. While searching the child waits (unplaced), and takes the first matching
internal or block bed that frees up before the search ends. Stays end by the planned length of
stay (exit by the sampled route) or at the age-out age, whichever comes first.

Stays and searches are plain timeout callbacks rather than processes: they are the hot path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import simpy

from simulation.distributions import Distribution
from simulation.events import EventKind, EventLog, Route
from simulation.processes.arrivals import Children
from simulation.streams import DrawBuffer

WAITING = -1
GONE = -2
NOT_ARRIVED = -3
BED_KINDS = ("internal", "block")


@dataclass(frozen=True)
class UnitInfo:
    """A place children can live: an internal home, a block contract, or a market."""

    index: int
    name: str
    kind: str  # internal | block | framework | spot
    beds: int  # 0 for a market (unbounded)
    in_city: bool
    needs: frozenset[int]
    weekly_cost_gbp: float  # internal: the home's running cost; block: price per bed
    assumed_occupancy: float | None = None
    match_probability: float = 1.0
    turnaround: Distribution | None = None


@dataclass
class UnitDraws:
    """Per-unit random draws: matching a child to the group, and bed turnaround days."""

    match: DrawBuffer | None = None
    turnaround: DrawBuffer | None = None


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
    ) -> None:
        self.env = env
        self.log = log
        self.units = units
        self.children = children
        self.order = order
        self.occupants: list[set[int]] = [set() for _ in units]
        self.held = [0] * len(units)  # beds emptied but not yet ready for the next child
        self.hold_epoch = [0] * len(units)  # bumps on closure, voiding pending releases
        self.draws = draws or [UnitDraws() for _ in units]
        self.is_open = [False] * len(units)
        # Day each unit closes: from then on it admits nobody, even before its close event at
        # that instant has run (another unit closing the same day must not move children in).
        self.close_day = [math.inf] * len(units)
        self.location = [NOT_ARRIVED] * len(children)
        self.placed_once = [False] * len(children)
        self.search_token = [0] * len(children)
        self.waiting: dict[int, None] = {}  # insertion-ordered: first come, first served
        self.bed_units = {k: [u.index for u in units if u.kind == k] for k in BED_KINDS}
        n_needs = 1 + max((n for u in units for n in u.needs), default=0)
        # Bed units of each kind that accept each need, in priority (config) order.
        self.candidates = {
            (k, n): [u for u in self.bed_units[k] if n in units[u].needs]
            for k in BED_KINDS
            for n in range(n_needs)
        }
        self.market_unit = {u.kind: u.index for u in units if u.kind in ("framework", "spot")}
        self.kinds_in_order = frozenset(order)

    # -- arrivals and exits -----------------------------------------------------------------

    def arrive(self, child: int) -> None:
        c = self.children
        self.log.append(self.env.now, EventKind.ARRIVE, child, need=c.need[child])
        self.location[child] = WAITING
        self.waiting[child] = None
        self.seek(child, 0)

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
    # age-out day while searching, so a search that would outlast it sets the age-out instead.
    # (Events are the hot path: most children never need a separate age-out timeout.)

    def _age_out(self, child: int, _event: simpy.Event) -> None:
        if self.location[child] != GONE:
            self.exit(child, Route.AGE_OUT)

    def _planned_exit(self, child: int, _event: simpy.Event) -> None:
        if self.location[child] != GONE:
            self.exit(child, self.children.route[child])

    def exit(self, child: int, route: int) -> None:
        where = self.location[child]
        self.location[child] = GONE
        self.search_token[child] += 1
        self.log.append(
            self.env.now, EventKind.EXIT, child, where, self.children.need[child], route=route
        )
        if where == WAITING:
            del self.waiting[child]
        elif where >= 0:
            self._vacate(child, where)

    # -- the cascade ------------------------------------------------------------------------

    def seek(self, child: int, stage: int) -> None:
        """Try the policy's provisions from ``stage`` on; the child is waiting meanwhile."""
        order = self.order
        for i in range(stage, len(order)):
            kind = order[i]
            if kind in BED_KINDS:
                unit = self._free_unit(kind, self.children.need[child])
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
        if not self.placed_once[child] and self.env.now + days >= c.age_out_at[child]:
            self._schedule_age_out(child)
        self.log.append(self.env.now, EventKind.SEARCH, child, unit, c.need[child], value=days)
        if days <= 0.0:
            self._search_done(child, token, market, stage, None)
        else:
            self.env.timeout(days).callbacks.append(
                partial(self._search_done, child, token, market, stage)
            )

    def _search_done(
        self, child: int, token: int, market: str, stage: int, _event: simpy.Event | None
    ) -> None:
        if token != self.search_token[child] or self.location[child] != WAITING:
            return  # placed elsewhere or gone while searching
        if market == "spot" or self.children.fw_offer[child]:
            self._place(child, self.market_unit[market])
        else:
            self.seek(child, stage + 1)

    def _has_room(self, u: int) -> bool:
        return (
            self.is_open[u]
            and self.env.now < self.close_day[u]
            and len(self.occupants[u]) + self.held[u] < self.units[u].beds
        )

    def _matches(self, u: int) -> bool:
        """Whether the next child seeking a bed in ``u`` can join the children there."""
        match = self.draws[u].match
        if match is None or not self.occupants[u]:
            return True
        return match() < self.units[u].match_probability

    def _free_unit(self, kind: str, need: int) -> int:
        for u in self.candidates[kind, need]:
            if self._has_room(u) and self._matches(u):
                return u
        return -1

    def _vacate(self, child: int, unit: int) -> None:
        """A child leaves a bed unit: the bed is held for turnaround, or offered at once."""
        self.occupants[unit].discard(child)
        turnaround = self.draws[unit].turnaround
        days = turnaround() if turnaround is not None else 0.0
        if days > 0.0:
            self.held[unit] += 1
            self.log.append(self.env.now, EventKind.BED_HOLD, unit=unit, value=days)
            self.env.timeout(days).callbacks.append(
                partial(self._release_bed, unit, self.hold_epoch[unit])
            )
        else:
            self._offer_bed(unit)

    def _release_bed(self, unit: int, epoch: int, _event: simpy.Event) -> None:
        if epoch != self.hold_epoch[unit]:
            return  # the unit closed meanwhile: its holds went with it
        self.held[unit] -= 1
        self.log.append(self.env.now, EventKind.BED_RELEASE, unit=unit)
        self._offer_bed(unit)

    def _place(self, child: int, unit: int) -> None:
        c = self.children
        info = self.units[unit]
        if self.location[child] == WAITING:
            self.waiting.pop(child, None)
        self.search_token[child] += 1
        self.location[child] = unit
        self.occupants[unit].add(child)
        if info.kind == "framework":
            price, in_city = c.fw_price[child], c.fw_in_city[child]
        elif info.kind == "spot":
            price, in_city = c.spot_price[child], c.spot_in_city[child]
        else:
            price, in_city = 0.0, info.in_city
        self.log.append(
            self.env.now, EventKind.PLACE, child, unit, c.need[child], price, int(in_city)
        )
        if not self.placed_once[child]:
            self.placed_once[child] = True
            if self.env.now + c.los[child] < c.age_out_at[child]:
                self.env.timeout(c.los[child]).callbacks.append(partial(self._planned_exit, child))
            else:
                self._schedule_age_out(child)

    def _offer_bed(self, unit: int) -> None:
        """Give free beds in ``unit`` to waiting children, first come first served."""
        info = self.units[unit]
        if info.kind not in self.kinds_in_order:
            return
        while self._has_room(unit):
            child = next(
                (
                    ch
                    for ch in self.waiting
                    if self.children.need[ch] in info.needs and self._matches(unit)
                ),
                None,
            )
            if child is None:
                return
            self._place(child, unit)

    # -- units opening and closing ----------------------------------------------------------

    def open_unit(self, unit: int) -> None:
        self.is_open[unit] = True
        self.log.append(self.env.now, EventKind.UNIT_OPEN, unit=unit, value=self.units[unit].beds)
        self._offer_bed(unit)

    def close_unit(self, unit: int) -> None:
        self.is_open[unit] = False
        self.held[unit] = 0
        self.hold_epoch[unit] += 1
        self.log.append(self.env.now, EventKind.UNIT_CLOSE, unit=unit, value=self.units[unit].beds)
        residents = sorted(self.occupants[unit])
        self.occupants[unit].clear()
        for child in residents:
            self.log.append(
                self.env.now, EventKind.DISPLACE, child, unit, self.children.need[child]
            )
            self.location[child] = WAITING
            self.waiting[child] = None
        for child in residents:
            if self.location[child] == WAITING:
                self.seek(child, 0)
