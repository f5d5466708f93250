"""Run a whole experiment into the results store, resuming whatever is already there.

Replications run in rounds (one round of ``replications`` for a fixed count; rounds of
``step`` for a stopping rule; for a precision target, each strategy as far as its precision
projects). Replication r of every strategy runs on the same root seed, so the strategies stay
paired. Finished batches are committed to the store together every two seconds or so; on a
re-run, replications already stored are not run again, so an interrupted experiment picks up
where it stopped and ends with exactly the rows an uninterrupted run would have written.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulation.experiments.executor import Runner, Task
from simulation.experiments.paired import paired_differences
from simulation.experiments.spec import Experiment, PrecisionRule
from simulation.observed import point_values
from simulation.outputs import code_version
from simulation.pool import ProgressCallback
from simulation.precision import Reduced, paired_reduced, paired_reduced_table, reduced_mean
from simulation.runner import summarise
from simulation.stats import MeanCI, mean_ci
from simulation.store import ResultsStore, RunRecord, StoreError

TotalCallback = Callable[[int], None]


@dataclass
class ExperimentResult:
    """What an experiment produced: per-replication summaries of every strategy, and stats."""

    experiment: Experiment
    replications: int  # per strategy
    summary: pd.DataFrame  # strategy, replication, metrics...
    run_ids: dict[str, str]
    elapsed_seconds: float = 0.0
    ran: int = 0  # replications simulated in this call (the rest were already stored)
    where: str = ""
    notes: list[str] = field(default_factory=list)
    # Precision runs: per strategy and metric, the reduced paired difference reached.
    precision: pd.DataFrame | None = None

    def paired(self, metrics: list[str] | None = None) -> pd.DataFrame:
        """Paired differences of every strategy from the baseline."""
        return paired_differences(
            self.summary, self.experiment.baseline, metrics or list(self.experiment.metrics)
        )

    def reduced_cost(self) -> pd.DataFrame | None:
        """Each strategy's total-cost difference with reduced variance
        (:func:`simulation.precision.paired_reduced_table`), where it is shown beside the plain
        one; None for a run to a precision target (its own table has it), with uncertain
        inputs, or without a total cost or a second strategy."""
        exp = self.experiment
        if (
            self.precision is not None
            or "cost_total_gbp" not in self.summary.columns
            or len(exp.strategies) < 2
            or any(s.scenario.uncertain for s in exp.strategies)
        ):
            return None
        return paired_reduced_table(self.summary, exp.baseline, ["cost_total_gbp"])

    def stats(self) -> pd.DataFrame:
        """Mean, percentiles and CI of each metric, per strategy."""
        frames = []
        for name, grp in self.summary.groupby("strategy", sort=False):
            s = summarise(grp.drop(columns=["strategy"]))
            s.insert(0, "strategy", name)
            frames.append(s)
        return pd.concat(frames, ignore_index=True)


class _BatchWriter:
    """Finished batches, stored together at most every ``every_s`` seconds.

    Each write opens the store file (about 0.1 s), so writing every small batch on its own
    would cost more than simulating it; this bounds what a SIGKILL can lose to ``every_s``
    seconds of results. The file is open only while a write runs, never while simulating.
    """

    def __init__(self, store: ResultsStore, every_s: float = 2.0) -> None:
        self.store, self.every_s = store, every_s
        self.pending: list[tuple[str, dict[str, pd.DataFrame]]] = []
        self.last = time.monotonic()

    def add(self, run_id: str, tables: dict[str, pd.DataFrame]) -> None:
        self.pending.append((run_id, tables))
        if time.monotonic() - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.store.write_batches(self.pending)
            self.pending = []
        self.last = time.monotonic()


def _batch_size(n_missing: int, slots: int, cap: int = 50) -> int:
    # About four tasks per worker slot balances load; the cap keeps each commit small and the
    # progress bar moving, and bounds what a crash can lose.
    return max(1, min(cap, math.ceil(n_missing / max(1, 4 * slots))))


def _rounds(exp: Experiment) -> list[tuple[int, int]]:
    if exp.stop is None:
        assert exp.replications is not None
        return [(0, exp.replications)]
    step = exp.stop.step or exp.stop.min
    edges = [exp.stop.min]
    while edges[-1] < exp.stop.max:
        edges.append(min(exp.stop.max, edges[-1] + step))
    return list(zip([0, *edges[:-1]], edges, strict=True))


def _rule_met(exp: Experiment, summary: pd.DataFrame) -> bool:
    """True when every strategy's CI half-width of the stopping metric is on target."""
    assert exp.stop is not None
    for _, grp in summary.groupby("strategy"):
        ci = mean_ci(grp[exp.stop.metric].to_numpy(dtype=float))
        if math.isnan(ci.half_width):
            return False
        target = (
            exp.stop.half_width
            if exp.stop.half_width is not None
            else exp.stop.relative_half_width * abs(ci.mean)  # type: ignore[operator]
        )
        if ci.half_width > target:
            return False
    return True


def run_experiment(
    exp: Experiment,
    store: ResultsStore,
    *,
    scheduler: str | None = None,
    workers: int = 0,
    weekly: bool = True,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    set_total: TotalCallback | None = None,
    runner: Runner | None = None,
) -> ExperimentResult:
    """Run (or finish) ``exp``, storing every batch; return the summaries and paired stats.

    Parameters
    ----------
    scheduler
        ``None`` for local processes, ``local:N`` for a Dask LocalCluster, ``tcp://HOST:PORT``
        for an existing Dask scheduler.
    workers
        Local processes when ``scheduler`` is None (0 = one per core; 1 = this process).
    weekly
        Store the weekly series (the largest table) too.
    batch_size
        Replications per task (default: sized to the workers, at most 50).
    progress, set_total
        Called with replications just completed (or found already stored), and with a new total
        when a stopping rule ends the experiment early.
    """
    try:
        if runner is not None:
            return _run_experiment(exp, store, weekly, batch_size, progress, set_total, runner)
        # Start the workers (or connect to the cluster) before touching the store, so a
        # scheduler that cannot be reached leaves the store as it was.
        with Runner(scheduler, workers) as own:
            return _run_experiment(exp, store, weekly, batch_size, progress, set_total, own)
    finally:
        store.close()


def _run_experiment(
    exp: Experiment,
    store: ResultsStore,
    weekly: bool,
    batch_size: int | None,
    progress: ProgressCallback | None,
    set_total: TotalCallback | None,
    active: Runner,
) -> ExperimentResult:
    t0 = time.perf_counter()
    version = code_version()
    store.save_experiment(
        exp.name,
        exp.source,
        exp.spec.model_dump(mode="json") if exp.spec else {},
        exp.baseline,
        exp.metrics,
    )
    recs = [
        RunRecord(
            experiment=exp.name,
            strategy=st.name,
            position=pos,
            scenario=st.scenario,
            seed=exp.seed,
            code_version=version,
            overrides=[{"path": o.path, o.op: o.value} for o in st.overrides],
            target_replications=exp.max_replications,
        )
        for pos, st in enumerate(exp.strategies)
    ]
    stored = store.ensure_runs(recs)
    run_ids = {rec.strategy: rec.run_id for rec in recs}
    done = {rec.strategy: stored[rec.run_id] for rec in recs}
    writer = _BatchWriter(store)

    if exp.precision is not None:
        return _run_to_precision(
            exp, store, (run_ids, done, writer), batch_size, progress, set_total, active, t0, weekly
        )
    ran = 0
    final_n = 0
    try:
        for lo, hi in _rounds(exp):
            already = sum(len({r for r in done[s.name] if lo <= r < hi}) for s in exp.strategies)
            if progress and already:
                progress(already)
            missing = {
                i: sorted(set(range(lo, hi)) - done[s.name]) for i, s in enumerate(exp.strategies)
            }
            tasks = _tasks(exp, missing, batch_size, active.slots, weekly)
            ran += _store_tasks(exp, active, tasks, (run_ids, done, writer), progress)
            final_n = hi
            if exp.stop is not None and hi < exp.stop.max:
                summary = _load_summary(store, exp, run_ids, hi)
                if _rule_met(exp, summary):
                    if set_total:
                        set_total(hi * len(exp.strategies))
                    break
    except KeyboardInterrupt:
        # Whole batches already stored stay; the runs say they stopped, not that they run on.
        # (If even that cannot be written, readers see their process has ended: interrupted.)
        with contextlib.suppress(StoreError):
            writer.flush()
            store.finish_runs(list(run_ids.values()), status="interrupted")
        raise
    store.finish_runs(list(run_ids.values()))
    summary = _load_summary(store, exp, run_ids, final_n)
    return ExperimentResult(
        experiment=exp,
        replications=final_n,
        summary=summary,
        run_ids=run_ids,
        elapsed_seconds=time.perf_counter() - t0,
        ran=ran,
        where=active.description,
    )


def _tasks(
    exp: Experiment,
    missing: dict[int, list[int]],
    batch_size: int | None,
    slots: int,
    weekly: bool,
) -> list[Task]:
    """Tasks running the ``missing`` replications of each strategy (by position)."""
    n_missing = sum(len(m) for m in missing.values())
    size = batch_size or _batch_size(n_missing, slots)
    return [
        Task(i, exp.strategies[i].scenario, tuple(reps[k : k + size]), exp.seed, weekly)
        for k in range(0, max((len(m) for m in missing.values()), default=0), size)
        for i, reps in missing.items()
        if reps[k : k + size]
    ]


def _store_tasks(
    exp: Experiment,
    active: Runner,
    tasks: list[Task],
    state: tuple[dict[str, str], dict[str, set[int]], _BatchWriter],
    progress: ProgressCallback | None,
) -> int:
    """Run ``tasks``, store each batch as it comes and note its replications as done; returns
    how many replications ran."""
    run_ids, done, writer = state
    ran = 0
    for key, tables in active.imap_unordered(tasks):
        name = exp.strategies[key].name
        writer.add(run_ids[name], tables)
        reps = [int(r) for r in tables["summary"]["replication"]]
        done[name].update(reps)
        ran += len(reps)
        if progress:
            progress(len(reps))
    writer.flush()
    return ran


def next_reach(rule: PrecisionRule, n: int, rows: pd.DataFrame) -> int:
    """Replications a strategy that missed its target runs to next: what its half-widths
    project (they shrink as 1/sqrt(n), so ``n (h / target)^2``, the largest over its metrics),
    rounded up to a whole number of ``step``s, at least one step more, at most ``max``."""
    step = rule.step or rule.min
    ratio = (rows["half_width"] / rows["target"]).to_numpy(dtype=float)
    need = n + step
    if len(ratio) and np.isfinite(ratio).all():
        projected = n * float(np.max(ratio)) ** 2
        need = max(need, n + step * math.ceil((projected - n) / step - 1e-9))
    return min(rule.max, need)


def precision_table(
    exp: Experiment, summary: pd.DataFrame, reached: dict[str, int]
) -> pd.DataFrame:
    """Per strategy (not the baseline) and precision metric: the reduced paired difference
    on the strategy's first ``reached[strategy]`` replications, its target and whether met."""
    rule = exp.precision
    assert rule is not None
    target = rule.target
    base = summary[summary["strategy"] == exp.baseline].drop(columns=["strategy"])
    rows = []
    for st in exp.strategies:
        if st.name == exp.baseline:
            continue
        other = summary[summary["strategy"] == st.name].drop(columns=["strategy"])
        other = other[other["replication"] < reached[st.name]]
        for metric in rule.metrics:
            r = paired_reduced(base, other, metric)
            if not rule.reduce_variance:
                plain = paired_ci(base.set_index("replication")[metric], other, metric)
                r = Reduced(plain.n, plain.mean, plain.half_width, 1.0, "plain")
            goal = target.target_for(reduced_mean(base, metric).mean)
            rows.append(
                {
                    "strategy": st.name,
                    "metric": metric,
                    "n": r.n,
                    "mean_diff": r.mean,
                    "half_width": r.half_width,
                    "target": goal,
                    "met": bool(r.half_width <= goal),
                    "variance_reduction": r.factor,
                    "reduced_by": r.by,
                }
            )
    return pd.DataFrame(rows)


def paired_ci(base: pd.Series, other: pd.DataFrame, metric: str) -> MeanCI:
    """The plain CI of the mean paired difference ``other - base`` of ``metric``."""
    values = other.set_index("replication")[metric]
    common = values.index.intersection(base.index)
    return mean_ci(values[common].to_numpy(dtype=float) - base[common].to_numpy(dtype=float))


def _run_to_precision(
    exp: Experiment,
    store: ResultsStore,
    state: tuple[dict[str, str], dict[str, set[int]], _BatchWriter],
    batch_size: int | None,
    progress: ProgressCallback | None,
    set_total: TotalCallback | None,
    active: Runner,
    t0: float,
    weekly: bool,
) -> ExperimentResult:
    """Rounds of replications for the strategies whose paired differences are not yet on
    target (and for the baseline while any is not), up to the cap.

    Which strategies run on is decided from stored results alone, round by round, so a run
    resumed after an interruption takes the same decisions and ends with the same rows.
    """
    rule = exp.precision
    assert rule is not None
    run_ids, done, writer = state
    reached = dict.fromkeys(run_ids, 0)
    # Where each strategy runs to next: first ``min``, then as far as its precision projects.
    goal = {s.name: min(rule.min, rule.max) for s in exp.strategies}
    open_names = [s.name for s in exp.strategies if s.name != exp.baseline]
    ran = 0
    table = pd.DataFrame()
    try:
        while open_names:
            # The baseline runs as far as the furthest strategy (its pairs are the first n).
            goal[exp.baseline] = max(reached[exp.baseline], *(goal[n] for n in open_names))
            names = [*open_names, exp.baseline]
            already = sum(len({r for r in done[n] if reached[n] <= r < goal[n]}) for n in names)
            if progress and already:
                progress(already)
            missing = {
                i: sorted(set(range(reached[s.name], goal[s.name])) - done[s.name])
                for i, s in enumerate(exp.strategies)
                if s.name in names
            }
            tasks = _tasks(exp, missing, batch_size, active.slots, weekly)
            ran += _store_tasks(exp, active, tasks, (run_ids, done, writer), progress)
            for n in names:
                reached[n] = goal[n]
            summary = _load_summary(store, exp, run_ids, max(reached.values()))
            table = precision_table(exp, summary, reached)
            rows = dict(tuple(table.groupby("strategy", sort=False)))
            still = []
            for n in open_names:
                if bool(rows[n]["met"].all()) or reached[n] >= rule.max:
                    continue
                goal[n] = next_reach(rule, reached[n], rows[n])
                still.append(n)
            open_names = still
        # What the stopped strategies did not need, off the progress bar's total.
        if set_total:
            set_total(sum(reached.values()))
    except KeyboardInterrupt:
        with contextlib.suppress(StoreError):
            writer.flush()
            store.finish_runs(list(run_ids.values()), status="interrupted")
        raise
    store.finish_runs(list(run_ids.values()))
    summary = _load_summary(store, exp, run_ids, max(reached.values()))
    keep = summary["replication"] < summary["strategy"].map(reached)
    return ExperimentResult(
        experiment=exp,
        replications=max(reached.values()),
        summary=summary[keep].reset_index(drop=True),
        run_ids=run_ids,
        elapsed_seconds=time.perf_counter() - t0,
        ran=ran,
        where=active.description,
        precision=table,
    )


def observed_values(result: ExperimentResult, store: ResultsStore) -> dict[str, pd.DataFrame]:
    """Per strategy, each replication's value at the observed points of the strategy's config
    (:func:`simulation.observed.point_values`), from the weekly series in the store. Empty when
    the configs have no observed points or no weekly rows were stored (``--no-weekly``)."""
    out: dict[str, pd.DataFrame] = {}
    for st in result.experiment.strategies:
        run_id = result.run_ids.get(st.name)
        if not st.scenario.observed or run_id is None:
            continue
        weekly = store.table("weekly", [run_id], max_replications=result.replications)
        if weekly.empty:
            return {}
        out[st.name] = point_values(st.scenario, weekly)
    return out


def _load_summary(
    store: ResultsStore, exp: Experiment, run_ids: dict[str, str], n: int
) -> pd.DataFrame:
    """Per-replication summaries of the experiment's runs, replications ``0..n-1``."""
    df = store.table("replications", list(run_ids.values()), max_replications=n)
    order = {s.name: i for i, s in enumerate(exp.strategies)}
    df = df.drop(columns=["experiment", "run_id"])
    df = df.sort_values(
        ["strategy", "replication"], key=lambda c: c.map(order) if c.name == "strategy" else c
    )
    return df.reset_index(drop=True)


def run_in_memory(
    exp: Experiment,
    *,
    workers: int = 0,
    scheduler: str | None = None,
    progress: ProgressCallback | None = None,
) -> ExperimentResult:
    """Run ``exp`` without a store (``sufficiency compare``): summaries only, same seeds."""
    t0 = time.perf_counter()
    n = exp.max_replications
    parts: list[pd.DataFrame] = []
    with Runner(scheduler, workers) as runner:
        size = _batch_size(n * len(exp.strategies), runner.slots)
        tasks = [
            Task(i, s.scenario, tuple(range(k, min(n, k + size))), exp.seed, weekly=False)
            for k in range(0, n, size)
            for i, s in enumerate(exp.strategies)
        ]
        for key, tables in runner.imap_unordered(tasks):
            df = tables["summary"]
            df.insert(0, "strategy", exp.strategies[key].name)
            parts.append(df)
            if progress:
                progress(len(df))
        where = runner.description
    order = {s.name: i for i, s in enumerate(exp.strategies)}
    summary = pd.concat(parts, ignore_index=True)
    summary = summary.sort_values(
        ["strategy", "replication"], key=lambda c: c.map(order) if c.name == "strategy" else c
    ).reset_index(drop=True)
    return ExperimentResult(
        experiment=exp,
        replications=n,
        summary=summary,
        run_ids={},
        elapsed_seconds=time.perf_counter() - t0,
        ran=n * len(exp.strategies),
        where=where,
    )
