"""The results store when things go wrong: a killed experiment, a foreign or damaged file, a
reader during a long write, a full disk, a store of an older or newer version.

Each case checks the exit code, that stderr is one line with no traceback, and that nothing was
lost or half-written (the file's bytes, or ``results verify`` and the stored rows).
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from simulation.cli import main
from simulation.store import WAIT_ENV, ResultsStore
from simulation.store.file import DUCKDB_CONFIG, VERSION_TABLE
from simulation.store.owner import Owner, host_name, is_alive, this_process

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "configs" / "minimal.yaml"
CLI = [sys.executable, "-m", "simulation.cli"]

needs_posix = pytest.mark.skipif(os.name != "posix", reason="needs signals and rlimits")


def write_spec(folder: Path, replications: int = 4) -> Path:
    """Two strategies on the minimal config, 2-year horizon (milliseconds a replication)."""
    short = {"path": "run.horizon_years", "set": 2}
    doc = {
        "name": "small",
        "base": str(MINIMAL),
        "replications": replications,
        "metrics": ["cost_total_gbp", "spot_placements"],
        "include_base": False,
        "baseline": "short",
        "strategies": [
            {"name": "short", "overrides": [short]},
            {
                "name": "more beds",
                "overrides": [short, {"path": "provision.homes[name=Elm House].beds", "set": 6}],
            },
        ],
    }
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("error:") and "Traceback" not in text
    return lines[0]


def stored_counts(db: Path) -> tuple[int, dict[str, int]]:
    """Replication rows, and each run's own count of them (they must agree)."""
    con = duckdb.connect(str(db), read_only=True, config=DUCKDB_CONFIG)
    try:
        rows = con.execute("SELECT count(*) FROM replications").fetchone()
        runs = dict(con.execute("SELECT strategy, replications FROM runs").fetchall())
    finally:
        con.close()
    assert rows is not None
    return int(rows[0]), runs


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy store: the small experiment, 4 replications per strategy."""
    folder = tmp_path_factory.mktemp("store")
    db = folder / "store.duckdb"
    assert main(["experiment", str(write_spec(folder)), "--db", str(db), "-w", "1", "-q"]) == 0
    return db


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def _blocks(db: Path, table: str) -> tuple[int, list[int]]:
    """The store's block size and the blocks holding ``table``'s data."""
    con = duckdb.connect(str(db), read_only=True, config=DUCKDB_CONFIG)
    try:
        size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
        ids = con.execute(
            f"SELECT DISTINCT block_id FROM pragma_storage_info('{table}') WHERE block_id >= 0"
        ).fetchall()
    finally:
        con.close()
    assert size is not None and ids
    return int(size[0]), sorted(int(r[0]) for r in ids)


def make_bad_file(kind: str, folder: Path, healthy: Path) -> Path:
    path = folder / f"{kind}.duckdb"
    if kind == "foreign-duckdb":
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE patients (name VARCHAR, ward INTEGER)")
        con.execute("INSERT INTO patients VALUES ('a', 1)")
        con.close()
    elif kind == "sqlite":
        lite = sqlite3.connect(path)
        lite.execute("CREATE TABLE runs (x)")  # even with a table name of ours
        lite.commit()
        lite.close()
    elif kind == "random":
        path.write_bytes(os.urandom(40_000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        block, ids = _blocks(_copy(healthy, path), "weekly")
        os.truncate(path, 3 * 4096 + ids[-1] * block)  # the last block of the weekly series
    elif kind == "corrupted-header":
        _copy(healthy, path)
        with path.open("r+b") as fh:  # the first database header (its checksum no longer fits)
            fh.seek(4096 + 16)
            fh.write(b"\xff" * 8)
    elif kind == "corrupted":
        block, ids = _blocks(_copy(healthy, path), "weekly")
        with path.open("r+b") as fh:  # scramble bytes inside a data block of the weekly series
            fh.seek(3 * 4096 + ids[0] * block + 200)
            data = fh.read(64)
            fh.seek(3 * 4096 + ids[0] * block + 200)
            fh.write(bytes(b ^ 0x5A for b in data))
    return path


BAD_FILES = (
    "foreign-duckdb",
    "sqlite",
    "random",
    "empty",
    "truncated",
    "corrupted",
    "corrupted-header",
)


@pytest.mark.parametrize("kind", BAD_FILES)
def test_foreign_or_damaged_file_is_refused_untouched(
    kind: str, store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_bad_file(kind, tmp_path, store_file)
    before = digest(path)
    spec = str(write_spec(tmp_path))
    for args in (
        ["results", "list"],
        ["results", "show", "small"],
        ["results", "verify"],
        ["experiment", spec, "-w", "1", "-q"],
    ):
        capsys.readouterr()
        assert main([*args, "--db", str(path)]) == 2, args
        err = capsys.readouterr().err
        if kind == "corrupted-header":
            line = one_error_line(err)
            assert "is damaged" in line and "nothing can be read" in line, line
        elif args[1] == "verify" and kind in ("truncated", "corrupted"):
            lines = err.strip().splitlines()  # a line per problem: per unreadable table
            assert lines and all(" cannot be read to the end: " in line for line in lines), err
            assert all(line.startswith("error: table ") for line in lines), err
        elif kind in ("truncated", "corrupted"):
            line = one_error_line(err)
            assert "is damaged" in line and "readable: experiments" in line, line
        else:
            line = one_error_line(err)
            assert "is not a results store" in line and "left untouched" in line, line
        assert digest(path) == before, args  # not a byte changed
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "small.yaml"])


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_unusable_db_path_is_refused_before_any_work(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "adir").mkdir()
    db = tmp_path / ("adir" if where == "a folder" else "afile/store.duckdb")
    spec = str(write_spec(tmp_path, replications=500))
    t0 = time.monotonic()
    assert main(["experiment", spec, "--db", str(db), "-w", "1", "-q"]) == 2
    assert time.monotonic() - t0 < 5  # before simulating anything
    line = one_error_line(capsys.readouterr().err)
    assert "is a folder" in line if where == "a folder" else "is a file, not a folder" in line
    assert (tmp_path / "afile").read_text() == "mine" and not any((tmp_path / "adir").iterdir())


def test_verify_a_healthy_store(store_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = digest(store_file)
    assert main(["results", "verify", "--db", str(store_file)]) == 0
    out = capsys.readouterr().out
    assert "healthy" in out and "replications 8" in out
    assert digest(store_file) == before


def test_verify_finds_a_run_that_disagrees_with_its_rows(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _copy(store_file, tmp_path / "s.duckdb")
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM replications WHERE replication = 3")
    con.close()
    assert main(["results", "verify", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5, err  # two runs miss a row; weekly, units and finance keep its series
    assert sum("says 4 replications; 3 are stored" in line for line in err) == 2
    assert sum("2 replication(s) without their summary row" in line for line in err) == 3


def test_store_version_table_and_no_extension_autoloading(store_file: Path) -> None:
    with ResultsStore(store_file).reading() as con:
        assert con.execute(f"SELECT version FROM {VERSION_TABLE}").fetchall() == [(1,)]
        settings = con.execute(
            "SELECT current_setting('autoload_known_extensions'), "
            "current_setting('autoinstall_known_extensions')"
        ).fetchone()
    assert settings == (False, False)


def test_older_store_is_read_untouched_then_upgraded(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _copy(store_file, tmp_path / "old.duckdb")
    con = duckdb.connect(str(db))  # as the tool wrote it before version 1
    con.execute(f"DROP TABLE {VERSION_TABLE}")
    for column in ("owner_pid", "owner_host", "owner_started_s"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    con.execute("CHECKPOINT")
    con.close()
    before = digest(db)
    assert main(["results", "list", "small", "--db", str(db)]) == 0
    assert main(["results", "verify", "--db", str(db)]) == 0
    assert "store version 0" in capsys.readouterr().out
    assert digest(db) == before  # reading never writes
    spec = str(write_spec(tmp_path, replications=6))
    assert main(["experiment", spec, "--db", str(db), "-w", "1", "-q"]) == 0
    assert main(["results", "verify", "--db", str(db)]) == 0
    assert "store version 1" in capsys.readouterr().out
    assert stored_counts(db) == (12, {"short": 6, "more beds": 6})


def test_newer_store_is_refused_untouched(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _copy(store_file, tmp_path / "new.duckdb")
    con = duckdb.connect(str(db))
    con.execute(f"UPDATE {VERSION_TABLE} SET version = 99")
    con.execute("CHECKPOINT")
    con.close()
    before = digest(db)
    spec = str(write_spec(tmp_path))
    for args in (["results", "list"], ["experiment", spec, "-w", "1", "-q"]):
        capsys.readouterr()
        assert main([*args, "--db", str(db)]) == 2
        assert "newer sufficiency" in one_error_line(capsys.readouterr().err)
    assert digest(db) == before


# -- who owns a running run ---------------------------------------------------------------------


def test_owner_is_alive_only_with_the_same_start_time() -> None:
    me = this_process()
    assert is_alive(me) is True
    assert is_alive(Owner(me.pid, me.host, me.started_s - 3600)) is False  # a reused pid
    assert is_alive(Owner(me.pid, "another-host", me.started_s)) is None  # cannot tell
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert is_alive(Owner(child.pid, host_name(), me.started_s)) is False


def _set_owner(db: Path, pid: int, host: str, started_s: float) -> None:
    con = duckdb.connect(str(db))
    con.execute(
        "UPDATE runs SET status = 'running', owner_pid = ?, owner_host = ?, owner_started_s = ?",
        [pid, host, started_s],
    )
    con.close()


def test_a_live_owner_keeps_its_runs_and_a_dead_one_reads_interrupted(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psutil

    db = _copy(store_file, tmp_path / "s.duckdb")
    spec = str(write_spec(tmp_path, replications=6))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _set_owner(db, sleeper.pid, host_name(), psutil.Process(sleeper.pid).create_time())
        assert set(ResultsStore(db).runs()["status"]) == {"running"}
        capsys.readouterr()
        assert main(["experiment", spec, "--db", str(db), "-w", "1", "-q"]) == 2
        assert f"being run by process {sleeper.pid}" in one_error_line(capsys.readouterr().err)
    finally:
        sleeper.kill()
        sleeper.wait()
    before = digest(db)
    assert set(ResultsStore(db).runs()["status"]) == {"interrupted"}
    assert main(["results", "list", "--db", str(db)]) == 0
    assert digest(db) == before  # decided without writing
    assert main(["experiment", spec, "--db", str(db), "-w", "1", "-q"]) == 0  # resumes
    assert set(ResultsStore(db).runs()["status"]) == {"complete"}
    assert stored_counts(db) == (12, {"short": 6, "more beds": 6})


@needs_posix
def test_killed_experiment_reads_interrupted_and_never_held_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL of the experiment's process only (what the OOM killer does)."""
    db = tmp_path / "s.duckdb"
    spec = str(write_spec(tmp_path, replications=400))
    cmd = [*CLI, "experiment", spec, "--db", str(db), "-w", "2", "--batch-size", "2", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reads: list[float] = []  # how long each read waited for the file
    stored = 0
    deadline = time.monotonic() + 90
    try:
        while stored < 20 or len(reads) < 10:
            assert proc.poll() is None, "the experiment ended before it was killed"
            assert time.monotonic() < deadline, "nothing stored in time"
            if db.exists():
                t0 = time.monotonic()
                runs = ResultsStore(db, wait_s=10).runs()  # waits out a batch write
                reads.append(time.monotonic() - t0)
                stored = int(runs["replications"].sum()) if len(runs) else 0
                assert set(runs["status"]) <= {"running"}
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # The writer holds the file only while it writes (well under a second), never while the
    # replications run: no read waited long.
    assert max(reads) < 3, reads
    capsys.readouterr()
    assert main(["results", "list", "small", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "interrupted" in out and "running" not in out
    rows, per_run = stored_counts(db)
    assert rows >= stored and rows == sum(per_run.values())  # nothing stored was lost
    assert main(["results", "verify", "--db", str(db)]) == 0


def _text() -> dict[str, Any]:
    return {"capture_output": True, "text": True, "timeout": 120}


# -- a reader during a long write ---------------------------------------------------------------


def _hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process in the middle of a long batch write (a transaction held open)."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "con.begin()\n"
        "con.execute(\"UPDATE runs SET code_version = 'x'\")\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
        "con.rollback()\n"
        "con.close()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_reader_waits_for_a_long_write(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _copy(store_file, tmp_path / "s.duckdb")
    holder = _hold_write_lock(db, 2.0)
    t0 = time.monotonic()
    try:
        assert main(["results", "list", "small", "--db", str(db)]) == 0
    finally:
        holder.wait(timeout=30)
    assert time.monotonic() - t0 > 1.0  # it waited for the write, then read
    assert "complete" in capsys.readouterr().out


def test_a_reader_gives_up_after_the_wait_with_one_line(
    store_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = _copy(store_file, tmp_path / "s.duckdb")
    monkeypatch.setenv(WAIT_ENV, "0.5")
    holder = _hold_write_lock(db, 5.0)
    try:
        assert main(["results", "list", "--db", str(db)]) == 2
        line = one_error_line(capsys.readouterr().err)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert "is locked by" in line and WAIT_ENV in line


# -- a full disk --------------------------------------------------------------------------------


@needs_posix
def test_file_size_limit_during_an_experiment(store_file: Path, tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE) hits the store midway: one line naming it, the store
    consistent with whole batches, and the same command resumes once there is room."""
    db = _copy(store_file, tmp_path / "s.duckdb")
    limit = db.stat().st_size + 1_500_000
    spec = str(write_spec(tmp_path, replications=150))
    cmd = [*CLI, "experiment", spec, "--db", str(db), "-w", "1", "--batch-size", "2", "-q"]

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(cmd, preexec_fn=limited, **_text())
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert "file too large" in line and "every batch stored before is kept" in line
    assert "to resume, run again: sufficiency experiment" in line
    rows, per_run = stored_counts(db)
    assert 8 <= rows < 300 and rows == sum(per_run.values())  # whole batches, none lost
    assert main(["results", "verify", "--db", str(db)]) == 0
    assert main(["experiment", spec, "--db", str(db), "-w", "1", "-q"]) == 0
    assert stored_counts(db) == (300, {"short": 150, "more beds": 150})
