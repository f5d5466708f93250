"""Benchmark: one replication of the bench loss system through the whole project, against a lean
SimPy loop and ciw, measured in the same process.

The bench loss system: Poisson arrivals, 60 a year; 36 council beds; exponential stays of mean
200 days; a child who finds every bed taken goes to the (uncapped) spot market at once; 10
years. The project runs it as any config: validated scenario -> SimPy model -> event log ->
metrics (``compute_metrics``). The lean loop is the same system in a few lines of SimPy with no
log and no metrics; ciw (a queueing-network library on its own engine) runs it as an M/M/36/36
queue. All three are checked to agree on the share of arrivals that found no bed (Erlang-B).

Judged on (docs/performance.md): project / lean SimPy <= 3, and ciw / project >= 1.5.

    pip install ciw            # or: pip install -e ".[bench]"
    python experiments/bench/bench_engines.py --replications 200 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy
from bench_common import median_time

from simulation import parse_scenario
from simulation.metrics import compute_metrics
from simulation.model import simulate
from simulation.queueing import erlang_b

ARRIVALS_PER_YEAR = 60.0
BEDS = 36
STAY_DAYS = 200.0
YEARS = 10
DAYS = 365.25 * YEARS


def project_config() -> dict[str, Any]:
    return {
        "name": "bench-loss-system",
        "run": {"start_date": "2024-01-01", "horizon_years": YEARS, "seed": 1},
        "demand": {
            "needs": {
                "a": {
                    "arrivals_per_year": ARRIVALS_PER_YEAR,
                    "length_of_stay_days": {"dist": "exponential", "mean": STAY_DAYS},
                    "age_at_entry_years": {"dist": "fixed", "value": 2},
                }
            },
            "initial_cohort": [],
        },
        "provision": {
            "homes": [
                {"name": "Home", "beds": BEDS, "needs": ["a"], "weekly_running_cost_gbp": 1000}
            ],
            "spot": {
                "search_days": {"dist": "fixed", "value": 0},
                "weekly_price_gbp": {"dist": "fixed", "value": 5000},
                "in_city_share": 0.0,
            },
        },
        "placement_policy": {"order": ["internal", "spot"]},
        "step_down": {
            "routes": {"a": {"foster": 0.0, "home": 1.0, "supported": 0.0, "other": 0.0}},
            "age_out_years": 18,
        },
    }


def lean_simpy(seed: int) -> float:
    """The loss system in plain SimPy: the share of arrivals that found no bed."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    free = [BEDS]
    counts = [0, 0]  # arrivals, lost

    def stay(days: float) -> Generator[simpy.Event, None, None]:
        yield env.timeout(days)
        free[0] += 1

    def arrivals() -> Generator[simpy.Event, None, None]:
        gap = 365.25 / ARRIVALS_PER_YEAR
        while True:
            yield env.timeout(rng.exponential(gap))
            counts[0] += 1
            if free[0]:
                free[0] -= 1
                env.process(stay(rng.exponential(STAY_DAYS)))
            else:
                counts[1] += 1

    env.process(arrivals())
    env.run(until=DAYS)
    return counts[1] / max(counts[0], 1)


def with_ciw(seed: int) -> float:
    import ciw

    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=ARRIVALS_PER_YEAR / 365.25)],
        service_distributions=[ciw.dists.Exponential(rate=1 / STAY_DAYS)],
        number_of_servers=[BEDS],
        queue_capacities=[0],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(DAYS)
    kinds = [r.record_type for r in sim.get_all_records()]
    # (Children still in a bed at the end have no record: a small bias, the same each run.)
    return kinds.count("rejection") / max(len(kinds), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.replications
    scenario = parse_scenario(project_config())

    def project_share(r: int) -> float:
        m = compute_metrics(scenario, simulate(scenario, r))
        return m.summary["spot_placements"] / max(m.summary["arrivals"], 1)

    # Warm-ups, and the three agree with Erlang-B before they are timed.
    theory = erlang_b(BEDS, ARRIVALS_PER_YEAR / 365.25 * STAY_DAYS)
    shares = {
        "project": float(np.mean([project_share(r) for r in range(n)])),
        "lean_simpy": float(np.mean([lean_simpy(r) for r in range(n)])),
        "ciw": float(np.mean([with_ciw(r) for r in range(n)])),
    }
    project = median_time(lambda: [project_share(r) for r in range(n)], args.repeats)
    lean = median_time(lambda: [lean_simpy(r) for r in range(n)], args.repeats)
    ciw_s = median_time(lambda: [with_ciw(r) for r in range(n)], args.repeats)
    figures = {
        "replications": n,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "erlang_b": round(theory, 4),
        "share_lost": {k: round(v, 4) for k, v in shares.items()},
        "ms_per_replication": {
            "project": round(1000 * project / n, 2),
            "lean_simpy": round(1000 * lean / n, 2),
            "ciw": round(1000 * ciw_s / n, 2),
        },
        "project_over_lean_simpy": round(project / lean, 2),
        "ciw_over_project": round(ciw_s / project, 2),
        "guards_met": bool(project / lean <= 3.0 and ciw_s / project >= 1.5),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
