"""Sensitivity analysis of an experiment's factors: a one-at-a-time tornado, and Morris
elementary effects through SALib.

Both use the factors of an experiment's ``sweep`` (or ``grid``): each factor is a path (or
paths) and an operation whose operands span its range. The tornado reads the sweep's strategies
(paired with the base on common random numbers); Morris samples trajectories across the
factors' ranges, runs every sample point on the same replication seeds, and ranks the factors by
mu* (the mean absolute elementary effect) of one output.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from simulation.errors import Issue, ScenarioError
from simulation.experiments.driver import ExperimentResult, run_in_memory
from simulation.experiments.overrides import Override
from simulation.experiments.paired import paired_differences
from simulation.experiments.spec import (
    BASE_NAME,
    Experiment,
    FactorSpec,
    Strategy,
    build_scenario,
)
from simulation.pool import ProgressCallback
from simulation.scenario import read_yaml

NUMERIC_OPS = ("scale", "add", "shift_months", "shift_days")


def tornado(result: ExperimentResult, metric: str) -> pd.DataFrame:
    """Per sweep factor: the paired change of ``metric`` at its lowest and highest level.

    Returns columns ``factor``, ``low_level``, ``high_level``, ``low_diff``, ``high_diff``,
    ``swing`` (``|high_diff - low_diff|``), sorted by swing, largest first.
    """
    exp = result.experiment
    if exp.baseline != BASE_NAME:
        raise ValueError("a tornado needs the base config as the baseline")
    paired = paired_differences(result.summary, BASE_NAME, [metric])
    diff_of: dict[str, float] = {
        str(k): float(v) for k, v in zip(paired["strategy"], paired["mean_diff"], strict=True)
    }
    rows = []
    for factor in exp.spec.sweep if exp.spec else ():
        op, values = factor.operation()
        diffs: dict[Any, float] = {}
        for st in exp.strategies:
            if set(st.levels) == {factor.label} and st.name in diff_of:
                diffs[st.levels[factor.label]] = diff_of[st.name]
        neutral = 1.0 if op == "scale" else 0.0
        if op in NUMERIC_OPS:
            diffs.setdefault(neutral, 0.0)  # the base itself (skipped as a duplicate)
        if not diffs:
            continue
        low, high = (min(diffs), max(diffs)) if op in NUMERIC_OPS else (values[0], values[-1])
        lo_d, hi_d = diffs.get(low, 0.0), diffs.get(high, 0.0)
        rows.append(
            {
                "factor": factor.label,
                "low_level": low,
                "high_level": high,
                "low_diff": lo_d,
                "high_diff": hi_d,
                "swing": abs(hi_d - lo_d),
            }
        )
    df = pd.DataFrame(
        rows, columns=["factor", "low_level", "high_level", "low_diff", "high_diff", "swing"]
    )
    return df.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


def _numeric_factors(exp: Experiment, method: str = "Morris") -> list[FactorSpec]:
    factors = list(exp.factors)
    issues = []
    for f in factors:
        op, values = f.operation()
        numeric_set = op == "set" and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        )
        if (op not in NUMERIC_OPS and not numeric_set) or len(values) < 2:
            issues.append(
                Issue(
                    f"factor {f.label}",
                    f"{method} needs numeric factors ({', '.join(NUMERIC_OPS)}, or set with "
                    "numbers) with a low and high level",
                )
            )
    if not factors:
        issues.append(Issue("sweep", f"{method} needs factors: give a sweep or grid"))
    if issues:
        raise ScenarioError(issues, exp.source)
    return factors


def _problem(factors: list[FactorSpec]) -> dict[str, Any]:
    """SALib's problem: each factor uniform from its lowest to its highest operand."""
    bounds = []
    for f in factors:
        _, values = f.operation()
        bounds.append([float(min(values)), float(max(values))])
    return {"num_vars": len(factors), "names": [f.label for f in factors], "bounds": bounds}


def _means_at(
    exp: Experiment,
    factors: list[FactorSpec],
    x: np.ndarray,
    metric: str,
    replications: int,
    workers: int,
    scheduler: str | None,
    progress: ProgressCallback | None,
    method: str,
) -> np.ndarray:
    """The mean of ``metric`` at each point (row of ``x``), every point on the experiment's
    seed (common random numbers). Every point is validated before anything runs."""
    base_raw = read_yaml(exp.base_path)
    strategies = []
    for i, row in enumerate(x):
        ovs: list[Override] = []
        for f, v in zip(factors, row, strict=True):
            op, _ = f.operation()
            value: Any = round(v) if op.startswith("shift_") else float(v)
            ovs += [Override(p, op, value, where=f"{method} point {i}") for p in f.all_paths]
        strategies.append(Strategy(f"point {i}", build_scenario(base_raw, ovs, exp.source)))
    points = replace(
        exp,
        strategies=tuple(strategies),
        baseline=strategies[0].name,
        replications=replications,
        stop=None,
    )
    result = run_in_memory(points, workers=workers, scheduler=scheduler, progress=progress)
    means = result.summary.groupby("strategy", sort=False)[metric].mean()
    return np.array([means[s.name] for s in strategies], dtype=float)


def morris(
    exp: Experiment,
    metric: str,
    trajectories: int = 10,
    levels: int = 4,
    replications: int = 20,
    workers: int = 0,
    scheduler: str | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Morris elementary effects of the experiment's factors on the mean of ``metric``.

    Each factor ranges from its lowest to its highest operand. SALib draws ``trajectories``
    trajectories of ``k + 1`` points on a ``levels``-level grid; every point runs
    ``replications`` replications on the experiment's seed (common random numbers, so effects
    are not swamped by demand noise). Returns ``factor``, ``mu``, ``mu_star``, ``sigma``,
    ``mu_star_conf``, sorted by mu*.
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    factors = _numeric_factors(exp)
    problem = _problem(factors)
    x = morris_sample.sample(problem, N=trajectories, num_levels=levels, seed=seed)
    y = _means_at(exp, factors, x, metric, replications, workers, scheduler, progress, "morris")
    si = morris_analyze.analyze(problem, x, y, num_levels=levels, seed=seed)
    df = pd.DataFrame(
        {
            "factor": problem["names"],
            "mu": si["mu"],
            "mu_star": si["mu_star"],
            "sigma": si["sigma"],
            "mu_star_conf": si["mu_star_conf"],
        }
    )
    return df.sort_values("mu_star", ascending=False, kind="stable").reset_index(drop=True)


def sobol(
    exp: Experiment,
    metric: str,
    samples: int = 64,
    replications: int = 10,
    workers: int = 0,
    scheduler: str | None = None,
    seed: int = 0,
    resamples: int = 200,
    progress: ProgressCallback | None = None,
) -> tuple[pd.DataFrame, int]:
    """Sobol indices (first-order and total) of the experiment's factors on the mean of
    ``metric``, through SALib (Saltelli's sampling, Jansen's estimators, bootstrap intervals).

    Each factor ranges uniformly from its lowest to its highest operand. SALib draws
    ``samples * (k + 2)`` points (``samples`` a power of 2); every point runs ``replications``
    replications on the experiment's seed (common random numbers: the points differ only in
    the factors). Returns (``factor``, ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` sorted by
    ``ST``, the 95% half-widths from ``resamples`` bootstrap resamples; the number of
    replications run).
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    factors = _numeric_factors(exp, "Sobol")
    problem = _problem(factors)
    x = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    y = _means_at(exp, factors, x, metric, replications, workers, scheduler, progress, "sobol")
    si = sobol_analyze.analyze(
        problem, y, calc_second_order=False, num_resamples=resamples, seed=seed
    )
    df = pd.DataFrame(
        {
            "factor": problem["names"],
            "S1": si["S1"],
            "S1_conf": si["S1_conf"],
            "ST": si["ST"],
            "ST_conf": si["ST_conf"],
        }
    )
    runs = len(x) * replications
    return df.sort_values("ST", ascending=False, kind="stable").reset_index(drop=True), runs
