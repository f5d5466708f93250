"""The command line as a user meets it: outputs written, bad input refused with exit code 2."""

from __future__ import annotations

import json
import re
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
    # (observed.csv only with observed points: tests/test_observed.py)
    assert sorted(p.name for p in out.iterdir()) == sorted(set(OUTPUT_FILES) - {"observed.csv"})
    for label in ("Council homes' occupancy", "Void bed-days", "New spot placements", "Total cost"):
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


# -- what a run prints ------------------------------------------------------------------------

COVENTRY = str(Path(MINIMAL).with_name("coventry-2023.yaml"))


def _printed_at(width: int, args: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """What a command prints on a terminal ``width`` columns wide."""
    import io

    from rich.console import Console

    from simulation.cli import experiments as experiments_cli
    from simulation.cli import run as run_cli

    buf = io.StringIO()
    terminal = Console(file=buf, width=width, force_terminal=False, color_system=None)
    monkeypatch.setattr(run_cli, "console", terminal)
    monkeypatch.setattr(experiments_cli, "console", terminal)
    assert main(args) == 0
    return buf.getvalue()


def test_run_tables_fit_80_columns_without_wrapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from simulation import display

    args = ["run", COVENTRY, "-n", "3", "-w", "1", "-o", str(tmp_path / "o")]
    text = _printed_at(80, args, monkeypatch)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Every headline metric and every home on one line with all its cells: nothing wrapped.
    for metric in display.HEADLINE_METRICS:
        label = display.metric_label(metric)
        (row,) = [line for line in lines if re.match(rf"{re.escape(label)}\s+[£\d±–]", line)]
        assert len(row[len(label) :].split()) == 4, row  # mean, ±, P5, P95
    scenario = load_scenario(COVENTRY)
    for home in scenario.provision.homes:
        (row,) = [line for line in lines if line.strip().startswith(home.name + " ")]
        assert row.rstrip().endswith("%"), row
    assert "£" in text and "-0" not in text.replace("-0.", "")
    assert "1 Apr 2023" in text and "nominal prices" in text
    # --wide: every column, the CI's ends and the quartiles.
    wide = _printed_at(200, [*args, "--overwrite", "--wide"], monkeypatch)
    assert "95% CI of the mean" in wide and "P25" in wide and "P75" in wide
    capsys.readouterr()


def test_compare_names_every_strategy_in_full_at_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    long_a = tmp_path / "a-strategy-with-a-long-name-opening-late.yaml"
    long_b = tmp_path / "a-strategy-with-a-long-name-opening-early.yaml"
    for path in (long_a, long_b):
        path.write_text(Path(MINIMAL).read_text())
    text = _printed_at(
        80, ["compare", MINIMAL, str(long_a), str(long_b), "-n", "4", "-w", "1", "-q"], monkeypatch
    )
    assert max(len(line) for line in text.splitlines()) <= 80
    assert long_a.stem in text and long_b.stem in text and "…" not in text
    assert "Total cost" in text and "P(better)" in text
    assert "cost_total_gbp" not in text  # display names, not column names
    capsys.readouterr()


def test_progress_is_plain_lines_when_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", MINIMAL, "-n", "12", "-w", "1", "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "Simulating minimal: 12/12 (100%)" in err
    assert "\r" not in err and "\x1b" not in err  # no bar redraws, no escape codes


def test_version_and_bare_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("sufficiency ")
    assert main([]) == 0
    out = capsys.readouterr()
    assert "Usage: sufficiency" in out.out and "run" in out.out
    assert "error" not in out.out + out.err


def test_every_option_has_help() -> None:
    import typer

    from simulation.cli import app

    command = typer.main.get_command(app)
    # calibrate, backtest and synth-903 are described in their own module's tests.
    mine = {"run", "validate", "schema", "outputs", "report", "app", "experiment", "compare"}
    mine |= {"sensitivity"}
    missing = [
        f"{name} {param.name}"
        for name, sub in command.commands.items()  # type: ignore[attr-defined]
        if name in mine
        for param in sub.params
        if not getattr(param, "help", None)
    ]
    assert not missing


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_run_formats_csv_and_xlsx(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import load_workbook

    from simulation.outputs import TABLES, XLSX, read_tables

    out = tmp_path / "out"
    assert main(["run", MINIMAL, "-n", "3", "-w", "1", "-q", "-o", str(out), "-f", fmt]) == 0
    names = {p.name for p in out.iterdir()}
    assert not any(n.endswith(".parquet") for n in names)
    if fmt == "csv":
        assert {f"{t}.csv" for t in TABLES} <= names
        weekly = pd.read_csv(out / "weekly.csv")
    else:
        assert XLSX in names
        book = load_workbook(out / XLSX, read_only=True)
        assert book.sheetnames == ["summary", *TABLES]
        book.close()
        weekly = read_tables(out)["weekly"]
    assert weekly["replication"].nunique() == 3
    # The report reads whichever format the run wrote.
    from simulation.report import load_results

    data = load_results(out)
    assert len(data.summary) == 3 and data.weekly["week"].max() == weekly["week"].max()
    capsys.readouterr()


def test_xlsx_split_per_sheet_over_the_row_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl import load_workbook

    from simulation import outputs

    monkeypatch.setattr(outputs, "XLSX_MAX_ROWS", 11)  # 10 rows a sheet
    df = pd.DataFrame({"week": range(25), "x": [0.5] * 25})
    outputs.write_xlsx(tmp_path / outputs.XLSX, {"weekly": df})
    book = load_workbook(tmp_path / outputs.XLSX, read_only=True)
    assert book.sheetnames == ["weekly", "weekly 2", "weekly 3"]
    assert [sum(1 for _ in ws.iter_rows()) for ws in book.worksheets] == [11, 11, 6]
    book.close()
    # Read back as one table, in order.
    assert outputs.read_tables(tmp_path)["weekly"]["week"].tolist() == list(range(25))


def test_xlsx_refused_before_simulating_when_too_long(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc = main(["run", COVENTRY, "-n", "100000", "-o", str(out), "--format", "xlsx"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: --format: xlsx: the weekly table would have") and "csv" in err
    assert not out.exists()
    assert main(["run", MINIMAL, "-o", str(out), "--format", "xls"]) == 2
    assert "parquet, csv, xlsx" in capsys.readouterr().err


def test_every_output_column_is_documented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simulation.outputs import COLUMNS, documented, outputs_reference, read_tables

    out = tmp_path / "out"
    assert main(["run", COVENTRY, "-n", "2", "-w", "1", "-q", "-o", str(out)]) == 0
    tables = read_tables(out)
    assert set(tables) == set(COLUMNS) - {"summary"}
    tables["summary"] = pd.read_csv(out / "summary.csv")
    undocumented = [
        f"{t}.{c}" for t, df in tables.items() for c in df.columns if not documented(t, c)
    ]
    assert not undocumented
    assert not documented("finance", "no_such_column")
    # docs/outputs.md is generated from the same table.
    docs = Path(MINIMAL).parents[1] / "docs" / "outputs.md"
    assert docs.read_text() == outputs_reference(), "regenerate: sufficiency outputs --markdown"
    assert main(["outputs", "--markdown"]) == 0
    text = capsys.readouterr().out
    assert "void_gbp" in text and "inside" in text
