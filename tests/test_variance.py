"""Variance reduction: exact control expectations, the cost at mean prices, the controlled CI's
coverage of a known answer (an M/M/c/c loss system, Erlang B), and the precision loop."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_experiments import stored, write_spec

from simulation.calendar import DAYS_PER_YEAR
from simulation.cli import main
from simulation.distributions import Exponential, Lognormal
from simulation.experiments import load_experiment, run_experiment
from simulation.experiments.driver import next_reach
from simulation.experiments.spec import PrecisionRule
from simulation.kinds import KIND
from simulation.metrics.context import build_context
from simulation.metrics.control import (
    _expected_uplift_days,
    _mean_min,
    controls,
    cost_at_mean_prices,
    expectations,
    expected_arrivals,
    prices_steer_placements,
    uplift_factor_per_round,
)
from simulation.metrics.market import retainer_payments
from simulation.model import april_firsts, simulate
from simulation.precision import parse_precision, reduced_stats
from simulation.processes.arrivals import _children_plan, draw_children
from simulation.queueing import erlang_b
from simulation.runner import run_batch, summarise
from simulation.scenario import load_scenario, parse_scenario, read_yaml
from simulation.stats import mean_ci
from simulation.store import ResultsStore
from simulation.streams import Streams
from simulation.units import build_units
from simulation.variance import controlled_mean_ci, paired_controlled_ci

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "configs" / "minimal.yaml"
COVENTRY = ROOT / "configs" / "coventry-2023.yaml"


def _minimal(**need: Any) -> Any:
    raw = read_yaml(MINIMAL)
    raw["demand"]["needs"]["ebd"].update(need)
    return parse_scenario(raw, "minimal")


# -- exact expectations -------------------------------------------------------------------------


def test_expected_arrivals_is_the_rate_integral() -> None:
    # No seasonality: the integral of a * g^(t/Y) / Y over [0, H) is a (g^(H/Y) - 1) / ln g.
    s = _minimal(seasonality={}, trend_per_year=0.2, arrivals_per_year=9.0)
    need = _children_plan(s).needs[0]
    h = s.horizon_days
    assert expected_arrivals(need, h) == pytest.approx(
        9.0 * (1.2 ** (h / DAYS_PER_YEAR) - 1) / math.log(1.2), rel=1e-12
    )
    flat = _children_plan(_minimal(seasonality={}, trend_per_year=0.0)).needs[0]
    assert expected_arrivals(flat, h) == pytest.approx(6.0 * h / DAYS_PER_YEAR, rel=1e-12)


def test_mean_of_min_of_a_stay() -> None:
    x = np.array([0.0, 10.0, 200.0, 2000.0])
    exp = Exponential(dist="exponential", mean=100.0)
    assert _mean_min(exp, x) == pytest.approx(100.0 * (1 - np.exp(-x / 100.0)), rel=1e-6)
    big = _mean_min(Lognormal(dist="lognormal", mean=365.0, cv=0.8), np.array([2e4]))
    assert big[0] == pytest.approx(365.0, rel=1e-4)


def test_controls_average_zero_over_many_replications() -> None:
    # Trend and a seasonal peak: the non-homogeneous rate must be integrated exactly. The
    # children alone are drawn (no simulation): 1000 replications take a few seconds.
    s = _minimal(trend_per_year=0.3, seasonality={"jun": 2.0, "dec": 0.5}, arrivals_per_year=20)
    _, index = build_units(s)
    rows = [controls(s, draw_children(s, Streams(11, r), index)) for r in range(1000)]
    df = pd.DataFrame(rows)
    for name in df:
        ci = mean_ci(df[name])
        assert ci.low <= 0.0 <= ci.high, (name, ci)
        assert ci.sd > 0
    e = expectations(s)
    assert e.arrivals[0] > 20 * s.horizon_days / DAYS_PER_YEAR  # the trend adds arrivals


# -- conditional Monte Carlo ----------------------------------------------------------------------


def test_market_cost_is_price_times_indexed_days() -> None:
    # The shift to mean prices rescales exactly the terms that make the market and retainer
    # costs: with every ratio 1 it is 0, and those terms add up to the summary's market cost.
    s = load_scenario(COVENTRY)
    rep = simulate(s, 3, 5)
    ctx = build_context(s, rep)
    market = np.array([KIND[ctx.units[u].kind].price_attr is not None for u in ctx.placed.unit])
    g0, g1 = ctx.placed_g
    spent = float(np.sum(ctx.placed.price[market] / 7.0 * (g1[market] - g0[market])))
    _, ret = retainer_payments(ctx)
    summary = run_batch(s, [3], 5, weekly=False)["summary"].iloc[0]
    cost = sum(summary[f"cost_{k}_gbp"] for k in ("framework", "spot", "unregistered"))
    assert spent == pytest.approx(cost, rel=1e-9)
    assert float(ret.sum()) == pytest.approx(summary["cost_retainer_gbp"], rel=1e-9)
    total = summary["cost_total_gbp"]
    assert cost_at_mean_prices(ctx, rep.children, total) == summary["cost_total_at_mean_prices_gbp"]
    assert summary["cost_total_at_mean_prices_gbp"] != total


def _with_uplifts(probability: float, uplift: dict[str, Any], price: dict[str, Any]) -> Any:
    raw = read_yaml(MINIMAL)
    spot = raw["provision"]["spot"]
    spot.update(weekly_price_gbp=price, uplift_probability_per_year=probability, uplift=uplift)
    raw["costs"]["inflation_per_year"] = 0.05  # rounds and the price index both in play
    return parse_scenario(raw, "uplifts")


def test_expected_uplift_days_by_hand() -> None:
    # No inflation: g(t) = t. Rounds on days 365 and 730 (1 April 2025, 2026 for a run from
    # 1 April 2024). A placement from day 100 to 800 at factor 1.1 a round: 265 days at 1,
    # 365 at 1.1, 70 at 1.21. A spell of it split at day 500 (an accepted uplift) is priced from
    # the same placement start; a placement starting after the first round meets one fewer.
    s = _with_uplifts(0.5, {"dist": "fixed", "value": 0.2}, {"dist": "fixed", "value": 7000})
    ctx = build_context(s, simulate(s, 0, 1))
    ctx.g = lambda t: np.asarray(t, dtype=float)
    assert april_firsts(s)[:2] == [365.0, 730.0]
    days = _expected_uplift_days(
        ctx,
        np.array([100.0, 100.0, 500.0, 400.0]),
        np.array([800.0, 500.0, 800.0, 800.0]),
        np.array([100.0, 100.0, 100.0, 400.0]),
        1.1,
    )
    assert days == pytest.approx(
        [265 + 365 * 1.1 + 70 * 1.21, 265 + 135 * 1.1, 230 * 1.1 + 70 * 1.21, 330 + 70 * 1.1]
    )


def test_certain_uplifts_and_prices_leave_the_cost_unchanged() -> None:
    # Every placement gets +20% each 1 April and every price is fixed: nothing is left to
    # average, so the expected cost given the path is the cost itself (rounds counted right).
    s = _with_uplifts(1.0, {"dist": "fixed", "value": 0.2}, {"dist": "fixed", "value": 7000})
    assert uplift_factor_per_round(s, "spot") == pytest.approx(1.2)
    summary = run_batch(s, range(4), 3, weekly=False)["summary"]
    assert (summary["cost_spot_gbp"] > 0).all()
    assert np.allclose(
        summary["cost_total_at_mean_prices_gbp"], summary["cost_total_gbp"], rtol=1e-12
    )


def test_cost_at_expected_uplifts_is_unbiased_and_less_noisy() -> None:
    # Uplifts half the time, of 0-60%: the conditional cost's mean is the drawn cost's (their
    # difference averages 0), and what it leaves out is noise uncorrelated with it, so
    # var(drawn) = var(conditional) + var(difference) (Rao-Blackwell). The sample variances
    # themselves need not be ordered when the path's variance dominates.
    s = _with_uplifts(
        0.5, {"dist": "uniform", "min": 0.0, "max": 0.6}, {"dist": "fixed", "value": 7000}
    )
    assert uplift_factor_per_round(s, "spot") == pytest.approx(1.15)
    summary = run_batch(s, range(300), 8, weekly=False)["summary"]
    plain, cond = summary["cost_total_gbp"], summary["cost_total_at_mean_prices_gbp"]
    ci = mean_ci(plain - cond)
    assert ci.low <= 0.0 <= ci.high, ci
    left_out = (plain - cond).to_numpy()
    assert left_out.std() > 0.001 * cond.std()
    assert abs(np.corrcoef(left_out, cond)[0, 1]) < 3 / math.sqrt(len(cond))
    assert uplift_factor_per_round(load_scenario(MINIMAL), "spot") == 1.0


def test_no_cost_at_mean_prices_when_prices_steer_placements() -> None:
    raw = read_yaml(COVENTRY)
    raw["placement_policy"]["repatriation"]["priority"] = "most_expensive"
    s = parse_scenario(raw, "steered")
    assert prices_steer_placements(s)
    summary = run_batch(s, [0], 1, weekly=False)["summary"]
    assert summary["cost_total_at_mean_prices_gbp"].isna().all()
    stats = summarise(summary).set_index("metric")
    assert stats.loc["cost_total_gbp", "reduced_by"] in ("plain", "controls")


def test_summary_gains_reduced_columns_and_keeps_plain_ones() -> None:
    s = load_scenario(MINIMAL)
    summary = run_batch(s, range(30), 1, weekly=False)["summary"]
    stats = summarise(summary).set_index("metric")
    plain = mean_ci(summary["cost_total_gbp"])
    assert stats.loc["cost_total_gbp", "mean"] == plain.mean
    row = stats.loc["cost_total_gbp"]
    assert row["reduced_ci_low"] < row["reduced_mean"] < row["reduced_ci_high"]
    assert row["reduced_by"].startswith("mean prices") and row["variance_reduction"] > 1
    assert math.isnan(stats.loc["control_arrivals", "reduced_mean"])
    assert list(reduced_stats(summary, ["arrivals"]).columns) == list(stats.columns[-5:])


# -- the estimator ----------------------------------------------------------------------------


def test_controlled_mean_by_regression() -> None:
    rng = np.random.default_rng(1)
    c = rng.normal(size=(200, 2))
    y = 5.0 + 3.0 * c[:, 0] - c[:, 1] + rng.normal(scale=0.1, size=200)
    ci = controlled_mean_ci(y, c)
    assert ci.used and ci.q == 2 and ci.factor > 100
    assert abs(ci.mean - 5.0) < ci.half_width * 3
    # Controls unrelated to y: the F test keeps the plain interval.
    noise = controlled_mean_ci(rng.normal(size=200), rng.normal(size=(200, 2)))
    assert not noise.used and noise.half_width == noise.plain.half_width
    # Identical controls on both sides of a pair count once.
    assert paired_controlled_ci(y, 2 * y, c, c).q == 2


def _loss_system(
    rng: np.random.Generator, reps: int, servers: int, rate: float, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """M/M/c/c from its stationary state, vectorised over replications: the time-average
    number busy (expected exactly rate (1 - B) with unit mean service) and two controls."""
    load = rate
    p = np.array([load**k / math.factorial(k) for k in range(servers + 1)])
    start = rng.choice(servers + 1, size=reps, p=p / p.sum())
    dep = np.where(
        np.arange(servers)[None, :] < start[:, None], rng.exponential(size=(reps, servers)), 0.0
    )
    work = np.minimum(dep, horizon).sum(axis=1)  # residual work of those busy at the start
    n = rng.poisson(rate * horizon, size=reps)
    m = int(n.max())
    gaps = rng.uniform(0.0, horizon, size=(reps, m))
    gaps[np.arange(m)[None, :] >= n[:, None]] = np.inf
    times = np.sort(gaps, axis=1)
    service = rng.exponential(size=(reps, m))
    for k in range(m):
        t, s = times[:, k], service[:, k]
        slot = np.argmin(dep, axis=1)
        free = (dep[np.arange(reps), slot] <= t) & np.isfinite(t)
        dep[np.arange(reps)[free], slot[free]] = t[free] + s[free]
        work += np.where(free, np.minimum(s, horizon - np.where(free, t, 0.0)), 0.0)
    alive = np.arange(m)[None, :] < n[:, None]
    ctrl = np.column_stack([n - rate * horizon, np.where(alive, service - 1.0, 0.0).sum(axis=1)])
    return work / horizon, ctrl


def test_controlled_ci_covers_erlang_b_at_its_nominal_rate() -> None:
    servers, rate, horizon, n, experiments = 3, 2.0, 20.0, 40, 500
    truth = rate * (1.0 - erlang_b(servers, rate))  # carried load: mean number busy
    busy, ctrl = _loss_system(np.random.default_rng(2026), n * experiments, servers, rate, horizon)
    cover, plain_cover, factors = 0, 0, []
    for e in range(experiments):
        rows = slice(e * n, (e + 1) * n)
        ci = controlled_mean_ci(busy[rows], ctrl[rows])
        cover += ci.low <= truth <= ci.high
        plain_cover += ci.plain.low <= truth <= ci.plain.high
        factors.append(ci.factor)
    # 95% nominal; with 500 experiments the binomial sd is 1 point.
    assert 0.92 <= cover / experiments <= 0.98
    assert 0.92 <= plain_cover / experiments <= 0.98
    assert np.median(factors) > 1.5  # and the controls do reduce the variance


# -- precision targets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "relative"),
    [("100k", 1e5, False), ("£0.1m", 1e5, False), ("2500", 2500.0, False), ("5%", 0.05, True)],
)
def test_parse_precision(text: str, value: float, relative: bool) -> None:
    p = parse_precision(text)
    assert p.value == pytest.approx(value) and p.relative == relative


@pytest.mark.parametrize("bad", ["abc", "-5", "0", "150%", "1e5", "", "10 k k"])
def test_bad_precision_is_one_line_exit_2(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    args = ["experiment", str(spec), "--db", str(tmp_path / "r.duckdb"), f"--precision={bad}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --precision") and len(err.splitlines()) == 1
    assert not (tmp_path / "r.duckdb").exists()


def test_bad_precision_in_a_spec_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, replications=None, precision={"half_width": "abc"})
    assert main(["experiment", str(spec), "--db", str(tmp_path / "r.duckdb")]) == 2
    err = capsys.readouterr().err.strip()
    assert "precision" in err and "not a precision" in err and len(err.splitlines()) == 1


def _precision_spec(tmp_path: Path, target: str, name: str, **rule: Any) -> Path:
    return write_spec(
        tmp_path,
        replications=None,
        name=name,
        precision={"half_width": target, "min": 10, "step": 10, "max": 20, **rule},
    )


def test_precision_stops_when_met_and_respects_the_cap(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    loose = load_experiment(_precision_spec(tmp_path, "50%", "loose"))
    result = run_experiment(loose, ResultsStore(db), workers=1, weekly=False)
    assert result.replications == 10 and result.precision is not None
    assert result.precision["met"].all() and (result.precision["n"] == 10).all()
    tight = load_experiment(_precision_spec(tmp_path, "1", "tight"))
    result = run_experiment(tight, ResultsStore(db), workers=1, weekly=False)
    table = result.precision
    assert table is not None and not table["met"].any() and (table["n"] == 20).all()
    assert len(result.summary) == 3 * 20
    # Each strategy stops on its own: a target between the strategies' precisions.
    mid = float(table["half_width"].median())
    exp = load_experiment(_precision_spec(tmp_path, f"{mid:.0f}", "mixed"))
    result = run_experiment(exp, ResultsStore(db), workers=1, weekly=False)
    table = result.precision
    assert table is not None
    n = result.summary.groupby("strategy")["replication"].count()
    assert n["short"] == n.max()  # the baseline runs while any strategy does
    for r in table.to_dict(orient="records"):
        assert r["met"] or r["n"] == 20
        assert n[r["strategy"]] == r["n"]


def test_precision_table_reads_in_the_metrics_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _precision_spec(tmp_path, "5m", "units", max=10, metrics=["cost_total_gbp"])
    db = tmp_path / "u.duckdb"
    assert main(["experiment", str(spec), "--db", str(db), "-w", "1", "--no-weekly"]) == 0
    out = capsys.readouterr().out
    title = out[out.index("Precision reached") :]
    assert "within ±£5.0m; cap 10 replications a strategy" in " ".join(title.split())
    rows = [line for line in title.splitlines() if "Total cost" in line]
    assert len(rows) == 2 and "cost_total_gbp" not in title, title
    for line in rows:  # a signed difference, its interval and the target, on the target's scale
        assert re.search(r"[+-]£\d+\.\dm .*±£\d+\.\dm .*±£5\.0m", line), line


def test_next_reach_projects_the_replications_a_target_needs() -> None:
    # Half-widths shrink as 1/sqrt(n): at 1.5x the target after 50, about 50 * 1.5^2 = 112.5
    # are needed; rounded up to steps of 10: 120. At least one step, at most the cap; the
    # metric furthest from its target decides; an unknown half-width just adds a step.
    rule = PrecisionRule(half_width="1m", min=50, step=10, max=400)

    def rows(*ratios: float) -> pd.DataFrame:
        return pd.DataFrame({"half_width": [r * 1e6 for r in ratios], "target": 1e6})

    assert next_reach(rule, 50, rows(1.5)) == 120
    assert next_reach(rule, 50, rows(1.5, 0.5)) == 120
    assert next_reach(rule, 50, rows(1.01)) == 60
    assert next_reach(rule, 50, rows(10.0)) == 400
    assert next_reach(rule, 50, rows(math.nan)) == 60
    assert next_reach(PrecisionRule(half_width="1m", min=50), 50, rows(1.2)) == 100


def test_precision_run_same_rows_with_1_and_2_workers_and_on_resume(tmp_path: Path) -> None:
    spec = _precision_spec(tmp_path, "3%", "p")
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    quick = ["-q", "--no-weekly"]
    assert main(["experiment", str(spec), "--db", str(one), "-w", "1", *quick]) == 0
    assert main(["experiment", str(spec), "--db", str(two), "-w", "2", *quick]) == 0
    pd.testing.assert_frame_equal(stored(one), stored(two))
    # A run cut short by a lower cap, then resumed with the spec's cap, ends the same.
    part = tmp_path / "part.duckdb"
    args = ["experiment", str(spec), "--db", str(part), "-w", "1", *quick]
    assert main([*args, "--max-replications", "10"]) == 0
    assert main(args) == 0
    pd.testing.assert_frame_equal(stored(part), stored(one))


def test_no_precision_target_with_uncertain_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Replications sharing a parameter draw are not independent: refused, one line.
    import yaml

    raw = read_yaml(MINIMAL)
    raw["demand"]["needs"]["ebd"]["arrivals_per_year"] = {"dist": "gamma", "mean": 6, "cv": 0.2}
    config = tmp_path / "uncertain.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    spec = tmp_path / "u.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"name": "u", "base": str(config), "precision": "5%", "strategies": []},
            sort_keys=False,
        )
    )
    assert main(["experiment", str(spec), "--db", str(tmp_path / "r.duckdb")]) == 2
    err = capsys.readouterr().err.strip()
    assert "precision" in err and "uncertain inputs" in err and len(err.splitlines()) == 1
