"""Units opening and closing on their dates: internal homes and block contracts.

A unit open on the start date is opened before the cohort is placed; later openings and closings
happen on their days. Children living in a unit that closes are moved through the cascade. A new
home's project stages (purchase or build, works, registration, recruitment) and a contract's
extension are logged as they happen; the home admits nobody before its last stage ends.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from simulation.events import EventKind
from simulation.processes.placement import Placements

if TYPE_CHECKING:
    from simulation.model import BedSchedule


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


def unit_milestones(
    env: simpy.Environment, placements: Placements, unit: int, schedule: BedSchedule
) -> Generator[simpy.Event, None, None]:
    """Log each project stage's end and a contract extension, on their days within the run."""
    marks = [(t, EventKind.HOME_STAGE, float(i)) for i, t in enumerate(schedule.stage_ends)]
    if schedule.original_end is not None:
        marks.append((schedule.original_end, EventKind.CONTRACT_EXTENDED, schedule.extension_days))
    for t, kind, value in sorted(marks, key=lambda m: m[0]):
        if t < 0:
            continue  # happened before the run started
        if t > env.now:
            yield env.timeout(t - env.now)
        placements.log.append(env.now, kind, unit=unit, value=value)
