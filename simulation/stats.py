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


def paired_ci(
    a: ArrayLike,
    b: ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
    groups: ArrayLike | None = None,
) -> PairedCI:
    """The CI of the mean of ``b - a`` over the pairs in which neither value is NaN; with
    ``groups`` (each pair's parameter draw, under uncertain inputs), a CI that allows for pairs
    of one draw being correlated (:func:`grouped_mean_ci`)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return PairedCI(0, math.nan, math.nan, _EMPTY, math.nan)
    diff = (
        _ci(y - x, confidence)
        if groups is None
        else grouped_mean_ci(y - x, np.asarray(groups)[ok], confidence)
    )
    return PairedCI(
        n=len(x),
        a_mean=float(np.mean(x)),
        b_mean=float(np.mean(y)),
        diff=diff,
        p_b_lower=float(np.mean(y < x)),
    )


def _groups(y: ArrayLike, groups: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """The non-NaN values and their group index 0..K-1."""
    arr = np.asarray(y, dtype=float)
    g = np.asarray(groups)
    ok = ~np.isnan(arr)
    _, index = np.unique(g[ok], return_inverse=True)
    return arr[ok], index.astype(np.intp)


def grouped_mean_ci(
    y: ArrayLike, groups: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> MeanCI:
    """The mean of ``y`` with a CI that allows for values of one group being correlated
    (replications sharing a parameter draw): the cluster variance of the mean, Student t on
    K - 1 degrees of freedom (K groups). Balanced, it is the t interval of the group means."""
    x, g = _groups(y, groups)
    n = len(x)
    if n == 0:
        return _EMPTY
    mean = float(np.mean(x))
    k = int(g.max()) + 1
    sd = float(np.std(x, ddof=1)) if n > 1 else math.nan
    if k < 2:
        return MeanCI(n, mean, sd, math.nan)
    totals = np.bincount(g, weights=x - mean, minlength=k)
    var = k / (k - 1) * float(np.sum(totals**2)) / n**2
    return MeanCI(n, mean, sd, t_quantile(confidence, k - 1) * math.sqrt(var))


@dataclass(frozen=True)
class VarianceSplit:
    """Var(Y) = Var(E[Y | theta]) + E[Var(Y | theta)]: the part from uncertain inputs
    (``var_input``) and the part from chance (``var_chance``), and the input part's share with
    its confidence interval. NaN when there are too few groups or values."""

    draws: int
    var_input: float
    var_chance: float
    share: float
    share_low: float
    share_high: float


def variance_split(
    y: ArrayLike, groups: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> VarianceSplit:
    """One-way random-effects ANOVA of ``y`` over ``groups`` (values sharing a parameter draw).

    With K groups, N values, group sizes n_g: MSB = sum n_g (mean_g - mean)^2 / (K - 1),
    MSW = sum (y - mean_g)^2 / (N - K), n0 = (N - sum n_g^2 / N) / (K - 1) (the group size
    when balanced). E[MSW] = var_chance and E[MSB] = var_chance + n0 var_input, so
    var_chance = MSW and var_input = (MSB - MSW) / n0, set to 0 when negative (the estimate is
    then below its noise). The share's interval is the exact one for the intraclass correlation
    under normal effects (F distribution on K - 1 and N - K degrees of freedom; Searle 1971).
    """
    x, g = _groups(y, groups)
    n = len(x)
    k = int(g.max()) + 1 if n else 0
    if k < 2 or n - k < 1:
        return VarianceSplit(k, math.nan, math.nan, math.nan, math.nan, math.nan)
    sizes = np.bincount(g, minlength=k).astype(float)
    means = np.bincount(g, weights=x, minlength=k) / sizes
    grand = float(np.mean(x))
    msb = float(np.sum(sizes * (means - grand) ** 2)) / (k - 1)
    msw = float(np.sum((x - means[g]) ** 2)) / (n - k)
    n0 = (n - float(np.sum(sizes**2)) / n) / (k - 1)
    var_input = max(0.0, (msb - msw) / n0)
    total = var_input + msw
    if total == 0:
        return VarianceSplit(k, 0.0, 0.0, math.nan, math.nan, math.nan)
    if msw == 0:
        return VarianceSplit(k, var_input, 0.0, 1.0, 1.0, 1.0)
    f0 = msb / msw
    alpha = 1 - confidence
    f_hi = float(stats.f.ppf(1 - alpha / 2, k - 1, n - k))
    f_lo = float(stats.f.ppf(alpha / 2, k - 1, n - k))

    def icc(f: float) -> float:
        return min(1.0, max(0.0, (f - 1) / (f + n0 - 1)))

    return VarianceSplit(k, var_input, msw, var_input / total, icc(f0 / f_hi), icc(f0 / f_lo))


__all__ = [
    "DEFAULT_CONFIDENCE",
    "MeanCI",
    "PairedCI",
    "VarianceSplit",
    "grouped_mean_ci",
    "mean_ci",
    "paired_ci",
    "t_quantile",
    "variance_split",
]
