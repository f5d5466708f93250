"""Simulation clock helpers: days from the start date, weeks, months, UK financial years.

The clock is a float number of days from ``run.start_date``. Reports use weeks (7-day bins from
the start), calendar months and UK financial years (1 April - 31 March).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import NDArray

DAYS_PER_YEAR = 365.25
MONTH_DAYS = DAYS_PER_YEAR / 12  # a month-long window (phased fill)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def day_of(start: dt.date, when: dt.date) -> float:
    """Days from ``start`` to ``when`` (negative if before)."""
    return float((when - start).days)


def date_of(start: dt.date, day: float) -> dt.date:
    return start + dt.timedelta(days=int(np.floor(day)))


def horizon_days(start: dt.date, horizon_years: float) -> float:
    """Horizon length in days: whole years are calendar years, any fraction is 365.25 days each."""
    whole = int(horizon_years)
    try:
        end = start.replace(year=start.year + whole)
    except ValueError:  # 29 February start
        end = start.replace(year=start.year + whole, day=28)
    return float((end - start).days) + round((horizon_years - whole) * DAYS_PER_YEAR)


def end_date(start: dt.date, horizon_years: float) -> dt.date:
    return start + dt.timedelta(days=horizon_days(start, horizon_years))


def week_edges(horizon: float) -> NDArray[np.float64]:
    """Edges of 7-day bins from day 0; the last bin ends at the horizon and may be shorter."""
    edges = np.arange(0.0, horizon, 7.0)
    return np.append(edges, horizon)


def month_of_day(start: dt.date, horizon: float) -> NDArray[np.int8]:
    """Calendar month index (0 = January) of each whole day in [0, horizon]."""
    n = int(np.ceil(horizon)) + 1
    days = np.datetime64(start, "D") + np.arange(n)
    months = days.astype("datetime64[M]").astype(np.int64) % 12
    return months.astype(np.int8)


def financial_year_label(year_starting: int) -> str:
    """UK financial year label, e.g. 2023 -> '2023-24'."""
    return f"{year_starting}-{(year_starting + 1) % 100:02d}"


def financial_year_edges(start: dt.date, horizon: float) -> tuple[NDArray[np.float64], list[str]]:
    """Edges (in days) of the UK financial years the run touches, clipped to [0, horizon]."""
    first = start.year if start >= dt.date(start.year, 4, 1) else start.year - 1
    edges: list[float] = [0.0]
    labels: list[str] = []
    year = first
    while True:
        labels.append(financial_year_label(year))
        nxt = day_of(start, dt.date(year + 1, 4, 1))
        if nxt >= horizon:
            edges.append(horizon)
            break
        edges.append(nxt)
        year += 1
    return np.asarray(edges), labels
