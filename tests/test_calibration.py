"""SSDA903 calibration: round trip, cleaning, malformed extracts, back-test and the CLI.

Real extracts are confidential, so every test generates its data: a scenario with known demand is
simulated, written out as a 903 extract by the synthetic generator, and calibrated back.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulation import load_scenario, parse_scenario, run
from simulation.calibration import Rules, calibrate, read_extract, read_providers, synth_903
from simulation.calibration.backtest import backtest
from simulation.calibration.cleaning import clean_episodes
from simulation.calibration.codes import place_code_problem
from simulation.calibration.estimate import kaplan_meier
from simulation.calibration.readers import EPISODE_COLUMNS, read_episodes
from simulation.calibration.writer import render
from simulation.cli import main

TRUE_RATE = {"ebd": 24.0, "disability": 8.0}
TRUE_MEAN_LOS = {"ebd": 300.0, "disability": 500.0}
AS_OF = dt.date(2024, 3, 31)


def truth_config(seed: int = 3) -> dict[str, Any]:
    """Two needs with different stays, a council home and spot; six years from April 2018."""
    return {
        "name": "truth",
        "run": {"start_date": "2018-04-01", "horizon_years": 6, "seed": seed},
        "demand": {
            "needs": {
                "ebd": {
                    "arrivals_per_year": TRUE_RATE["ebd"],
                    "seasonality": {"jun": 1.3},
                    "length_of_stay_days": {"dist": "lognormal", "mean": 300, "cv": 0.8},
                    "age_at_entry_years": {"dist": "triangular", "min": 10, "mode": 14, "max": 17},
                },
                "disability": {
                    "arrivals_per_year": TRUE_RATE["disability"],
                    "length_of_stay_days": {"dist": "gamma", "mean": 500, "cv": 0.6},
                    "age_at_entry_years": {"dist": "triangular", "min": 6, "mode": 11, "max": 16},
                },
            },
            "initial_cohort": [
                {
                    "need": "ebd",
                    "provision": "internal",
                    "count": 3,
                    "elapsed_days": {"dist": "uniform", "min": 0, "max": 400},
                },
                {
                    "need": "ebd",
                    "provision": "spot",
                    "count": 12,
                    "elapsed_days": {"dist": "uniform", "min": 0, "max": 400},
                },
                {
                    "need": "disability",
                    "provision": "spot",
                    "count": 8,
                    "elapsed_days": {"dist": "uniform", "min": 0, "max": 700},
                },
            ],
        },
        "provision": {
            "homes": [
                {"name": "Elm House", "beds": 4, "needs": ["ebd"], "weekly_running_cost_gbp": 20000}
            ],
            "spot": {
                "search_days": {"dist": "fixed", "value": 0},
                "weekly_price_gbp": {"dist": "fixed", "value": 6000},
                "in_city_share": 0.3,
            },
        },
        "placement_policy": {"order": ["internal", "spot"]},
        "step_down": {
            "routes": {
                "ebd": {"foster": 0.3, "home": 0.3, "supported": 0.3, "other": 0.1},
                "disability": {"foster": 0.2, "home": 0.3, "supported": 0.2, "other": 0.3},
            }
        },
    }


@pytest.fixture(scope="module")
def extract_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("ssda903")
    return synth_903(parse_scenario(truth_config()), seed=3).write(str(folder))


def _extract(paths: dict[str, str]) -> tuple[Any, Rules]:
    return read_extract(paths["episodes"], paths["header"]), Rules(
        providers=read_providers(paths["providers"])
    )


# ---------------------------------------------------------------------------------------------
# Round trip


def test_round_trip_recovers_rates_and_mean_stay(extract_files: dict[str, str]) -> None:
    extract, rules = _extract(extract_files)
    cal = calibrate(extract, AS_OF, rules)
    assert cal.window_start == dt.date(2018, 4, 1)
    assert cal.needs == ["disability", "ebd"]
    for need in cal.needs:
        rate, mean = cal.arrivals[need].rate, cal.los[need].best.mean
        assert rate.low <= TRUE_RATE[need] <= rate.high, (need, rate)
        assert mean.low <= TRUE_MEAN_LOS[need] <= mean.high, (need, mean)
        # The intervals are informative, not merely wide.
        assert rate.high / rate.low < 2.0 and mean.high / mean.low < 1.6
    # The cleaning undid the generator's untidiness.
    assert cal.cleaning["duplicates_dropped"] > 0
    assert cal.cleaning["status_only_merged"] > 0
    assert cal.cleaning["overlaps_trimmed"] > 0
    # The council home and its children come through the providers file.
    (home,) = cal.units
    assert (home.name, home.kind, home.beds, home.needs) == ("Elm House", "internal", 4, ["ebd"])
    assert 0 < sum(c.unit == "Elm House" for c in cal.cohort) <= 4


def test_cohort_matches_the_simulation() -> None:
    """Children in residential care on the as-of date = those the simulation had placed."""
    from simulation.events import EventKind
    from simulation.model import simulate

    scenario = parse_scenario(truth_config(seed=5))
    synth = synth_903(scenario, seed=5, messiness=0.0)
    rep = simulate(scenario, 0, 5)
    day = (AS_OF - scenario.run.start_date).days + 1  # the run start of the calibrated scenario
    log = rep.log
    placed = set(log.child[(log.kind == EventKind.PLACE) & (log.time < day)].tolist())
    gone = set(log.child[(log.kind == EventKind.EXIT) & (log.time < day)].tolist())
    expected = len(placed - gone)
    eps = synth.episodes
    assert (eps["DEC"] == "").sum() >= expected  # open episodes include non-residential ones
    resid_open = eps[(eps["DEC"] == "") & eps["PLACE"].isin(["K2", "R1"])]["CHILD"].nunique()
    assert resid_open == expected


def test_scenario_text_validates_and_comments_every_estimate(
    extract_files: dict[str, str], tmp_path: Path
) -> None:
    extract, rules = _extract(extract_files)
    cal = calibrate(extract, AS_OF, rules)
    text, scenario = render(cal, "round-trip")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert load_scenario(path) == scenario
    assert scenario.run.start_date == AS_OF + dt.timedelta(days=1)
    assert len(scenario.demand.initial_cohort) == len(cal.cohort)
    lines = text.splitlines()
    for key in ("arrivals_per_year", "length_of_stay_days", "age_at_entry_years"):
        for line in (ln for ln in lines if ln.strip().startswith(key + ":")):
            assert "n=" in line and "#" in line, line
    for key in ("arrivals_per_year", "length_of_stay_days"):
        for line in (ln for ln in lines if ln.strip().startswith(key + ":")):
            assert "95% CI" in line, line
    assert "PLACEHOLDER" in text  # prices are not in the 903, and say so
    # A calibrated scenario runs.
    result = run(scenario, replications=2, seed=1, workers=1)
    assert len(result.summary) == 2


def test_without_providers_file_everyone_is_spot(extract_files: dict[str, str]) -> None:
    extract = read_extract(extract_files["episodes"], extract_files["header"])
    cal = calibrate(extract, AS_OF)
    text, scenario = render(cal, "no-providers")
    assert scenario.provision.homes == [] and scenario.placement_policy.order == ["spot"]
    assert {e.provision for e in scenario.demand.initial_cohort} == {"spot"}
    assert "No providers file" in text
    # Needs still come from the category of need (N2 = disability).
    assert cal.needs == ["disability", "ebd"]


# ---------------------------------------------------------------------------------------------
# Codes, cleaning, Kaplan-Meier


def test_placement_codes_are_versioned_by_return_year() -> None:
    assert place_code_problem("H5", 2022, 2023) is None
    assert place_code_problem("K3", 2024, 2025) is None
    assert place_code_problem("H5", 2024, 2024) is None  # still valid in 2024-25
    assert place_code_problem("H5", 2024, 2025) is None  # open across the change: old code ok
    h5 = place_code_problem("H5", 2025, 2025)
    assert h5 is not None and "valid until the 2024-25 return" in h5 and "K3" in h5
    k3 = place_code_problem("K3", 2021, 2022)
    assert k3 is not None and "valid from the 2024-25 return" in k3
    unknown = place_code_problem("K9", 2023, 2023)
    assert unknown is not None and "unknown placement code 'K9'" in unknown


def _episodes_csv(path: Path, rows: list[list[str]]) -> Path:
    pd.DataFrame(rows, columns=list(EPISODE_COLUMNS)).to_csv(path, index=False)
    return path


def test_cleaning_like_the_demand_models(tmp_path: Path) -> None:
    rows = [
        # child 1: an open copy from last year's return and the closed one (same start)
        ["1", "01/05/2021", "S", "C2", "N1", "K2", "PR4", "", "", "", "CV1 1", "B1 1", "SC1"],
        [
            "1",
            "01/05/2021",
            "S",
            "C2",
            "N1",
            "K2",
            "PR4",
            "10/06/2021",
            "X1",
            "",
            "CV1 1",
            "B1 1",
            "SC1",
        ],
        # ... a legal-status-only change the day it ended, same home: merged
        [
            "1",
            "10/06/2021",
            "L",
            "C1",
            "N1",
            "K2",
            "PR4",
            "01/09/2021",
            "E4A",
            "",
            "CV1 1",
            "B1 1",
            "SC1",
        ],
        # child 2: an overlap of 3 days with the next episode: trimmed
        [
            "2",
            "01/01/2022",
            "S",
            "C2",
            "N1",
            "U6",
            "PR1",
            "04/02/2022",
            "X1",
            "",
            "CV1 1",
            "CV1 2",
            "",
        ],
        ["2", "01/02/2022", "P", "C2", "N1", "K2", "PR1", "", "", "", "CV1 1", "CV1 2", "SC2"],
        # a row without a child: dropped with a warning
        ["", "01/02/2022", "P", "C2", "N1", "K2", "PR1", "", "", "", "", "", ""],
    ]
    path = _episodes_csv(tmp_path / "e.csv", rows)
    episodes, issues = read_episodes(path)
    assert [(i.row, i.column, i.severity) for i in issues] == [(7, "CHILD", "warning")]
    cleaned = clean_episodes(episodes, str(path))
    ep = cleaned.episodes
    one = ep[ep["CHILD"] == "1"]
    assert len(one) == 1
    assert one["DEC"].iloc[0] == pd.Timestamp("2021-09-01") and one["REC"].iloc[0] == "E4A"
    two = ep[ep["CHILD"] == "2"]
    assert two["DEC"].iloc[0] == pd.Timestamp("2022-02-01")
    (warning,) = cleaned.issues
    assert (warning.row, warning.column, warning.severity) == (5, "DEC", "warning")
    assert "overlap trimmed" in warning.message
    assert cleaned.stats["duplicates_dropped"] == 1 and cleaned.stats["status_only_merged"] == 1


def test_kaplan_meier_without_censoring_is_the_empirical_survival() -> None:
    t = np.array([5.0, 1.0, 3.0, 3.0, 8.0])
    km = kaplan_meier(t, np.ones(5, dtype=bool), np.zeros(5))
    assert km["days"].tolist() == [1.0, 3.0, 5.0, 8.0]
    np.testing.assert_allclose(km["survival"], [0.8, 0.4, 0.2, 0.0])
    # One censored at 4, one entering late at 2 (not at risk at day 1): at risk 4, 4, 2, 1.
    km = kaplan_meier(
        np.array([1.0, 3, 4, 6, 7]), np.array([1, 1, 0, 1, 1], bool), np.array([0, 2, 0, 0, 0.0])
    )
    assert km["at_risk"].tolist() == [4, 4, 2, 1]
    np.testing.assert_allclose(km["survival"], [3 / 4, 9 / 16, 9 / 32, 0.0])


# ---------------------------------------------------------------------------------------------
# Malformed extracts: a clear message naming file, row and column; never a traceback


@pytest.fixture
def small_extract(tmp_path: Path) -> dict[str, Path]:
    cfg = truth_config()
    cfg["run"]["horizon_years"] = 2
    synth = synth_903(parse_scenario(cfg), seed=1, messiness=0.0)
    paths = synth.write(str(tmp_path))
    return {k: Path(v) for k, v in paths.items()}


def _calibrate(paths: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "calibrate",
        "--episodes",
        str(paths["episodes"]),
        "--header",
        str(paths["header"]),
        "--as-of",
        "2020-03-31",
        "-o",
        str(out),
        *extra,
    ]


def _first_k2_row(episodes: pd.DataFrame) -> int:
    return int(np.flatnonzero((episodes["PLACE"] == "K2").to_numpy())[0])


@pytest.mark.parametrize(
    "case",
    [
        "missing column",
        "bad date",
        "unknown code",
        "code of another year",
        "header without DOB",
    ],
)
def test_malformed_extract_names_file_row_and_column(
    case: str,
    small_extract: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ep = pd.read_csv(small_extract["episodes"], dtype=str, keep_default_na=False)
    hd = pd.read_csv(small_extract["header"], dtype=str, keep_default_na=False)
    i = _first_k2_row(ep)
    row = i + 2  # the row as a spreadsheet shows it (the header is row 1)
    file, expect = "episodes.csv", ""
    if case == "missing column":
        ep = ep.drop(columns=["PLACE"])
        expect = "row 1, column PLACE: required column of the Episodes table is missing"
    elif case == "bad date":
        ep.loc[i, "DECOM"] = "31/02/2019"
        expect = f"row {row}, column DECOM: '31/02/2019' is not a date"
    elif case == "unknown code":
        ep.loc[i, "PLACE"] = "K9"
        expect = f"row {row}, column PLACE: unknown placement code 'K9'"
    elif case == "code of another year":
        ep.loc[i, "PLACE"] = "K3"  # registered supported accommodation, a 2024-25 code, in 2018
        expect = f"row {row}, column PLACE: placement 'K3' (Registered supported accommodation) is"
    elif case == "header without DOB":
        hd = hd.drop(columns=["DOB"])
        file, expect = "header.csv", "row 1, column DOB: required column of the Header"
    ep.to_csv(small_extract["episodes"], index=False)
    hd.to_csv(small_extract["header"], index=False)
    out = tmp_path / "out.yaml"
    rc = main(_calibrate(small_extract, out))
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert err.startswith("error: ")
    assert f"{file}, {expect}" in err, err
    assert not out.exists() and not (tmp_path / "out-calibration").exists()


def test_trimmed_overlap_is_a_warning_and_an_error_when_strict(
    small_extract: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ep = pd.read_csv(small_extract["episodes"], dtype=str, keep_default_na=False)
    same_next = (ep["CHILD"] == ep["CHILD"].shift(-1)) & (ep["DEC"] != "")
    nxt_open = ep["DEC"].shift(-1) == ""
    i = int(np.flatnonzero((same_next & nxt_open).to_numpy())[0])
    dec = dt.datetime.strptime(ep.loc[i, "DEC"], "%d/%m/%Y").date()
    ep.loc[i, "DEC"] = (dec + dt.timedelta(days=3)).strftime("%d/%m/%Y")
    ep.to_csv(small_extract["episodes"], index=False)
    out = tmp_path / "s.yaml"
    assert main(_calibrate(small_extract, out, "--strict", "--no-report")) == 2
    err = capsys.readouterr().err
    assert f"error: {small_extract['episodes']}, row {i + 2}, column DEC: episode ends" in err
    assert not out.exists()
    assert main(_calibrate(small_extract, out, "--no-report")) == 0
    err = capsys.readouterr().err
    assert f"warning: {small_extract['episodes']}, row {i + 2}, column DEC" in err
    assert "overlap trimmed" in err and out.exists()


def test_bad_flags_and_files_exit_2(
    small_extract: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.yaml"
    assert main(_calibrate(small_extract, out, "--residential-codes", "K2,XX")) == 2
    assert "--residential-codes: unknown placement code(s) XX" in capsys.readouterr().err
    bad_as_of = _calibrate(small_extract, out)
    bad_as_of[bad_as_of.index("--as-of") + 1] = "31/03/2020"
    assert main(bad_as_of) == 2
    assert "--as-of" in capsys.readouterr().err
    missing = _calibrate(small_extract, out)
    missing[missing.index("--header") + 1] = str(tmp_path / "nope.csv")
    assert main(missing) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
    prov = tmp_path / "providers.csv"
    prov.write_text("URN,provision\nSC1,council\n")
    assert main(_calibrate(small_extract, out, "--providers", str(prov))) == 2
    assert "providers.csv, row 2, column provision: 'council' is not a provision type" in (
        capsys.readouterr().err
    )
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Back-test and the command line end to end


def test_backtest_band_covers_at_least_85_percent_of_months() -> None:
    """Calibrate on four years, forecast two: the P5-P95 band holds the observed months.

    One council's two-year path is strongly autocorrelated (a bad quarter makes several months
    fall outside together), so coverage is pooled over five independent synthetic councils.
    """
    covered, months = 0, 0
    for seed in range(1, 6):
        synth = synth_903(parse_scenario(truth_config(seed)), seed=seed)
        extract = _extract_from_frames(synth.episodes, synth.header)
        rules = Rules(providers=_providers_from_frame(synth.providers))
        result = backtest(
            extract,
            dt.date(2022, 3, 31),
            rules=rules,
            replications=100,
            parameter_draws=10,
            seed=seed,
        )
        assert len(result.months) >= 23
        covered += int(result.months["covered"].sum())
        months += len(result.months)
    assert covered / months >= 0.85, covered / months


def _extract_from_frames(episodes: pd.DataFrame, header: pd.DataFrame) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        e, h = Path(d) / "episodes.csv", Path(d) / "header.csv"
        episodes.to_csv(e, index=False)
        header.to_csv(h, index=False)
        return read_extract(e, h)


def _providers_from_frame(frame: pd.DataFrame) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "providers.csv"
        frame.to_csv(p, index=False)
        return read_providers(p)


def test_cli_synth_calibrate_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "truth.yaml"
    import yaml

    cfg = truth_config()
    cfg["run"]["horizon_years"] = 5
    config.write_text(yaml.safe_dump(cfg))
    data = tmp_path / "data"
    assert main(["synth-903", str(config), "-o", str(data), "--seed", "2"]) == 0
    assert {p.name for p in data.iterdir()} == {
        ".sufficiency-results",
        "episodes.csv",
        "header.csv",
        "providers.csv",
        "truth.yaml",
    }
    out = tmp_path / "configs" / "my-la.yaml"
    args = [
        "calibrate",
        "--episodes",
        str(data / "episodes.csv"),
        "--header",
        str(data / "header.csv"),
        "--providers",
        str(data / "providers.csv"),
        "--as-of",
        "2023-03-31",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "entries/year" in printed and "children in residential care" in printed
    scenario = load_scenario(out)
    assert scenario.name == "my-la" and scenario.provision.homes[0].name == "Elm House"
    report = tmp_path / "configs" / "my-la-calibration"
    names = {p.name for p in report.iterdir()}
    assert {
        "report.html",
        "los-ebd.png",
        "arrivals-ebd.png",
        "km-ebd.csv",
        "estimates.json",
    } <= names
    assert main(args) == 2  # never overwritten silently
    assert "already exists" in capsys.readouterr().err
    bt = tmp_path / "bt"
    assert (
        main(
            [
                "backtest",
                "--episodes",
                str(data / "episodes.csv"),
                "--header",
                str(data / "header.csv"),
                "--as-of",
                "2022-03-31",
                "-n",
                "20",
                "--draws",
                "2",
                "-o",
                str(bt),
            ]
        )
        == 0
    )
    assert "coverage of the P5-P95 band" in capsys.readouterr().out
    assert {p.name for p in bt.iterdir()} == {
        ".sufficiency-results",
        "backtest.csv",
        "backtest.png",
        "scenario.yaml",
    }
