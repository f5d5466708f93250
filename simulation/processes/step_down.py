"""Step-down to "next step" foster carers, when their number is limited.

A child whose planned exit is to foster care needs a free carer. With one, the child leaves and
the carer is busy for the child's time with them; without one, the child stays where it is (a
bed, or unplaced) and stops seeking a residential placement (a delayed step-down, logged READY)
until a carer frees up or is recruited, or the child turns the age-out age. Carers join the pool
over time (``carer_recruitment``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from functools import partial
from typing import Protocol

import simpy

from simulation.calendar import DAYS_PER_YEAR
from simulation.events import FOSTER_NEXT_STEP, NO_UNIT, EventKind, Route
from simulation.processes.placement import Placements


class CarerPool(Protocol):
    """A pool that carers join (step-down carers here, in-house carers in ``fostering``)."""

    def add_carers(self, count: int) -> None: ...


class StepDown:
    """The pool of step-down carers and the children waiting for one (attached to the core)."""

    def __init__(
        self,
        placements: Placements,
        needs: frozenset[int] | None,
        weekly_cost_gbp: float | None = None,
    ) -> None:
        """``needs``: the needs whose foster step-down needs a carer (None: every need).
        ``weekly_cost_gbp``: a carer's weekly cost; given, each step-down is also logged as a
        foster placement (FOSTER_PLACE, FOSTER_END) so that it is costed."""
        self.placements = placements
        self.needs = needs
        self.weekly_cost_gbp = weekly_cost_gbp
        self.carers_free = 0
        placements.step_down = self.take

    def take(self, child: int) -> bool:
        """A planned exit to foster care: step down now, or wait for a carer. Returns False
        when the child's need does not use the pool (the exit goes ahead as planned)."""
        p = self.placements
        if self.needs is not None and p.children.need[child] not in self.needs:
            return False
        if self.carers_free > 0:
            self._to_carer(child)
            return True
        p.waiting.pop(child, None)
        p.search_token[child] += 1
        p.log.append(p.env.now, EventKind.READY, child, p.location[child], p.children.need[child])
        p.ready[child] = None
        p.schedule_age_out(child)
        return True

    def add_carers(self, count: int) -> None:
        p = self.placements
        self.carers_free += count
        p.log.append(p.env.now, EventKind.CARER_ADDED, value=count)
        self._serve_ready()

    def _to_carer(self, child: int) -> None:
        p = self.placements
        days = p.children.carer_days[child]
        self.carers_free -= 1
        p.exit(child, Route.FOSTER, value=days)
        if self.weekly_cost_gbp is not None:
            p.log.append(
                p.env.now,
                EventKind.FOSTER_PLACE,
                child,
                NO_UNIT,
                p.children.need[child],
                self.weekly_cost_gbp,
                0,
                FOSTER_NEXT_STEP,
            )
        p.env.timeout(days).callbacks.append(partial(self._carer_free, child))

    def _carer_free(self, child: int, _event: simpy.Event) -> None:
        p = self.placements
        if self.weekly_cost_gbp is not None:
            p.log.append(
                p.env.now,
                EventKind.FOSTER_END,
                child,
                NO_UNIT,
                p.children.need[child],
                route=FOSTER_NEXT_STEP,
            )
        self.carers_free += 1
        p.log.append(p.env.now, EventKind.CARER_FREE)
        self._serve_ready()

    def _serve_ready(self) -> None:
        ready = self.placements.ready
        while self.carers_free > 0 and ready:
            self._to_carer(next(iter(ready)))


def carer_recruitment(
    env: simpy.Environment,
    step_down: CarerPool,
    initial: int,
    added_per_year: float,
    until_day: float = math.inf,
) -> Generator[simpy.Event, None, None]:
    """The initial carers on day 0, then one new carer every 1/added_per_year years until
    ``until_day``."""
    step_down.add_carers(initial)
    if added_per_year <= 0:
        return
    gap = DAYS_PER_YEAR / added_per_year
    while env.now + gap < until_day:
        yield env.timeout(gap)
        step_down.add_carers(1)
