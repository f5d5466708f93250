"""Uncertain inputs: drawn per parameter draw on streams named by path, refused where they make
no sense, written by calibrate, and the variance split checked against M/G/inf theory."""

from __future__ import annotations

import copy
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from simulation.cli import main
from simulation.errors import ScenarioError
from simulation.runner import run
from simulation.scenario import parse_scenario
from simulation.stats import variance_split
from simulation.uncertain import drawn_values, realise

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "configs" / "minimal.yaml"


def _minimal() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MINIMAL.read_text())
    data["run"]["replications"] = 8
    data["run"]["horizon_years"] = 1
    return data


def _uncertain(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    need = out["demand"]["needs"]["ebd"]
    need["arrivals_per_year"] = {"dist": "gamma", "mean": 6, "cv": 0.3}
    need["length_of_stay_days"]["mean"] = {"dist": "lognormal", "mean": 365, "cv": 0.1}
    out["provision"]["spot"]["in_city_share"] = {"dist": "beta", "mean": 0.33, "sd": 0.05}
    out["provision"]["homes"][0]["weekly_running_cost_gbp"] = {
        "dist": "uniform",
        "min": 20000,
        "max": 23000,
    }
    return out


def test_means_validate_draws_vary_and_the_config_round_trips() -> None:
    s = parse_scenario(_uncertain(_minimal()))
    assert s.demand.needs["ebd"].arrivals_per_year == 6
    assert s.demand.needs["ebd"].length_of_stay_days.mean == 365
    assert {v.path for v in s.uncertain} == {
        "demand.needs.ebd.arrivals_per_year",
        "demand.needs.ebd.length_of_stay_days.mean",
        "provision.spot.in_city_share",
        "provision.homes[0].weekly_running_cost_gbp",
    }
    assert parse_scenario(s.to_dict()) == s  # the saved config replays, uncertainty included
    # What a worker or a Dask task receives (a pickle) draws the same values.
    assert drawn_values(pickle.loads(pickle.dumps(s)), 3, 5) == drawn_values(s, 3, 5)
    # Replications 0 and 1 share parameter draw 0 (two a draw by default); draw 1 differs.
    a, b, c = (realise(s, r, 5) for r in (0, 1, 2))
    assert a is b and not a.uncertain
    rate = [x.demand.needs["ebd"].arrivals_per_year for x in (a, c)]
    assert rate[0] != rate[1] and all(r > 0 for r in rate)
    assert 20000 <= a.provision.homes[0].weekly_running_cost_gbp <= 23000
    assert 0 < a.provision.spot.in_city_share < 1
    assert a.demand.needs["ebd"].length_of_stay_days.cv == 0.8  # only the mean is drawn
    assert a.step_down is s.step_down  # the rest is shared, not copied
    # Draws over many parameter draws follow their distributions.
    rates = [drawn_values(s, d, 0)["demand.needs.ebd.arrivals_per_year"] for d in range(1000)]
    assert abs(np.mean(rates) - 6) < 4 * 6 * 0.3 / math.sqrt(1000)
    assert abs(np.std(rates) / np.mean(rates) - 0.3) < 0.03


def test_draws_are_common_random_numbers_across_strategies() -> None:
    base = parse_scenario(_uncertain(_minimal()))
    other = _uncertain(_minimal())
    other["provision"]["homes"][0]["beds"] = 6  # a strategy changing another field
    other["provision"]["homes"].insert(
        0, {**other["provision"]["homes"][0], "name": "New home", "weekly_running_cost_gbp": 1}
    )  # and a home before Elm House: its draws follow its name, not its position
    alt = parse_scenario(other)
    for d in range(5):
        x, y = drawn_values(base, d, 9), drawn_values(alt, d, 9)
        assert y.pop("provision.homes[1].weekly_running_cost_gbp") == x.pop(
            "provision.homes[0].weekly_running_cost_gbp"
        )
        assert x == y
    # A config without uncertain values realises to itself: its event logs do not move.
    plain = parse_scenario(_minimal())
    assert realise(plain, 3, 1) is plain and not plain.uncertain


def test_run_is_reproducible_and_worker_independent() -> None:
    s = parse_scenario(_uncertain(_minimal()))
    one = run(s, replications=6, seed=3, workers=1)
    two = run(s, replications=6, seed=3, workers=2)
    again = run(s, replications=6, seed=3, workers=1)
    assert one.summary.equals(two.summary) and one.summary.equals(again.summary)
    assert one.finance.equals(two.finance)
    other = run(s, replications=6, seed=4, workers=1)
    assert not one.summary.equals(other.summary)
    stats = one.stats().set_index("metric")
    assert {"var_input", "var_chance", "var_input_share"} <= set(stats.columns)
    plain = run(parse_scenario(_minimal()), replications=3, seed=3).stats()
    assert (plain["var_input"].dropna() == 0).all()


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("provision", "homes", 0, "beds"), {"dist": "gamma", "mean": 4, "cv": 0.1}, "cannot be"),
        (("run", "start_date"), {"dist": "uniform", "min": 1, "max": 2}, "cannot be"),
        (("demand", "needs", "ebd", "arrivals_per_year"), {"dist": "poisson", "mean": 4}, "gamma"),
        (
            ("demand", "needs", "ebd", "arrivals_per_year"),
            {"dist": "gamma", "mean": 4, "cv": 0},
            "cv",
        ),
        (("provision", "spot", "in_city_share"), {"dist": "gamma", "mean": 0.3, "cv": 0.1}, "beta"),
        (
            ("provision", "spot", "in_city_share"),
            {"dist": "uniform", "min": 0.5, "max": 1.2},
            "1.2",
        ),
        (
            ("demand", "needs", "ebd", "length_of_stay_days", "cv"),
            {"dist": "gamma", "mean": 0.8, "cv": 0.1},
            "cannot be",
        ),
    ],
)
def test_bad_uncertain_values_are_one_line_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: tuple[str | int, ...],
    value: dict[str, Any],
    message: str,
) -> None:
    data = _minimal()
    node: Any = data
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    for argv in (["validate", str(cfg)], ["run", str(cfg), "-q", "-o", str(out)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        path = ".".join(str(p) for p in where).replace(".0.", "[0].")
        assert path in err and message in err, err
    assert not out.exists()
    with pytest.raises(ScenarioError):
        parse_scenario(data)


def _mginf(per_draw: int) -> dict[str, Any]:
    """Poisson arrivals at an uncertain rate (gamma), fixed stays of L days, an uncapped market."""
    return {
        "name": "mginf",
        "run": {
            "start_date": "2024-04-01",
            "horizon_years": 1,
            "replications": 320,
            "seed": 11,
            "replications_per_draw": per_draw,
        },
        "demand": {
            "needs": {
                "a": {
                    "arrivals_per_year": {"dist": "gamma", "mean": 60, "cv": 0.3},
                    "length_of_stay_days": {"dist": "fixed", "value": 146.1},
                    "age_at_entry_years": {"dist": "fixed", "value": 12},
                }
            }
        },
        "provision": {
            "spot": {"weekly_price_gbp": {"dist": "fixed", "value": 1000}, "in_city_share": 0.5}
        },
        "placement_policy": {"order": ["spot"]},
        "step_down": {"routes": {"a": {"home": 1.0}}},
    }


def test_variance_split_agrees_with_mginf_theory() -> None:
    # Given the rate lambda, the children in care at the end are Poisson(lambda L) (all stays
    # started in the last L days; L < the horizon): Var = E[lambda] L + Var(lambda) L^2.
    s = parse_scenario(_mginf(per_draw=4))
    result = run(s, workers=1)
    y = result.summary["children_end"].to_numpy(dtype=float)
    groups = result.summary["replication"].to_numpy() // 4
    years = 146.1 / 365.25
    chance = 60 * years  # E[lambda] L = 24
    inputs = (0.3 * 60 * years) ** 2  # Var(lambda) L^2 = 51.8
    split = variance_split(y, groups, 0.99)
    assert split.draws == 80
    assert split.share_low <= inputs / (inputs + chance) <= split.share_high
    # var_chance is a mean square on N - K degrees of freedom: a chi-square interval.
    from scipy import stats

    df = len(y) - split.draws
    lo, hi = (df * split.var_chance / stats.chi2.ppf(q, df) for q in (0.995, 0.005))
    assert lo <= chance <= hi
    assert 0.4 < split.share < 0.9  # and it is informative: theory says 0.68
    row = result.stats().set_index("metric").loc["children_end"]
    assert row["var_input_share"] == pytest.approx(split.share)
    assert row["ci_low"] <= chance <= row["ci_high"]  # E[stock] = E[lambda] L
    # The CI of the mean comes from the draws' means, so it is wider than the naive one.
    naive = 2 * 1.96 * float(np.std(y, ddof=1)) / math.sqrt(len(y))
    assert row["ci_high"] - row["ci_low"] > 1.2 * naive


def test_calibrate_writes_uncertain_values_that_validate_and_run(tmp_path: Path) -> None:
    synth = tmp_path / "synth"
    assert main(["synth-903", str(MINIMAL), "-o", str(synth)]) == 0
    out = tmp_path / "cal.yaml"
    args = [
        "calibrate",
        "--episodes",
        str(synth / "episodes.csv"),
        "--header",
        str(synth / "header.csv"),
    ]
    assert main([*args, "--as-of", "2028-03-31", "-o", str(out), "--no-report"]) == 0
    text = out.read_text()
    assert "arrivals_per_year: {dist: gamma" in text and "95% CI" in text
    s = parse_scenario(yaml.safe_load(text))
    assert any(v.path.endswith("arrivals_per_year") for v in s.uncertain)
    assert main(["validate", str(out)]) == 0
    assert main(["run", str(out), "-n", "4", "-q", "-o", str(tmp_path / "r")]) == 0
    point = tmp_path / "point.yaml"
    assert (
        main([*args, "--as-of", "2028-03-31", "-o", str(point), "--no-report", "--point-estimates"])
        == 0
    )
    assert not parse_scenario(yaml.safe_load(point.read_text())).uncertain


def test_app_levers_keep_uncertain_values() -> None:
    from simulation.app import levers

    s = parse_scenario(_uncertain(_minimal()))
    config = s.to_dict()
    edits = levers.current_levers(config)
    assert edits["needs"]["ebd"]["arrivals_per_year"] == 6
    assert edits["needs"]["ebd"]["los_mean_days"] == 365
    assert parse_scenario(levers.apply_levers(config, edits)) == s  # untouched: unchanged
    edits["needs"]["ebd"]["arrivals_per_year"] = 9
    edits["needs"]["ebd"]["los_mean_days"] = 730
    busier = parse_scenario(levers.apply_levers(config, edits))
    rate = next(v for v in busier.uncertain if v.path.endswith("arrivals_per_year")).dist
    stay = next(v for v in busier.uncertain if v.path.endswith("length_of_stay_days.mean")).dist
    assert (rate.mean, rate.cv, stay.mean, stay.cv) == (9, 0.3, 730, 0.1)


def test_paired_differences_treat_a_parameter_draw_as_one_observation() -> None:
    """Under uncertain inputs the replications table carries each replication's draw, and a
    paired comparison's CI is the t interval of the draws' mean differences (balanced draws),
    not of replications that share a draw as if they were independent."""
    from simulation import compare
    from simulation.stats import mean_ci

    base = parse_scenario(_uncertain(_minimal()))
    more = copy.deepcopy(_uncertain(_minimal()))
    more["provision"]["homes"][0]["beds"] += 1
    a = run(base, replications=12, seed=5, workers=1).summary
    b = run(parse_scenario(more), replications=12, seed=5, workers=1).summary
    assert list(a["draw"]) == [r // 2 for r in range(12)]
    row = compare.paired_differences(a, b, ["cost_total_gbp"]).iloc[0]
    d = (b["cost_total_gbp"] - a["cost_total_gbp"]).groupby(a["draw"]).mean()
    by_draw = mean_ci(d.to_numpy())
    assert row["mean_diff"] == pytest.approx(by_draw.mean)
    assert row["ci_high"] - row["mean_diff"] == pytest.approx(by_draw.half_width)
    # Without the draw column the same pairs read as 12 independent ones: another interval.
    naive = compare.paired_differences(
        a.drop(columns="draw"), b.drop(columns="draw"), ["cost_total_gbp"]
    ).iloc[0]
    assert naive["ci_high"] - naive["mean_diff"] != pytest.approx(by_draw.half_width)
