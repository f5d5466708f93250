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


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_spec_runs_end_to_end(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every shipped spec runs as README shows it, with a handful of replications: an
    experiment (and its sweep as a tornado, when it has one) or an optimisation."""
    from simulation.cli import main

    data = yaml.safe_load(path.read_text()) or {}
    db = str(tmp_path / "store.duckdb")
    if _is_optimisation(path):
        commands = [["optimise", str(path), "-n", "3", "-w", "1", "-q"]]
    else:
        commands = [["experiment", str(path), "-n", "2", "-w", "1", "-q", "--db", db]]
        if data.get("sweep"):
            metric = (data.get("metrics") or ["cost_total_gbp"])[0]
            commands.append(
                ["sensitivity", str(path), "-m", metric, "-n", "2", "-w", "1", "-q", "--db", db]
            )
    for args in commands:
        rc = main(args)
        err = capsys.readouterr().err
        assert rc == 0, f"sufficiency {' '.join(args)}: {err}"
