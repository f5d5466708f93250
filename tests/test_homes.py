"""New homes' lifecycles, phased fill, capital, contracts and solo / short-stay rules (issue 3).

Timelines are worked out by hand: a new home's project starts on its planned opening less the
stages' planned days and opens when the last stage ends (plan plus slippage); it admits nobody
before. Phased fill caps admissions per month-long window after opening. Capital is repaid as
an annuity from the project start. A DPS tranche opens on its date, or a lead time after spot
stock passes its trigger. A solo child lives alone. A short-stay home's longest stay ends the
placement: the child returns home or moves on.
"""

from __future__ import annotations

import math
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from helpers import base_config, day, exponential, fixed, log_rows, mean_ci, scenario
from hypothesis import given, settings

from simulation.events import EventKind, Route
from simulation.metrics import compute_metrics
from simulation.model import simulate
from simulation.units import annuity

A, P, X, S = EventKind.ARRIVE, EventKind.PLACE, EventKind.EXIT, EventKind.SEARCH
OPEN, CLOSE, STAGE = EventKind.UNIT_OPEN, EventKind.UNIT_CLOSE, EventKind.HOME_STAGE
NONE = -1


def _stages(slip: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Purchase 60, works 40, registration 50, recruitment 30: 180 planned days."""
    slip = slip or fixed(0)
    return [
        {"name": "purchase", "planned_days": 60, "slippage_days": slip},
        {"name": "works", "planned_days": 40, "slippage_days": slip},
        {"name": "registration", "planned_days": 50, "slippage_days": slip},
        {"name": "recruitment", "planned_days": 30, "slippage_days": slip},
    ]


def _new_home_config(slip: dict[str, Any] | None = None, **home: Any) -> dict[str, Any]:
    return base_config(
        {"a": {"arrivals_per_year": 20, "length_of_stay_days": fixed(200)}},
        homes=[
            {
                "name": "New",
                "beds": 4,
                "needs": ["a"],
                "open_date": day(150),
                "lifecycle": {"stages": _stages(slip)},
                **home,
            }
        ],
        order=["internal", "spot"],
        horizon_years=2,
    )


def test_zero_slippage_opens_on_the_planned_date() -> None:
    """Project start = day 150 - 180 = day -30: purchase ends day 30, works day 70,
    registration day 120, recruitment (and opening) day 150, exactly as planned."""
    s = scenario(_new_home_config())
    rep = simulate(s, 0)
    rows = log_rows(rep)
    stages = [
        (t, int(v))
        for t, k, v in zip(rep.log.time, rep.log.kind, rep.log.value, strict=True)
        if k == STAGE
    ]
    assert stages == [(30.0, 0), (70.0, 1), (120.0, 2), (150.0, 3)]
    assert [r for r in rows if r[1] == OPEN] == [(150.0, OPEN, NONE, 0)]
    places = rep.log.time[(rep.log.kind == P) & (rep.log.unit == 0)]
    assert places.min() >= 150.0, "no child before registration and recruitment are done"
    units = compute_metrics(s, rep).units
    assert units.loc[0, "open_delay_days"] == 0.0


def test_slippage_never_opens_before_the_plan_and_median_is_later() -> None:
    s = scenario(_new_home_config({"dist": "lognormal", "mean": 20, "cv": 1.0}))
    opened = []
    for r in range(40):
        rep = simulate(s, r)
        t_open = rep.log.time[rep.log.kind == OPEN]
        assert len(t_open) == 1 and t_open[0] >= 150.0
        last_stage = rep.log.time[rep.log.kind == STAGE][-1]
        assert t_open[0] == last_stage
        opened.append(float(t_open[0]))
    assert np.median(opened) > 150.0


def test_later_registration_means_more_spot_bed_days_on_average() -> None:
    """Paired on the same seeds: 90 more days of registration raise mean spot bed-days (99% CI
    of the paired difference above zero)."""

    def config(extra: float) -> dict[str, Any]:
        cfg = _new_home_config()
        cfg["provision"]["homes"][0]["lifecycle"]["stages"][2]["slippage_days"] = fixed(extra)
        cfg["demand"]["needs"]["a"]["length_of_stay_days"] = exponential(200)
        return cfg

    on_time, late = scenario(config(0)), scenario(config(90))
    diffs = []
    for r in range(30):
        a = compute_metrics(on_time, simulate(on_time, r)).summary["spot_bed_days"]
        b = compute_metrics(late, simulate(late, r)).summary["spot_bed_days"]
        diffs.append(b - a)
    _, lo, _ = mean_ci(diffs, 0.99)
    assert lo > 0
    # Not pair by pair: in replication 105 the late opening gives its beds to different
    # children (the queue has moved on), and spot bed-days come out slightly lower. So the
    # property is on the paired mean, as above.
    a = compute_metrics(on_time, simulate(on_time, 105)).summary["spot_bed_days"]
    b = compute_metrics(late, simulate(late, 105)).summary["spot_bed_days"]
    assert b < a


def test_phased_fill_caps_admissions_per_month() -> None:
    """A 4-bed home opening on day 30 with plenty of waiting demand admits one child a month
    for three months, then fills."""
    config = base_config(
        {"a": {"arrivals_per_year": 60, "length_of_stay_days": fixed(400)}},
        homes=[
            {
                "name": "New",
                "beds": 4,
                "needs": ["a"],
                "open_date": day(30),
                "phased_fill": {"admissions_per_month": 1, "months": 3},
            }
        ],
        order=["internal", "spot"],
        spot_search=fixed(3),
        horizon_years=1,
    )
    s = scenario(config)
    rep = simulate(s, 0)
    month = 365.25 / 12
    admitted = rep.log.time[(rep.log.kind == P) & (rep.log.unit == 0)]
    windows = np.floor((admitted - 30.0) / month).astype(int)
    assert list(windows[:3]) == [0, 1, 2], "one admission in each of the first three months"
    assert len(admitted) == 4 and windows[3] >= 3
    assert np.sum(rep.log.kind == EventKind.FILL_CAPPED) == 3
    m = compute_metrics(s, rep)
    assert m.summary["void_phased_fill_bed_days"] > 2 * month
    u = m.units.iloc[0]
    parts = (
        u["void_turnaround_bed_days"] + u["void_phased_fill_bed_days"] + u["void_other_bed_days"]
    )
    assert parts == pytest.approx(u["void_bed_days"])


def test_capital_is_repaid_as_an_annuity_from_the_project_start() -> None:
    """£600k, £100k grant, 4.5% over 30 years, project starting day -30: the 2-year run pays
    the annuity for its 731 days."""
    s = scenario(
        _new_home_config(
            capital={"capital_cost_gbp": 600_000, "grant_gbp": 100_000, "borrowing_rate": 0.045}
        )
    )
    m = compute_metrics(s, simulate(s, 0)).summary
    yearly = annuity(500_000, 0.045, 30)
    assert yearly == pytest.approx(500_000 * 0.045 / (1 - 1.045**-30))
    assert m["cost_capital_gbp"] == pytest.approx(yearly * 731 / 365.25)
    assert m["cost_total_gbp"] >= m["cost_capital_gbp"]


def test_dps_tranches_by_date_and_by_trigger() -> None:
    """A dated tranche opens on its day; a trigger procures a tranche when spot stock passes 3,
    which opens after its 30-day lead time."""
    config = base_config(
        {"a": {"arrivals_per_year": 40, "length_of_stay_days": fixed(300)}},
        homes=[],
        order=["block", "spot"],
        horizon_years=2,
    )
    config["provision"]["dps"] = [
        {
            "name": "DPS",
            "needs": ["a"],
            "weekly_price_per_bed_gbp": 4000,
            "tranches": [{"date": day(100), "beds": 2}],
            "trigger": {
                "spot_stock_above": 3,
                "beds": 4,
                "lead_time_days": fixed(30),
                "max_tranches": 2,
            },
        }
    ]
    s = scenario(config)
    rep = simulate(s, 0)
    names = [u.name for u in rep.units]
    assert names[:3] == ["DPS tranche 1", "DPS triggered 1", "DPS triggered 2"]
    log = rep.log
    opens = {
        int(u): float(t)
        for t, u in zip(log.time[log.kind == OPEN], log.unit[log.kind == OPEN], strict=True)
    }
    assert opens[0] == 100.0
    procure = np.flatnonzero(log.kind == EventKind.PROCURE)
    assert len(procure) >= 1
    first = procure[0]
    assert opens[int(log.unit[first])] == pytest.approx(log.time[first] + 30.0)
    spot = names.index("spot")
    # At the procurement, more than 3 children were in spot.
    placed = np.sum((log.kind == P) & (log.unit == spot) & (log.time <= log.time[first]))
    left = np.sum(
        np.isin(log.kind, (X, EventKind.MOVE)) & (log.unit == spot) & (log.time <= log.time[first])
    )
    assert placed - left > 3


def test_contract_extension_taken_up() -> None:
    config = base_config(
        {"a": {"arrivals_per_year": 5, "length_of_stay_days": fixed(100)}},
        homes=[],
        blocks=[
            {
                "name": "Blk",
                "beds": 2,
                "needs": ["a"],
                "end": day(200),
                "extension_years": 0.5,
                "extension_probability": 1.0,
            }
        ],
        horizon_years=2,
    )
    rep = simulate(scenario(config), 0)
    ext = rep.log.kind == EventKind.CONTRACT_EXTENDED
    assert list(rep.log.time[ext]) == [200.0]
    assert list(rep.log.time[rep.log.kind == CLOSE]) == [200.0 + 0.5 * 365.25]


def test_solo_child_lives_alone() -> None:
    """A 2-bed home: a solo child is admitted only to an empty home, and nobody joins them."""
    config = base_config(
        {
            "solo": {"arrivals_per_year": 10, "length_of_stay_days": fixed(60)},
            "a": {"arrivals_per_year": 20, "length_of_stay_days": fixed(60)},
        },
        homes=[{"name": "H2P", "beds": 2, "needs": ["solo", "a"], "solo_needs": ["solo"]}],
        horizon_years=3,
    )
    rep = simulate(scenario(config), 0)
    log = rep.log
    inside: set[int] = set()
    solo_seen = 0
    for k, c, u, need in zip(log.kind, log.child, log.unit, log.need, strict=True):
        if u != 0:
            continue
        if k == P:
            if need == 0:
                assert not inside, "a solo child moves into an empty home only"
                solo_seen += 1
            else:
                assert all(rep.children.need[o] != 0 for o in inside), "nobody joins a solo child"
            inside.add(int(c))
        elif k in (
            X,
            EventKind.MOVE,
            EventKind.DISPLACE,
            EventKind.BREAKDOWN,
            EventKind.STAY_LIMIT,
        ):
            inside.discard(int(c))
    assert solo_seen >= 2


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_short_stay_home_limit(share: float) -> None:
    """A short-stay home keeps a child at most 30 days: then home (share 1) or on through the
    cascade to spot (share 0), never straight back into the same home."""
    config = base_config(
        {
            "a": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(100),
                "scheduled_arrivals": [day(5)],
            }
        },
        homes=[
            {
                "name": "Short",
                "beds": 2,
                "needs": ["a"],
                "max_stay_days": 30,
                "return_home_share": share,
            }
        ],
        horizon_years=1,
    )
    rep = simulate(scenario(config), 0)
    rows = log_rows(rep)
    if share == 1.0:
        assert rows[-1] == (35.0, X, 0, 0)
        assert rep.log.route[-1] == Route.HOME
    else:
        spot = next(u.index for u in rep.units if u.kind == "spot")
        assert (35.0, EventKind.STAY_LIMIT, 0, 0) in rows
        assert (35.0, P, 0, spot) in rows
        assert rows[-1] == (105.0, X, 0, spot)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 200),
    st.sampled_from([fixed(0), {"dist": "lognormal", "mean": 30, "cv": 1.0}, exponential(60)]),
    st.integers(1, 3),
    st.integers(0, 500),
)
def test_no_admission_before_a_new_home_opens(
    open_day: int, slip: dict[str, Any], per_month: int, seed: int
) -> None:
    config = _new_home_config(slip, phased_fill={"admissions_per_month": per_month, "months": 2})
    config["provision"]["homes"][0]["open_date"] = day(open_day + 1)
    config["run"]["seed"] = seed
    s = scenario(config)
    rep = simulate(s, 0)
    log = rep.log
    t_open = log.time[(log.kind == OPEN) & (log.unit == 0)]
    places = log.time[(log.kind == P) & (log.unit == 0)]
    if len(t_open) == 0:
        assert len(places) == 0
        return
    assert places.min(initial=math.inf) >= t_open[0]
    stage_ends = log.time[log.kind == STAGE]
    if len(stage_ends):
        assert t_open[0] == stage_ends[-1]
    month = 365.25 / 12
    windows = np.floor((places - t_open[0]) / month)
    for w in (0, 1):
        assert np.sum(windows == w) <= per_month


@pytest.mark.parametrize(
    "config",
    ["coventry-2023", "coventry-2017-option1", "coventry-2017-option2", "rotherham-2020"],
)
def test_shipped_openings_median_not_before_the_plan(config: str) -> None:
    """With the shipped slippage distributions no new home's median opening is earlier than
    its planned date (and no replication opens one early)."""
    from pathlib import Path

    from simulation import load_scenario

    s = load_scenario(Path(__file__).resolve().parent.parent / "configs" / f"{config}.yaml")
    new_homes = [i for i, h in enumerate(s.provision.homes) if h.lifecycle is not None]
    assert new_homes, "the config plans new homes"
    opened: dict[int, list[float]] = {i: [] for i in new_homes}
    for r in range(15):
        units = compute_metrics(s, simulate(s, r)).units
        for i in new_homes:
            day_opened = units.loc[i, "opened_day"]
            planned = units.loc[i, "planned_open_day"]
            if not np.isnan(day_opened):
                assert day_opened >= planned
            opened[i].append(day_opened if not np.isnan(day_opened) else math.inf)
    for i in new_homes:
        assert np.median(opened[i]) >= units.loc[i, "planned_open_day"]
