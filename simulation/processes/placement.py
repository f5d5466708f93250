"""The placement cascade's core: where every child is, and seek, free unit, place, vacate.

A child needing a placement tries each provision in the policy's order. A unit with beds (a
council home, a block contract) admits at once when one that accepts the child's need is open, has
a free bed and the child can join the children there. A market stage hands the child to a search
(``simulation.processes.market``); while it runs the child waits, and takes the first matching bed
that frees up. A stay ends at its planned length (exit by the sampled route) or at the age-out
age, whichever comes first. An emptied bed may be held for turnaround, then is offered to the
children waiting, first come first served.

Every other flow lives in the module named for it and attaches to this core through a small
interface (``attach`` in each module, called by ``simulation.model``):

- ``place_hooks[unit]``: called as ``hook(child, unit)`` after a child is placed in ``unit``, in
  the order attached (phased fill and stay limits in ``homes``, retainers in ``market``,
  breakdowns in ``moves``); the order is part of the model's determinism.
- ``search``: a market stage of the cascade (``market``).
- ``step_down``: takes over a planned exit to foster care when carers are limited
  (``step_down``); returns whether it did.
- ``repatriate``: offered a unit's free beds once no waiting child takes them (``repatriation``).
- ``prevented``: whether an arrival is diverted home (``prevention``).
- ``fill_allows`` with ``phased``: whether a unit in its phased fill may admit now (``homes``).
- ``move_in``: a waiting child given a bed moves in (``place``), or after a planned transition
  with the bed kept for them (``admissions``, which also holds a planned arrival's market
  search back for its planning window).

The flows call back ``seek``, ``place``, ``exit``, ``seek_again``, ``offer_bed``, ``has_room``,
``admits`` and ``matches``. Stays and searches are plain timeout callbacks rather than processes:
they are the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import simpy

from simulation.events import (
    ARRIVE_EMERGENCY,
    HOLD_REPAIR,
    HOLD_TURNAROUND,
    MOVE_FOUND,
    NO_UNIT,
    EventKind,
    EventLog,
    Route,
)
from simulation.kinds import BED_KINDS, KIND
from simulation.processes.arrivals import Children
from simulation.units import UnitDraws, UnitInfo

# Event codes as plain ints for the hot paths, which append log rows as tuples.
_ARRIVE, _PLACE, _EXIT = int(EventKind.ARRIVE), int(EventKind.PLACE), int(EventKind.EXIT)
_MOVE, _BED_HOLD, _BED_RELEASE = (
    int(EventKind.MOVE),
    int(EventKind.BED_HOLD),
    int(EventKind.BED_RELEASE),
)
_PREVENT = int(EventKind.PREVENT)
_FOSTER = int(Route.FOSTER)
# A child's location when not in a unit.
WAITING = -1
GONE = -2
NOT_ARRIVED = -3

PlaceHook = Callable[[int, int], None]


def _no_search(child: int, kind: str, stage: int) -> None:
    raise RuntimeError(f"no market search attached for the {kind!r} stage")


def _candidates(units: list[UnitInfo]) -> dict[tuple[str, int], list[int]]:
    """Bed units of each kind that accept each need, in priority (config) order."""
    n_needs = 1 + max((nd for u in units for nd in u.needs), default=0)
    return {
        (k, nd): [u.index for u in units if u.kind == k and nd in u.needs]
        for k in BED_KINDS
        for nd in range(n_needs)
    }


def _per_child(children: Children, attr: str | None) -> list[Any] | None:
    """A market placement's terms come from the child (kinds.price_attr, in_city_attr):
    what it costs and where the child then lives; a bed unit's are its own (None)."""
    return getattr(children, attr) if attr else None


def _vacancy(draws: UnitDraws, repair_probability: float) -> tuple[float, int]:
    """Days a vacated bed stays empty, and why: the lump turnaround, or a repair if needed."""
    if draws.turnaround is not None:
        return draws.turnaround(), HOLD_TURNAROUND
    if draws.repair is not None and draws.repair() < repair_probability:
        return draws.repair_days(), HOLD_REPAIR  # type: ignore[misc]
    return 0.0, HOLD_TURNAROUND


class Placements:
    """Occupancy state of every unit and the cascade core that fills them."""

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
        n = len(children)
        self.occupants: list[set[int]] = [set() for _ in units]
        self.held = [0] * len(units)  # beds kept empty: turnaround, repair, a move-in
        self.hold_epoch = [0] * len(units)  # bumps on closure, voiding pending releases
        self.draws = draws or [UnitDraws() for _ in units]
        self.is_open = [False] * len(units)
        # Day each unit closes: from then on it admits nobody, even before its close event at
        # that instant has run (another unit closing the same day must not move children in).
        self.close_day = [math.inf] * len(units)
        self.opened_at = [math.nan] * len(units)
        self.location = [NOT_ARRIVED] * n
        self.placed_once = [False] * n
        self.search_token = [0] * n
        self.place_token = [0] * n  # bumps at every placement: voids stale timers
        self.exit_at = [math.inf] * n  # planned exit day, set at the first placement
        self.placed_since = [0.0] * n
        self.price_now = [0.0] * n  # weekly price of the current market placement
        self.in_city_now = [False] * n
        self.barred = [-1] * n  # the unit a child's placement just ended in
        self.waiting: dict[int, None] = {}  # insertion-ordered: first come, first served
        self.ready: dict[int, None] = {}  # due to step down, no carer yet: not seeking
        self.solo_in = [0] * len(units)  # children of a solo need living in each unit
        self.staff_closed = [0] * len(units)  # beds out of use while short-staffed
        self.beds = [u.beds for u in units]  # 0 for markets: never "room" in the bed sense
        self.candidates = _candidates(units)
        self.market_unit = {u.kind: u.index for u in units if not u.has_beds}
        self.price_of = [_per_child(children, KIND[u.kind].price_attr) for u in units]
        self.in_city_of = [_per_child(children, KIND[u.kind].in_city_attr) for u in units]
        # Hot-path views: plain lists and flags looked up once, not per call.
        self.rows = log.rows
        self.free = list(self.beds)  # beds - occupants - held - staff-closed (bed units)
        self.solo = [u.solo_needs for u in units]
        self.rule = [u.rule for u in units]
        self.group: Sequence[Iterable[int]] = self.occupants  # whom a newcomer must fit
        self.unit_needs = [u.needs for u in units]
        policy = frozenset(order)
        self.offered = [u.kind in policy and u.has_beds and u.beds > 0 for u in units]
        self.order_is_bed = [KIND[k].has_beds for k in order]
        # Versions of the market stock and of each unit's group, for flows that remember a
        # fruitless search until either changes (repatriation).
        self.market_version = 0
        self.unit_version = [0] * len(units)
        # The flows' interface (see the module docstring); all off until a flow attaches.
        self.place_hooks: list[list[PlaceHook]] = [[] for _ in units]
        self.search: Callable[[int, str, int], None] = _no_search
        self.step_down: Callable[[int], bool] | None = None
        self.repatriate: Callable[[int], None] | None = None
        self.repatriates_into = [False] * len(units)
        self.prevented: Callable[[int], bool] | None = None
        self.phased = [False] * len(units)
        self.fill_allows: Callable[[int], bool] = lambda _unit: True
        self.move_in: PlaceHook = self.place  # a waiting child given a bed (``admissions``)

    def arrive(self, child: int) -> None:
        need = self.children.need[child]
        if self.prevented is not None and self.prevented(child):
            self.rows.append((self.env.now, _PREVENT, child, NO_UNIT, need, 0.0, -1, -1))
            self.location[child] = GONE
            return
        urgent = ARRIVE_EMERGENCY if self.env.now < self.children.emergency_until[child] else -1
        self.rows.append((self.env.now, _ARRIVE, child, NO_UNIT, need, 0.0, -1, urgent))
        self.location[child] = WAITING
        self.waiting[child] = None
        self.seek(child, 0)

    def start_in_unit(self, child: int, unit: int) -> None:
        """Place a child of the initial cohort, already in care on day 0."""
        c = self.children
        self.log.append(0.0, EventKind.ARRIVE, child, unit, c.need[child], value=c.elapsed[child])
        self.location[child] = WAITING
        self.place(child, unit)

    def schedule_age_out(self, child: int) -> None:
        delay = self.children.age_out_at[child] - self.env.now
        self.env.timeout(max(delay, 0.0)).callbacks.append(partial(self._age_out, child))

    # Each child's exit is one timeout, set at the first placement: the planned end of stay or
    # the age-out day, whichever is first (events are the hot path). A search that would outlast
    # the age-out day, and a wait for a foster carer, set an age-out timeout of their own.

    def _age_out(self, child: int, _event: simpy.Event) -> None:
        if self.location[child] != GONE:
            self.exit(child, Route.AGE_OUT)

    def _planned_exit(self, child: int, _event: simpy.Event) -> None:
        if self.location[child] == GONE:
            return
        route = self.children.route[child]
        if route == _FOSTER and self.step_down is not None and self.step_down(child):
            return
        self.exit(child, route)

    def exit(self, child: int, route: int, value: float = 0.0) -> None:
        where = self.location[child]
        self.location[child] = GONE
        self.search_token[child] += 1
        self.place_token[child] += 1
        self.ready.pop(child, None)
        self.rows.append(
            (self.env.now, _EXIT, child, where, self.children.need[child], value, -1, route)
        )
        self.waiting.pop(child, None)
        if where >= 0:
            self.leave(child, where)
            self.vacated(where)

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
                    self.move_in(child, unit)
                    return
            else:
                self.search(child, kind, i)
                return

    def seek_again(self, child: int, unit: int, why: EventKind) -> None:
        """The child leaves ``unit`` and seeks a new placement through the cascade; that unit
        is not offered again at once (a placement that ended is not simply restarted)."""
        self.log.append(self.env.now, why, child, unit, self.children.need[child])
        self.leave(child, unit)
        self.place_token[child] += 1
        self.location[child] = WAITING
        self.waiting[child] = None
        self.barred[child] = unit
        self.vacated(unit)
        if self.location[child] == WAITING:
            self.seek(child, 0)

    def has_room(self, u: int) -> bool:
        # The hot path of the cascade: plain list lookups, cheapest test first.
        return (
            self.free[u] > 0
            and self.is_open[u]
            and self.env.now < self.close_day[u]
            and (not self.phased[u] or self.fill_allows(u))
        )

    def admits(self, u: int, child: int) -> bool:
        """Solo rules (a solo child needs an empty unit, nobody joins a solo child), then the
        unit's admission rules (``simulation.matching``)."""
        solo = self.solo[u]
        if solo and (self.solo_in[u] or (self.children.need[child] in solo and self.occupants[u])):
            return False
        rule = self.rule[u]  # the admission rules, when the unit has any
        return rule is None or rule.admits(child, self.group[u], self.env.now, self.children)

    def matches(self, u: int) -> bool:
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
            # has_room, inlined: this loop runs for every child seeking a bed.
            if (
                u != barred
                and free[u] > 0
                and is_open[u]
                and now < close_day[u]
                and (not phased[u] or self.fill_allows(u))
                and self.admits(u, child)
                and self.matches(u)
            ):
                return u
        return -1

    def leave(self, child: int, unit: int) -> None:
        self.occupants[unit].discard(child)
        self.free[unit] += 1
        self.unit_version[unit] += 1
        if self.solo[unit] and self.children.need[child] in self.solo[unit]:
            self.solo_in[unit] -= 1

    def vacated(self, unit: int) -> None:
        """A bed in ``unit`` was just emptied: hold it (turnaround, repair), then offer the
        free beds: the group changed, so a child who did not fit may now."""
        if not self.beds[unit]:
            return  # a market: no bed to hold or offer
        days, cause = _vacancy(self.draws[unit], self.units[unit].repair_probability)
        if days > 0.0:
            self.hold(unit, days, cause)
        self.offer_bed(unit)

    def hold(self, unit: int, days: float, cause: int) -> None:
        """Keep a bed of ``unit`` empty for ``days``, then offer it again."""
        self.held[unit] += 1
        self.free[unit] -= 1
        self.rows.append((self.env.now, _BED_HOLD, -1, unit, -1, days, -1, cause))
        self.env.timeout(days).callbacks.append(
            partial(self._release_bed, unit, self.hold_epoch[unit])
        )

    def _release_bed(self, unit: int, epoch: int, _event: simpy.Event) -> None:
        if epoch != self.hold_epoch[unit]:
            return  # the unit closed meanwhile: its holds went with it
        self.held[unit] -= 1
        self.free[unit] += 1
        self.rows.append((self.env.now, _BED_RELEASE, -1, unit, -1, 0.0, -1, -1))
        self.offer_bed(unit)

    def place(
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
            self.leave(child, previous)
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
        prices, in_city_of = self.price_of[unit], self.in_city_of[unit]
        if prices is None or in_city_of is None:
            price, in_city = 0.0, info.in_city
        else:
            price, in_city = prices[child], in_city_of[child]
        self.price_now[child] = price
        self.in_city_now[child] = in_city
        rows.append((now, _PLACE, child, unit, need, price, int(in_city), -1))
        if not self.placed_once[child]:
            self.placed_once[child] = True
            if now + c.los[child] < c.age_out_at[child]:
                self.exit_at[child] = now + c.los[child]
                self.env.timeout(c.los[child]).callbacks.append(partial(self._planned_exit, child))
            else:
                self.exit_at[child] = c.age_out_at[child]
                self.schedule_age_out(child)
        for hook in self.place_hooks[unit]:
            hook(child, unit)
        if previous >= 0:
            self.vacated(previous)

    def offer_bed(self, unit: int) -> None:
        """Give free beds in ``unit`` to waiting children (first come first served), then
        to children brought back from market placements when repatriation is on."""
        if not self.offered[unit]:
            return
        waiting = self.waiting
        if waiting:
            needs, need, barred = self.unit_needs[unit], self.children.need, self.barred
            while self.has_room(unit):
                for child in waiting:
                    if (
                        need[child] in needs
                        and barred[child] != unit
                        and self.admits(unit, child)
                        and self.matches(unit)
                    ):
                        break
                else:
                    break
                self.move_in(child, unit)
        if self.repatriates_into[unit] and self.free[unit] > 0:
            self.repatriate(unit)  # type: ignore[misc]
