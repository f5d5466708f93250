"""Provider price uplifts on running framework and spot placements, each 1 April."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from simulation.processes.placement import Placements
from simulation.streams import DrawBuffer


def uplift_rounds(
    env: simpy.Environment,
    placements: Placements,
    days: list[float],
    market: str,
    probability: float,
    draw: DrawBuffer,
    size: DrawBuffer,
) -> Generator[simpy.Event, None, None]:
    """On each given day (1 April), every running placement in ``market`` may get an uplift."""
    for day in days:
        if day > env.now:
            yield env.timeout(day - env.now)
        placements.uplift((market,), probability, draw, size)
