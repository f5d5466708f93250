"""Staffing (issue 3): rota cover, relief pool, agency, and closures to admissions.

Staffing is worked out as a timeline before the placement run (it never depends on the
children); only its closures to admissions enter the SimPy model. With no turnover and a fixed
recruitment lead time the timeline is known: a home that opens with too few staff for its rota
(beyond what agency can cover) is closed to admissions until its vacancies are filled, then
reopens. A home never admits a child while short-staffed, not even at the instant it opens.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from helpers import base_config, day, exponential, fixed, mean_ci, scenario
from hypothesis import given, settings

from simulation.events import EventKind
from simulation.metrics import compute_metrics
from simulation.model import simulate
from simulation.processes.staffing import required_fte

P = EventKind.PLACE
SHORT, COVERED, AGENCY = EventKind.STAFF_SHORT, EventKind.STAFF_COVERED, EventKind.AGENCY


def test_required_fte() -> None:
    # Two 8-hour day shifts of 3 and a waking night, 7 days, 37.5-hour contracts, 15% absence.
    assert required_fte(3, 1, 37.5, 0.15) == pytest.approx((3 * 16 + 8) * 7 / 37.5 / 0.85)


def _config(initial: int, turnover: float = 0.0, **staffing: Any) -> dict[str, Any]:
    cfg = base_config(
        {"a": {"arrivals_per_year": 30, "length_of_stay_days": fixed(120)}},
        homes=[{"name": "Elm", "beds": 4, "needs": ["a"]}],
        order=["internal", "spot"],
        horizon_years=1,
    )
    cfg["staffing"] = {
        "homes": [{"home": "Elm", "establishment_fte": 13, "initial_fte": initial}],
        "turnover_per_year": turnover,
        "recruitment_days": fixed(60),
        "agency_cap_fte": 2.0,
        "staff_cost_per_fte_year_gbp": 36525,
        "agency_premium": 1.0,
        **staffing,
    }
    return cfg


def test_short_staffed_home_closes_until_recruits_arrive() -> None:
    """8 in post of 13 needed ~12.3: a gap of 4.3, agency covers 2, so the home is short from
    day 0. The 5 vacancies are filled on day 60: covered, agency back to 0, admissions reopen."""
    s = scenario(_config(initial=8))
    rep = simulate(s, 0)
    log = rep.log
    assert list(log.time[log.kind == SHORT]) == [0.0]
    assert list(log.time[log.kind == COVERED]) == [60.0]
    assert log.value[log.kind == AGENCY][0] == pytest.approx(2.0)
    places = log.time[(log.kind == P) & (log.unit == 0)]
    assert places.min() >= 60.0, "no admission while short-staffed"
    m = compute_metrics(s, rep).summary
    assert m["staff_short_home_days"] == 60.0
    assert m["void_staffing_bed_days"] == pytest.approx(4 * 60.0)
    # Agency premium: 2 FTE x £36,525 a year x 100% for 60 days = £12,000.
    assert m["cost_agency_gbp"] == pytest.approx(2 * 100.0 * 60)


def test_relief_pool_covers_before_agency_and_partial_bed_closure() -> None:
    """A relief pool of 3 covers the gap with agency: never short. With no pool and a partial
    closure of 2 beds the home keeps taking children up to 2 while short."""
    rep = simulate(scenario(_config(initial=8, relief_pool_fte=3.0)), 0)
    assert not np.any(rep.log.kind == SHORT)
    cfg = _config(initial=8)
    cfg["staffing"]["homes"][0]["close_beds_when_short"] = 2
    rep = simulate(scenario(cfg), 0)
    log = rep.log
    early = (log.kind == P) & (log.unit == 0) & (log.time < 60.0)
    assert 0 < np.sum(early) <= 2


def test_home_short_at_a_later_opening_admits_nobody_at_that_instant() -> None:
    """Children wait in a long spot search when the home opens on day 30 with 8 staff of 13:
    the home is closed to admissions from the instant it opens (before the waiting children are
    offered its beds) until the recruits start on day 90."""
    cfg = _config(initial=8)
    cfg["provision"]["homes"][0]["open_date"] = day(30)
    cfg["provision"]["spot"]["search_days"] = fixed(200)
    rep = simulate(scenario(cfg), 0)
    log = rep.log
    assert list(log.time[log.kind == SHORT]) == [30.0]
    assert list(log.time[log.kind == COVERED]) == [90.0]
    places = log.time[(log.kind == P) & (log.unit == 0)]
    assert len(places) > 0 and places.min() >= 90.0


def test_agency_cover_ends_when_the_home_closes() -> None:
    """A home short of staff uses its 2 FTE of agency until it closes on day 100, not after:
    2 FTE x £100 a day of premium for 100 days."""
    cfg = _config(initial=8, recruitment_days=fixed(500))
    cfg["provision"]["homes"][0]["close_date"] = day(100)
    s = scenario(cfg)
    rep = simulate(s, 0)
    log = rep.log
    agency = log.kind == AGENCY
    assert list(zip(log.time[agency], log.value[agency], strict=True)) == [(0.0, 2.0), (100.0, 0.0)]
    assert compute_metrics(s, rep).summary["cost_agency_gbp"] == pytest.approx(2 * 100.0 * 100)


def test_staff_in_post_matches_the_alternating_renewal_mean() -> None:
    """Each post is filled for an exponential time (mean 1 / turnover) then vacant for the lead
    time, so in the long run a share (1/turnover) / (1/turnover + lead) of posts is filled:
    13 posts, turnover 1 a year, 90-day lead: 13 x 365.25 / 455.25 = 10.43 in post. The
    time-average over years 2-20 of 30 replications brackets it (99% CI)."""
    cfg = _config(initial=13, turnover=1.0, recruitment_days=fixed(90))
    cfg["run"]["horizon_years"] = 20
    s = scenario(cfg)
    averages = []
    for r in range(30):
        log = simulate(s, r).log
        staff = (log.kind == EventKind.STAFF_JOIN) | (log.kind == EventKind.STAFF_LEAVE)
        t = np.append(log.time[staff], s.horizon_days)
        level = log.value[staff]
        lo = 2 * 365.25
        span = np.clip(t[1:], lo, None) - np.clip(t[:-1], lo, None)
        averages.append(float(np.sum(level * span) / (s.horizon_days - lo)))
    _, low, high = mean_ci(averages, 0.99)
    assert low < 13 * 365.25 / (365.25 + 90) < high


@settings(max_examples=30, deadline=None)
@given(
    st.integers(4, 13),
    st.sampled_from([0.3, 1.0, 3.0]),
    st.sampled_from([0, 1, 2]),
    st.integers(0, 1000),
)
def test_never_admits_while_short_staffed(
    initial: int, turnover: float, close_beds: int, seed: int
) -> None:
    cfg = _config(initial=initial, turnover=turnover, recruitment_days=exponential(90))
    cfg["staffing"]["homes"][0]["close_beds_when_short"] = close_beds
    cfg["run"]["seed"] = seed
    rep = simulate(scenario(cfg), 0)
    log = rep.log
    closed, occupants, held = 0, set(), 0
    for k, c, u, v in zip(log.kind, log.child, log.unit, log.value, strict=True):
        if u != 0:
            continue
        if k == SHORT:
            closed = int(v)
        elif k == COVERED:
            closed = 0
        elif k == EventKind.BED_HOLD:
            held += 1
        elif k == EventKind.BED_RELEASE:
            held -= 1
        elif k == P:
            assert len(occupants) + held + closed < 4, "admitted while short-staffed"
            occupants.add(int(c))
        elif k in (EventKind.EXIT, EventKind.MOVE, EventKind.DISPLACE, EventKind.BREAKDOWN):
            occupants.discard(int(c))


def test_higher_turnover_means_more_spot_bed_days_on_average() -> None:
    """Paired on the same seeds: turnover of 100% a year instead of 20% raises spot bed-days
    (99% CI of the mean paired difference above zero)."""
    low = scenario(_config(initial=13, turnover=0.2, recruitment_days=exponential(120)))
    high = scenario(_config(initial=13, turnover=1.0, recruitment_days=exponential(120)))
    diffs = []
    for r in range(30):
        a = compute_metrics(low, simulate(low, r)).summary["spot_bed_days"]
        b = compute_metrics(high, simulate(high, r)).summary["spot_bed_days"]
        diffs.append(b - a)
    _, lo, _ = mean_ci(diffs, 0.99)
    assert lo > 0
