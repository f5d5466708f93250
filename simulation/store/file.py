"""The store's file: what it is, opening it politely, and whether it is whole.

* Before DuckDB opens a file its first bytes are read: a SQLite database, an empty file or any
  file that is not DuckDB's is refused untouched (DuckDB would otherwise try to fetch an
  extension to read it). Extensions are never installed or loaded on the store's connections.
* A DuckDB file identifies itself as a store by its version table (``sufficiency_store``). A
  DuckDB database of another program (tables, but no version table) is refused untouched; a
  store written before the version table existed (version 0: this tool's tables only) is read
  as it is and upgraded by the next write.
* DuckDB lets one process write a file, or several read it, at a time. A connection is opened
  for one read or one batch write and closed straight after, so nobody waits longer than one
  batch write; a locked file is retried for ``SUFFICIENCY_STORE_WAIT_S`` seconds (default 60)
  before giving up with one line naming the process that holds it.
* Damage is found by the file's size against its header (truncation) and by reading every table
  (each block carries a checksum that DuckDB checks on reading). Before the first write of a
  process the whole store is read so, and a damaged store is refused before anything is
  appended, with one line saying which tables can still be read.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

STORE_VERSION = 1
VERSION_TABLE = "sufficiency_store"
# The tables of a version-0 store (before the version table): recognised as this tool's own.
LEGACY_TABLES = frozenset({"experiments", "runs", "replications", "weekly", "units", "finance"})
WAIT_ENV = "SUFFICIENCY_STORE_WAIT_S"
DEFAULT_WAIT_S = 60.0
# Never reach the network (or run foreign code) to read a file: no extension autoloading.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of the main header (after an 8-byte checksum)
# A DuckDB file: a 4 KiB main header, two 4 KiB database headers, then fixed-size blocks.
_HEADERS_END = 3 * 4096


class StoreError(RuntimeError):
    """The store cannot be opened or does not hold what was asked for (a one-line message)."""


class StoreLocked(StoreError):
    """Another process held the file for longer than the wait."""


class StoreDamaged(StoreError):
    """The file is truncated or corrupted."""


class StoreWriteError(StoreError):
    """A write failed (a full disk, a file-size limit); the store still holds whole batches."""


def wait_s_default() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S)))
    except ValueError:
        return DEFAULT_WAIT_S


def not_a_store(path: Path, what: str) -> str:
    return f"{path} is not a results store ({what}); it was left untouched"


def check_file(path: Path) -> None:
    """Refuse a file that is not a DuckDB store file, reading only its first bytes.

    Raises :class:`StoreError` for a foreign file, :class:`StoreDamaged` for a DuckDB file
    shorter than its headers. (A file cut after its headers is found by reading it: DuckDB
    trims freed blocks off the end of its file, so the size alone proves nothing.)
    """
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a results store file")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_HEADERS_END)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise StoreError(not_a_store(path, "an empty file"))
    if head.startswith(_SQLITE_MAGIC):
        raise StoreError(not_a_store(path, "a SQLite database"))
    if head[8:12] != _DUCKDB_MAGIC:
        raise StoreError(not_a_store(path, "not a DuckDB file"))
    if size < _HEADERS_END:
        raise StoreDamaged(
            f"{path} is damaged: truncated to {size:,} bytes (a DuckDB file has at least "
            f"{_HEADERS_END:,})"
        )


def connect(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """A connection to the store file, retried while another process holds its lock."""
    if path.exists():
        check_file(path)
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG)
        except duckdb.Error as exc:
            text = str(exc)
            if "conflicting lock" not in text.lower():  # not "lock" alone: "block" has it
                raise as_store_error(path, exc) from None
            if time.monotonic() >= deadline:
                holder = re.search(r"\(PID (\d+)\)", text)
                who = f"process {holder.group(1)}" if holder else "another process"
                raise StoreLocked(
                    f"{path} is locked by {who} for more than {wait_s:g} s; try again when it "
                    f"has finished writing, or set {WAIT_ENV} to wait longer"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


_DAMAGE = ("corrupt", "could not read enough bytes", "checksum", "not a valid duckdb")
_WRITE_CAUSES = {
    "no space left on device": "no space left on device",
    "file too large": "file too large (a file-size limit)",
    "disk quota exceeded": "disk quota exceeded",
    "read-only file system": "read-only file system",
    "permission denied": "permission denied",
}


def write_cause(exc: BaseException) -> str | None:
    """'no space left on device' and the like, if ``exc`` is a failed write; else None."""
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).lower()
    return next((cause for key, cause in _WRITE_CAUSES.items() if key in text), None)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(exc).__name__


def as_store_error(path: Path, exc: BaseException) -> StoreError:
    """A DuckDB or OS error turned into the store's one-line error."""
    text = str(exc).lower()
    if any(key in text for key in _DAMAGE):
        return StoreDamaged(f"{path} is damaged: {first_line(exc)}")
    cause = write_cause(exc)
    if cause is not None:
        return StoreWriteError(f"cannot write {path}: {cause}")
    return StoreError(f"cannot use {path}: {first_line(exc)}")


# -- what the file holds ------------------------------------------------------------------------


def tables_of(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Columns of every table and view of the file (``schema.name`` outside ``main``)."""
    rows = con.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for schema, table, column in rows:
        name = table if schema == "main" else f"{schema}.{table}"
        out.setdefault(name, set()).add(column)
    return out


def identify(path: Path, tables: dict[str, set[str]], con: duckdb.DuckDBPyConnection) -> int | None:
    """The store version of a file (None: a DuckDB file with no tables yet).

    Raises :class:`StoreError` for another program's database or a newer store.
    """
    if VERSION_TABLE in tables:
        row = con.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        version = int(row[0]) if row and row[0] is not None else -1
        if version > STORE_VERSION:
            raise StoreError(
                f"{path} is a results store of version {version}, written by a newer "
                f"sufficiency (this one reads up to version {STORE_VERSION}); upgrade sufficiency"
            )
        if version < 0:
            raise StoreDamaged(f"{path} is damaged: its version table is empty")
        return version
    if not tables:
        return None
    legacy = set(tables) <= LEGACY_TABLES and {"experiments", "runs"} <= set(tables)
    if legacy and {"run_id", "experiment", "strategy", "status"} <= tables["runs"]:
        return 0
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    raise StoreError(not_a_store(path, f"a DuckDB database of another program, tables: {shown}"))


def unreadable_tables(
    con: duckdb.DuckDBPyConnection, tables: dict[str, set[str]]
) -> dict[str, str]:
    """Tables that cannot be read to the end, each with the reason (every block is read)."""
    bad: dict[str, str] = {}
    for name, columns in sorted(tables.items()):
        quoted = ".".join(_quote(part) for part in name.split("."))
        cols = ", ".join(_quote(c) for c in sorted(columns))
        try:
            con.execute(f"SELECT count(*), sum(hash({cols})) FROM {quoted}").fetchall()
        except duckdb.Error as exc:
            bad[name] = first_line(exc)
    return bad


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def recoverable(path: Path) -> str:
    """What can still be read from a damaged store, in a few words."""
    try:
        con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
    except duckdb.Error:
        return "DuckDB cannot open it, so nothing can be read from it; move it aside"
    try:
        tables = {n: c for n, c in tables_of(con).items() if n != VERSION_TABLE}
        bad = unreadable_tables(con, tables)
    except duckdb.Error:
        return "its list of tables cannot be read, so nothing can be read from it; move it aside"
    finally:
        con.close()
    good = sorted(set(tables) - set(bad))
    if not good:
        return "no table can be read to the end; move it aside"
    return (
        f"readable: {', '.join(good)}"
        + (f"; unreadable: {', '.join(sorted(bad))}" if bad else "")
        + "; save what you need with 'sufficiency results export', then move the file aside"
    )
