"""Named streams are numpy's SeedSequence streams, and per-scenario setup caches stay correct."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from simulation import Scenario, load_scenario
from simulation.scenario_cache import per_scenario
from simulation.streams import Streams, stream_key

SEEDS = [0, 12345, 2**64 + 5]
REPLICATIONS = [0, 9_999, 2**40]
NAMES = ["cohort", "child:ebd", "staff_leave:Gravel Hill", "", "é" * 40]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("replication", REPLICATIONS)
def test_streams_are_seedsequence_streams(seed: int, replication: int) -> None:
    streams = Streams(seed, replication)
    for name in NAMES:
        expected = np.random.SeedSequence(seed, spawn_key=(replication, stream_key(name)))
        assert streams(name).bit_generator.state == np.random.PCG64(expected).state


def test_a_stream_is_made_once_per_replication() -> None:
    streams = Streams(3, 4)
    assert streams("a") is streams("a")
    assert streams("a") is not streams("b")


def test_per_scenario_builds_once_per_scenario_and_keeps_none_alive() -> None:
    calls: list[str] = []

    @per_scenario
    def build(scenario: Scenario) -> str:
        calls.append(scenario.name)
        return f"built {scenario.name}"

    a = load_scenario("configs/minimal.yaml")
    b = a.model_copy(update={"name": "other"})
    assert build(a) == build(a) == f"built {a.name}"
    assert build(b) == "built other"
    assert calls == [a.name, "other"]
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None  # the cache holds no reference to the scenario
