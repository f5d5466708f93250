"""Queueing theory the model must reproduce (docs/model.md, "How the model is tested";
the results are cited in docs/sources.md#theory).

One pool of c internal beds with Poisson arrivals and spot overflow found at once (order
[internal, spot], spot search 0 days) is an Erlang loss system M/G/c/c: the share of arrivals
sent to spot is Erlang-B(c, a) with offered load a = lambda * E[LOS], whatever the distribution
of the stay (insensitivity), and the mean occupancy is a (1 - B) (Little's law). With beds far
above demand the pool is M/G/inf: occupancy is Poisson with mean and variance a.

Every comparison is against the between-replication 99% confidence interval of the mean, with
fixed seeds, after a warm-up from an empty start (10 mean stays).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import (
    DAYS_PER_YEAR,
    START,
    erlang_b,
    exponential,
    first_place_unit,
    fixed,
    lognormal,
    mean_ci,
    occupancy_moments,
    pool_config,
    scenario,
    spot_placements,
    unit_of_kind,
)
from scipy import stats

from simulation.events import EventKind
from simulation.model import simulate

RATE_PER_YEAR = 40.0
MEAN_LOS = 36.5
LAMBDA = RATE_PER_YEAR / DAYS_PER_YEAR  # per day
LOAD = LAMBDA * MEAN_LOS  # about 4 Erlangs
BEDS = 5
YEARS = 20
WARM_UP = 10 * MEAN_LOS
REPS = 40
SEED = 20240101

STAYS = {
    "exponential": exponential(MEAN_LOS),
    "lognormal cv 2": lognormal(MEAN_LOS, 2.0),
    "fixed": fixed(MEAN_LOS),
}


def test_erlang_b_recursion():
    """The helper against closed forms: B(1, a) = a / (1 + a); B(c, a) = (a^c/c!) / sum."""
    assert erlang_b(1, 3.0) == pytest.approx(3.0 / 4.0)
    a, c = 4.0, 5
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    assert erlang_b(c, a) == pytest.approx(terms[-1] / sum(terms))
    assert erlang_b(0, a) == 1.0


def loss_system_shares(los: dict, beds: int = BEDS) -> tuple[list[float], list[float], float]:
    """Per replication: share of post-warm-up arrivals placed in spot, and mean pool occupancy."""
    s = scenario(pool_config(beds, RATE_PER_YEAR, los, horizon_years=YEARS))
    shares, occupancy = [], []
    for r in range(REPS):
        rep = simulate(s, r, SEED)
        log = rep.log
        pool, spot = unit_of_kind(rep, "internal"), unit_of_kind(rep, "spot")
        first = first_place_unit(rep)
        arrivals = log.child[(log.kind == EventKind.ARRIVE) & (log.time > WARM_UP)]
        to_spot = sum(first[int(c)] == spot for c in arrivals)
        # Spot found at once: nobody ever waits, every arrival is placed on arrival.
        assert all(int(c) in first for c in arrivals)
        shares.append(to_spot / len(arrivals))
        occupancy.append(occupancy_moments(rep, pool, WARM_UP, s.horizon_days)[0])
    return shares, occupancy, s.horizon_days


@pytest.mark.parametrize("los", STAYS.values(), ids=STAYS.keys())
def test_spot_share_is_erlang_b_and_occupancy_obeys_littles_law(los):
    shares, occupancy, _ = loss_system_shares(los)
    b = erlang_b(BEDS, LOAD)
    mean, lo, hi = mean_ci(shares)
    assert lo <= b <= hi, f"spot share {mean:.4f} (99% CI {lo:.4f}-{hi:.4f}) vs Erlang-B {b:.4f}"
    # Little's law: L = lambda_admitted * W = lambda (1 - B) E[LOS].
    mean, lo, hi = mean_ci(occupancy)
    little = LAMBDA * (1 - b) * MEAN_LOS
    assert lo <= little <= hi, f"occupancy {mean:.3f} (99% CI {lo:.3f}-{hi:.3f}) vs {little:.3f}"


def test_erlang_b_distinguishes_capacity():
    """The comparison has teeth: one bed fewer is far outside the CI of the 5-bed share."""
    shares, _, _ = loss_system_shares(exponential(MEAN_LOS))
    _, lo, hi = mean_ci(shares)
    assert not lo <= erlang_b(BEDS - 1, LOAD) <= hi
    assert not lo <= erlang_b(BEDS + 1, LOAD) <= hi


@pytest.mark.parametrize("los", [exponential(MEAN_LOS), lognormal(MEAN_LOS, 1.5)])
def test_uncapped_pool_is_m_g_infinity(los):
    """Beds far above demand: nobody goes to spot; occupancy has mean and variance a."""
    s = scenario(pool_config(30, RATE_PER_YEAR, los, horizon_years=YEARS))
    means, second_moments, spot = [], [], 0
    for r in range(REPS):
        rep = simulate(s, r, SEED)
        pool = unit_of_kind(rep, "internal")
        m, v = occupancy_moments(rep, pool, WARM_UP, s.horizon_days, centre=LOAD)
        means.append(m)
        second_moments.append(v)
        spot += spot_placements(rep)
    assert spot == 0
    mean, lo, hi = mean_ci(means)
    assert lo <= LOAD <= hi, f"occupancy {mean:.3f} (99% CI {lo:.3f}-{hi:.3f}) vs a={LOAD:.3f}"
    # Time-average of (N - a)^2 estimates the variance, a for a Poisson occupancy.
    mean, lo, hi = mean_ci(second_moments)
    assert lo <= LOAD <= hi, f"variance {mean:.3f} (99% CI {lo:.3f}-{hi:.3f}) vs a={LOAD:.3f}"


def test_fifo_waiting_matches_an_independent_recursion():
    """With a random spot search (waiting) the pool is a FIFO c-server queue whose customers
    leave for spot when their search ends first. An independent Kiefer-Wolfowitz-style
    recursion over the same children (arrival, stay, search days) gives, replication by
    replication, exactly the children the model sends to spot."""
    s = scenario(
        pool_config(
            3, RATE_PER_YEAR, lognormal(MEAN_LOS, 1.0), horizon_years=5, spot_search=exponential(10)
        )
    )
    for r in range(10):
        rep = simulate(s, r, SEED)
        ch = rep.children
        free = [0.0] * 3  # day each bed next becomes free
        expected_spot = set()
        for c in range(len(ch)):
            j = min(range(3), key=free.__getitem__)
            start = max(ch.arrival[c], free[j])
            if start <= ch.arrival[c] + ch.spot_search[c]:
                free[j] = start + ch.los[c]
            elif ch.arrival[c] + ch.spot_search[c] < s.horizon_days:
                expected_spot.add(c)
        log = rep.log
        spot = unit_of_kind(rep, "spot")
        got = set(log.child[(log.kind == EventKind.PLACE) & (log.unit == spot)].tolist())
        assert got == expected_spot
        assert len(got) > 10  # the check is not vacuous


def expected_arrivals_by_day(rate: float, trend: float, season: dict[int, float], days: int):
    """Integral of the arrival rate over each day of the run, from the documented definition:
    rate(t) = arrivals_per_year * (1 + trend)^(t / 365.25) * s(month of t) / 365.25 per day, with
    monthly factors s rescaled to average 1 over a year (February counted as 28.25 days)."""
    dim = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    f = np.array([season.get(m, 1.0) for m in range(12)])
    f = f / (np.sum(f * dim) / np.sum(dim))
    d = np.arange(days, dtype=float)
    g = math.log1p(trend) / DAYS_PER_YEAR
    growth = (np.exp(g * (d + 1)) - np.exp(g * d)) / g if g else np.ones(days)
    return rate / DAYS_PER_YEAR * f[month_index(days)] * growth


def month_index(days: int) -> np.ndarray:
    """Calendar month (0 = January) of each day of the run."""
    dates = np.datetime64(START, "D") + np.arange(days)
    return (dates.astype("datetime64[M]").astype(int) % 12).astype(int)


def test_seasonal_trending_arrivals_match_the_integrated_rate():
    """Arrival counts by thinning: total, per calendar month and per year match the integral of
    the rate (Poisson counts, 99% level); the June peak and the yearly growth show."""
    season, trend, years, reps = {5: 2.0, 11: 0.5}, 0.15, 4, 60
    s = scenario(
        pool_config(
            50,
            RATE_PER_YEAR,
            exponential(MEAN_LOS),
            horizon_years=years,
            trend_per_year=trend,
            seasonality={"jun": 2.0, "dec": 0.5},
        )
    )
    days = int(s.horizon_days)
    counts = np.zeros(days)
    for r in range(reps):
        log = simulate(s, r, SEED).log
        t = log.time[log.kind == EventKind.ARRIVE]
        counts += np.bincount(t.astype(int), minlength=days)
    expected = reps * expected_arrivals_by_day(RATE_PER_YEAR, trend, season, days)

    z = stats.norm.ppf(0.995)
    assert abs(counts.sum() - expected.sum()) <= z * math.sqrt(expected.sum())

    # Shape: chi-square over (year, calendar month) cells.
    cell = (np.arange(days) // 365.25).astype(int) * 12 + month_index(days)
    cell = np.searchsorted(np.unique(cell), cell)
    obs = np.bincount(cell, weights=counts)
    exp = np.bincount(cell, weights=expected)
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    assert chi2 <= stats.chi2.ppf(0.99, len(obs) - 1), f"chi-square {chi2:.1f}"
    by_month = np.bincount(month_index(days), weights=counts)
    assert by_month[5] > 1.7 * by_month[4]  # June doubled against May (expected ratio 2)
    by_year = obs.reshape(years, 12).sum(axis=1)
    assert np.all(np.diff(by_year) > 0)
