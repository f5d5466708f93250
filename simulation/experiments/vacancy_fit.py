"""Fitting what a 903 extract cannot show: why council beds stood empty.

The 903 shows when children moved in and out of a home, so its occupancy and the gaps between a
child leaving and the next moving in, but not why a bed stood empty: a child who did not fit, a
manager's refusal, a room under repair. Two parameters of the model carry what is left once the
admission rules are given: ``match_probability`` (the manager's residual acceptance of a child
who fits the rules) and ``repair_probability`` (the chance a departure leaves a room needing
works, of ``repair_days``). They are fitted together to two moments of the homes' record by the
simulated method of moments (McFadden 1989; Gourieroux and Monfort 1996):

- ``occupancy_pct``: occupied child-days over bed-days, pooled over the homes;
- ``short_gap_share``: the share of vacancy gaps no longer than the observed median gap.

Occupancy alone cannot separate the two: the mean gap is fixed by occupancy and the number of
departures. The shape of the gaps can: a repair adds a block of days to a share of the gaps,
where refusals lengthen the search before every admission.

Both moments are measured the same way on the simulation as on the data
(:func:`simulation.calibration.pipeline.observed_occupancy` over a window of the same length,
from the start of the run), on common random numbers at every grid point. An observed window is
one realisation, so the fitted region is the set of parameters under which the observed pair is
a plausible single run: its Mahalanobis distance from the simulated mean, in the covariance of
one replication's moments, within the 95% point of chi-squared with 2 degrees of freedom. The
point estimate is the grid point nearest in that distance.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.calibration.pipeline import UnitEstimate, observed_occupancy
from simulation.experiments.occupancy import OccupancyError, scenario_homes
from simulation.metrics.context import build_context
from simulation.model import simulate
from simulation.pool import ProgressCallback, process_map
from simulation.runner import replication_batches
from simulation.scenario import Scenario, parse_scenario
from simulation.uncertain import realise

CHI2_2DF_95 = 5.991464547107979  # chi-squared, 2 degrees of freedom, 95th percentile
# A coarse grid: one window of a few homes rarely pins either value closer than this (the
# plausible region is usually wide), so a finer grid would only look more precise.
MATCH_GRID = (0.2, 0.4, 0.6, 0.8, 1.0)
REPAIR_GRID = (0.0, 0.2, 0.4, 0.6)
MIN_GAPS = 5  # fewer observed vacancy gaps than this give no usable shape


@dataclass(frozen=True)
class VacancyRecord:
    """What the 903 shows of some homes over a window: pooled occupancy and the vacancy gaps."""

    occupancy_pct: float
    gaps_days: tuple[float, ...]
    window_days: int

    @property
    def median_gap_days(self) -> float:
        return float(np.median(self.gaps_days))

    @property
    def short_gap_share(self) -> float:
        gaps = np.asarray(self.gaps_days)
        return float(np.mean(gaps <= np.median(gaps)))


@dataclass(frozen=True)
class VacancyFit:
    """The fitted pair, the plausible region's range of each, and the fit's quality."""

    homes: tuple[str, ...]
    match_probability: float
    repair_probability: float
    match_range: tuple[float, float]
    repair_range: tuple[float, float]
    distance: float  # Mahalanobis distance of the observation at the fitted point
    observed: tuple[float, float]  # (occupancy_pct, short_gap_share)
    simulated: tuple[float, float]  # their simulated means at the fitted point
    replications: int
    grid_points: int

    def note(self) -> str:
        """One line for the calibrated scenario's comments."""
        return (
            f"fitted with repair_probability by the simulated method of moments to "
            f"{', '.join(self.homes)} (occupancy {self.observed[0]:.1f}%, simulated "
            f"{self.simulated[0]:.1f}%; share of gaps at or below the median "
            f"{self.observed[1]:.2f}, simulated {self.simulated[1]:.2f}); plausible "
            f"match_probability {self.match_range[0]:.2f}-{self.match_range[1]:.2f}, "
            f"repair_probability {self.repair_range[0]:.2f}-{self.repair_range[1]:.2f} "
            f"({self.replications} replications a point, docs/model.md)"
        )


def with_vacancy_parameters(
    scenario: Scenario, homes: Sequence[str], match: float, repair: float
) -> Scenario:
    data = scenario.to_dict()
    for home in data["provision"]["homes"]:
        if home["name"] in homes:
            home["match_probability"] = match
            home["repair_probability"] = repair
    return parse_scenario(data)


def _stays(
    ctx_units: NDArray[np.int16],
    placement: NDArray[np.int64],
    start: NDArray[np.float64],
    end: NDArray[np.float64],
    unit: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A unit's stays as whole days: spells of one placement (split by price changes) joined."""
    mine = ctx_units == unit
    ids = placement[mine]
    if not len(ids):
        return np.zeros(0), np.zeros(0)
    frame = pd.DataFrame({"id": ids, "start": start[mine], "end": end[mine]})
    g = frame.groupby("id", sort=False)
    return np.floor(g["start"].min().to_numpy()), np.floor(g["end"].max().to_numpy())


def simulated_record(
    scenario: Scenario,
    replication: int,
    seed: int,
    homes: Sequence[str],
    window_days: int,
    median_gap_days: float,
) -> tuple[float, float]:
    """One replication's (occupancy_pct, short_gap_share) over its first ``window_days``,
    measured as the 903's are (whole days; a stay open at the window's end runs to it)."""
    # The replication's own draw of any uncertain input (docs/model.md, "Uncertain inputs").
    scenario = realise(scenario, replication, seed)
    rep = simulate(scenario, replication, seed)
    ctx = build_context(scenario, rep)
    day0 = pd.Timestamp(scenario.run.start_date)
    lo, hi = day0, day0 + pd.Timedelta(days=window_days)
    occupied = usable = 0.0
    gaps: list[float] = []
    for info in rep.units:
        if info.name not in homes:
            continue
        s, e = _stays(
            ctx.placed.unit, ctx.placed.placement, ctx.placed.start, ctx.placed.end, info.index
        )
        starts = pd.Series(day0 + pd.to_timedelta(s, unit="D"), dtype="datetime64[ns]")
        # A stay still open at the horizon has no end (the 903's open episode).
        open_end = e >= math.floor(scenario.horizon_days)
        ends = pd.Series(day0 + pd.to_timedelta(e, unit="D"), dtype="datetime64[ns]").where(
            ~open_end
        )
        occ, use, g = observed_occupancy(starts, ends, info.beds, lo, hi)
        occupied, usable = occupied + occ, usable + use
        gaps += g
    occupancy = 100.0 * occupied / usable if usable > 0 else math.nan
    short = float(np.mean(np.asarray(gaps) <= median_gap_days)) if gaps else math.nan
    return occupancy, short


def _batch(
    item: tuple[Scenario, int, tuple[str, ...], int, float, list[int]],
) -> list[tuple[float, float]]:
    scenario, seed, homes, window, median, reps = item
    return [simulated_record(scenario, r, seed, homes, window, median) for r in reps]


def fit_vacancies(
    scenario: Scenario,
    homes: Sequence[str],
    record: VacancyRecord,
    replications: int,
    seed: int,
    workers: int = 1,
    match_grid: Sequence[float] = MATCH_GRID,
    repair_grid: Sequence[float] = REPAIR_GRID,
    progress: ProgressCallback | None = None,
) -> VacancyFit:
    """Fit ``match_probability`` and ``repair_probability`` of ``homes`` (shared) to their
    record, over a grid, on common random numbers (module docstring)."""
    known = set(scenario_homes(scenario))
    unknown = [h for h in homes if h not in known]
    if unknown or not homes:
        raise OccupancyError(
            f"homes: no council home named '{(unknown or [''])[0][:60]}' "
            f"(homes: {', '.join(sorted(known))})"
        )
    if len(record.gaps_days) < MIN_GAPS:
        raise OccupancyError(
            f"vacancy gaps: {len(record.gaps_days)} observed, at least {MIN_GAPS} are needed "
            "to fit repairs beside acceptance; fit match_probability alone "
            "(sufficiency occupancy --fit-home)"
        )
    for name, value in (("window_days", record.window_days),):
        if value > scenario.horizon_days:
            raise OccupancyError(
                f"{name}: the observed window ({value} days) is longer than the run "
                f"({scenario.horizon_days:.0f} days); lengthen run.horizon_years"
            )
    names = tuple(homes)
    median = record.median_gap_days
    obs = np.array([record.occupancy_pct, record.short_gap_share])
    batches = replication_batches(replications, max(workers, 1))
    points = list(product(match_grid, repair_grid))
    rows: list[tuple[float, float, float, float, NDArray[np.float64]]] = []
    for match, repair in points:
        s = with_vacancy_parameters(scenario, names, match, repair)
        values: list[tuple[float, float]] = []
        for part in process_map(
            _batch, [(s, seed, names, record.window_days, median, b) for b in batches], workers
        ):
            values += part
            if progress is not None:
                progress(len(part))
        x = np.asarray(values, dtype=float)
        x = x[~np.isnan(x).any(axis=1)]
        if len(x) < 3:
            continue
        mean = x.mean(axis=0)
        cov = np.cov(x, rowvar=False) + np.diag([1e-9, 1e-9])
        d = obs - mean
        rows.append((match, repair, float(d @ np.linalg.solve(cov, d)), 0.0, mean))
    if not rows:
        raise OccupancyError(
            "homes: the simulated homes record no vacancy gaps in the window; lengthen the "
            "window or check the homes take children"
        )
    best = min(rows, key=lambda r: r[2])
    inside = [r for r in rows if r[2] <= CHI2_2DF_95]
    if not inside:
        raise OccupancyError(
            f"the observed record (occupancy {obs[0]:.1f}%, {obs[1]:.2f} of gaps at or below "
            f"{median:.0f} days) is not a plausible run at any grid point: the nearest, "
            f"match_probability {best[0]:g} and repair_probability {best[1]:g}, gives "
            f"{best[4][0]:.1f}% and {best[4][1]:.2f}; check the homes' admission rules, beds "
            "and the assumed repair and transition days"
        )
    return VacancyFit(
        homes=names,
        match_probability=best[0],
        repair_probability=best[1],
        match_range=(min(r[0] for r in inside), max(r[0] for r in inside)),
        repair_range=(min(r[1] for r in inside), max(r[1] for r in inside)),
        distance=math.sqrt(best[2]),
        observed=(float(obs[0]), float(obs[1])),
        simulated=(float(best[4][0]), float(best[4][1])),
        replications=replications,
        grid_points=len(points),
    )


def pooled_record(
    units: Sequence[UnitEstimate], window_start: dt.date, as_of: dt.date
) -> VacancyRecord:
    """The homes' 903 record pooled: occupied child-days over bed-days, every gap."""
    usable = sum(u.usable_days for u in units)
    return VacancyRecord(
        occupancy_pct=100.0 * sum(u.occupied_days for u in units) / usable if usable else 0.0,
        gaps_days=tuple(g for u in units for g in u.gaps_days),
        window_days=(as_of - window_start).days,
    )
