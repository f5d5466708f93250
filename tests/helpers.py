"""Scenario builders and log readers shared by the model's property and theory tests.

Scenarios are built as plain dicts and validated with :func:`simulation.parse_scenario`, exactly
as a YAML config would be. The log readers work on the raw event log (the single source of
truth), independently of :mod:`simulation.metrics`, so the tests can check the metrics too.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from simulation import Scenario, parse_scenario
from simulation.events import EventKind
from simulation.model import Replication

START = dt.date(2024, 1, 1)
DAYS_PER_YEAR = 365.25


def fixed(value: float) -> dict[str, Any]:
    return {"dist": "fixed", "value": value}


def exponential(mean: float) -> dict[str, Any]:
    return {"dist": "exponential", "mean": mean}


def lognormal(mean: float, cv: float) -> dict[str, Any]:
    return {"dist": "lognormal", "mean": mean, "cv": cv}


def day(n: int, start: dt.date = START) -> str:
    """ISO date ``n`` days after ``start``."""
    return (start + dt.timedelta(days=n)).isoformat()


def single_route(route: str = "supported") -> dict[str, float]:
    return {r: (1.0 if r == route else 0.0) for r in ("foster", "home", "supported", "other")}


def base_config(
    needs: dict[str, dict[str, Any]],
    *,
    homes: Iterable[dict[str, Any]] = (),
    blocks: Iterable[dict[str, Any]] = (),
    framework: dict[str, Any] | None = None,
    spot_search: dict[str, Any] | None = None,
    order: list[str] | None = None,
    cohort: Iterable[dict[str, Any]] = (),
    horizon_years: float = 1.0,
    seed: int = 1,
    age_out_years: float = 18.0,
    start: dt.date = START,
    name: str = "test",
) -> dict[str, Any]:
    """A complete scenario dict; each need gets a single exit route unless it names routes."""
    needs = copy.deepcopy(needs)
    routes = {n: spec.pop("routes", single_route()) for n, spec in needs.items()}
    provision: dict[str, Any] = {
        "homes": [{"weekly_running_cost_gbp": 20000, **h} for h in homes],
        "block_contracts": [{"weekly_price_per_bed_gbp": 5000, **b} for b in blocks],
        "spot": {
            "search_days": spot_search if spot_search is not None else fixed(0),
            "weekly_price_gbp": fixed(6000),
            "in_city_share": 0.0,
        },
    }
    if framework is not None:
        provision["framework"] = framework
    if order is None:
        order = ["internal", "block", *(["framework"] if framework else []), "spot"]
    return {
        "name": name,
        "run": {"start_date": start.isoformat(), "horizon_years": horizon_years, "seed": seed},
        "demand": {"needs": needs, "initial_cohort": list(cohort)},
        "provision": provision,
        "placement_policy": {"order": order},
        "step_down": {"routes": routes, "age_out_years": age_out_years},
    }


def pool_config(
    beds: int,
    arrivals_per_year: float,
    los: dict[str, Any],
    *,
    horizon_years: float = 20.0,
    spot_search: dict[str, Any] | None = None,
    open_date: str | None = None,
    age_at_entry: float = 5.0,
    **need_extra: Any,
) -> dict[str, Any]:
    """One need, one internal home of ``beds`` beds, spot overflow: an M/G/c/c system.

    Children enter young (5 by default) so that nobody ages out of a 20-year run: stays end only
    by their planned length.
    """
    home: dict[str, Any] = {"name": "Pool", "beds": beds, "needs": ["a"]}
    if open_date is not None:
        home["open_date"] = open_date
    need = {
        "arrivals_per_year": arrivals_per_year,
        "length_of_stay_days": los,
        "age_at_entry_years": fixed(age_at_entry),
        **need_extra,
    }
    return base_config(
        {"a": need},
        homes=[home],
        spot_search=spot_search,
        order=["internal", "spot"],
        horizon_years=horizon_years,
    )


def scenario(config: dict[str, Any]) -> Scenario:
    return parse_scenario(config)


# ---------------------------------------------------------------------------------------------
# Reading the log


def unit_of_kind(rep: Replication, kind: str) -> int:
    return next(u.index for u in rep.units if u.kind == kind)


def log_rows(rep: Replication) -> list[tuple[float, EventKind, int, int]]:
    """The log as (time, kind, child, unit) tuples."""
    log = rep.log
    return [
        (float(t), EventKind(int(k)), int(c), int(u))
        for t, k, c, u in zip(log.time, log.kind, log.child, log.unit, strict=True)
    ]


def spot_placements(rep: Replication) -> int:
    """New spot placements: every PLACE in spot but the cohort's own, in spot before the run."""
    log = rep.log
    spot = unit_of_kind(rep, "spot")
    cohort = log.child[(log.kind == EventKind.ARRIVE) & (log.unit >= 0)]
    new = (log.time > 0) | ~np.isin(log.child, cohort)
    return int(np.sum((log.kind == EventKind.PLACE) & (log.unit == spot) & new))


def first_place_unit(rep: Replication) -> dict[int, int]:
    """Unit of each child's first placement."""
    log = rep.log
    first: dict[int, int] = {}
    for i in np.flatnonzero(log.kind == EventKind.PLACE):
        first.setdefault(int(log.child[i]), int(log.unit[i]))
    return first


def occupancy_time_average(rep: Replication, unit: int, t0: float, t1: float) -> float:
    """Time-average number of children in ``unit`` over [t0, t1], from the raw log."""
    return occupancy_moments(rep, unit, t0, t1)[0]


def occupancy_moments(
    rep: Replication, unit: int, t0: float, t1: float, centre: float = 0.0
) -> tuple[float, float]:
    """Time averages of N(t) and (N(t) - centre)^2 over [t0, t1], N = children in ``unit``."""
    log = rep.log
    level = 0
    last = t0
    area = 0.0
    area2 = 0.0
    for t, k, u in zip(log.time, log.kind, log.unit, strict=True):
        t = float(t)
        if t > t1:
            break
        delta = 0
        if int(u) == unit and k == EventKind.PLACE:
            delta = 1
        elif int(u) == unit and k in (EventKind.EXIT, EventKind.DISPLACE):
            delta = -1
        if delta == 0:
            continue
        if t > t0:
            area += level * (t - last)
            area2 += (level - centre) ** 2 * (t - last)
            last = t
        level += delta
    area += level * (t1 - last)
    area2 += (level - centre) ** 2 * (t1 - last)
    return area / (t1 - t0), area2 / (t1 - t0)


# ---------------------------------------------------------------------------------------------
# Statistics


def mean_ci(x: Iterable[float], confidence: float = 0.99) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean of independent replications."""
    arr = np.asarray(list(x), dtype=float)
    n = len(arr)
    mean = float(arr.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(arr.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang-B blocking probability by the stable recursion B(k) = aB(k-1) / (k + aB(k-1))."""
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


LOG_COLUMNS = ("time", "kind", "child", "unit", "need", "value", "in_city", "route")
LOG_FLOAT_COLUMNS = ("time", "value")


def assert_logs_equal(log: Any, expected: Any, key: str) -> None:
    """A pinned event log, row for row: the same rows in the same order, with every integer
    column equal and times and values equal to 1e-12 relative. A newer scipy or libm may
    change a distribution's quantile in its last bit; any change of the model's behaviour
    changes a row's kind, child, unit or order, or a time by far more."""
    n = len(expected[f"{key}/time"])
    assert len(log.time) == n, f"{key}: {len(log.time)} rows, pinned {n}"
    for col in LOG_COLUMNS:
        actual, pinned = np.asarray(getattr(log, col)), expected[f"{key}/{col}"]
        if col in LOG_FLOAT_COLUMNS:
            np.testing.assert_allclose(actual, pinned, rtol=1e-12, atol=1e-9, err_msg=col)
        else:
            np.testing.assert_array_equal(actual, pinned, err_msg=col)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux: /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
