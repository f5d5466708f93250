"""Strict validation: whatever `sufficiency validate` accepts, a replication runs.

Each hole found by a schema-driven fuzz of the config is pinned as one case: `validate` exits 2
with one line naming the field. A small hypothesis fuzz then mutates the minimal config and
checks the rule itself: refused with one line per problem, or valid and runnable.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation.cli import main
from simulation.errors import ScenarioError
from simulation.model import simulate
from simulation.scenario import load_scenario

MINIMAL = Path(__file__).resolve().parent.parent / "configs" / "minimal.yaml"
BASE: dict[str, Any] = yaml.safe_load(MINIMAL.read_text())

STAFFING = {"homes": [{"home": "Elm House", "establishment_fte": 12}]}
DPS = {
    "name": "D",
    "needs": ["ebd"],
    "weekly_price_per_bed_gbp": 5000,
    "end": "2026-01-01",
    "tranches": [{"date": "2027-01-01", "beds": 2}],
}


def _need(d: dict[str, Any]) -> dict[str, Any]:
    need: dict[str, Any] = d["demand"]["needs"]["ebd"]
    return need


def _home(d: dict[str, Any]) -> dict[str, Any]:
    home: dict[str, Any] = d["provision"]["homes"][0]
    return home


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting the dotted ``path`` (list indices as numbers) to ``value``."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def mutate(d: dict[str, Any]) -> None:
        node: Any = d
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _with_staffing(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["staffing"] = copy.deepcopy(STAFFING) | fields

    return mutate


HOLES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # crashed after validate said valid
    (
        "negative fixed stay",
        _set("demand.needs.ebd.length_of_stay_days", {"dist": "fixed", "value": -5}),
        "demand.needs.ebd.length_of_stay_days",
    ),
    (
        "negative uniform stay",
        _set("demand.needs.ebd.length_of_stay_days", {"dist": "uniform", "min": -10, "max": 5}),
        "demand.needs.ebd.length_of_stay_days",
    ),
    (
        "negative empirical stay",
        _set("demand.needs.ebd.length_of_stay_days", {"dist": "empirical", "values": [10, -3]}),
        "demand.needs.ebd.length_of_stay_days",
    ),
    ("infinite seasonality", _set("demand.needs.ebd.seasonality", {"jun": math.inf}), "jun"),
    ("huge trend", _set("demand.needs.ebd.trend_per_year", 1e308), "trend_per_year"),
    ("huge arrivals", _set("demand.needs.ebd.arrivals_per_year", 1e9), "arrivals_per_year"),
    ("trend of 10", _set("demand.needs.ebd.trend_per_year", 10), "trend_per_year"),
    ("seed 2**64", _set("run.seed", 2**64), "run.seed"),
    ("start in 9999", _set("run.start_date", "9999-01-01"), "run.start_date"),
    (
        "carers added 1e308 a year",
        _set(
            "step_down.foster_carers",
            {
                "initial": 1,
                "added_per_year": 1e308,
                "placement_days": {"dist": "fixed", "value": 9},
            },
        ),
        "step_down.foster_carers.added_per_year",
    ),
    # accepted and ran
    ("boolean beds", _set("provision.homes.0.beds", True), "provision.homes[0].beds"),
    ("boolean arrivals", _set("demand.needs.ebd.arrivals_per_year", True), "arrivals_per_year"),
    ("boolean seed", _set("run.seed", False), "run.seed"),
    ("boolean replications", _set("run.replications", True), "run.replications"),
    ("boolean horizon", _set("run.horizon_years", True), "run.horizon_years"),
    ("boolean share", _set("provision.spot.in_city_share", True), "in_city_share"),
    (
        "boolean distribution parameter",
        _set("demand.needs.ebd.length_of_stay_days", {"dist": "fixed", "value": True}),
        "demand.needs.ebd.length_of_stay_days.value",
    ),
    ("string for an integer", _set("provision.homes.0.beds", "4"), "provision.homes[0].beds"),
    ("4.5 for an integer", _set("provision.homes.0.beds", 4.5), "provision.homes[0].beds"),
    ("a number for a date", _set("run.start_date", 1_700_000_000), "run.start_date"),
    (
        "negative price",
        _set("provision.spot.weekly_price_gbp", {"dist": "uniform", "min": -100, "max": 50}),
        "provision.spot.weekly_price_gbp",
    ),
    ("negative running cost", _set("provision.homes.0.weekly_running_cost_gbp", -1), "cost_gbp"),
    (
        "negative search days",
        _set("provision.spot.search_days", {"dist": "fixed", "value": -3}),
        "provision.spot.search_days",
    ),
    (
        "negative turnaround",
        _set("provision.homes.0.turnaround_days", {"dist": "fixed", "value": -3}),
        "provision.homes[0].turnaround_days",
    ),
    (
        "negative recruitment days",
        _with_staffing(recruitment_days={"dist": "fixed", "value": -30}),
        "staffing.recruitment_days",
    ),
    (
        "negative entry age",
        _set("demand.needs.ebd.age_at_entry_years", {"dist": "uniform", "min": -2, "max": 10}),
        "demand.needs.ebd.age_at_entry_years",
    ),
    (
        "entry age 20 against age-out 18",
        _set("demand.needs.ebd.age_at_entry_years", {"dist": "fixed", "value": 20}),
        "demand.needs.ebd.age_at_entry_years",
    ),
    (
        "entry age 40",
        _set("demand.needs.ebd.age_at_entry_years", {"dist": "fixed", "value": 40}),
        "demand.needs.ebd.age_at_entry_years",
    ),
    (
        "close 9 beds of a 4-bed home",
        _with_staffing(
            homes=[{"home": "Elm House", "establishment_fte": 12, "close_beds_when_short": 9}]
        ),
        "staffing.homes[0].close_beds_when_short",
    ),
    (
        "grant above the capital cost",
        _set("provision.homes.0.capital", {"capital_cost_gbp": 100, "grant_gbp": 200}),
        "provision.homes[0].capital.grant_gbp",
    ),
    (
        "DPS tranche after the DPS end",
        _set("provision.dps", [DPS]),
        "provision.dps[0].tranches[0].date",
    ),
    (
        "a home staffed twice",
        _with_staffing(
            homes=[
                {"home": "Elm House", "establishment_fte": 12},
                {"home": "Elm House", "establishment_fte": 10},
            ]
        ),
        "staffing.homes[1].home",
    ),
    ("agency premium 1e308", _with_staffing(agency_premium=1e308), "staffing.agency_premium"),
    ("infinite relief pool", _with_staffing(relief_pool_fte=math.inf), "staffing.relief_pool_fte"),
    (
        "over the work budget",
        lambda d: (
            _set("demand.needs.ebd.arrivals_per_year", 9_000)(d),
            _set("run.horizon_years", 10)(d),
        ),
        "demand: about",
    ),
]


def _validate(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    rc = main(["validate", str(config)])
    return rc, capsys.readouterr().err.strip()


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=10_000)


@pytest.mark.parametrize(("mutate", "field"), [h[1:] for h in HOLES], ids=[h[0] for h in HOLES])
def test_hole_is_refused_naming_the_field(
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    rc, err = _validate(_dump(data), tmp_path, capsys)
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert field in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "provision:\n  homes:\n    - name: A\n      beds: 4\n      beds: 40\n",
            "provision.homes[0].beds: given twice (lines 4 and 5)",
        ),
        ("run: {seed: 1, seed: 2}\n", "run.seed: given twice (lines 1 and 1)"),
    ],
    ids=["block", "flow"],
)
def test_duplicate_keys_are_refused(
    text: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, err = _validate(text, tmp_path, capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and field in err, err


def test_huge_yaml_integer_names_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = MINIMAL.read_text().replace("seed: 1", "seed: " + "9" * 5000)
    rc, err = _validate(text, tmp_path, capsys)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "run.seed" in err and "5000 digits" in err and len(err) < 300, err


def test_long_key_is_cut_in_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = copy.deepcopy(BASE)
    data["k" * 2_000_000] = 1
    rc, err = _validate(_dump(data), tmp_path, capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and len(err) < 1_000, err[:300]


def test_shipped_configs_still_validate() -> None:
    for path in sorted(MINIMAL.parent.glob("*.yaml")):
        load_scenario(path)


# --------------------------------------------------------------------------------------------
# Fuzz: mutate one number (or duplicate one key) of the minimal config.


def _number_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _number_paths(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _number_paths(v, (*path, i))]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return [path]
    return []


NUMBER_PATHS = _number_paths(BASE)
BAD_VALUES = st.sampled_from(
    [True, False, "4", "1e3", -1, -1e9, 0, 0.5, 4.5, 1e308, 2**64, math.inf, -math.inf, None]
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    paths=st.lists(st.sampled_from(NUMBER_PATHS), min_size=1, max_size=2),
    values=st.lists(BAD_VALUES, min_size=2, max_size=2),
    duplicate=st.booleans(),
)
def test_fuzz_refused_or_runs(
    paths: list[tuple[Any, ...]],
    values: list[Any],
    duplicate: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = copy.deepcopy(BASE)
    for path, value in zip(paths, values, strict=False):
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    text = _dump(data)
    if duplicate:  # give the first top-level key of 'run' twice
        text = text.replace("run:\n", "run:\n  seed: 3\n", 1)
    rc, err = _validate(text, tmp_path, capsys)
    if rc == 0:
        config = tmp_path / "config.yaml"
        scenario = load_scenario(config)
        simulate(scenario, 0)
        return
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), err
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "config.yaml")
    assert len(lines) == len(info.value.issues), err
