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

import numpy as np
import simpy

from simulation.events import EventKind, LogRow
from simulation.processes.placement import Placements
from simulation.processes.timing import Urgent
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


_JOIN_CODE, _LEAVE_CODE, _AGENCY_CODE = (
    int(EventKind.STAFF_JOIN),
    int(EventKind.STAFF_LEAVE),
    int(EventKind.AGENCY),
)


def _home_changes(
    home: StaffedHome, turnover_per_day: float, horizon: float
) -> list[tuple[float, int, float, LogRow | None]]:
    """One home's headcount over the run, from its own streams alone.

    Returns its changes in order as (time, sequence, gap after, log row): the home opening,
    every leaver and starter, and its closing (gap 0 from then on, no row).
    """
    queue: list[tuple[float, int, int, int]] = []  # (time, sequence, event, leave token)
    sequence = 0
    unit, required = home.unit, home.required_fte

    def push(time: float, event: int, token: int = 0) -> None:
        # Ties go first-scheduled first, as in SimPy: the sequence number breaks them.
        nonlocal sequence
        if time < horizon:
            heapq.heappush(queue, (time, sequence, event, token))
            sequence += 1

    def next_leaver(now: float) -> None:
        # The headcount changed: the next leaver is redrawn at the new rate (memoryless).
        home.leave_token += 1
        rate = home.in_post * turnover_per_day
        if rate > 0:
            push(now - math.log1p(-home.leave_draw()) / rate, _LEAVE, home.leave_token)

    changes: list[tuple[float, int, float, LogRow | None]] = []
    if home.open_day >= home.close_day:
        return changes
    push(max(home.open_day, 0.0), _START)
    if home.close_day < math.inf:
        push(home.close_day, _CLOSE)
    while queue:
        now, seq, event, token = heapq.heappop(queue)
        if event == _START:
            home.running = True
            row: LogRow = (now, _JOIN_CODE, -1, unit, -1, float(home.in_post), -1, -1)
            for _ in range(home.establishment - home.in_post):  # posts vacant on opening
                push(now + max(home.recruit_draw(), 0.0), _JOIN)
            next_leaver(now)
        elif event == _LEAVE:
            if token != home.leave_token:
                continue  # superseded by a later headcount change
            home.in_post -= 1
            row = (now, _LEAVE_CODE, -1, unit, -1, float(home.in_post), -1, -1)
            push(now + max(home.recruit_draw(), 0.0), _JOIN)
            next_leaver(now)
        elif event == _JOIN:
            if home.in_post >= home.establishment:
                continue
            home.in_post += 1
            row = (now, _JOIN_CODE, -1, unit, -1, float(home.in_post), -1, -1)
            next_leaver(now)
        else:  # _CLOSE: its staff stop counting, and nothing after matters
            home.running = False
            changes.append((now, seq, 0.0, None))
            break
        changes.append((now, seq, max(required - home.in_post, 0.0), row))
    return changes


def staffing_timeline(
    homes: list[StaffedHome],
    turnover_per_year: float,
    relief_pool_fte: float,
    agency_cap_fte: float,
    horizon: float,
) -> StaffingTimeline:
    """Every staffing change of the replication before ``horizon``, in time order.

    Each home's headcount depends only on its own streams, so it is worked out home by home.
    Cover couples the homes (the relief pool goes to short homes in config order): after every
    change, in time order (ties: config order), the pool and then agency are shared out over
    all homes at once, vectorised over the changes.
    """
    out = StaffingTimeline()
    per_home = [_home_changes(h, turnover_per_year / 365.25, horizon) for h in homes]
    events = sorted(
        (time, i, seq, gap, row)
        for i, changes in enumerate(per_home)
        for time, seq, gap, row in changes
    )
    if not events:
        return out
    n, n_homes = len(events), len(homes)
    owner = np.fromiter((e[1] for e in events), dtype=np.int64, count=n)
    gap_after = np.fromiter((e[3] for e in events), dtype=np.float64, count=n)
    # gaps[k, h]: home h's gap just after change k (its latest change at or before k).
    positions = np.arange(n)
    gaps = np.zeros((n, n_homes))
    for h in range(n_homes):
        last = np.maximum.accumulate(np.where(owner == h, positions, -1))
        gaps[:, h] = np.where(last >= 0, gap_after[np.maximum(last, 0)], 0.0)
    relief_left = np.full(n, relief_pool_fte)
    agency = np.empty((n, n_homes))
    short = np.empty((n, n_homes), dtype=bool)
    for h in range(n_homes):
        relief = np.minimum(gaps[:, h], relief_left)
        relief_left = relief_left - relief
        agency[:, h] = np.minimum(gaps[:, h] - relief, agency_cap_fte)
        short[:, h] = gaps[:, h] - relief - agency[:, h] > 1e-9
    # Log what changed at each change: agency in use, and homes closing or reopening.
    agency_was = np.vstack([np.zeros((1, n_homes)), agency[:-1]])
    short_was = np.vstack([np.zeros((1, n_homes), dtype=bool), short[:-1]])
    agency_moves = np.abs(agency - agency_was) > 1e-12
    by_change: dict[int, list[int]] = {}
    for k, h in zip(*np.nonzero(agency_moves), strict=True):
        by_change.setdefault(int(k), []).append(int(h))
    rows = out.rows
    for k, (time, _, _, _, row) in enumerate(events):
        if row is not None:
            rows.append(row)
        for h in by_change.get(k, ()):
            rows.append((time, _AGENCY_CODE, -1, homes[h].unit, -1, float(agency[k, h]), -1, -1))
    for k, h in zip(*np.nonzero(short != short_was), strict=True):
        home = homes[int(h)]
        beds = home.close_beds if short[k, h] else 0
        out.closures.append(BedClosure(events[int(k)][0], home.unit, beds))
    return out


def apply_bed_closures(
    env: simpy.Environment, placements: Placements, closures: list[BedClosure]
) -> None:
    """Put the staffing timeline's closures to admissions into the placement model."""

    def apply(closure: BedClosure, _event: simpy.Event) -> None:
        kind = EventKind.STAFF_SHORT if closure.beds else EventKind.STAFF_COVERED
        placements.log.append(env.now, kind, unit=closure.unit, value=closure.beds)
        placements.set_staff_closed(closure.unit, closure.beds)

    for closure in closures:
        Urgent(env, closure.time - env.now).callbacks.append(partial(apply, closure))
