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
    """One home's headcount changes: the opening, each leaver and starter, and its closing."""

    time: NDArray[np.float64]
    in_post: NDArray[np.int64]  # staff in post after the change
    kind: NDArray[np.int64]  # STAFF_JOIN / STAFF_LEAVE code; 0 for the closing (no row)
    gap: NDArray[np.float64]  # rota cover lacking after the change (0 once closed)


def _home_changes(home: StaffedHome, turnover_per_day: float, horizon: float) -> _Changes:
    """Every headcount change of one home before it closes or the run ends."""
    opened = max(home.open_day, 0.0)
    end = min(home.close_day, horizon)
    empty = np.empty(0)
    if opened >= end:
        return _Changes(empty, empty.astype(np.int64), empty.astype(np.int64), empty)
    posts, filled = home.establishment, home.in_post
    # Column 2j of a post is its j-th spell in its first state (filled for the staff in post
    # at opening, vacant for the others), column 2j+1 its j-th spell in the other state.
    first_filled = np.arange(posts) < filled
    blocks: list[NDArray[np.float64]] = []
    reached = np.full(posts, opened)
    while posts and np.any(reached < end):
        stay_u = home.leave_rng.random((posts, _BLOCK))
        lead = np.maximum(home.recruit_days(home.recruit_rng.random((posts, _BLOCK))), 0.0)
        stay = (
            -np.log1p(-stay_u) / turnover_per_day
            if turnover_per_day > 0
            else np.full((posts, _BLOCK), np.inf)
        )
        spells = np.empty((posts, 2 * _BLOCK))
        spells[:, 0::2] = np.where(first_filled[:, None], stay, lead)
        spells[:, 1::2] = np.where(first_filled[:, None], lead, stay)
        blocks.append(spells)
        reached = opened + np.sum(np.hstack(blocks), axis=1)
    if blocks:
        times = opened + np.cumsum(np.hstack(blocks), axis=1)
        # A spell that ends is a leaver (a filled spell) or a starter (a vacant one).
        ends_filled = np.empty(times.shape, dtype=bool)
        ends_filled[:, 0::2] = first_filled[:, None]
        ends_filled[:, 1::2] = ~first_filled[:, None]
        keep = times < end
        t = times[keep]  # row-major: post by post, so a stable sort breaks ties by post
        step = np.where(ends_filled[keep], -1, 1)
        order = np.argsort(t, kind="stable")
        t, step = t[order], step[order]
    else:
        t, step = empty, empty.astype(np.int64)
    in_post = filled + np.cumsum(step)
    join, leave = int(EventKind.STAFF_JOIN), int(EventKind.STAFF_LEAVE)
    time = np.concatenate([[opened], t])
    heads = np.concatenate([[filled], in_post]).astype(np.int64)
    kind = np.concatenate([[join], np.where(step > 0, join, leave)]).astype(np.int64)
    gap = np.maximum(home.required_fte - heads, 0.0)
    if home.close_day < horizon:  # its staff stop counting, and its agency cover ends
        time = np.append(time, home.close_day)
        heads = np.append(heads, heads[-1])
        kind = np.append(kind, 0)
        gap = np.append(gap, 0.0)
    return _Changes(time, heads, kind, gap)


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
    per_home = [_home_changes(h, turnover_per_year / 365.25, horizon) for h in homes]
    time = np.concatenate([c.time for c in per_home])
    if len(time) == 0:
        return out
    owner = np.concatenate([np.full(len(c.time), i) for i, c in enumerate(per_home)])
    sequence = np.concatenate([np.arange(len(c.time)) for c in per_home])
    order = np.lexsort((sequence, owner, time))
    time, owner = time[order], owner[order]
    gap_after = np.concatenate([c.gap for c in per_home])[order]
    heads = np.concatenate([c.in_post for c in per_home])[order]
    kind = np.concatenate([c.kind for c in per_home])[order]
    n, n_homes = len(time), len(homes)
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
    agency_was = np.vstack([np.zeros((1, n_homes)), agency[:-1]])
    short_was = np.vstack([np.zeros((1, n_homes), dtype=bool), short[:-1]])
    units = np.array([h.unit for h in homes], dtype=np.int64)
    # Rows: each change's own row (none for a closing), then the agency changes it caused, in
    # home order; sorted by (change, position) so causes come before effects.
    own = kind > 0
    k_ag, h_ag = np.nonzero(np.abs(agency - agency_was) > 1e-12)
    rows = np.zeros(int(own.sum()) + len(k_ag), dtype=ROW_DTYPE)
    rows["time"] = np.concatenate([time[own], time[k_ag]])
    rows["kind"] = np.concatenate([kind[own], np.full(len(k_ag), int(EventKind.AGENCY))])
    rows["child"] = -1
    rows["unit"] = np.concatenate([units[owner[own]], units[h_ag]])
    rows["need"] = -1
    rows["value"] = np.concatenate([heads[own], agency[k_ag, h_ag]])
    rows["in_city"] = -1
    rows["route"] = -1
    rank = np.concatenate([np.flatnonzero(own) * (n_homes + 1), k_ag * (n_homes + 1) + 1 + h_ag])
    out.rows = rows[np.argsort(rank, kind="stable")]
    k_sh, h_sh = np.nonzero(short != short_was)
    out.closures = [
        BedClosure(float(time[k]), homes[h].unit, homes[h].close_beds if short[k, h] else 0)
        for k, h in zip(k_sh.tolist(), h_sh.tolist(), strict=True)
    ]
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
