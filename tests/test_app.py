"""The what-if app, driven headless through Streamlit's AppTest, and its pure lever functions."""

from __future__ import annotations

import copy
import datetime as dt
import io
import multiprocessing
import zipfile
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from simulation import load_scenario, parse_scenario
from simulation.app import levers, strategies
from simulation.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "simulation" / "app" / "main.py"
COVENTRY = ROOT / "configs" / "coventry-2023.yaml"
SID = "shipped:coventry-2023.yaml"
EBD2 = 8  # EBD home 2, planned to open 1 April 2026


def start_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key="replications").set_value(4).run()
    return at


def comparison_row(at: AppTest, label: str, strategy: str = "Variant 1") -> dict[str, str]:
    table = at.table[0].value.reset_index()
    row = table[(table["Metric (whole run)"] == label) & (table["Strategy"] == strategy)]
    assert len(row) == 1, f"no row {label!r} of {strategy!r}"
    return {str(k): str(v) for k, v in row.iloc[0].items()}


def test_opening_date_changes_the_result() -> None:
    before = multiprocessing.get_context().get_start_method()
    at = start_app()
    assert at.date_input(key=f"{SID}:v1:home:{EBD2}:open").value == dt.date(2026, 4, 1)
    # Unedited: the variant is the baseline, so nothing differs.
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    assert any("no edits yet: equals the baseline" in m.value for m in at.markdown)
    assert comparison_row(at, "Council homes' running cost")["Difference (95% CI)"] == (
        "£0.0m (£0.0m to £0.0m)"
    )
    # The simulation ran in worker processes, on every core (at least two), and left this
    # process's way of starting processes as it was.
    assert at.session_state["last"]["results"]["Variant 1"].workers >= 2
    assert multiprocessing.get_context().get_start_method() == before
    # Open EBD home 2 four years late: four years less running cost, fewer usable beds.
    at.date_input(key=f"{SID}:v1:home:{EBD2}:open").set_value(dt.date(2030, 4, 1)).run()
    assert any("EBD home 2: opens 1 Apr 2030 (was 1 Apr 2026)" in m.value for m in at.markdown)
    # The results of the earlier settings are gone, not shown under a warning.
    assert not at.table and "last" not in at.session_state
    assert any("settings changed" in i.value for i in at.info)
    at.button(key="run").click().run()
    assert not at.exception and not at.error and not at.warning
    running = comparison_row(at, "Council homes' running cost")
    assert running["Difference (95% CI)"].startswith("-£")
    beds = comparison_row(at, "Usable council-home bed-days")
    assert beds["Difference (95% CI)"].startswith("-5,844 ")  # 4 beds x 1,461 days
    assert beds["P(better)"] == "0%"  # fewer usable beds is never better
    headline = next(m.value for m in at.markdown if "minus Baseline, total cost" in m.value)
    assert "1 Apr 2023 to 31 Mar 2033" in headline and "P(Variant 1 cheaper)" in headline
    assert any("nominal prices" in c.value for c in at.caption)
    # The cost by financial year: one column per strategy, ten financial years.
    years = at.table[1].value
    assert list(years.columns) == ["Baseline", "Variant 1"] and len(years) == 10
    # The new homes' openings: EBD home 2 planned four years apart, never open before its plan.
    openings = at.table[2].value.reset_index()
    ebd2 = openings[openings["Home"] == "EBD home 2"].set_index("Strategy")
    assert ebd2.loc["Baseline", "Planned opening"] == "1 Apr 2026"
    assert ebd2.loc["Variant 1", "Planned opening"] == "1 Apr 2030"
    simulated = ebd2.loc["Variant 1", "Simulated opening: median (5th to 95th percentile)"]
    assert int(simulated.split(" (")[0].split()[-1]) >= 2030
    assert set(openings["Strategy"]) == {"Baseline", "Variant 1"}
    # Downloads: the tables, the figures, each strategy's YAML, a report, the result files.
    labels = [d.label for d in at.get("download_button")]
    for label in ("Comparison (CSV)", "Both tables (xlsx)", "Figures (HTML)", "YAML: Variant 1"):
        assert label in labels, labels
    state = at.session_state["last"]
    again = parse_scenario(yaml.safe_load(state["yaml"]["Variant 1"]))
    assert again.provision.homes[EBD2].open_date == dt.date(2030, 4, 1)
    zipped = strategies.results_zip(state["results"], state["comparison"])
    names = zipfile.ZipFile(io.BytesIO(zipped)).namelist()
    assert "comparison.csv" in names and "1-Variant-1/replications.parquet" in names
    assert "0-Baseline/scenario.yaml" in names
    # Switching config clears the results too.
    at.sidebar.selectbox(key="config_name").set_value("minimal.yaml").run()
    assert not at.table and not at.exception


def test_a_click_over_the_work_budget_is_refused_before_running() -> None:
    minimal = yaml.safe_load((ROOT / "configs" / "minimal.yaml").read_text())
    for need in minimal["demand"]["needs"].values():
        need["arrivals_per_year"] = 2_000.0
    scenario = parse_scenario(minimal)
    assert levers.click_budget_problem([scenario, scenario], 2) is None
    problem = levers.click_budget_problem([scenario, scenario], 1000)
    assert problem is not None and "at most" in problem and "children" in problem
    # In the page: the same message, and nothing runs.
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.sidebar.radio(key="source").set_value("Upload a YAML file").run()
    upload = ("big.yaml", yaml.safe_dump(minimal).encode(), "application/x-yaml")
    at.sidebar.get("file_uploader")[0].set_value(upload).run()
    at.number_input(key="replications").set_value(1000).run()
    at.button(key="run").click().run()
    assert not at.exception
    assert any("more than the app's limit" in e.value for e in at.error)
    assert "last" not in at.session_state and "runs" not in at.session_state


def test_bad_upload_is_a_message_not_a_traceback() -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.sidebar.radio(key="source").set_value("Upload a YAML file").run()
    bad = b"name: x\nrun: {start_date: 2024-01-01, horizon_years: -1}\n"
    at.sidebar.get("file_uploader")[0].set_value(("bad.yaml", bad, "application/x-yaml")).run()
    assert not at.exception
    message = at.error[0].value
    assert "The uploaded config is not valid" in message and "bad.yaml" in message
    assert "Traceback" not in message and "/" not in message.split("bad.yaml")[0]


def test_apply_levers_round_trip_and_scaling() -> None:
    scenario = load_scenario(COVENTRY)
    cfg = scenario.to_dict()
    base = levers.current_levers(cfg)
    assert parse_scenario(levers.apply_levers(cfg, base)) == scenario
    assert levers.changed_levers(base, base, cfg) == []
    edits = levers.current_levers(cfg)
    edits["homes"][EBD2]["open_date"] = dt.date(2027, 1, 1)
    edits["homes"][0]["beds"] = 5
    edits["block_beds"][0] = 12
    edits["needs"]["ebd"]["arrivals_per_year"] = 50.0
    edits["needs"]["ebd"]["los_mean_days"] = 210.0
    new = parse_scenario(levers.apply_levers(cfg, edits))
    assert new.provision.homes[EBD2].open_date == dt.date(2027, 1, 1)
    assert new.provision.homes[0].beds == 5 and new.provision.block_contracts[0].beds == 12
    ebd = new.demand.needs["ebd"]
    assert ebd.arrivals_per_year == 50.0
    assert ebd.length_of_stay_days.mean == pytest.approx(210.0)
    assert len(levers.changed_levers(base, edits, cfg)) == 5
    assert cfg == scenario.to_dict()  # the baseline is never mutated


@pytest.mark.parametrize(
    "dist",
    [
        {"dist": "lognormal", "mean": 400, "cv": 0.9},
        {"dist": "gamma", "mean": 900, "cv": 0.6},
        {"dist": "exponential", "mean": 300},
        {"dist": "weibull", "shape": 1.5, "scale": 400},
        {"dist": "triangular", "min": 30, "mode": 200, "max": 700},
        {"dist": "uniform", "min": 30, "max": 700},
        {"dist": "fixed", "value": 365},
        {"dist": "empirical", "values": [100, 200, 900], "weights": [1, 2, 1]},
    ],
)
def test_scaling_a_stay_scales_its_mean(dist: dict[str, object]) -> None:
    from pydantic import TypeAdapter

    from simulation.distributions import Distribution

    adapter: TypeAdapter[Distribution] = TypeAdapter(Distribution)
    before = adapter.validate_python(dist).mean
    assert levers.mean_of(dist) == pytest.approx(before)
    after = adapter.validate_python(levers.scale_distribution(dist, 1.5)).mean
    assert after == pytest.approx(1.5 * before)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"run: [unclosed", "YAML syntax"),
        (b"\xff\xfe", "not UTF-8"),
        (b"!!python/object/apply:os.system ['true']", "YAML syntax"),
        (b"x" * (levers.MAX_UPLOAD_BYTES + 1), "too large"),
        (b"- a list", "a scenario must be a mapping"),
        (b"name: a\nname: b\n", "given twice"),
    ],
    ids=["syntax", "encoding", "python-tag", "size", "not-a-mapping", "duplicate-key"],
)
def test_uploads_are_data_only(content: bytes, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        levers.scenario_from_upload(content, "../../etc/evil.yaml")


def test_shipped_configs_are_offered_by_name() -> None:
    shipped = levers.shipped_configs()
    assert "coventry-2023.yaml" in shipped and "minimal.yaml" in shipped


def test_invalid_edits_are_listed_in_the_page() -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    # 9 children of the cohort live in the block contract on day one: 5 beds cannot hold them.
    at.number_input(key=f"{SID}:v1:block:0:beds").set_value(5).run()
    assert not at.exception
    message = at.error[0].value
    assert message.startswith("The edits of Variant 1 make an invalid scenario")
    assert "demand.initial_cohort[1].count" in message and "Traceback" not in message
    assert "run" not in [b.key for b in at.button]  # nothing to run until the edits are valid


def test_turnover_and_lifecycle_levers() -> None:
    """Staff turnover is a lever when the config models staffing; moving a new home's opening
    to the start drops its project stages, and the result still validates."""
    cfg = load_scenario(COVENTRY).to_dict()
    base = levers.current_levers(cfg)
    assert base["staff_turnover_per_year"] == cfg["staffing"]["turnover_per_year"]
    edits = copy.deepcopy(base)
    edits["staff_turnover_per_year"] = 0.6
    new_home = next(i for i, h in enumerate(cfg["provision"]["homes"]) if h.get("lifecycle"))
    edits["homes"][new_home]["open_date"] = None
    out = levers.apply_levers(cfg, edits)
    assert out["staffing"]["turnover_per_year"] == 0.6
    assert "lifecycle" not in out["provision"]["homes"][new_home]
    parse_scenario(out)
    assert any("staff turnover: 60%" in line for line in levers.changed_levers(base, edits, cfg))
