"""Every shipped experiment and optimiser spec loads, and its strategies or candidates resolve to
valid scenarios (a spec that cannot be run is a broken promise in README)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulation.errors import ScenarioError
from simulation.experiments.optimise import load_optimisation
from simulation.experiments.spec import load_experiment

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "experiments").glob("*.yaml"))


def _is_optimisation(path: Path) -> bool:
    return "search" in (yaml.safe_load(path.read_text()) or {}) or "optimise" in path.name


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_spec_loads(path: Path) -> None:
    try:
        if _is_optimisation(path):
            load_optimisation(path)
        else:
            load_experiment(path)
    except ScenarioError as exc:
        pytest.fail(f"{path.name}: {exc}")
