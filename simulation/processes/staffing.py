"""Care staff: turnover, recruitment, a shared relief pool and agency cover, per home.

Each staffed home needs enough staff in post to cover its rota. Staff leave at the turnover rate
(a Poisson process whose rate follows the headcount); every vacancy is recruited after a sampled
lead time. After each change the city-wide relief pool is shared out among short homes in
config order, then agency / overtime covers up to each home's cap; a home still short closes to
admissions (or closes some beds) until it is covered again. Every change is logged.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from functools import partial

import simpy

from simulation.events import EventKind
from simulation.processes.placement import Placements
from simulation.streams import DrawBuffer


@dataclass
class StaffedHome:
    """One home's staffing state."""

    unit: int
    establishment: int
    required_fte: float  # rota cover, grossed up for absence
    in_post: int
    close_beds: int  # beds closed while short (the whole home if 0)
    leave_draw: DrawBuffer  # uniforms: time to the next leaver
    recruit_draw: DrawBuffer  # recruitment lead times, days
    started: bool = False
    leave_token: int = 0
    agency_fte: float = 0.0
    short: bool = False


def required_fte(
    min_on_shift: int, waking_night: int, contract_hours: float, absence_rate: float
) -> float:
    """FTE needed to cover two day shifts of ``min_on_shift`` and a waking night, all week."""
    hours = (min_on_shift * 16.0 + waking_night * 8.0) * 7.0
    return hours / contract_hours / (1.0 - absence_rate)


class Staffing:
    """All staffed homes of a replication, sharing the relief pool."""

    def __init__(
        self,
        env: simpy.Environment,
        placements: Placements,
        homes: list[StaffedHome],
        turnover_per_year: float,
        relief_pool_fte: float,
        agency_cap_fte: float,
    ) -> None:
        self.env = env
        self.placements = placements
        self.homes = homes
        self.turnover_per_day = turnover_per_year / 365.25
        self.relief_pool = relief_pool_fte
        self.agency_cap = agency_cap_fte

    def start(self, home: StaffedHome) -> None:
        """The home opens: its staff are in post, and the rota is checked."""
        home.started = True
        self._log(EventKind.STAFF_JOIN, home, home.in_post)
        for _ in range(home.establishment - home.in_post):  # posts vacant on opening
            self._recruit(home)
        self._next_leaver(home)
        self.review()

    def _recruit(self, home: StaffedHome) -> None:
        self.env.timeout(max(home.recruit_draw(), 0.0)).callbacks.append(partial(self._joins, home))

    def _log(self, kind: EventKind, home: StaffedHome, value: float) -> None:
        self.placements.log.append(self.env.now, kind, unit=home.unit, value=value)

    def _next_leaver(self, home: StaffedHome) -> None:
        home.leave_token += 1
        rate = home.in_post * self.turnover_per_day
        if rate <= 0:
            return
        delay = -math.log1p(-home.leave_draw()) / rate
        self.env.timeout(delay).callbacks.append(partial(self._leaves, home, home.leave_token))

    def _leaves(self, home: StaffedHome, token: int, _event: simpy.Event) -> None:
        if token != home.leave_token or not self._running(home):
            return
        home.in_post -= 1
        self._log(EventKind.STAFF_LEAVE, home, home.in_post)
        self._recruit(home)
        self._next_leaver(home)
        self.review()

    def _joins(self, home: StaffedHome, _event: simpy.Event) -> None:
        if not self._running(home) or home.in_post >= home.establishment:
            return
        home.in_post += 1
        self._log(EventKind.STAFF_JOIN, home, home.in_post)
        self._next_leaver(home)
        self.review()

    def _running(self, home: StaffedHome) -> bool:
        return home.started and self.env.now < self.placements.close_day[home.unit]

    def review(self) -> None:
        """Share the relief pool, then agency cover; close or reopen homes as cover allows."""
        relief_left = self.relief_pool
        now, close_day = self.env.now, self.placements.close_day
        for home in self.homes:
            running = home.started and now < close_day[home.unit]
            gap = max(home.required_fte - home.in_post, 0.0) if running else 0.0
            if gap == 0.0 and home.agency_fte == 0.0 and not home.short:
                continue  # fully staffed and was: nothing to share out or log
            relief = min(gap, relief_left)
            relief_left -= relief
            agency = min(gap - relief, self.agency_cap)
            short = gap - relief - agency > 1e-9
            if abs(agency - home.agency_fte) > 1e-12:
                home.agency_fte = agency
                self._log(EventKind.AGENCY, home, agency)
            if short != home.short:
                home.short = short
                beds = self.placements.units[home.unit].beds
                closed = beds if home.close_beds == 0 else min(home.close_beds, beds)
                if short:
                    self._log(EventKind.STAFF_SHORT, home, closed)
                    self.placements.set_staff_closed(home.unit, closed)
                else:
                    self._log(EventKind.STAFF_COVERED, home, 0)
                    self.placements.set_staff_closed(home.unit, 0)


def staffing_start(
    env: simpy.Environment, staffing: Staffing, home: StaffedHome, open_day: float
) -> Generator[simpy.Event, None, None]:
    """Wait for the home to open, then start its staff."""
    if open_day > env.now:
        yield env.timeout(open_day - env.now)
    staffing.start(home)
