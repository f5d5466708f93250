"""Everything users see, derived from one replication's event log.

The log is turned into spells (a child in a unit from a PLACE to the next PLACE, DISPLACE or EXIT;
a child waiting from ARRIVE or DISPLACE to the next PLACE or EXIT; a unit usable from UNIT_OPEN to
UNIT_CLOSE). Step functions of those spells, integrated over weeks or financial years, give every
series and total, with costs indexed by inflation from the start date.

The package, from the bottom up:

- :mod:`.steps`: step functions integrated over bins, many at once (:class:`.steps.StepTable`);
- :mod:`.spells`: the log as spells; :mod:`.bins`: weeks, financial years, the price index;
- :mod:`.kinds`: the kinds of unit; :mod:`.context`: what every family reads, built once;
- the families, each a function of the context (and of what other families pass it):
  :mod:`.occupancy` (with :mod:`.voids`), :mod:`.flows`, :mod:`.market`, :mod:`.costs`,
  :mod:`.staffing`, :mod:`.fostering`; :mod:`.control` (what variance reduction needs);
- :mod:`.results`: :class:`ReplicationMetrics` and the order of the summary.

This runs once per replication, so it is written for speed: the step functions of every family
are integrated together in one pass, rows of the log are found by kind from one sort, and the
tables are kept as plain columns that :func:`simulation.runner.run_batch` stacks once per batch.
Every number is computed with the same floating-point operations, in the same order, as the
straightforward per-series version (:func:`step_integral`), so results are bit-for-bit the same.
"""

from __future__ import annotations

from simulation.metrics import control, costs, flows, fostering, market, occupancy, staffing
from simulation.metrics.bins import inflation_integral
from simulation.metrics.context import build_context
from simulation.metrics.kinds import MARKETS, PROVISION_KINDS
from simulation.metrics.results import (
    HEADLINE,
    SUMMARY_COLUMNS,
    Columns,
    ReplicationMetrics,
    in_summary_order,
)
from simulation.metrics.spells import (
    PLACEMENT_BOUNDARIES,
    Spells,
    first_opening,
    placement_spells,
    ready_spells,
    usable_spells,
    waiting_spells,
)
from simulation.metrics.steps import StepTable, step_integral
from simulation.metrics.voids import VOID_CAUSES, void_causes
from simulation.model import Replication
from simulation.scenario import Scenario
from simulation.units import UnitInfo


def compute_metrics(scenario: Scenario, rep: Replication) -> ReplicationMetrics:
    """Summary, weekly series, per-unit and per-financial-year results of one replication."""
    ctx = build_context(scenario, rep)
    # Every family's step functions, integrated together in one pass.
    steps = StepTable()
    stock_rows = occupancy.add_stock_steps(ctx, steps)
    cost_rows = costs.add_cost_steps(ctx, steps, staffing.agency_rate(scenario))
    integrals = steps.integrate(ctx.g, ctx.cal)

    # Each family, given what the others found that it needs.
    short = staffing.short_staffed(ctx)
    occ = occupancy.occupancy(
        ctx, integrals, stock_rows, short, costs.void_cost_by_unit(ctx, cost_rows)
    )
    placements = flows.placements(ctx)
    mkt = market.market(ctx, placements, occ.summary["spot_bed_days"], occ.weekly["children_spot"])
    foster = fostering.fostering(ctx, cost_rows.bed_rate)
    cost = costs.costs(ctx, integrals, cost_rows, market.retainers(ctx), foster)

    # The tables, in the order their columns are published.
    summary = in_summary_order(
        flows.flows(ctx, placements),
        occ.summary,
        staffing.staffing(ctx, short),
        mkt.summary,
        cost.summary,
        foster.summary,
        control.control_summary(ctx, rep.children, cost.summary["cost_total_gbp"]),
    )
    cal = ctx.cal
    weekly: Columns = {
        "week": cal.week,
        "week_start": cal.week_start,
        **occ.weekly,
        **mkt.weekly,
        **cost.weekly,
        **foster.weekly,
    }
    finance: Columns = {"financial_year": list(cal.year_labels), **cost.finance, **mkt.finance}
    return ReplicationMetrics(summary, weekly, occ.units, finance)


__all__ = [
    "HEADLINE",
    "MARKETS",
    "PLACEMENT_BOUNDARIES",
    "PROVISION_KINDS",
    "SUMMARY_COLUMNS",
    "VOID_CAUSES",
    "Columns",
    "ReplicationMetrics",
    "Spells",
    "UnitInfo",
    "compute_metrics",
    "first_opening",
    "inflation_integral",
    "placement_spells",
    "ready_spells",
    "step_integral",
    "usable_spells",
    "void_causes",
    "waiting_spells",
]
