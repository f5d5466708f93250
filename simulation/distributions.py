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
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import special

FloatArray = NDArray[np.float64]


class _Dist(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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
    mean_: float = Field(alias="mean", gt=0)

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
    mean_: float = Field(alias="mean", gt=0)
    cv: float = Field(gt=0)

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
    mean_: float = Field(alias="mean", gt=0)
    cv: float = Field(gt=0)

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
    shape: float = Field(gt=0)
    scale: float = Field(gt=0)

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
    min: float
    mode: float
    max: float

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
    min: float
    max: float

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
    value: float

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
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

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
