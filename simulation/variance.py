"""Control-variate estimators of a mean: the regression estimator and its confidence interval.

Given ``n`` replications of an output ``y`` and of ``q`` controls ``c`` whose expectations are
known exactly (recorded already centred, so each has mean 0), the controlled mean is the
intercept of the least-squares fit ``y = θ + βᵀc``. It is unbiased when ``(y, c)`` are jointly
normal and consistent in general; its variance is estimated by the fit's residual variance with
``n - q - 1`` degrees of freedom, and its confidence interval uses Student's t on those degrees
of freedom (Law & Kelton, *Simulation Modeling and Analysis*, 5th ed., s11.4; Nelson 1990,
"Control variate remedies", *Operations Research* 38(6), 974-992). A paired difference
``b - a`` of two strategies on common random numbers is one output like any other, controlled by
both strategies' controls (one copy when they are equal, as when only the supply differs).

When the controlled value is used: the controls are estimated, so they cost ``q`` degrees of
freedom and a little variance; the controlled interval is reported as the reduced one only
when the F test that the controls explain nothing rejects at ``alpha`` (0.01) and at least
``min_df`` (10) degrees of freedom remain. Otherwise the plain Student-t interval stands. Both
are always reported, with the variance-reduction factor: the plain estimator's variance of the
mean over the controlled one's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from simulation.stats import DEFAULT_CONFIDENCE, MeanCI, mean_ci, t_quantile

ALPHA = 0.01  # the F test's level for using the controls
MIN_DF = 10  # degrees of freedom left after fitting the controls


@dataclass(frozen=True)
class ControlledCI:
    """The plain and the controlled estimate of one mean, and which one is used.

    ``mean``/``half_width`` are the reduced estimate: the controlled one if ``used``, else the
    plain one. ``factor`` is the plain variance of the mean over the controlled one (> 1: the
    controls help); NaN when either cannot be estimated.
    """

    plain: MeanCI
    q: int
    controlled_mean: float
    controlled_half_width: float
    controlled_var: float  # estimated variance of the controlled mean
    factor: float
    p_value: float
    used: bool

    @property
    def n(self) -> int:
        return self.plain.n

    @property
    def mean(self) -> float:
        return self.controlled_mean if self.used else self.plain.mean

    @property
    def half_width(self) -> float:
        return self.controlled_half_width if self.used else self.plain.half_width

    @property
    def var_of_mean(self) -> float:
        """The estimated variance of the reduced estimate."""
        if self.used:
            return self.controlled_var
        return self.plain.sd**2 / self.plain.n if self.plain.n > 1 else math.nan

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def _independent_columns(c: np.ndarray) -> np.ndarray:
    """The columns of ``c`` that vary and are not linear combinations of earlier ones."""
    keep: list[int] = []
    for j in range(c.shape[1]):
        trial = c[:, [*keep, j]]
        centred = trial - trial.mean(axis=0)
        if np.linalg.matrix_rank(centred) == len(keep) + 1:
            keep.append(j)
    return c[:, keep]


def controlled_mean_ci(
    y: ArrayLike,
    controls: ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float = ALPHA,
    min_df: int = MIN_DF,
) -> ControlledCI:
    """The mean of ``y`` with controls ``controls`` (``n × q``, each of expectation 0).

    Rows where ``y`` or a control is NaN are left out of both estimates.
    """
    ya = np.asarray(y, dtype=float)
    ca = np.asarray(controls, dtype=float).reshape(len(ya), -1)
    ok = ~np.isnan(ya) & ~np.isnan(ca).any(axis=1)
    ya, ca = ya[ok], ca[ok]
    plain = mean_ci(ya, confidence)
    c = _independent_columns(ca) if len(ya) > 1 else ca[:, :0]
    n, q = c.shape
    df = n - q - 1
    if q == 0 or df < 1 or not plain.sd > 0:
        return ControlledCI(plain, q, math.nan, math.nan, math.nan, math.nan, math.nan, False)
    x = np.column_stack([np.ones(n), c])
    coef, *_ = np.linalg.lstsq(x, ya, rcond=None)
    resid = ya - x @ coef
    sse = float(resid @ resid)
    sst = float(np.sum((ya - ya.mean()) ** 2))
    s2 = sse / df
    var_mean = s2 * float(np.linalg.inv(x.T @ x)[0, 0])
    half = t_quantile(confidence, df) * math.sqrt(var_mean)
    factor = (plain.sd**2 / n) / var_mean if var_mean > 0 else math.inf
    if sse > 0:
        f_stat = ((sst - sse) / q) / s2
        p_value = float(sps.f.sf(f_stat, q, df))
    else:
        p_value = 0.0
    used = df >= min_df and p_value < alpha
    return ControlledCI(plain, q, float(coef[0]), half, var_mean, factor, p_value, used)


def paired_controlled_ci(
    a: ArrayLike,
    b: ArrayLike,
    controls_a: ArrayLike,
    controls_b: ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
) -> ControlledCI:
    """The mean of ``b - a`` (paired replications), controlled by both sides' controls."""
    ya, yb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ca = np.asarray(controls_a, dtype=float).reshape(len(ya), -1)
    cb = np.asarray(controls_b, dtype=float).reshape(len(yb), -1)
    # Equal controls (the same children in both) count once; _independent_columns drops the
    # columns the two sides share exactly.
    both = ca if np.array_equal(ca, cb) else np.column_stack([ca, cb])
    return controlled_mean_ci(yb - ya, both, confidence)


__all__ = ["ALPHA", "MIN_DF", "ControlledCI", "controlled_mean_ci", "paired_controlled_ci"]
