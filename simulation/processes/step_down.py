"""Step-down foster carers joining the pool over time."""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy

from simulation.calendar import DAYS_PER_YEAR
from simulation.processes.placement import Placements


def carer_recruitment(
    env: simpy.Environment,
    placements: Placements,
    initial: int,
    added_per_year: float,
    until_day: float = math.inf,
) -> Generator[simpy.Event, None, None]:
    """The initial carers on day 0, then one new carer every 1/added_per_year years until
    ``until_day``."""
    placements.add_carers(initial)
    if added_per_year <= 0:
        return
    gap = DAYS_PER_YEAR / added_per_year
    while env.now + gap < until_day:
        yield env.timeout(gap)
        placements.add_carers(1)
