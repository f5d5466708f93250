"""Paired comparisons of strategies run on common random numbers.

Every strategy of an experiment runs replication ``r`` on the same seed, so replication ``r`` of
strategy A and of strategy B saw the same children arrive with the same needs and stays. The
difference A_r - B_r therefore cancels most of the demand noise, and its mean has a much
narrower confidence interval than the difference of two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from simulation import compare

COST_METRIC = "cost_total_gbp"

PAIRED_COLUMNS = [
    "strategy",
    "metric",
    "n",
    "mean",
    "baseline_mean",
    "mean_diff",
    "sd_diff",
    "ci_low",
    "ci_high",
    "p_lower",
    "p_cheaper",
]


def paired_differences(
    summary: pd.DataFrame,
    baseline: str,
    metrics: Sequence[str],
    confidence: float = 0.95,
    cost_metric: str = COST_METRIC,
) -> pd.DataFrame:
    """Per strategy and metric: mean difference from ``baseline`` with its CI.

    Parameters
    ----------
    summary
        One row per strategy and replication: columns ``strategy``, ``replication`` and the
        metrics. Only replications present for both strategies are paired.
    baseline
        The strategy the others are compared with (its own rows are left out of the result).
    metrics
        Metrics to compare.

    Returns
    -------
    DataFrame
        Columns :data:`PAIRED_COLUMNS`: ``mean_diff``, ``sd_diff`` and ``ci_low``/``ci_high``
        as in :func:`simulation.compare.paired_differences`. ``p_lower`` is the share of paired
        replications in which the strategy's value is below the baseline's; ``p_cheaper`` the
        same for ``cost_metric`` (P(strategy cheaper than baseline)), repeated on each row.
    """
    if baseline not in set(summary["strategy"]):
        raise KeyError(f"no strategy '{baseline}' in the results")
    base = summary[summary["strategy"] == baseline]
    wanted = list(dict.fromkeys([*metrics, *([cost_metric] if cost_metric in summary else [])]))
    rows = []
    for strategy, grp in summary.groupby("strategy", sort=False):
        if strategy == baseline or not set(grp["replication"]) & set(base["replication"]):
            continue
        # One pairing rule for the whole tool: simulation.compare (also behind the web app).
        table = compare.paired_differences(base, grp, wanted, confidence)
        by_metric: dict[str, dict[Any, Any]] = {
            str(r["metric"]): r for r in table.to_dict(orient="records")
        }
        p_cheaper = (
            float(by_metric[cost_metric]["p_edited_lower"])
            if cost_metric in by_metric
            else math.nan
        )
        for metric in metrics:
            r = by_metric[metric]
            rows.append(
                {
                    "strategy": strategy,
                    "metric": metric,
                    "n": int(r["n"]),
                    "mean": r["edited_mean"],
                    "baseline_mean": r["baseline_mean"],
                    "mean_diff": r["mean_diff"],
                    "sd_diff": r["sd_diff"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "p_lower": r["p_edited_lower"],
                    "p_cheaper": p_cheaper,
                }
            )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
