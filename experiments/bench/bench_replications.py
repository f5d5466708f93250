"""Benchmark: replications per second for a scenario (default: configs/coventry-2023.yaml).

Times the whole pipeline of a replication (SimPy model + metrics), serial and over local
processes, and the split between simulation and metrics, reporting the median of several runs.

    python experiments/bench/bench_replications.py                 # Coventry 2023, defaults
    python experiments/bench/bench_replications.py configs/minimal.yaml --replications 500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from bench_common import median_time

from simulation import load_scenario, run
from simulation.metrics import compute_metrics
from simulation.model import simulate

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "coventry-2023.yaml"))
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()

    scenario = load_scenario(args.config)
    n = args.replications
    # One warm-up so imports and caches do not count.
    run(scenario, replications=2, workers=1)

    sim_only = median_time(lambda: [simulate(scenario, r) for r in range(n)], args.repeats)
    reps = [simulate(scenario, r) for r in range(n)]
    metrics_only = median_time(lambda: [compute_metrics(scenario, r) for r in reps], args.repeats)
    serial = median_time(lambda: run(scenario, replications=n, workers=1), args.repeats)
    parallel = median_time(
        lambda: run(scenario, replications=n, workers=args.workers), args.repeats
    )
    events = sum(len(r.log) for r in reps) / n

    figures = {
        "config": str(args.config),
        "replications": n,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "events_per_replication": round(events, 1),
        "simulate_ms_per_rep": round(1000 * sim_only / n, 3),
        "metrics_ms_per_rep": round(1000 * metrics_only / n, 3),
        "serial_reps_per_s": round(n / serial, 1),
        f"parallel_{args.workers}_workers_reps_per_s": round(n / parallel, 1),
        "seconds_for_10000_reps_parallel": round(10_000 * parallel / n, 1),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
