"""Regression: every shipped config's event log is identical, row for row, to the pinned one.

Refactors must not change what the model does. ``tests/expected/golden_logs.npz`` holds the
complete logs (all flows on) of two replications of every config in ``configs/``. When a change
of behaviour is intended, regenerate it with ``python tests/make_golden_logs.py`` and say why in
the commit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import assert_logs_equal

from simulation import load_scenario
from simulation.model import simulate

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ROOT / "tests" / "expected" / "golden_logs.npz"
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))


def test_every_shipped_config_is_pinned() -> None:
    pinned = {key.split("/")[0] for key in np.load(EXPECTED).files}
    assert pinned == set(CONFIGS)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("replication", [0, 3])
def test_log_equals_golden(config: str, replication: int) -> None:
    expected = np.load(EXPECTED)
    log = simulate(load_scenario(ROOT / "configs" / f"{config}.yaml"), replication).log
    assert_logs_equal(log, expected, f"{config}/{replication}")
