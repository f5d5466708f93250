"""The results store: one embedded DuckDB file per project folder.

Tables
------
``experiments``
    One row per experiment name: its source file, the validated spec, baseline and metrics.
``runs``
    One row per (experiment, strategy, config, seed): the full validated config and its hash,
    the code version, the seed, replications stored, start and end times and a status
    (``running``, ``complete``).
``replications``
    One row per run and replication: every summary metric. Primary key (run_id, replication).
``weekly``, ``units``, ``finance``
    Per run and replication: the weekly series, per-unit results and per-financial-year costs.

A batch of replications is written in one transaction, so after a crash (even SIGKILL) the
file holds whole batches only. Replications already stored are skipped, so re-running an
interrupted experiment completes it without duplicating a row.

DuckDB lets one process write a file at a time. The store opens a connection for each
transaction and closes it after, so ``sufficiency results list`` can read the file while an
experiment runs; a locked file is retried for a while before giving up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from simulation.scenario import Scenario

DEFAULT_DB = Path("results") / "sufficiency.duckdb"
HOLD_ENV = "SUFFICIENCY_STORE_HOLD_S"
DATA_TABLES: tuple[str, ...] = ("replications", "weekly", "units", "finance")
# Batch tables as produced by the runner -> store table names.
TABLE_OF_BATCH = {
    "summary": "replications",
    "weekly": "weekly",
    "units": "units",
    "finance": "finance",
}
KEYS = {
    "replications": ("run_id", "replication"),
    "weekly": ("run_id", "replication", "week"),
    "units": ("run_id", "replication", "unit"),
    "finance": ("run_id", "replication", "financial_year"),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    name VARCHAR PRIMARY KEY,
    source VARCHAR,
    spec VARCHAR,
    baseline VARCHAR,
    metrics VARCHAR,
    updated TIMESTAMP
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    experiment VARCHAR NOT NULL,
    strategy VARCHAR NOT NULL,
    position INTEGER,
    config_hash VARCHAR NOT NULL,
    config VARCHAR NOT NULL,
    overrides VARCHAR,
    code_version VARCHAR,
    seed BIGINT NOT NULL,
    target_replications INTEGER,
    replications INTEGER NOT NULL DEFAULT 0,
    started TIMESTAMP,
    finished TIMESTAMP,
    status VARCHAR NOT NULL
);
"""


class StoreError(RuntimeError):
    """The store cannot be opened or does not hold what was asked for."""


def config_hash(scenario: Scenario) -> str:
    """Hash of the validated config, without the run's replications and seed.

    Those two are stored separately: asking for more replications of the same config extends
    the same run instead of starting a new one.
    """
    data = scenario.to_dict()
    run = dict(data.get("run", {}))
    run.pop("replications", None)
    run.pop("seed", None)
    data["run"] = run
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def make_run_id(experiment: str, strategy: str, chash: str, seed: int) -> str:
    key = f"{experiment}\0{strategy}\0{chash}\0{seed}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class RunRecord:
    """What identifies and describes one stored run."""

    experiment: str
    strategy: str
    position: int
    scenario: Scenario
    seed: int
    code_version: str
    overrides: list[dict[str, Any]]
    target_replications: int

    @property
    def config_hash(self) -> str:
        return config_hash(self.scenario)

    @property
    def run_id(self) -> str:
        return make_run_id(self.experiment, self.strategy, self.config_hash, self.seed)


def _sql_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(series):
        return "BIGINT"
    if pd.api.types.is_float_dtype(series):
        return "DOUBLE"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "TIMESTAMP"
    return "VARCHAR"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


class ResultsStore:
    """A DuckDB results file (created on first write).

    Opening a DuckDB file costs tens of milliseconds, so writes reuse one connection; it is
    closed again after ``hold_s`` seconds so that other processes (``sufficiency results``, a
    test polling progress) get a turn at the file's lock during a long experiment.
    """

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        lock_timeout_s: float = 60.0,
        hold_s: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        # SUFFICIENCY_STORE_HOLD_S=0 releases the file after every commit (for monitoring).
        self.hold_s = float(os.environ.get(HOLD_ENV, "2.0")) if hold_s is None else hold_s
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened_at = 0.0
        self._columns: dict[str, set[str]] = {}

    # -- connections --------------------------------------------------------------------------

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise StoreError(f"cannot open {self.path}: {exc}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection, retried while another process holds the file's lock."""
        if self._con is not None:  # a write connection held open: use it for reads too
            yield self._con
            self._maybe_release()
            return
        if read_only:
            if not self.path.exists():
                raise StoreError(f"no results store at {self.path}")
            con = self._open(read_only=True)
            try:
                yield con
            finally:
                con.close()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only=False)
        try:
            con.execute(_SCHEMA)
            self._columns = _all_columns(con)
        except BaseException:
            con.close()
            raise
        self._con, self._opened_at = con, time.monotonic()
        try:
            yield con
        except BaseException:
            self.close()
            raise
        self._maybe_release()

    def _maybe_release(self) -> None:
        if self._con is not None and time.monotonic() - self._opened_at >= self.hold_s:
            self.close()

    def close(self) -> None:
        """Release the file (the store reopens it when needed)."""
        if self._con is not None:
            con, self._con = self._con, None
            con.close()

    # -- writing ------------------------------------------------------------------------------

    def save_experiment(
        self, name: str, source: str, spec: dict[str, Any], baseline: str, metrics: Sequence[str]
    ) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO experiments VALUES (?, ?, ?, ?, ?, ?)",
                [
                    name,
                    source,
                    json.dumps(spec, default=str),
                    baseline,
                    json.dumps(list(metrics)),
                    _now(),
                ],
            )

    def ensure_run(self, rec: RunRecord) -> tuple[str, set[int]]:
        """Create the run if new (else mark it running again); return its id and stored reps."""
        run_id = rec.run_id
        with self.connect() as con:
            con.begin()
            exists = con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if exists is None:
                con.execute(
                    "INSERT INTO runs (run_id, experiment, strategy, position, config_hash, "
                    "config, overrides, code_version, seed, target_replications, replications, "
                    "started, finished, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, "
                    "'running')",
                    [
                        run_id,
                        rec.experiment,
                        rec.strategy,
                        rec.position,
                        rec.config_hash,
                        json.dumps(rec.scenario.to_dict()),
                        json.dumps(rec.overrides, default=str),
                        rec.code_version,
                        rec.seed,
                        rec.target_replications,
                        _now(),
                    ],
                )
            else:
                con.execute(
                    "UPDATE runs SET status = 'running', position = ?, target_replications = ?, "
                    "code_version = ? WHERE run_id = ?",
                    [rec.position, rec.target_replications, rec.code_version, run_id],
                )
            con.commit()
            done = self._stored_replications(con, run_id)
        return run_id, done

    def _stored_replications(self, con: duckdb.DuckDBPyConnection, run_id: str) -> set[int]:
        if "replications" not in self._columns:
            return set()
        rows = con.execute(
            "SELECT replication FROM replications WHERE run_id = ?", [run_id]
        ).fetchall()
        return {int(r[0]) for r in rows}

    def write_batches(self, batches: Sequence[tuple[str, dict[str, pd.DataFrame]]]) -> int:
        """Store batches of replications in one transaction; returns replications written.

        ``batches`` holds (run_id, tables) pairs, tables as returned by
        :func:`simulation.runner.run_batch`. Replications already stored are skipped, so a
        batch may be written twice without duplicating a row.
        """
        written = 0
        with self.connect() as con:
            con.begin()
            try:
                for run_id, tables in batches:
                    written += self._write_one(con, run_id, tables)
                con.commit()
            except BaseException:
                con.rollback()
                raise
        return written

    def _write_one(
        self, con: duckdb.DuckDBPyConnection, run_id: str, tables: dict[str, pd.DataFrame]
    ) -> int:
        summary = tables["summary"]
        done = self._stored_replications(con, run_id)
        keep_reps = [int(r) for r in summary["replication"] if int(r) not in done]
        if not keep_reps:
            return 0
        for batch_name, df in tables.items():
            table = TABLE_OF_BATCH[batch_name]
            if len(keep_reps) < len(summary):
                df = df[df["replication"].isin(keep_reps)]
            self._ensure_table(con, table, df)
            con.register("_batch", df)
            try:
                con.execute(
                    f"INSERT INTO {table} BY NAME SELECT ?::VARCHAR AS run_id, * FROM _batch",
                    [run_id],
                )
            finally:
                con.unregister("_batch")
        con.execute(
            "UPDATE runs SET replications = (SELECT count(*) FROM replications WHERE run_id = ?) "
            "WHERE run_id = ?",
            [run_id, run_id],
        )
        return len(keep_reps)

    def _ensure_table(self, con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
        """Create ``table`` from ``df``'s columns, or add columns a newer model reports."""
        have = self._columns.get(table)
        if have is None:
            cols = ["run_id VARCHAR NOT NULL"] + [
                f"{_quote(str(c))} {_sql_type(df[c])}" for c in df.columns
            ]
            pk = ", PRIMARY KEY (run_id, replication)" if table == "replications" else ""
            con.execute(f"CREATE TABLE {table} ({', '.join(cols)}{pk})")
            self._columns[table] = {"run_id", *map(str, df.columns)}
            return
        for c in df.columns:
            if str(c) not in have:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(str(c))} {_sql_type(df[c])}")
                have.add(str(c))

    def finish_run(self, run_id: str, status: str = "complete") -> None:
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished = ? WHERE run_id = ?",
                [status, _now(), run_id],
            )

    # -- reading ------------------------------------------------------------------------------

    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """Stored runs (newest first), optionally of one experiment."""
        with self.connect(read_only=True) as con:
            where, params = ("WHERE experiment = ?", [experiment]) if experiment else ("", [])
            return con.execute(
                "SELECT run_id, experiment, strategy, position, status, replications, "
                "target_replications, seed, config_hash, code_version, started, finished "
                f"FROM runs {where} ORDER BY started DESC, experiment, position",
                params,
            ).df()

    def experiment_info(self, name: str) -> dict[str, Any] | None:
        with self.connect(read_only=True) as con:
            row = con.execute(
                "SELECT name, source, spec, baseline, metrics FROM experiments WHERE name = ?",
                [name],
            ).fetchone()
        if row is None:
            return None
        return {
            "name": row[0],
            "source": row[1],
            "spec": json.loads(row[2]),
            "baseline": row[3],
            "metrics": json.loads(row[4]),
        }

    def latest_runs(self, experiment: str) -> pd.DataFrame:
        """The newest run of each strategy of ``experiment``, in strategy order."""
        runs = self.runs(experiment)
        if runs.empty:
            return runs
        runs = runs.sort_values("started", ascending=False, kind="stable")
        runs = runs.drop_duplicates("strategy", keep="first")
        return runs.sort_values("position", kind="stable").reset_index(drop=True)

    def resolve(self, selector: str) -> pd.DataFrame:
        """Runs named by an experiment name, or a run id (or a unique prefix of one)."""
        latest = self.latest_runs(selector)
        if not latest.empty:
            return latest
        runs = self.runs()
        hit = runs[runs["run_id"].str.startswith(selector)]
        if len(hit) == 1:
            return hit.reset_index(drop=True)
        known = ", ".join(sorted(set(runs["experiment"]))) or "(none)"
        if len(hit) > 1:
            raise StoreError(f"run id prefix '{selector}' is ambiguous")
        raise StoreError(f"no experiment or run '{selector}' in {self.path} (experiments: {known})")

    def table(
        self, table: str, run_ids: Sequence[str], max_replications: int | None = None
    ) -> pd.DataFrame:
        """Rows of a data table for some runs, with ``experiment`` and ``strategy`` columns."""
        if table not in DATA_TABLES:
            raise StoreError(f"unknown table '{table}' (allowed: {', '.join(DATA_TABLES)})")
        with self.connect(read_only=True) as con:
            if not _has_table(con, table):
                return pd.DataFrame()
            keys = ", ".join(f"t.{k}" for k in KEYS[table][1:])
            limit = "" if max_replications is None else "AND t.replication < ?"
            params: list[Any] = [list(run_ids)]
            if max_replications is not None:
                params.append(max_replications)
            return con.execute(
                "SELECT r.experiment, r.strategy, t.* FROM "
                f"{table} t JOIN runs r USING (run_id) "
                f"WHERE list_contains(?, t.run_id) {limit} ORDER BY r.position, t.run_id, {keys}",
                params,
            ).df()

    def export(self, table: str, run_ids: Sequence[str], out: Path, fmt: str) -> int:
        """Write a table (or ``runs``) for some runs to CSV or parquet; returns rows written."""
        with self.connect(read_only=True) as con:
            if table == "runs":
                query = "SELECT * FROM runs WHERE list_contains(?, run_id) ORDER BY position"
            elif table in DATA_TABLES:
                if not _has_table(con, table):
                    raise StoreError(f"no {table} rows stored")
                keys = ", ".join(f"t.{k}" for k in KEYS[table][1:])
                query = (
                    "SELECT r.experiment, r.strategy, t.* FROM "
                    f"{table} t JOIN runs r USING (run_id) WHERE list_contains(?, t.run_id) "
                    f"ORDER BY r.position, t.run_id, {keys}"
                )
            else:
                allowed = ", ".join(("runs", *DATA_TABLES))
                raise StoreError(f"unknown table '{table}' (allowed: {allowed})")
            rel = con.execute(query, [list(run_ids)])
            df = rel.df()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        tmp.replace(out)  # atomic: never a half-written export
        return len(df)


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table in _all_columns(con)


def _all_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Column names of every table of the main database (duckdb_columns() is fast)."""
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out
