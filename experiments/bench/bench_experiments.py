"""Benchmark: experiment throughput and the cost of one replication against bare SimPy.

Measures, for a config (default configs/coventry-2023.yaml, its 10-year horizon):

- replications per second through the experiment executor (simulation + metrics + the tables
  sent back from workers), serial, over local processes and over a Dask LocalCluster;
- the same through the whole ``sufficiency experiment`` path into a DuckDB store (optional);
- the SimPy events one replication processes, and the time a bare SimPy loop takes to process
  as many events (one process yielding that many timeouts), against the time of one
  replication of the model (``simulate`` only, and simulate + metrics);
- where a replication's time goes: setup (streams, children's draws, schedules, the staffing
  timeline), the SimPy run, and turning the event log into columns;
- for scale, the least model logic there can be on the same number of events: a loss system
  (arrivals, a bed counter, stays) driven by timeout callbacks; and the same loss system built
  the way this project builds a replication (as many named random streams, a log row per
  change, the log turned into columns): the floor under any model of this architecture.

Every figure is the median of ``--repeats`` runs.

    python experiments/bench/bench_experiments.py                     # Coventry 2023
    python experiments/bench/bench_experiments.py --replications 400 --workers 2 --store
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from bench_common import median_time

from simulation import load_scenario
from simulation.events import EventKind, EventLog, FrozenLog
from simulation.experiments.driver import run_experiment
from simulation.experiments.executor import Runner, Task
from simulation.experiments.spec import Experiment, Strategy
from simulation.metrics import compute_metrics
from simulation.model import simulate
from simulation.scenario import Scenario
from simulation.store import ResultsStore
from simulation.streams import Streams

ROOT = Path(__file__).resolve().parents[2]


def count_simpy_events(scenario: Scenario, replication: int = 0) -> int:
    """SimPy events one replication processes (counted by wrapping Environment.step)."""
    original = simpy.Environment.step
    count = 0

    def counting_step(self: simpy.Environment) -> None:
        nonlocal count
        count += 1
        original(self)

    simpy.Environment.step = counting_step  # type: ignore[method-assign]
    try:
        simulate(scenario, replication)
    finally:
        simpy.Environment.step = original  # type: ignore[method-assign]
    return count


def bare_simpy(n_events: int, horizon_days: float, seed: int = 0) -> None:
    """The least SimPy work for ``n_events`` events: one process, one timeout per event."""
    delays = np.random.default_rng(seed).exponential(horizon_days / n_events, n_events).tolist()
    env = simpy.Environment()

    def loop(env: simpy.Environment) -> Any:
        for d in delays:
            yield env.timeout(d)

    env.process(loop(env))
    env.run()


def loss_model(n_events: int, horizon_days: float, beds: int = 36, seed: int = 0) -> int:
    """The simplest bed model on about ``n_events`` SimPy events: Poisson arrivals, a bed
    counter, exponential stays, overflow counted (timeout callbacks, no processes)."""
    rng = np.random.default_rng(seed)
    n = n_events // 2
    gaps = rng.exponential(horizon_days / n, n).tolist()
    stays = rng.exponential(beds * horizon_days / n, n).tolist()
    env = simpy.Environment()
    state = {"free": beds, "lost": 0, "i": 0}

    def leave(_event: simpy.Event) -> None:
        state["free"] += 1

    def arrive(_event: simpy.Event) -> None:
        i = state["i"]
        if state["free"] > 0:
            state["free"] -= 1
            env.timeout(stays[i]).callbacks.append(leave)
        else:
            state["lost"] += 1
        state["i"] = i + 1
        if i + 1 < n:
            env.timeout(gaps[i + 1]).callbacks.append(arrive)

    env.timeout(gaps[0]).callbacks.append(arrive)
    env.run()
    return state["lost"]


def count_streams_and_rows(scenario: Scenario, replication: int = 0) -> tuple[int, int]:
    """Named streams one replication creates, and log rows its processes append one by one."""
    original_call, original_freeze = Streams.__call__, EventLog.freeze
    names: set[str] = set()
    rows = 0

    def counting_call(self: Streams, name: str) -> np.random.Generator:
        names.add(name)
        return original_call(self, name)

    def counting_freeze(self: EventLog) -> FrozenLog:
        nonlocal rows
        rows = len(self.rows)
        return original_freeze(self)

    Streams.__call__ = counting_call  # type: ignore[method-assign]
    EventLog.freeze = counting_freeze  # type: ignore[method-assign]
    try:
        simulate(scenario, replication)
    finally:
        Streams.__call__ = original_call  # type: ignore[method-assign]
        EventLog.freeze = original_freeze  # type: ignore[method-assign]
    return len(names), rows


def logged_loss_model(
    n_events: int, horizon_days: float, n_streams: int, beds: int = 36, seed: int = 0
) -> int:
    """The loss model built as a replication here is: ``n_streams`` named streams (the loss
    model draws from one), a log row per arrival, placement and departure, and the log turned
    into columns at the end. Returns the rows logged."""
    streams = Streams(seed, 0)
    generators = [streams(f"floor:{k}") for k in range(n_streams)]  # made, as a replication's are
    rng = generators[0]
    n = n_events // 2
    gaps = rng.exponential(horizon_days / n, n).tolist()
    stays = rng.exponential(beds * horizon_days / n, n).tolist()
    env = simpy.Environment()
    log = EventLog()
    rows = log.rows
    state = {"free": beds, "i": 0}
    arrived, placed, left = int(EventKind.ARRIVE), int(EventKind.PLACE), int(EventKind.EXIT)

    def leave(_event: simpy.Event) -> None:
        state["free"] += 1
        rows.append((env.now, left, -1, 0, 0, 0.0, -1, 1))

    def arrive(_event: simpy.Event) -> None:
        i = state["i"]
        rows.append((env.now, arrived, i, -1, 0, 0.0, -1, -1))
        if state["free"] > 0:
            state["free"] -= 1
            rows.append((env.now, placed, i, 0, 0, 0.0, 1, -1))
            env.timeout(stays[i]).callbacks.append(leave)
        state["i"] = i + 1
        if i + 1 < n:
            env.timeout(gaps[i + 1]).callbacks.append(arrive)

    env.timeout(gaps[0]).callbacks.append(arrive)
    env.run()
    return len(log.freeze())


def simulate_phases(scenario: Scenario, reps: int) -> dict[str, float]:
    """Median ms per replication of setup, the SimPy run, and freezing the log."""
    run_s: list[float] = []
    freeze_s: list[float] = []
    total_s: list[float] = []
    original_run, original_freeze = simpy.Environment.run, EventLog.freeze

    def timed_run(self: simpy.Environment, until: Any = None) -> Any:
        t0 = time.perf_counter()
        out = original_run(self, until)
        run_s.append(time.perf_counter() - t0)
        return out

    def timed_freeze(self: EventLog) -> FrozenLog:
        t0 = time.perf_counter()
        out = original_freeze(self)
        freeze_s.append(time.perf_counter() - t0)
        return out

    simpy.Environment.run = timed_run  # type: ignore[method-assign]
    EventLog.freeze = timed_freeze  # type: ignore[method-assign]
    try:
        for r in range(reps):
            t0 = time.perf_counter()
            simulate(scenario, r)
            total_s.append(time.perf_counter() - t0)
    finally:
        simpy.Environment.run = original_run  # type: ignore[method-assign]
        EventLog.freeze = original_freeze  # type: ignore[method-assign]
    run, freeze, total = (1000 * statistics.median(x) for x in (run_s, freeze_s, total_s))
    return {
        "setup_ms": round(total - run - freeze, 3),
        "simpy_run_ms": round(run, 3),
        "log_freeze_ms": round(freeze, 3),
    }


def executor_rate(
    scenario: Scenario, n: int, scheduler: str | None, workers: int, batch: int, repeats: int
) -> float:
    """Replications per second through the executor (no store)."""

    def go(runner: Runner) -> None:
        tasks = [
            Task(0, scenario, tuple(range(k, min(n, k + batch))), scenario.run.seed)
            for k in range(0, n, batch)
        ]
        for _ in runner.imap_unordered(tasks):
            pass

    with Runner(scheduler, workers) as runner:
        go(runner)  # warm up the workers (imports, first tasks)
        return n / median_time(lambda: go(runner), repeats)


def store_rate(scenario: Scenario, n: int, workers: int, repeats: int, weekly: bool) -> float:
    """Replications per second of the whole experiment path into a fresh DuckDB store."""
    exp = Experiment(
        name="bench",
        description="",
        source="bench",
        base_path=ROOT,
        seed=scenario.run.seed,
        replications=n,
        stop=None,
        baseline="base",
        metrics=("cost_total_gbp",),
        strategies=(Strategy("base", scenario),),
    )
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_experiment(
                exp, ResultsStore(Path(tmp) / "r.duckdb"), workers=workers, weekly=weekly
            )
            times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "coventry-2023.yaml"))
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=25, help="Replications per task.")
    parser.add_argument("--no-dask", action="store_true", help="Skip the Dask LocalCluster.")
    parser.add_argument("--store", action="store_true", help="Also time the DuckDB store path.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()

    scenario = load_scenario(args.config)
    n, w = args.replications, args.workers
    simulate(scenario, 0)  # warm-up: imports and caches do not count

    events = count_simpy_events(scenario)
    log_rows = len(simulate(scenario, 0).log)
    reps = 20
    sim_s = median_time(lambda: [simulate(scenario, r) for r in range(reps)], args.repeats) / reps
    runs = [simulate(scenario, r) for r in range(reps)]
    metrics_s = (
        median_time(lambda: [compute_metrics(scenario, r) for r in runs], args.repeats) / reps
    )
    bare_s = median_time(lambda: bare_simpy(events, scenario.horizon_days), max(5, args.repeats))
    loss_s = median_time(lambda: loss_model(events, scenario.horizon_days), max(5, args.repeats))
    n_streams, tuple_rows = count_streams_and_rows(scenario)
    floor_s = median_time(
        lambda: logged_loss_model(events, scenario.horizon_days, n_streams), max(5, args.repeats)
    )
    floor_rows = logged_loss_model(events, scenario.horizon_days, n_streams)
    phases = simulate_phases(scenario, 3 * reps)

    figures: dict[str, Any] = {
        "config": str(args.config),
        "replications": n,
        "repeats": args.repeats,
        "batch": args.batch,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "simpy_events_per_replication": events,
        "event_log_rows_per_replication": log_rows,
        "bare_simpy_ms": round(1000 * bare_s, 3),
        "simulate_ms_per_rep": round(1000 * sim_s, 3),
        "metrics_ms_per_rep": round(1000 * metrics_s, 3),
        "simulate_vs_bare_simpy": round(sim_s / bare_s, 2),
        "replication_vs_bare_simpy": round((sim_s + metrics_s) / bare_s, 2),
        "simulate_phases": phases,
        "simpy_run_vs_bare_simpy": round(phases["simpy_run_ms"] / (1000 * bare_s), 2),
        "loss_model_callbacks_ms": round(1000 * loss_s, 3),
        "loss_model_vs_bare_simpy": round(loss_s / bare_s, 2),
        "named_streams_per_replication": n_streams,
        "log_rows_appended_per_replication": tuple_rows,
        "logged_loss_model_rows": floor_rows,
        "logged_loss_model_ms": round(1000 * floor_s, 3),
        "logged_loss_model_vs_bare_simpy": round(floor_s / bare_s, 2),
    }
    serial = executor_rate(scenario, n, None, 1, args.batch, args.repeats)
    figures["serial_reps_per_s"] = round(serial, 1)
    local = executor_rate(scenario, n, None, w, args.batch, args.repeats)
    figures[f"processes_{w}_workers_reps_per_s"] = round(local, 1)
    figures["seconds_for_10000_reps_processes"] = round(10_000 / local, 1)
    if not args.no_dask:
        dask = executor_rate(scenario, n, f"local:{w}", w, args.batch, args.repeats)
        figures[f"dask_local_{w}_workers_reps_per_s"] = round(dask, 1)
        figures["seconds_for_10000_reps_dask"] = round(10_000 / dask, 1)
    if args.store:
        rate = store_rate(scenario, n, w, args.repeats, weekly=True)
        figures[f"experiment_store_{w}_workers_reps_per_s"] = round(rate, 1)
        rate = store_rate(scenario, n, w, args.repeats, weekly=False)
        figures[f"experiment_store_no_weekly_{w}_workers_reps_per_s"] = round(rate, 1)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
