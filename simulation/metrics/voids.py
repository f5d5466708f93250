"""Why beds stood empty: each bed unit's void bed-days split by cause (:func:`void_causes`)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.events import HOLD_REPAIR, HOLD_TRANSITION, FrozenLog
from simulation.metrics.kinds import has_beds
from simulation.metrics.spells import _C, Intervals, Spells, _intervals_by_unit, _RowsByKind
from simulation.metrics.steps import Array
from simulation.units import UnitInfo

VOID_CAUSES = ("turnaround", "repair", "move_in", "staffing", "phased_fill", "other")


def void_causes(
    log: FrozenLog,
    units: list[UnitInfo],
    horizon: float,
    sp: Spells,
    usable: Array,
    staff: Intervals | None = None,
    rows: _RowsByKind | None = None,
    bed_units: list[UnitInfo] | None = None,
) -> dict[int, dict[str, float]]:
    """Split each bed unit's void bed-days by cause.

    ``turnaround``, ``repair``, ``move_in``: beds held empty (BED_HOLD until released or
    closed) by the lump turnaround, for repair after a child left, or kept for a matched
    child's planned move-in;
    ``staffing``: other free beds while the home cannot cover its rota (STAFF_SHORT to
    STAFF_COVERED); ``phased_fill``: other free beds while a new home's monthly admission cap
    binds (FILL_CAPPED to FILL_RESUMED); ``other``: the rest (no child needing the bed, or none
    matching).

    ``staff`` (intervals short of staff, by unit), ``rows`` and ``bed_units`` (the units with
    beds) can be passed when already known.
    """
    if rows is None:
        rows = _RowsByKind(log)
    if staff is None:
        staff = _intervals_by_unit(
            log, rows.of(_C.STAFF_SHORT, _C.STAFF_COVERED),
            _C.STAFF_SHORT, _C.STAFF_COVERED, horizon,
        )  # fmt: skip
    fills = _intervals_by_unit(
        log, rows.of(_C.FILL_CAPPED, _C.FILL_RESUMED),
        _C.FILL_CAPPED, _C.FILL_RESUMED, horizon,
    )  # fmt: skip
    close_rows = rows[_C.UNIT_CLOSE]
    closes: dict[int, Array] = {
        u: np.sort(log.time[close_rows][log.unit[close_rows] == u])
        for u in set(log.unit[close_rows].tolist())
    }
    holds = _holds(log, rows, closes, horizon)
    if bed_units is None:
        bed_units = [info for info in units if has_beds(info)]
    if not bed_units:
        return {}
    queries = _Queries.of(bed_units, staff, fills, closes)
    occupied, held, free = _free_bed_days(queries, bed_units, sp, holds, len(units))
    # Held bed-days by reason (the lump turnaround is what remains of the held total).
    length = holds.end - holds.start
    by_cause = {
        cause: np.bincount(
            holds.unit[holds.cause == cause], length[holds.cause == cause], len(units)
        )
        for cause in (HOLD_REPAIR, HOLD_TRANSITION)
    }
    out: dict[int, dict[str, float]] = {}
    for info in bed_units:
        u = info.index
        q0, q_mid, q1 = queries.first[u]
        staffing = sum(free[q0 + 1 : q_mid])
        phased = 0.0
        for x in free[q_mid:q1]:
            phased += x
        held_total = float(held[q0])
        repair, move_in = float(by_cause[HOLD_REPAIR][u]), float(by_cause[HOLD_TRANSITION][u])
        turnaround = max(held_total - repair - move_in, 0.0)
        total = float(usable[u] - occupied[q0])
        out[u] = {
            "turnaround": turnaround,
            "repair": repair,
            "move_in": move_in,
            "staffing": staffing,
            "phased_fill": phased,
            "other": max(total - held_total - staffing - phased, 0.0),
        }
    return out


@dataclass(slots=True)
class _Holds:
    """Beds held empty after a child left: from each BED_HOLD for its days, ended early by the
    unit's next closure (or the horizon)."""

    unit: NDArray[np.int16]
    start: Array
    end: Array
    cause: NDArray[np.int8]  # events.HOLD_*


def _holds(log: FrozenLog, rows: _RowsByKind, closes: dict[int, Array], horizon: float) -> _Holds:
    hold_rows = rows[_C.BED_HOLD]
    hold_unit, t0 = log.unit[hold_rows], log.time[hold_rows]
    held_end = np.minimum(t0 + log.value[hold_rows], horizon)
    for u, close_times in closes.items():
        # A unit's closure ends its holds: the next close after each hold, or the horizon.
        m = hold_unit == u
        next_close = np.append(close_times, horizon)[
            np.searchsorted(close_times, t0[m], side="right")
        ]
        held_end[m] = np.minimum(t0[m] + log.value[hold_rows[m]], next_close)
    return _Holds(hold_unit, t0, held_end, log.route[hold_rows])


@dataclass(slots=True)
class _Queries:
    """Per bed unit, the intervals to overlap with its spells and holds: first an unbounded one
    (the overlaps are the spells' and holds' own lengths), then its staffing shortfalls, then
    its capped-fill pieces (a capped fill while also short of staff counts once, as staffing);
    none reaching past the unit's next closure."""

    start: Array
    end: Array
    unit: NDArray[np.intp]
    beds: list[int]
    first: dict[int, tuple[int, int, int]]  # per unit: its first, its first fill piece, its end
    whole: NDArray[np.bool_]  # the unbounded ones

    @classmethod
    def of(
        cls,
        bed_units: list[UnitInfo],
        staff: Intervals,
        fills: Intervals,
        closes: dict[int, Array],
    ) -> _Queries:
        intervals: list[tuple[float, float]] = []
        q_unit: list[int] = []
        q_beds: list[int] = []
        q_first: dict[int, tuple[int, int, int]] = {}
        for info in bed_units:
            u = info.index
            unit_staff = staff.get(u, [])
            pieces: list[tuple[float, float]] = []
            for a, b in fills.get(u, []):
                # Only shortfalls overlapping a fill can cut it or cover a piece of it.
                near = (
                    [
                        (sa, sb)
                        for sa, sb in unit_staff
                        if (sa < b and sb > a) or a < sa < b or a < sb < b
                    ]
                    if a < b
                    else unit_staff
                )
                if not near and a < b:  # nothing to cut out
                    pieces.append((a, b))
                    continue
                cuts = sorted({a, b, *(x for iv in near for x in iv if a < x < b)})
                for lo, hi in itertools.pairwise(cuts):
                    if not any(sa <= lo and hi <= sb for sa, sb in near):
                        pieces.append((lo, hi))
            q0 = len(intervals)
            intervals.append((-math.inf, math.inf))
            intervals += unit_staff
            intervals += pieces
            q_first[u] = (q0, q0 + 1 + len(unit_staff), len(intervals))
            q_unit += [u] * (len(intervals) - q0)
            q_beds += [info.beds] * (len(intervals) - q0)
        bounds = np.array(intervals)
        a_, b_ = bounds[:, 0], bounds[:, 1]
        qu = np.array(q_unit, dtype=np.intp)
        whole = np.isinf(a_)
        for u, close_times in closes.items():
            # Nothing is free past the unit's next closure.
            m = (qu == u) & ~whole
            nxt = np.append(close_times, np.inf)[close_times.searchsorted(a_[m], side="right")]
            b_[m] = np.minimum(b_[m], nxt)
        return cls(a_, b_, qu, q_beds, q_first, whole)


def _free_bed_days(
    q: _Queries, bed_units: list[UnitInfo], sp: Spells, holds: _Holds, n_units: int
) -> tuple[Array, Array, list[float]]:
    """Per query interval: bed-days occupied, bed-days held, and free bed-days (the beds' days
    less both; 0 for the unbounded ones)."""
    # Each unit's spells (in spell order) then its holds (in log order), back to back; each
    # interval is overlapped with the whole run of its unit's (and, harmlessly, the next
    # units'), then summed over its unit's own columns only, as np.sum of a row: the same
    # sums, to the bit, as np.sum over one unit and interval at a time.
    a_, b_, whole = q.start, q.end, q.whole
    n_occ = np.bincount(sp.unit, minlength=n_units)
    n_held = np.bincount(holds.unit, minlength=n_units)
    order = np.concatenate((sp.unit, holds.unit)).argsort(kind="stable")
    starts = np.concatenate((sp.start, holds.start))[order]
    ends = np.concatenate((sp.end, holds.end))[order]
    if not len(starts):  # (keep the gathers below in bounds)
        starts = ends = np.zeros(1)
    n_both = n_occ + n_held
    width = max(1, int(n_both[[info.index for info in bed_units]].max()))
    col = (n_both.cumsum() - n_both)[q.unit][:, None] + np.arange(width)
    np.minimum(col, len(starts) - 1, out=col)
    overlap = np.minimum(ends[col], b_[:, None]) - np.maximum(starts[col], a_[:, None])
    np.maximum(overlap, 0.0, out=overlap, where=~whole[:, None])
    occupied = np.empty(len(a_))
    held = np.empty(len(a_))
    for info in bed_units:
        u = info.index
        q0, _, q1 = q.first[u]
        n = int(n_occ[u])
        overlap[q0:q1, :n].sum(axis=1, out=occupied[q0:q1])
        overlap[q0:q1, n : n + n_held[u]].sum(axis=1, out=held[q0:q1])
    span = np.where(whole, 0.0, b_ - a_)
    left = np.array(q.beds) * span - occupied - held
    free: list[float] = np.where(b_ > a_, np.maximum(left, 0.0), 0.0).tolist()
    return occupied, held, free
