"""Block beds procured over time: a Dynamic Purchasing System's demand-triggered tranches."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from simulation.events import EventKind
from simulation.processes.homes import open_unit, unit_schedule
from simulation.processes.placement import Placements
from simulation.streams import DrawBuffer


def dps_trigger(
    env: simpy.Environment,
    placements: Placements,
    tranches: list[int],
    spot_stock_above: int,
    check_every_days: float,
    lead_time: DrawBuffer,
    close_day: float | None,
) -> Generator[simpy.Event, None, None]:
    """Review spot stock every ``check_every_days``; while it is above the threshold, procure the
    next tranche (one at a time), which opens after its lead time and closes with the DPS."""
    spot = placements.market_unit["spot"]
    for unit in tranches:
        while len(placements.occupants[spot]) <= spot_stock_above:
            yield env.timeout(check_every_days)
        lead = max(lead_time(), 0.0)
        placements.log.append(env.now, EventKind.PROCURE, unit=unit, value=lead)
        yield env.timeout(lead)
        if close_day is not None and env.now >= close_day:
            return
        open_unit(placements, unit)
        if close_day is not None:
            env.process(unit_schedule(env, placements, unit, env.now, close_day))
