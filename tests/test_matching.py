"""Group matching, emergencies and vacancies: the rules, exact timelines and the portfolio effect.

Timelines are worked out by hand from docs/model.md ("Matching and vacancies"): a waiting child
takes the first bed whose group it fits; a freed bed goes to the first waiting child who fits;
an emergency is placed the same day only where emergencies are taken; a planned arrival waits
its planning window before the market; a planned move-in holds the bed through its transition.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from helpers import base_config, day, fixed, log_rows, scenario

from simulation.errors import ScenarioError
from simulation.events import HOLD_REPAIR, HOLD_TRANSITION, EventKind
from simulation.metrics import compute_metrics
from simulation.model import simulate
from simulation.scenario import load_scenario

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
A, S, P, X = EventKind.ARRIVE, EventKind.SEARCH, EventKind.PLACE, EventKind.EXIT
HOLD, RELEASE = EventKind.BED_HOLD, EventKind.BED_RELEASE
NONE = -1
ELM, SPOT = 0, 1
FLAGS = {
    "flags": ["harm_to_others", "vulnerable"],
    "incompatible": [["harm_to_others", "vulnerable"]],
}


def _load(name: str) -> dict:
    import yaml

    return yaml.safe_load((CONFIGS / name).read_text())


@pytest.mark.parametrize("name", ["minimal.yaml", "rotherham-2020.yaml"])
def test_rules_that_accept_everyone_keep_todays_logs(name: str) -> None:
    """Flags drawn, emergencies marked, rules checked at every admission: when the rules admit
    everyone (and every home takes emergencies) the log is the one without any of it, but for
    the emergency mark on ARRIVE rows."""
    base = _load(name)
    ruled = copy.deepcopy(base)
    ruled["matching"] = {**FLAGS, "default_admission": {"incompatible": False}}
    for need in ruled["demand"]["needs"].values():
        need.update(female_share=0.4, emergency_share=0.6, flags={"harm_to_others": 0.3})
    a, b = scenario(base), scenario(ruled)
    assert all(u.rule is not None for u in _units(b))
    for rep in range(2):
        got, want = simulate(b, rep, 7).log, simulate(a, rep, 7).log
        for column in ("time", "kind", "child", "unit", "need", "value", "in_city"):
            assert np.array_equal(getattr(got, column), getattr(want, column)), column
        marked = got.route != want.route
        assert np.all(got.kind[marked] == int(A)) and np.all(got.route[marked] == 1)
        arrivals = np.count_nonzero((got.kind == int(A)) & (got.unit < 0))
        assert 0.4 * arrivals < np.count_nonzero(marked) < 0.8 * arrivals  # 60% emergencies


def _units(s):
    from simulation.units import build_units

    return [u for u in build_units(s)[0] if u.has_beds]


def _two_needs(**home: object) -> dict:
    """Elm (2 beds) takes both needs: ``harm`` children all carry harm_to_others, ``vuln``
    children all carry vulnerable, and the two flags may not share a home. Spot: 10-day search."""
    config = base_config(
        {
            "harm": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(100),
                "age_at_entry_years": fixed(14),
                "scheduled_arrivals": [day(10), day(50)],
                "flags": {"harm_to_others": 1.0},
            },
            "vuln": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(100),
                "age_at_entry_years": fixed(13),
                "scheduled_arrivals": [day(20)],
                "flags": {"vulnerable": 1.0},
            },
        },
        homes=[{"name": "Elm", "beds": 2, "needs": ["harm", "vuln"], **home}],
        spot_search=fixed(10),
        order=["internal", "spot"],
    )
    config["matching"] = {**FLAGS, "default_admission": {}}
    return config


def test_a_bed_stays_empty_when_the_only_waiting_child_does_not_fit() -> None:
    """Day 10: harm child 0 into Elm. Day 20: vulnerable child 1 finds a free bed in Elm but
    may not live with child 0: spot search, in spot from day 30 to 130; Elm's second bed stays
    empty. Day 50: harm child 2 fits beside child 0 and takes it."""
    rep = simulate(scenario(_two_needs()), 0, 1)
    harm0, vuln, harm1 = _children_by_arrival(rep)
    assert log_rows(rep) == [
        (0.0, EventKind.UNIT_OPEN, NONE, ELM),
        (10.0, A, harm0, NONE),
        (10.0, P, harm0, ELM),
        (20.0, A, vuln, NONE),
        (20.0, S, vuln, SPOT),
        (30.0, P, vuln, SPOT),
        (50.0, A, harm1, NONE),
        (50.0, P, harm1, ELM),
        (110.0, X, harm0, ELM),
        (130.0, X, vuln, SPOT),
        (150.0, X, harm1, ELM),
    ]
    units = compute_metrics(scenario(_two_needs()), rep).units.set_index("unit")
    # Elm: 2 beds x 366 days usable; occupied 100 + 100 days.
    assert units.loc["Elm", "occupied_bed_days"] == pytest.approx(200.0)


def _children_by_arrival(rep) -> list[int]:
    rows = [(t, c) for t, k, c, _ in log_rows(rep) if k == A]
    return [c for _, c in sorted(rows)]


def test_without_the_incompatible_pair_the_child_takes_the_bed() -> None:
    """The same arrivals with incompatible: false: child 1 joins child 0 in Elm on day 20."""
    config = _two_needs(admission={"incompatible": False})
    rep = simulate(scenario(config), 0, 1)
    placed = {(c, u) for _, k, c, u in log_rows(rep) if k == P}
    _, vuln, _ = _children_by_arrival(rep)
    assert (vuln, ELM) in placed


def test_a_freed_bed_goes_to_the_first_waiting_child_who_fits() -> None:
    """Elm has 1 bed and admits only girls... the rules decide who of two waiting children
    gets the bed when it frees: the boy (first to wait) is passed over for the girl."""
    config = base_config(
        {
            "a": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(100),
                "age_at_entry_years": fixed(14),
                "scheduled_arrivals": [day(0), day(20), day(30)],
                "female_share": 0.5,
            }
        },
        homes=[{"name": "Elm", "beds": 1, "needs": ["a"], "admission": {"sexes": ["female"]}}],
        spot_search=fixed(200),
        order=["internal", "spot"],
    )
    s = scenario(config)
    # Find a replication where child 0 is a girl, child 1 a boy and child 2 a girl.
    for rep_no in range(64):
        rep = simulate(s, rep_no, 3)
        female = [rep.children.female[c] for c in _children_by_arrival(rep)]
        if female == [True, False, True]:
            break
    else:
        pytest.fail("no replication with girl, boy, girl")
    c0, c1, c2 = _children_by_arrival(rep)
    places = [(t, c, u) for t, k, c, u in log_rows(rep) if k == P]
    assert places[0] == (0.0, c0, ELM)
    assert (100.0, c2, ELM) in places  # the girl, though the boy has waited longer
    assert all(c != c1 or u != ELM for _, c, u in places)


def _one_home(need_extra: dict, home_extra: dict, arrivals: list[int]) -> dict:
    return base_config(
        {
            "a": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(100),
                "age_at_entry_years": fixed(14),
                "scheduled_arrivals": [day(d) for d in arrivals],
                **need_extra,
            }
        },
        homes=[{"name": "Elm", "beds": 1, "needs": ["a"], **home_extra}],
        spot_search=fixed(10),
        order=["internal", "spot"],
    )


def test_an_emergency_skips_a_home_that_takes_none() -> None:
    """Elm's bed is free, but Elm takes no emergencies: the emergency goes to spot at once."""
    no_emergencies = {"admission": {"takes_emergencies": False}}
    s = scenario(_one_home({"emergency_share": 1.0}, no_emergencies, [5]))
    rep = simulate(s, 0, 1)
    m = compute_metrics(s, rep).summary
    assert (m["emergencies"], m["emergencies_to_spot"], m["emergencies_to_internal"]) == (1, 1, 0)
    assert [(t, k, u) for t, k, _, u in log_rows(rep)][1:4] == [
        (5.0, A, NONE),
        (5.0, S, SPOT),
        (15.0, P, SPOT),
    ]
    planned = simulate(scenario(_one_home({}, no_emergencies, [5])), 0, 1)
    assert (5.0, P, ELM) in [(t, k, u) for t, k, _, u in log_rows(planned)]


def test_an_emergency_still_searching_at_the_end_is_counted() -> None:
    """The last arrival is an emergency whose search outlasts the run: counted, never placed."""
    config = _one_home({"emergency_share": 1.0}, {}, [300, 350])
    config["provision"]["spot"]["search_days"] = fixed(30)
    s = scenario(config)
    m = compute_metrics(s, simulate(s, 0, 1)).summary
    assert (m["emergencies"], m["emergencies_to_internal"], m["emergencies_to_spot"]) == (2, 1, 0)


def test_a_planned_arrival_waits_its_window_for_a_bed() -> None:
    """Elm is full until day 100. A planned arrival on day 80 with a 30-day window waits (no
    search) and moves in on day 100; one on day 50 waits until day 80, then searches spot."""
    rep = simulate(scenario(_one_home({"planning_window_days": 30}, {}, [0, 80])), 0, 1)
    rows = [(t, k, u) for t, k, _, u in log_rows(rep)]
    assert rows[3:6] == [(80.0, A, NONE), (100.0, X, ELM), (100.0, P, ELM)]
    rep = simulate(scenario(_one_home({"planning_window_days": 30}, {}, [0, 50])), 0, 1)
    rows = [(t, k, u) for t, k, _, u in log_rows(rep)]
    assert rows[3:6] == [(50.0, A, NONE), (80.0, S, SPOT), (90.0, P, SPOT)]


def test_a_planned_move_in_holds_the_bed_through_its_transition() -> None:
    """Transition 14 days: the arrival on day 5 is matched to Elm, which is kept for it
    (BED_HOLD naming the child); it moves in on day 19 and leaves 100 days later."""
    rep = simulate(scenario(_one_home({}, {"transition_days": fixed(14)}, [5])), 0, 1)
    log = rep.log
    rows = [(t, k, c, u) for t, k, c, u in log_rows(rep)]
    child = rows[1][2]
    assert rows[1:] == [
        (5.0, A, child, NONE),
        (5.0, HOLD, child, ELM),
        (19.0, RELEASE, NONE, ELM),
        (19.0, P, child, ELM),
        (119.0, X, child, ELM),
    ]
    hold = np.flatnonzero(log.kind == int(HOLD))[0]
    assert log.route[hold] == HOLD_TRANSITION and log.value[hold] == 14.0
    emergency = simulate(
        scenario(_one_home({"emergency_share": 1.0}, {"transition_days": fixed(14)}, [5])), 0, 1
    )
    assert (5.0, P, ELM) in [(t, k, u) for t, k, _, u in log_rows(emergency)]


def test_a_vacated_bed_may_need_repair() -> None:
    """Repair certain, 21 days: the bed freed on day 100 is out of use until day 121, so the
    child arriving on day 110 searches spot; a void the metrics count as held."""
    home = {"repair_probability": 1.0, "repair_days": fixed(21)}
    s = scenario(_one_home({}, home, [0, 110]))
    rep = simulate(s, 0, 1)
    rows = [(t, k, u) for t, k, _, u in log_rows(rep)]
    assert rows[3:7] == [(100.0, X, ELM), (100.0, HOLD, ELM), (110.0, A, NONE), (110.0, S, SPOT)]
    hold = np.flatnonzero(rep.log.kind == int(HOLD))[0]
    assert rep.log.route[hold] == HOLD_REPAIR
    units = compute_metrics(s, rep).units.set_index("unit")
    assert units.loc["Elm", "void_repair_bed_days"] == pytest.approx(21.0)


def _portfolio(homes: int, rules: bool, seed: int) -> dict:
    """``homes`` homes of 4 beds, 1.2 arrivals a year per bed, stays of a year: demand above
    the beds. A third of the children may harm others, a third are vulnerable to it."""
    config = base_config(
        {
            "a": {
                "arrivals_per_year": 1.2 * 4 * homes,
                "length_of_stay_days": fixed(365),
                "age_at_entry_years": fixed(5),
                "flags": {"harm_to_others": 1 / 3, "vulnerable": 1 / 3},
            }
        },
        homes=[{"name": f"H{k}", "beds": 4, "needs": ["a"]} for k in range(homes)],
        spot_search=fixed(30),
        order=["internal", "spot"],
        horizon_years=8,
        seed=seed,
    )
    config["matching"] = {**FLAGS, "default_admission": {"incompatible": rules}}
    return config


def _occupancy(config: dict, reps: int) -> np.ndarray:
    s = scenario(config)
    return np.array(
        [
            compute_metrics(s, simulate(s, r, s.run.seed)).summary["internal_occupancy_pct"]
            for r in range(reps)
        ]
    )


def test_the_cost_of_matching_shrinks_as_the_portfolio_grows() -> None:
    """At equal demand per bed, incompatible pairs cost a lone home more occupancy than a home
    in a portfolio of eight: a child who does not fit one group may fit another (the Coventry
    strategy's claim that more homes improve matching). Paired on common random numbers."""
    reps = 12
    loss = {}
    for n in (1, 8):
        free = _occupancy(_portfolio(n, False, 5), reps)
        ruled = _occupancy(_portfolio(n, True, 5), reps)
        loss[n] = free - ruled
    assert loss[1].mean() > 0 and loss[8].mean() > 0
    diff = loss[1] - loss[8]
    half = 2.2 * diff.std(ddof=1) / np.sqrt(reps)
    assert diff.mean() - half > 0, (loss[1].mean(), loss[8].mean(), half)


def test_unknown_flags_and_mixed_vacancy_settings_are_refused(tmp_path: Path) -> None:
    config = _two_needs()
    config["demand"]["needs"]["harm"]["flags"] = {"arson": 0.1}
    config["provision"]["homes"][0].update(
        turnaround_days=fixed(10), transition_days=fixed(5), admission={"max_with_flag": {"x": 1}}
    )
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    paths = {i.path for i in err.value.issues}
    assert "demand.needs.harm.flags.arson" in paths
    assert "provision.homes[0].turnaround_days" in paths
    assert "provision.homes[0].admission.max_with_flag.x" in paths


def test_a_child_moving_in_counts_in_the_group_it_will_join() -> None:
    """Transition 14 days: the harm child matched on day 10 moves in on day 24. The vulnerable
    child arriving on day 20 finds Elm's other bed free, but must fit the child moving in too:
    it is refused and searches spot."""
    rep = simulate(scenario(_two_needs(transition_days=fixed(14))), 0, 1)
    harm0, vuln, _ = _children_by_arrival(rep)
    rows = [(t, k, c, u) for t, k, c, u in log_rows(rep)]
    assert (10.0, HOLD, harm0, ELM) in rows and (24.0, P, harm0, ELM) in rows
    assert (20.0, S, vuln, SPOT) in rows
    assert all(not (k == P and c == vuln and u == ELM) for _, k, c, u in rows)
