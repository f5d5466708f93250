"""Staffing: when homes were short of staff, leavers, and the rate agency cover is paid at."""

from __future__ import annotations

from simulation.calendar import DAYS_PER_YEAR
from simulation.metrics.context import Context
from simulation.metrics.spells import _C, Intervals, _intervals_by_unit
from simulation.scenario import Scenario


def short_staffed(ctx: Context) -> Intervals:
    """Per unit, the intervals it could not cover its rota (STAFF_SHORT to STAFF_COVERED)."""
    return _intervals_by_unit(
        ctx.log, ctx.rows.of(_C.STAFF_SHORT, _C.STAFF_COVERED),
        _C.STAFF_SHORT, _C.STAFF_COVERED, ctx.horizon,
    )  # fmt: skip


def agency_rate(scenario: Scenario) -> float:
    """The daily premium of one FTE of agency or overtime cover over a post's own cost (at
    start-date prices; 0 without a staffing model)."""
    staffing = scenario.staffing
    if staffing is None:
        return 0.0
    return staffing.staff_cost_per_fte_year_gbp * staffing.agency_premium / DAYS_PER_YEAR


def staffing(ctx: Context, short: Intervals) -> dict[str, float]:
    """Summary figures: home-days short of staff (``short``: from :func:`short_staffed`) and
    staff leavers."""
    # The set (not the dict) fixes the order of this float sum.
    short_units = {int(x) for x in ctx.log.unit[ctx.rows[_C.STAFF_SHORT]].tolist()}
    days = [b - a for u in short_units for a, b in short.get(u, [])]
    return {
        "staff_short_home_days": float(sum(days)),
        "staff_leavers": ctx.rows.count(_C.STAFF_LEAVE),
    }
