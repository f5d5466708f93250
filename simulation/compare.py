"""Paired comparison of two scenarios run on the same random numbers.

Run the baseline and the alternative with the same seed and replication count: replication ``r``
of each then sees the same children (common random numbers), so the per-replication difference
cancels most of the noise and a small difference can be told from chance. This module is pure:
it takes the two ``summary`` DataFrames (one row per replication) and returns statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulation.stats import paired_ci

DRAW = "draw"  # a replication's parameter draw, with uncertain inputs only
ID_COLUMNS = ("scenario", "replication", DRAW, "seed")
COLUMNS = [
    "metric",
    "n",
    "baseline_mean",
    "edited_mean",
    "mean_diff",
    "sd_diff",
    "ci_low",
    "ci_high",
    "relative_diff_pct",
    "p_edited_lower",
    "p_edited_higher",
]


def paired_differences(
    baseline: pd.DataFrame,
    edited: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per metric: the mean of (edited - baseline) over paired replications, with its t CI.

    Parameters
    ----------
    baseline, edited
        Summary DataFrames (``RunResult.summary`` or ``replications.parquet``) with a
        ``replication`` column; rows are paired on it. If both carry a ``seed`` column the seeds
        must agree, or the pairs would not share random numbers.
    metrics
        Metrics to compare (default: every numeric column both have, except the id columns).
    confidence
        Level of the Student t interval of the mean difference.

    Returns
    -------
    DataFrame
        One row per metric: ``n`` pairs, ``baseline_mean``, ``edited_mean``, ``mean_diff``,
        ``sd_diff``, ``ci_low``/``ci_high`` of the mean difference, ``relative_diff_pct``
        (mean difference as % of the baseline mean), ``p_edited_lower``, the share of pairs in
        which the edited scenario's value is lower (for a cost: P(edited cheaper)), and
        ``p_edited_higher``, the share in which it is higher (ties are neither). NaN pairs are
        dropped per metric.

    Raises
    ------
    ValueError
        If either input is empty, lacks ``replication``, the replications do not overlap, the
        seeds differ, or a requested metric is missing.
    """
    for name, df in (("baseline", baseline), ("edited", edited)):
        if df is None or len(df) == 0:
            raise ValueError(f"{name} summary is empty: nothing to compare")
        if "replication" not in df.columns:
            raise ValueError(f"{name} summary lacks a 'replication' column to pair on")
        if df["replication"].duplicated().any():
            raise ValueError(f"{name} summary has repeated replications: pass one scenario's rows")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (got {confidence})")
    if "seed" in baseline.columns and "seed" in edited.columns:
        seeds_a, seeds_b = set(baseline["seed"].unique()), set(edited["seed"].unique())
        if seeds_a != seeds_b:
            raise ValueError(
                f"the runs used different seeds ({sorted(seeds_a)} vs {sorted(seeds_b)}): "
                "a paired comparison needs the same seed for both"
            )
    if metrics is None:
        metrics = [
            c
            for c in baseline.columns
            if c not in ID_COLUMNS
            and c in edited.columns
            and pd.api.types.is_numeric_dtype(baseline[c])
            and pd.api.types.is_numeric_dtype(edited[c])
        ]
    missing = [m for m in metrics if m not in baseline.columns or m not in edited.columns]
    if missing:
        raise ValueError(f"metric(s) not in both summaries: {', '.join(missing)}")
    # Under uncertain inputs replications sharing a parameter draw are correlated: the CI
    # then treats each draw as one observation (the ``draw`` column, docs/model.md).
    keys = ["replication", *([DRAW] if DRAW in baseline and DRAW in edited else [])]
    paired = baseline[[*keys, *metrics]].merge(
        edited[[*keys, *metrics]], on=keys, suffixes=("_a", "_b")
    )
    if paired.empty:
        raise ValueError("the two summaries share no replication numbers")
    groups = paired[DRAW].to_numpy() if DRAW in keys else None
    rows = []
    for m in metrics:
        p = paired_ci(paired[f"{m}_a"], paired[f"{m}_b"], confidence, groups)
        if p.n == 0:
            rows.append({"metric": m, "n": 0} | dict.fromkeys(COLUMNS[2:], math.nan))
            continue
        d = p.diff
        a, b = paired[f"{m}_a"].to_numpy(float), paired[f"{m}_b"].to_numpy(float)
        both = ~(np.isnan(a) | np.isnan(b))
        rows.append(
            {
                "metric": m,
                "n": p.n,
                "baseline_mean": p.a_mean,
                "edited_mean": p.b_mean,
                "mean_diff": d.mean,
                "sd_diff": d.sd,
                "ci_low": d.low,
                "ci_high": d.high,
                "relative_diff_pct": 100.0 * d.mean / abs(p.a_mean) if p.a_mean else math.nan,
                "p_edited_lower": p.p_b_lower,
                "p_edited_higher": float(np.mean(b[both] > a[both])),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["paired_differences"]
