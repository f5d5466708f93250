"""The report of an experiment: N strategies, each against the baseline on the same futures.

Summary first (each strategy's paired difference in total cost with its 95% CI and the chance
it is cheaper; spot placements; the out-of-city share; which strategy is cheapest and how
sure), then the evidence: one table of every strategy against the baseline, the total-cost
differences with reduced variance (as ``sufficiency experiment`` prints them), total cost by
strategy, the forest plot, the precision reached (runs to a precision target), published
outcomes (configs with observed points); the spec in an appendix; how to reproduce it last.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulation import compare, display
from simulation.atomic import write_text_atomic
from simulation.experiments.driver import ExperimentResult
from simulation.observed import check_values
from simulation.outputs import code_version
from simulation.plots import drawn_at, strategy_forest
from simulation.report.html import (
    FIG_WIDTH_IN,
    Numbers,
    appendix,
    esc,
    figure,
    page,
    provenance,
    section,
    td,
)
from simulation.report.html import table as html_table
from simulation.report.run import observed_html

COST = "cost_total_gbp"
# Always in the summary, whatever the spec's metrics.
SUMMARY_METRICS = (COST, "spot_placements", "out_of_city_share")
SECTIONS = {
    "summary": "Summary",
    "paired": "Every strategy against the baseline",
    "reduced": "Total cost difference with reduced variance",
    "costs": "Total cost by strategy",
    "forest": "Differences at a glance",
    "precision": "Precision reached",
    "observed": "Published outcomes against the simulation",
    "appendix": "Appendix: the experiment spec",
    "provenance": "How to reproduce this report",
}


@dataclass
class ExperimentData:
    """What an experiment report needs: the result, and each strategy's values at the configs'
    observed points (:func:`simulation.experiments.driver.observed_values`; empty without)."""

    result: ExperimentResult
    observed: dict[str, pd.DataFrame] = field(default_factory=dict)
    store: str = ""
    # The appendix's text when the experiment has no spec file (the app's strategies).
    spec_text: str = ""

    @property
    def metrics(self) -> list[str]:
        wanted = [*SUMMARY_METRICS, *self.result.experiment.metrics]
        return [m for m in dict.fromkeys(wanted) if m in self.result.summary.columns]


def p_lowest(summary: pd.DataFrame, metric: str = COST) -> pd.Series:
    """Per strategy: the share of replications (those every strategy ran) in which it has the
    lowest ``metric`` of all strategies (ties go to the first strategy)."""
    wide = summary.pivot(index="replication", columns="strategy", values=metric).dropna()
    order = list(dict.fromkeys(summary["strategy"]))
    wide = wide[order]
    lowest = np.argmin(wide.to_numpy(dtype=float), axis=1)
    counts = np.bincount(lowest, minlength=len(order))
    return pd.Series(counts / max(1, len(wide)), index=order)


def _strategies(data: ExperimentData) -> list[str]:
    return [s.name for s in data.result.experiment.strategies]


def p_higher(data: ExperimentData) -> dict[tuple[str, str], float]:
    """Per (strategy, metric): the share of pairs in which the strategy is higher than the
    baseline (ties are neither lower nor higher), by the tool's one pairing rule."""
    summary = data.result.summary
    baseline = data.result.experiment.baseline
    base = summary[summary["strategy"] == baseline]
    out: dict[tuple[str, str], float] = {}
    for name, grp in summary.groupby("strategy", sort=False):
        if name == baseline:
            continue
        table = compare.paired_differences(base, grp, data.metrics)
        for r in table.to_dict("records"):
            out[(str(name), str(r["metric"]))] = float(r["p_edited_higher"])
    return out


def _paired_section(data: ExperimentData, paired: pd.DataFrame, nums: Numbers) -> str:
    exp = data.result.experiment
    higher = p_higher(data)
    rows = []
    for i, name in enumerate(_strategies(data)):
        for r in paired[paired["strategy"] == name].to_dict("records"):
            m = str(r["metric"])
            like = r["baseline_mean"]
            key = f"paired.{i}.{m}"
            better = display.p_better(m, r["p_lower"], higher[(name, m)])
            rows.append(
                [
                    td(name),
                    td(display.metric_label(m)),
                    td(display.value(m, like)),
                    td(display.value(m, r["mean"], like)),
                    nums.put(f"{key}.diff", display.difference(m, r["mean_diff"], like)),
                    nums.put(
                        f"{key}.ci",
                        display.interval(
                            display.difference(m, r["ci_low"], like),
                            display.difference(m, r["ci_high"], like),
                        ),
                    ),
                    nums.put(f"{key}.better", display.probability(better)),
                ]
            )
    return html_table(
        ["Strategy", "Metric", exp.baseline, "Strategy", "Difference", "95% CI", "P(better)"],
        rows,
        text_columns=2,
    ) + (
        "<p class='note'>Paired on the same replication seeds (common random numbers): each "
        "strategy's replication r saw the same children as the baseline's. Difference: the "
        "strategy's mean minus the baseline's (an interval that excludes 0 is a real "
        "difference). P(better): the share of pairs in which the strategy is better (lower or "
        "higher, as the metric reads; for a cost, P(cheaper); a tie is not better; – where "
        "neither way is better). Percentages differ in points.</p>"
    )


def _reduced_section(data: ExperimentData, nums: Numbers) -> str | None:
    """Each strategy's total-cost difference by the reduced-variance estimator (what
    ``sufficiency experiment`` prints beside the plain table; docs/statistics.md). Left out
    where the precision section already shows it, and with uncertain inputs."""
    table = data.result.reduced_cost()
    if table is None:
        return None
    names = _strategies(data)
    rows = []
    for rec in table.to_dict("records"):
        i = names.index(str(rec["strategy"]))
        half = rec["reduced_half_width"]
        rows.append(
            [
                td(rec["strategy"]),
                td(display.number(rec["n"])),
                nums.put(f"reduced.{i}.diff", display.difference(COST, rec["reduced_diff"])),
                nums.put(f"reduced.{i}.half", display.plus_minus(COST, half, rec["reduced_diff"])),
                td(f"x{rec['variance_reduction']:.1f} ({rec['reduced_by']})"),
            ]
        )
    return html_table(
        ["Strategy", "Pairs", "Difference", "95% CI half-width", "Variance reduction"], rows
    ) + (
        "<p class='note'>The same paired differences in total cost, estimated with less noise: "
        "each replication's cost with market prices at their means, and controls whose "
        "expectation is known, where they help (docs/statistics.md). Unbiased for the same "
        "mean as the plain difference above; the two differ by chance, within their "
        "intervals.</p>"
    )


def _costs_section(data: ExperimentData, nums: Numbers) -> str:
    summary = data.result.summary
    lowest = p_lowest(summary)
    rows = []
    for i, name in enumerate(_strategies(data)):
        x = summary.loc[summary["strategy"] == name, COST].to_numpy(dtype=float)
        p5, p95 = np.percentile(x, [5, 95])
        rows.append(
            [
                td(name),
                nums.put(f"cost.{i}.mean", display.money(x.mean())),
                nums.put(
                    f"cost.{i}.range", display.interval(display.money(p5), display.money(p95))
                ),
                nums.put(f"cost.{i}.cheapest", display.probability(lowest.get(name, np.nan))),
            ]
        )
    return html_table(
        ["Strategy", "Mean total cost", "P5 to P95", "Cheapest of all strategies in"], rows
    ) + (
        "<p class='note'>The last column: the share of futures (replications) in which the "
        "strategy costs least of all, each future run once under every strategy.</p>"
    )


MAX_LISTED = 6
"""Strategies the summary describes one by one; with more, it counts them and describes those
whose total cost differs most from the baseline's (the tables give every one)."""


def _overview(
    paired: pd.DataFrame, base: str, precision: pd.DataFrame | None
) -> tuple[str, set[str]]:
    """With many strategies: how many cost more or less than the baseline (95% CI clear of 0),
    and the names of the :data:`MAX_LISTED` whose mean total cost differs most. For a run to a
    precision target, by the reduced-variance differences it was judged on."""
    cost = paired[paired["metric"] == COST]
    cost = cost[cost["strategy"] != base].reset_index(drop=True)
    by = ""
    if precision is not None and COST in set(precision["metric"]):
        by = ", reduced variance"
        judged = precision[precision["metric"] == COST].reset_index(drop=True)
        cost = judged.assign(
            ci_low=judged["mean_diff"] - judged["half_width"],
            ci_high=judged["mean_diff"] + judged["half_width"],
        )
    more, less = int((cost["ci_low"] > 0).sum()), int((cost["ci_high"] < 0).sum())
    unclear = len(cost) - more - less
    order = cost["mean_diff"].abs().sort_values(ascending=False, kind="stable").index
    listed = set(cost.loc[order[:MAX_LISTED], "strategy"].astype(str))
    text = (
        f"<strong>In short:</strong> of the {len(cost)} strategies, {more} cost more than "
        f"{esc(base)} over the run (the 95% CI of the difference above 0{by}), {less} cost less, "
        f"and for {unclear} the difference cannot be told from 0 at this precision. The "
        f"{MAX_LISTED} whose total cost differs most follow; the table of each strategy "
        "against the baseline gives every one."
    )
    return text, listed


def _summary(data: ExperimentData, nums: Numbers, paired: pd.DataFrame) -> str:
    exp = data.result.experiment
    scenario = exp.strategies[0].scenario
    base = exp.baseline
    described = {s.name: s.description for s in exp.spec.strategies} if exp.spec else {}
    items = []
    precision = data.result.precision
    judged = precision is not None and COST in set(precision["metric"])
    listed = {s.name for s in exp.strategies}
    if len(exp.strategies) - 1 > MAX_LISTED and COST in set(paired["metric"]):
        text, listed = _overview(paired, base, data.result.precision)
        items.append(text)
    for i, st in enumerate(exp.strategies):
        if st.name == base or st.name not in listed:
            continue
        key = f"paired.{i}"
        reduced = f"reduced.{i}.half" in nums and nums.text[f"reduced.{i}.half"] != display.DASH
        text = f"<strong>{esc(st.name)}</strong>" + (
            f": {esc(described[st.name])}." if described.get(st.name) else ":"
        )
        if reduced and judged:
            # A run to a precision target: lead with the estimate it was judged on.
            text += (
                f" Total cost {nums.span(f'reduced.{i}.diff')} "
                f"{nums.span(f'reduced.{i}.half')} against {esc(base)} (95% CI, reduced "
                f"variance; plain: {nums.span(f'{key}.{COST}.ci')}), cheaper in "
                f"{nums.span(f'{key}.{COST}.better')} of paired futures"
            )
        else:
            text += (
                f" Total cost {nums.span(f'{key}.{COST}.diff')} against {esc(base)} (95% CI "
                f"{nums.span(f'{key}.{COST}.ci')}), cheaper in "
                f"{nums.span(f'{key}.{COST}.better')} of paired futures"
            )
            if reduced:
                text += (
                    f" (with reduced variance: {nums.span(f'reduced.{i}.diff')} "
                    f"{nums.span(f'reduced.{i}.half')})"
                )
        if f"{key}.spot_placements.diff" in nums:
            text += (
                f"; new spot placements {nums.span(f'{key}.spot_placements.diff')} (95% CI "
                f"{nums.span(f'{key}.spot_placements.ci')})"
            )
        if f"{key}.out_of_city_share.diff" in nums:
            text += (
                f"; child-days out of city {nums.span(f'{key}.out_of_city_share.diff')} (95% CI "
                f"{nums.span(f'{key}.out_of_city_share.ci')})"
            )
        items.append(text + ".")
    lowest = p_lowest(data.result.summary)
    means = data.result.summary.groupby("strategy", sort=False)[COST].mean()
    best = str(means.idxmin())
    b = _strategies(data).index(best)
    items.append(
        f"<strong>Cheapest on average:</strong> {esc(best)}, at {nums.span(f'cost.{b}.mean')} "
        f"(P5 to P95: {nums.span(f'cost.{b}.range')}); it is the cheapest of all "
        f"{len(exp.strategies)} strategies in {nums.span(f'cost.{b}.cheapest')} of futures."
        + (
            ""
            if float(lowest.get(best, 0.0)) >= 0.95
            else " In the other futures another strategy costs less: read the ranges, not only "
            "the means."
        )
    )
    covered = [
        f"{esc(name)}: {nums.span(f'observed.{i}.coverage')}"
        for i, name in enumerate(_strategies(data))
        if f"observed.{i}.coverage" in nums
    ]
    if covered:
        items.append("<strong>Against published figures:</strong> " + "; ".join(covered) + ".")
    futures = f"{display.number(data.result.replications)} paired futures"
    if precision is not None and len(precision):
        low, high = int(precision["n"].min()), int(precision["n"].max())
        futures = f"{display.number(low) if low == high else f'{low:,} to {high:,}'} paired "
        rule = exp.precision
        cap = "" if rule is None or bool(precision["met"].all()) else f" or the cap of {rule.max:,}"
        futures += f"futures a strategy (each ran until its differences met the target{cap})"
    lede = (
        f"<p>{esc(exp.description)} Each of {len(exp.strategies) - 1} strategies is set against "
        f"<strong>{esc(base)}</strong> over {esc(display.run_period(scenario))}, in {futures}. "
        "The same children arrive under every strategy, so the differences are the "
        f"strategies', not chance's. Costs are in {esc(display.price_basis(scenario))}.</p>"
    )
    return lede + "<ul>" + "".join(f"<li>{t}</li>" for t in items) + "</ul>"


def _forest(data: ExperimentData, paired: pd.DataFrame) -> str:
    exp = data.result.experiment
    with drawn_at(FIG_WIDTH_IN * 1.6):
        fig = strategy_forest(paired, data.metrics, exp.baseline, caption=False)
    cost = paired[paired["metric"] == COST]
    findings = "; ".join(
        f"{r['strategy']} {display.difference(COST, r['mean_diff'], r['baseline_mean'])} "
        f"(95% CI {display.difference(COST, r['ci_low'], r['baseline_mean'])} to "
        f"{display.difference(COST, r['ci_high'], r['baseline_mean'])})"
        for r in cost.to_dict("records")
    )
    alt = f"Total cost against {exp.baseline}: {findings}."
    caption = (
        f"One panel per metric, in its own unit: each strategy minus {exp.baseline}, paired on "
        "the same replication seeds; bars: 95% confidence intervals; left of the line: lower "
        "than the baseline."
    )
    return figure("forest", "Each strategy minus the baseline", fig, alt, caption, shorten=False)


def _precision(data: ExperimentData, nums: Numbers) -> str | None:
    """The precision each strategy reached. Its total-cost cells are the reduced-variance
    differences the summary quotes for a run to a precision target (under the keys the
    reduced-cost section uses otherwise)."""
    table = data.result.precision
    if table is None or table.empty:
        return None
    names = _strategies(data)
    rows = []
    for r in table.to_dict("records"):
        m = str(r["metric"])
        # On the target's scale, as the command line prints them.
        diff = display.difference(m, r["mean_diff"], r["target"])
        half = display.plus_minus(m, r["half_width"], r["target"])
        i = names.index(str(r["strategy"]))
        rows.append(
            [
                td(r["strategy"]),
                td(display.metric_label(m)),
                td(display.number(r["n"])),
                nums.put(f"reduced.{i}.diff", diff) if m == COST else td(diff),
                nums.put(f"reduced.{i}.half", half) if m == COST else td(half),
                td(display.plus_minus(m, r["target"])),
                td("yes" if r["met"] else "no"),
                td(f"x{r['variance_reduction']:.1f} ({r['reduced_by']})"),
            ]
        )
    return html_table(
        [
            "Strategy",
            "Metric",
            "Replications",
            "Difference",
            "95% CI half-width",
            "Target",
            "Met",
            "Variance reduction",
        ],
        rows,
    )


def _observed(data: ExperimentData, nums: Numbers) -> str | None:
    if not data.observed:
        return None
    scenarios = {st.name: st.scenario for st in data.result.experiment.strategies}
    names = _strategies(data)
    return "".join(
        f"<h3>{esc(name)}</h3>"
        + observed_html(
            check_values(scenarios[name], values),
            nums,
            f"observed.{names.index(name)}",
            f"{name}: published outcomes",
        )
        for name, values in data.observed.items()
    )


def _spec_text(data: ExperimentData) -> str:
    if data.spec_text:
        return data.spec_text
    exp = data.result.experiment
    path = Path(exp.source)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    import yaml

    return yaml.safe_dump(
        exp.spec.model_dump(mode="json") if exp.spec else {}, sort_keys=False, allow_unicode=True
    )


def _provenance(data: ExperimentData) -> str:
    r = data.result
    exp = r.experiment
    items = [
        ("Seed", exp.seed),
        ("Replications per strategy", r.replications),
        ("Strategies", len(exp.strategies)),
        ("Run on", r.where or display.DASH),
        ("Results store", data.store or "none (run for this report)"),
        ("Report written", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        ("Code version", code_version()),
    ]
    return provenance(
        items,
        f"Run <code>sufficiency experiment {esc(exp.source)} --replications "
        f"{esc(r.replications)} --seed {esc(exp.seed)}</code> with the same code version to "
        "reproduce every number in this report.",
    )


def render_experiment_html(data: ExperimentData) -> str:
    """The experiment's report as one HTML document (figures embedded)."""
    exp = data.result.experiment
    paired = data.result.paired(data.metrics)
    nums = Numbers()
    bodies: dict[str, str | None] = {
        "paired": _paired_section(data, paired, nums),
        "reduced": _reduced_section(data, nums),
        "costs": _costs_section(data, nums),
        "forest": _forest(data, paired),
        "precision": _precision(data, nums),
        "observed": _observed(data, nums),
        "appendix": appendix("The experiment spec (YAML)", _spec_text(data)),
        "provenance": _provenance(data),
    }
    bodies["summary"] = _summary(data, nums, paired)
    sections = [
        section(sid, title, body) for sid, title in SECTIONS.items() if (body := bodies[sid])
    ]
    counts = data.result.summary.groupby("strategy", sort=False)["replication"].count()
    low, high = int(counts.min()), int(counts.max())
    lede = (
        f"{len(exp.strategies)} strategies x {low if low == high else f'{low}-{high}'} "
        f"replications, seed {esc(exp.seed)}, each against '{esc(exp.baseline)}'"
    )
    return page(
        f"{exp.name}: sufficiency experiment report",
        f"{exp.name}: strategies compared",
        lede,
        sections,
    )


def write_experiment_report(data: ExperimentData, path: str | Path) -> Path:
    """Render and write the experiment's report to ``path``; returns the path."""
    return write_text_atomic(Path(path), render_experiment_html(data))
