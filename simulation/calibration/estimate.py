"""Estimate a scenario's demand from cleaned, classified 903 episodes.

The unit of analysis is a *residential stay*: a run of residential episodes, each starting the
day the previous one ended (a move between homes does not end a stay; a day out of residential
care does). A stay is the model's child: it arrives (first residential episode), stays (its
length of stay, from first placement) and leaves by a route (the next placement, or the reason
the episode ended).

- Arrivals: stays starting per month in the observation window, per need: a Poisson rate with
  an exact 95% interval; a log-linear yearly trend and monthly seasonality kept only when the data
  support them (trend: Wald test; seasonality: likelihood-ratio test, both at 5%).
- Length of stay: Kaplan-Meier with right-censoring (still in care on the as-of date, or leaving
  at 18, which cuts the planned stay short) and left-truncation (stays that started before the
  window are seen only because they lasted into it); then lognormal, gamma and Weibull fitted by
  maximum likelihood under the same censoring and truncation, the lowest AIC kept.
- Exit routes: a stay that ends in a new placement leaves to that placement's kind (fostering ->
  foster, ...); a stay that ends care leaves by its reason (E4A -> home, E5 -> supported, ...).
  Exits at 18 are the model's own age-out, so they are left out.
- Ages at entry, and the cohort in residential care on the as-of date with elapsed stays.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, special, stats

from simulation.calendar import DAYS_PER_YEAR, MONTHS
from simulation.calibration.codes import CATEGORY_ROUTES, REC_ROUTES
from simulation.scenario import ROUTE_NAMES

FloatArray = NDArray[np.float64]
Z95 = 1.959963984540054
MIN_EVENTS = 5  # fewer completed stays than this: pool the needs


class CalibrationError(ValueError):
    """The data cannot support an estimate (too few stays, nothing residential, ...)."""


@dataclass(frozen=True)
class Interval:
    """An estimate with its sample size and 95% interval."""

    value: float
    low: float
    high: float
    n: int

    def text(self, fmt: str = "{:.3g}") -> str:
        return f"{fmt.format(self.value)} (95% CI {fmt.format(self.low)}-{fmt.format(self.high)})"


# ---------------------------------------------------------------------------------------------
# Stays


def build_stays(
    episodes: pd.DataFrame, dob: pd.Series, as_of: dt.date, age_out_years: float = 18.0
) -> pd.DataFrame:
    """Residential stays from classified episodes, as seen on ``as_of``.

    Episodes starting after ``as_of`` are ignored and those ending after it are open, so the
    same function gives the extract "as it was" on any earlier date (the back-test's view).

    Returns one row per stay: ``child``, ``need``, ``start``, ``end`` (NaT if open on the
    as-of date), ``route`` (None if open or ageing out), ``age_out``, ``age_entry``,
    ``age_now``, the first and current episode's ``provision``, ``unit`` and ``in_city``, and
    ``row`` (the file row of the first episode).
    """
    cut = pd.Timestamp(as_of)
    ep = episodes[episodes["DECOM"] <= cut].copy()
    later = ep["DEC"] > cut
    ep.loc[later, "DEC"] = pd.NaT
    ep.loc[later, "REC"] = ""
    ep = ep.sort_values(["CHILD", "DECOM"], kind="stable").reset_index(drop=True)
    resid = ep["residential"].to_numpy(dtype=bool)
    child = ep["CHILD"].to_numpy()
    same_prev = np.r_[False, child[1:] == child[:-1]]
    dec_prev = ep["DEC"].shift(1)
    contiguous_prev = same_prev & (ep["DECOM"] == dec_prev).to_numpy()
    resid_prev = np.r_[False, resid[:-1]]
    new_stay = resid & ~(contiguous_prev & resid_prev)
    stay_id = np.where(resid, np.cumsum(new_stay) - 1, -1)
    same_next = np.r_[child[1:] == child[:-1], False]
    last_of_stay = resid & ~np.r_[(stay_id[1:] == stay_id[:-1]) & resid[1:], False]

    first = ep[new_stay].reset_index(drop=True)
    last_idx = np.flatnonzero(last_of_stay)
    last = ep.iloc[last_idx].reset_index(drop=True)
    nxt = np.minimum(last_idx + 1, len(ep) - 1)
    has_next = same_next[last_idx]
    next_start = ep["DECOM"].to_numpy()[nxt]
    next_cat = ep["category"].to_numpy()[nxt]
    end = last["DEC"]
    contiguous_next = has_next & (next_start == end.to_numpy())

    routes: list[str | None] = []
    for e, cont, cat, rec in zip(end, contiguous_next, next_cat, last["REC"], strict=True):
        if pd.isna(e):
            routes.append(None)
        elif cont:
            routes.append(CATEGORY_ROUTES.get(str(cat), "other"))
        else:
            routes.append(REC_ROUTES.get(str(rec), "other"))

    birth = first["CHILD"].map(dob)
    start = first["DECOM"]
    age_entry = (start - birth).dt.days / DAYS_PER_YEAR
    age_exit = (end - birth).dt.days / DAYS_PER_YEAR
    # Leaving within a few days of the 18th birthday is the model's age-out, not a planned exit.
    age_out = end.notna() & (age_exit >= age_out_years - 3.0 / DAYS_PER_YEAR)
    start_date = cut + pd.Timedelta(days=1)
    stays = pd.DataFrame(
        {
            "child": first["CHILD"],
            "need": first["need"],
            "start": start,
            "end": end,
            "route": [None if a else r for r, a in zip(routes, age_out, strict=True)],
            "age_out": age_out.to_numpy(),
            "age_entry": age_entry,
            "age_now": (start_date - birth).dt.days / DAYS_PER_YEAR,
            "provision_first": first["provision"],
            "unit_first": first["unit"],
            "in_city_first": first["in_city"],
            "provision_now": last["provision"],
            "unit_now": last["unit"],
            "in_city_now": last["in_city"],
            "row": first["row"],
        }
    )
    return stays


# ---------------------------------------------------------------------------------------------
# Arrivals


@dataclass
class ArrivalEstimate:
    """Residential entries per year for one need."""

    need: str
    n: int
    years: float
    rate: Interval  # per year at the as-of date: what the scenario uses
    mean_rate: Interval  # per year over the window
    trend: Interval | None  # yearly growth (0.05 = +5%), fitted
    trend_used: bool
    trend_p: float
    seasonality: dict[str, float]  # fitted monthly factors (mean 1)
    seasonality_p: float
    seasonality_used: bool
    monthly: pd.DataFrame  # month, days, observed, expected (fitted, no seasonality)


def _poisson_glm(
    x: FloatArray, y: FloatArray, offset: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """Poisson regression by IRLS: coefficients, their covariance and the log-likelihood."""
    beta = np.zeros(x.shape[1])
    beta[0] = math.log(max(y.sum(), 0.5) / np.exp(offset).sum())
    # A calendar month with no arrivals in any year drives its coefficient to -inf (the fit
    # separates): the results are then not finite, which the callers read as no evidence.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(100):
            eta = x @ beta + offset
            mu = np.exp(eta)
            z = eta - offset + (y - mu) / mu
            xtw = x.T * mu
            new = np.asarray(np.linalg.solve(xtw @ x, xtw @ z), dtype=np.float64)
            done = np.max(np.abs(new - beta)) < 1e-10
            beta = new
            if done:
                break
        mu = np.exp(x @ beta + offset)
        cov = np.asarray(np.linalg.inv((x.T * mu) @ x), dtype=np.float64)
        loglik = float(np.sum(y * np.log(np.maximum(mu, 1e-300)) - mu - special.gammaln(y + 1)))
    return beta, cov, loglik


def month_bins(window_start: dt.date, as_of: dt.date) -> pd.DataFrame:
    """Calendar months of the window: start, days inside the window, month index 0-11."""
    first = pd.Timestamp(window_start).to_period("M")
    last = pd.Timestamp(as_of).to_period("M")
    periods = pd.period_range(first, last, freq="M")
    ws, end = pd.Timestamp(window_start), pd.Timestamp(as_of) + pd.Timedelta(days=1)
    lo = pd.DatetimeIndex([max(t, ws) for t in periods.start_time])
    hi = pd.DatetimeIndex(
        [min(t, end) for t in periods.end_time.normalize() + pd.Timedelta(days=1)]
    )
    days = (hi - lo).days.to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "month": periods.start_time,
            "lo": lo,
            "hi": hi,
            "days": days,
            "m": periods.month.to_numpy() - 1,
        }
    )


def estimate_arrivals(
    starts: pd.Series, need: str, window_start: dt.date, as_of: dt.date
) -> ArrivalEstimate:
    """Arrival rate, trend and seasonality from the start dates of one need's stays."""
    bins = month_bins(window_start, as_of)
    s = starts[(starts >= pd.Timestamp(window_start)) & (starts <= pd.Timestamp(as_of))]
    idx = np.searchsorted(bins["lo"].to_numpy(), s.to_numpy(), side="right") - 1
    y = np.bincount(idx, minlength=len(bins)).astype(float)
    days = bins["days"].to_numpy()
    years = float(days.sum() / DAYS_PER_YEAR)
    n = int(y.sum())
    lo = stats.chi2.ppf(0.025, 2 * n) / 2 / years if n > 0 else 0.0
    hi = stats.chi2.ppf(0.975, 2 * n + 2) / 2 / years
    mean_rate = Interval(n / years, float(lo), float(hi), n)
    offset = np.log(days / DAYS_PER_YEAR)
    # Time in years from the start of the simulated run (the day after the as-of date), at the
    # middle of each month, so the intercept is the rate on the run's first day.
    mid = bins["lo"] + (bins["hi"] - bins["lo"]) / 2
    t = ((mid - (pd.Timestamp(as_of) + pd.Timedelta(days=1))).dt.days / DAYS_PER_YEAR).to_numpy()
    monthly = pd.DataFrame({"month": bins["month"], "days": days, "observed": y})
    trend: Interval | None = None
    trend_p = 1.0
    seasonality = dict.fromkeys(MONTHS, 1.0)
    season_p = 1.0
    rate = mean_rate
    trend_used = False
    expected = mean_rate.value * days / DAYS_PER_YEAR
    if n >= 2 and years >= 1.0:
        x = np.asarray(np.column_stack([np.ones_like(t), t]), dtype=np.float64)
        try:
            beta, cov, ll_trend = _poisson_glm(x, y, offset)
        except np.linalg.LinAlgError:
            beta, cov, ll_trend = np.zeros(2), np.full((2, 2), np.inf), -np.inf
        se = math.sqrt(cov[1, 1]) if np.isfinite(cov[1, 1]) else math.inf
        if math.isfinite(se):
            trend = Interval(
                math.expm1(beta[1]),
                math.expm1(beta[1] - Z95 * se),
                math.expm1(beta[1] + Z95 * se),
                n,
            )
            trend_p = float(2 * stats.norm.sf(abs(beta[1]) / se))
            if trend_p < 0.05:
                trend_used = True
                se0 = math.sqrt(cov[0, 0])
                rate = Interval(
                    math.exp(beta[0]),
                    math.exp(beta[0] - Z95 * se0),
                    math.exp(beta[0] + Z95 * se0),
                    n,
                )
                expected = np.exp(x @ beta + offset)
        m = bins["m"].to_numpy()
        if len(np.unique(m)) == 12:
            dummies = (m[:, None] == np.arange(1, 12)[None, :]).astype(float)
            xs = np.asarray(np.column_stack([np.ones_like(t), t, dummies]), dtype=np.float64)
            try:
                bs, _, ll_season = _poisson_glm(xs, y, offset)
                factors = np.exp(np.r_[0.0, bs[2:]])
                dim = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
                factors = factors / (np.sum(factors * dim) / dim.sum())
                seasonality = {mo: float(f) for mo, f in zip(MONTHS, factors, strict=True)}
                season_p = float(stats.chi2.sf(2 * (ll_season - ll_trend), 11))
            except np.linalg.LinAlgError:
                pass
    monthly["expected"] = expected
    return ArrivalEstimate(
        need=need,
        n=n,
        years=years,
        rate=rate,
        mean_rate=mean_rate,
        trend=trend,
        trend_used=trend_used,
        trend_p=trend_p,
        seasonality=seasonality,
        seasonality_p=season_p,
        seasonality_used=season_p < 0.05,
        monthly=monthly,
    )


# ---------------------------------------------------------------------------------------------
# Length of stay


def kaplan_meier(time: FloatArray, event: NDArray[np.bool_], entry: FloatArray) -> pd.DataFrame:
    """Kaplan-Meier survival with delayed entry, and a log-log 95% band (Greenwood).

    ``time`` is the stay length (days), ``event`` whether it ended (else censored), ``entry``
    the length already reached when the stay came under observation (0 for most).
    """
    t_sorted = np.sort(time)
    e_sorted = np.sort(entry)
    u = np.unique(time[event])
    deaths = np.array([np.sum((time == v) & event) for v in u], dtype=float)
    at_risk = (len(time) - np.searchsorted(t_sorted, u, side="left")) - (
        len(entry) - np.searchsorted(e_sorted, u, side="left")
    )
    at_risk = at_risk.astype(float)
    surv = np.cumprod(1.0 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
        log_s = np.log(surv)
        se = np.sqrt(gw) / np.abs(log_s)
        lo = surv ** np.exp(Z95 * se)
        hi = surv ** np.exp(-Z95 * se)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 1.0)
    return pd.DataFrame(
        {"days": u, "at_risk": at_risk, "ended": deaths, "survival": surv, "low": lo, "high": hi}
    )


def km_restricted_mean(km: pd.DataFrame) -> float:
    """Area under the Kaplan-Meier curve up to its last event (a lower bound of the mean)."""
    t = np.r_[0.0, km["days"].to_numpy()]
    s = np.r_[1.0, km["survival"].to_numpy()]
    return float(np.sum(np.diff(t) * s[:-1]))


def _ln_logpdf(th: FloatArray, t: FloatArray) -> FloatArray:
    sigma = math.exp(th[1])
    lt = np.log(t)
    z = (lt - th[0]) / sigma
    return -lt - th[1] - 0.5 * math.log(2 * math.pi) - 0.5 * z * z


def _ln_logsf(th: FloatArray, t: FloatArray) -> FloatArray:
    return special.log_ndtr(-(np.log(t) - th[0]) / math.exp(th[1]))


def _ga_logpdf(th: FloatArray, t: FloatArray) -> FloatArray:
    k, scale = math.exp(th[0]), math.exp(th[1])
    return (k - 1) * np.log(t) - t / scale - special.gammaln(k) - k * th[1]


def _ga_logsf(th: FloatArray, t: FloatArray) -> FloatArray:
    k, scale = math.exp(th[0]), math.exp(th[1])
    return np.log(np.maximum(special.gammaincc(k, t / scale), 1e-300))


def _wb_logpdf(th: FloatArray, t: FloatArray) -> FloatArray:
    c, scale = math.exp(th[0]), math.exp(th[1])
    x = t / scale
    return th[0] - th[1] + (c - 1) * np.log(x) - x**c


def _wb_logsf(th: FloatArray, t: FloatArray) -> FloatArray:
    return -((t / math.exp(th[1])) ** math.exp(th[0]))


@dataclass(frozen=True)
class Family:
    """A two-parameter stay distribution on unconstrained parameters ``th``."""

    name: str
    logpdf: Callable[[FloatArray, FloatArray], FloatArray]
    logsf: Callable[[FloatArray, FloatArray], FloatArray]
    mean: Callable[[FloatArray], float]
    start: Callable[[FloatArray], FloatArray]  # times -> starting th
    to_scenario: Callable[[FloatArray], dict[str, Any]]


def _lognormal_start(t: FloatArray) -> FloatArray:
    lt = np.log(t)
    return np.array([lt.mean(), math.log(max(lt.std(), 0.1))])


def _gamma_start(t: FloatArray) -> FloatArray:
    m, v = t.mean(), max(t.var(), 1e-6)
    return np.array([math.log(m * m / v), math.log(v / m)])


def _weibull_start(t: FloatArray) -> FloatArray:
    return np.array([0.0, math.log(t.mean())])


FAMILIES = (
    Family(
        "lognormal",
        _ln_logpdf,
        _ln_logsf,
        lambda th: math.exp(th[0] + math.exp(2 * th[1]) / 2),
        _lognormal_start,
        lambda th: {
            "dist": "lognormal",
            "mean": math.exp(th[0] + math.exp(2 * th[1]) / 2),
            "cv": math.sqrt(math.expm1(math.exp(2 * th[1]))),
        },
    ),
    Family(
        "gamma",
        _ga_logpdf,
        _ga_logsf,
        lambda th: math.exp(th[0] + th[1]),
        _gamma_start,
        lambda th: {"dist": "gamma", "mean": math.exp(th[0] + th[1]), "cv": math.exp(-th[0] / 2)},
    ),
    Family(
        "weibull",
        _wb_logpdf,
        _wb_logsf,
        lambda th: math.exp(th[1]) * math.gamma(1 + math.exp(-th[0])),
        _weibull_start,
        lambda th: {"dist": "weibull", "shape": math.exp(th[0]), "scale": math.exp(th[1])},
    ),
)


@dataclass
class LosFit:
    """One family fitted by maximum likelihood."""

    family: str
    theta: FloatArray
    cov: FloatArray
    loglik: float
    aic: float
    mean: Interval
    dist: dict[str, Any]  # as the scenario writes it
    family_def: Family

    def survival(self, t: FloatArray) -> FloatArray:
        """The fitted survival curve P(stay > t), for the report."""
        return np.exp(self.family_def.logsf(self.theta, np.maximum(t, 1e-9)))


@dataclass
class LosEstimate:
    """Length of stay in residential care for one need (or pooled)."""

    need: str
    pooled: bool
    n: int
    events: int
    censored_as_of: int
    censored_age_out: int
    truncated: int
    km: pd.DataFrame
    km_restricted_mean: float
    fits: list[LosFit]
    best: LosFit
    samples: dict[str, FloatArray] = field(default_factory=dict)


def _hessian(f: Callable[[FloatArray], float], x: FloatArray, h: float = 1e-4) -> FloatArray:
    k = len(x)
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            out[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h * h
            )
    return out


def fit_family(
    fam: Family, time: FloatArray, event: NDArray[np.bool_], entry: FloatArray, n: int
) -> LosFit | None:
    """Censored, truncated maximum likelihood for one family; None if it does not converge."""
    ev, ce = time[event], time[~event]
    tr = entry[entry > 0]

    def negll(th: FloatArray) -> float:
        if np.any(np.abs(th) > 50):
            return 1e300
        with np.errstate(all="ignore"):
            ll = np.sum(fam.logpdf(th, ev)) + np.sum(fam.logsf(th, ce)) - np.sum(fam.logsf(th, tr))
        return float(-ll) if np.isfinite(ll) else 1e300

    start = fam.start(time[event] if event.sum() >= 2 else time)
    best = None
    for x0 in (start, start + np.array([0.3, -0.3])):
        res = optimize.minimize(
            negll,
            x0,
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 5000},
        )
        if best is None or res.fun < best.fun:
            best = res
    if best is None or not np.isfinite(best.fun) or best.fun >= 1e299:
        return None
    theta = np.asarray(best.x, dtype=float)
    try:
        cov = np.asarray(np.linalg.inv(_hessian(negll, theta)), dtype=np.float64)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) < 0):
        return None

    def log_mean(th: FloatArray) -> float:
        return math.log(fam.mean(th))

    g = np.array([(log_mean(theta + e) - log_mean(theta - e)) / 2e-5 for e in np.eye(2) * 1e-5])
    se = math.sqrt(max(float(g @ cov @ g), 0.0))
    m = math.exp(log_mean(theta))
    return LosFit(
        family=fam.name,
        theta=theta,
        cov=cov,
        loglik=-float(best.fun),
        aic=4.0 + 2.0 * float(best.fun),
        mean=Interval(m, m * math.exp(-Z95 * se), m * math.exp(Z95 * se), n),
        dist=fam.to_scenario(theta),
        family_def=fam,
    )


def estimate_los(
    stays: pd.DataFrame, need: str, window_start: dt.date, as_of: dt.date, pooled: bool = False
) -> LosEstimate:
    """Kaplan-Meier and the best parametric fit of stay lengths (days) for ``stays``."""
    ws = pd.Timestamp(window_start)
    start_date = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    seen = stays[stays["end"].isna() | (stays["end"] >= ws)]
    end = seen["end"].fillna(start_date)
    time = np.maximum((end - seen["start"]).dt.days.to_numpy(dtype=float), 0.5)
    event = (seen["end"].notna() & ~seen["age_out"]).to_numpy(dtype=bool)
    entry = np.clip((ws - seen["start"]).dt.days.to_numpy(dtype=float), 0.0, None)
    entry = np.minimum(entry, time - 0.25)  # a stay seen on the window's first day is at risk
    n_events = int(event.sum())
    if n_events < MIN_EVENTS:
        raise CalibrationError(
            f"only {n_events} residential stays of need '{need}' ended between {window_start} "
            f"and {as_of}; at least {MIN_EVENTS} are needed to estimate length of stay"
        )
    km = kaplan_meier(time, event, entry)
    fits = [f for fam in FAMILIES if (f := fit_family(fam, time, event, entry, len(time)))]
    if not fits:
        raise CalibrationError(f"no length-of-stay distribution could be fitted for '{need}'")
    best = min(fits, key=lambda f: f.aic)
    return LosEstimate(
        need=need,
        pooled=pooled,
        n=len(time),
        events=n_events,
        censored_as_of=int(seen["end"].isna().sum()),
        censored_age_out=int(seen["age_out"].sum()),
        truncated=int((entry > 0).sum()),
        km=km,
        km_restricted_mean=km_restricted_mean(km),
        fits=fits,
        best=best,
        samples={"time": time, "event": event.astype(float), "entry": entry},
    )


# ---------------------------------------------------------------------------------------------
# Routes, ages, cohort


@dataclass
class RouteEstimate:
    need: str
    n: int
    counts: dict[str, int]
    probs: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    pooled: bool
    age_outs: int
    default: bool = False


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / den
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def rounded_probs(counts: dict[str, int]) -> dict[str, float]:
    """Proportions rounded to 4 places that sum to exactly 1."""
    total = sum(counts.values())
    probs = {r: round(counts[r] / total, 4) for r in ROUTE_NAMES}
    big = max(probs, key=lambda r: probs[r])
    probs[big] = round(1.0 - sum(v for r, v in probs.items() if r != big), 4)
    return probs


DEFAULT_ROUTES = {"foster": 0.25, "home": 0.25, "supported": 0.45, "other": 0.05}


def estimate_routes(stays: pd.DataFrame, need: str, window_start: dt.date) -> RouteEstimate:
    """Exit routes of the stays that ended (not at 18) in the window."""
    ended = stays[stays["route"].notna() & (stays["end"] >= pd.Timestamp(window_start))]
    counts = {r: int((ended["route"] == r).sum()) for r in ROUTE_NAMES}
    n = sum(counts.values())
    age_outs = int((stays["age_out"] & (stays["end"] >= pd.Timestamp(window_start))).sum())
    if n == 0:
        return RouteEstimate(
            need, 0, counts, dict(DEFAULT_ROUTES), {}, False, age_outs, default=True
        )
    return RouteEstimate(
        need=need,
        n=n,
        counts=counts,
        probs=rounded_probs(counts),
        intervals={r: wilson(k, n) for r, k in counts.items()},
        pooled=False,
        age_outs=age_outs,
    )


@dataclass
class AgeEstimate:
    need: str
    n: int
    values: list[float]
    weights: list[float]
    mean: float
    q25: float
    q75: float


def estimate_ages(ages: pd.Series, need: str) -> AgeEstimate | None:
    """Empirical ages at entry (to 0.1 year); None when no ages are known."""
    a = ages.dropna().to_numpy(dtype=float)
    a = a[(a >= 0) & (a < 25)]
    if len(a) == 0:
        return None
    vals, counts = np.unique(np.round(a, 1), return_counts=True)
    return AgeEstimate(
        need=need,
        n=len(a),
        values=[float(v) for v in vals],
        weights=[float(c) for c in counts],
        mean=float(a.mean()),
        q25=float(np.quantile(a, 0.25)),
        q75=float(np.quantile(a, 0.75)),
    )


@dataclass(frozen=True)
class CohortChild:
    need: str
    provision: str
    unit: str
    elapsed_days: int
    age_years: float
    in_city: bool | None


def cohort_on(stays: pd.DataFrame, as_of: dt.date) -> list[CohortChild]:
    """Children in residential care on ``as_of``: the stays still open, with elapsed days on
    the run's first day (the day after)."""
    open_ = stays[stays["end"].isna()]
    start_date = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    elapsed = (start_date - open_["start"]).dt.days.tolist()
    out = []
    for need, prov, unit, days, age, flag in zip(
        open_["need"],
        open_["provision_now"],
        open_["unit_now"],
        elapsed,
        open_["age_now"],
        open_["in_city_now"],
        strict=True,
    ):
        known_age = isinstance(age, float | int) and age == age  # NaN when no date of birth
        out.append(
            CohortChild(
                need=str(need),
                provision=str(prov),
                unit=str(unit),
                elapsed_days=int(days),
                age_years=float(age) if known_age else math.nan,
                in_city=bool(flag) if isinstance(flag, bool | np.bool_) else None,
            )
        )
    return out


def share(flags: pd.Series) -> Interval | None:
    """Share of True among known flags, with a Wilson interval; None when none are known."""
    known = flags[flags.map(lambda v: isinstance(v, bool | np.bool_))]
    if known.empty:
        return None
    k, n = int(known.astype(bool).sum()), len(known)
    lo, hi = wilson(k, n)
    return Interval(k / n, lo, hi, n)
