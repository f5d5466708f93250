"""The results store: one embedded DuckDB file per project folder.

Tables
------
``sufficiency_store``
    The store's version (one row), written when the file is created: how a store is told from
    another program's DuckDB file.
``experiments``
    One row per experiment name: its source file, the validated spec, baseline and metrics.
``runs``
    One row per (experiment, strategy, config, seed): the full validated config and its hash,
    the code version, the seed, replications stored, start and end times, a status
    (``running``, ``complete``, ``interrupted``) and, while running, the process writing it.
``replications``
    One row per run and replication: every summary metric. Primary key (run_id, replication).
``weekly``, ``units``, ``finance``
    Per run and replication: the weekly series, per-unit results and per-financial-year costs.

A batch of replications is written in one transaction, so after a crash (even SIGKILL) or a
full disk the file holds whole batches only. Replications already stored are skipped, so
re-running an interrupted experiment completes it without duplicating a row. A run whose
writing process has died reads as ``interrupted``. How the file is opened, identified and
checked is in :mod:`simulation.store.file`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulation.scenario import Scenario
from simulation.store import owner as owners
from simulation.store.file import (
    STORE_VERSION,
    VERSION_TABLE,
    StoreDamaged,
    StoreError,
    StoreWriteError,
    as_store_error,
    connect,
    identify,
    recoverable,
    tables_of,
    unreadable_tables,
    wait_s_default,
)

DEFAULT_DB = Path("results") / "sufficiency.duckdb"
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

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version INTEGER NOT NULL,
    created TIMESTAMP,
    created_by VARCHAR
);
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
    status VARCHAR NOT NULL,
    owner_pid BIGINT,
    owner_host VARCHAR,
    owner_started_s DOUBLE
);
"""
# Version 0 -> 1 adds the version table (above) and the owner of a running run.
_OWNER_COLUMNS = {"owner_pid": "BIGINT", "owner_host": "VARCHAR", "owner_started_s": "DOUBLE"}


def config_hash(scenario: Scenario) -> str:
    """Hash of the validated config, without the run's replications, seed and observed points.

    Those two are stored separately: asking for more replications of the same config extends
    the same run instead of starting a new one.
    """
    data = scenario.to_dict()
    run = dict(data.get("run", {}))
    run.pop("replications", None)
    run.pop("seed", None)
    data["run"] = run
    # Published points to check against do not change what is simulated.
    data.pop("observed", None)
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

    The file is opened for one read or one batch write and closed straight after (opening
    costs milliseconds), so other processes wait at most one batch write for it; a locked file
    is retried for ``wait_s`` seconds. Before this object's first write the whole file is
    checked (:mod:`simulation.store.file`): nothing is appended to a damaged store or written
    into another program's file.
    """

    def __init__(self, path: str | Path = DEFAULT_DB, wait_s: float | None = None) -> None:
        self.path = Path(path)
        self.wait_s = wait_s_default() if wait_s is None else wait_s
        self._checked = False  # the whole file was read, and it is a store of this version

    # -- connections --------------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one read (nothing is ever written through it)."""
        if not self.path.exists():
            raise StoreError(f"no results store at {self.path}")
        con = connect(self.path, read_only=True, wait_s=self.wait_s)
        try:
            identify(self.path, tables_of(con), con)
            yield con
        except duckdb.Error as exc:
            raise self._error(exc) from None
        finally:
            con.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one write, in a transaction committed at the end (all or nothing)."""
        if not self._checked:
            self.prepare_for_writing()
        con = connect(self.path, read_only=False, wait_s=self.wait_s)
        try:
            con.begin()
            yield con
            con.commit()
        except BaseException as exc:
            # A commit that failed (a full disk) has already ended the transaction.
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            with contextlib.suppress(duckdb.Error):
                con.close()
            if isinstance(exc, duckdb.Error | OSError):
                raise self._error(exc) from None
            raise
        try:
            con.close()  # a checkpoint; if it fails, the committed batch stays in the WAL
        except duckdb.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> StoreError:
        err = as_store_error(self.path, exc)
        if isinstance(err, StoreDamaged):
            return StoreDamaged(f"{err}; {recoverable(self.path)}")
        if isinstance(err, StoreWriteError):
            return StoreWriteError(f"{err}; every batch stored before is kept")
        return err

    def check(self) -> int | None:
        """Read the whole file (every block's checksum); return its store version.

        Raises :class:`StoreDamaged` (saying what can still be read) or :class:`StoreError`
        for a file that is not a store. Reads only.
        """
        try:
            con = connect(self.path, read_only=True, wait_s=self.wait_s)
        except StoreDamaged as exc:
            raise StoreDamaged(f"{exc}; {recoverable(self.path)}") from None
        try:
            tables = tables_of(con)
            version = identify(self.path, tables, con)
            bad = unreadable_tables(con, tables)
        except duckdb.Error as exc:
            raise self._error(exc) from None
        finally:
            con.close()
        if bad:
            name, why = next(iter(bad.items()))
            raise StoreDamaged(f"{self.path} is damaged ({name}: {why}); {recoverable(self.path)}")
        return version

    def prepare_for_writing(self) -> None:
        """Refuse a damaged, foreign or unwritable file; create or upgrade a store's tables.

        Done before the first write (call it early to refuse a bad ``--db`` before any work).
        """
        version: int | None = None
        if self.path.exists() or self.path.is_symlink():
            try:
                version = self.check()
            except StoreDamaged as exc:
                raise StoreDamaged(f"nothing was written: {exc}") from None
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                file = next((p for p in self.path.parents if p.is_file()), None)
                why = f"{file} is a file, not a folder" if file else exc.strerror or str(exc)
                raise StoreError(f"cannot create {self.path}: {why}") from None
        if version != STORE_VERSION:
            self._create_or_upgrade()
        self._checked = True

    def _create_or_upgrade(self) -> None:
        """Write the tables of a new store, or upgrade a version-0 store, in one transaction."""
        con = connect(self.path, read_only=False, wait_s=self.wait_s)
        try:
            con.begin()
            # Identified again under the write lock: another program's file is never written.
            tables = tables_of(con)
            if identify(self.path, tables, con) == STORE_VERSION:  # another process created it
                con.rollback()
                con.close()
                return
            con.execute(_SCHEMA)
            have = tables_of(con)["runs"]
            for column, sql_type in _OWNER_COLUMNS.items():
                if column not in have:
                    con.execute(f"ALTER TABLE runs ADD COLUMN {column} {sql_type}")
            con.execute(f"DELETE FROM {VERSION_TABLE}")
            con.execute(
                f"INSERT INTO {VERSION_TABLE} VALUES (?, ?, ?)",
                [STORE_VERSION, _now(), "sufficiency"],
            )
            con.commit()
            con.close()
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                con.close()
            if isinstance(exc, duckdb.Error):
                raise self._error(exc) from None
            raise

    def close(self) -> None:
        """Nothing to release: the file is never held between one read or write and the next."""

    # -- writing ------------------------------------------------------------------------------

    def save_experiment(
        self, name: str, source: str, spec: dict[str, Any], baseline: str, metrics: Sequence[str]
    ) -> None:
        with self.writing() as con:
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

    def ensure_runs(self, recs: Sequence[RunRecord]) -> dict[str, set[int]]:
        """Create each run if new, else take it over (unless a live process is running it);
        mark them running by this process, in one write. Returns each run id's replications
        already stored."""
        me = owners.this_process()
        with self.writing() as con:
            for rec in recs:
                _claim_run(con, rec, me, self.path)
            return _stored_replications(con, tables_of(con), [r.run_id for r in recs])

    def write_batches(self, batches: Sequence[tuple[str, dict[str, pd.DataFrame]]]) -> int:
        """Store batches of replications in one transaction; returns replications written.

        ``batches`` holds (run_id, tables) pairs, tables as returned by
        :func:`simulation.runner.run_batch`. Replications already stored are skipped, so a
        batch may be written twice without duplicating a row. The batches' rows go in one
        insert per table (a statement per batch costs ~0.1 s: more than simulating it).
        """
        run_ids = sorted({run_id for run_id, _ in batches})
        with self.writing() as con:
            columns = tables_of(con)
            done = _stored_replications(con, columns, run_ids)
            frames: dict[str, list[pd.DataFrame]] = {}
            written = 0
            for run_id, tables in batches:
                summary = tables["summary"]
                keep = {int(r) for r in summary["replication"]} - done[run_id]
                if not keep:
                    continue
                done[run_id] |= keep
                written += len(keep)
                for batch_name, df in tables.items():
                    if len(keep) < len(summary):
                        df = df[df["replication"].isin(keep)]
                    part = df.copy()
                    part.insert(0, "run_id", run_id)
                    frames.setdefault(TABLE_OF_BATCH[batch_name], []).append(part)
            for table, parts in frames.items():
                rows = pd.concat(parts, ignore_index=True)
                _ensure_table(con, columns, table, rows)
                con.register("_batch", rows)
                try:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch")
                finally:
                    con.unregister("_batch")
            con.execute(
                "UPDATE runs SET replications = c.n FROM (SELECT run_id, count(*) AS n "
                "FROM replications WHERE list_contains(?, run_id) GROUP BY run_id) AS c "
                "WHERE runs.run_id = c.run_id",
                [run_ids],
            )
        return written

    def finish_runs(self, run_ids: Sequence[str], status: str = "complete") -> None:
        """Mark runs ``complete`` (or ``interrupted``): no process is running them any more."""
        with self.writing() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished = ?, owner_pid = NULL, owner_host = NULL, "
                "owner_started_s = NULL WHERE list_contains(?, run_id)",
                [status, _now(), list(run_ids)],
            )

    # -- reading ------------------------------------------------------------------------------

    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """Stored runs (newest first), optionally of one experiment.

        ``status`` is as stored, except that a ``running`` run whose process has ended reads
        ``interrupted``; ``owner`` names the process of a run still running.
        """
        with self.reading() as con:
            where, params = ("WHERE experiment = ?", [experiment]) if experiment else ("", [])
            have = tables_of(con).get("runs", set())
            owner_cols = ", ".join(c if c in have else f"NULL AS {c}" for c in _OWNER_COLUMNS)
            df = con.execute(
                "SELECT run_id, experiment, strategy, position, status, replications, "
                "target_replications, seed, config_hash, code_version, started, finished, "
                f"{owner_cols} FROM runs {where} ORDER BY started DESC, experiment, position",
                params,
            ).df()
        owned = [
            _owner(pid, host, started)
            for pid, host, started in zip(
                df["owner_pid"], df["owner_host"], df["owner_started_s"], strict=True
            )
        ]
        alive = [None if o is None else owners.is_alive(o) for o in owned]
        dead = (df["status"] == "running") & pd.Series([a is False for a in alive], index=df.index)
        df.loc[dead, "status"] = "interrupted"
        df["owner"] = [
            o.describe() if o is not None and s == "running" else ""
            for o, s in zip(owned, df["status"], strict=True)
        ]
        return df.drop(columns=list(_OWNER_COLUMNS))

    def experiment_info(self, name: str) -> dict[str, Any] | None:
        with self.reading() as con:
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
        with self.reading() as con:
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
        """Write a table (or ``runs``) for some runs to CSV or parquet; returns rows written.

        Streamed: DuckDB sorts (spilling to a temporary folder beside ``out`` past
        :data:`EXPORT_MEMORY`) and hands the rows over :data:`EXPORT_ROWS` at a time, each
        piece written as it comes (a parquet row group, or CSV lines as pandas writes them),
        so memory does not grow with the table. Written to a temporary file renamed onto
        ``out`` when complete: never a half-written export.
        """
        if table == "runs":
            query = "SELECT * FROM runs WHERE list_contains(?, run_id) ORDER BY position"
        elif table in DATA_TABLES:
            keys = ", ".join(f"t.{k}" for k in KEYS[table][1:])
            query = (
                "SELECT r.experiment, r.strategy, t.* FROM "
                f"{table} t JOIN runs r USING (run_id) WHERE list_contains(?, t.run_id) "
                f"ORDER BY r.position, t.run_id, {keys}"
            )
        else:
            allowed = ", ".join(("runs", *DATA_TABLES))
            raise StoreError(f"unknown table '{table}' (allowed: {allowed})")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        with (
            self.reading() as con,
            tempfile.TemporaryDirectory(prefix=f".{out.name}.spill-", dir=out.parent) as spill,
        ):
            if table != "runs" and not _has_table(con, table):
                raise StoreError(f"no {table} rows stored")
            con.execute(f"SET temp_directory = '{_sql_text(spill)}'")
            con.execute(f"SET memory_limit = '{EXPORT_MEMORY}'")
            if table == "runs":  # one row a run: as pandas gets it from DuckDB at once
                frame = con.execute(query, [list(run_ids)]).df()
                reader = pa.Table.from_pandas(frame, preserve_index=False).to_reader()
            else:  # a relation streams (a DB-API result is materialised first)
                relation = con.sql(query, params=[list(run_ids)])
                reader = relation.to_arrow_reader(EXPORT_ROWS)
            try:
                rows = _write_pieces(reader, tmp, fmt)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        tmp.replace(out)  # atomic: never a half-written export
        return rows


EXPORT_ROWS = 100_000
"""Rows an export writes at a time."""
EXPORT_MEMORY = "256MB"
"""DuckDB's memory for an export's sort; past it, the sort spills to disk."""


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _frames(reader: pa.RecordBatchReader) -> Iterator[pd.DataFrame]:
    """The stream's pieces as pandas frames (one empty frame if it has no rows, so the
    header or schema is still known)."""
    empty = True
    for batch in reader:
        empty = False
        yield batch.to_pandas()
    if empty:
        yield reader.schema.empty_table().to_pandas()


def _write_pieces(reader: pa.RecordBatchReader, path: Path, fmt: str) -> int:
    """Write a stream of record batches as one CSV or parquet file, a piece at a time, with
    pandas' types and text (what writing the whole table from pandas gives)."""
    rows = 0
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            for i, df in enumerate(_frames(reader)):
                df.to_csv(f, index=False, header=i == 0)
                rows += len(df)
        return rows
    writer: pq.ParquetWriter | None = None
    try:
        for df in _frames(reader):
            table = pa.Table.from_pandas(df, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            rows += len(df)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table in tables_of(con)


def _owner(pid: Any, host: Any, started_s: Any) -> owners.Owner | None:
    if any(v is None or (isinstance(v, float) and v != v) for v in (pid, host, started_s)):
        return None
    return owners.Owner(int(pid), str(host), float(started_s))


def _stored_replications(
    con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]], run_ids: Sequence[str]
) -> dict[str, set[int]]:
    """The replications stored of each run."""
    out: dict[str, set[int]] = {run_id: set() for run_id in run_ids}
    if "replications" in columns:
        for run_id, rep in con.execute(
            "SELECT run_id, replication FROM replications WHERE list_contains(?, run_id)",
            [list(run_ids)],
        ).fetchall():
            out[run_id].add(int(rep))
    return out


def _ensure_table(
    con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]], table: str, df: pd.DataFrame
) -> None:
    """Create ``table`` from ``df``'s columns (run_id first), or add columns a newer model
    reports."""
    have = columns.get(table)
    if have is None:
        cols = ["run_id VARCHAR NOT NULL"] + [
            f"{_quote(str(c))} {_sql_type(df[c])}" for c in df.columns if c != "run_id"
        ]
        pk = ", PRIMARY KEY (run_id, replication)" if table == "replications" else ""
        con.execute(f"CREATE TABLE {table} ({', '.join(cols)}{pk})")
        columns[table] = set(map(str, df.columns))
        return
    for c in df.columns:
        if str(c) not in have:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(str(c))} {_sql_type(df[c])}")
            have.add(str(c))


def _claim_run(
    con: duckdb.DuckDBPyConnection, rec: RunRecord, me: owners.Owner, path: Path
) -> None:
    """Insert the run, or mark it running again by ``me`` (refused if another process lives)."""
    run_id = rec.run_id
    row = con.execute(
        "SELECT status, owner_pid, owner_host, owner_started_s FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchone()
    if row is None:
        con.execute(
            "INSERT INTO runs (run_id, experiment, strategy, position, config_hash, config, "
            "overrides, code_version, seed, target_replications, replications, started, "
            "finished, status, owner_pid, owner_host, owner_started_s) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, 'running', ?, ?, ?)",
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
                me.pid,
                me.host,
                me.started_s,
            ],
        )
        return
    other = _owner(row[1], row[2], row[3])
    if row[0] == "running" and other not in (None, me) and owners.is_alive(other):
        raise StoreError(
            f"{rec.experiment} / {rec.strategy} is being run by {other.describe()} into "
            f"{path}; wait for it to finish"
        )
    con.execute(
        "UPDATE runs SET status = 'running', position = ?, target_replications = ?, "
        "code_version = ?, owner_pid = ?, owner_host = ?, owner_started_s = ? WHERE run_id = ?",
        [
            rec.position,
            rec.target_replications,
            rec.code_version,
            me.pid,
            me.host,
            me.started_s,
            run_id,
        ],
    )
