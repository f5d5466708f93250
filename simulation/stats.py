"""Confidence intervals of a mean: one Student-t rule for the whole tool.

Replications are independent, so the mean of a metric over ``n`` of them has the interval
``mean ± t(1 - (1 - confidence) / 2, n - 1) · sd / √n`` (``sd`` with ``ddof=1``). A paired
comparison (replication ``r`` of two scenarios on the same seed) applies the same rule to the
per-replication differences. The run summary (:func:`simulation.runner.summarise`), the paired
comparison (:func:`simulation.compare.paired_differences`, and through it the experiments),
the experiments' stopping rule and the optimiser's candidate statistics all use this module.

Column vocabulary of a paired table: ``mean_diff`` and ``sd_diff`` (mean and sd of the
differences), ``ci_low``/``ci_high`` (its interval).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

DEFAULT_CONFIDENCE = 0.95


@functools.lru_cache(maxsize=4096)
def t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student-t quantile for ``confidence`` with ``df`` degrees of freedom."""
    return float(stats.t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class MeanCI:
    """The mean of ``n`` values and its Student-t confidence interval.

    ``sd`` (``ddof=1``) and ``half_width`` are NaN below two values; everything is NaN for none.
    """

    n: int
    mean: float
    sd: float
    half_width: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


_EMPTY = MeanCI(0, math.nan, math.nan, math.nan)


def _ci(x: NDArray[np.float64], confidence: float) -> MeanCI:
    n = len(x)
    if n == 0:
        return _EMPTY
    mean = float(np.mean(x))
    if n < 2:
        return MeanCI(n, mean, math.nan, math.nan)
    sd = float(np.std(x, ddof=1))
    return MeanCI(n, mean, sd, t_quantile(confidence, n - 1) * sd / math.sqrt(n))


def mean_ci(x: ArrayLike, confidence: float = DEFAULT_CONFIDENCE) -> MeanCI:
    """The mean of ``x`` (NaN values left out) with its Student-t confidence interval."""
    arr = np.asarray(x, dtype=float)
    return _ci(arr[~np.isnan(arr)], confidence)


@dataclass(frozen=True)
class PairedCI:
    """Paired values ``a`` (baseline) and ``b``: their means and the CI of ``b - a``.

    ``p_b_lower`` is the share of pairs in which ``b`` is below ``a``.
    """

    n: int
    a_mean: float
    b_mean: float
    diff: MeanCI
    p_b_lower: float


def paired_ci(a: ArrayLike, b: ArrayLike, confidence: float = DEFAULT_CONFIDENCE) -> PairedCI:
    """The CI of the mean of ``b - a`` over the pairs in which neither value is NaN."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return PairedCI(0, math.nan, math.nan, _EMPTY, math.nan)
    return PairedCI(
        n=len(x),
        a_mean=float(np.mean(x)),
        b_mean=float(np.mean(y)),
        diff=_ci(y - x, confidence),
        p_b_lower=float(np.mean(y < x)),
    )


__all__ = ["DEFAULT_CONFIDENCE", "MeanCI", "PairedCI", "mean_ci", "paired_ci", "t_quantile"]
