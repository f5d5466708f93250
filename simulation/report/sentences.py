"""The run report's words: the summary and each figure's finding, written from the numbers.

Every number the summary quotes is taken from :class:`~simulation.report.html.Numbers`, where
the table that shows it put it, so the sentence and the table cell read the same text and
carry the same ``data-key``. Nothing here computes a result.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulation import display, findings
from simulation.plots import assumed_occupancy
from simulation.report.html import Numbers, esc

if TYPE_CHECKING:
    from simulation.report.run import RunData
    from simulation.scenario import Scenario


def _range(nums: Numbers, key: str) -> str:
    """``(P5 to P95 a to b)`` of a keyed range."""
    return f"(P5 to P95: {nums.span(key)})"


def run_summary(
    data: RunData,
    scenario: Scenario | None,
    homes: pd.DataFrame,
    nums: Numbers,
) -> str:
    """The summary at the top of the run report: one paragraph and a short list, in words."""
    n = len(data.summary)
    items = [
        _homes_item(homes, nums),
        _spot_item(nums),
        _cost_item(data, scenario, nums),
        _risk_item(data, nums),
        _openings_item(nums),
        _foster_item(nums),
        _observed_item(nums),
        _precision_item(n, nums),
    ]
    lede = (
        f"<p>What this plan achieves over {nums.span('plan.period')}, in {n} simulated "
        f"future{'' if n == 1 else 's'} "
        "(each a possible run of the same years with different children arriving and "
        f"staying). Costs are in {nums.span('plan.prices')}.</p>"
    )
    body = "".join(f"<li>{item}</li>" for item in items if item)
    return lede + f"<ul>{body}</ul>"


def _known(nums: Numbers, key: str) -> bool:
    """Whether a table holds ``key`` with a value (not a dash: no council home open, say)."""
    return nums.text.get(key, display.DASH) not in (display.DASH, "±" + display.DASH)


def _homes_item(homes: pd.DataFrame, nums: Numbers) -> str:
    if not _known(nums, "headline.internal_occupancy_pct.mean"):
        return ""
    lines = []
    for i, r in enumerate(homes.to_dict("records")):
        if r["kind"] != "internal" or f"home.{i}.mean" not in nums:
            continue
        reach = (
            f" against {nums.span(f'home.{i}.case')}, reached in "
            f"{nums.span(f'home.{i}.reach')} of futures"
            if f"home.{i}.reach" in nums and nums.text[f"home.{i}.reach"] != display.DASH
            else ""
        )
        lines.append(
            f"<li>{esc(r['unit'])}: {nums.span(f'home.{i}.mean')} "
            f"({nums.span(f'home.{i}.range')}){reach}</li>"
        )
    return (
        "<strong>Council homes</strong> are "
        f"{nums.span('headline.internal_occupancy_pct.mean')} full on average "
        f"{_range(nums, 'headline.internal_occupancy_pct.range')}. Each home's mean occupancy "
        "(P5 to P95) against its business case, and the share of futures reaching it:"
        f"<ul class='homes'>{''.join(lines)}</ul>"
    )


def _spot_item(nums: Numbers) -> str:
    if not _known(nums, "headline.spot_stock_mean.mean"):
        return ""
    text = (
        "<strong>Spot placements:</strong> on average "
        f"{nums.span('headline.spot_stock_mean.mean')} children are in spot placements at any "
        f"time {_range(nums, 'headline.spot_stock_mean.range')}, from "
        f"{nums.span('headline.spot_placements.mean')} new spot placements over the run "
        f"{_range(nums, 'headline.spot_placements.range')}."
    )
    if "headline.out_of_city_share.mean" in nums:
        text += (
            f" {nums.span('headline.out_of_city_share.mean')} of children's days in care are "
            f"spent out of the city {_range(nums, 'headline.out_of_city_share.range')}."
        )
    return text


def full_years(data: RunData, scenario: Scenario | None) -> list[str]:
    """The financial years the run covers whole (a part year at either end is smaller)."""
    years = [str(y) for y in sorted(data.finance["financial_year"].unique())]
    if scenario is None:
        return years
    start, end = scenario.run.start_date, scenario.end_date
    return [
        y
        for y in years
        if dt.date(int(y[:4]), 4, 1) >= start and dt.date(int(y[:4]) + 1, 4, 1) <= end
    ]


def _cost_item(data: RunData, scenario: Scenario | None, nums: Numbers) -> str:
    text = (
        f"<strong>Total cost</strong> is {nums.span('headline.cost_total_gbp.mean')} "
        f"{_range(nums, 'headline.cost_total_gbp.range')} over the run."
    )
    years = findings.cost_by_year(data.finance)
    whole = years[years["financial_year"].isin(full_years(data, scenario))]
    if len(whole) >= 2:
        mean = whole["mean_gbp"].to_numpy()
        lo = str(whole["financial_year"].iloc[int(np.argmin(mean))])
        hi = str(whole["financial_year"].iloc[int(np.argmax(mean))])
        text += (
            f" By financial year it is lowest in {esc(lo)} at {nums.span(f'year.{lo}.mean')} "
            f"{_range(nums, f'year.{lo}.range')} and highest in {esc(hi)} at "
            f"{nums.span(f'year.{hi}.mean')} {_range(nums, f'year.{hi}.range')}."
        )
    return text


def _risk_item(data: RunData, nums: Numbers) -> str:
    drivers = findings.cost_risk_drivers(data.summary)
    shown = [p for p in drivers["part"] if f"risk.{p}.share" in nums]
    if not shown:
        return ""
    text = (
        "<strong>What drives the risk:</strong> "
        f"{esc(display.metric_label(shown[0]).lower())} makes "
        f"{nums.span(f'risk.{shown[0]}.share')} of the spread in total cost between futures"
    )
    if len(shown) > 1:
        text += (
            f", then {esc(display.metric_label(shown[1]).lower())} "
            f"({nums.span(f'risk.{shown[1]}.share')})"
        )
    text += "."
    if "split.cost_total_gbp.share" in nums:
        text += (
            f" {nums.span('split.cost_total_gbp.share')} of the variance in total cost comes "
            f"from the uncertain inputs (95% CI {nums.span('split.cost_total_gbp.ci')}); the "
            "rest is the chance of one future against another."
        )
    return text


def _openings_item(nums: Numbers) -> str:
    delays = {
        k: float(v.replace(",", ""))
        for k, v in nums.text.items()
        if k.startswith("opening.") and k.endswith(".delay") and v != display.DASH
    }
    if not delays:
        return ""
    key = max(delays, key=lambda k: delays[k])[: -len(".delay")]
    return (
        "<strong>New homes</strong> open late: at worst "
        f"{nums.span(f'{key}.unit')}, by a mean of {nums.span(f'{key}.delay')} days. Planned "
        f"for {nums.span(f'{key}.planned')}, it opens by a median of "
        f"{nums.span(f'{key}.median')} ({nums.span(f'{key}.range')}), in "
        f"{nums.span(f'{key}.opened')} of futures by the end of the run."
    )


def _foster_item(nums: Numbers) -> str:
    if "headline.want_of_foster_children.mean" not in nums:
        return ""
    text = (
        "<strong>Fostering:</strong> "
        f"{nums.span('headline.want_of_foster_children.mean')} children are in residential "
        "care for want of a foster placement over the run "
        f"{_range(nums, 'headline.want_of_foster_children.range')}"
    )
    if "headline.want_of_foster_cost_gbp.mean" in nums:
        text += f", costing {nums.span('headline.want_of_foster_cost_gbp.mean')}"
    return text + "."


def _observed_item(nums: Numbers) -> str:
    if "observed.coverage" not in nums:
        return ""
    return f"<strong>Against published figures:</strong> {nums.span('observed.coverage')}."


def _precision_item(n: int, nums: Numbers) -> str:
    if not _known(nums, "headline.cost_total_gbp.half"):
        return ""  # one replication: no interval
    return (
        "<strong>Precision:</strong> from these "
        f"{n} futures the mean total cost is known to {nums.span('headline.cost_total_gbp.half')}"
        f" (95% CI {nums.span('headline.cost_total_gbp.ci')}); more replications narrow it."
    )


# -- figures: the finding as alt text, how to read it as the caption ---------------------------


def figure_texts(data: RunData, nums: Numbers) -> dict[str, tuple[str, str]]:
    """Per figure stem: (the finding in words, how to read the figure)."""
    n = len(data.summary)
    t = nums.text
    out: dict[str, tuple[str, str]] = {}
    if "headline.internal_occupancy_pct.mean" in t:
        case = assumed_occupancy(data.units, "internal")
        against = (
            f" against a business case of {display.percent(case)}" if not np.isnan(case) else ""
        )
        out["fan-occupancy"] = (
            f"Council homes are {t['headline.internal_occupancy_pct.mean']} full on average over "
            f"the run (P5 to P95 across futures: {t['headline.internal_occupancy_pct.range']})"
            f"{against}.",
            f"Bands: P5-P95 and P25-P75 across {n} replications; line: the median; dashed: the "
            "business case. Occupancy = children living there / usable beds in the week.",
        )
    weekly = data.weekly.groupby("week_start", sort=True)["children_spot"].median()
    first, last = pd.Timestamp(weekly.index[0]), pd.Timestamp(weekly.index[-1])
    out["fan-spot"] = (
        f"Children in spot placements: {t.get('headline.spot_stock_mean.mean', display.DASH)} "
        "on average at any time; the median week goes from "
        f"{display.number(weekly.iloc[0], 1)} in {display.month_year(first)}"
        f" to {display.number(weekly.iloc[-1], 1)} in "
        f"{display.month_year(last)}.",
        f"Bands: P5-P95 and P25-P75 across {n} replications; line: the median.",
    )
    out["placement-mix"] = (
        _mix_text(data),
        f"Mean of {n} replications; layers stack to all "
        "children in care, with those waiting for a bed.",
    )
    opening = [k for k in t if k.startswith("opening.") and k.endswith(".median")]
    if opening:
        dates = findings.opening_dates(data.openings)
        parts = [
            f"{r['unit']} planned {t[f'opening.{i}.planned']}, median {t[f'opening.{i}.median']}"
            for i, r in enumerate(dates.to_dict("records"))
        ]
        out["home-openings"] = (
            "Council homes opening during the run, planned against simulated opening dates: "
            + "; ".join(parts)
            + ".",
            f"Diamonds: planned openings; lines: P5-P95 (thin) and P25-P75 (thick) of the "
            f"simulated dates across {n} replications; dots: the median.",
        )
    out["cost-by-year"] = (
        _years_text(data),
        f"Bars: mean of {n} replications; whiskers: "
        "P5-P95. A part year at either end holds only "
        "the days simulated.",
    )
    return out


def _mix_text(data: RunData) -> str:
    last = data.weekly[data.weekly["week_start"] == data.weekly["week_start"].max()]
    labels = {
        "internal": "council homes",
        "block": "block contracts",
        "framework": "the framework",
        "spot": "spot placements",
        "unregistered": "unregistered placements",
        "waiting": "waiting for a bed",
    }
    parts = [
        f"{display.number(last[f'children_{k}'].mean(), 1)} in {label}"
        for k, label in labels.items()
        if f"children_{k}" in last.columns
    ]
    return "In the last week of the run, on average: " + ", ".join(parts) + "."


def _years_text(data: RunData) -> str:
    years = findings.cost_by_year(data.finance)
    hi = years.iloc[int(np.argmax(years["mean_gbp"].to_numpy()))]
    lo = years.iloc[int(np.argmin(years["mean_gbp"].to_numpy()))]
    return (
        f"Total cost is highest in {hi['financial_year']} at {display.money(hi['mean_gbp'])} "
        f"(P5-P95 {display.money(hi['p5_gbp'])} to {display.money(hi['p95_gbp'])}) and lowest "
        f"in {lo['financial_year']} at {display.money(lo['mean_gbp'])} (P5-P95 "
        f"{display.money(lo['p5_gbp'])} to {display.money(lo['p95_gbp'])})."
    )
