"""Benchmark: what ``sufficiency run`` costs in memory and time, on 1 and 2 worker processes.

Measures, for a config (default configs/coventry-2023.yaml):

- ``sufficiency run CONFIG -n BIG`` (default 10,000) as its own process on 1 and 2 workers:
  wall time, the peak resident set of its largest process (``/usr/bin/time -v``'s "Maximum
  resident set size") and the peak of the whole process tree (parent and workers, sampled
  every 0.2 s); the target is <= 500 MB for the largest process;
- in this process, the same path (``run_to_folder``: simulate, write each batch, fans, summary)
  at 100, 200 and 1,000 replications on 1 and 2 workers, alternating, and the ratio of their
  medians (2 workers should be ahead of 1 from ~100 replications);
- experiment throughput (the executor, no store) on a Dask LocalCluster of 2 workers against
  1, and their ratio (target >= 1.8).

Every time is the median of ``--repeats`` runs. Other work on the machine distorts every
figure: the bench prints the load average before and after; read ratios, measured here in one
process (the big run: one after the other), rather than seconds.

    python experiments/bench/bench_run_scaling.py                        # everything
    python experiments/bench/bench_run_scaling.py --big 2000 --repeats 3 --no-dask
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from bench_experiments import executor_rate

from simulation import load_scenario
from simulation.outputs import run_to_folder
from simulation.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
TARGET_PEAK_MB = 500
TARGET_DASK_RATIO = 1.8


def _tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker that just ended
            total += p.memory_info().rss
    return total / 2**20


def big_run(config: str, n: int, workers: int) -> dict[str, Any]:
    """``sufficiency run`` as a process under ``/usr/bin/time -v``: wall, peak RSS."""
    exe = shutil.which("sufficiency") or str(Path(sys.executable).parent / "sufficiency")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["/usr/bin/time", "-v", exe, "run", config, "-n", str(n), "-w", str(workers)]
        cmd += ["-q", "-o", str(Path(tmp) / "out")]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = [0.0]
        watched = psutil.Process(proc.pid)

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], _tree_rss_mb(watched))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-500:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    largest = int(found.group(1)) / 1024 if found else float("nan")
    return {
        "replications": n,
        "workers": workers,
        "wall_s": round(wall, 1),
        "peak_rss_largest_process_mb": round(largest),
        "peak_rss_all_processes_mb": round(peak[0]),
    }


def run_seconds(scenario: Scenario, n: int, workers: int, repeats: int) -> dict[int, float]:
    """Median seconds of ``run_to_folder`` on 1 and on ``workers`` processes, alternating."""
    times: dict[int, list[float]] = {1: [], workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for w in (1, workers):
                out = Path(tmp) / f"{w}-{i}"
                t0 = time.perf_counter()
                run_to_folder(scenario, out, replications=n, workers=w)
                times[w].append(time.perf_counter() - t0)
                shutil.rmtree(out)
    return {w: statistics.median(t) for w, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "coventry-2023.yaml"))
    parser.add_argument("--big", type=int, default=10_000, help="Replications of the big run.")
    parser.add_argument("--no-big", action="store_true", help="Skip the big run.")
    parser.add_argument("--sizes", default="100,200,1000", help="Replications of the 1-vs-2 runs.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dask-replications", type=int, default=400)
    parser.add_argument("--no-dask", action="store_true", help="Skip the Dask LocalCluster.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()

    scenario = load_scenario(args.config)
    w = args.workers
    run_to_folder(scenario, Path(tempfile.mkdtemp()) / "warm", replications=2)  # warm-up
    figures: dict[str, Any] = {
        "config": str(args.config),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
    }
    for n in (int(x) for x in args.sizes.split(",") if x):
        med = run_seconds(scenario, n, w, args.repeats)
        figures[f"run_{n}"] = {
            "1_worker_s": round(med[1], 2),
            f"{w}_workers_s": round(med[w], 2),
            f"speed_up_{w}_vs_1": round(med[1] / med[w], 2),
        }
        print(json.dumps({f"run_{n}": figures[f"run_{n}"]}), flush=True)
    if not args.no_dask:
        one = executor_rate(scenario, args.dask_replications, "local:1", 1, 25, args.repeats)
        two = executor_rate(scenario, args.dask_replications, f"local:{w}", w, 25, args.repeats)
        ratio = two / one
        figures["dask_local"] = {
            "replications": args.dask_replications,
            "1_worker_reps_per_s": round(one, 1),
            f"{w}_workers_reps_per_s": round(two, 1),
            f"ratio_{w}_vs_1": round(ratio, 2),
            "target": TARGET_DASK_RATIO,
            "met": ratio >= TARGET_DASK_RATIO,
        }
        print(json.dumps({"dask_local": figures["dask_local"]}), flush=True)
    if not args.no_big:
        big = [big_run(args.config, args.big, k) for k in (1, w)]
        for b in big:
            b["target_peak_mb"] = TARGET_PEAK_MB
            b["met"] = b["peak_rss_largest_process_mb"] <= TARGET_PEAK_MB
        figures["big_run"] = big
        figures["big_run_speed_up"] = round(big[0]["wall_s"] / big[1]["wall_s"], 2)
    figures["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
