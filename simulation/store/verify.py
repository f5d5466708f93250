"""Check a store on demand (``sufficiency results verify``): a problem per line, nothing written.

The file is read only: its header against its size, its identity (the version table), every
block of every table (DuckDB checks each block's checksum as it reads it), then the tables
against each other (each run's count of replications, rows of runs that do not exist, a
replication's series without its summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from simulation.store.file import (
    DUCKDB_CONFIG,
    VERSION_TABLE,
    StoreDamaged,
    StoreError,
    as_store_error,
    check_file,
    first_line,
    identify,
    recoverable,
    tables_of,
    unreadable_tables,
)

SERIES_TABLES = ("weekly", "units", "finance")


@dataclass
class Verdict:
    """What a check found: problems (none for a healthy store) and what the store holds."""

    problems: list[str] = field(default_factory=list)
    version: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.problems


def verify(path: Path) -> Verdict:
    """Check the store at ``path`` (read only)."""
    out = Verdict()
    if not path.exists():
        out.problems.append(f"no results store at {path}")
        return out
    try:
        check_file(path)
    except StoreError as exc:
        out.problems.append(str(exc))
        return out
    try:
        con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
    except duckdb.Error as exc:
        err = as_store_error(path, exc)
        damaged = isinstance(err, StoreDamaged)
        out.problems.append(f"{err}; {recoverable(path)}" if damaged else str(err))
        return out
    try:
        _check(con, path, out)
    except StoreError as exc:
        out.problems.append(str(exc))
    except duckdb.Error as exc:
        out.problems.append(f"{path} cannot be read: {first_line(exc)}")
    finally:
        con.close()
    return out


def _check(con: duckdb.DuckDBPyConnection, path: Path, out: Verdict) -> None:
    tables = tables_of(con)
    out.version = identify(path, tables, con)
    bad = unreadable_tables(con, tables)
    for name, why in bad.items():
        out.problems.append(f"table {name} cannot be read to the end: {why}")
    good = {name for name in tables if name not in bad and name != VERSION_TABLE}
    for name in sorted(good):
        row = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        out.counts[name] = int(row[0]) if row else 0
    if not {"runs", "replications"} <= good:
        return
    for run_id, experiment, strategy, said, held in con.execute(
        "SELECT r.run_id, r.experiment, r.strategy, r.replications, count(t.replication) "
        "FROM runs r LEFT JOIN replications t USING (run_id) "
        "GROUP BY ALL HAVING count(t.replication) <> r.replications ORDER BY ALL"
    ).fetchall():
        out.problems.append(
            f"run {run_id} ({experiment} / {strategy}) says {said} replications; {held} are stored"
        )
    for name in ("replications", *SERIES_TABLES):
        if name not in good:
            continue
        row = con.execute(
            f"SELECT count(*), count(DISTINCT run_id) FROM {name} "
            "WHERE run_id NOT IN (SELECT run_id FROM runs)"
        ).fetchone()
        if row and row[0]:
            out.problems.append(f"table {name}: {row[0]:,} rows of {row[1]} unknown run(s)")
        if name == "replications":
            continue
        row = con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT run_id, replication FROM {name}) s "
            "ANTI JOIN replications USING (run_id, replication)"
        ).fetchone()
        if row and row[0]:
            out.problems.append(
                f"table {name}: {row[0]:,} replication(s) without their summary row "
                "(a half-written batch)"
            )
