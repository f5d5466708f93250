"""The paired comparison behind the app: pure statistics over two summary DataFrames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulation.compare import paired_differences


def summary(values: list[float], seed: int = 1, name: str = "cost_total_gbp") -> pd.DataFrame:
    return pd.DataFrame(
        {"scenario": "x", "replication": range(len(values)), "seed": seed, name: values}
    )


def test_identical_runs_differ_by_nothing() -> None:
    a = summary([10.0, 12.0, 11.0, 13.0])
    row = paired_differences(a, a).iloc[0]
    assert row["metric"] == "cost_total_gbp"
    assert row["mean_diff"] == 0.0 and row["ci_low"] == 0.0 and row["ci_high"] == 0.0
    assert row["p_edited_lower"] == 0.0


def test_mean_difference_and_t_interval() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(100, 20, 30)
    edited = base - 5 + rng.normal(0, 2, 30)  # common noise cancels: only the +-2 is left
    row = paired_differences(summary(list(base)), summary(list(edited))).iloc[0]
    d = edited - base
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert row["n"] == 30
    assert row["mean_diff"] == pytest.approx(d.mean())
    assert row["ci_low"] == pytest.approx(d.mean() - half)
    assert row["ci_high"] == pytest.approx(d.mean() + half)
    assert row["ci_high"] < 0  # the shift of -5 is resolved despite sd 20 between replications
    assert row["p_edited_lower"] == pytest.approx(np.mean(edited < base))
    assert row["relative_diff_pct"] == pytest.approx(100 * d.mean() / base.mean())


def test_pairs_by_replication_not_by_row_order() -> None:
    a = summary([1.0, 2.0, 3.0])
    b = summary([2.0, 3.0, 4.0]).iloc[::-1]
    row = paired_differences(a, b).iloc[0]
    assert row["mean_diff"] == 1.0 and row["sd_diff"] == 0.0


def test_refuses_unpaired_inputs() -> None:
    a = summary([1.0, 2.0])
    with pytest.raises(ValueError, match="different seeds"):
        paired_differences(a, summary([1.0, 2.0], seed=2))
    with pytest.raises(ValueError, match="empty"):
        paired_differences(a, a.iloc[0:0])
    with pytest.raises(ValueError, match="not in both"):
        paired_differences(a, a, ["spot_placements"])
    with pytest.raises(ValueError, match="share no replication"):
        paired_differences(a, a.assign(replication=[5, 6]))


def test_higher_and_lower_count_ties_as_neither() -> None:
    a = summary([10.0, 12.0, 11.0, 13.0, math.nan])
    b = summary([11.0, 12.0, 10.0, 15.0, 1.0])
    row = paired_differences(a, b).iloc[0]
    # Pairs (NaN dropped): up, tie, down, up.
    assert row["p_edited_higher"] == 0.5 and row["p_edited_lower"] == 0.25
