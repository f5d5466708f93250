"""synth-903 and backtest on the command line: --year, and --overwrite as ``run`` has it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from simulation.cli import main

CONFIG = {
    "name": "small",
    "run": {"start_date": "2021-04-01", "horizon_years": 4, "seed": 2},
    "demand": {
        "needs": {
            "ebd": {
                "arrivals_per_year": 20,
                "length_of_stay_days": {"dist": "lognormal", "mean": 300, "cv": 0.8},
                "age_at_entry_years": {"dist": "triangular", "min": 10, "mode": 14, "max": 17},
            }
        },
        "initial_cohort": [
            {
                "need": "ebd",
                "provision": "spot",
                "count": 8,
                "elapsed_days": {"dist": "uniform", "min": 0, "max": 400},
            }
        ],
    },
    "provision": {
        "spot": {
            "search_days": {"dist": "fixed", "value": 0},
            "weekly_price_gbp": {"dist": "fixed", "value": 6000},
            "in_city_share": 0.3,
        }
    },
    "placement_policy": {"order": ["spot"]},
    "step_down": {"routes": {"ebd": {"foster": 0.3, "home": 0.3, "supported": 0.3, "other": 0.1}}},
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_synth_903_year_writes_one_collection_year(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "y"
    assert main(["synth-903", str(config), "-o", str(out), "--year", "2024-25"]) == 0
    assert "the 2024-25 return" in capsys.readouterr().out
    eps = pd.read_csv(out / "episodes.csv", dtype=str, keep_default_na=False)
    header = pd.read_csv(out / "header.csv", dtype=str, keep_default_na=False)
    start = pd.to_datetime(eps["DECOM"], format="%d/%m/%Y")
    end = pd.to_datetime(eps["DEC"], format="%d/%m/%Y")
    assert (start <= pd.Timestamp("2025-03-31")).all()
    assert (end.isna() | end.between(pd.Timestamp("2024-04-01"), pd.Timestamp("2025-03-31"))).all()
    assert end.isna().any()  # open at the year end, as a council returns them
    assert set(header["SEX"]) <= {"M", "F"} and set(eps["CHILD"]) == set(header["CHILD"])
    # A year the extract does not wholly hold, or a year written ambiguously: one line, exit 2.
    for bad, message in (
        ("2019-20", "--year: 2019-20 is not wholly inside the extract"),
        ("2024", "--year: '2024' is not a collection year (write it as 2024-25)"),
    ):
        assert main(["synth-903", str(config), "-o", str(tmp_path / "z"), "--year", bad]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "z").exists()


def test_overwrite_replaces_only_a_folder_the_command_wrote(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "extract"
    synth = ["synth-903", str(config), "-o", str(out)]
    assert main(synth) == 0
    assert (out / ".sufficiency-results").exists()
    assert main(synth) == 2  # not empty, no --overwrite
    assert "already exists and is not empty" in capsys.readouterr().err
    assert main([*synth, "--overwrite"]) == 0  # its own folder: replaced
    # A file the tool did not write is never deleted.
    (out / "notes.txt").write_text("mine")
    assert main([*synth, "--overwrite"]) == 2
    assert "holds files sufficiency did not write (notes.txt)" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
    # A folder without the marker is not replaced either, by synth-903 or by backtest.
    other = tmp_path / "other"
    other.mkdir()
    (other / "episodes.csv").write_text("x")
    assert main(["synth-903", str(config), "-o", str(other), "--overwrite"]) == 2
    assert "was not written by sufficiency (no .sufficiency-results marker)" in (
        capsys.readouterr().err
    )
    backtest = ["backtest", "--episodes", str(out / "episodes.csv"), "--header"]
    backtest += [str(out / "header.csv"), "--as-of", "2023-03-31", "-n", "10", "--draws", "1"]
    assert main([*backtest, "-o", str(other), "--overwrite"]) == 2
    assert "no .sufficiency-results marker" in capsys.readouterr().err
    assert (other / "episodes.csv").read_text() == "x"
    # The current folder is never an output folder.
    assert main(["synth-903", str(config), "-o", ".", "--overwrite"]) == 2
    assert "is the current folder or one of its parents" in capsys.readouterr().err
