"""Named probability distributions used throughout a scenario.

Every distribution is a small frozen pydantic model selected by its ``dist`` key, with validated
parameters, a ``mean`` and vectorised inverse-CDF sampling (``ppf``). Sampling by inverse CDF from
uniforms drawn on named streams keeps draws aligned across strategies (common random numbers),
and ``cdf`` lets the initial cohort draw residual stays conditional on the time already spent.

The unit of a distribution is named by the field that holds it (``length_of_stay_days``,
``weekly_price_gbp``), never by the distribution itself.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from scipy import special

FloatArray = NDArray[np.float64]

# Every parameter is a finite number of at most this magnitude (a day count, an age, a price in
# pounds a week or a fraction: nothing in a scenario is larger).
PARAM_LIMIT = 1e9
# Coefficients of variation, and Weibull shapes, outside these ranges give overflowing means
# or degenerate quantiles.
CV_RANGE = (0.01, 10.0)
SHAPE_RANGE = (0.1, 100.0)
# Empirical distributions hold at most this many values.
EMPIRICAL_MAX_VALUES = 100_000

Param = Annotated[float, Field(ge=-PARAM_LIMIT, le=PARAM_LIMIT)]
Positive = Annotated[float, Field(gt=0, le=PARAM_LIMIT)]
Cv = Annotated[float, Field(ge=CV_RANGE[0], le=CV_RANGE[1])]


class _Dist(BaseModel):
    # Strict numbers: no booleans, no numeric strings, only finite values.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    @property
    def mean(self) -> float:
        raise NotImplementedError

    def ppf(self, u: ArrayLike) -> FloatArray:
        """Quantile function: maps uniforms in [0, 1) to values."""
        raise NotImplementedError

    def cdf(self, x: ArrayLike) -> FloatArray:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        return self.ppf(rng.random(size))

    def ppf_above(self, u: ArrayLike, lower: ArrayLike) -> FloatArray:
        """Quantiles of the distribution conditioned on exceeding ``lower``.

        Used for residual stays: a child already ``lower`` days into a placement.
        """
        ua = np.asarray(u, dtype=float)
        f_low = np.clip(self.cdf(lower), 0.0, 1.0)
        # Keep strictly below 1 so heavy-tailed ppfs stay finite.
        uu = np.minimum(f_low + ua * (1.0 - f_low), 1.0 - 1e-12)
        return np.maximum(self.ppf(uu), np.asarray(lower, dtype=float))


class Exponential(_Dist):
    """Exponential with the given mean."""

    dist: Literal["exponential"]
    mean_: Positive = Field(alias="mean")

    @property
    def mean(self) -> float:
        return self.mean_

    def ppf(self, u: ArrayLike) -> FloatArray:
        return -self.mean_ * np.log1p(-np.asarray(u, dtype=float))

    def cdf(self, x: ArrayLike) -> FloatArray:
        xa = np.maximum(np.asarray(x, dtype=float), 0.0)
        return -np.expm1(-xa / self.mean_)


class Lognormal(_Dist):
    """Lognormal given by its mean and coefficient of variation (sd / mean)."""

    dist: Literal["lognormal"]
    mean_: Positive = Field(alias="mean")
    cv: Cv

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def _sigma(self) -> float:
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def _mu(self) -> float:
        return math.log(self.mean_) - 0.5 * self._sigma**2

    def ppf(self, u: ArrayLike) -> FloatArray:
        return np.exp(self._mu + self._sigma * special.ndtri(np.asarray(u, dtype=float)))

    def cdf(self, x: ArrayLike) -> FloatArray:
        xa = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(xa, 0.0)) - self._mu) / self._sigma
        return special.ndtr(z)


class Gamma(_Dist):
    """Gamma given by its mean and coefficient of variation."""

    dist: Literal["gamma"]
    mean_: Positive = Field(alias="mean")
    cv: Cv

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def _shape(self) -> float:
        return 1.0 / self.cv**2

    def ppf(self, u: ArrayLike) -> FloatArray:
        k = self._shape
        return special.gammaincinv(k, np.asarray(u, dtype=float)) * (self.mean_ / k)

    def cdf(self, x: ArrayLike) -> FloatArray:
        k = self._shape
        return special.gammainc(k, np.maximum(np.asarray(x, dtype=float), 0.0) / (self.mean_ / k))


class Weibull(_Dist):
    """Weibull given by shape and scale."""

    dist: Literal["weibull"]
    shape: float = Field(ge=SHAPE_RANGE[0], le=SHAPE_RANGE[1])
    scale: Positive

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)

    def ppf(self, u: ArrayLike) -> FloatArray:
        ua = np.asarray(u, dtype=float)
        return self.scale * (-np.log1p(-ua)) ** (1.0 / self.shape)

    def cdf(self, x: ArrayLike) -> FloatArray:
        xa = np.maximum(np.asarray(x, dtype=float), 0.0)
        return -np.expm1(-((xa / self.scale) ** self.shape))


class Triangular(_Dist):
    """Triangular on [min, max] with the given mode."""

    dist: Literal["triangular"]
    min: Param
    mode: Param
    max: Param

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not (self.min <= self.mode <= self.max) or self.min == self.max:
            raise ValueError(
                f"triangular needs min <= mode <= max and min < max "
                f"(got min={self.min}, mode={self.mode}, max={self.max})"
            )
        return self

    @property
    def mean(self) -> float:
        return (self.min + self.mode + self.max) / 3.0

    def ppf(self, u: ArrayLike) -> FloatArray:
        ua = np.asarray(u, dtype=float)
        a, c, b = self.min, self.mode, self.max
        fc = (c - a) / (b - a)
        left = a + np.sqrt(ua * (b - a) * (c - a))
        right = b - np.sqrt((1.0 - ua) * (b - a) * (b - c))
        return np.where(ua < fc, left, right)

    def cdf(self, x: ArrayLike) -> FloatArray:
        xa = np.clip(np.asarray(x, dtype=float), self.min, self.max)
        a, c, b = self.min, self.mode, self.max
        with np.errstate(divide="ignore", invalid="ignore"):
            left = (xa - a) ** 2 / ((b - a) * (c - a)) if c > a else np.zeros_like(xa)
            right = 1.0 - (b - xa) ** 2 / ((b - a) * (b - c)) if b > c else np.ones_like(xa)
        return np.where(xa <= c, left, right)


class Uniform(_Dist):
    """Uniform on [min, max]."""

    dist: Literal["uniform"]
    min: Param
    max: Param

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.min < self.max:
            raise ValueError(f"uniform needs min < max (got min={self.min}, max={self.max})")
        return self

    @property
    def mean(self) -> float:
        return 0.5 * (self.min + self.max)

    def ppf(self, u: ArrayLike) -> FloatArray:
        return self.min + np.asarray(u, dtype=float) * (self.max - self.min)

    def cdf(self, x: ArrayLike) -> FloatArray:
        return np.clip((np.asarray(x, dtype=float) - self.min) / (self.max - self.min), 0.0, 1.0)


class Fixed(_Dist):
    """A constant: every draw equals ``value``."""

    dist: Literal["fixed"]
    value: Param

    @property
    def mean(self) -> float:
        return self.value

    def ppf(self, u: ArrayLike) -> FloatArray:
        return np.full(np.shape(u), self.value, dtype=float)

    def cdf(self, x: ArrayLike) -> FloatArray:
        return (np.asarray(x, dtype=float) >= self.value).astype(float)

    def ppf_above(self, u: ArrayLike, lower: ArrayLike) -> FloatArray:
        # A fixed stay already exceeded has nothing left: it ends now.
        return np.maximum(self.ppf(u), np.asarray(lower, dtype=float))


class Empirical(_Dist):
    """Discrete distribution over observed ``values`` (optionally weighted)."""

    dist: Literal["empirical"]
    values: list[Param] = Field(min_length=1, max_length=EMPIRICAL_MAX_VALUES)
    weights: list[Annotated[float, Field(ge=0, le=PARAM_LIMIT)]] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"empirical weights must match values in length "
                    f"({len(self.weights)} weights for {len(self.values)} values)"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("empirical weights must be >= 0 with a positive sum")
        return self

    def _table(self) -> tuple[FloatArray, FloatArray]:
        v = np.asarray(self.values, dtype=float)
        w = np.ones_like(v) if self.weights is None else np.asarray(self.weights, dtype=float)
        order = np.argsort(v, kind="stable")
        v, w = v[order], w[order]
        return v, np.cumsum(w) / w.sum()

    @property
    def mean(self) -> float:
        v = np.asarray(self.values, dtype=float)
        w = np.ones_like(v) if self.weights is None else np.asarray(self.weights, dtype=float)
        return float(np.sum(v * w) / np.sum(w))

    def ppf(self, u: ArrayLike) -> FloatArray:
        v, cum = self._table()
        idx = np.searchsorted(cum, np.asarray(u, dtype=float), side="right")
        return v[np.minimum(idx, len(v) - 1)]

    def cdf(self, x: ArrayLike) -> FloatArray:
        v, cum = self._table()
        idx = np.searchsorted(v, np.asarray(x, dtype=float), side="right")
        return np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)


Distribution = Annotated[
    Exponential | Lognormal | Gamma | Weibull | Triangular | Uniform | Fixed | Empirical,
    Field(discriminator="dist"),
]

DISTRIBUTION_NAMES = (
    "exponential",
    "lognormal",
    "gamma",
    "weibull",
    "triangular",
    "uniform",
    "fixed",
    "empirical",
)


def lower_bound(d: _Dist) -> float:
    """The smallest value the distribution can produce."""
    return float(d.ppf(np.array([0.0]))[0])


def upper_bound(d: _Dist) -> float:
    """The largest value the distribution can produce (inf when its support is unbounded)."""
    if isinstance(d, Triangular | Uniform):
        return d.max
    if isinstance(d, Fixed):
        return d.value
    if isinstance(d, Empirical):
        return max(d.values)
    return math.inf


# What a distribution's values mean fixes where they may lie. The continuous families
# (exponential, lognormal, gamma, weibull) never go below 0; triangular, uniform, fixed and
# empirical are checked on their min / values. An unbounded upper tail is checked by its mean.
DAYS_LIMIT = 36_525.0  # 100 years
AGE_LIMIT_YEARS = 25.0
WEEKLY_PRICE_LIMIT_GBP = 1_000_000.0
UPLIFT_RANGE = (-1.0, 10.0)


def _within(what: str, low: float, high: float) -> AfterValidator:
    def check(d: _Dist) -> _Dist:
        lo, hi = lower_bound(d), upper_bound(d)
        name = type(d).__name__.lower()
        allowed = f"allowed: {what} from {low:g} to {high:g}"
        if lo < low:
            raise ValueError(f"this {name} reaches {lo:g}, below {low:g} ({allowed})")
        if math.isfinite(hi) and hi > high:
            raise ValueError(f"this {name} reaches {hi:g}, above {high:g} ({allowed})")
        if not math.isfinite(hi) and d.mean > high:
            raise ValueError(f"this {name} has mean {d.mean:g}, above {high:g} ({allowed})")
        return d

    return AfterValidator(check)


Duration = Annotated[Distribution, _within("days", 0.0, DAYS_LIMIT)]
"""A number of days: never negative, at most 100 years."""
SignedDuration = Annotated[Distribution, _within("days", -DAYS_LIMIT, DAYS_LIMIT)]
"""Days that may be negative (a slippage that finishes early)."""
AgeYears = Annotated[Distribution, _within("ages in years", 0.0, AGE_LIMIT_YEARS)]
"""An age in years, 0 to 25."""
WeeklyPrice = Annotated[Distribution, _within("£ a week", 0.0, WEEKLY_PRICE_LIMIT_GBP)]
"""A weekly price in pounds: never negative."""
UpliftFraction = Annotated[Distribution, _within("fractions", *UPLIFT_RANGE)]
"""A price change as a fraction of the price (-1 = to zero, 0.1 = +10%)."""


class Beta(_Dist):
    """Beta on [0, 1] given by its mean and standard deviation (a probability or a share)."""

    dist: Literal["beta"]
    mean_: float = Field(alias="mean", gt=0, lt=1)
    sd: float = Field(gt=0, lt=0.5)

    @model_validator(mode="after")
    def _feasible(self) -> Beta:
        # A beta's variance is below mean (1 - mean); near it the shape degenerates to a coin.
        if self.sd**2 >= self.mean_ * (1.0 - self.mean_):
            raise ValueError(
                f"beta needs sd below sqrt(mean (1 - mean)) = "
                f"{math.sqrt(self.mean_ * (1 - self.mean_)):.4g} (got sd={self.sd})"
            )
        return self

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def _ab(self) -> tuple[float, float]:
        k = self.mean_ * (1.0 - self.mean_) / self.sd**2 - 1.0
        return self.mean_ * k, (1.0 - self.mean_) * k

    def ppf(self, u: ArrayLike) -> FloatArray:
        a, b = self._ab
        return special.betaincinv(a, b, np.asarray(u, dtype=float))

    def cdf(self, x: ArrayLike) -> FloatArray:
        a, b = self._ab
        return special.betainc(a, b, np.clip(np.asarray(x, dtype=float), 0.0, 1.0))
