"""Planned admissions: a planning window before the market, and a transition before moving in.

An emergency must be placed the same day (``simulation.matching`` keeps it out of homes that
take no emergencies); a planned arrival is not rushed:

- **Planning window.** A planned arrival who finds no council or block bed at once waits up to
  its need's ``planning_window_days`` for one (any freed bed it fits is offered to it, first come
  first served) before the market search starts.
- **Transition.** When a unit has ``transition_days``, a waiting child given a bed there (not an
  emergency, not a move from another placement) stops seeking, the bed is held for them
  (BED_HOLD, cause HOLD_TRANSITION, naming the child) through notice and introductory visits, and
  they move in when it ends. If the unit closed or lost the bed meanwhile the child seeks again;
  if the child left care meanwhile the bed is offered again.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import simpy

from simulation.events import HOLD_TRANSITION, EventKind, Route
from simulation.processes.placement import WAITING, Placements

_BED_HOLD, _BED_RELEASE = int(EventKind.BED_HOLD), int(EventKind.BED_RELEASE)


class _Joining:
    """A unit's residents and the children matched to move in: a newcomer must fit them all
    (a child on a move-in transition is already part of the group the home plans for)."""

    __slots__ = ("incoming", "residents")

    def __init__(self, residents: set[int]) -> None:
        self.residents = residents  # the core's own set, kept up to date by it
        self.incoming: set[int] = set()

    def __iter__(self) -> Iterator[int]:
        yield from self.residents
        yield from self.incoming


class PlannedAdmissions:
    """Wraps the core's market ``search`` (planning windows) and ``move_in`` (transitions)."""

    def __init__(self, placements: Placements, windows: bool, transitions: bool) -> None:
        self.p = placements
        self.market_search = placements.search
        if windows:
            placements.search = self.search
        if transitions:
            placements.move_in = self.move_in
            self.joining = [_Joining(residents) for residents in placements.occupants]
            placements.group = self.joining

    def search(self, child: int, kind: str, stage: int) -> None:
        p = self.p
        wait = p.children.plan_until[child] - p.env.now
        if wait <= 0.0:
            self.market_search(child, kind, stage)
            return
        token = p.search_token[child]
        p.env.timeout(wait).callbacks.append(partial(self._window_ended, child, stage, token))

    def _window_ended(self, child: int, stage: int, token: int, _event: simpy.Event) -> None:
        p = self.p
        if p.search_token[child] != token or p.location[child] != WAITING:
            return  # placed (or gone) meanwhile
        if p.env.now >= p.children.age_out_at[child]:
            p.exit(child, Route.AGE_OUT)
        else:
            self.market_search(child, p.order[stage], stage)

    def move_in(self, child: int, unit: int) -> None:
        p = self.p
        draw = p.draws[unit].transition
        now = p.env.now
        if draw is None or p.location[child] != WAITING or now < p.children.emergency_until[child]:
            p.place(child, unit)
            return
        days = draw()
        if days <= 0.0:
            p.place(child, unit)
            return
        p.waiting.pop(child, None)
        p.search_token[child] += 1  # the child stops seeking: any search under way ends
        p.held[unit] += 1
        p.free[unit] -= 1
        self.joining[unit].incoming.add(child)
        need = p.children.need[child]
        p.rows.append((now, _BED_HOLD, child, unit, need, days, -1, HOLD_TRANSITION))
        p.env.timeout(days).callbacks.append(
            partial(self._moved_in, child, unit, p.hold_epoch[unit])
        )

    def _moved_in(self, child: int, unit: int, epoch: int, _event: simpy.Event) -> None:
        p = self.p
        self.joining[unit].incoming.discard(child)
        if epoch == p.hold_epoch[unit]:  # else the unit closed and its holds went with it
            p.held[unit] -= 1
            p.free[unit] += 1
            p.rows.append((p.env.now, _BED_RELEASE, -1, unit, -1, 0.0, -1, -1))
            if (
                p.location[child] == WAITING
                and p.free[unit] > 0
                and p.is_open[unit]
                and p.env.now < p.close_day[unit]
            ):
                p.place(child, unit)
                return
            p.offer_bed(unit)
        if p.location[child] == WAITING:  # the bed is gone: back to seeking
            p.waiting[child] = None
            p.seek(child, 0)
