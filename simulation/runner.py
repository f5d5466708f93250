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
from collections.abc import Generator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.compare import DRAW
from simulation.errors import ScenarioError
from simulation.metrics import Columns, compute_metrics
from simulation.model import simulate
from simulation.pool import ProgressCallback, ordered_map
from simulation.precision import reduced_stats, without_reduced
from simulation.scenario import Scenario, cross_check
from simulation.stats import mean_ci
from simulation.uncertain import realise, replications_per_draw, variance_split_table

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
        return summary_stats(self.summary, self.scenario)

    def fans(self) -> pd.DataFrame:
        """Weekly percentile fans of every weekly series."""
        return weekly_fans(self.weekly)


BATCH_TABLES = ("summary", "weekly", "units", "finance")
"""The tables of a batch, and of a :class:`RunResult` (``summary`` is written as
``replications``)."""


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
    if scenario.uncertain:
        # Each replication's parameter draw: comparisons treat a draw as one observation.
        out["summary"].insert(1, DRAW, reps // replications_per_draw(scenario))
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


BATCHES_PER_WORKER = 8
"""Batches per worker process a run is cut into: enough to balance the load and move the
progress bar, few enough that the cost of each (sending the scenario, returning its tables)
stays small."""
MAX_BATCH = 50
"""Replications in a batch at most: the tables of a batch are what a run holds at once."""


def replication_batches(n: int, workers: int) -> list[list[int]]:
    """Replications ``0..n-1`` cut into consecutive batches (the unit of work of a worker)."""
    size = max(1, min(MAX_BATCH, math.ceil(n / max(1, workers * BATCHES_PER_WORKER))))
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def in_flight(workers: int) -> int:
    """Batches submitted and not yet taken by the run at most: each worker busy with one and
    two more done or queued, so nobody waits for the run to hand out work."""
    return 3 * max(1, workers)


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, its arguments checked and defaults filled in."""

    scenario: Scenario
    replications: int
    seed: int
    workers: int


def plan_run(
    scenario: Scenario, replications: int | None = None, seed: int | None = None, workers: int = 1
) -> RunPlan:
    """Check a run's arguments: the scenario's cross checks (:class:`ScenarioError`), at least
    one replication (``ValueError``); ``None`` means the scenario's own replications and seed,
    ``workers=0`` one process per core."""
    issues = cross_check(scenario)
    if issues:
        raise ScenarioError(issues)
    n = scenario.run.replications if replications is None else replications
    if n < 1:
        raise ValueError(f"replications must be >= 1 (got {n})")
    root_seed = scenario.run.seed if seed is None else seed
    procs = (os.cpu_count() or 1) if workers == 0 else workers
    return RunPlan(scenario, n, root_seed, procs)


def label_batch(tables: dict[str, pd.DataFrame], scenario: str, seed: int) -> None:
    """Add the ``scenario`` (first) and ``seed`` (third) columns to a batch's tables, in place."""
    for df in tables.values():
        df.insert(0, "scenario", scenario)
        df.insert(2, "seed", seed)


def iter_batches(
    plan: RunPlan, pool: Executor | None = None
) -> Generator[dict[str, pd.DataFrame], None, None]:
    """Each batch's tables (``summary``, ``weekly``, ``units``, ``finance``, labelled), in
    replication order, as the workers finish them.

    Runs in ``pool`` if given (and leaves it running), else in this process with one worker,
    else in a pool started for this run. At most :func:`in_flight` batches are held at once,
    so what a caller that writes each batch away holds does not grow with the number of
    replications. Closing the generator early cancels the batches not started.
    """
    batches = replication_batches(plan.replications, plan.workers)
    # A pool started for a single batch would only add the cost of starting it.
    procs = plan.workers if len(batches) > 1 else 1
    work = functools.partial(run_batch, plan.scenario, seed=plan.seed)
    outs = ordered_map(work, batches, procs, in_flight(plan.workers), pool)
    # closing(): an interrupt (Ctrl-C) between batches stops the workers now, not at exit.
    with contextlib.closing(outs):
        for out in outs:
            label_batch(out, plan.scenario.name, plan.seed)
            yield out
            del out  # not held while the next batch is made


def run(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    progress: ProgressCallback | None = None,
    pool: Executor | None = None,
) -> RunResult:
    """Run ``replications`` replications of ``scenario``, every table held in memory.

    For many replications, :func:`simulation.outputs.run_to_folder` writes each batch to the
    results folder as it comes instead (memory flat in the number of replications).

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
    pool
        A process pool to run in (kept running), rather than one started for this run.
    """
    plan = plan_run(scenario, replications, seed, workers)
    t0 = time.perf_counter()
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in BATCH_TABLES}
    # closing(): an error or interrupt here (in ``progress``) stops the batches at once.
    with contextlib.closing(iter_batches(plan, pool)) as batches:
        for out in batches:
            for k, df in out.items():
                parts[k].append(df)
            if progress:
                progress(len(out["summary"]))
    # Batches come in replication order, each sorted by replication (and week).
    frames = {k: pd.concat(dfs, ignore_index=True) for k, dfs in parts.items()}
    return RunResult(
        scenario=scenario,
        seed=plan.seed,
        replications=plan.replications,
        elapsed_seconds=time.perf_counter() - t0,
        workers=plan.workers,
        summary=frames["summary"],
        weekly=frames["weekly"],
        units=frames["units"],
        finance=frames["finance"],
    )


ID_COLUMNS = ("scenario", "replication", DRAW, "seed", "week", "week_start")


def summary_stats(summary: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The summary table of a run (``summary.csv``): :func:`summarise` of the replications
    table, with each metric's variance split into uncertain inputs and chance; the reduced-
    variance columns are left empty under uncertain inputs (docs/statistics.md)."""
    stats = variance_split_table(summarise(summary), summary, scenario)
    return without_reduced(stats) if scenario.uncertain else stats


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
    """Per week and series: mean and P5/P25/P50/P75/P95 across replications (long format).

    ``weekly`` is sorted by replication and week (as a run makes it).
    :func:`simulation.outputs.weekly_fans_from_parquet` gives the same numbers from a weekly
    table on disk, reading one series at a time.
    """
    series = [c for c in weekly.columns if c not in ID_COLUMNS]
    n_weeks = int(weekly["week"].max()) + 1
    reps = weekly["replication"].nunique()
    week_start = weekly.loc[weekly["replication"] == weekly["replication"].iloc[0], "week_start"]
    frames = [
        series_fan(name, weekly[name].to_numpy(dtype=float).reshape(reps, n_weeks), week_start)
        for name in series
    ]
    return pd.concat(frames, ignore_index=True)


def series_fan(name: str, values: NDArray[np.float64], week_start: pd.Series) -> pd.DataFrame:
    """One series' fan: ``values`` is replications x weeks; rows of the fans table."""
    n_weeks = values.shape[1]
    # All-NaN weeks (no beds of a kind yet) are expected: keep NaN, skip the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pct = nan_percentiles(values, list(QUANTILES.values()))
        mean = np.nanmean(values, axis=0)
    df = pd.DataFrame({"series": name, "week": np.arange(n_weeks)})
    df["week_start"] = week_start.to_numpy()
    df["mean"] = mean
    for (label, _), row in zip(QUANTILES.items(), pct, strict=True):
        df[label] = row
    return df


def nan_percentiles(values: NDArray[np.float64], q: list[int]) -> NDArray[np.float64]:
    """``np.nanpercentile(values, q, axis=0)``, the same numbers, faster.

    numpy's nanpercentile works column by column in Python (one call per week); a column with
    no NaN gives the same numbers through ``np.percentile`` on all such columns at once (the
    same partition and linear interpolation, elementwise), so only columns with a NaN take the
    slow path.
    """
    has_nan = np.isnan(values).any(axis=0)
    out = np.empty((len(q), values.shape[1]))
    if not has_nan.all():
        out[:, ~has_nan] = np.percentile(values[:, ~has_nan], q, axis=0)
    if has_nan.any():
        out[:, has_nan] = np.nanpercentile(values[:, has_nan], q, axis=0)
    return out
