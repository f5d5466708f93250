"""Back-test: calibrate on the data up to a date, simulate forward, compare with what followed.

The extract is read as it would have looked on the as-of date (later episodes unseen, episodes
open then without an end), a scenario is calibrated from it, and the model is run forward to the
end of the data. Each month's observed number of children in residential care (the mean over the
month's days) is compared with the simulated P5-P95 band; the share of months inside the band is
the coverage.

The band includes the uncertainty of the estimates, not only the randomness of arrivals and
stays: replications are spread over parameter draws (each need's arrival rate from its Gamma
posterior, each mean length of stay from its 95% interval), as a model run from estimated rates
should be judged.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from simulation.calibration.estimate import build_stays
from simulation.calibration.mapping import Rules
from simulation.calibration.pipeline import Calibration, calibrate
from simulation.calibration.readers import Extract
from simulation.calibration.writer import render
from simulation.metrics import placement_spells
from simulation.model import simulate
from simulation.scenario import Scenario, parse_scenario

Z95 = 1.959963984540054


@dataclass
class BacktestResult:
    """Monthly observed vs simulated children in residential care, and the band's coverage."""

    as_of: dt.date
    until: dt.date
    months: pd.DataFrame  # month, observed, mean, p5, p50, p95, covered
    coverage: float
    replications: int
    parameter_draws: int
    calibration: Calibration
    scenario: Scenario
    scenario_text: str


def month_edges(start: dt.date, until: dt.date) -> list[dt.date]:
    """First days of the whole calendar months from ``start`` (a 1st or not) to ``until``."""
    first = dt.date(start.year, start.month, 1)
    if first < start:
        first = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    edges = [first]
    while True:
        d = edges[-1]
        nxt = dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)
        if nxt > until + dt.timedelta(days=1):
            break
        edges.append(nxt)
    return edges


def _mean_count(starts: np.ndarray, ends: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean number of open intervals [start, end) over each bin [lo, hi) (days as floats)."""
    overlap = np.clip(
        np.minimum(ends[None, :], hi[:, None]) - np.maximum(starts[None, :], lo[:, None]), 0, None
    )
    return overlap.sum(axis=1) / (hi - lo)


def observed_monthly(stays: pd.DataFrame, edges: list[dt.date], origin: dt.date) -> np.ndarray:
    """Children in residential care, mean over each month, from stays seen at the data's end."""
    o = pd.Timestamp(origin)
    starts = (stays["start"] - o).dt.days.to_numpy(dtype=float)
    far = (pd.Timestamp(edges[-1]) - o).days + 1.0
    ends = (stays["end"] - o).dt.days.to_numpy(dtype=float)
    ends = np.where(np.isnan(ends), far, ends)
    days = np.array([(e - origin).days for e in edges], dtype=float)
    return _mean_count(starts, ends, days[:-1], days[1:])


def _perturbed(base: dict[str, Any], cal: Calibration, rng: np.random.Generator) -> Scenario:
    """The scenario with arrival rates and mean stays drawn from their estimates' uncertainty."""
    data = copy.deepcopy(base)
    for need, spec in data["demand"]["needs"].items():
        a = cal.arrivals[need]
        if a.n > 0:
            spec["arrivals_per_year"] = float(spec["arrivals_per_year"]) * rng.gamma(a.n, 1 / a.n)
        m = cal.los[need].best.mean
        se = (math.log(m.high) - math.log(m.low)) / (2 * Z95)
        factor = math.exp(rng.normal(0.0, se))
        los = spec["length_of_stay_days"]
        key = "scale" if los["dist"] == "weibull" else "mean"
        los[key] = float(los[key]) * factor
    return parse_scenario(data, "back-test draw")


def backtest(
    extract: Extract,
    as_of: dt.date,
    until: dt.date | None = None,
    rules: Rules | None = None,
    replications: int = 200,
    parameter_draws: int = 20,
    seed: int = 0,
    window_start: dt.date | None = None,
    overlaps: Literal["trim", "error"] = "trim",
) -> BacktestResult:
    """Calibrate on data up to ``as_of`` and score the forecast against the data after it.

    Parameters
    ----------
    until
        Last date the data cover (default: the latest start or end date in the extract).
    replications, parameter_draws
        Replications in all, spread evenly over this many parameter draws (1 = the point
        estimates only, no estimation uncertainty).
    """
    rules = rules or Rules()
    cal = calibrate(extract, as_of, rules, window_start=window_start, overlaps=overlaps)
    eps = cal.episodes
    last_seen = max(eps["DECOM"].max(), eps["DEC"].max())
    until = until or last_seen.date()
    if until <= as_of:
        raise ValueError(f"--until {until} must be after the as-of date {as_of}")
    start = as_of + dt.timedelta(days=1)
    edges = month_edges(start, until)
    if len(edges) < 2:
        raise ValueError(f"no whole month between {start} and {until} to compare")
    horizon_years = (edges[-1] - start).days / 365.25 + 0.01
    # Point estimates: the back-test draws the estimates' uncertainty itself (_perturbed).
    text, scenario = render(
        cal, "backtest", horizon_years=round(horizon_years, 4), point_estimates=True
    )
    base = scenario.to_dict()

    dob = extract.header.set_index("CHILD")["DOB"]
    full = build_stays(eps, dob, until, cal.age_out_years)  # the same stays, seen later
    observed = observed_monthly(full, edges, start)

    days = np.array([(e - start).days for e in edges], dtype=float)
    draws = max(1, min(parameter_draws, replications))
    per = math.ceil(replications / draws)
    rng = np.random.default_rng([seed, 7])
    sims = []
    r = 0
    for _draw in range(draws):
        sc = scenario if draws == 1 else _perturbed(base, cal, rng)
        for _ in range(per):
            if r >= replications:
                break
            rep = simulate(sc, r, seed)
            sp = placement_spells(rep.log, sc.horizon_days)
            # Cohort placements start on day 0 but the children were there before: count them.
            sims.append(_mean_count(sp.start, sp.end, days[:-1], days[1:]))
            r += 1
    sim = np.vstack(sims)
    pct = np.percentile(sim, [5, 50, 95], axis=0)
    months = pd.DataFrame(
        {
            "month": [e.isoformat() for e in edges[:-1]],
            "observed": observed,
            "mean": sim.mean(axis=0),
            "p5": pct[0],
            "p50": pct[1],
            "p95": pct[2],
        }
    )
    months["covered"] = (months["observed"] >= months["p5"]) & (months["observed"] <= months["p95"])
    return BacktestResult(
        as_of=as_of,
        until=until,
        months=months,
        coverage=float(months["covered"].mean()),
        replications=len(sims),
        parameter_draws=draws,
        calibration=cal,
        scenario=scenario,
        scenario_text=text,
    )
