"""Placement breakdowns: a placement ends unplanned and the child seeks a new one.

Each placement in a unit of a kind with a breakdown rate may break down after an exponential
time (drawn on the child's need's own stream). If that comes before the child's planned exit,
the child leaves and goes back through the cascade, barred from the unit it just left.
"""

from __future__ import annotations

import math
from functools import partial

import simpy

from simulation.events import EventKind
from simulation.processes.placement import Placements
from simulation.streams import DrawBuffer


class Breakdowns:
    """Breakdown timers on placements (attached to the cascade core)."""

    def __init__(
        self,
        placements: Placements,
        rate_per_day: dict[str, float],
        draws_by_need: list[DrawBuffer],
    ) -> None:
        """``rate_per_day``: by unit kind (kinds absent never break down); ``draws_by_need``:
        each need's stream of uniforms."""
        self.placements = placements
        self.draws = draws_by_need
        for u in placements.units:
            rate = rate_per_day.get(u.kind, 0.0)
            if rate > 0.0:
                placements.place_hooks[u.index].append(partial(self._start, rate))

    def _start(self, rate: float, child: int, unit: int) -> None:
        p = self.placements
        delay = -math.log1p(-self.draws[p.children.need[child]]()) / rate
        if p.env.now + delay < p.exit_at[child]:
            p.env.timeout(delay).callbacks.append(
                partial(self._breakdown, child, p.place_token[child])
            )

    def _breakdown(self, child: int, token: int, _event: simpy.Event) -> None:
        p = self.placements
        unit = p.location[child]
        if token != p.place_token[child] or unit < 0:
            return
        p.seek_again(child, unit, EventKind.BREAKDOWN)
