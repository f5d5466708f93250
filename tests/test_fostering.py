"""Fostering upstream of residential care (``fostering``): an exact timeline, a loss-system
theory check, a direction test on common random numbers, conservation of children, the
next-step carers' cost, and bad input."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from helpers import (
    base_config,
    day,
    exponential,
    fixed,
    lognormal,
    mean_ci,
    pool_config,
    scenario,
)

from simulation.cli import main
from simulation.events import (
    FOSTER_IFA,
    FOSTER_IN_HOUSE,
    FOSTER_NEXT_STEP,
    EventKind,
    Route,
)
from simulation.metrics import compute_metrics
from simulation.model import Replication, simulate
from simulation.processes.fostering import draw_foster
from simulation.queueing import erlang_b
from simulation.streams import Streams

K = EventKind


def fostering(
    initial: int,
    placement_days: dict[str, Any],
    *,
    share: float = 1.0,
    added_per_year: float = 0.0,
    ifa: dict[str, Any] | None = None,
    step_down: bool = True,
    **in_house: Any,
) -> dict[str, Any]:
    section: dict[str, Any] = {
        "family_plan_share": {"a": share},
        "in_house": {
            "initial": initial,
            "added_per_year": added_per_year,
            "placement_days": placement_days,
            "weekly_cost_gbp": 400,
            **in_house,
        },
        "step_down_from_residential": step_down,
    }
    if ifa is not None:
        section["ifa"] = ifa
    return section


def rows(rep: Replication, kinds: tuple[EventKind, ...]) -> list[tuple[Any, ...]]:
    """(time, kind, child, unit, value, in_city, route) of the rows of ``kinds``."""
    log = rep.log
    keep = np.isin(log.kind, [int(k) for k in kinds])
    return [
        (float(t), EventKind(int(k)), int(c), int(u), float(v), int(i), int(r))
        for t, k, c, u, v, i, r in zip(
            log.time[keep],
            log.kind[keep],
            log.child[keep],
            log.unit[keep],
            log.value[keep],
            log.in_city[keep],
            log.route[keep],
            strict=True,
        )
    ]


def test_exact_timeline_child_waits_in_residential_then_steps_down():
    """One carer, busy with the first child (day 10 to 110). The second child (day 20) is
    planned for family care, finds no carer and no IFA, enters residential care and takes a
    bed; when the carer frees on day 110 the child steps down (EXIT to foster, then the foster
    placement), and the carer is busy again until day 210. The child's planned residential
    exit (day 320) never comes."""
    need = {
        "arrivals_per_year": 0,
        "length_of_stay_days": fixed(300),
        "age_at_entry_years": fixed(10),
        "scheduled_arrivals": [day(10), day(20)],
    }
    cfg = base_config(
        {"a": need},
        homes=[{"name": "H", "beds": 2, "needs": ["a"]}],
        order=["internal", "spot"],
    )
    cfg["fostering"] = fostering(1, fixed(100))
    s = scenario(cfg)
    rep = simulate(s, 0)
    home = next(u.index for u in rep.units if u.name == "H")
    kinds = (
        K.FAMILY_PLAN,
        K.FOSTER_PLACE,
        K.FOSTER_END,
        K.NO_FOSTER,
        K.ARRIVE,
        K.PLACE,
        K.EXIT,
        K.CARERS_JOIN,
        K.CARER_LEAVE,
    )
    first, second = 0, 1
    assert rows(rep, kinds) == [
        (0.0, K.CARERS_JOIN, -1, -1, 1.0, -1, 0),
        (10.0, K.FAMILY_PLAN, first, -1, 0.0, -1, -1),
        (10.0, K.FOSTER_PLACE, first, -1, 400.0, 0, FOSTER_IN_HOUSE),
        (20.0, K.FAMILY_PLAN, second, -1, 0.0, -1, -1),
        (20.0, K.NO_FOSTER, second, -1, 0.0, -1, -1),
        (20.0, K.ARRIVE, second, -1, 0.0, -1, -1),
        (20.0, K.PLACE, second, home, 0.0, 1, -1),
        (110.0, K.FOSTER_END, first, -1, 0.0, -1, FOSTER_IN_HOUSE),
        (110.0, K.EXIT, second, home, 100.0, -1, int(Route.FOSTER)),
        (110.0, K.FOSTER_PLACE, second, -1, 400.0, 1, FOSTER_IN_HOUSE),
        (210.0, K.FOSTER_END, second, -1, 0.0, -1, FOSTER_IN_HOUSE),
    ]
    m = compute_metrics(s, rep)
    summary = m.summary
    assert summary["family_plans"] == 2
    assert summary["foster_placements_in_house"] == 2
    assert summary["foster_step_downs"] == 1
    assert summary["want_of_foster_children"] == 1
    assert summary["want_of_foster_bed_days"] == pytest.approx(90.0)
    assert summary["arrivals"] == 1 and summary["exits_foster"] == 1
    # 200 child-days with a carer at £400 a week (no inflation); the residential bed-days at
    # the home's cost per bed (£20,000 a week for 2 beds).
    assert summary["cost_foster_in_house_gbp"] == pytest.approx(200 * 400 / 7)
    assert summary["want_of_foster_cost_gbp"] == pytest.approx(90 * 10_000 / 7)
    total_without = sum(summary[f"cost_{k}_gbp"] for k in ("internal", "block", "spot"))
    assert summary["cost_total_gbp"] == pytest.approx(total_without + 200 * 400 / 7)
    assert summary["foster_carers_end"] == 1
    weekly = m.weekly
    assert weekly["foster_carers_registered"].to_numpy() == pytest.approx(1.0)
    # Week 2 (days 14-21): the carer is busy all week.
    assert weekly["foster_carers_free"].iloc[2] == pytest.approx(0.0)
    assert weekly["children_want_of_foster"].iloc[3] == pytest.approx(1.0)


def test_ifa_search_time_and_price_and_carer_deregistration():
    """No carers: the IFA search runs its fixed 7 days and always finds a placement, priced
    from the IFA distribution; a carer registered with a mean of a few days leaves (free)."""
    cfg = pool_config(2, 40, fixed(60), horizon_years=1)
    cfg["fostering"] = fostering(
        0,
        fixed(30),
        ifa={
            "find_probability": 1.0,
            "search_days": fixed(7),
            "placement_days": fixed(50),
            "weekly_price_gbp": {"dist": "uniform", "min": 550, "max": 972},
        },
    )
    s = scenario(cfg)
    rep = simulate(s, 0)
    log = rep.log
    plan_rows = log.kind == K.FAMILY_PLAN
    plans = dict(zip(log.child[plan_rows], log.time[plan_rows], strict=True))
    ifa_rows = np.flatnonzero((log.kind == K.FOSTER_PLACE) & (log.route == FOSTER_IFA))
    assert len(plans) > 20 and len(ifa_rows) >= len(plans) - 2  # the last may still search
    for r in ifa_rows:
        assert log.time[r] == pytest.approx(plans[log.child[r]] + 7)
        assert 550 <= log.value[r] <= 972
    assert not np.any(log.kind == K.ARRIVE)  # nobody needs residential care
    # Deregistration: 5 carers registered for a mean of 10 days, with no child (share 0).
    cfg["fostering"] = fostering(5, fixed(30), share=0.0, years_registered_mean=10 / 365.25)
    rep = simulate(scenario(cfg), 0)
    assert int(np.sum(rep.log.kind == K.CARER_LEAVE)) == 5
    summary = compute_metrics(scenario(cfg), rep).summary
    assert summary["foster_carers_end"] == 0


@pytest.mark.parametrize("find_probability", [0.0, 1.0])
def test_a_search_going_on_at_18_ends_there(find_probability: float) -> None:
    """A child planned for family care at 17.99, with no carer and an IFA search of 7 days,
    turns 18 about 3.7 days in: the search stops then and nothing follows (no residential
    placement for want of a foster placement, no foster placement after 18). A child of 17
    searches its 7 days and goes on as before."""
    need = {
        "arrivals_per_year": 0,
        "length_of_stay_days": fixed(300),
        "age_at_entry_years": fixed(17.99),
        "scheduled_arrivals": [day(10)],
    }
    cfg = base_config({"a": need}, homes=[{"name": "H", "beds": 1, "needs": ["a"]}])
    cfg["fostering"] = fostering(
        0,
        fixed(100),
        ifa={
            "find_probability": find_probability,
            "search_days": fixed(7),
            "placement_days": fixed(50),
            "weekly_price_gbp": fixed(800),
        },
    )
    kinds = (K.FAMILY_PLAN, K.NO_FOSTER, K.ARRIVE, K.PLACE, K.EXIT, K.FOSTER_PLACE)
    rep = simulate(scenario(cfg), 0)
    assert [(t, k) for t, k, *_ in rows(rep, kinds)] == [(10.0, K.FAMILY_PLAN)]
    cfg["demand"]["needs"]["a"]["age_at_entry_years"] = fixed(17.0)
    rep = simulate(scenario(cfg), 0)
    after = [(t, k) for t, k, *_ in rows(rep, kinds)]
    expected = K.FOSTER_PLACE if find_probability else K.NO_FOSTER
    assert after[:2] == [(10.0, K.FAMILY_PLAN), (17.0, expected)]


def test_family_plan_share_by_age_band():
    """Under 10: all planned for family care; 10 to 14: none; 14 and over: the need's share."""
    cfg = pool_config(2, 200, fixed(30), horizon_years=2, age_at_entry=5.0)
    cfg["demand"]["needs"]["a"]["age_at_entry_years"] = {"dist": "uniform", "min": 0, "max": 17}
    cfg["fostering"] = fostering(2, fixed(30), share=0.5)
    cfg["fostering"]["family_plan_share_by_age"] = {
        "a": [{"below_age_years": 10, "share": 1.0}, {"below_age_years": 14, "share": 0.0}]
    }
    rep = simulate(scenario(cfg), 0)
    ch, log = rep.children, rep.log
    planned = set(log.child[log.kind == K.FAMILY_PLAN].tolist())
    by_band: Counter[tuple[str, bool]] = Counter()
    for c in range(len(ch)):
        age = (ch.arrival[c] - ch.born[c]) / 365.25
        band = "young" if age < 10 else "middle" if age < 14 else "old"
        by_band[band, c in planned] += 1
    assert by_band["young", False] == 0 and by_band["young", True] > 100
    assert by_band["middle", True] == 0 and by_band["middle", False] > 50
    old = by_band["old", True] + by_band["old", False]
    assert 0.3 < by_band["old", True] / old < 0.7


# ---------------------------------------------------------------------------------------------
# Theory: the in-house pool is a loss system (M/G/c/c) feeding residential care.

LAMBDA_PER_YEAR = 36.0
MEAN_DAYS = 100.0
CARERS = 10
LOAD = LAMBDA_PER_YEAR * MEAN_DAYS / 365.25
WARM_UP = 365.0


def want_of_foster_shares(carers: int, reps: int = 30, years: float = 20.0) -> list[float]:
    cfg = pool_config(2, LAMBDA_PER_YEAR, fixed(30), horizon_years=years)  # spot takes the rest
    cfg["fostering"] = fostering(carers, lognormal(MEAN_DAYS, 1.5), step_down=False)
    s = scenario(cfg)
    shares = []
    for r in range(reps):
        log = simulate(s, r, 7).log
        late = log.time > WARM_UP
        plans = np.sum(late & (log.kind == K.FAMILY_PLAN))
        shares.append(np.sum(late & (log.kind == K.NO_FOSTER)) / plans)
    return shares


def test_want_of_foster_rate_is_erlang_b():
    """Poisson family-plan arrivals, c carers, general time with a carer, no IFA, no step
    down: the share sent to residential care for want of a carer is Erlang-B(c, a)
    (insensitive to the time's distribution), and c - 1 or c + 1 carers are outside the CI."""
    mean, lo, hi = mean_ci(want_of_foster_shares(CARERS))
    b = erlang_b(CARERS, LOAD)
    assert lo <= b <= hi, f"share {mean:.4f} (99% CI {lo:.4f}-{hi:.4f}) vs Erlang-B {b:.4f}"
    assert not lo <= erlang_b(CARERS - 1, LOAD) <= hi
    assert not lo <= erlang_b(CARERS + 1, LOAD) <= hi


# ---------------------------------------------------------------------------------------------
# Direction on common random numbers


def test_fewer_carers_recruited_means_more_residential_bed_days():
    """The same children (common random numbers), 1 against 6 carers recruited a year:
    fewer carers, more residential bed-days (paired difference, 99% CI above 0)."""
    base = pool_config(4, 30, lognormal(200, 0.8), horizon_years=4)
    configs = {}
    for added in (1.0, 6.0):
        cfg = copy.deepcopy(base)
        cfg["fostering"] = fostering(
            4,
            lognormal(300, 0.8),
            share=0.7,
            added_per_year=added,
            years_registered_mean=4.0,
            ifa={
                "find_probability": 0.4,
                "search_days": exponential(10),
                "placement_days": lognormal(300, 0.8),
                "weekly_price_gbp": fixed(814),
            },
        )
        configs[added] = scenario(cfg)
    diffs = []
    for r in range(30):
        bed_days = {}
        for added, s in configs.items():
            summary = compute_metrics(s, simulate(s, r)).summary
            bed_days[added] = summary["internal_bed_days"] + summary["spot_bed_days"]
        diffs.append(bed_days[1.0] - bed_days[6.0])
    mean, lo, hi = mean_ci(diffs)
    assert lo > 0, f"fewer carers: {mean:.0f} more bed-days (99% CI {lo:.0f} to {hi:.0f})"


# ---------------------------------------------------------------------------------------------
# Conservation


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_child_is_accounted_for(seed: int):
    """Every arrival is planned for residential care (ARRIVE or PREVENT at its arrival) or for
    family care (FAMILY_PLAN); every family-plan child is with an in-house carer, with an IFA,
    in residential care for want of one (NO_FOSTER then ARRIVE), or still searching at the end;
    a child has one foster placement at most, after its plan; and carers are never overbooked."""
    cfg = pool_config(3, 40, lognormal(150, 1.0), horizon_years=3)
    cfg["run"]["seed"] = seed
    cfg["demand"]["prevention"] = [{"name": "edge", "needs": ["a"], "share": 0.2}]
    cfg["fostering"] = fostering(
        3,
        lognormal(120, 1.0),
        share=0.5,
        added_per_year=2,
        years_registered_mean=2.0,
        ifa={
            "find_probability": 0.5,
            "search_days": exponential(20),
            "placement_days": lognormal(120, 1.0),
            "weekly_price_gbp": fixed(814),
        },
    )
    s = scenario(cfg)
    rep = simulate(s, 0)
    log, ch = rep.log, rep.children
    first: dict[int, tuple[float, EventKind]] = {}
    foster: Counter[int] = Counter()
    no_foster: dict[int, float] = {}
    plans: dict[int, float] = {}
    carers, busy = 0, 0
    for t, k, c, v, route in zip(log.time, log.kind, log.child, log.value, log.route, strict=True):
        k, c = EventKind(int(k)), int(c)
        if k in (K.ARRIVE, K.PREVENT, K.FAMILY_PLAN):
            first.setdefault(c, (float(t), k))
        if k == K.FAMILY_PLAN:
            plans[c] = float(t)
        elif k == K.NO_FOSTER:
            assert c in plans and c not in no_foster and foster[c] == 0
            no_foster[c] = float(t)
        elif k == K.FOSTER_PLACE:
            assert c in plans and foster[c] == 0
            foster[c] += 1
            busy += route == FOSTER_IN_HOUSE
        elif k == K.FOSTER_END:
            busy -= route == FOSTER_IN_HOUSE
        elif k == K.CARERS_JOIN:
            carers += int(v)
        elif k == K.CARER_LEAVE:
            carers -= 1
        elif k in (K.ARRIVE, K.PREVENT) and c in plans:
            assert no_foster.get(c) == t, "a family-plan child enters only after NO_FOSTER"
        assert 0 <= busy <= carers
    arriving = [c for c in range(len(ch)) if not ch.initial[c] and ch.arrival[c] < s.horizon_days]
    assert sorted(first) == sorted(arriving)
    for c in arriving:
        t, k = first[c]
        assert t == pytest.approx(ch.arrival[c])
    # A child with no outcome is still searching for an IFA placement at the end.
    draws = draw_foster(s, Streams(rep.seed, 0), ch)
    for c, t in plans.items():
        assert draws.family_plan[c]
        if not foster[c] and c not in no_foster:
            assert t + draws.ifa_search_days[c] >= s.horizon_days
    summary = compute_metrics(s, rep).summary
    direct = sum(1 for c in plans if foster[c] and c not in no_foster)
    assert summary["family_plans"] == len(plans)
    prevented = set(log.child[log.kind == K.PREVENT].tolist())
    assert prevented & set(no_foster), "some children with no foster placement were prevented"
    assert summary["want_of_foster_children"] == len(set(no_foster) - prevented)
    assert summary["foster_placements_in_house"] + summary["foster_placements_ifa"] == sum(
        foster.values()
    )
    assert direct + len(no_foster) <= len(plans)
    assert summary["foster_step_downs"] == sum(1 for c in no_foster if foster[c])


def test_share_zero_changes_no_residential_row():
    """Fostering on with no family-plan children: the residential rows are those of the same
    config without fostering (the plan draws are a stream of their own)."""
    cfg = pool_config(3, 30, lognormal(150, 1.0), horizon_years=2)
    plain = simulate(scenario(cfg), 0).log
    cfg["fostering"] = fostering(3, fixed(100), share=0.0)
    with_foster = simulate(scenario(cfg), 0).log
    keep = with_foster.kind != K.CARERS_JOIN
    for col in ("time", "kind", "child", "unit", "value", "route"):
        np.testing.assert_array_equal(getattr(with_foster, col)[keep], getattr(plain, col))


# ---------------------------------------------------------------------------------------------
# Next-step carers' cost


def test_next_step_carers_cost_when_given_a_weekly_cost():
    """step_down.foster_carers with a weekly_cost_gbp: each step-down is a costed foster
    placement for the carer's time; without it the log is unchanged but for those rows."""
    need = {
        "arrivals_per_year": 0,
        "length_of_stay_days": fixed(50),
        "age_at_entry_years": fixed(10),
        "scheduled_arrivals": [day(5)],
        "routes": {"foster": 1.0, "home": 0.0, "supported": 0.0, "other": 0.0},
    }
    cfg = base_config({"a": need}, homes=[{"name": "H", "beds": 1, "needs": ["a"]}])
    carers = {"initial": 1, "placement_days": fixed(70)}
    cfg["step_down"]["foster_carers"] = carers
    plain = simulate(scenario(cfg), 0)
    carers["weekly_cost_gbp"] = 700
    s = scenario(cfg)
    rep = simulate(s, 0)
    assert rows(rep, (K.FOSTER_PLACE, K.FOSTER_END)) == [
        (55.0, K.FOSTER_PLACE, 0, -1, 700.0, 0, FOSTER_NEXT_STEP),
        (125.0, K.FOSTER_END, 0, -1, 0.0, -1, FOSTER_NEXT_STEP),
    ]
    keep = ~np.isin(rep.log.kind, [int(K.FOSTER_PLACE), int(K.FOSTER_END)])
    np.testing.assert_array_equal(rep.log.time[keep], plain.log.time)
    summary = compute_metrics(s, rep).summary
    assert summary["cost_foster_next_step_gbp"] == pytest.approx(70 * 100.0)
    assert summary["foster_placements_next_step"] == 1


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"family_plan_share": {"nobody": 0.5}}, "fostering.family_plan_share.nobody"),
        ({"ifa": {"find_probability": 1.5, "placement_days": fixed(1)}}, "fostering.ifa"),
        ({"in_house": {"initial": 1}}, "fostering.in_house"),
        (
            {
                "family_plan_share_by_age": {
                    "a": [
                        {"below_age_years": 12, "share": 1.0},
                        {"below_age_years": 8, "share": 0.0},
                    ]
                }
            },
            "fostering.family_plan_share_by_age.a[1].below_age_years",
        ),
    ],
)
def test_bad_fostering_input_is_one_line_naming_the_field(
    change: dict[str, Any], field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = pool_config(2, 10, fixed(30), horizon_years=1)
    cfg["fostering"] = {**fostering(1, fixed(30)), **change}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    rc = main(["run", str(bad), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and field in err and "Traceback" not in err, err
    assert not out.exists()


def test_metrics_without_fostering_rows_match_the_general_path(monkeypatch):
    """A run with no fostering rows takes a short cut to zeros: the same figures, in the same
    order, as the general computation gives."""
    from simulation.metrics import fostering as family
    from simulation.metrics.context import build_context
    from simulation.metrics.kinds import bed_daily_cost

    s = scenario(pool_config(3, 30, lognormal(150, 1.0), horizon_years=2))
    rep = simulate(s, 0)
    ctx, bed_rate = build_context(s, rep), bed_daily_cost(rep.units)
    fast = family.fostering(ctx, bed_rate)
    monkeypatch.setattr(family, "_KINDS", (int(K.ARRIVE),))  # present: the general path
    general = family.fostering(ctx, bed_rate)
    assert list(fast.summary.items()) == list(general.summary.items())
    for part in ("weekly", "finance"):
        a, b = getattr(fast, part), getattr(general, part)
        assert list(a) == list(b)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
