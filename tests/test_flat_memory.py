"""A run written batch by batch (``run_to_folder``, what ``sufficiency run`` does) gives the same
files as the run held in memory, and holds only the batch in hand: memory cannot grow with the
number of replications (checked by structure, not by timing or measuring memory)."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pandas.testing as pdt
import pyarrow.parquet as pq
import pytest

from simulation import load_scenario, outputs
from simulation.outputs import TABLES, read_tables, run_to_folder, write_outputs
from simulation.pool import imap_ordered
from simulation.runner import replication_batches, run, weekly_fans

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def scenario() -> Any:
    s = load_scenario(ROOT / "configs" / "minimal.yaml")
    return s.model_copy(update={"run": s.run.model_copy(update={"horizon_years": 1})})


@pytest.fixture(scope="module")
def held(scenario: Any) -> Any:
    return run(scenario, replications=7, seed=4, workers=1)


def _same_folders(a: Path, b: Path) -> None:
    ta, tb = read_tables(a), read_tables(b)
    assert sorted(ta) == sorted(tb) == sorted(TABLES)
    for name in TABLES:
        pdt.assert_frame_equal(ta[name], tb[name], check_exact=True)
    assert (a / "summary.csv").read_bytes() == (b / "summary.csv").read_bytes()


@pytest.mark.parametrize(("fmt", "workers"), [("parquet", 2), ("csv", 1)])
def test_written_batch_by_batch_equals_the_run_in_memory(
    scenario: Any, held: Any, tmp_path: Path, fmt: str, workers: int
) -> None:
    """Tables, fans and summary: value for value (CSV: byte for byte) the same, whatever the
    workers, and the fans equal to weekly_fans of the whole weekly table in memory."""
    write_outputs(held, tmp_path / "memory", fmt=fmt)
    written = run_to_folder(
        scenario, tmp_path / "batches", replications=7, seed=4, workers=workers, fmt=fmt
    )
    assert written.workers == workers and written.replications == 7
    _same_folders(tmp_path / "memory", tmp_path / "batches")
    if fmt == "csv":
        for name in TABLES:
            assert (tmp_path / "memory" / f"{name}.csv").read_bytes() == (
                tmp_path / "batches" / f"{name}.csv"
            ).read_bytes()
        assert not (tmp_path / "batches" / ".parquet").exists()  # the staging folder is gone
        return
    tables = read_tables(tmp_path / "batches")
    pdt.assert_frame_equal(tables["fans"], weekly_fans(held.weekly), check_exact=True)
    pdt.assert_frame_equal(tables["replications"], held.summary, check_exact=True)
    pdt.assert_frame_equal(written.stats(), held.stats(), check_exact=True)


def test_each_batch_is_a_row_group_and_is_let_go(
    scenario: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer keeps no batch: when a batch is handed over, every earlier batch's frames are
    already freed; each batch is one row group of the weekly table, and the small tables'
    batches share row groups (thousands of tiny row groups cost memory to read)."""
    real = outputs.iter_batches
    alive: list[weakref.ref[pd.DataFrame]] = []
    most_alive = [0]

    def watched(*args: Any, **kwargs: Any) -> Iterator[dict[str, pd.DataFrame]]:
        for batch in real(*args, **kwargs):
            gc.collect()
            most_alive[0] = max(most_alive[0], sum(r() is not None for r in alive))
            alive.extend(weakref.ref(df) for df in batch.values())
            yield batch
            del batch

    monkeypatch.setattr(outputs, "iter_batches", watched)
    n = 6
    run_to_folder(scenario, tmp_path / "out", replications=n, seed=1, workers=1)
    batches = len(replication_batches(n, 1))
    assert batches > 1
    assert len(alive) == 4 * batches
    assert most_alive[0] == 0
    assert pq.ParquetFile(tmp_path / "out" / "weekly.parquet").num_row_groups == batches
    for name in ("replications", "units", "finance"):
        assert pq.ParquetFile(tmp_path / "out" / f"{name}.parquet").num_row_groups == 1


class CountingPool(ThreadPoolExecutor):
    """A pool that counts the results submitted and not yet handed back."""

    def __init__(self) -> None:
        super().__init__(max_workers=3)
        self.outstanding = 0
        self.most = 0
        self.lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self.lock:
            self.outstanding += 1
            self.most = max(self.most, self.outstanding)
        return super().submit(fn, *args, **kwargs)


def test_ordered_map_holds_at_most_its_window_in_order() -> None:
    pool = CountingPool()
    window = 4
    out = []
    with pool:
        for x in imap_ordered(pool, lambda v: v * v, range(50), window):
            pool.outstanding -= 1
            out.append(x)
    assert out == [v * v for v in range(50)]
    assert pool.most == window


def test_closing_early_cancels_what_has_not_started() -> None:
    gate = threading.Event()
    ran: list[int] = []

    def slow(v: int) -> int:
        gate.wait(5)
        ran.append(v)
        return v

    with ThreadPoolExecutor(max_workers=1) as pool:
        it = imap_ordered(pool, slow, range(20), 6)
        gate.set()
        assert next(it) == 0
        it.close()
    assert len(ran) < 20  # the queued calls were cancelled, not run


def test_nan_percentiles_are_numpys_nanpercentile() -> None:
    """The fans' fast percentiles are numpy's nanpercentile exactly: columns with and without
    NaN, all-NaN columns, ties, one row."""
    import warnings

    import numpy as np

    from simulation.runner import nan_percentiles

    rng = np.random.default_rng(7)
    q = [5, 25, 50, 75, 95]
    for trial in range(60):
        values = rng.normal(size=(int(rng.integers(1, 30)), int(rng.integers(1, 20))))
        if trial % 3 == 0:
            values = np.round(values, 1)  # ties
        values[rng.random(values.shape) < 0.15 * (trial % 4)] = np.nan
        if trial % 5 == 0:
            values[:, 0] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanpercentile(values, q, axis=0)
            got = nan_percentiles(values, q)
        np.testing.assert_array_equal(got, expected)
