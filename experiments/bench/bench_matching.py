"""Benchmark: what group matching costs a replication, and that it does not grow with children.

Two figures, each a ratio measured in the same run (medians of several repeats, so a busy
machine moves both sides alike):

1. coventry-2023 with its admission rules, flags, repairs and move-in transitions against the
   same config with the lump turnaround and coin-flip matching it had before (ebd homes: 56-day
   lognormal turnaround, match_probability 0.5): milliseconds per replication, simulation and
   metrics, and the ratio.
2. Seconds per event of a replication as demand (and so the number of children waiting) grows
   x1, x2, x4 on the bench system with rules: the rule check runs over a unit's residents, not
   over all children, so time per event should stay flat.

    python experiments/bench/bench_matching.py
    python experiments/bench/bench_matching.py --replications 100 --repeats 5
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml
from bench_common import median_time

from simulation.metrics import compute_metrics
from simulation.model import simulate
from simulation.scenario import Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
LUMP = {"dist": "lognormal", "mean": 56, "cv": 0.5}
MATCHING_KEYS = ("admission", "repair_probability", "repair_days", "transition_days")


def without_rules(config: dict[str, Any]) -> dict[str, Any]:
    """The config as it was before matching emerged: lump turnaround, coin-flip matching."""
    out = copy.deepcopy(config)
    out.pop("matching", None)
    for need in out["demand"]["needs"].values():
        for key in ("flags", "emergency_share", "planning_window_days"):
            need.pop(key, None)
    for units in (out["provision"]["homes"], out["provision"]["block_contracts"]):
        for unit in units:
            if any(k in unit for k in MATCHING_KEYS):
                for k in MATCHING_KEYS:
                    unit.pop(k, None)
                unit["turnaround_days"] = LUMP
                unit["match_probability"] = 0.5
    return out


def per_replication(scenario: Scenario, reps: int) -> float:
    def go() -> None:
        for r in range(reps):
            compute_metrics(scenario, simulate(scenario, r, 1))

    return median_time(go, ARGS.repeats) / reps


def bench_system(scale: float) -> Scenario:
    """8 homes of 4 beds, demand above the beds times ``scale``, flags and incompatible pairs."""
    config: dict[str, Any] = {
        "name": f"bench x{scale:g}",
        "run": {"start_date": "2024-04-01", "horizon_years": 10},
        "demand": {
            "needs": {
                "a": {
                    "arrivals_per_year": 40 * scale,
                    "length_of_stay_days": {"dist": "exponential", "mean": 365},
                    "age_at_entry_years": {"dist": "fixed", "value": 5},
                    "flags": {"harm_to_others": 0.3, "vulnerable": 0.3},
                }
            }
        },
        "provision": {
            "homes": [
                {"name": f"H{k}", "beds": 4, "needs": ["a"], "weekly_running_cost_gbp": 20000}
                for k in range(8)
            ],
            "spot": {
                "search_days": {"dist": "fixed", "value": 60},
                "weekly_price_gbp": {"dist": "fixed", "value": 6000},
                "in_city_share": 0.0,
            },
        },
        "placement_policy": {"order": ["internal", "spot"]},
        "step_down": {"routes": {"a": {"home": 1.0}}, "age_out_years": 18},
        "matching": {
            "flags": ["harm_to_others", "vulnerable"],
            "incompatible": [["harm_to_others", "vulnerable"]],
            "default_admission": {},
        },
    }
    return parse_scenario(config)


def main() -> None:
    config = yaml.safe_load((ROOT / "configs" / "coventry-2023.yaml").read_text())
    ruled, lump = parse_scenario(config), parse_scenario(without_rules(config))
    reps = ARGS.replications
    per_replication(ruled, 2)  # warm-up: imports and caches
    t_lump = per_replication(lump, reps)
    t_rules = per_replication(ruled, reps)
    print(f"coventry-2023, {reps} replications x {ARGS.repeats} repeats (median):")
    print(f"  lump turnaround + coin-flip matching: {1000 * t_lump:.1f} ms per replication")
    print(f"  rules, flags, repairs, transitions:   {1000 * t_rules:.1f} ms per replication")
    print(f"  ratio: {t_rules / t_lump:.2f}")
    print("bench system, 8 homes x 4 beds with rules; seconds per event as demand grows:")
    base = None
    for scale in (1.0, 2.0, 4.0):
        s = bench_system(scale)
        events = sum(len(simulate(s, r, 1).log.time) for r in range(reps // 4 or 1))
        t = per_replication(s, reps // 4 or 1) * (reps // 4 or 1)
        per_event = t / events
        base = base or per_event
        print(
            f"  x{scale:g}: {events} events, {1e6 * per_event:.2f} us per event "
            f"({per_event / base:.2f} x the x1 figure)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    ARGS = parser.parse_args()
    main()
