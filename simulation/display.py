"""How numbers, dates and names are shown to people: the one home of the command line's, the
app's and the report's formatting.

- money: totals in £ million to one decimal (``£315.0m``), smaller sums to the pound;
- differences carry a sign (``+£1.2m``, ``-3.4 pts``) and never read ``-0``;
- percentages as percentages: occupancy (already 0-100) and shares (0-1) both print ``35.3%``;
- dates the UK way: ``1 Apr 2023``;
- metrics by display name, with their unit and which way is better (:data:`METRICS`), so a
  probability can read "P(better)" whatever the metric;
- needs by their config ``label`` (:meth:`Scenario.need_label`);
- every total beside its run period and price basis (:func:`run_period`, :func:`price_basis`).

Nothing here computes a result: these functions only turn numbers into text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from simulation.scenario import Scenario

Unit = Literal["gbp", "pct", "share", "count", "days", "rate"]
Better = Literal["higher", "lower"]
DASH = "–"  # a missing value


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown: its display name, its unit and which way is better (None: neither,
    as for flows of children)."""

    label: str
    unit: Unit
    better: Better | None = None
    decimals: int = 0  # for counts, days and rates

    @property
    def unit_text(self) -> str:
        """The unit as a column header or axis says it."""
        return {
            "gbp": "£",
            "pct": "%",
            "share": "%",
            "count": "number",
            "days": "days",
            "rate": "per year",
        }[self.unit]


METRICS: dict[str, MetricInfo] = {
    "internal_occupancy_pct": MetricInfo("Council homes' occupancy", "pct", "higher"),
    "block_occupancy_pct": MetricInfo("Block contracts' occupancy", "pct", "higher"),
    "void_bed_days": MetricInfo("Void bed-days (council + block)", "days", "lower"),
    "internal_void_bed_days": MetricInfo("Council homes' void bed-days", "days", "lower"),
    "block_void_bed_days": MetricInfo("Block contracts' void bed-days", "days", "lower"),
    "internal_usable_bed_days": MetricInfo("Usable council-home bed-days", "days", "higher"),
    "void_cost_gbp": MetricInfo("Void cost", "gbp", "lower"),
    "spot_placements": MetricInfo("New spot placements", "count", "lower"),
    "spot_placements_per_year": MetricInfo("New spot placements a year", "rate", "lower", 1),
    "spot_bed_days": MetricInfo("Child-days in spot", "days", "lower"),
    "spot_stock_mean": MetricInfo("Children in spot (mean)", "count", "lower", 1),
    "spot_stock_peak_week": MetricInfo("Children in spot (peak week)", "count", "lower", 1),
    "framework_placements": MetricInfo("New framework placements", "count", None),
    "out_of_city_share": MetricInfo("Child-days out of city", "share", "lower"),
    "waiting_days_mean": MetricInfo("Days waiting per placement sought", "days", "lower", 1),
    "waiting_days_total": MetricInfo("Days waiting (all children)", "days", "lower"),
    "unregistered_placements": MetricInfo("Unregistered placements", "count", "lower"),
    "moves": MetricInfo("Moves", "count", "lower"),
    "moves_per_child": MetricInfo("Moves per child placed", "count", "lower", 2),
    "displacements": MetricInfo("Moves forced by closures", "count", "lower"),
    "breakdowns": MetricInfo("Placement breakdowns", "count", "lower"),
    "repatriations": MetricInfo("Moves back into the city", "count", None),
    "emergencies": MetricInfo("Emergency arrivals", "count", None),
    "delayed_step_downs": MetricInfo("Delayed step-downs to foster care", "count", "lower"),
    "staff_short_home_days": MetricInfo("Home-days closed for want of staff", "days", "lower"),
    "family_plans": MetricInfo("Family-care plans", "count", None),
    "foster_placements_in_house": MetricInfo("Foster placements, in-house", "count", None),
    "foster_placements_ifa": MetricInfo("Foster placements, IFA", "count", None),
    "foster_placements_next_step": MetricInfo("Foster placements, Next Step", "count", None),
    "want_of_foster_children": MetricInfo("In residential for want of foster", "count", "lower"),
    "want_of_foster_bed_days": MetricInfo("Residential days, want of foster", "days", "lower"),
    "want_of_foster_cost_gbp": MetricInfo("Residential cost, want of foster", "gbp", "lower"),
    "foster_carers_end": MetricInfo("In-house carers at the end", "count", "higher"),
    "cost_internal_gbp": MetricInfo("Council homes' running cost", "gbp", "lower"),
    "cost_block_gbp": MetricInfo("Block contracts' cost", "gbp", "lower"),
    "cost_framework_gbp": MetricInfo("Framework cost", "gbp", "lower"),
    "cost_spot_gbp": MetricInfo("Spot cost", "gbp", "lower"),
    "cost_unregistered_gbp": MetricInfo("Unregistered placements' cost", "gbp", "lower"),
    "cost_capital_gbp": MetricInfo("Capital repayments", "gbp", "lower"),
    "cost_agency_gbp": MetricInfo("Agency staff premium", "gbp", "lower"),
    "cost_foster_in_house_gbp": MetricInfo("In-house foster cost", "gbp", "lower"),
    "cost_foster_ifa_gbp": MetricInfo("IFA foster cost", "gbp", "lower"),
    "cost_foster_next_step_gbp": MetricInfo("Next Step carers' cost", "gbp", "lower"),
    "cost_carer_recruitment_gbp": MetricInfo("Carer recruitment cost", "gbp", "lower"),
    "cost_total_gbp": MetricInfo("Total cost", "gbp", "lower"),
    "cost_per_year_gbp": MetricInfo("Cost per year", "gbp", "lower"),
    "spot_price_p95_weekly_gbp": MetricInfo("Weekly spot price, P95", "gbp", "lower"),
    "cost_top5pct_share": MetricInfo("Top 5% of placements' share of spend", "share", None),
    "children_placed_mean": MetricInfo("Children placed (mean)", "count", None, 1),
    "children_waiting_mean": MetricInfo("Children waiting for a bed (mean)", "count", "lower", 1),
    # Weekly series a council publishes (observed points).
    "children_placed": MetricInfo("Children placed", "count", None, 1),
    "children_in_city": MetricInfo("Children in the city", "count", None, 1),
    "children_out_of_city": MetricInfo("Children out of city", "count", None, 1),
    "in_city_share": MetricInfo("Share in the city", "share", None),
}
"""Display name, unit and better direction of the metrics people compare; others are named
from their column (:func:`metric_info`)."""

HEADLINE_METRICS = (
    "internal_occupancy_pct",
    "block_occupancy_pct",
    "void_bed_days",
    "void_cost_gbp",
    "spot_placements",
    "spot_placements_per_year",
    "spot_bed_days",
    "spot_stock_mean",
    "out_of_city_share",
    "waiting_days_mean",
    "cost_total_gbp",
    "cost_per_year_gbp",
)
"""The metrics every face shows first, in this order."""


def metric_info(metric: str) -> MetricInfo:
    """How ``metric`` is shown: from :data:`METRICS`, else from its name's unit suffix."""
    if metric in METRICS:
        return METRICS[metric]
    label = metric.replace("_", " ").strip().capitalize()
    for suffix, unit in (("_gbp", "gbp"), ("_pct", "pct"), ("_share", "share")):
        if metric.endswith(suffix):
            return MetricInfo(label[: -len(suffix)].strip(), unit)  # type: ignore[arg-type]
    if metric.endswith("_days"):
        return MetricInfo(label, "days")
    return MetricInfo(label, "count", None, 1)


def metric_label(metric: str, with_unit: bool = False) -> str:
    """The display name of a metric, with its unit in brackets if asked (``Total cost (£)``)."""
    info = metric_info(metric)
    if not with_unit or info.unit == "count":
        return info.label
    return f"{info.label} ({info.unit_text})"


# -- numbers ------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def number(value: Any, decimals: int = 0, signed: bool = False) -> str:
    """``1,234`` / ``12.3``; with ``signed`` a ``+`` on positives; never ``-0`` (a value that
    rounds to zero prints as ``0``)."""
    if _missing(value):
        return DASH
    x = round(float(value), decimals)
    if x == 0:
        return f"{0:.{decimals}f}"
    text = f"{abs(x):,.{decimals}f}"
    if x < 0:
        return "-" + text
    return ("+" if signed else "") + text


def money(value: Any, signed: bool = False, like: Any = None) -> str:
    """Pounds: ``£315.0m`` from £1m up (one decimal), else ``£8,120``; ``+£1.2m`` if signed.

    ``like``: a value whose scale to use (a CI's half-width in £m beside a mean in £m).
    """
    if _missing(value):
        return DASH
    x = float(value)
    scale = abs(x) if _missing(like) else max(abs(x), abs(float(like)))
    if scale >= 999_950:  # (what rounds to £1.0m)
        body = number(x / 1e6, 1, signed)
        unit = "m"
    else:
        body = number(x, 0, signed)
        unit = ""
    if body.startswith(("+", "-")):
        return f"{body[0]}£{body[1:]}{unit}"
    return f"£{body}{unit}"


def percent(value: Any, decimals: int = 1, signed: bool = False) -> str:
    """A percentage already on 0-100: ``83.2%``."""
    text = number(value, decimals, signed)
    return text if text == DASH else f"{text}%"


def share(value: Any, decimals: int = 1, signed: bool = False) -> str:
    """A share on 0-1 as a percentage: 0.353 -> ``35.3%``."""
    return DASH if _missing(value) else percent(100.0 * float(value), decimals, signed)


def probability(value: Any) -> str:
    """A probability as a whole percentage: ``87%`` (``<1%`` and ``>99%`` at the ends)."""
    if _missing(value):
        return DASH
    p = float(value)
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 < p < 1:
        return ">99%"
    return f"{100 * p:.0f}%"


def value(metric: str, x: Any, like: Any = None) -> str:
    """A value of ``metric`` in its own unit (``like``: a value whose scale to use, for money)."""
    info = metric_info(metric)
    if info.unit == "gbp":
        return money(x, like=like)
    if info.unit == "pct":
        return percent(x)
    if info.unit == "share":
        return share(x)
    return number(x, info.decimals)


def difference(metric: str, x: Any, like: Any = None) -> str:
    """A difference of ``metric``, signed: ``+£1.2m``, ``-3.4 pts`` (of a percentage), ``+12``
    (``like``: a value whose scale to use, for money)."""
    info = metric_info(metric)
    if info.unit == "gbp":
        return money(x, signed=True, like=like)
    if info.unit in ("pct", "share"):
        scaled = x if info.unit == "pct" or _missing(x) else 100.0 * float(x)
        text = number(scaled, 1, signed=True)
        return text if text == DASH else f"{text} pts"
    scale = abs(float(like)) if not _missing(like) else 0.0 if _missing(x) else abs(float(x))
    decimals = info.decimals if info.decimals or scale >= 100 else 1
    return number(x, decimals, signed=True)


def plus_minus(metric: str, half: Any, like: Any = None) -> str:
    """The half-width of a difference's interval, as precise as :func:`difference` prints the
    difference: ``±£0.8m``, ``±1.2`` (points, beside a difference in points), ``±3.4``."""
    text = difference(metric, half, like)
    if text == DASH:
        return DASH
    return "±" + text.lstrip("+-").removesuffix(" pts")


def observed_check(
    rec: Mapping[Any, Any], between: str = " to ", no: str = "no"
) -> tuple[str, str, str, str, str, str]:
    """A published point against the simulation (a row of
    :data:`simulation.observed.CHECK_COLUMNS`), formatted: its date, the figure, the published
    value, the simulated mean, P5 ``between`` P95, and whether it falls inside (``no`` where it
    does not; – where that is unknown)."""
    m = str(rec["metric"])
    inside = rec["inside"]
    return (
        uk_date(rec["date"]),
        metric_label(m),
        value(m, rec["value"]),
        value(m, rec["mean"]),
        f"{value(m, rec['p5'])}{between}{value(m, rec['p95'])}",
        DASH if _missing_date(inside) else ("yes" if inside else no),  # None, NaN or NA
    )


def interval(low: str, high: str) -> str:
    """Two formatted ends of an interval."""
    return f"{low} to {high}"


def p_better(metric: str, p_lower: float, p_higher: float) -> float:
    """The chance the edited plan is better on ``metric``: lower or higher as the metric says
    (NaN when neither direction is better)."""
    better = metric_info(metric).better
    if better == "lower":
        return p_lower
    if better == "higher":
        return p_higher
    return math.nan


# -- dates, periods, names ------------------------------------------------------------------------


def uk_date(when: dt.date | str | Any) -> str:
    """``1 Apr 2023`` (no leading zero)."""
    if _missing_date(when):
        return DASH
    if isinstance(when, str):
        when = dt.date.fromisoformat(when[:10])
    elif hasattr(when, "date") and callable(when.date):  # datetime, pandas Timestamp
        when = when.date()
    return f"{when.day} {when:%b %Y}"


def _missing_date(when: Any) -> bool:
    if when is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(when))
    except (TypeError, ValueError):
        return False


def month_year(when: dt.date | Any) -> str:
    """``Apr 2026``."""
    return DASH if _missing_date(when) else f"{when:%b %Y}"


def run_period(scenario: Scenario) -> str:
    """``1 Apr 2023 to 31 Mar 2033 (10 years)``: the run's horizon, last day included."""
    last = scenario.end_date - dt.timedelta(days=1)
    years = f"{scenario.run.horizon_years:g} year{'' if scenario.run.horizon_years == 1 else 's'}"
    return f"{uk_date(scenario.run.start_date)} to {uk_date(last)} ({years})"


def price_basis(scenario: Scenario) -> str:
    """``nominal prices, rising 2.5% a year from 1 Apr 2023``."""
    rate = scenario.costs.inflation_per_year
    if rate == 0:
        return f"prices of {uk_date(scenario.run.start_date)} (no inflation)"
    return (
        f"nominal prices, rising {number(100 * rate, 1)}% a year "
        f"from {uk_date(scenario.run.start_date)}"
    )


def totals_basis(scenario: Scenario) -> str:
    """What a total covers: ``over 1 Apr 2023 to 31 Mar 2033 (10 years), nominal prices...``."""
    return f"over {run_period(scenario)}; {price_basis(scenario)}"


def need_label(scenario: Scenario, need: str) -> str:
    """A need's display name (its config ``label``, else its key)."""
    return scenario.need_label(need) if need in scenario.demand.needs else need


def need_labels(scenario: Scenario) -> Mapping[str, str]:
    """Every need's display name by key."""
    return {name: scenario.need_label(name) for name in scenario.need_names}


__all__ = [
    "HEADLINE_METRICS",
    "METRICS",
    "MetricInfo",
    "difference",
    "interval",
    "metric_info",
    "metric_label",
    "money",
    "month_year",
    "need_label",
    "need_labels",
    "number",
    "observed_check",
    "p_better",
    "percent",
    "plus_minus",
    "price_basis",
    "probability",
    "run_period",
    "share",
    "totals_basis",
    "uk_date",
    "value",
]
