"""The app's strategies and what is made from their runs, without a browser: the commented YAML
of a variant, the comparison of N strategies, the cost by year, the table downloads, and the
page's handling of several variants and of a shipped experiment."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from simulation import display
from simulation.app import levers, strategies
from simulation.compare import paired_differences
from simulation.display import p_better
from simulation.experiments.spec import load_experiment
from simulation.findings import cost_by_year
from simulation.runner import run
from simulation.scenario import parse_scenario, parse_yaml

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "simulation" / "app" / "main.py"
COVENTRY = ROOT / "configs" / "coventry-2023.yaml"
SID = "shipped:coventry-2023.yaml"
EBD2 = 8  # EBD home 2, planned to open 1 April 2026


def edited_coventry() -> tuple[str, strategies.Variant]:
    text = COVENTRY.read_text()
    raw = parse_yaml(text, "coventry-2023.yaml")
    base = parse_scenario(raw)
    edits = levers.current_levers(base.to_dict())
    edits["homes"][EBD2]["open_date"] = dt.date(2030, 4, 1)
    edits["block_beds"][0] = 14
    edits["needs"]["ebd"]["los_mean_days"] = 500.0
    return text, strategies.lever_variant("Late EBD 2, bigger block", raw, base, edits, "x")


def test_commented_yaml_keeps_the_comments_validates_and_reproduces_the_variant() -> None:
    text, variant = edited_coventry()
    assert len(variant.changes) == 3
    out = strategies.commented_yaml(text, variant, replications=3, seed=7)
    before, after = strategies.comment_lines(text), strategies.comment_lines(out)
    assert len(before) > 150
    kept = [c for c in before if c in after]
    assert len(kept) >= 0.98 * len(before), sorted(set(before) - set(after))
    # The changes head the file; every line not changed by an edit is as it was.
    assert out.startswith("# Late EBD 2, bigger block: written by the sufficiency app")
    assert "#   - EBD home 2: opens 1 Apr 2030 (was 1 Apr 2026)" in out
    again = parse_scenario(parse_yaml(out, "download.yaml"))
    assert again.name == "coventry-2023-late-ebd-2-bigger-block"
    assert (again.run.replications, again.run.seed) == (3, 7)
    assert again.provision.homes[EBD2].open_date == dt.date(2030, 4, 1)
    assert again.provision.block_contracts[0].beds == 14
    # Apart from its name, replications and seed, the file is the variant the app ran ...
    same = again.model_copy(update={"name": variant.scenario.name, "run": variant.scenario.run})
    assert same == variant.scenario
    # ... so it gives the variant's results, replication for replication.
    ran = run(variant.scenario, replications=2, seed=7, workers=1).summary
    rerun = run(again, replications=2, seed=7, workers=1).summary
    columns = [c for c in ran.columns if c != "scenario"]
    pd.testing.assert_frame_equal(ran[columns], rerun[columns])


def test_an_experiment_strategy_writes_its_overrides_into_the_commented_base() -> None:
    experiment = load_experiment(ROOT / "experiments" / "coventry-2023-strategy.yaml")
    text = experiment.base_path.read_text()
    raw = parse_yaml(text, "base")
    for strategy in experiment.strategies:
        variant = strategies.experiment_variant(
            strategy.name, raw, strategy.scenario, strategy.overrides
        )
        out = strategies.commented_yaml(text, variant, 5, experiment.seed)
        again = parse_scenario(parse_yaml(out, strategy.name))
        run_settings = strategy.scenario.run.model_copy(update={"replications": 5})
        assert again.model_copy(
            update={"name": strategy.scenario.name, "run": run_settings}
        ) == strategy.scenario.model_copy(update={"run": run_settings}), strategy.name
        kept = set(strategies.comment_lines(out))
        lost = [c for c in strategies.comment_lines(text) if c not in kept]
        if strategy.name == "no new homes":
            # The five homes removed take their comments with them (and a comment block that
            # YAML attaches to the end of a removed list item); the rest stay.
            assert len(lost) <= 0.3 * len(strategies.comment_lines(text)), lost
        else:
            assert not lost, lost
    none = strategies.experiment_variant(
        "no new homes",
        raw,
        experiment.strategy("no new homes").scenario,
        experiment.strategy("no new homes").overrides,
    )
    assert "remove provision.homes[name=EBD home 2]" in none.changes


def fake_result(values: dict[str, list[float]], finance: pd.DataFrame | None = None) -> Any:
    n = len(next(iter(values.values())))
    summary = pd.DataFrame({"replication": range(n), "seed": 1, **values})
    return SimpleNamespace(summary=summary, finance=finance)


def test_comparison_pairs_every_strategy_with_the_baseline() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(100e6, 5e6, 20)
    occupancy = rng.normal(85, 3, 20)
    results = {
        "Baseline": fake_result({"cost_total_gbp": base, "internal_occupancy_pct": occupancy}),
        "Cheaper": fake_result(
            {"cost_total_gbp": base - 2e6, "internal_occupancy_pct": occupancy + 1}
        ),
        "Dearer": fake_result(
            {"cost_total_gbp": base + rng.normal(1e6, 1e5, 20), "internal_occupancy_pct": occupancy}
        ),
    }
    metrics = ["cost_total_gbp", "internal_occupancy_pct"]
    table = strategies.comparison(results, "Baseline", metrics)
    assert list(dict.fromkeys(table["strategy"])) == ["Cheaper", "Dearer"]
    for name in ("Cheaper", "Dearer"):
        own = paired_differences(results["Baseline"].summary, results[name].summary, metrics)
        mine = table[table["strategy"] == name].drop(columns=["strategy", "p_better"])
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), own)
    row = table.set_index(["strategy", "metric"])
    # P(better) is read the metric's way: lower cost, higher occupancy.
    assert row.loc[("Cheaper", "cost_total_gbp"), "p_better"] == 1.0
    assert row.loc[("Cheaper", "internal_occupancy_pct"), "p_better"] == 1.0
    assert row.loc[("Dearer", "cost_total_gbp"), "p_better"] == 0.0
    assert row.loc[("Dearer", "internal_occupancy_pct"), "p_better"] == 0.0  # ties: neither
    assert p_better("internal_occupancy_pct", 1.0, 0.0) == 0.0
    shown = strategies.comparison_display(table)
    assert list(shown.columns) == list(strategies.COMPARISON_COLUMNS)
    # Grouped by metric: each metric's strategies sit together.
    assert list(shown["Strategy"]) == ["Cheaper", "Dearer", "Cheaper", "Dearer"]
    assert shown.iloc[0]["Difference (95% CI)"].startswith("-£2.0m (")


def test_cost_by_year_of_every_strategy_and_the_table_downloads() -> None:
    finance = {
        name: pd.DataFrame(
            {
                "replication": [0, 0, 1, 1],
                "financial_year": ["2023-24", "2024-25"] * 2,
                "total_gbp": [1e6 + k, 2e6 + k, 3e6 + k, 4e6 + k],
            }
        )
        for name, k in (("Baseline", 0.0), ("Variant", 5e5))
    }
    results = {name: fake_result({"cost_total_gbp": [0.0, 0.0]}, f) for name, f in finance.items()}
    years = strategies.costs_by_year(results)
    assert len(years) == 4
    for name in results:
        own = cost_by_year(finance[name])
        mine = years[years["strategy"] == name].drop(columns="strategy").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, own)
    wide = strategies.costs_by_year_display(years)
    assert list(wide.columns) == ["Baseline", "Variant"]
    assert list(wide.index) == ["2023-24", "2024-25"]
    assert wide.loc["2023-24", "Variant"].startswith("£2.5m (")  # mean of 1.5m and 3.5m
    # The downloads: the same numbers, as CSV and as an xlsx sheet.
    assert pd.read_csv(io.BytesIO(strategies.csv_bytes(years))).shape == years.shape
    book = openpyxl.load_workbook(io.BytesIO(strategies.xlsx_bytes({"cost by year": years})))
    sheet = book["cost by year"]
    assert [c.value for c in sheet[1]] == list(years.columns)
    assert sheet.max_row == len(years) + 1


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["A", "B"], None),
        (["A", " a "], "Two variants are called"),
        (["A", ""], "needs a name"),
        (["baseline"], "names the unedited config"),
    ],
)
def test_variant_names(names: list[str], problem: str | None) -> None:
    found = strategies.name_problem(names)
    assert (found is None) if problem is None else (problem in str(found))


def test_variants_are_added_named_and_removed_in_the_page() -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception
    at.button(key="add_variant").click().run()
    at.button(key="add_variant").click().run()
    assert at.session_state["variants"] == [1, 2, 3]
    # Each variant keeps its own levers.
    at.number_input(key=f"{SID}:v2:home:0:beds").set_value(5).run()
    at.text_input(key="variant:2:name").set_value("Bigger Gravel Hill").run()
    listing = next(m.value for m in at.markdown if "(the baseline)" in m.value)
    assert "**Bigger Gravel Hill**: Gravel Hill: 5 beds (was 4)" in listing
    assert "**Variant 1**: no edits yet" in listing and "**Variant 3**: no edits yet" in listing
    # Two variants of one name cannot run.
    at.text_input(key="variant:3:name").set_value("bigger gravel hill").run()
    assert any("Two variants are called" in e.value for e in at.error)
    assert "run" not in [b.key for b in at.button]
    at.button(key="variant:3:remove").click().run()
    assert at.session_state["variants"] == [1, 2] and not at.error
    assert at.number_input(key=f"{SID}:v2:home:0:beds").value == 5
    assert "run" in [b.key for b in at.button]


def test_a_shipped_experiment_lists_its_fixed_strategies() -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.sidebar.radio(key="source").set_value("Shipped experiment").run()
    at.sidebar.selectbox(key="experiment_name").set_value("coventry-2023-strategy.yaml").run()
    assert not at.exception and not at.error
    listing = next(m.value for m in at.markdown if "(the baseline)" in m.value)
    assert listing.startswith("- **base** (the baseline)")
    assert "**framework ends Dec 2024**: provision.framework.end: set 2025-01-01" in listing
    # No lever is offered: the strategies are fixed. An optimiser's spec is not offered.
    assert not [n for n in at.number_input if ":home:" in str(n.key)]
    assert "optimise-coventry.yaml" not in at.sidebar.selectbox(key="experiment_name").options
    # Run: every strategy against the experiment's baseline, on the experiment's seed.
    at.number_input(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    last = at.session_state["last"]
    assert list(last["results"]) == [
        "base",
        "no new homes",
        "no slippage",
        "framework ends Dec 2024",
    ]
    assert {r.seed for r in last["results"].values()} == {20231123}
    assert set(last["comparison"]["strategy"]) == {
        "no new homes",
        "no slippage",
        "framework ends Dec 2024",
    }
    assert any(m.value.startswith("- **no new homes** minus base, total cost") for m in at.markdown)
    assert "# Changes from the original config:" in last["yaml"]["framework ends Dec 2024"]


def test_the_report_of_every_strategy_is_the_experiment_report_of_their_runs() -> None:
    """The app's report download: the strategies' runs read as an experiment, summary first,
    each total-cost difference as the comparison table has it, and each strategy's changes in
    the appendix."""
    text, variant = edited_coventry()
    raw = parse_yaml(text, "coventry-2023.yaml")
    base = strategies.baseline_variant(raw, parse_scenario(raw))
    results = {v.name: run(v.scenario, replications=3, seed=11, workers=1) for v in (base, variant)}
    html = strategies.comparison_report_html(results, [base, variant])
    assert html.index("<h2>Summary</h2>") < html.index("Every strategy against the baseline")
    assert "EBD home 2: opens 1 Apr 2030 (was 1 Apr 2026)" in html
    assert "Baseline:\n  - no changes" in html
    row = strategies.comparison(results).set_index(["strategy", "metric"])
    diff = row.loc[(variant.name, "cost_total_gbp")]
    shown = display.difference("cost_total_gbp", diff["mean_diff"], diff["baseline_mean"])
    assert shown in html
