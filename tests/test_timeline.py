"""Exact timelines: with fixed distributions the event log is known in advance, event by event.

Every expected list below is worked out by hand from the model's rules (docs/model.md): the
cascade tries internal, block, then the markets; a waiting child takes the first matching bed
that frees (first come, first served); a stay's planned length runs from the first placement;
at the age-out age a child leaves whatever the plan; a unit that closes displaces its children
back through the cascade.
"""

from __future__ import annotations

import pytest
from helpers import base_config, day, fixed, log_rows, scenario

from simulation.events import EventKind, Route
from simulation.metrics import compute_metrics
from simulation.model import simulate

A, S, P, D, X = (
    EventKind.ARRIVE,
    EventKind.SEARCH,
    EventKind.PLACE,
    EventKind.DISPLACE,
    EventKind.EXIT,
)
OPEN, CLOSE = EventKind.UNIT_OPEN, EventKind.UNIT_CLOSE
NONE = -1
AGE_OUT_DAY = (18.0 - 17.9) * 365.25  # cohort child aged 17.9 on the start date


def timeline_config() -> dict:
    """Units: 0 Elm (1 bed, open, closes day 120), 1 Oak (1 bed, opens day 60),
    2 Blk (block, 1 bed, ends day 91), 3 spot (10-day search). Stays: 100 days."""
    return base_config(
        {
            "ebd": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(100),
                "age_at_entry_years": fixed(14),
                "scheduled_arrivals": [day(d) for d in (10, 21, 32, 55, 170)],
            }
        },
        homes=[
            {"name": "Elm", "beds": 1, "needs": ["ebd"], "close_date": day(120)},
            {"name": "Oak", "beds": 1, "needs": ["ebd"], "open_date": day(60)},
        ],
        blocks=[{"name": "Blk", "beds": 1, "needs": ["ebd"], "end": day(91)}],
        spot_search=fixed(10),
        order=["internal", "block", "spot"],
        cohort=[
            {
                "need": "ebd",
                "provision": "internal",
                "unit": "Elm",
                "count": 1,
                "elapsed_days": 50,
                "age_years": 17.9,
            }
        ],
        horizon_years=1,  # 2024 is a leap year: 366 days
    )


ELM, OAK, BLK, SPOT = 0, 1, 2, 3
EXPECTED = [
    # Day 0: units open on the start date, then the cohort child moves into Elm.
    (0, OPEN, NONE, ELM),
    (0, OPEN, NONE, BLK),
    (0, A, 0, ELM),
    (0, P, 0, ELM),
    # Day 10: Elm full, Oak not open yet, the block bed is free.
    (10, A, 1, NONE),
    (10, P, 1, BLK),
    # Day 21: every bed full: a 10-day spot search, placed in spot on day 31.
    (21, A, 2, NONE),
    (21, S, 2, SPOT),
    (31, P, 2, SPOT),
    # Day 32: full again; the child waits (search due day 42) ...
    (32, A, 3, NONE),
    (32, S, 3, SPOT),
    # ... and the cohort child turns 18 (before its planned exit on day 50): the waiting child
    # takes the freed Elm bed, and the stale spot search comes to nothing.
    (AGE_OUT_DAY, X, 0, ELM),
    (AGE_OUT_DAY, P, 3, ELM),
    # Day 55: full; searching until day 65, but Oak opens on day 60 and takes the child.
    (55, A, 4, NONE),
    (55, S, 4, SPOT),
    (60, OPEN, NONE, OAK),
    (60, P, 4, OAK),
    # Day 91: the block contract ends; its child is displaced, no bed is free: spot on day 101.
    (91, CLOSE, NONE, BLK),
    (91, D, 1, BLK),
    (91, S, 1, SPOT),
    (101, P, 1, SPOT),
    # Day 110: child 1's stay ends 100 days after its *first* placement (day 10), in spot.
    (110, X, 1, SPOT),
    # Day 120: Elm closes; child 3 is displaced, Oak is full: spot on day 130.
    (120, CLOSE, NONE, ELM),
    (120, D, 3, ELM),
    (120, S, 3, SPOT),
    (130, P, 3, SPOT),
    (131, X, 2, SPOT),
    (AGE_OUT_DAY + 100, X, 3, SPOT),  # first placed on the age-out day of child 0
    (160, X, 4, OAK),
    # Day 170: Oak is free again.
    (170, A, 5, NONE),
    (170, P, 5, OAK),
    (270, X, 5, OAK),
]


def assert_log_equals(rep, expected) -> None:
    got = log_rows(rep)
    assert [(k, c, u) for _, k, c, u in got] == [(k, c, u) for _, k, c, u in expected]
    assert [t for t, *_ in got] == pytest.approx([t for t, *_ in expected], abs=1e-9)


def test_exact_timeline():
    s = scenario(timeline_config())
    rep = simulate(s, 0, 123)
    assert [u.name for u in rep.units] == ["Elm", "Oak", "Blk", "spot"]
    assert_log_equals(rep, EXPECTED)

    log = rep.log
    exits = log.kind == EventKind.EXIT
    # Routes: child 0 aged out, every planned exit takes the only route with probability 1.
    assert log.route[exits].tolist() == [Route.AGE_OUT] + [Route.SUPPORTED] * 5
    # Search values are the fixed search days; unit events carry the number of beds.
    assert set(log.value[log.kind == EventKind.SEARCH].tolist()) == {10.0}
    assert (
        log.value[(log.kind == EventKind.UNIT_OPEN) | (log.kind == EventKind.UNIT_CLOSE)].tolist()
        == [1.0] * 5
    )
    # The cohort child's ARRIVE records its days already in care.
    assert log.value[2] == 50.0 and log.kind[2] == EventKind.ARRIVE


def test_timeline_metrics_by_hand():
    """The metrics of the same run, summed by hand from the expected timeline."""
    s = scenario(timeline_config())
    m = compute_metrics(s, simulate(s, 0, 5)).summary
    internal = AGE_OUT_DAY + (120 - AGE_OUT_DAY) + (160 - 60) + (270 - 170)  # Elm: 0, 3; Oak: 4, 5
    assert m["internal_bed_days"] == pytest.approx(internal)
    assert m["block_bed_days"] == pytest.approx(91 - 10)
    assert m["spot_bed_days"] == pytest.approx((131 - 31) + (110 - 101) + (AGE_OUT_DAY + 100 - 130))
    assert m["internal_usable_bed_days"] == pytest.approx(120 + (366 - 60))
    assert m["block_usable_bed_days"] == pytest.approx(91)
    assert m["spot_placements"] == 3
    assert m["moves"] == 2
    # Waiting: child 2 for 10 days, child 3 until the age-out day then 10 days, child 4 5 days,
    # child 1 10 days after displacement.
    assert m["waiting_days_total"] == pytest.approx(10 + (AGE_OUT_DAY - 32) + 10 + 5 + 10)
    # Per placement sought: 5 arrivals and 2 displacements sought a bed; the cohort child, in
    # its home before the run, sought none.
    assert m["waiting_days_mean"] == pytest.approx(m["waiting_days_total"] / 7)
    assert (m["children_initial"], m["arrivals"], m["exits"], m["children_end"]) == (1, 5, 6, 0)
    assert m["exits_age_out"] == 1


def test_framework_offer_and_refusal():
    """Framework: an offer (probability 1) places after its search; no offer (probability 0)
    moves the child on to a spot search when the framework search ends."""

    def run(p: float):
        cfg = base_config(
            {
                "ebd": {
                    "arrivals_per_year": 0,
                    "length_of_stay_days": fixed(30),
                    "age_at_entry_years": fixed(14),
                    "scheduled_arrivals": [day(5)],
                }
            },
            framework={
                "offer_probability": p,
                "search_days": fixed(7),
                "weekly_price_gbp": fixed(5000),
                "in_city_share": 1.0,
            },
            spot_search=fixed(3),
            order=["framework", "spot"],
        )
        return simulate(scenario(cfg), 0, 1)

    fw, sp = 0, 1  # no homes or blocks: the markets are units 0 and 1
    assert_log_equals(run(1.0), [(5, A, 0, NONE), (5, S, 0, fw), (12, P, 0, fw), (42, X, 0, fw)])
    assert_log_equals(
        run(0.0),
        [(5, A, 0, NONE), (5, S, 0, fw), (12, S, 0, sp), (15, P, 0, sp), (45, X, 0, sp)],
    )


def test_age_out_exits():
    """At the age-out age a child leaves, placed or waiting, whatever the planned stay."""
    cfg = base_config(
        {
            "ebd": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(400),
                "age_at_entry_years": fixed(17.5),
                "scheduled_arrivals": [day(10), day(20)],
            }
        },
        homes=[{"name": "Elm", "beds": 2, "needs": ["ebd"]}],
        spot_search=fixed(1000),  # nobody is ever found a spot bed in this run
        cohort=[
            # Already past the age-out age: leaves on day one (the documented clamp).
            {
                "need": "ebd",
                "provision": "internal",
                "count": 1,
                "elapsed_days": 0,
                "age_years": 19,
            },
            # 0.2 years from 18 and a planned stay far longer: leaves on its 18th birthday.
            {
                "need": "ebd",
                "provision": "internal",
                "count": 1,
                "elapsed_days": 0,
                "age_years": 17.8,
            },
        ],
    )
    rep = simulate(scenario(cfg), 0, 1)
    half_year = 0.5 * 365.25
    expected = [
        (0, OPEN, NONE, 0),
        (0, A, 0, 0),
        (0, P, 0, 0),
        (0, A, 1, 0),
        (0, P, 1, 0),
        (1.0, X, 0, 0),  # a day after the start
        (10, A, 2, NONE),
        (10, P, 2, 0),
        # Day 20: Elm is full: a 1000-day spot search starts.
        (20, A, 3, NONE),
        (20, S, 3, 1),
        (0.2 * 365.25, X, 1, 0),
        (0.2 * 365.25, P, 3, 0),  # the waiting child takes the freed bed
        (10 + half_year, X, 2, 0),
        (20 + half_year, X, 3, 0),
    ]
    assert_log_equals(rep, expected)
    exits = rep.log.kind == EventKind.EXIT
    assert set(rep.log.route[exits].tolist()) == {Route.AGE_OUT}


def test_age_out_while_waiting():
    """A child who turns 18 while still waiting leaves from the queue, never placed."""
    cfg = base_config(
        {
            "ebd": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(50),
                "age_at_entry_years": fixed(17.9),
                "scheduled_arrivals": [day(3)],
            }
        },
        spot_search=fixed(60),
        order=["spot"],
    )
    rep = simulate(scenario(cfg), 0, 1)
    assert_log_equals(rep, [(3, A, 0, NONE), (3, S, 0, 0), (3 + AGE_OUT_DAY, X, 0, NONE)])
    m = compute_metrics(scenario(cfg), rep).summary
    assert m["spot_placements"] == 0
    assert m["waiting_days_total"] == pytest.approx(AGE_OUT_DAY)


def test_homes_closing_on_the_same_day():
    """Two homes close on day 10: the child displaced from the first is not moved into the
    second (closing that same day) only to be displaced again; both children go to spot."""
    cfg = base_config(
        {
            "ebd": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(100),
                "age_at_entry_years": fixed(14),
                "scheduled_arrivals": [day(0), day(1)],
            }
        },
        homes=[
            {"name": "H0", "beds": 1, "needs": ["ebd"], "close_date": day(10)},
            {"name": "H1", "beds": 2, "needs": ["ebd"], "close_date": day(10)},
        ],
        spot_search=fixed(3),
    )
    rep = simulate(scenario(cfg), 0, 1)
    spot = 2
    expected = [
        (0, OPEN, NONE, 0),
        (0, OPEN, NONE, 1),
        (0, A, 0, NONE),
        (0, P, 0, 0),
        (1, A, 1, NONE),
        (1, P, 1, 1),  # H0 is full
        (10, CLOSE, NONE, 0),
        (10, D, 0, 0),
        (10, S, 0, spot),  # H1 has a free bed but closes today
        (10, CLOSE, NONE, 1),
        (10, D, 1, 1),
        (10, S, 1, spot),
        (13, P, 0, spot),
        (13, P, 1, spot),
        (100, X, 0, spot),
        (101, X, 1, spot),
    ]
    assert_log_equals(rep, expected)
    assert compute_metrics(scenario(cfg), rep).summary["moves"] == 2


def test_day_zero_arrival_is_a_new_spot_placement():
    """A child arriving on the start date and placed in spot at once is a new spot placement;
    the cohort's spot children (in spot before the run) are not."""
    cfg = base_config(
        {
            "ebd": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(30),
                "age_at_entry_years": fixed(14),
                "scheduled_arrivals": [day(0), day(3)],
            }
        },
        order=["spot"],
        cohort=[{"need": "ebd", "provision": "spot", "count": 2, "elapsed_days": 0}],
    )
    s = scenario(cfg)
    rep = simulate(s, 0, 1)
    assert_log_equals(
        rep,
        [
            (0, A, 0, 0),
            (0, P, 0, 0),
            (0, A, 1, 0),
            (0, P, 1, 0),
            (0, A, 2, NONE),
            (0, S, 2, 0),
            (0, P, 2, 0),
            (3, A, 3, NONE),
            (3, S, 3, 0),
            (3, P, 3, 0),
            (30, X, 0, 0),
            (30, X, 1, 0),
            (30, X, 2, 0),
            (33, X, 3, 0),
        ],
    )
    m = compute_metrics(s, rep)
    assert m.summary["spot_placements"] == 2
    assert m.weekly["spot_new_placements"].iloc[0] == 2
    assert m.weekly["spot_new_placements"].sum() == 2
    assert m.finance["spot_new_placements"].sum() == 2


def test_turnaround_holds_a_vacated_bed() -> None:
    """A 1-bed home with a 7-day turnaround: the next child moves in 7 days after the last left,
    waiting meanwhile (spot search 30 days, longer than the turnaround)."""
    config = base_config(
        {
            "ebd": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(20),
                "age_at_entry_years": fixed(14),
                "scheduled_arrivals": [day(d) for d in (0, 10)],
            }
        },
        homes=[{"name": "Elm", "beds": 1, "needs": ["ebd"], "turnaround_days": fixed(7)}],
        spot_search=fixed(30),
        order=["internal", "spot"],
    )
    rep = simulate(scenario(config), 0)
    HOLD, RELEASE = EventKind.BED_HOLD, EventKind.BED_RELEASE
    assert log_rows(rep) == [
        (0.0, OPEN, NONE, 0),
        (0.0, A, 0, NONE),
        (0.0, P, 0, 0),
        (10.0, A, 1, NONE),
        (10.0, S, 1, 1),
        (20.0, X, 0, 0),
        (20.0, HOLD, NONE, 0),
        (27.0, RELEASE, NONE, 0),
        (27.0, P, 1, 0),
        (47.0, X, 1, 0),
        (47.0, HOLD, NONE, 0),
        (54.0, RELEASE, NONE, 0),
    ]
    m = compute_metrics(scenario(config), rep)
    # Held days are paid, empty bed-days: voids.
    assert m.summary["internal_bed_days"] == 40.0
    assert m.summary["internal_void_bed_days"] == m.summary["internal_usable_bed_days"] - 40.0


def test_matching_never_blocks_an_empty_home_and_lowers_occupancy() -> None:
    """A 4-bed home: the first child always moves into the empty home; with a low chance of
    matching the group, more children go to spot and occupancy falls (paired, same seeds)."""

    def config(p: float) -> dict:
        return base_config(
            {"ebd": {"arrivals_per_year": 30, "length_of_stay_days": fixed(120)}},
            homes=[{"name": "Elm", "beds": 4, "needs": ["ebd"], "match_probability": p}],
            order=["internal", "spot"],
            horizon_years=5,
        )

    spot_easy, spot_hard, occ_easy, occ_hard = [], [], [], []
    for r in range(10):
        easy = simulate(scenario(config(1.0)), r)
        hard = simulate(scenario(config(0.3)), r)
        first = int(hard.log.child[hard.log.kind == EventKind.ARRIVE][0])
        first_unit = hard.log.unit[(hard.log.kind == EventKind.PLACE) & (hard.log.child == first)]
        assert first_unit[0] == 0, "the first child finds the home empty and moves in"
        for rep, spot, occ in ((easy, spot_easy, occ_easy), (hard, spot_hard, occ_hard)):
            m = compute_metrics(scenario(config(1.0)), rep)
            spot.append(m.summary["spot_placements"])
            occ.append(m.summary["internal_occupancy_pct"])
    assert sum(spot_hard) > sum(spot_easy)
    assert sum(occ_hard) < sum(occ_easy)
