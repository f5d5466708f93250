"""Reproducibility and common random numbers (docs/model.md, "Randomness and replications")."""

from __future__ import annotations

import numpy as np
import pandas.testing as pdt
import pytest
from helpers import base_config, day, exponential, fixed, lognormal, scenario

from simulation import run
from simulation.events import EventKind
from simulation.metrics import compute_metrics
from simulation.model import simulate

CHILD_FIELDS = (
    "need",
    "arrival",
    "initial",
    "elapsed",
    "los",
    "route",
    "age_out_at",
    "fw_offer",
    "fw_search",
    "fw_in_city",
    "fw_price",
    "spot_search",
    "spot_in_city",
    "spot_price",
)


def strategy(beds: int = 3, extra_home: bool = False, seed: int = 11) -> dict:
    """Two needs, a home, a block contract, framework and spot, a cohort, seasonality."""
    homes = [{"name": "Elm", "beds": beds, "needs": ["ebd"]}]
    if extra_home:
        homes.append({"name": "New", "beds": 2, "needs": ["ebd", "cwd"], "open_date": day(200)})
    return base_config(
        {
            "ebd": {
                "arrivals_per_year": 25,
                "trend_per_year": 0.05,
                "seasonality": {"jun": 1.25},
                "length_of_stay_days": lognormal(300, 0.9),
                "scheduled_arrivals": [day(30)],
                "routes": {"foster": 0.3, "home": 0.25, "supported": 0.4, "other": 0.05},
            },
            "cwd": {"arrivals_per_year": 6, "length_of_stay_days": exponential(500)},
        },
        homes=homes,
        blocks=[{"name": "Blk", "beds": 2, "needs": ["ebd", "cwd"], "end": day(500)}],
        framework={
            "offer_probability": 0.4,
            "search_days": fixed(7),
            "weekly_price_gbp": lognormal(5200, 0.3),
            "in_city_share": 0.2,
        },
        spot_search=lognormal(10, 1.0),
        cohort=[
            {
                "need": "ebd",
                "provision": "internal",
                "count": 2,
                "elapsed_days": {"dist": "uniform", "min": 0, "max": 300},
            },
            {
                "need": "cwd",
                "provision": "spot",
                "count": 3,
                "elapsed_days": {"dist": "uniform", "min": 0, "max": 300},
            },
        ],
        horizon_years=3,
        seed=seed,
    )


def children_table(rep) -> dict[str, list]:
    return {f: getattr(rep.children, f) for f in CHILD_FIELDS}


def test_same_seed_same_results():
    s = scenario(strategy())
    a, b = run(s, replications=4, seed=5), run(s, replications=4, seed=5)
    for frame in ("summary", "weekly", "units", "finance"):
        pdt.assert_frame_equal(getattr(a, frame), getattr(b, frame))
    # And the logs themselves, event by event.
    for r in range(4):
        la, lb = simulate(s, r, 5).log, simulate(s, r, 5).log
        for col in ("time", "kind", "child", "unit", "need", "value", "in_city", "route"):
            np.testing.assert_array_equal(getattr(la, col), getattr(lb, col))


def test_serial_equals_parallel():
    s = scenario(strategy())
    serial = run(s, replications=8, seed=3, workers=1)
    parallel = run(s, replications=8, seed=3, workers=2)
    assert parallel.workers == 2
    for frame in ("summary", "weekly", "units", "finance"):
        pdt.assert_frame_equal(getattr(serial, frame), getattr(parallel, frame))


def test_replication_depends_only_on_seed_and_index():
    """Replication r is the same whether the run has 3 replications or 6, and equals a lone
    ``simulate(scenario, r, seed)`` measured by itself."""
    s = scenario(strategy())
    short, long = run(s, replications=3, seed=9), run(s, replications=6, seed=9)
    for frame in ("summary", "weekly"):
        head = getattr(long, frame)
        head = head[head["replication"] < 3].reset_index(drop=True)
        pdt.assert_frame_equal(getattr(short, frame), head)
    alone = compute_metrics(s, simulate(s, 5, 9)).summary
    row = long.summary.iloc[5]
    assert {k: row[k] for k in alone} == pytest.approx(alone, rel=0, abs=0, nan_ok=True)


def test_different_seeds_differ():
    s = scenario(strategy())
    a, b = run(s, replications=3, seed=1), run(s, replications=3, seed=2)
    assert not a.summary["cost_total_gbp"].equals(b.summary["cost_total_gbp"])
    assert not np.array_equal(
        simulate(s, 0, 1).children.arrival, simulate(s, 0, 2).children.arrival
    )
    # Replications of one seed differ from each other too.
    assert a.summary["cost_total_gbp"].nunique() == 3
    # The scenario's own seed is the default.
    pdt.assert_frame_equal(run(s, replications=2).summary, run(s, replications=2, seed=11).summary)


@pytest.mark.parametrize("replication", [0, 1, 7])
def test_common_random_numbers_across_bed_numbers(replication):
    """Two strategies that differ only in beds see the same children at the same times."""
    small, large = scenario(strategy(beds=2)), scenario(strategy(beds=6))
    a, b = simulate(small, replication, 42), simulate(large, replication, 42)
    assert children_table(a) == children_table(b)
    arrive_a = a.log.time[a.log.kind == EventKind.ARRIVE]
    arrive_b = b.log.time[b.log.kind == EventKind.ARRIVE]
    np.testing.assert_array_equal(arrive_a, arrive_b)
    # ... while what happens to them differs (the test is not comparing identical runs).
    assert not np.array_equal(a.log.unit, b.log.unit)


def test_adding_a_home_leaves_arrivals_and_children_unchanged():
    base, more = scenario(strategy()), scenario(strategy(extra_home=True))
    for r in range(3):
        a, b = simulate(base, r, 42), simulate(more, r, 42)
        np.testing.assert_array_equal(a.children.arrival, b.children.arrival)
        assert children_table(a) == children_table(b)
        np.testing.assert_array_equal(
            a.log.time[a.log.kind == EventKind.ARRIVE], b.log.time[b.log.kind == EventKind.ARRIVE]
        )
        assert len(b.units) == len(a.units) + 1
        place_new = (b.log.kind == EventKind.PLACE) & (b.log.unit == 1)
        assert [u.name for u in b.units][1] == "New"
        if r == 0:
            assert place_new.any(), "the new home is used, so the runs do differ"
