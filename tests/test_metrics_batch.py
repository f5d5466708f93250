"""The fast metrics path gives what the plain one would.

``run_batch`` builds each table once per batch from the replications' columns: its tables must
be the replications' own frames stacked, with their ``replication`` column. The metrics
integrate many step functions in one pass and take a few numpy shortcuts; each must give, to
the bit, what the straightforward computation gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from simulation import load_scenario
from simulation.metrics import compute_metrics, inflation_integral, step_integral
from simulation.metrics.market import _percentile
from simulation.metrics.spells import _time_keys
from simulation.metrics.steps import _Edges, _jump_sets, _jumps, _StepRows
from simulation.model import simulate
from simulation.runner import run_batch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n_reps", [2, 9])  # 9 x 261 weeks: long enough for the 2-D block path
def test_batch_tables_are_the_replications_frames_stacked(n_reps: int) -> None:
    s = load_scenario(ROOT / "configs" / "minimal.yaml")
    reps = [4, *range(7, 7 + n_reps - 1)]  # any replication numbers, in any order
    batch = run_batch(s, reps, s.run.seed)
    assert list(batch) == ["summary", "weekly", "units", "finance"]
    mets = [compute_metrics(s, simulate(s, r, s.run.seed)) for r in reps]
    expected_summary = pd.DataFrame([m.summary for m in mets])
    expected_summary.insert(0, "replication", np.asarray(reps, dtype=np.int64))
    pdt.assert_frame_equal(batch["summary"], expected_summary, check_exact=True)
    for table in ("weekly", "units", "finance"):
        frames = [getattr(m, table) for m in mets]
        expected = pd.concat(frames, ignore_index=True)
        ids = np.repeat(np.asarray(reps, dtype=np.int64), [len(f) for f in frames])
        expected.insert(0, "replication", ids)
        pdt.assert_frame_equal(batch[table], expected, check_exact=True)
    assert "weekly" not in run_batch(s, reps[:1], s.run.seed, weekly=False)


def _random_spells(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Times on a coarse grid, so that many jumps tie (where the order of a running sum shows).
    on = rng.integers(0, 40, n) / 4.0
    off = np.minimum(on + rng.integers(0, 20, n) / 4.0, 10.0)
    return on, off, rng.lognormal(0.0, 1.0, n) * rng.choice([-1.0, 1.0], n)


@pytest.mark.parametrize("seed", range(20))
def test_rows_integrated_together_equal_step_integral(seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = np.array([0.0, 1.0, 2.5, 2.75, 7.0, 9.0, 10.0])
    g = inflation_integral(0.06)
    spells = [_random_spells(rng, int(rng.integers(0, 30))) for _ in range(6)]
    steps = _StepRows()
    # Counts first, then weighted rows, then rows against the price index.
    for on, off, _ in spells[:2]:
        times, _, sign = _jumps(on, off)
        steps.add(times, sign, [len(times)], unit_steps=True)
    for i, (on, off, weight) in enumerate(spells[2:]):
        times, spell, sign = _jumps(on, off)
        steps.add(times, weight[spell] * sign, [len(times)], indexed=i >= 2)
    (at,) = steps.integrate(g, [(_Edges(edges), 0)])
    got = at[:, 1:] - at[:, :-1]
    for row, (on, off, weight) in enumerate(spells):
        w = np.ones_like(on) if row < 2 else weight
        expected = step_integral(on, off, w, edges, g if row >= 4 else None)
        assert np.array_equal(got[row], expected), row


@pytest.mark.parametrize("seed", range(10))
def test_sorting_by_time_keys_orders_jumps_as_sorting_times(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sets = [_random_spells(rng, int(rng.integers(0, 40)))[:2] for _ in range(4)]
    # Integer keys in the order of the times, as _time_keys gives them for a log.
    distinct = np.unique(np.concatenate([x for s in sets for x in s]))
    keyed = [(on, off, (distinct.searchsorted(on), distinct.searchsorted(off))) for on, off in sets]
    for (on, off), (times, spell, sign) in zip(sets, _jump_sets(keyed), strict=True):
        t, sp, sg = _jumps(on, off)
        assert np.array_equal(times, t) and np.array_equal(spell, sp) and np.array_equal(sign, sg)


def test_time_keys_follow_the_log_times() -> None:
    s = load_scenario(ROOT / "configs" / "minimal.yaml")
    log = simulate(s, 0).log
    keys = _time_keys(log, s.horizon_days)
    assert keys is not None
    per_row, horizon_key = keys
    t = np.append(log.time, s.horizon_days)
    k = np.append(per_row, horizon_key)
    # Same order, ties and all.
    assert np.array_equal(np.sign(np.subtract.outer(t, t)), np.sign(np.subtract.outer(k, k)))


def test_percentile_is_numpys() -> None:
    rng = np.random.default_rng(3)
    for _ in range(2000):
        x = rng.lognormal(8.0, 0.5, int(rng.integers(1, 50)))
        if rng.random() < 0.3:
            x = np.round(x, -2)  # ties
        q = float(rng.choice([5, 50, 95, 99.9, 100]))
        assert _percentile(x, q) == np.percentile(x, q)


def test_row_sums_of_a_block_are_each_rows_own_sum() -> None:
    # void_causes and the financial-year totals sum rows of 2-D slices at once, relying on
    # numpy summing each row exactly as np.sum sums that row on its own (pairwise, in order).
    rng = np.random.default_rng(5)
    for _ in range(300):
        m = rng.standard_normal((int(rng.integers(1, 20)), int(rng.integers(1, 400)))) * 1e3
        m[rng.random(m.shape) < 0.5] = 0.0
        c0 = int(rng.integers(0, m.shape[1]))
        c1 = int(rng.integers(c0, m.shape[1] + 1))
        out = np.empty(m.shape[0])
        m[:, c0:c1].sum(axis=1, out=out)
        assert np.array_equal(out, [np.sum(row[c0:c1].copy()) for row in m])
