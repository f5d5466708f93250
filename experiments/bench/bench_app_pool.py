"""Benchmark: what the app saves by keeping one worker pool per browser session.

The app compares N strategies as N runs. With a pool started for each run, every run pays for
starting its worker processes (from a forkserver with the simulation preloaded, as the app does);
with the session's pool (:class:`simulation.app.workers.SessionPool`) only the first does. This
times ``--runs`` short runs of a config both ways, alternating, and prints the medians of
``--repeats`` rounds and the saving per run. Other work on the machine distorts the figures:
the load average is printed before and after.

    python experiments/bench/bench_app_pool.py                      # minimal.yaml, 6 runs x 4
    python experiments/bench/bench_app_pool.py --config configs/coventry-2023.yaml --runs 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from pathlib import Path

from simulation.app.workers import SessionPool
from simulation.runner import run
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "minimal.yaml"))
    parser.add_argument("--runs", type=int, default=6, help="runs per round (N strategies)")
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    multiprocessing.set_forkserver_preload(["simulation.runner"])
    multiprocessing.set_start_method("forkserver", force=True)
    scenario = load_scenario(args.config)
    workers = max(2, os.cpu_count() or 1)
    print(f"load average before: {os.getloadavg()}")
    run(scenario, replications=args.replications, seed=1, workers=workers)  # start the server
    own, kept = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(args.runs):
            run(scenario, replications=args.replications, seed=1, workers=workers)
        own.append(time.perf_counter() - t)
        session = SessionPool(workers)
        t = time.perf_counter()
        for _ in range(args.runs):
            run(
                scenario,
                replications=args.replications,
                seed=1,
                workers=workers,
                pool=session.acquire(),
            )
            session.release()
        kept.append(time.perf_counter() - t)
        session.stop()
    a, b = statistics.median(own), statistics.median(kept)
    print(
        f"{args.runs} runs of {Path(args.config).name} x {args.replications} replications on "
        f"{workers} workers: a pool per run {a:.2f} s, one session pool {b:.2f} s; "
        f"saving {1000 * (a - b) / args.runs:.0f} ms a run"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
