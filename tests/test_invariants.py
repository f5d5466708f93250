"""Invariants of any run (hypothesis over random small scenarios).

Each generated scenario is simulated and its event log replayed by an independent state machine
that checks: children are conserved; nobody is in two places at once; no unit holds more children
than its usable beds; nobody is placed in an internal home or block contract outside its dates or
against its needs; every exit follows its arrival and happens when the rules say (planned stay
from the first placement, or the age-out age, whichever comes first, or a step-down to an
in-house foster carer for a child there for want of a foster placement); a child planned for
family care enters residential care only after no foster placement was found, and has one
foster placement at most; waiting children never sit
next to a free bed they could take; and the weekly series derived from the log stay in range.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
from helpers import START, base_config, day, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation.calendar import horizon_days, week_edges
from simulation.events import FOSTER_NEXT_STEP, EventKind, Route
from simulation.metrics import compute_metrics, placement_spells
from simulation.model import Replication, simulate
from simulation.scenario import Scenario

MARKETS = ("framework", "spot")
BED_KINDS = ("internal", "block")
TOL = 1e-9

# ---------------------------------------------------------------------------------------------
# Random scenarios


def _pos(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


stays = st.one_of(
    st.builds(lambda v: {"dist": "fixed", "value": v}, _pos(0, 200)),
    st.builds(lambda m: {"dist": "exponential", "mean": m}, _pos(1, 200)),
    st.builds(lambda m, cv: {"dist": "lognormal", "mean": m, "cv": cv}, _pos(1, 200), _pos(0.1, 2)),
    st.builds(lambda m, cv: {"dist": "gamma", "mean": m, "cv": cv}, _pos(1, 200), _pos(0.2, 2)),
    st.builds(lambda a, w: {"dist": "uniform", "min": a, "max": a + w}, _pos(0, 50), _pos(1, 150)),
    st.builds(
        lambda v: {"dist": "empirical", "values": v},
        st.lists(_pos(0, 300), min_size=1, max_size=4),
    ),
)
search_days = st.one_of(
    st.just({"dist": "fixed", "value": 0}),
    st.builds(lambda v: {"dist": "fixed", "value": v}, st.integers(1, 30)),
    st.builds(lambda m: {"dist": "exponential", "mean": m}, _pos(0.5, 30)),
)
ages = st.one_of(
    st.builds(lambda v: {"dist": "fixed", "value": v}, _pos(10, 17.99)),
    st.just({"dist": "triangular", "min": 11, "mode": 14, "max": 17.99}),
    st.just({"dist": "uniform", "min": 16.5, "max": 18.2}),  # some at or past 18 on arrival
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    horizon_years = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0]))
    h = int(horizon_days(START, horizon_years))
    # Dates: a few before the start on purpose, and often one of a few shared days, so that
    # openings, closings and scheduled arrivals coincide (same-instant ordering is tested).
    shared_days = [30, 60, 90]
    shared = st.sampled_from(shared_days)

    def shared_after(lo: int) -> list[int]:
        return [d for d in shared_days if d >= lo] or [lo]

    date_in_run = st.one_of(shared, st.integers(-60, h - 1))

    need_names = draw(st.sampled_from([["a"], ["a", "b"]]))
    needs: dict[str, dict[str, Any]] = {}
    for n in need_names:
        spec: dict[str, Any] = {
            "arrivals_per_year": draw(_pos(0, 40)),
            "trend_per_year": draw(_pos(-0.5, 0.5)),
            "length_of_stay_days": draw(stays),
            "age_at_entry_years": draw(ages),
            "scheduled_arrivals": [
                day(d) for d in draw(st.lists(st.one_of(shared, st.integers(0, h - 1)), max_size=3))
            ],
        }
        if draw(st.booleans()):
            spec["seasonality"] = {"jun": draw(_pos(0.2, 3)), "dec": draw(_pos(0.2, 3))}
        if draw(st.booleans()):
            w = draw(st.lists(_pos(0, 1), min_size=4, max_size=4).filter(lambda x: sum(x) > 0.1))
            spec["routes"] = dict(
                zip(("foster", "home", "supported", "other"), (x / sum(w) for x in w), strict=True)
            )
        needs[n] = spec
    need_subsets = st.lists(st.sampled_from(need_names), min_size=1, unique=True)

    def dated(prefix: str, n: int, open_key: str, close_key: str) -> list[dict[str, Any]]:
        units = []
        for i in range(n):
            u: dict[str, Any] = {
                "name": f"{prefix}{i}",
                "beds": draw(st.integers(1, 4)),
                "needs": draw(need_subsets),
            }
            if draw(st.booleans()):
                u["match_probability"] = draw(st.sampled_from([0.3, 0.7, 1.0]))
            if draw(st.booleans()):
                u["turnaround_days"] = draw(
                    st.sampled_from(
                        [{"dist": "fixed", "value": 7}, {"dist": "exponential", "mean": 10}]
                    )
                )
            opened = None
            if draw(st.booleans()):
                opened = draw(date_in_run)
                u[open_key] = day(opened)
            if draw(st.booleans()):
                lo = max(opened if opened is not None else 0, 0) + 1
                u[close_key] = day(
                    draw(st.one_of(st.sampled_from(shared_after(lo)), st.integers(lo, h + 30)))
                )
            units.append(u)
        return units

    homes = dated("Home", draw(st.integers(0, 3)), "open_date", "close_date")
    blocks = dated("Blk", draw(st.integers(0, 2)), "start", "end")
    framework = None
    if draw(st.booleans()):
        framework = {
            "offer_probability": draw(_pos(0, 1)),
            "search_days": draw(search_days),
            "weekly_price_gbp": {"dist": "lognormal", "mean": 5000, "cv": 0.3},
            "in_city_share": draw(_pos(0, 1)),
        }
    kinds = ["internal", "block", *(["framework"] if framework else [])]
    head = draw(st.permutations(kinds))
    order = [k for k in head if draw(st.booleans())] + ["spot"]

    # The cohort: market children freely, bed children only where beds are open on day 0.
    cohort: list[dict[str, Any]] = []
    for kind, units, open_key, close_key in (
        ("internal", homes, "open_date", "close_date"),
        ("block", blocks, "start", "end"),
    ):
        for u in units:
            open_at_start = (u.get(open_key) is None or u[open_key] <= START.isoformat()) and (
                u.get(close_key) is None or u[close_key] > START.isoformat()
            )
            if open_at_start and draw(st.booleans()):
                cohort.append(
                    {
                        "need": draw(st.sampled_from(u["needs"])),
                        "provision": kind,
                        "unit": u["name"],
                        "count": draw(st.integers(1, u["beds"])),
                        "elapsed_days": {"dist": "uniform", "min": 0, "max": 400},
                    }
                )
    for market in MARKETS:
        if (market == "spot" or framework) and draw(st.booleans()):
            entry: dict[str, Any] = {
                "need": draw(st.sampled_from(need_names)),
                "provision": market,
                "count": draw(st.integers(1, 3)),
                "elapsed_days": draw(_pos(0, 300)),
            }
            if draw(st.booleans()):
                entry["age_years"] = draw(_pos(12, 19))
            cohort.append(entry)

    cfg = base_config(
        needs,
        homes=homes,
        blocks=blocks,
        framework=framework,
        spot_search=draw(search_days),
        order=order,
        cohort=cohort,
        horizon_years=horizon_years,
        seed=draw(st.integers(0, 2**32 - 1)),
    )
    if draw(st.integers(0, 3)) == 0:  # a quarter of the scenarios have fostering upstream
        cfg["fostering"] = _fostering(draw, need_names)
    return scenario(cfg)


def _fostering(draw: st.DrawFn, need_names: list[str]) -> dict[str, Any]:
    in_house: dict[str, Any] = {
        "initial": draw(st.integers(0, 3)),
        "added_per_year": draw(_pos(0, 6)),
        "placement_days": draw(stays),
        "weekly_cost_gbp": 400,
    }
    if draw(st.booleans()):
        in_house["years_registered_mean"] = draw(_pos(0.05, 3))
    section: dict[str, Any] = {
        "family_plan_share": {n: draw(_pos(0, 1)) for n in need_names},
        "in_house": in_house,
        "step_down_from_residential": draw(st.booleans()),
    }
    if draw(st.booleans()):
        section["ifa"] = {
            "find_probability": draw(_pos(0, 1)),
            "search_days": draw(search_days),
            "placement_days": draw(stays),
            "weekly_price_gbp": {"dist": "fixed", "value": 814},
        }
    return section


# ---------------------------------------------------------------------------------------------
# The replay


def unit_days(s: Scenario) -> list[tuple[float, float]]:
    """[open, close) day of each bed unit, in model order (homes, then block contracts)."""

    def d(x: dt.date | None, default: float) -> float:
        return default if x is None else float((x - s.run.start_date).days)

    out = [(max(d(h.open_date, 0), 0), d(h.close_date, np.inf)) for h in s.provision.homes]
    out += [(max(d(b.start, 0), 0), d(b.end, np.inf)) for b in s.provision.block_contracts]
    return out


def check_log(s: Scenario, rep: Replication) -> dict[str, int]:
    """Replay the log event by event; assert every invariant; return the final counts."""
    log, units, ch = rep.log, rep.units, rep.children
    horizon = s.horizon_days
    dates = unit_days(s)
    needs = s.need_names
    order = s.placement_policy.order
    n_children = len(ch)

    assert np.all(np.diff(log.time) >= 0), "the log is in time order"
    assert np.all((log.time >= 0) & (log.time < horizon))

    WAIT, GONE, NEW = -1, -2, -3
    where = [NEW] * n_children
    arrived_at = [np.nan] * n_children
    first_place = [np.nan] * n_children
    is_open = [u.kind in MARKETS for u in units]
    occupants: list[set[int]] = [set() for _ in units]
    held = [0] * len(units)  # beds emptied and held for turnaround
    opened_at: dict[int, list[float]] = {}
    waiting_since: dict[int, float] = {}
    waiting_days, searches = 0.0, 0
    new_places: Counter[str] = Counter()
    closed_at: dict[int, list[float]] = {}
    # Bed kinds come before every market in the order: waiting children must take free beds.
    beds_first = all(
        order.index(k) < order.index(m)
        for k in BED_KINDS
        if k in order
        for m in MARKETS
        if m in order
    )

    def settle(t: float) -> None:
        """State after every event at time t has happened."""
        for u in units:
            if u.kind in BED_KINDS:
                usable = u.beds if is_open[u.index] else 0
                assert len(occupants[u.index]) + held[u.index] <= usable, (
                    f"unit {u.name} over-full at {t}"
                )
        if beds_first:
            for c in (c for c in range(n_children) if where[c] == WAIT):
                for u in units:
                    # A child may fail to match a group (match_probability < 1): then a free
                    # bed beside a waiting child is allowed; held beds are never free.
                    if (
                        u.kind in order
                        and u.kind in BED_KINDS
                        and is_open[u.index]
                        and ch.need[c] in u.needs
                        and (u.match_probability == 1.0 or not occupants[u.index])
                    ):
                        assert len(occupants[u.index]) + held[u.index] == u.beds, (
                            f"child {c} waits at {t} beside a free bed in {u.name}"
                        )

    # Fostering: children planned for family care, those who found no foster placement (and
    # when), and those who stepped down from residential care to an in-house carer.
    family_plan: set[int] = set()
    no_foster: dict[int, float] = {}
    stepped_down: dict[int, float] = {}
    fostered: set[int] = set()

    for i in range(len(log)):
        t, kind = float(log.time[i]), EventKind(int(log.kind[i]))
        c, u = int(log.child[i]), int(log.unit[i])
        if kind == EventKind.FAMILY_PLAN:
            assert where[c] == NEW and c not in family_plan
            assert abs(t - ch.arrival[c]) < 1e-9
            family_plan.add(c)
        elif kind == EventKind.NO_FOSTER:
            assert c in family_plan and c not in fostered and c not in no_foster
            no_foster[c] = t
        elif kind == EventKind.FOSTER_PLACE:
            assert c not in fostered, f"child {c} fostered twice"
            fostered.add(c)
            if int(log.in_city[i]) == 1:  # a step-down: the EXIT just before, at this time
                assert c in no_foster and where[c] == GONE
                stepped_down[c] = t
            elif int(log.route[i]) != FOSTER_NEXT_STEP:
                assert c in family_plan and c not in no_foster and where[c] == NEW
        if kind == EventKind.ARRIVE:
            assert where[c] == NEW, f"child {c} arrives twice"
            assert abs(t - ch.arrival[c]) < 1e-9 or no_foster.get(c) == t
            assert (c in no_foster) == (c in family_plan)
            assert int(log.need[i]) == ch.need[c]
            where[c], arrived_at[c] = WAIT, t
            if u >= 0:
                assert t == 0.0 and ch.initial[c], "only the cohort arrives in a unit"
            else:
                waiting_since[c] = t
                searches += 1
        elif kind == EventKind.PLACE:
            assert where[c] == WAIT, f"child {c} placed while at {where[c]} (two places)"
            info = units[u]
            if info.kind in BED_KINDS:
                assert is_open[u], f"placed in {info.name} while it is closed"
                lo, hi = dates[u]
                assert lo <= t < hi, f"placed in {info.name} at {t}, outside [{lo}, {hi})"
                assert ch.need[c] in info.needs, f"{info.name} does not take {needs[ch.need[c]]}"
                assert len(occupants[u]) + held[u] < info.beds, (
                    f"{info.name} has no free bed at {t}"
                )
            if not ch.initial[c] or t > 0:
                assert info.kind in order, f"placed in {info.kind}, not in the policy"
            occupants[u].add(c)
            where[c] = u
            if c in waiting_since:
                waiting_days += t - waiting_since.pop(c)
            if not (ch.initial[c] and t == 0.0):
                new_places[info.kind] += 1
            if np.isnan(first_place[c]):
                first_place[c] = t
        elif kind == EventKind.SEARCH:
            assert where[c] == WAIT and units[u].kind in MARKETS and units[u].kind in order
        elif kind == EventKind.DISPLACE:
            assert where[c] == u and not is_open[u], "only a closing unit displaces"
            assert closed_at[u][-1] == t
            occupants[u].discard(c)
            where[c] = WAIT
            waiting_since[c] = t
            searches += 1
        elif kind == EventKind.EXIT:
            assert where[c] not in (NEW, GONE), f"child {c} exits before arriving, or twice"
            assert where[c] == u
            assert t >= arrived_at[c]
            if u >= 0:
                occupants[u].discard(c)
            else:
                waiting_days += t - waiting_since.pop(c)
            where[c] = GONE
        elif kind == EventKind.UNIT_OPEN:
            assert units[u].kind in BED_KINDS and not is_open[u]
            is_open[u] = True
            opened_at.setdefault(u, []).append(t)
        elif kind == EventKind.BED_HOLD:
            assert units[u].kind in BED_KINDS and is_open[u] and units[u].turnaround is not None
            held[u] += 1
        elif kind == EventKind.BED_RELEASE:
            assert held[u] > 0 and is_open[u]
            held[u] -= 1
        elif kind == EventKind.UNIT_CLOSE:
            assert units[u].kind in BED_KINDS
            is_open[u] = False
            held[u] = 0
            closed_at.setdefault(u, []).append(t)
        if i + 1 == len(log) or log.time[i + 1] > t:
            settle(t)

    # Units open and close on their configured days, once.
    for u, (lo, hi) in enumerate(dates):
        assert opened_at.get(u, []) == ([lo] if lo < min(hi, horizon) else [])
        assert closed_at.get(u, []) == ([hi] if hi < horizon else [])

    # Every exit happens when the rules say, and every due exit happens.
    exit_rows = np.flatnonzero(log.kind == EventKind.EXIT)
    exit_at = {int(log.child[r]): (float(log.time[r]), int(log.route[r])) for r in exit_rows}
    for c in range(n_children):
        if where[c] == NEW:
            assert ch.arrival[c] >= horizon - TOL or (c in family_plan and c not in no_foster)
            continue
        if c in stepped_down:
            assert exit_at[c] == (stepped_down[c], int(Route.FOSTER))
            continue
        age_out = ch.age_out_at[c]
        assert age_out >= ch.arrival[c]
        planned = first_place[c] + ch.los[c]  # NaN if never placed
        due = planned if planned < age_out else age_out
        if c in exit_at:
            t, route = exit_at[c]
            assert abs(t - due) < 1e-6, f"child {c} exits at {t}, due {due}"
            if planned < age_out:
                assert route == ch.route[c]
            else:
                assert route == Route.AGE_OUT
        else:
            assert due >= horizon - 1e-6, f"child {c} was due to leave on day {due}"

    counts = Counter(
        "gone" if w == GONE else "waiting" if w == WAIT else "new" if w == NEW else "placed"
        for w in where
    )
    in_units = sum(len(o) for o in occupants)
    assert in_units == counts["placed"]
    waiting_days += sum(horizon - t for t in waiting_since.values())
    return {
        "arrive": int(np.sum(log.kind == EventKind.ARRIVE)),
        "exit": int(np.sum(log.kind == EventKind.EXIT)),
        "placed": counts["placed"],
        "waiting": counts["waiting"],
        "new_spot": new_places["spot"],
        "new_framework": new_places["framework"],
        "waiting_days": waiting_days,
        "searches": searches,
        "family_plan": len(family_plan),
        "no_foster": len(no_foster),
        "fostered": len(fostered),
    }


def check_metrics(s: Scenario, rep: Replication, counts: dict[str, int]) -> None:
    m = compute_metrics(s, rep)
    summary, weekly = m.summary, m.weekly
    # Conservation: arrivals (cohort included) = exits + children still in care at the end.
    assert counts["arrive"] == counts["exit"] + counts["placed"] + counts["waiting"]
    assert summary["children_initial"] + summary["arrivals"] == counts["arrive"]
    assert summary["exits"] == counts["exit"]
    assert summary["children_end"] == counts["placed"] + counts["waiting"]
    # Counts and waiting, against the replay.
    assert summary["spot_placements"] == counts["new_spot"]
    assert summary["framework_placements"] == counts["new_framework"]
    assert summary["family_plans"] == counts["family_plan"]
    assert summary["want_of_foster_children"] == counts["no_foster"]
    fostered = sum(summary[f"foster_placements_{t}"] for t in ("in_house", "ifa", "next_step"))
    assert fostered == counts["fostered"]
    assert weekly["spot_new_placements"].sum() == counts["new_spot"]
    assert abs(summary["waiting_days_total"] - counts["waiting_days"]) < 1e-6
    if counts["searches"]:
        mean_wait = counts["waiting_days"] / counts["searches"]
        assert abs(summary["waiting_days_mean"] - mean_wait) < 1e-6

    # Nobody in two places: a child's placement spells never overlap.
    sp = placement_spells(rep.log, s.horizon_days)
    order = np.lexsort((sp.start, sp.child))
    same = sp.child[order][1:] == sp.child[order][:-1]
    assert np.all(sp.start[order][1:][same] >= sp.end[order][:-1][same])
    assert np.all(sp.end >= sp.start)

    child_cols = [c for c in weekly.columns if c.startswith("children_")]
    assert (weekly[child_cols].to_numpy() >= -TOL).all()
    for kind in BED_KINDS:
        occ = weekly[f"{kind}_occupancy_pct"].to_numpy()
        assert (occ[~np.isnan(occ)] <= 100 + 1e-7).all()
        assert (occ[~np.isnan(occ)] >= 0).all()
        assert summary[f"{kind}_bed_days"] <= summary[f"{kind}_usable_bed_days"] + 1e-6
    beds = m.units[m.units["kind"].isin(BED_KINDS)]
    assert (beds["occupied_bed_days"] <= beds["usable_bed_days"] + 1e-6).all()
    assert (beds["void_cost_gbp"] >= -1e-6).all()
    assert summary["void_cost_gbp"] >= -1e-6
    # Weekly children (placed anywhere or waiting) integrate to the child-days in care.
    log, horizon = rep.log, s.horizon_days
    arrive_t = dict(
        zip(
            log.child[log.kind == EventKind.ARRIVE],
            log.time[log.kind == EventKind.ARRIVE],
            strict=True,
        )
    )
    exit_t = dict(
        zip(
            log.child[log.kind == EventKind.EXIT], log.time[log.kind == EventKind.EXIT], strict=True
        )
    )
    in_care_days = sum(exit_t.get(c, horizon) - t for c, t in arrive_t.items())
    placed_or_waiting = [f"children_{k}" for k in (*BED_KINDS, *MARKETS, "waiting")]
    week_len = np.diff(week_edges(horizon))
    weekly_days = float((weekly[placed_or_waiting].sum(axis=1).to_numpy() * week_len).sum())
    assert abs(weekly_days - in_care_days) < 1e-6 * max(1.0, in_care_days)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=scenarios())
def test_invariants_hold_for_random_scenarios(s: Scenario) -> None:
    rep = simulate(s, 0)
    counts = check_log(s, rep)
    check_metrics(s, rep, counts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=scenarios(), replication=st.integers(0, 10_000))
def test_invariants_hold_for_other_replications(s: Scenario, replication: int) -> None:
    rep = simulate(s, replication)
    check_metrics(s, rep, check_log(s, rep))


def test_checker_catches_an_overfull_unit() -> None:
    """The replay itself can fail: a log with a child placed in a full home is rejected."""
    import dataclasses

    import pytest

    s = scenario(
        base_config(
            {
                "a": {
                    "arrivals_per_year": 0,
                    "length_of_stay_days": {"dist": "fixed", "value": 50},
                    "scheduled_arrivals": [day(1), day(2)],
                }
            },
            homes=[{"name": "H", "beds": 2, "needs": ["a"]}],
        )
    )
    rep = simulate(s, 0)
    check_log(s, rep)
    one_bed = dataclasses.replace(rep.units[0], beds=1)
    broken = dataclasses.replace(rep, units=[one_bed, *rep.units[1:]])
    with pytest.raises(AssertionError):
        check_log(s, broken)
