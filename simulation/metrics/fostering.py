"""Fostering: foster placements by type (in-house, IFA, next-step carers), the in-house carer
pool, its recruitment cost, and the children in residential care for want of a foster
placement (with their bed-days and what those cost).

Foster placements come from FOSTER_PLACE / FOSTER_END rows (a child has at most one foster
placement: it leaves the model's concern with it); carers from CARERS_JOIN / CARER_LEAVE rows;
children in residential care for want of a foster placement from NO_FOSTER rows, until their
EXIT. Everything is zero in a run without fostering or costed next-step carers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.events import FOSTER_IN_HOUSE, FOSTER_TYPES, FOSTER_WEEKLY
from simulation.metrics.bins import weighted_bins
from simulation.metrics.context import Context, FamilyTables
from simulation.metrics.spells import _C
from simulation.metrics.steps import Array, step_integral

# The finance table's fostering columns (part of the total cost) and the summary's costs.
FINANCE_COLUMNS = (*(f"foster_{t}_gbp" for t in FOSTER_TYPES), "carer_recruitment_gbp")
# The summary figures and weekly series of the family, in the order they are computed.
SUMMARY = (
    "family_plans",
    *(f"foster_placements_{t}" for t in FOSTER_TYPES),
    "foster_step_downs",
    "want_of_foster_children",
    "want_of_foster_bed_days",
    "want_of_foster_cost_gbp",
    "foster_carers_end",
    "carers_recruited",
    *(f"cost_{column}" for column in FINANCE_COLUMNS),
)
WEEKLY = FOSTER_WEEKLY
_KINDS = (
    _C.FAMILY_PLAN,
    _C.FOSTER_PLACE,
    _C.FOSTER_END,
    _C.NO_FOSTER,
    _C.CARERS_JOIN,
    _C.CARER_LEAVE,
)


def _end_of(ctx: Context, child: NDArray[np.int32], end_rows: NDArray[np.intp]) -> Array:
    """For each of ``child``, the time of its row among ``end_rows`` (one a child at most),
    else the horizon."""
    log = ctx.log
    out = np.full(len(child), ctx.horizon)
    if len(end_rows) and len(child):
        end_child = log.child[end_rows]
        order = np.argsort(end_child, kind="stable")
        sorted_child = end_child[order]
        at = np.minimum(sorted_child.searchsorted(child), len(sorted_child) - 1)
        hit = sorted_child[at] == child
        out[hit] = log.time[end_rows[order[at[hit]]]]
    return np.minimum(out, ctx.horizon)


def fostering(ctx: Context, bed_rate: Array) -> FamilyTables:
    """Summary figures, weekly series and costs by financial year of fostering.
    ``bed_rate``: each unit's daily cost of a bed (what a child in a council or block bed
    costs), start-date prices."""
    log, rows, cal, g = ctx.log, ctx.rows, ctx.cal, ctx.g
    weeks, years, week_len = cal.weeks.edges, cal.years.edges, cal.week_len
    n_weeks, n_years = len(weeks) - 1, len(years) - 1
    if not any(rows.count(k) for k in _KINDS):
        return _nothing(n_weeks, n_years)
    summary: dict[str, float] = {"family_plans": rows.count(_C.FAMILY_PLAN)}
    weekly: dict[str, Array] = {}
    finance: dict[str, Array] = {}
    place = rows[_C.FOSTER_PLACE]
    start = log.time[place]
    end = _end_of(ctx, log.child[place], rows[_C.FOSTER_END])
    kind, weekly_gbp = log.route[place], log.value[place]
    foster_cost_weekly = np.zeros(n_weeks)
    busy_in_house = np.zeros(n_weeks)
    for code, name in enumerate(FOSTER_TYPES):
        m = kind == code
        summary[f"foster_placements_{name}"] = float(np.count_nonzero(m))
        count = step_integral(start[m], end[m], np.ones(int(m.sum())), weeks)
        weekly[f"children_foster_{name}"] = count / week_len
        if code == FOSTER_IN_HOUSE:
            busy_in_house = weekly[f"children_foster_{name}"]
        daily = weekly_gbp[m] / 7.0
        by_week = step_integral(start[m], end[m], daily, weeks, g)
        finance[f"foster_{name}_gbp"] = step_integral(start[m], end[m], daily, years, g)
        foster_cost_weekly += by_week
    summary["foster_step_downs"] = float(
        np.count_nonzero((kind == FOSTER_IN_HOUSE) & (log.in_city[place] == 1))
    )
    summary.update(_want_of_foster(ctx, bed_rate, weekly))
    # In-house carers registered (joins less leavers) and free (registered less busy).
    join, leave = rows[_C.CARERS_JOIN], rows[_C.CARER_LEAVE]
    on = np.concatenate([log.time[join], log.time[leave]])
    level = np.concatenate([log.value[join], -np.ones(len(leave))])
    registered = step_integral(on, np.full(len(on), ctx.horizon), level, weeks) / week_len
    weekly["foster_carers_registered"] = registered
    weekly["foster_carers_free"] = registered - busy_in_house
    summary["foster_carers_end"] = float(log.value[join].sum() - len(leave))
    recruited = join[log.route[join] == 1]
    recruit_time = log.time[recruited]
    pool = ctx.scenario.fostering
    unit_cost = pool.in_house.recruitment_cost_gbp if pool is not None else 0.0
    recruit_cost = log.value[recruited] * unit_cost * ctx.price_index(recruit_time)
    if len(recruited):
        by_year, by_week = weighted_bins(recruit_time, recruit_cost, [years, weeks])
    else:
        by_year, by_week = np.zeros(n_years), np.zeros(n_weeks)
    summary["carers_recruited"] = float(log.value[recruited].sum())
    finance["carer_recruitment_gbp"] = by_year
    foster_cost_weekly += by_week
    weekly["foster_cost_gbp"] = foster_cost_weekly
    for column in FINANCE_COLUMNS:
        summary[f"cost_{column}"] = float(finance[column].sum())
    return FamilyTables(weekly, finance, summary)


def _nothing(n_weeks: int, n_years: int) -> FamilyTables:
    """The tables of a run without fostering (what the general case gives, for less)."""
    zeros_w, zeros_y = np.zeros(n_weeks), np.zeros(n_years)
    summary = dict.fromkeys(SUMMARY, 0.0)
    weekly = {name: zeros_w.copy() for name in WEEKLY}
    finance = {name: zeros_y.copy() for name in FINANCE_COLUMNS}
    return FamilyTables(weekly, finance, summary)


def _want_of_foster(ctx: Context, bed_rate: Array, weekly: dict[str, Array]) -> dict[str, float]:
    """Children in residential care for want of a foster placement: how many, for how long
    (NO_FOSTER to EXIT, weekly), their residential bed-days and what those cost (cash)."""
    log, rows, cal = ctx.log, ctx.rows, ctx.cal
    no_foster = rows[_C.NO_FOSTER]
    # (A child a prevention service diverted home never entered residential care.)
    no_foster = no_foster[~np.isin(log.child[no_foster], log.child[rows[_C.PREVENT]])]
    child = log.child[no_foster]
    start = log.time[no_foster]
    end = _end_of(ctx, child, rows[_C.EXIT])
    weekly["children_want_of_foster"] = (
        step_integral(start, end, np.ones(len(start)), cal.weeks.edges) / cal.week_len
    )
    sp = ctx.placed
    is_want = np.zeros(int(max(sp.child.max(initial=-1), child.max(initial=-1))) + 1, dtype=bool)
    is_want[child] = True
    m = is_want[sp.child]
    in_beds = ctx.placed_in_beds[m]
    daily = np.where(in_beds, bed_rate[sp.unit[m]], sp.price[m] / 7.0)
    g_start, g_end = ctx.placed_g
    return {
        "want_of_foster_children": float(len(child)),
        "want_of_foster_bed_days": float((sp.end[m] - sp.start[m]).sum()),
        "want_of_foster_cost_gbp": float((daily * (g_end[m] - g_start[m])).sum()),
    }
