"""Care staff: turnover, recruitment, a shared relief pool and agency cover, per home.

Each staffed home needs enough staff in post to cover its rota. Staff leave at the turnover rate
(a Poisson process whose rate follows the headcount); every vacancy is recruited after a sampled
lead time. After each change the city-wide relief pool is shared out among short homes in
config order, then agency / overtime covers up to each home's cap; a home still short closes to
admissions (or closes some beds) until it is covered again. Every change is logged.

Staffing is exogenous to placements: who leaves and when recruits start never depends on the
children. So the whole staffing timeline of a replication is worked out before the placement
run, in a plain event loop over the homes' own streams (a fifth of the cost of the same events
in SimPy), and only its effect on beds -- a home closing to admissions or reopening -- enters the
SimPy model, as events at those instants that run before anything else due then.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from functools import partial

import simpy
from simpy.core import URGENT

from simulation.events import EventKind, LogRow
from simulation.processes.placement import Placements
from simulation.streams import DrawBuffer

# Staffing events, in the order they are handled when due at the same instant.
_START, _LEAVE, _JOIN, _CLOSE = 0, 1, 2, 3


@dataclass
class StaffedHome:
    """One home's staffing: settings, its streams and its state during the timeline."""

    unit: int
    establishment: int
    required_fte: float  # rota cover, grossed up for absence
    in_post: int
    close_beds: int  # beds taken out of use while short (all of them: the home's beds)
    leave_draw: DrawBuffer  # uniforms: time to the next leaver
    recruit_draw: DrawBuffer  # recruitment lead times, days
    open_day: float = 0.0  # the home's (simulated) opening: staff start then
    close_day: float = math.inf
    running: bool = False
    leave_token: int = 0
    agency_fte: float = 0.0
    short: bool = False
    relief_left_after: float = 0.0  # relief pool still unshared after this home (last review)

    def gap(self) -> float:
        """FTE of rota cover the home lacks from its own staff (0 when not running)."""
        return max(self.required_fte - self.in_post, 0.0) if self.running else 0.0


@dataclass(frozen=True)
class BedClosure:
    """From ``time`` on, ``beds`` of ``unit`` are out of use for want of staff (0: reopened)."""

    time: float
    unit: int
    beds: int


@dataclass
class StaffingTimeline:
    """What the staffing model produced: log rows, and the closures the placement model applies."""

    rows: list[LogRow] = field(default_factory=list)  # STAFF_JOIN / STAFF_LEAVE / AGENCY
    closures: list[BedClosure] = field(default_factory=list)


def required_fte(
    min_on_shift: int, waking_night: int, contract_hours: float, absence_rate: float
) -> float:
    """FTE needed to cover two day shifts of ``min_on_shift`` and a waking night, all week."""
    hours = (min_on_shift * 16.0 + waking_night * 8.0) * 7.0
    return hours / contract_hours / (1.0 - absence_rate)


class _Timeline:
    """The staffing event loop: a heap of (time, sequence, event, home, token)."""

    def __init__(
        self,
        homes: list[StaffedHome],
        turnover_per_year: float,
        relief_pool_fte: float,
        agency_cap_fte: float,
        horizon: float,
    ) -> None:
        self.homes = homes
        for home in homes:  # no home has a gap yet: the whole pool is left after each
            home.relief_left_after = relief_pool_fte
        self.turnover_per_day = turnover_per_year / 365.25
        self.relief_pool = relief_pool_fte
        self.agency_cap = agency_cap_fte
        self.horizon = horizon
        self.out = StaffingTimeline()
        self.queue: list[tuple[float, int, int, int, int]] = []
        self.sequence = 0
        self.now = 0.0

    def push(self, time: float, event: int, home: int, token: int = 0) -> None:
        # Ties go first-scheduled first, as in SimPy: the sequence number breaks them.
        if time < self.horizon:
            heapq.heappush(self.queue, (time, self.sequence, event, home, token))
            self.sequence += 1

    def log(self, kind: EventKind, home: StaffedHome, value: float) -> None:
        self.out.rows.append((self.now, int(kind), -1, home.unit, -1, float(value), -1, -1))

    def run(self) -> StaffingTimeline:
        for i, home in enumerate(self.homes):
            if home.open_day < home.close_day:
                self.push(max(home.open_day, 0.0), _START, i)
                if home.close_day < math.inf:
                    self.push(home.close_day, _CLOSE, i)
        while self.queue:
            self.now, _, event, i, token = heapq.heappop(self.queue)
            home = self.homes[i]
            gap = home.gap()
            if event == _START:
                self._start(i, home)
            elif event == _LEAVE:
                if token != home.leave_token or not home.running:
                    continue
                home.in_post -= 1
                self.log(EventKind.STAFF_LEAVE, home, home.in_post)
                self._recruit(i, home)
                self._next_leaver(i, home)
            elif event == _JOIN:
                if not home.running or home.in_post >= home.establishment:
                    continue
                home.in_post += 1
                self.log(EventKind.STAFF_JOIN, home, home.in_post)
                self._next_leaver(i, home)
            else:  # _CLOSE: the home's staff stop counting, and its agency cover ends
                home.running = False
            # Cover depends only on the homes' gaps: if this one's did not change, nothing can.
            if home.gap() != gap:
                self._review(i)
        return self.out

    def _start(self, i: int, home: StaffedHome) -> None:
        """The home opens: its staff are in post and its vacancies are being recruited."""
        home.running = True
        self.log(EventKind.STAFF_JOIN, home, home.in_post)
        for _ in range(home.establishment - home.in_post):
            self._recruit(i, home)
        self._next_leaver(i, home)

    def _recruit(self, i: int, home: StaffedHome) -> None:
        self.push(self.now + max(home.recruit_draw(), 0.0), _JOIN, i)

    def _next_leaver(self, i: int, home: StaffedHome) -> None:
        # The headcount changed: the next leaver is redrawn at the new rate (memoryless).
        home.leave_token += 1
        rate = home.in_post * self.turnover_per_day
        if rate > 0:
            delay = -math.log1p(-home.leave_draw()) / rate
            self.push(self.now + delay, _LEAVE, i, home.leave_token)

    def _review(self, changed: int) -> None:
        """Share the relief pool, then agency cover; close or reopen homes as cover allows.

        The pool goes to homes in config order, so only ``changed`` (whose gap changed) and
        the homes after it can change, and only while the pool left after them differs from
        the last review: once it is the same again, every later home's cover is too.
        """
        homes = self.homes
        relief_left = homes[changed - 1].relief_left_after if changed else self.relief_pool
        for j in range(changed, len(homes)):
            home = homes[j]
            gap = max(home.required_fte - home.in_post, 0.0) if home.running else 0.0
            if gap == 0.0 and home.agency_fte == 0.0 and not home.short:
                same_after = relief_left == home.relief_left_after
                home.relief_left_after = relief_left
                if same_after and j > changed:
                    return
                continue  # fully staffed and was: nothing to share out or log
            relief = min(gap, relief_left)
            relief_left -= relief
            agency = min(gap - relief, self.agency_cap)
            short = gap - relief - agency > 1e-9
            if abs(agency - home.agency_fte) > 1e-12:
                home.agency_fte = agency
                self.log(EventKind.AGENCY, home, agency)
            if short != home.short:
                home.short = short
                self.out.closures.append(
                    BedClosure(self.now, home.unit, home.close_beds if short else 0)
                )
            same_after = relief_left == home.relief_left_after
            home.relief_left_after = relief_left
            if same_after and j > changed:
                return


def staffing_timeline(
    homes: list[StaffedHome],
    turnover_per_year: float,
    relief_pool_fte: float,
    agency_cap_fte: float,
    horizon: float,
) -> StaffingTimeline:
    """Every staffing change of the replication before ``horizon``, in time order."""
    return _Timeline(homes, turnover_per_year, relief_pool_fte, agency_cap_fte, horizon).run()


class _Urgent(simpy.Event):
    """An event due ``delay`` from now that runs before any normal event due then (so a home
    closed by staffing at the instant it opens never admits a child)."""

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, URGENT, delay)


def apply_bed_closures(
    env: simpy.Environment, placements: Placements, closures: list[BedClosure]
) -> None:
    """Put the staffing timeline's closures to admissions into the placement model."""

    def apply(closure: BedClosure, _event: simpy.Event) -> None:
        kind = EventKind.STAFF_SHORT if closure.beds else EventKind.STAFF_COVERED
        placements.log.append(env.now, kind, unit=closure.unit, value=closure.beds)
        placements.set_staff_closed(closure.unit, closure.beds)

    for closure in closures:
        _Urgent(env, closure.time - env.now).callbacks.append(partial(apply, closure))
