"""What :func:`~simulation.metrics.compute_metrics` returns: :class:`ReplicationMetrics`, and the
names and order of its summary (:data:`SUMMARY_COLUMNS`) and headline figures."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeAlias, cast

import pandas as pd
from numpy.typing import NDArray

from simulation.events import FOSTER_TYPES, ROUTE_LABELS
from simulation.metrics.fostering import FINANCE_COLUMNS as FOSTER_FINANCE
from simulation.metrics.kinds import BED_KINDS, PROVISION_KINDS
from simulation.metrics.voids import VOID_CAUSES

# A table as plain columns (numpy arrays, or lists where pandas should infer the dtype).
Columns: TypeAlias = dict[str, NDArray[Any] | list[Any]]

# Headline metrics printed by the CLI (name, label, format).
HEADLINE = (
    ("internal_occupancy_pct", "Internal occupancy (%)", "{:.1f}"),
    ("block_occupancy_pct", "Block occupancy (%)", "{:.1f}"),
    ("void_bed_days", "Void bed-days (internal + block)", "{:,.0f}"),
    ("void_cost_gbp", "Void cost (£)", "{:,.0f}"),
    ("spot_placements", "New spot placements", "{:,.0f}"),
    ("spot_placements_per_year", "New spot placements per year", "{:.1f}"),
    ("spot_bed_days", "Spot bed-days", "{:,.0f}"),
    ("spot_stock_mean", "Children in spot (mean)", "{:.1f}"),
    ("out_of_city_share", "Share of placed child-days out of city", "{:.3f}"),
    ("waiting_days_mean", "Days waiting per placement sought", "{:.1f}"),
    ("cost_total_gbp", "Total cost (£)", "{:,.0f}"),
    ("cost_per_year_gbp", "Cost per year (£)", "{:,.0f}"),
)

# The summary's figures, in the order of its table. Each family of metrics fills in its own.
SUMMARY_COLUMNS = (
    # flows
    "children_initial",
    "arrivals",
    "exits",
    "children_end",
    *(f"exits_{label}" for label in ROUTE_LABELS.values()),
    "moves",
    "moves_per_child",
    "displacements",
    "breakdowns",
    "repatriations",
    "prevented",
    "emergencies",
    *(f"emergencies_to_{kind}" for kind in PROVISION_KINDS),
    "delayed_step_downs",
    "delayed_step_down_days",
    # fostering
    "family_plans",
    *(f"foster_placements_{t}" for t in FOSTER_TYPES),
    "foster_step_downs",
    "want_of_foster_children",
    "want_of_foster_bed_days",
    "want_of_foster_cost_gbp",
    "carers_recruited",
    "foster_carers_end",
    # occupancy
    *(f"{kind}_bed_days" for kind in PROVISION_KINDS),
    *(
        f"{kind}_{figure}"
        for kind in BED_KINDS
        for figure in ("usable_bed_days", "void_bed_days", "occupancy_pct")
    ),
    "void_bed_days",
    "void_cost_gbp",  # costs
    "staff_short_home_days",  # staffing
    "staff_leavers",
    *(f"void_{cause}_bed_days" for cause in VOID_CAUSES),  # occupancy
    # market
    "spot_placements",
    "spot_placements_per_year",
    "framework_placements",
    "spot_stock_mean",
    "spot_stock_peak_week",
    # occupancy
    "out_of_city_share",
    "children_placed_mean",
    "children_waiting_mean",
    # market
    "unregistered_placements",
    "spot_price_p95_weekly_gbp",
    "cost_top5pct_placements_gbp",
    "cost_top5pct_share",
    # flows
    "waiting_days_total",
    "waiting_days_mean",
    # costs
    *(f"cost_{part}_gbp" for part in PROVISION_KINDS),
    "cost_retainer_gbp",
    "cost_capital_gbp",
    "cost_agency_gbp",
    *(f"cost_{column}" for column in FOSTER_FINANCE),
    "cost_total_gbp",
    "cost_per_year_gbp",
    # control (variance reduction: simulation.metrics.control)
    "cost_total_at_mean_prices_gbp",
    "control_arrivals",
    "control_stay_days",
    "control_stay_spot_gbp",
)


def in_summary_order(*parts: dict[str, float]) -> dict[str, float]:
    """The families' summary figures as one dict in :data:`SUMMARY_COLUMNS` order (each
    figure given by exactly one family)."""
    summary: dict[str, float | None] = dict.fromkeys(SUMMARY_COLUMNS)
    n = 0
    for part in parts:
        summary.update(part)  # (existing keys keep their place)
        n += len(part)
    # Nothing outside SUMMARY_COLUMNS, nothing missing, so (as many given) nothing twice.
    if len(summary) != len(SUMMARY_COLUMNS) or n != len(summary) or None in summary.values():
        given = [k for part in parts for k in part]
        raise ValueError(
            "the families' summary figures are not SUMMARY_COLUMNS, each once: "
            f"{sorted(set(given) ^ set(SUMMARY_COLUMNS))} ({n} given)"
        )
    return cast(dict[str, float], summary)


@dataclass(frozen=True)
class ReplicationMetrics:
    """Tidy results of one replication.

    The tables are held as columns (what :func:`simulation.runner.run_batch` stacks, once per
    batch); ``weekly``, ``units`` and ``finance`` build a DataFrame on first use, since building
    three frames costs more than computing the metrics.
    """

    summary: dict[str, float]
    weekly_columns: Columns
    units_columns: Columns
    finance_columns: Columns

    # cached_property writes the instance __dict__ directly, so it works on a frozen dataclass
    # (this one has no __slots__).
    @cached_property
    def weekly(self) -> pd.DataFrame:
        """One row per week."""
        return pd.DataFrame(self.weekly_columns)

    @cached_property
    def units(self) -> pd.DataFrame:
        """One row per unit."""
        return pd.DataFrame(self.units_columns)

    @cached_property
    def finance(self) -> pd.DataFrame:
        """One row per financial year."""
        return pd.DataFrame(self.finance_columns)
