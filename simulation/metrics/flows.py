"""Flows: arrivals, exits by route, moves, breakdowns, repatriations, waiting and delayed
step-downs; and which placements are new (:class:`Placements`, which the market family counts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.events import ARRIVE_EMERGENCY, MOVE_REPATRIATION, ROUTE_LABELS
from simulation.metrics.context import Context
from simulation.metrics.kinds import PROVISION_KINDS
from simulation.metrics.spells import _C


@dataclass(slots=True)
class Placements:
    """Every PLACE row (log order), and whether it is new: all but the initial cohort's own
    placements on day 0 (arrivals on the start date are new placements too)."""

    rows: NDArray[np.intp]
    child: NDArray[np.int32]
    kind: NDArray[np.int8]  # the unit's kind code (-1: no unit)
    is_new: NDArray[np.bool_]
    n_initial: int  # children in the initial cohort
    n_child_ids: int  # child numbers run from 0 to this (exclusive)


def placements(ctx: Context) -> Placements:
    log, rows = ctx.log, ctx.rows
    place_rows = rows[_C.PLACE]
    arrive_rows = rows[_C.ARRIVE]
    # The cohort's ARRIVE rows are logged with the unit it starts in.
    initial_rows = arrive_rows[log.unit[arrive_rows] >= 0]
    cohort = log.child[initial_rows]
    place_child = log.child[place_rows]
    n_child_ids = int(max(place_child.max(initial=-1), cohort.max(initial=-1))) + 1
    is_cohort = np.zeros(n_child_ids, dtype=bool)
    is_cohort[cohort] = True
    is_new = (log.time[place_rows] > 0) | ~is_cohort[place_child]
    # A unit's kind by its code; code -1 (no unit) reads the sentinel at the end.
    kind = np.append(ctx.kind_of, -1)[log.unit[place_rows]]
    return Placements(place_rows, place_child, kind, is_new, len(initial_rows), n_child_ids)


def flows(ctx: Context, placed: Placements) -> dict[str, float]:
    """Summary figures of the flows."""
    log, rows = ctx.log, ctx.rows
    n_arrive = rows.count(_C.ARRIVE)
    n_initial = float(placed.n_initial)
    summary: dict[str, float] = {
        "children_initial": n_initial,
        "arrivals": n_arrive - n_initial,
        "exits": rows.count(_C.EXIT),
    }
    summary["children_end"] = n_arrive - summary["exits"]
    exit_route = log.route[rows[_C.EXIT]]
    route_counts = np.bincount(exit_route[exit_route >= 0], minlength=max(ROUTE_LABELS) + 1)
    for code, label in ROUTE_LABELS.items():
        summary[f"exits_{label}"] = float(route_counts[code])
    # Stability: every placement after a child's first is a move (closures, breakdowns,
    # repatriation, an unregistered placement replaced by a registered one).
    was_placed = np.zeros(placed.n_child_ids, dtype=bool)
    was_placed[placed.child] = True
    n_placed_children = int(np.count_nonzero(was_placed))
    summary["moves"] = float(len(placed.rows) - n_placed_children)
    summary["moves_per_child"] = summary["moves"] / n_placed_children if n_placed_children else 0.0
    summary["displacements"] = rows.count(_C.DISPLACE)
    summary["breakdowns"] = rows.count(_C.BREAKDOWN)
    move_route = log.route[rows[_C.MOVE]]
    summary["repatriations"] = float(np.count_nonzero(move_route == MOVE_REPATRIATION))
    summary["prevented"] = rows.count(_C.PREVENT)
    summary.update(_emergencies(ctx, placed))
    r_on, r_off = ctx.ready
    summary["delayed_step_downs"] = float(len(r_on))
    summary["delayed_step_down_days"] = float((r_off - r_on).sum())
    w_on, w_off = ctx.waiting
    wait_len = w_off - w_on
    wait_total = wait_len.sum()
    summary["waiting_days_total"] = float(wait_total)
    # np.mean is this sum over the count.
    summary["waiting_days_mean"] = float(wait_total / len(wait_len)) if len(wait_len) else 0.0
    return summary


def _emergencies(ctx: Context, placed: Placements) -> dict[str, float]:
    """Emergency arrivals, and the kind of placement each first went to."""
    log, rows = ctx.log, ctx.rows
    arrive_rows = rows[_C.ARRIVE]
    urgent = log.child[arrive_rows[log.route[arrive_rows] == ARRIVE_EMERGENCY]]
    # (An emergency may never be placed: still searching at the end, or gone before.)
    is_urgent = np.zeros(max(placed.n_child_ids, int(urgent.max(initial=-1)) + 1), dtype=bool)
    is_urgent[urgent] = True
    # Each child's first placement: PLACE rows are in time order.
    _, first = np.unique(placed.child, return_index=True)
    first = first[is_urgent[placed.child[first]]]
    kinds = np.bincount(placed.kind[first], minlength=len(PROVISION_KINDS))
    out = {"emergencies": float(len(urgent))}
    for code, kind in enumerate(PROVISION_KINDS):
        out[f"emergencies_to_{kind}"] = float(kinds[code])
    return out
