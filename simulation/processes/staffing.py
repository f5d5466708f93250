"""Care staff: turnover, recruitment, a shared relief pool and agency cover, per home.

Each staffed home needs enough staff in post to cover its rota. Staff leave at the turnover rate
and every vacancy is recruited after a sampled lead time. After each change the city-wide relief
pool is shared out among short homes in config order, then agency / overtime covers up to each
home's cap; a home still short closes to admissions (or closes some beds) until it is covered
again. Every change is logged.

Staffing is exogenous to placements: who leaves and when recruits start never depends on the
children. So the whole staffing timeline of a replication is worked out before the placement
run, vectorised, and only its effect on beds -- a home closing to admissions or reopening --
enters the SimPy model, as events at those instants that run before anything else due then.

Each funded post alternates between filled (an exponential time at the turnover rate) and
vacant (a recruitment lead time). Summed over a home's posts this is the same process as "staff
leave at rate (staff in post) x turnover, each vacancy is refilled after a lead time", and the
posts are independent, so every post's whole history is drawn at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate

import numpy as np
import simpy
from numpy.typing import NDArray

from simulation.events import ROW_DTYPE, EventKind
from simulation.processes.placement import Placements
from simulation.processes.timing import Urgent


@dataclass
class StaffedHome:
    """One home's staffing settings and streams for a replication."""

    unit: int
    establishment: int  # funded posts
    required_fte: float  # rota cover, grossed up for absence
    in_post: int  # staff in post when it opens (<= establishment)
    close_beds: int  # beds taken out of use while short (all of them: the home's beds)
    leave_rng: np.random.Generator  # uniforms: how long each post stays filled
    recruit_rng: np.random.Generator  # uniforms: recruitment lead times
    recruit_days: Callable[[NDArray[np.float64]], NDArray[np.float64]]  # lead-time ppf
    open_day: float = 0.0  # the home's (simulated) opening: staff start then
    close_day: float = math.inf


@dataclass(frozen=True)
class BedClosure:
    """From ``time`` on, ``beds`` of ``unit`` are out of use for want of staff (0: reopened)."""

    time: float
    unit: int
    beds: int


@dataclass
class StaffingTimeline:
    """What the staffing model produced: log rows, and the closures the placement model applies."""

    rows: NDArray[np.void] = field(  # STAFF_JOIN / STAFF_LEAVE / AGENCY, in time order
        default_factory=lambda: np.empty(0, dtype=ROW_DTYPE)
    )
    closures: list[BedClosure] = field(default_factory=list)


def required_fte(
    min_on_shift: int, waking_night: int, contract_hours: float, absence_rate: float
) -> float:
    """FTE needed to cover two day shifts of ``min_on_shift`` and a waking night, all week."""
    hours = (min_on_shift * 16.0 + waking_night * 8.0) * 7.0
    return hours / contract_hours / (1.0 - absence_rate)


_BLOCK = 8  # filled/vacant cycles drawn per post at a time (more blocks while one falls short)


@dataclass(frozen=True)
class _Changes:
    """Every home's headcount changes (its opening, each leaver and starter, and its closing),
    in time order; ties in config order, then in each home's own order."""

    time: NDArray[np.float64]
    owner: NDArray[np.intp]  # the home's position in the list of homes
    in_post: NDArray[np.int64]  # the home's staff in post after the change
    kind: NDArray[np.int64]  # STAFF_JOIN / STAFF_LEAVE code; 0 for a closing (no row)
    gap: NDArray[np.float64]  # the home's rota cover lacking after the change (0 once closed)


def _spells(
    homes: list[StaffedHome],
    drawing: list[int],
    opened: NDArray[np.float64],
    end: NDArray[np.float64],
    turnover_per_day: float,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Every post's spells, a row per post of the ``drawing`` homes (in order), and whether each
    post starts filled.

    Column 2j of a post is its j-th spell in its first state (filled for the staff in post at
    opening, vacant for the others), column 2j+1 its j-th spell in the other state. Each home
    draws blocks of ``_BLOCK`` cycles from its own streams until all its posts reach its end;
    the rows of a home that needed fewer blocks are padded with infinite spells.
    """
    if not drawing:
        return np.empty((0, 0)), np.empty(0, dtype=bool)
    posts = [homes[k].establishment for k in drawing]
    starts = list(accumulate(posts[:-1], initial=0))  # each home's first row
    n_rows = starts[-1] + posts[-1]
    rank = np.arange(n_rows) - np.repeat(starts, posts)  # the post's number in its home
    first_filled = rank < np.repeat([homes[k].in_post for k in drawing], posts)
    row_opened, row_end = np.repeat(opened[drawing], posts), np.repeat(end[drawing], posts)
    spells = np.empty((n_rows, 0))
    rows = np.arange(n_rows)  # the rows of the homes still drawing
    while drawing:
        sizes = [(p, _BLOCK) for p in posts]
        stay_u = np.concatenate(
            [homes[k].leave_rng.random(size) for k, size in zip(drawing, sizes, strict=True)]
        )
        lead_u = [homes[k].recruit_rng.random(size) for k, size in zip(drawing, sizes, strict=True)]
        recruit_days = homes[drawing[0]].recruit_days
        if all(homes[k].recruit_days == recruit_days for k in drawing):
            lead = recruit_days(np.concatenate(lead_u))  # elementwise: one call for all homes
        else:
            lead = np.concatenate(
                [homes[k].recruit_days(u) for k, u in zip(drawing, lead_u, strict=True)]
            )
        lead = np.maximum(lead, 0.0)
        stay = (
            -np.log1p(-stay_u) / turnover_per_day
            if turnover_per_day > 0
            else np.full(stay_u.shape, np.inf)
        )
        first = first_filled[rows, None]
        block = np.empty((len(rows), 2 * _BLOCK))
        block[:, 0::2] = np.where(first, stay, lead)
        block[:, 1::2] = np.where(first, lead, stay)
        if spells.shape[1] == 0:  # the first block: every home draws it
            spells = drawn = block
        else:
            width = spells.shape[1]
            spells = np.hstack([spells, np.full((n_rows, 2 * _BLOCK), np.inf)])
            spells[rows, width:] = block
            drawn = spells[rows]  # every block so far: no padding in a home still drawing
        reached = row_opened[rows] + np.sum(drawn, axis=1)
        more = np.logical_or.reduceat(reached < row_end[rows], starts).tolist()
        rows = rows[np.repeat(more, posts)]
        drawing = [k for k, m in zip(drawing, more, strict=True) if m]
        posts = [p for p, m in zip(posts, more, strict=True) if m]
        starts = list(accumulate(posts[:-1], initial=0))
    return spells, first_filled


def _all_changes(homes: list[StaffedHome], turnover_per_day: float, horizon: float) -> _Changes:
    """Every home's headcount changes before it closes or the run ends, all homes at once."""
    opened = np.array([max(h.open_day, 0.0) for h in homes])
    end = np.array([min(h.close_day, horizon) for h in homes])
    active = [k for k, h in enumerate(homes) if opened[k] < end[k]]
    drawing = [k for k in active if homes[k].establishment > 0]
    spells, first_filled = _spells(homes, drawing, opened, end, turnover_per_day)
    row_owner = np.repeat(
        np.array(drawing, dtype=np.intp), [homes[k].establishment for k in drawing]
    )
    times = opened[row_owner, None] + np.cumsum(spells, axis=1)
    row, col = np.nonzero(times < end[row_owner, None])
    # A spell that ends is a leaver (a filled spell) or a starter (a vacant one).
    leaver = first_filled[row] ^ (col % 2 == 1)
    closing = [k for k in active if homes[k].close_day < horizon]
    join, leave = int(EventKind.STAFF_JOIN), int(EventKind.STAFF_LEAVE)
    n_open, n_changes, n_close = len(active), len(row), len(closing)
    time = np.concatenate(
        [opened[active], times[row, col], np.array([homes[k].close_day for k in closing])]
    )
    owner = np.concatenate(
        [np.array(active, dtype=np.intp), row_owner[row], np.array(closing, dtype=np.intp)]
    )
    step = np.zeros(len(time), dtype=np.int64)
    step[n_open : n_open + n_changes] = np.where(leaver, -1, 1)
    # Each home's own order: its opening, its changes by time (ties: post by post, row-major),
    # then its closing; across homes, by time and then config order.
    own_order = np.concatenate(
        [
            np.zeros(n_open, dtype=np.int64),
            1 + row * spells.shape[1] + col,
            np.full(n_close, spells.size + 1),
        ]
    )
    order = np.lexsort((own_order, owner, time))
    time, owner, step = time[order], owner[order], step[order]
    kind = np.where(step > 0, join, leave)
    kind[order < n_open] = join
    kind[order >= n_open + n_changes] = 0
    # Staff in post after each change: the home's staff at opening plus its changes so far.
    n = len(time)
    steps_by_home = np.zeros((len(homes), n), dtype=np.int64)
    steps_by_home[owner, np.arange(n)] = step
    in_post = (
        np.array([h.in_post for h in homes], dtype=np.int64)[owner]
        + np.cumsum(steps_by_home, axis=1)[owner, np.arange(n)]
    )
    required = np.array([h.required_fte for h in homes])
    gap = np.maximum(required[owner] - in_post, 0.0)
    gap[kind == 0] = 0.0  # a closed home's staff stop counting, and its agency cover ends
    return _Changes(time, owner, in_post, kind, gap)


def staffing_timeline(
    homes: list[StaffedHome],
    turnover_per_year: float,
    relief_pool_fte: float,
    agency_cap_fte: float,
    horizon: float,
) -> StaffingTimeline:
    """Every staffing change of the replication before ``horizon``, in time order.

    Cover couples the homes (the relief pool goes to short homes in config order): after every
    change, in time order (ties: config order), the pool and then agency are shared out over
    all homes at once, vectorised over the changes.
    """
    out = StaffingTimeline()
    if not homes:
        return out
    changes = _all_changes(homes, turnover_per_year / 365.25, horizon)
    time, owner, kind = changes.time, changes.owner, changes.kind
    n, n_homes = len(time), len(homes)
    if n == 0:
        return out
    # gaps[h, k]: home h's gap just after change k (its latest change at or before k).
    positions = np.arange(n)
    own = owner == np.arange(n_homes)[:, None]
    last = np.maximum.accumulate(np.where(own, positions, -1), axis=1)
    gaps = np.where(last >= 0, changes.gap[np.maximum(last, 0)], 0.0)
    relief_left = np.full(n, relief_pool_fte)
    agency = np.empty((n_homes, n))
    short = np.empty((n_homes, n), dtype=bool)
    for h in range(n_homes):
        relief = np.minimum(gaps[h], relief_left)
        relief_left = relief_left - relief
        agency[h] = np.minimum(gaps[h] - relief, agency_cap_fte)
        short[h] = gaps[h] - relief - agency[h] > 1e-9
    agency_was = np.zeros((n_homes, n))
    agency_was[:, 1:] = agency[:, :-1]
    short_was = np.zeros((n_homes, n), dtype=bool)
    short_was[:, 1:] = short[:, :-1]
    units = np.array([h.unit for h in homes], dtype=np.int64)
    # Rows: each change's own row (none for a closing), then the agency changes it caused, in
    # home order; sorted by (change, position) so causes come before effects.
    own_row = kind > 0
    k_ag, h_ag = np.nonzero((np.abs(agency - agency_was) > 1e-12).T)
    rank = np.concatenate(
        [np.flatnonzero(own_row) * (n_homes + 1), k_ag * (n_homes + 1) + 1 + h_ag]
    )
    order = np.argsort(rank, kind="stable")
    rows = np.zeros(len(rank), dtype=ROW_DTYPE)
    # Field by field: gathering whole (packed, 27-byte) rows is many times slower.
    rows["time"] = np.concatenate([time[own_row], time[k_ag]])[order]
    rows["kind"] = np.concatenate([kind[own_row], np.full(len(k_ag), int(EventKind.AGENCY))])[order]
    rows["child"] = -1
    rows["unit"] = np.concatenate([units[owner[own_row]], units[h_ag]])[order]
    rows["need"] = -1
    rows["value"] = np.concatenate([changes.in_post[own_row], agency[h_ag, k_ag]])[order]
    rows["in_city"] = -1
    rows["route"] = -1
    out.rows = rows
    k_sh, h_sh = np.nonzero((short != short_was).T)  # in change order, then home order
    close_beds = np.array([h.close_beds for h in homes])
    beds = np.where(short[h_sh, k_sh], close_beds[h_sh], 0)
    out.closures = [
        BedClosure(t, unit, closed)
        for t, unit, closed in zip(
            time[k_sh].tolist(), units[h_sh].tolist(), beds.tolist(), strict=True
        )
    ]
    return out


def apply_bed_closures(
    env: simpy.Environment, placements: Placements, closures: list[BedClosure]
) -> None:
    """Put the staffing timeline's closures to admissions into the placement model."""

    def apply(closure: BedClosure, _event: simpy.Event) -> None:
        kind = EventKind.STAFF_SHORT if closure.beds else EventKind.STAFF_COVERED
        placements.log.append(env.now, kind, unit=closure.unit, value=closure.beds)
        _set_staff_closed(placements, closure.unit, closure.beds)

    for closure in closures:
        Urgent(env, closure.time - env.now).callbacks.append(partial(apply, closure))


def _set_staff_closed(p: Placements, unit: int, beds: int) -> None:
    """Beds out of use for want of staff (all of them: closed to admissions)."""
    reopened = beds < p.staff_closed[unit]
    p.free[unit] += p.staff_closed[unit] - beds
    p.staff_closed[unit] = beds
    if reopened:
        p.offer_bed(unit)
