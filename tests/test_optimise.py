"""Bed-mix optimiser: spec validation, Erlang-B, the Erlang screen, the simulated shortlist on
common random numbers and its efficient frontier."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import erlang_b as erlang_b_reference
from helpers import exponential, pool_config, scenario
from scipy import special, stats

from simulation.errors import ScenarioError
from simulation.experiments.optimise import (
    RiskSpec,
    load_optimisation,
    pareto_front,
    run_optimisation,
    screen,
    wilson_interval,
)
from simulation.queueing import (
    erlang_b,
    erlang_b_array,
    loss_system,
    overflow_variance,
    servers_for_blocking,
)

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "configs" / "minimal.yaml"


# -- Erlang-B ---------------------------------------------------------------------------------


def erlang_b_closed_form(c: int, a: float) -> float:
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


@pytest.mark.parametrize(("c", "a"), [(0, 1.0), (1, 0.5), (2, 1.0), (5, 3.2), (12, 10.0), (30, 25)])
def test_erlang_b_closed_form(c: int, a: float) -> None:
    assert erlang_b(c, a) == pytest.approx(erlang_b_closed_form(c, a), rel=1e-12)
    assert erlang_b(c, a) == pytest.approx(erlang_b_reference(c, a), rel=1e-12)


def test_erlang_b_scipy_and_large() -> None:
    # B(c, a) = P(N = c) / P(N <= c) for N ~ Poisson(a): scipy's Poisson, in logs.
    for c, a in [(10, 8.0), (60, 55.0), (400, 380.0), (1000, 900.0)]:
        log_b = stats.poisson.logpmf(c, a) - stats.poisson.logcdf(c, a)
        assert erlang_b(c, a) == pytest.approx(math.exp(log_b), rel=1e-9)
    # Also against the incomplete gamma form: P(N <= c) = Q(c + 1, a).
    c, a = 50, 47.5
    ref = stats.poisson.pmf(c, a) / special.gammaincc(c + 1, a)
    assert erlang_b(c, a) == pytest.approx(ref, rel=1e-9)
    assert erlang_b(5, 0.0) == 0.0 and erlang_b(0, 3.0) == 1.0


def test_erlang_b_vectorised_and_inverse() -> None:
    c = np.array([[1, 4, 9], [20, 0, 36]])
    a = np.array([[0.5, 3.0, 7.5], [18.0, 2.0, 30.0]])
    got = erlang_b_array(c, a)
    want = np.vectorize(erlang_b)(c, a)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert erlang_b_array(10, [1.0, 5.0]).shape == (2,)
    k = servers_for_blocking(20.0, 0.01)
    assert erlang_b(k, 20.0) <= 0.01 < erlang_b(k - 1, 20.0)
    with pytest.raises(ValueError):
        erlang_b(-1, 2.0)


def test_loss_system_extensions() -> None:
    b, pi = loss_system(12, 10.0)
    assert b == pytest.approx(erlang_b(12, 10.0), rel=1e-12)
    assert pi.sum() == pytest.approx(1.0)
    # Fewer arrivals taken (matching) loses more; waiting for a bed (patience) loses fewer.
    admit = np.full(12, 0.8)
    admit[0] = 1.0
    assert loss_system(12, 10.0, admit)[0] > b
    assert loss_system(12, 10.0, patience=0.1)[0] < b
    # Overflow is peaked: variance above its mean (Riordan).
    assert overflow_variance(12, 10.0) > 10.0 * b


# -- spec validation ---------------------------------------------------------------------------


def write(tmp_path: Path, name: str = "opt", **changes: Any) -> Path:
    """A tiny optimisation on the minimal config (2-year horizon: milliseconds a replication)."""
    doc: dict[str, Any] = {
        "name": name,
        "base": str(MINIMAL),
        "replications": 12,
        "shortlist": 3,
        "risk": {"spot_stock_above": 4, "max_probability": 0.3},
        "overrides": [{"path": "run.horizon_years", "set": 2}],
        "search": [
            {"name": "beds", "path": "provision.homes[name=Elm House].beds", "set": [3, 4, 6, 8]}
        ],
    }
    doc.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"shortlist": 0}, "shortlist:"),
        ({"objective": "happiness"}, "objective:"),
        ({"risk": {"spot_stock_above": 3}}, "risk: "),
        (
            {"risk": {"spot_stock_above": 3, "max_probability": 0.1, "out_of_city_share_max": 0.5}},
            "risk: ",
        ),
        ({"risk": {"out_of_city_share_max": 0.5, "max_probability": 0.1}}, "risk: "),
        ({"risk": {"spot_stock_above": 3, "max_probability": 1.5}}, "risk.max_probability"),
        (
            {"risk": {"spot_stock_above": 3, "max_probability": 0.1, "from_date": "2040-01-01"}},
            "risk.from_date",
        ),
        ({"search": []}, "search:"),
        (
            {"search": [{"path": "provision.homes[name=Nope].beds", "set": [2]}]},
            "search[0].set[0] (provision.homes[name=Nope].beds)",
        ),
        (
            {"search": [{"path": "provision.homes[name=Elm House].bedz", "set": [2]}]},
            "search[0].set[0] (provision.homes[name=Elm House].bedz)",
        ),
        (
            {"search": [{"path": "provision.homes[name=Elm House].beds", "set": [-2]}]},
            "search[0].set[0] (provision.homes[name=Elm House].beds)",
        ),
        (
            {"search": [{"path": "run.horizon_years", "set": ["remove"]}]},
            "search[0].set[0] (run.horizon_years)",
        ),
        ({"search": [{"path": "provision.homes[0].beds", "set": [2], "scale": [2]}]}, "search[0]"),
        ({"max_candidates": 2}, "search: 4 candidates"),
        ({"seed": -1}, "seed:"),
        ({"shortlst": 3}, "shortlst: unknown field"),
    ],
)
def test_bad_specs_name_the_path(tmp_path: Path, change: dict[str, Any], where: str) -> None:
    path = write(tmp_path, **change)
    with pytest.raises(ScenarioError) as err:
        load_optimisation(path)
    line = err.value.one_line()
    assert line.startswith(f"{path}: {where}"), line


def test_removal_and_deduplication(tmp_path: Path) -> None:
    """0 beds (or 'remove') deletes the home; removal variants that coincide are one candidate."""
    path = write(
        tmp_path,
        search=[
            {"name": "home", "path": "provision.homes[name=Elm House].beds", "set": [0, 4]},
            {
                "name": "opens",
                "path": "provision.homes[name=Elm House].open_date",
                "set": ["2024-04-01", "2024-10-01"],
            },
        ],
        overrides=[
            {"path": "run.horizon_years", "set": 2},
            {"path": "demand.initial_cohort[0].provision", "set": "spot"},
        ],
    )
    opt = load_optimisation(path)
    names = [c.name for c in opt.candidates]
    assert names == [
        "home=0, opens=2024-04-01",
        "home=4, opens=2024-04-01",
        "home=4, opens=2024-10-01",
    ]
    assert opt.candidates[0].scenario.provision.homes == []
    # A cohort that no longer fits is named with its path and the candidate.
    bad = write(
        tmp_path,
        name="bad",
        search=[
            {"name": "home", "path": "provision.homes[name=Elm House].beds", "set": ["remove"]}
        ],
    )
    with pytest.raises(ScenarioError, match=r"initial_cohort.*candidate 'home=0'"):
        load_optimisation(bad)


# -- the screen --------------------------------------------------------------------------------


def test_screen_more_beds_lower_risk() -> None:
    risk = RiskSpec(spot_stock_above=2, max_probability=0.1)
    results = [
        screen(scenario(pool_config(c, 12.0, exponential(365.0), horizon_years=5)), risk)
        for c in (6, 10, 14, 18)
    ]
    spot = [r.spot_stock_mean for r in results]
    p = [r.p_spot_above for r in results]
    assert spot == sorted(spot, reverse=True) and spot[0] > spot[-1]
    assert p == sorted(p, reverse=True) and p[0] > p[-1]
    # One pool, no matching or search: the blocking is Erlang-B of the offered load.
    # (stays are averaged over a fixed quasi-random sample, hence the tolerance)
    assert results[1].blocking["a"] == pytest.approx(erlang_b(10, 12.0), rel=1e-2)


def test_pareto_front_and_wilson() -> None:
    cost = [5.0, 4.0, 3.0, 4.5, 3.0, 6.0]
    risk = [0.1, 0.2, 0.5, 0.3, 0.6, 0.1]
    front = pareto_front(cost, risk)
    assert front == [True, True, True, False, False, False]
    lo, hi = wilson_interval(3, 10)
    assert lo < 0.3 < hi and lo >= 0 and hi <= 1
    assert wilson_interval(0, 10)[0] == 0.0


# -- simulation of the shortlist ---------------------------------------------------------------


def test_shortlist_simulated_on_crn(tmp_path: Path) -> None:
    opt = load_optimisation(write(tmp_path))
    serial = run_optimisation(opt, workers=1)
    parallel = run_optimisation(opt, workers=2)
    assert serial.shortlist.equals(parallel.shortlist)
    assert serial.replications.equals(parallel.replications)
    short = serial.shortlist
    assert len(short) == 3 and set(short["n"]) == {12}
    # The screen and the simulation agree in direction: more beds, less spot risk.
    beds = short["beds"].astype(int).to_numpy()
    order = np.argsort(beds)
    assert short["screened_spot_stock"].to_numpy()[order].tolist() == sorted(
        short["screened_spot_stock"], reverse=True
    )
    risk_by_beds = short["risk"].to_numpy()[order]
    assert risk_by_beds[0] >= risk_by_beds[-1]
    # No frontier point is dominated by any shortlisted point.
    for _, f in serial.frontier.iterrows():
        others = short[short["candidate"] != f["candidate"]]
        dominated = (
            (others["objective_mean"] <= f["objective_mean"])
            & (others["risk"] <= f["risk"])
            & ((others["objective_mean"] < f["objective_mean"]) | (others["risk"] < f["risk"]))
        )
        assert not dominated.any()
    assert {"objective_ci_low", "risk_ci_high", "feasible", "on_frontier"} <= set(short.columns)


def test_single_pool_spot_share_follows_erlang(tmp_path: Path) -> None:
    """A single M/G/c/c pool: simulated spot bed-days fall with beds as Erlang-B does."""
    cfg = pool_config(4, 8.0, exponential(180.0), horizon_years=4)
    base = tmp_path / "pool-config.yaml"
    base.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path = write(
        tmp_path,
        name="pool",
        base=str(base),
        overrides=[],
        objective="spot_stock_mean",
        replications=20,
        risk={"out_of_city_share_max": 0.3},
        search=[{"name": "beds", "path": "provision.homes[name=Pool].beds", "set": [1, 3, 6]}],
    )
    opt = load_optimisation(path)
    result = run_optimisation(opt, workers=1)
    short = result.shortlist.assign(beds=lambda d: d["beds"].astype(int)).sort_values("beds")
    a = 8.0 * 180.0 / 365.25
    erlang = [erlang_b(c, a) for c in short["beds"]]
    sim = short["objective_mean"].to_numpy() / a  # spot stock / offered load ~ blocking
    assert np.all(np.diff(sim) < 0) and np.all(np.diff(erlang) < 0)
    np.testing.assert_allclose(sim, erlang, atol=0.12)
    # Out-of-city share (spot is out of city here) is the risk: it falls with beds too.
    assert np.all(np.diff(short["risk"].to_numpy()) < 0)


def test_cli_optimise(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simulation.cli import app

    out, plot = tmp_path / "opt.csv", tmp_path / "frontier.png"
    args = ["optimise", str(write(tmp_path)), "-n", "6", "-w", "1", "-k", "2", "-o", str(out)]
    res = CliRunner().invoke(app, [*args, "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    assert "Efficient frontier" in res.output
    rows = out.read_text().splitlines()
    assert len(rows) == 5 and "on_frontier" in rows[0]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = CliRunner().invoke(app, [*args, "--plot", str(tmp_path / "f.txt")])
    assert res.exit_code == 2 and "--plot:" in res.output
    bad = write(tmp_path, name="bad", shortlist=0)
    res = CliRunner().invoke(app, ["optimise", str(bad)])
    assert res.exit_code == 2
    assert f"error: {bad}: shortlist" in res.output


def test_cli_optimise_checks_its_output_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simulation.cli import app

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "opt.csv"
    res = CliRunner().invoke(app, ["optimise", str(write(tmp_path)), "-n", "6", "-o", str(out)])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "--out: cannot write" in lines[0], res.output
    assert "Optimise" not in res.output  # refused before the screen and the simulations
    assert blocker.read_text() == "not a folder"


def test_candidates_the_data_cannot_separate_are_tied_not_ranked() -> None:
    """Two candidates equal in every replication are tied with the cheapest; one that costs
    more in every replication by a fixed amount is not."""
    from simulation.experiments.optimise import OptimisationResult

    reps = pd.DataFrame(
        {
            "candidate": ["a"] * 5 + ["b"] * 5 + ["c"] * 5,
            "replication": list(range(5)) * 3,
            "objective": [
                *(10.0, 12, 11, 13, 9),
                *(10.5, 11.5, 11, 12.5, 9.5),
                *(20.0, 22, 21, 23, 19),
            ],
            "risk": [0.0] * 15,
        }
    )
    short = pd.DataFrame(
        {
            "candidate": ["a", "b", "c"],
            "objective_mean": [11.0, 11.0, 21.0],
            "feasible": [True, True, True],
        }
    )
    result = OptimisationResult(None, pd.DataFrame(), short, reps)  # type: ignore[arg-type]
    ties = result.ties().set_index("candidate")
    assert bool(ties.loc["b", "tied"]) and not bool(ties.loc["c", "tied"])
    assert ties.loc["c", "diff_mean"] == pytest.approx(10.0)
