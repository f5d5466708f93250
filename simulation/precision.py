"""Reduced-variance means and paired differences of a run's summary, and precision targets.

Each replication records, beside its metrics, the total cost at mean prices and the control
variates of :mod:`simulation.metrics.control`. From them:

- the expected total cost (``cost_total_gbp``, and ``cost_per_year_gbp`` which is it divided
  by the run's years) is estimated from the cost at mean prices (conditional Monte Carlo:
  unbiased, never a larger variance), then with the controls;
- every other metric with the controls alone (:func:`simulation.variance.controlled_mean_ci`,
  which falls back to the plain interval where the controls do not significantly help).

The plain mean, percentiles and CI are untouched; the reduced figures sit beside them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulation.metrics.control import CONDITIONAL_COST, CONTROL_SUMMARY, CONTROLS
from simulation.stats import mean_ci
from simulation.variance import ControlledCI, controlled_mean_ci, paired_controlled_ci

REDUCED_COLUMNS = [
    "reduced_mean",
    "reduced_ci_low",
    "reduced_ci_high",
    "variance_reduction",
    "reduced_by",
]
# Metrics whose expectation is estimated from the cost at mean prices (scaled per row).
_AT_MEAN_PRICES = ("cost_total_gbp", "cost_per_year_gbp")


@dataclass(frozen=True)
class Reduced:
    """One reduced estimate: mean, CI half-width, factor over the plain estimator, method."""

    n: int
    mean: float
    half_width: float
    factor: float
    by: str


def _source(df: pd.DataFrame, metric: str) -> tuple[np.ndarray, bool]:
    """The values the reduced estimate of ``metric`` averages, and whether at mean prices."""
    y = df[metric].to_numpy(dtype=float)
    if metric in _AT_MEAN_PRICES and CONDITIONAL_COST in df:
        cond = df[CONDITIONAL_COST].to_numpy(dtype=float)
        if not np.isnan(cond).all():
            if metric == "cost_total_gbp":
                return cond, True
            total = df["cost_total_gbp"].to_numpy(dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                return cond * np.where(total != 0, y / total, np.nan), True
    return y, False


def _reduced(plain_var: float, ci: ControlledCI, at_mean_prices: bool) -> Reduced:
    """``plain_var``: the plain estimator's variance of the mean (on the drawn prices)."""
    if ci.used:
        by = "mean prices + controls" if at_mean_prices else "controls"
    else:
        by = "mean prices" if at_mean_prices else "plain"
    var = ci.var_of_mean
    factor = plain_var / var if var > 0 else math.nan
    return Reduced(ci.n, ci.mean, ci.half_width, factor, by)


def _controls(df: pd.DataFrame) -> np.ndarray | None:
    if not all(c in df for c in CONTROLS):
        return None
    return df[list(CONTROLS)].to_numpy(dtype=float)


def reduced_mean(df: pd.DataFrame, metric: str) -> Reduced:
    """The reduced-variance estimate of ``metric``'s mean over the rows of ``df``."""
    y, at_mean = _source(df, metric)
    plain = mean_ci(df[metric].to_numpy(dtype=float))
    c = _controls(df)
    ci = controlled_mean_ci(y, c if c is not None else np.zeros((len(y), 0)))
    return _reduced(plain.sd**2 / plain.n if plain.n > 1 else math.nan, ci, at_mean)


def reduced_stats(summary: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per metric: :data:`REDUCED_COLUMNS` (NaN for the variance-reduction columns themselves)."""
    rows = []
    for metric in metrics:
        if metric in CONTROL_SUMMARY or not len(summary):
            rows.append(dict.fromkeys(REDUCED_COLUMNS, math.nan) | {"reduced_by": ""})
            continue
        r = reduced_mean(summary, metric)
        rows.append(
            {
                "reduced_mean": r.mean,
                "reduced_ci_low": r.mean - r.half_width,
                "reduced_ci_high": r.mean + r.half_width,
                "variance_reduction": r.factor,
                "reduced_by": r.by,
            }
        )
    return pd.DataFrame(rows, columns=REDUCED_COLUMNS)


UNCERTAIN_NOTE = "not with uncertain inputs"


def without_reduced(stats: pd.DataFrame) -> pd.DataFrame:
    """``stats`` with the reduced figures blanked: with uncertain inputs, replications sharing
    a parameter draw are not independent, which the regression estimator assumes."""
    out = stats.copy()
    out[REDUCED_COLUMNS[:-1]] = math.nan
    out["reduced_by"] = UNCERTAIN_NOTE
    return out


def paired_reduced(base: pd.DataFrame, other: pd.DataFrame, metric: str) -> Reduced:
    """The reduced-variance estimate of the mean of ``other - base`` over their common
    replications (rows matched on ``replication``)."""
    m = base.merge(other, on="replication", suffixes=("_a", "_b"))
    a_df = m[[c for c in m.columns if str(c).endswith("_a")]].rename(columns=lambda c: c[:-2])
    b_df = m[[c for c in m.columns if str(c).endswith("_b")]].rename(columns=lambda c: c[:-2])
    ya, at_mean = _source(a_df, metric)
    yb, _ = _source(b_df, metric)
    plain_d = b_df[metric].to_numpy(dtype=float) - a_df[metric].to_numpy(dtype=float)
    plain = mean_ci(plain_d)
    ca, cb = _controls(a_df), _controls(b_df)
    if ca is None or cb is None:
        ca = cb = np.zeros((len(ya), 0))
    ci = paired_controlled_ci(ya, yb, ca, cb)
    return _reduced(plain.sd**2 / plain.n if plain.n > 1 else math.nan, ci, at_mean)


def paired_reduced_table(
    summary: pd.DataFrame, baseline: str, metrics: Sequence[str]
) -> pd.DataFrame:
    """Per strategy (not the baseline) and metric: the reduced paired difference."""
    base = summary[summary["strategy"] == baseline].drop(columns=["strategy"])
    rows = []
    for strategy, grp in summary.groupby("strategy", sort=False):
        if strategy == baseline:
            continue
        other = grp.drop(columns=["strategy"])
        for metric in metrics:
            r = paired_reduced(base, other, metric)
            rows.append(
                {
                    "strategy": strategy,
                    "metric": metric,
                    "n": r.n,
                    "reduced_diff": r.mean,
                    "reduced_half_width": r.half_width,
                    "variance_reduction": r.factor,
                    "reduced_by": r.by,
                }
            )
    cols = [
        "strategy",
        "metric",
        "n",
        "reduced_diff",
        "reduced_half_width",
        "variance_reduction",
        "reduced_by",
    ]
    return pd.DataFrame(rows, columns=cols)


# ----- precision targets -----

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "bn": 1e9}
_TARGET = re.compile(r"^\s*£?\s*(\d+(?:\.\d+)?|\.\d+)\s*(k|m|bn|%)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Precision:
    """A CI half-width target: ``value`` in the metric's units, or a share of the baseline's
    mean when ``relative`` (``5%`` -> 0.05)."""

    value: float
    relative: bool = False

    def target_for(self, baseline_mean: float) -> float:
        return self.value * abs(baseline_mean) if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:.4g} of the baseline's mean" if self.relative else f"{self.value:,.6g}"


def parse_precision(text: str | float | int) -> Precision:
    """``100k``, ``£0.1m``, ``2500``, ``5%`` -> :class:`Precision`; ValueError if not one."""
    if isinstance(text, bool):
        raise ValueError(f"not a precision: {text!r}")
    if isinstance(text, int | float):
        value, relative = float(text), False
    else:
        m = _TARGET.match(text)
        if not m:
            raise ValueError(
                f"not a precision: {text!r} (allowed: a positive number with an optional k, m "
                "or bn, e.g. 100k, 0.1m, 2500; or a percentage of the baseline's mean, e.g. 5%)"
            )
        suffix = (m.group(2) or "").lower()
        relative = suffix == "%"
        value = float(m.group(1)) * (0.01 if relative else _SUFFIX[suffix])
    if not (math.isfinite(value) and value > 0) or (relative and value >= 1):
        raise ValueError(
            f"precision must be positive{' and below 100%' if relative else ''} (got {text!r})"
        )
    return Precision(value, relative)
