"""When things go wrong: unwritable or full output paths, foreign folders, Ctrl-C, a killed parent.

Each case checks the exit code, that stderr is one line and no traceback, and that nothing was
lost or half-written. The interrupt cases run the real command in a subprocess.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import alive

from simulation.cli import main
from simulation.outputs import MARKER, OUTPUT_FILES
from simulation.store import ResultsStore

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = str(ROOT / "configs" / "minimal.yaml")
COVENTRY = str(ROOT / "configs" / "coventry-2023.yaml")
QUICK = ["run", MINIMAL, "-n", "2", "-w", "1", "-q"]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:") and "Traceback" not in err
    return err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def ours(tmp_path: Path) -> Path:
    """A results folder written by ``sufficiency run``."""
    out = tmp_path / "ours"
    assert main([*QUICK, "-o", str(out)]) == 0
    return out


def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write to: a read-only tmpfs as root, else a chmod 555 folder."""
    where = tmp_path / "ro"
    if _mount_tmpfs(where, "ro,size=64k"):
        try:
            yield where
        finally:
            subprocess.run(["umount", str(where)], check=False)
        return
    if os.name == "posix" and os.geteuid() != 0:
        where.chmod(0o555)
        try:
            yield where
        finally:
            where.chmod(0o755)
        return
    pytest.skip("root here cannot mount a read-only tmpfs, and chmod does not stop root")


def test_out_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*QUICK, "-o", str(afile / "out")]) == 2
    assert "not a folder" in one_error_line(capsys)
    assert afile.read_text() == "x"


def test_out_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*QUICK, "-o", str(afile), "--overwrite"]) == 2
    assert "is a file, not a folder" in one_error_line(capsys)
    assert afile.read_text() == "x"


def test_read_only_out(read_only_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    assert main(["run", COVENTRY, "-n", "2000", "-q", "-o", str(read_only_dir / "out")]) == 2
    assert time.monotonic() - t0 < 5  # refused before simulating anything
    err = one_error_line(capsys)
    assert "read-only file system" in err or "permission denied" in err
    assert list(read_only_dir.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["report", "{ours}", "-o", "{ro}/r.html"],
        ["results", "export", "anything", "-o", "{ro}/e.csv"],
        ["schema", "-o", "{ro}/s.json"],
        ["synth-903", "{minimal}", "-o", "{ro}/extract"],
    ],
)
def test_other_outputs_read_only(
    args: list[str], ours: Path, read_only_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    argv = [a.format(ours=ours, ro=read_only_dir, minimal=MINIMAL) for a in args]
    assert main([*argv, "--db", str(ours.parent / "r.duckdb")] if "export" in args else argv) == 2
    assert f"cannot write {read_only_dir}" in one_error_line(capsys)


@pytest.mark.parametrize("where", [".", ".."])
def test_out_is_the_current_folder_or_a_parent(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    here = tmp_path / "work"
    here.mkdir()
    (here / "notes.txt").write_text("mine")
    monkeypatch.chdir(here)
    before = snapshot(tmp_path)
    assert main([*QUICK, "-o", where, "--overwrite"]) == 2
    assert "current folder or one of its parents" in one_error_line(capsys)
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # no stray ..old.* folder


def test_overwrite_refuses_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "thesis.docx").write_text("years of work")
    (precious / "sub" / "data.csv").write_text("1,2")
    before = snapshot(precious)
    assert main([*QUICK, "-o", str(precious), "--overwrite"]) == 2
    assert MARKER in one_error_line(capsys)
    assert snapshot(precious) == before


def test_overwrite_refuses_our_folder_with_foreign_files(
    ours: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ours / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert main([*QUICK, "-o", str(ours), "--overwrite"]) == 2
    assert "notes.txt" in one_error_line(capsys)
    assert (ours / "notes.txt").read_text() == "keep me"


def test_overwrite_replaces_our_folder(ours: Path) -> None:
    (ours / "report.html").write_text("old report")  # ours too: 'sufficiency report' wrote it
    assert main([*QUICK, "-s", "7", "-o", str(ours), "--overwrite"]) == 0
    # (observed.csv only with observed points: tests/test_observed.py)
    assert sorted(p.name for p in ours.iterdir()) == sorted(set(OUTPUT_FILES) - {"observed.csv"})
    assert (pd.read_parquet(ours / "replications.parquet")["seed"] == 7).all()
    assert sorted(p.name for p in ours.parent.iterdir()) == ["ours"]  # nothing left aside


@pytest.mark.parametrize("existing", [False, True])
def test_disk_full_midway_leaves_nothing_half_written(
    existing: bool,
    ours: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = ours if existing else ours.parent / "new"
    before = snapshot(ours)
    real = pq.ParquetWriter.write_table
    calls = []

    # A run writes each batch as it comes: the disk fills on the third table written.
    def full_on_third(self: pq.ParquetWriter, table: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(table)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "weekly.parquet")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_on_third)
    capsys.readouterr()
    assert main([*QUICK, "-s", "9", "-o", str(out), "--overwrite"]) == 2
    err = one_error_line(capsys)
    assert "no space left on device" in err
    assert len(calls) == 3
    assert snapshot(ours) == before  # the previous results, intact
    assert sorted(p.name for p in ours.parent.iterdir()) == ["ours"]  # no temporaries


def test_real_full_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tmpfs too small for the results: refused up front, or cleaned up after a failed write."""
    full = tmp_path / "full"
    if not _mount_tmpfs(full, "size=200k"):
        pytest.skip("cannot mount a small tmpfs here (needs root on Linux)")
    try:
        assert main(["run", MINIMAL, "-n", "20", "-w", "1", "-q", "-o", str(full / "out")]) == 2
        assert "no space left on device" in one_error_line(capsys)
        assert list(full.iterdir()) == []
        # Nothing under it is still open (a file left open makes the unmount fail as busy).
        unmount = subprocess.run(["umount", str(full)], capture_output=True, text=True)
        assert unmount.returncode == 0, unmount.stderr
    finally:
        subprocess.run(["umount", str(full)], check=False, capture_output=True)


# -- Ctrl-C and a killed parent ----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc; psutil is not needed)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                kids.append(int(entry.name))
    return kids


def _start_run(out: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """``sufficiency run`` of a long run on 2 workers, once both workers are busy."""
    cmd = [sys.executable, "-m", "simulation.cli", "run", COVENTRY, "-n", "3000", "--workers"]
    proc = subprocess.Popen(
        [*cmd, "2", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while len(kids := _children(proc.pid)) < 2:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("the run did not start its 2 workers")
        time.sleep(0.1)
    time.sleep(0.5)
    return proc, kids


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (living := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return living


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or os.name != "posix", reason="needs /proc and signals"
)


@needs_proc
def test_ctrl_c_stops_the_run_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc, kids = _start_run(out)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert time.monotonic() - t0 < 3
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "nothing was written" in lines[0]
    assert _wait_gone(kids, 3) == []
    assert list(tmp_path.iterdir()) == []  # no output folder, no temporary


@needs_proc
def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    proc, kids = _start_run(tmp_path / "out")
    os.kill(proc.pid, signal.SIGKILL)  # what the OOM killer does: the parent only
    proc.wait(timeout=10)
    try:
        assert _wait_gone(kids, 5) == []
    finally:
        for pid in kids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    # Nothing in place of the results; the hidden folder the killed run was writing into is
    # removed by the next run to the same place (its writer is gone).
    left = list(tmp_path.iterdir())
    assert all(p.name.startswith(".out.") for p in left)
    assert main(["run", MINIMAL, "-n", "2", "-w", "1", "-q", "-o", str(tmp_path / "out")]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@needs_proc
def test_ctrl_c_during_an_experiment_keeps_batches_and_says_how_to_resume(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    spec = str(ROOT / "experiments" / "opening-delays.yaml")
    args = ["experiment", spec, "-n", "60", "--workers", "2", "--db", str(db), "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulation.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    stored = 0
    while stored == 0:  # wait until some batches are stored
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("the experiment stored nothing")
        time.sleep(1.0)
        try:
            runs = ResultsStore(db).runs()
            stored = int(runs["replications"].sum()) if len(runs) else 0
        except Exception:  # the writer holds the file: try again
            stored = 0
    kids = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert "to resume, run again: sufficiency experiment" in lines[0]
    assert _wait_gone(kids, 5) == []
    runs = ResultsStore(db).runs()
    assert set(runs["status"]) == {"interrupted"}
    assert int(runs["replications"].sum()) >= stored  # nothing stored was lost
