"""Fitting acceptance and repairs to a 903 record (simulation.experiments.vacancy_fit).

The simulated moments are measured exactly as the 903's are; the plausible region of a fit from
synthetic data covers the parameters that made it; a record no grid point can produce is
refused; and ``calibrate --fit-vacancies`` writes a scenario that validates and runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from helpers import base_config, fixed, lognormal

from simulation import load_scenario, parse_scenario
from simulation.calibration.mapping import Rules, read_providers
from simulation.calibration.pipeline import Calibration, calibrate
from simulation.calibration.readers import read_extract
from simulation.calibration.synth import synth_903
from simulation.calibration.writer import VacancySettings, render
from simulation.cli import main
from simulation.experiments.occupancy import OccupancyError
from simulation.experiments.vacancy_fit import (
    VacancyRecord,
    fit_vacancies,
    pooled_record,
    simulated_record,
)

HOMES = ("Elm", "Oak")
TRUE_MATCH, TRUE_REPAIR = 0.45, 0.3


def _system(match: float, repair: float, horizon_years: float = 6) -> dict[str, Any]:
    """Two 3-bed homes in excess demand, with repairs and move-in transitions."""
    return base_config(
        {
            "a": {
                "arrivals_per_year": 14,
                "length_of_stay_days": lognormal(200, 0.6),
                "age_at_entry_years": fixed(12),
            }
        },
        homes=[
            {
                "name": name,
                "beds": 3,
                "needs": ["a"],
                "match_probability": match,
                "repair_probability": repair,
                "repair_days": lognormal(14, 0.5),
                "transition_days": lognormal(21, 0.5),
            }
            for name in HOMES
        ],
        spot_search=fixed(20),
        order=["internal", "spot"],
        horizon_years=horizon_years,
    )


def _calibrated(tmp_path: Path, seed: int, window_start: dt.date, as_of: dt.date) -> Calibration:
    truth = parse_scenario(_system(TRUE_MATCH, TRUE_REPAIR))
    paths = synth_903(truth, seed=seed, as_of=as_of, messiness=0.0).write(tmp_path)
    return calibrate(
        read_extract(paths["episodes"], paths["header"]),
        as_of,
        Rules(providers=read_providers(paths["providers"])),
        window_start=window_start,
    )


def test_the_simulation_is_measured_as_the_903_is(tmp_path: Path) -> None:
    """The same replication seen two ways, over the same window from the run's start: as its
    903 extract (synth-903 -> calibrate) and by the fit's own measure, agree to rounding."""
    start = dt.date(2024, 1, 1)
    as_of = start + dt.timedelta(days=3 * 365)
    cal = _calibrated(tmp_path, 5, start, as_of)
    record = pooled_record([u for u in cal.units if u.name in HOMES], start, as_of)
    truth = parse_scenario(_system(TRUE_MATCH, TRUE_REPAIR))
    occupancy, short = simulated_record(
        truth, 0, 5, HOMES, record.window_days, record.median_gap_days
    )
    assert len(record.gaps_days) >= 10
    assert occupancy == pytest.approx(record.occupancy_pct, abs=0.5)
    assert short == pytest.approx(record.short_gap_share, abs=0.05)


def test_the_plausible_region_covers_the_parameters_that_made_the_data(tmp_path: Path) -> None:
    """Synthetic 903 from acceptance 0.45 and repair chance 0.3 -> calibrate -> fit: both true
    values lie in the plausible region, and the fitted point reproduces the record."""
    cal = _calibrated(tmp_path, 12, dt.date(2026, 1, 1), dt.date(2029, 12, 31))
    _, scenario = render(cal, "cal", vacancies=VacancySettings(HOMES))
    record = pooled_record(list(cal.units), cal.window_start, cal.as_of)
    fit = fit_vacancies(
        scenario,
        HOMES,
        record,
        replications=12,
        seed=7,
        match_grid=(0.2, 0.45, 1.0),
        repair_grid=(0.0, 0.3, 0.6),
    )
    assert fit.match_range[0] <= TRUE_MATCH <= fit.match_range[1], fit
    assert fit.repair_range[0] <= TRUE_REPAIR <= fit.repair_range[1], fit
    assert fit.distance**2 <= 5.99
    assert abs(fit.simulated[0] - record.occupancy_pct) < 10


def test_a_record_no_parameter_can_produce_is_refused() -> None:
    scenario = parse_scenario(_system(1.0, 0.0))
    record = VacancyRecord(occupancy_pct=8.0, gaps_days=(300.0,) * 10, window_days=730)
    with pytest.raises(OccupancyError, match="not a plausible run at any grid point"):
        fit_vacancies(scenario, HOMES, record, 6, 1, match_grid=(0.5, 1.0), repair_grid=(0.0, 0.5))


def test_calibrate_fits_and_writes_a_scenario_that_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = parse_scenario(_system(TRUE_MATCH, TRUE_REPAIR, horizon_years=4))
    (tmp_path / "x903").mkdir()
    paths = synth_903(truth, seed=3, messiness=0.0).write(tmp_path / "x903")
    out = tmp_path / "cal.yaml"
    common = [
        "calibrate",
        "--episodes",
        str(paths["episodes"]),
        "--header",
        str(paths["header"]),
        "--as-of",
        "2027-12-31",
        "--since",
        "2026-01-01",
        "--horizon-years",
        "2.1",
        "--no-report",
        "-o",
        str(out),
    ]
    # Without --providers there are no council homes to fit: one line, nothing written.
    assert main([*common, "--fit-vacancies"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fit-vacancies" in err[0] and not out.exists()
    rc = main(
        [
            *common,
            "--providers",
            str(paths["providers"]),
            "--fit-vacancies",
            "--fit-replications",
            "10",
            "--workers",
            "1",
        ]
    )
    assert rc == 0
    text = out.read_text()
    assert text.count("FITTED: fitted with repair_probability") == len(HOMES)
    scenario = load_scenario(out)
    homes = {h.name: h for h in scenario.provision.homes}
    assert {homes[h].repair_probability for h in HOMES} <= {0.0, 0.2, 0.4, 0.6}
    assert all(homes[h].transition_days is not None for h in HOMES)
