"""Bed units over time: opening and closing on their dates, a new home's project milestones,
phased fill after opening, and short-stay homes' longest stay.

A unit open on the start date is opened before the cohort is placed; later openings and closings
happen on their days. Children living in a unit that closes are moved through the cascade. A new
home's project stages (purchase or build, works, registration, recruitment) and a contract's
extension are logged as they happen; the home admits nobody before its last stage ends. A home
with a phased fill admits at most so many children in each month-long window after it opens. A
short-stay home's child who reaches its longest stay returns home (with the home's share) or
moves on through the cascade.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial

import simpy

from simulation.calendar import MONTH_DAYS
from simulation.events import EventKind, Route
from simulation.processes.placement import WAITING, Placements
from simulation.units import BedSchedule


def open_unit(p: Placements, unit: int) -> None:
    """The unit's beds become usable: offer them at once."""
    p.is_open[unit] = True
    p.opened_at[unit] = p.env.now
    p.log.append(p.env.now, EventKind.UNIT_OPEN, unit=unit, value=p.units[unit].beds)
    p.offer_bed(unit)


def close_unit(p: Placements, unit: int) -> None:
    """The unit closes: its children are displaced and seek new placements, in id order."""
    p.is_open[unit] = False
    p.held[unit] = 0
    # Everyone leaves and holds lapse: all beds but the staff-closed ones are free again.
    p.free[unit] = p.beds[unit] - p.staff_closed[unit]
    p.hold_epoch[unit] += 1
    p.log.append(p.env.now, EventKind.UNIT_CLOSE, unit=unit, value=p.units[unit].beds)
    residents = sorted(p.occupants[unit])
    p.occupants[unit].clear()
    p.unit_version[unit] += 1
    p.solo_in[unit] = 0
    for child in residents:
        p.log.append(p.env.now, EventKind.DISPLACE, child, unit, p.children.need[child])
        p.location[child] = WAITING
        p.place_token[child] += 1
        p.waiting[child] = None
    for child in residents:
        if p.location[child] == WAITING:
            p.seek(child, 0)


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
        open_unit(placements, unit)
    if close_day is not None:
        yield env.timeout(max(close_day - env.now, 0.0))
        close_unit(placements, unit)


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


class PhasedFill:
    """Admissions capped per month-long window after opening (attached to the cascade core)."""

    def __init__(self, placements: Placements) -> None:
        p = self.placements = placements
        n = len(p.units)
        self.window = [-1] * n  # current month window since opening
        self.count = [0] * n  # admissions in that window
        phased = [u.has_beds and u.fill_per_month > 0 for u in p.units]
        if not any(phased):
            return
        p.phased = phased
        p.fill_allows = self.allows
        for u, on in enumerate(phased):
            if on:
                p.place_hooks[u].append(self._count)

    def allows(self, u: int) -> bool:
        """Fewer than k admissions in this month-long window since opening."""
        p = self.placements
        info = p.units[u]
        window = int((p.env.now - p.opened_at[u]) // MONTH_DAYS)
        if window >= info.fill_months:
            return True
        if window != self.window[u]:
            self.window[u], self.count[u] = window, 0
        return self.count[u] < info.fill_per_month

    def _count(self, child: int, u: int) -> None:
        p = self.placements
        info = p.units[u]
        if not p.is_open[u]:
            return
        window = int((p.env.now - p.opened_at[u]) // MONTH_DAYS)
        if window >= info.fill_months:
            return
        if window != self.window[u]:
            self.window[u], self.count[u] = window, 0
        self.count[u] += 1
        if self.count[u] == info.fill_per_month:
            # The cap binds until the next window: log it, and offer the beds again then.
            p.log.append(p.env.now, EventKind.FILL_CAPPED, unit=u)
            resume = p.opened_at[u] + (window + 1) * MONTH_DAYS
            p.env.timeout(resume - p.env.now).callbacks.append(
                partial(self._resume, u, p.hold_epoch[u])
            )

    def _resume(self, unit: int, epoch: int, _event: simpy.Event) -> None:
        p = self.placements
        if epoch != p.hold_epoch[unit]:
            return
        p.log.append(p.env.now, EventKind.FILL_RESUMED, unit=unit)
        p.offer_bed(unit)


class StayLimits:
    """Short-stay homes' longest stay (attached to the cascade core)."""

    def __init__(self, placements: Placements) -> None:
        self.placements = placements
        for u in placements.units:
            if u.max_stay_days is not None:
                placements.place_hooks[u.index].append(partial(self._start, u.max_stay_days))

    def _start(self, max_stay_days: float, child: int, unit: int) -> None:
        p = self.placements
        if p.env.now + max_stay_days < p.exit_at[child]:
            p.env.timeout(max_stay_days).callbacks.append(
                partial(self._reached, child, p.place_token[child])
            )

    def _reached(self, child: int, token: int, _event: simpy.Event) -> None:
        """The child returns home or moves on."""
        p = self.placements
        unit = p.location[child]
        if token != p.place_token[child] or unit < 0:
            return
        draw = p.draws[unit].stay_limit
        if draw is not None and draw() < p.units[unit].return_home_share:
            p.exit(child, Route.HOME)
            return
        p.seek_again(child, unit, EventKind.STAY_LIMIT)
