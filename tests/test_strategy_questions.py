"""Strategy questions: a market that ends, and the shipped counterfactuals of Coventry 2023."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import base_config, day, fixed, scenario

from simulation.events import EventKind
from simulation.experiments.spec import load_experiment
from simulation.model import simulate

ROOT = Path(__file__).resolve().parent.parent


def _framework(end: str | None) -> dict:
    fw = {
        "offer_probability": 1.0,
        "search_days": fixed(5),
        "weekly_price_gbp": fixed(5000),
        "in_city_share": 0.0,
    }
    if end is not None:
        fw["end"] = end
    return base_config(
        {
            "a": {
                "arrivals_per_year": 0,
                "length_of_stay_days": fixed(30),
                "age_at_entry_years": fixed(12),
                "scheduled_arrivals": [day(10), day(100), day(200)],
            }
        },
        framework=fw,
        spot_search=fixed(20),
    )


def test_no_framework_search_starts_after_the_framework_ends() -> None:
    """Framework ending on day 150: the arrivals of days 10 and 100 are placed through it, the
    one of day 200 goes straight to a spot search."""
    rep = simulate(scenario(_framework(day(150))), 0, 1)
    log = rep.log
    searches = log.kind == int(EventKind.SEARCH)
    fw_unit = next(u.index for u in rep.units if u.kind == "framework")
    spot_unit = next(u.index for u in rep.units if u.kind == "spot")
    assert list(log.time[searches & (log.unit == fw_unit)]) == [10.0, 100.0]
    assert list(log.time[searches & (log.unit == spot_unit)]) == [200.0]
    # Without an end, all three go through the framework.
    rep = simulate(scenario(_framework(None)), 0, 1)
    searches = rep.log.kind == int(EventKind.SEARCH)
    assert np.count_nonzero(searches & (rep.log.unit == fw_unit)) == 3


def test_the_coventry_counterfactuals_are_what_they_say() -> None:
    exp = load_experiment(ROOT / "experiments" / "coventry-2023-strategy.yaml")
    by_name = {st.name: st.scenario for st in exp.strategies}
    base = by_name["base"]
    none = by_name["no new homes"]
    new_homes = {"Doe Bank Lane short stay", "CWD home 1 (Pearl Hyde)", "CWD home 2"}
    new_homes |= {"EBD home 1", "EBD home 2"}
    assert {h.name for h in base.provision.homes} - {h.name for h in none.provision.homes} == (
        new_homes
    )
    assert none.staffing is not None
    assert not {s.home for s in none.staffing.homes} & new_homes
    assert not [p for p in none.demand.prevention if p.home in new_homes]
    for home in by_name["no slippage"].provision.homes:
        for stage in home.lifecycle.stages if home.lifecycle else []:
            assert stage.slippage_days.mean == 0.0
    fw = by_name["framework ends Dec 2024"].provision.framework
    assert fw is not None and str(fw.end) == "2025-01-01"


def test_sobol_indices_find_the_factor_that_matters_and_the_one_that_does_not() -> None:
    """Arrivals over the run depend on the arrival rate and not at all on inflation: the rate's
    indices are near 1 and inflation's are 0 (within their bootstrap intervals)."""
    from simulation.experiments.sensitivity import sobol
    from simulation.experiments.spec import parse_experiment

    exp = parse_experiment(
        {
            "name": "sobol-check",
            "base": str(ROOT / "configs" / "minimal.yaml"),
            "replications": 2,
            "metrics": ["arrivals"],
            "sweep": [
                {"name": "rate", "path": "demand.needs.ebd.arrivals_per_year", "scale": [0.5, 2]},
                {"name": "inflation", "path": "costs.inflation_per_year", "scale": [0.5, 1.5]},
            ],
        }
    )
    df, runs = sobol(exp, "arrivals", samples=32, replications=2, workers=1, seed=3)
    assert runs == 32 * (2 + 2) * 2
    si = df.set_index("factor")
    assert si.loc["rate", "ST"] > 0.8 and si.loc["rate", "S1"] > 0.8
    assert abs(si.loc["inflation", "ST"]) <= si.loc["inflation", "ST_conf"] + 1e-12
    assert abs(si.loc["inflation", "S1"]) <= si.loc["inflation", "S1_conf"] + 1e-12
    assert si.loc["rate", "S1"] - si.loc["rate", "S1_conf"] <= 1.0 + 1e-9


def test_sobol_from_the_command_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from simulation.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "base": str(ROOT / "configs" / "minimal.yaml"),
                "replications": 2,
                "sweep": [
                    {"name": "rate", "path": "demand.needs.ebd.arrivals_per_year", "set": [3, 9]},
                    {
                        "name": "stay",
                        "path": "demand.needs.ebd.length_of_stay_days.mean",
                        "scale": [0.8, 1.2],
                    },
                ],
            }
        )
    )
    args = ["sensitivity", str(spec), "-m", "arrivals", "--method", "sobol", "-n", "2", "-w", "1"]
    assert main([*args, "--samples", "8", "-q"]) == 0
    out = capsys.readouterr().out
    assert "Sobol indices" in out and "rate" in out and "8 x" not in out
    assert main([*args, "--samples", "12", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--samples: 12 is not a power of 2" in err[0]
    # A range outside the field's bounds is refused before anything runs, naming the path.
    bad = yaml.safe_load(spec.read_text())
    bad["sweep"][0]["set"] = [3, 20_000]
    spec.write_text(yaml.safe_dump(bad))
    assert main([*args, "--samples", "8", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arrivals_per_year" in err[0]
