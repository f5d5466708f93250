"""Monte Carlo: many replications of a scenario, serial or over local processes, and aggregates.

Replication ``r`` is seeded from ``(seed, r)`` alone, so results do not depend on how
replications are spread over workers: a parallel run equals the serial one, row for row.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.errors import ScenarioError
from simulation.metrics import Columns, compute_metrics
from simulation.model import simulate
from simulation.pool import ProgressCallback, process_map
from simulation.precision import reduced_stats, without_reduced
from simulation.scenario import Scenario, cross_check
from simulation.stats import mean_ci
from simulation.uncertain import realise, variance_split_table

QUANTILES = {"p5": 5, "p25": 25, "p50": 50, "p75": 75, "p95": 95}


@dataclass
class RunResult:
    """All results of a run, as tidy DataFrames keyed by ``scenario`` and ``replication``."""

    scenario: Scenario
    seed: int
    replications: int
    summary: pd.DataFrame  # one row per replication
    weekly: pd.DataFrame  # one row per replication and week
    units: pd.DataFrame  # one row per replication and unit
    finance: pd.DataFrame  # one row per replication and financial year
    elapsed_seconds: float = 0.0
    workers: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    def stats(self) -> pd.DataFrame:
        """Mean, sd, percentiles and 95% CI of the mean of every summary metric, and how its
        variance splits into uncertain inputs and chance."""
        stats = variance_split_table(summarise(self.summary), self.summary, self.scenario)
        return without_reduced(stats) if self.scenario.uncertain else stats

    def fans(self) -> pd.DataFrame:
        """Weekly percentile fans of every weekly series."""
        return weekly_fans(self.weekly)


def run_batch(
    scenario: Scenario, replications: Sequence[int], seed: int, weekly: bool = True
) -> dict[str, pd.DataFrame]:
    """Simulate and measure a batch of replications (the unit of work sent to a worker).

    Returns one DataFrame per table (``summary``, ``weekly``, ``units``, ``finance``; no
    ``weekly`` if not ``weekly``), each with a leading ``replication`` column. Each table is
    built once per batch from the stacked columns of its replications: building frames per
    replication costs more than the metrics.
    """
    reps = np.asarray(list(replications), dtype=np.int64)
    summaries: list[dict[str, float]] = []
    parts: dict[str, list[Columns]] = {"weekly": [], "units": [], "finance": []}
    for r in reps.tolist():
        concrete = realise(scenario, r, seed)  # uncertain values drawn (else scenario itself)
        m = compute_metrics(concrete, simulate(concrete, r, seed))
        summaries.append(m.summary)
        parts["weekly"].append(m.weekly_columns)
        parts["units"].append(m.units_columns)
        parts["finance"].append(m.finance_columns)
    out = {"summary": _summary_table(reps, summaries)}
    for name, columns in parts.items():
        if weekly or name != "weekly":
            out[name] = _stack(reps, columns)
    return out


def _summary_table(reps: NDArray[np.int64], summaries: list[dict[str, float]]) -> pd.DataFrame:
    """One row per replication: every summary value is a float, so one 2-D block."""
    names = list(summaries[0]) if summaries else []
    values = np.array([[s[k] for k in names] for s in summaries], dtype=float)
    df = pd.DataFrame(values.reshape(len(summaries), len(names)), columns=names)
    df.insert(0, "replication", reps)
    return df


_LONG_TABLE = 2000  # rows from which _stack builds the float block itself


def _stack(reps: NDArray[np.int64], tables: list[Columns]) -> pd.DataFrame:
    """Replications' tables (same columns) one under another, with a ``replication`` column.

    Arrays are concatenated; list columns are chained and left to pandas to type, as it would
    type each replication's own frame. In a long table (the weekly one) the float columns go
    straight into one 2-D block that the frame takes as its storage, saving a copy; for short
    tables inserting the other columns costs more than that copy.
    """
    if not tables:
        return pd.DataFrame({"replication": reps})
    first = tables[0]
    lengths = [len(next(iter(t.values()))) for t in tables]
    columns: dict[str, Any] = {"replication": np.repeat(reps, lengths)}
    floats: list[str] = []
    if sum(lengths) >= _LONG_TABLE:
        floats = [
            name
            for name, col in first.items()
            if isinstance(col, np.ndarray) and col.dtype == np.float64
        ]
    for name, col in first.items():
        if name in floats:
            continue
        if isinstance(col, np.ndarray):
            columns[name] = np.concatenate([t[name] for t in tables])
        else:
            columns[name] = list(itertools.chain.from_iterable(t[name] for t in tables))
    if not floats:
        return pd.DataFrame(columns)
    block = np.empty((len(floats), sum(lengths)))
    for row, name in zip(block, floats, strict=True):
        np.concatenate([t[name] for t in tables], out=row)
    df = pd.DataFrame(block.T, columns=floats, copy=False)
    for pos, name in enumerate(["replication", *first]):
        if name in columns:
            df.insert(pos, name, columns[name])
    return df


def replication_batches(n: int, workers: int) -> list[list[int]]:
    # Enough batches to balance load and report progress, few enough to keep overhead small.
    size = max(1, min(50, math.ceil(n / max(1, workers * 8))))
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def run(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run ``replications`` replications of ``scenario``.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`simulation.load_scenario`).
    replications, seed
        Default to the scenario's ``run.replications`` and ``run.seed``.
    workers
        Local processes to use; 0 means one per core. Results do not depend on it.
    progress
        Called with the number of replications just finished.
    """
    issues = cross_check(scenario)
    if issues:
        raise ScenarioError(issues)
    n = scenario.run.replications if replications is None else replications
    if n < 1:
        raise ValueError(f"replications must be >= 1 (got {n})")
    root_seed = scenario.run.seed if seed is None else seed
    workers = (os.cpu_count() or 1) if workers == 0 else workers
    t0 = time.perf_counter()
    parts: dict[str, list[pd.DataFrame]] = {"summary": [], "weekly": [], "units": [], "finance": []}
    batches = replication_batches(n, workers)
    # A pool for a single batch would only add the cost of starting it.
    procs = workers if len(batches) > 1 else 1
    outs = process_map(functools.partial(run_batch, scenario, seed=root_seed), batches, procs)
    # closing(): an interrupt (Ctrl-C) between batches stops the workers now, not at exit.
    with contextlib.closing(outs):
        for out in outs:
            for k, df in out.items():
                parts[k].append(df)
            if progress:
                progress(len(out["summary"]))
    frames: dict[str, pd.DataFrame] = {}
    for k, dfs in parts.items():
        df = pd.concat(dfs, ignore_index=True)
        sort_cols = ["replication"] + (["week"] if k == "weekly" else [])
        df = df.sort_values(sort_cols, kind="stable").reset_index(drop=True)
        df.insert(0, "scenario", scenario.name)
        df.insert(2, "seed", root_seed)
        frames[k] = df
    return RunResult(
        scenario=scenario,
        seed=root_seed,
        replications=n,
        elapsed_seconds=time.perf_counter() - t0,
        workers=workers,
        summary=frames["summary"],
        weekly=frames["weekly"],
        units=frames["units"],
        finance=frames["finance"],
    )


ID_COLUMNS = ("scenario", "replication", "seed", "week", "week_start")


def summarise(summary: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per metric: n, mean, sd, P5/P25/P50/P75/P95 and the CI of the mean (Student t)."""
    rows = []
    metrics = [c for c in summary.columns if c not in ID_COLUMNS]
    for name in metrics:
        x = summary[name].to_numpy(dtype=float)
        x = x[~np.isnan(x)]
        ci = mean_ci(x, confidence)
        row: dict[str, Any] = {"metric": name, "n": ci.n}
        if ci.n == 0:
            row |= {"mean": np.nan, "sd": np.nan, "ci_low": np.nan, "ci_high": np.nan}
            row |= dict.fromkeys(QUANTILES, np.nan)
        else:
            # One replication has no spread to speak of: sd 0, and no interval.
            sd = ci.sd if ci.n > 1 else 0.0
            row |= {"mean": ci.mean, "sd": sd, "ci_low": ci.low, "ci_high": ci.high}
            pct = np.percentile(x, list(QUANTILES.values()))
            row |= dict(zip(QUANTILES, pct.tolist(), strict=True))
        rows.append(row)
    cols = ["metric", "n", "mean", "sd", *QUANTILES, "ci_low", "ci_high"]
    # Beside the plain figures, the reduced-variance mean (simulation.precision).
    return pd.concat([pd.DataFrame(rows, columns=cols), reduced_stats(summary, metrics)], axis=1)


def weekly_fans(weekly: pd.DataFrame) -> pd.DataFrame:
    """Per week and series: mean and P5/P25/P50/P75/P95 across replications (long format)."""
    series = [c for c in weekly.columns if c not in ID_COLUMNS]
    n_weeks = int(weekly["week"].max()) + 1
    reps = weekly["replication"].nunique()
    week_start = weekly.loc[weekly["replication"] == weekly["replication"].iloc[0], "week_start"]
    frames = []
    for name in series:
        values = weekly[name].to_numpy(dtype=float).reshape(reps, n_weeks)
        # All-NaN weeks (no beds of a kind yet) are expected: keep NaN, skip the warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pct = np.nanpercentile(values, list(QUANTILES.values()), axis=0)
            mean = np.nanmean(values, axis=0)
        df = pd.DataFrame({"series": name, "week": np.arange(n_weeks)})
        df["week_start"] = week_start.to_numpy()
        df["mean"] = mean
        for (label, _), row in zip(QUANTILES.items(), pct, strict=True):
            df[label] = row
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
