"""Published outcomes against the simulation: the one home of the check behind ``observed``.

A config's ``observed`` points are figures a council has published (children in homes on a day,
how many of them in the city). Each is set beside the weekly series it names, in the week that
holds its date: the simulated mean and P5-P95 across replications, and whether the published
value falls inside that range. ``run``, ``report`` and ``experiment`` all call this module with
a run's weekly table (one row per replication and week), so they show the same numbers.

The range is the spread of the simulation's outcomes, not a confidence interval of its mean: a
point outside it is one the model, as configured, finds unusual (fewer than 1 replication in 10
falls as far out). With 5 points and a well-specified model, about 9 in 10 are expected inside.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from simulation.compare import paired_differences
from simulation.runner import QUANTILES
from simulation.scenario import Scenario

CHECK_COLUMNS = (
    "date",
    "metric",
    "value",
    "week",
    "week_start",
    "replications",
    "mean",
    "p5",
    "p95",
    "inside",
    "source",
)
"""The columns of :func:`check_points` (and of ``observed.csv``)."""


def week_of(scenario: Scenario, when: dt.date) -> int:
    """The week (from 0, weeks starting on the start date's weekday) that holds ``when``."""
    return (when - scenario.run.start_date).days // 7


def point_label(when: dt.date, metric: str) -> str:
    """A column name for one point's per-replication values: ``children_placed@2021-04-01``."""
    return f"{metric}@{when.isoformat()}"


def point_values(scenario: Scenario, weekly: pd.DataFrame) -> pd.DataFrame:
    """Each replication's value of every observed point: ``replication`` and one column per
    point (:func:`point_label`), from one run's weekly table."""
    if weekly.empty:
        raise ValueError("the weekly table is empty: no replication to compare with")
    out: dict[str, object] = {}
    for point in scenario.observed:
        week = week_of(scenario, point.date)
        rows = weekly[weekly["week"] == week].sort_values("replication")
        if "replication" not in out:
            out["replication"] = rows["replication"].to_numpy()
        out[point_label(point.date, point.metric)] = rows[point.metric].to_numpy(dtype=float)
    return pd.DataFrame(out)


def check_points(scenario: Scenario, weekly: pd.DataFrame) -> pd.DataFrame:
    """Every observed point beside the simulation (:data:`CHECK_COLUMNS`), from one run's weekly
    table: see :func:`check_values`."""
    return check_values(scenario, point_values(scenario, weekly))


def check_values(scenario: Scenario, values: pd.DataFrame) -> pd.DataFrame:
    """Every observed point beside the simulation (:data:`CHECK_COLUMNS`): its week, the
    simulated mean and P5/P95 across replications (as in the run's fans), and ``inside``:
    whether the published value is within [P5, P95] (empty when no replication has a value).
    ``values``: each replication's value of each point (:func:`point_values`)."""
    start = scenario.run.start_date
    rows = []
    for point in scenario.observed:
        x = values[point_label(point.date, point.metric)].to_numpy(dtype=float)
        x = x[~np.isnan(x)]
        week = week_of(scenario, point.date)
        row: dict[str, object] = {
            "date": point.date,
            "metric": point.metric,
            "value": point.value,
            "week": week,
            "week_start": start + dt.timedelta(days=7 * week),
            "replications": len(x),
        }
        if len(x):
            p5, p95 = np.percentile(x, [QUANTILES["p5"], QUANTILES["p95"]])
            row |= {"mean": float(x.mean()), "p5": float(p5), "p95": float(p95)}
            row["inside"] = bool(p5 <= point.value <= p95)
        else:
            row |= {"mean": np.nan, "p5": np.nan, "p95": np.nan, "inside": None}
        row["source"] = point.source
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def paired_at_points(
    scenario: Scenario, baseline: pd.DataFrame, edited: pd.DataFrame
) -> pd.DataFrame:
    """The paired effect (edited minus baseline, same replication seeds) at every observed
    point, as :func:`simulation.compare.paired_differences` with ``date`` and ``metric``
    columns first. ``baseline``, ``edited``: :func:`point_values` of two strategies."""
    labels = [point_label(p.date, p.metric) for p in scenario.observed]
    diffs = paired_differences(baseline, edited, labels)
    diffs.insert(0, "date", [p.date for p in scenario.observed])
    diffs.insert(1, "series", [p.metric for p in scenario.observed])
    return diffs


def coverage(checks: pd.DataFrame) -> tuple[int, int]:
    """(points inside their simulated P5-P95, points)."""
    return int((checks["inside"] == True).sum()), len(checks)  # noqa: E712 (None is not False)


def coverage_text(checks: pd.DataFrame) -> str:
    """``3 of 5 published points inside the simulated P5-P95``."""
    inside, total = coverage(checks)
    noun = "point" if total == 1 else "points"
    return f"{inside} of {total} published {noun} inside the simulated P5-P95"
