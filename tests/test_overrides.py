"""Overrides by path and experiment specs: changes land where the path says, and a path that
does not exist or a value of the wrong type is refused before anything runs, naming the path."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulation.cli import main
from simulation.errors import ScenarioError
from simulation.experiments.overrides import (
    Override,
    PathError,
    apply_overrides,
    parse_path,
    shift_months,
)
from simulation.experiments.spec import load_experiment, parse_experiment
from simulation.scenario import read_yaml

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "configs" / "minimal.yaml"
COVENTRY = ROOT / "configs" / "coventry-2023.yaml"


def raw(path: Path = COVENTRY) -> dict[str, Any]:
    data = read_yaml(path)
    assert isinstance(data, dict)
    return data


def spec(**extra: Any) -> dict[str, Any]:
    return {"name": "t", "base": str(MINIMAL), "replications": 3, **extra}


def one_line_error(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_experiment(data, "exp.yaml")
    return info.value.one_line()


def test_parse_path_segments() -> None:
    segs = parse_path("provision.homes[name=EBD home 1].open_date")
    assert [type(s).__name__ for s in segs] == ["Key", "Key", "Match", "Key"]
    assert parse_path("a[3].b[*].c")[1].index == 3  # type: ignore[union-attr]
    for bad in ("", "a..b", "a.", "a[1", "a[x]b", "a[=1]"):
        with pytest.raises(PathError):
            parse_path(bad)


def test_operations_change_only_their_target() -> None:
    data = raw()
    before = copy.deepcopy(data)
    new, applied = apply_overrides(
        data,
        [
            Override("provision.homes[name=EBD home 1].open_date", "shift_months", 3),
            Override("demand.needs.*.arrivals_per_year", "scale", 1.2),
            Override("provision.homes[0].beds", "add", 1),
            Override("provision.spot.in_city_share", "set", 0.5),
        ],
    )
    homes = {h["name"]: h for h in new["provision"]["homes"]}
    assert homes["EBD home 1"]["open_date"] == "2025-03-01"
    old_homes = {h["name"]: h for h in data["provision"]["homes"]}
    assert homes["EBD home 2"]["open_date"] == old_homes["EBD home 2"]["open_date"]
    for need, d in new["demand"]["needs"].items():
        assert d["arrivals_per_year"] == pytest.approx(
            1.2 * data["demand"]["needs"][need]["arrivals_per_year"]
        )
    assert new["provision"]["homes"][0]["beds"] == data["provision"]["homes"][0]["beds"] + 1
    assert isinstance(new["provision"]["homes"][0]["beds"], int)
    assert new["provision"]["spot"]["in_city_share"] == 0.5
    assert data == before  # the input is not mutated
    assert len(applied[1].locs) == len(data["demand"]["needs"])  # the wildcard reached every need


def test_shift_months_clips_to_month_end() -> None:
    assert shift_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert shift_months(dt.date(2024, 11, 15), 14) == dt.date(2026, 1, 15)
    assert shift_months(dt.date(2024, 3, 1), -3) == dt.date(2023, 12, 1)


@pytest.mark.parametrize(
    ("path", "op", "value", "expected"),
    [
        ("provision.homes[name=EBD 9].open_date", "set", "2025-01-01", "no item with name 'EBD 9'"),
        ("provision.homes[20].beds", "set", 3, "no such item"),
        ("provision.homez[0].beds", "set", 3, "did you mean 'homes'"),
        ("demand.needs.foo.arrivals_per_year", "scale", 1.1, "no such key (have: ebd"),
        ("provision.homes[0].open_date", "shift_months", 3, "not set in the base config"),
        ("provision.homes[0].name", "scale", 2.0, "not a number"),
        ("demand.needs.ebd.length_of_stay_days", "scale", 2.0, "point the path at a number"),
        ("run.horizon_years.x", "set", 1, "is not a mapping"),
    ],
)
def test_bad_paths_are_refused_naming_the_path(
    path: str, op: str, value: Any, expected: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        apply_overrides(raw(), [Override(path, op, value, where="strategies[0].overrides[0]")])
    line = info.value.one_line()
    assert path in line and "strategies[0].overrides[0]" in line
    assert expected in line


def test_set_may_give_a_value_to_a_field_left_at_its_default() -> None:
    new, _ = apply_overrides(
        raw(), [Override("provision.homes[name=EBD home 1].close_date", "set", "2030-01-01")]
    )
    assert new["provision"]["homes"][7]["close_date"] == "2030-01-01"


def test_wrong_type_is_refused_at_load_naming_the_override() -> None:
    line = one_line_error(
        spec(
            strategies=[
                {
                    "name": "late",
                    "overrides": [
                        {"path": "provision.homes[name=Elm House].open_date", "set": "soon"}
                    ],
                }
            ]
        )
    )
    assert line.startswith("exp.yaml: strategies[0].overrides[0]")
    assert "provision.homes[name=Elm House].open_date" in line and "date" in line


def test_cross_field_problems_caused_by_an_override_name_it() -> None:
    line = one_line_error(
        spec(sweep=[{"path": "provision.homes[name=Elm House].needs", "set": [["nope"]]}])
    )
    assert "sweep[0].set[0] (provision.homes[name=Elm House].needs)" in line
    assert "unknown need 'nope'" in line


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"replications": 0}, "replications"),
        ({"strategies": [{"name": "a", "overrides": [{"path": "run.seed"}]}]}, "exactly one"),
        ({"sweep": [{"path": "run.seed", "scale": [1], "add": [1]}]}, "exactly one"),
        ({"baseline": "nobody", "include_base": True}, "baseline: no strategy 'nobody'"),
        ({"metrics": ["cost_totl_gbp"]}, "metrics[0]: unknown metric 'cost_totl_gbp'"),
        ({"base": "missing.yaml"}, "base: base config not found"),
        ({"strategy": []}, "strategy: unknown field; did you mean 'strategies'"),
        (
            {"replications": {"metric": "cost_total_gbp", "max": 10}},
            "exactly one of half_width or relative_half_width",
        ),
    ],
)
def test_spec_errors_are_one_line_with_a_path(extra: dict[str, Any], expected: str) -> None:
    assert expected in one_line_error(spec(**extra))


def test_grid_and_sweep_expand_and_skip_points_equal_to_base() -> None:
    exp = parse_experiment(
        spec(
            grid=[
                {"name": "a", "path": "demand.needs.ebd.arrivals_per_year", "scale": [1.0, 2.0]},
                {"name": "b", "path": "provision.homes[0].beds", "set": [4, 5]},
            ],
            sweep=[{"name": "c", "path": "run.horizon_years", "add": [-1, 1]}],
        ),
        "exp.yaml",
    )
    names = [s.name for s in exp.strategies]
    # a=x1, b=4 is the base itself (4 beds already): not run twice.
    assert names == ["base", "a=x1, b=5", "a=x2, b=4", "a=x2, b=5", "c=-1", "c=+1"]
    assert exp.strategy("c=+1").scenario.run.horizon_years == 6
    assert exp.strategy("a=x2, b=5").levels == {"a": 2.0, "b": 5}


def test_shipped_experiments_validate() -> None:
    for name in ("opening-delays.yaml", "occupancy-stress.yaml"):
        exp = load_experiment(ROOT / "experiments" / name)
        assert exp.strategies[0].name == "base" and len(exp.strategies) > 5
        assert exp.baseline == "base"
    delays = load_experiment(ROOT / "experiments" / "opening-delays.yaml")
    late = delays.strategy("all new homes late=+12m").scenario
    base = delays.strategy("base").scenario
    for h_late, h_base in zip(late.provision.homes, base.provision.homes, strict=True):
        if h_base.open_date is not None:
            assert h_late.open_date == shift_months(h_base.open_date, 12)


def test_cli_refuses_a_bad_override_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            spec(
                strategies=[
                    {
                        "name": "x",
                        "overrides": [{"path": "provision.homes[name=Oak].beds", "set": 2}],
                    }
                ]
            )
        )
    )
    db = tmp_path / "r.duckdb"
    assert main(["experiment", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert "provision.homes[name=Oak].beds" in err and "Traceback" not in err
    assert not db.exists()  # nothing run, nothing written


def test_remove_takes_a_homes_staffing_and_prevention_with_it() -> None:
    """Removing the short-stay home drops its staffing entry and the prevention service that
    runs only while it is open; everything else stays."""
    base = raw()
    home = "Doe Bank Lane short stay"
    ov = Override(f"provision.homes[name={home}]", "remove", True)
    data, _ = apply_overrides(base, [ov])
    assert home not in [h["name"] for h in data["provision"]["homes"]]
    assert home not in [s["home"] for s in data["staffing"]["homes"]]
    assert all(p.get("home") != home for p in data["demand"].get("prevention", []))
    assert len(data["provision"]["homes"]) == len(base["provision"]["homes"]) - 1
    assert len(data["staffing"]["homes"]) == len(base["staffing"]["homes"]) - 1
    from simulation.scenario import parse_scenario

    parse_scenario(data)  # a valid scenario: no reference left behind


def test_remove_refuses_children_living_in_the_removed_home() -> None:
    """The cohort has children in Elm House: where they would live instead is the user's
    choice, so the removal is refused naming the override and the cohort entry."""
    base = raw(MINIMAL)
    base["demand"]["initial_cohort"][0]["unit"] = "Elm House"
    ov = Override("provision.homes[name=Elm House]", "remove", True, where="strategies[0]")
    with pytest.raises(ScenarioError) as err:
        apply_overrides(base, [ov])
    [issue] = err.value.issues[:1]
    assert issue.path.startswith("strategies[0]")
    assert "demand.initial_cohort[0]" in issue.message and "Elm House" in issue.message


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("provision.homes[name=Nowhere]", "no item with name 'Nowhere'"),
        ("run.horizon_years", "is not a list item"),
        ("provision.homes[name=EBD home 1].beds", "is not a list item"),
    ],
)
def test_remove_of_what_is_not_a_list_item_is_refused(path: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as err:
        apply_overrides(raw(), [Override(path, "remove", True)])
    assert expected in str(err.value)


def test_a_strategy_can_remove_homes_and_change_several_paths() -> None:
    """`remove: true` and `paths:` in a strategy: no new EBD homes, both blocks 2 beds fewer."""
    exp = parse_experiment(
        {
            "name": "t",
            "base": str(COVENTRY),
            "replications": 3,
            "strategies": [
                {
                    "name": "no new EBD homes",
                    "overrides": [
                        {
                            "paths": [
                                "provision.homes[name=EBD home 1]",
                                "provision.homes[name=EBD home 2]",
                            ],
                            "remove": True,
                        },
                        {
                            "paths": [
                                "provision.block_contracts[name=In-city block (2 providers)].beds"
                            ],
                            "add": -2,
                        },
                    ],
                }
            ],
        }
    )
    s = next(st.scenario for st in exp.strategies if st.name == "no new EBD homes")
    names = [h.name for h in s.provision.homes]
    assert "EBD home 1" not in names and "EBD home 2" not in names
    assert s.staffing is not None and all(
        h.home not in ("EBD home 1", "EBD home 2") for h in s.staffing.homes
    )
    assert s.provision.block_contracts[0].beds == 9
