"""Units opening and closing on their dates: internal homes and block contracts.

A unit open on the start date is opened before the cohort is placed; later openings and closings
happen on their days. Children living in a unit that closes are moved through the cascade.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from simulation.processes.placement import Placements


def unit_schedule(
    env: simpy.Environment,
    placements: Placements,
    unit: int,
    open_day: float,
    close_day: float | None,
) -> Generator[simpy.Event, None, None]:
    """Open ``unit`` on ``open_day`` (if later than now) and close it on ``close_day``."""
    if open_day > env.now:
        yield env.timeout(open_day - env.now)
        placements.open_unit(unit)
    if close_day is not None:
        yield env.timeout(max(close_day - env.now, 0.0))
        placements.close_unit(unit)
