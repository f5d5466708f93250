"""Benchmark: time for an experiment to a decision-grade answer, with and without variance
reduction.

Runs ``experiments/opening-delays.yaml`` (25 strategies) to a precision target: every paired
total-cost difference from the baseline within ``--target`` (95% CI half-width), each strategy
stopping once its difference is precise, up to ``--max-replications`` a strategy. Once with the
reduced-variance estimator (the cost at mean prices and control variates, docs/statistics.md),
once judging the plain paired difference (``reduce_variance: false``). Each run starts from an
empty store. Reports the median wall-clock seconds of ``--repeats`` runs, the replications
simulated, and the worst half-width reached, and from the last run's per-strategy variances the
replications each would need for ``--extrapolate-to`` (default ±£0.1m).

    python experiments/bench/bench_time_to_answer.py                         # ±£0.5m, 2 workers
    python experiments/bench/bench_time_to_answer.py --target 100k --max-replications 3000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from simulation.experiments import load_experiment, run_experiment
from simulation.experiments.driver import paired_ci
from simulation.experiments.spec import Experiment
from simulation.precision import paired_reduced, parse_precision
from simulation.store import ResultsStore

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "experiments" / "opening-delays.yaml"


def _with(exp: Experiment, target: str, cap: int, reduce_variance: bool) -> Experiment:
    exp = exp.with_precision(target, cap)
    assert exp.precision is not None
    rule = exp.precision.model_copy(update={"reduce_variance": reduce_variance})
    return Experiment(**{**exp.__dict__, "precision": rule})


def one_run(exp: Experiment, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_experiment(
            exp, ResultsStore(Path(tmp) / "r.duckdb"), workers=workers, weekly=False
        )
        seconds = time.perf_counter() - t0
    table = result.precision
    assert table is not None
    # Both estimators' half-widths of each strategy on the same replications, for the
    # estimate of what each would need.
    summary = result.summary
    base = summary[summary["strategy"] == exp.baseline].drop(columns=["strategy"])
    plain, reduced = {}, {}
    for st, grp in summary.groupby("strategy"):
        if st != exp.baseline:
            other = grp.drop(columns=["strategy"])
            indexed = base.set_index("replication")["cost_total_gbp"]
            plain[st] = paired_ci(indexed, other, "cost_total_gbp").half_width
            reduced[st] = paired_reduced(base, other, "cost_total_gbp").half_width
    table = table.assign(
        plain_half_width=table["strategy"].map(plain),
        reduced_half_width=table["strategy"].map(reduced),
    )
    return {
        "seconds": seconds,
        "replications": int(result.ran),
        "all_met": bool(table["met"].all()),
        "worst_half_width": float(table["half_width"].max()),
        "per_strategy": table[
            [
                "strategy",
                "n",
                "half_width",
                "plain_half_width",
                "reduced_half_width",
                "variance_reduction",
            ]
        ].to_dict(orient="records"),
    }


def needed(per_strategy: list[dict[str, Any]], target: float, column: str = "half_width") -> int:
    """Replications (summed over strategies, plus the baseline at the largest) to bring each
    strategy's half-width to ``target``: half-widths shrink as 1/sqrt(n). An estimate."""
    ns = [max(1, math.ceil(r["n"] * (r[column] / target) ** 2)) for r in per_strategy]
    return sum(ns) + max(ns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--target", default="500k")
    parser.add_argument("--max-replications", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extrapolate-to", default="100k")
    parser.add_argument("--only", choices=["reduced", "plain"], default=None)
    args = parser.parse_args()
    base = load_experiment(args.spec)
    goal = parse_precision(args.extrapolate_to).value
    target = parse_precision(args.target).value
    out: dict[str, Any] = {
        "spec": str(args.spec),
        "target": args.target,
        "max_replications": args.max_replications,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
    }
    for name, reduce in (("reduced", True), ("plain", False)):
        if args.only and args.only != name:
            continue
        exp = _with(base, args.target, args.max_replications, reduce)
        runs = [one_run(exp, args.workers) for _ in range(args.repeats)]
        last = runs[-1]
        out[name] = {
            "median_seconds": statistics.median(r["seconds"] for r in runs),
            "seconds": [round(r["seconds"], 1) for r in runs],
            "replications": last["replications"],
            "all_met": last["all_met"],
            "worst_half_width": last["worst_half_width"],
            "replications_per_second": last["replications"] / last["seconds"],
            "estimated_replications_needed": {
                f"{est}, {label}": needed(last["per_strategy"], value, column)
                for est, column in (
                    ("reduced", "reduced_half_width"),
                    ("plain", "plain_half_width"),
                )
                for label, value in ((args.target, target), (args.extrapolate_to, goal))
            },
            "median_variance_reduction": statistics.median(
                r["variance_reduction"] for r in last["per_strategy"]
            ),
        }
        print(name, json.dumps(out[name]), flush=True)
    out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
