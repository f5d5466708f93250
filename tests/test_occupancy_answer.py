"""`sufficiency occupancy`: the per-home answer, the new-home sizes, the fit, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import base_config, fixed, scenario

from simulation.cli import main
from simulation.experiments.occupancy import (
    _pooled_occupancy,
    answer,
    fit_match_probability,
    with_match_probability,
)

MINIMAL = str(Path(__file__).resolve().parent.parent / "configs" / "minimal.yaml")


def test_the_command_prints_and_writes_the_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "occ"
    rc = main(
        ["occupancy", MINIMAL, "-n", "12", "--workers", "1", "--sizes", "1,3", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert rc == 0
    assert "Elm House" in printed and "A new home for Emotional and behavioural" in printed
    homes = pd.read_csv(out / "homes.csv")
    sizes = pd.read_csv(out / "sizes.csv")
    weekly = pd.read_parquet(out / "homes_weekly.parquet")
    assert list(homes["home"]) == ["Elm House"] and list(sizes["beds"]) == [1, 3]
    for table in (homes, sizes):
        probs = table.filter(like="p_at_or_above")
        assert ((probs >= 0) & (probs <= 1)).all().all()
        assert (table["occupancy_p5_pct"] <= table["occupancy_p95_pct"]).all()
        assert (table["occupancy_p95_pct"] <= 100).all()
    # The printed mean is the table's, and the weekly file holds every replication's weeks.
    assert f"{homes['occupancy_mean_pct'][0]:.1f}%" in printed
    assert weekly["replication"].nunique() == 12
    assert weekly["occupancy_pct"].dropna().between(0, 100).all()


def test_a_new_home_takes_children_out_of_spot() -> None:
    """Minimal's one home is full most of the time: a new home cuts new spot placements, and
    a bigger one cuts more (paired on common random numbers)."""
    s = scenario(
        base_config(
            {
                "a": {
                    "arrivals_per_year": 8,
                    "length_of_stay_days": fixed(365),
                    "age_at_entry_years": fixed(10),
                }
            },
            homes=[{"name": "Elm", "beds": 2, "needs": ["a"]}],
            order=["internal", "spot"],
            horizon_years=4,
        )
    )
    a = answer(s, 20, 3, sizes=(1, 4))
    change = a.sizes.set_index("beds")["spot_placements_change"]
    assert change[1] < 0 and change[4] < change[1]
    # A 1-bed home with this much demand is nearly always full; a 4-bed one less so.
    occ = a.sizes.set_index("beds")["occupancy_mean_pct"]
    assert occ[1] > occ[4]


def _fit_system(p: float) -> dict:
    """One 3-bed home with a coin-flip admission: its occupancy rises with ``p``."""
    config = base_config(
        {
            "a": {
                "arrivals_per_year": 6,
                "length_of_stay_days": fixed(200),
                "age_at_entry_years": fixed(10),
            }
        },
        homes=[{"name": "Elm", "beds": 3, "needs": ["a"], "match_probability": p}],
        spot_search=fixed(20),
        order=["internal", "spot"],
        horizon_years=6,
    )
    return config


def test_the_fit_recovers_a_known_acceptance() -> None:
    """Round trip: occupancy simulated at p = 0.45 (on other seeds) -> fit -> the interval
    covers 0.45, and the fitted scenario reproduces the observed occupancy."""
    truth = scenario(_fit_system(0.45))
    observed = float(np.mean(_pooled_occupancy((truth, 999, ("Elm",), list(range(200))))))
    fit = fit_match_probability(scenario(_fit_system(1.0)), ["Elm"], observed, 60, 7, steps=8)
    assert fit.low <= 0.45 <= fit.high, fit
    assert abs(fit.simulated_pct - observed) <= fit.simulated_half_width_pct
    refit = with_match_probability(scenario(_fit_system(1.0)), ["Elm"], fit.match_probability)
    assert refit.provision.homes[0].match_probability == fit.match_probability


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--need", "nope"], "--need: unknown need 'nope'"),
        (["--sizes", "0,2"], "--sizes:"),
        (["--fit-home", "Elm House"], "--fit-home and --observed go together"),
        (["--fit-home", "Oak", "--observed", "80"], "--fit-home: no council home named 'Oak'"),
        (["--observed", "99.9", "--fit-home", "Elm House"], "out of reach"),
    ],
)
def test_bad_input_is_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    rc = main(["occupancy", MINIMAL, "-n", "10", "--workers", "1", "-q", "--out", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_calibration_round_trip_recovers_the_acceptance(tmp_path: Path) -> None:
    """Synthetic 903 from a home with a known acceptance (0.45) -> calibrate with its providers
    file -> the home's observed occupancy (what one run achieved) -> fit: the 903 measure
    agrees with the simulation's, and the fitted range (one observed run, not a mean) covers
    0.45."""
    import datetime as dt

    from simulation.calibration.mapping import Rules, read_providers
    from simulation.calibration.pipeline import calibrate
    from simulation.calibration.readers import read_extract
    from simulation.calibration.synth import synth_903

    truth = scenario(_fit_system(0.45))
    as_of = dt.date(2029, 12, 31)
    for rep in range(2):
        syn = synth_903(truth, seed=11, replication=rep, as_of=as_of, messiness=0.0)
        (tmp_path / f"r{rep}").mkdir()
        paths = syn.write(tmp_path / f"r{rep}")
        cal = calibrate(
            read_extract(paths["episodes"], paths["header"]),
            as_of,
            Rules(providers=read_providers(paths["providers"])),
            window_start=dt.date(2024, 1, 1),
        )
        [home] = [u for u in cal.units if u.name == "Elm"]
        assert home.occupancy_pct is not None and home.vacancy_gaps > 3
        simulated = _pooled_occupancy((truth, 11, ("Elm",), [rep]))[0]
        assert abs(home.occupancy_pct - simulated) < 3.0
        fit = fit_match_probability(
            scenario(_fit_system(1.0)), ["Elm"], home.occupancy_pct, 30, 7, steps=6
        )
        assert fit.low <= 0.45 <= fit.high, fit
