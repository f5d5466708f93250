"""The results of a run, in the page (Streamlit): the headline of each strategy, one table of
every strategy against the baseline, the cost of each by financial year, the interactive
figures and the downloads.

Everything shown is computed once per run and kept with it, so moving around the page does not
recompute it; the large downloads (figures, report, result files) are made only when clicked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from simulation import display
from simulation.app import charts
from simulation.app.strategies import (
    Base,
    Variant,
    commented_yaml,
    comparison_display,
    comparison_download,
    comparison_report_html,
    costs_by_year,
    costs_by_year_display,
    csv_bytes,
    file_stem,
    opening_dates_by_strategy,
    opening_dates_display,
    report_html,
    results_zip,
    xlsx_bytes,
)
from simulation.runner import RunResult


def headline(table: pd.DataFrame, strategy: str, baseline: str, period: str) -> str:
    """One sentence on a strategy's total cost against the baseline: the difference, its CI
    and P(cheaper)."""
    rows = table[(table["strategy"] == strategy) & (table["metric"] == "cost_total_gbp")]
    row = rows.iloc[0]
    like = row["baseline_mean"]
    diff = display.difference("cost_total_gbp", row["mean_diff"], like)
    ci = display.interval(
        display.difference("cost_total_gbp", row["ci_low"], like),
        display.difference("cost_total_gbp", row["ci_high"], like),
    )
    return (
        f"**{strategy}** minus {baseline}, total cost over {period}: {diff} (95% CI {ci}); "
        f"P({strategy} cheaper) = {display.probability(row['p_edited_lower'])}."
    )


def prepare(out: dict[str, Any], base: Base, replications: int, seed: int) -> None:
    """The tables, figures and small downloads of a run, made once and kept in ``out``."""
    if "tables" in out:
        return
    results: dict[str, RunResult] = out["results"]
    table: pd.DataFrame = out["comparison"]
    years = costs_by_year(results)
    scenario = base.scenario
    changed = table[table["mean_diff"].abs() > 0]
    figures: list[tuple[str, Any]] = []
    if len(changed):
        figures.append(("Differences", charts.forest(changed)))
    figures.append(("Cost by year", charts.cost_by_year(years, display.price_basis(scenario))))
    for column, title, axis in charts.FANS:
        fig = charts.fan(results, column, title, axis)
        if fig is not None:
            figures.append((title, fig))
    numbers = comparison_download(table)
    out["tables"] = {
        "openings": opening_dates_display(opening_dates_by_strategy(results)),
        "comparison": comparison_display(table),
        "years": costs_by_year_display(years),
        "comparison_csv": csv_bytes(numbers),
        "years_csv": csv_bytes(years),
        "xlsx": xlsx_bytes({"comparison": numbers, "cost by year": years}),
    }
    out["figures"] = figures
    strategies: list[Variant] = out["strategies"]
    out["yaml"] = {v.name: commented_yaml(base.text, v, replications, seed) for v in strategies}


def _lazy(make: Callable[[], bytes | str], key: str, out: dict[str, Any]) -> Callable[[], Any]:
    """A download made when clicked, and kept for the next click."""

    def data() -> Any:
        if key not in out:
            out[key] = make()
        return out[key]

    return data


def show_results(out: dict[str, Any], base: Base, replications: int, seed: int) -> None:
    """The comparison, the cost by year, the figures and the downloads of the last run."""
    prepare(out, base, replications, seed)
    strategies: list[Variant] = out["strategies"]
    results: dict[str, RunResult] = out["results"]
    table: pd.DataFrame = out["comparison"]
    baseline = strategies[0].name
    period = display.run_period(base.scenario)
    st.subheader("Every strategy against the baseline")
    st.markdown(
        "\n".join(
            f"- {headline(table, v.name, baseline, period)}"
            if v.changes
            else f"- **{v.name}** has no changes: it is the baseline, and differs by nothing."
            for v in strategies[1:]
        )
    )
    first = next(iter(results.values()))
    st.caption(
        f"{first.replications} paired replications of each strategy, seed {first.seed}, on "
        f"{first.workers} processes: replication r of every strategy sees the same children, "
        "so a difference is the effect of the changes. P(better): the share of paired "
        "replications in which the strategy did better than the baseline (lower, or higher "
        "for occupancy and usable beds; – where neither is better). Differences of a "
        f"percentage are in points. Money in {display.price_basis(base.scenario)}."
    )
    tables = out["tables"]
    # Static tables: their cells wrap on a narrow screen rather than being clipped.
    st.table(tables["comparison"].set_index(tables["comparison"].columns[0]))
    st.subheader("Cost by financial year")
    st.caption(
        "Mean cost of each UK financial year (April to March), with the 5th to 95th "
        "percentile across replications in brackets. A part year at either end holds only the "
        "days simulated."
    )
    st.table(tables["years"])
    if len(tables["openings"]):
        st.subheader("New homes: planned and simulated opening")
        st.caption(
            "Each home that opens during the run: its planned date, and the date it opened "
            "across the replications in which it opened by the end (its project stages can "
            "slip, so it can open after its plan); the last column is the share of replications "
            "in which it opened."
        )
        st.table(tables["openings"].set_index(tables["openings"].columns[0]))
    st.subheader("Figures")
    for i, (_, fig) in enumerate(out["figures"]):
        st.plotly_chart(fig, theme=None, key=f"figure:{i}", config={"displaylogo": False})
    downloads(out, base)


def downloads(out: dict[str, Any], base: Base) -> None:
    """The tables as CSV and xlsx, the figures as one HTML page, a report, each strategy's
    YAML (its comments kept) and the result files."""
    st.subheader("Downloads")
    tables = out["tables"]
    stem = file_stem(base.scenario.name)
    c1, c2 = st.columns(2)
    c1.download_button(
        "Comparison (CSV)",
        tables["comparison_csv"],
        f"{stem}-comparison.csv",
        "text/csv",
        key="download_comparison_csv",
        on_click="ignore",
    )
    c2.download_button(
        "Cost by year (CSV)",
        tables["years_csv"],
        f"{stem}-cost-by-year.csv",
        "text/csv",
        key="download_years_csv",
        on_click="ignore",
    )
    c1.download_button(
        "Both tables (xlsx)",
        tables["xlsx"],
        f"{stem}-comparison.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="download_xlsx",
        on_click="ignore",
    )
    c2.download_button(
        "Figures (HTML)",
        _lazy(
            lambda: charts.figures_html(out["figures"], f"{base.scenario.name}: strategies"),
            "figures_html",
            out,
        ),
        f"{stem}-figures.html",
        "text/html",
        key="download_figures",
        on_click="ignore",
        help="Every figure in one page that opens in a browser with no network.",
    )
    st.markdown(
        "**Each strategy's config** (the original file's comments kept, its changes "
        "listed at the top, set to the replications and seed run):"
    )
    cols = st.columns(min(2, len(out["yaml"])))
    for i, (name, text) in enumerate(out["yaml"].items()):
        cols[i % len(cols)].download_button(
            f"YAML: {name}",
            text,
            f"{file_stem(name) or 'strategy'}.yaml",
            "application/x-yaml",
            key=f"download_yaml:{i}",
            on_click="ignore",
        )
    results: dict[str, RunResult] = out["results"]
    st.download_button(
        "Report: every strategy against the baseline (HTML)",
        _lazy(lambda: comparison_report_html(results, out["strategies"]), "report:all", out),
        f"{stem}-report.html",
        "text/html",
        key="download_report_all",
        on_click="ignore",
        help="A summary in plain English, then each strategy against the baseline with "
        "paired 95% CIs and P(cheaper), and the changes each strategy makes; opens offline.",
    )
    c1, c2 = st.columns(2)
    chosen = str(c1.selectbox("Report of one strategy", list(results), key="report_of"))
    c1.download_button(
        f"Report: {chosen} (HTML)",
        _lazy(lambda: report_html(results, chosen), f"report:{chosen}", out),
        f"{file_stem(chosen) or 'strategy'}-report.html",
        "text/html",
        key="download_report",
        on_click="ignore",
    )
    c2.download_button(
        "All result files (zip)",
        _lazy(lambda: results_zip(results, out["comparison"]), "zip", out),
        f"{stem}-results.zip",
        "application/zip",
        key="download_zip",
        on_click="ignore",
        help="Each strategy's result tables (parquet) and the comparison (CSV).",
    )
