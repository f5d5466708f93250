"""The command line as a user meets it: outputs written, bad input refused with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from simulation import load_scenario, parse_scenario
from simulation.cli import main
from simulation.outputs import OUTPUT_FILES

MINIMAL = str(Path(__file__).resolve().parent.parent / "configs" / "minimal.yaml")


def test_run_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = main(["run", MINIMAL, "-n", "12", "--seed", "5", "--workers", "1", "-o", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    for label in ("Internal occupancy", "Void bed-days", "New spot placements", "Total cost"):
        assert label in printed
    reps = pd.read_parquet(out / "replications.parquet")
    assert list(reps["replication"]) == list(range(12))
    assert (reps["seed"] == 5).all()
    weekly = pd.read_parquet(out / "weekly.parquet")
    assert weekly["replication"].nunique() == 12
    doc = json.loads((out / "summary.json").read_text())
    assert doc["replications"] == 12 and doc["seed"] == 5
    occ = doc["metrics"]["internal_occupancy_pct"]
    assert occ["p5"] <= occ["p50"] <= occ["p95"]
    assert occ["ci_low"] <= occ["mean"] <= occ["ci_high"]
    summary = pd.read_csv(out / "summary.csv")
    assert "cost_total_gbp" in set(summary["metric"])
    # The stored scenario replays to the same validated config.
    replay = parse_scenario(yaml.safe_load((out / "scenario.yaml").read_text()))
    assert replay == load_scenario(MINIMAL)


def test_bad_config_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(Path(MINIMAL).read_text())
    data["demand"]["needs"]["ebd"]["arrivals_per_yer"] = data["demand"]["needs"]["ebd"].pop(
        "arrivals_per_year"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    rc = main(["run", str(bad), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1
    assert "demand.needs.ebd.arrivals_per_yer" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", MINIMAL, "--replications", "0"],
        ["run", MINIMAL, "--workrs", "2"],
        ["run"],
        ["nosuchcommand"],
        ["run", "does-not-exist.yaml"],
    ],
)
def test_bad_flags_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_refuses_to_overwrite_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    assert main(["run", MINIMAL, "-n", "2", "-o", str(out)]) == 2
    assert (out / "keep.txt").read_text() == "earlier results"
    # --overwrite replaces only a results folder this tool wrote (tests/test_faults.py).
    assert main(["run", MINIMAL, "-n", "2", "-w", "1", "-q", "-o", str(out), "--overwrite"]) == 2
    assert (out / "keep.txt").read_text() == "earlier results"
    ours = tmp_path / "ours"
    assert main(["run", MINIMAL, "-n", "2", "-w", "1", "-q", "-o", str(ours)]) == 0
    assert main(["run", MINIMAL, "-n", "2", "-w", "1", "-q", "-o", str(ours), "--overwrite"]) == 0
    assert (ours / "summary.json").exists()


def test_validate_and_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", MINIMAL]) == 0
    assert "valid" in capsys.readouterr().out
    target = tmp_path / "schema.json"
    assert main(["schema", "-o", str(target)]) == 0
    schema = json.loads(target.read_text())
    assert schema["additionalProperties"] is False
    assert {"run", "demand", "provision", "step_down"} <= set(schema["required"])


@pytest.mark.parametrize(
    "config",
    sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_every_shipped_config_runs(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(config), "-n", "2", "-w", "1", "-q", "-o", str(out)]) == 0
    reps = pd.read_parquet(out / "replications.parquet")
    assert len(reps) == 2 and (reps["cost_total_gbp"] > 0).all()
