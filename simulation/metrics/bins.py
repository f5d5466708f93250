"""The bins results are reported in (weeks, UK financial years) and the price index.

Costs are entered at start-date prices and rise with ``costs.inflation_per_year``: a daily cost
integrated against G (:func:`inflation_integral`) is its cash cost; a one-off payment at time t is
scaled by the index itself (:func:`price_index`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR, financial_year_edges, week_edges
from simulation.metrics.steps import Array, _Edges


def inflation_integral(inflation_per_year: float) -> Callable[[Array], Array]:
    """G(t) = integral from 0 to t of the price index (1 + i)^(s / 365.25) ds."""
    if inflation_per_year == 0.0:
        return lambda t: np.asarray(t, dtype=float)
    rate = math.log1p(inflation_per_year) / DAYS_PER_YEAR
    return lambda t: np.expm1(rate * np.asarray(t, dtype=float)) / rate


def price_index(inflation_per_year: float) -> Callable[[Array], Array]:
    """The price index (1 + i)^(t / 365.25) at times t, relative to the start date."""
    growth = math.log1p(inflation_per_year) / DAYS_PER_YEAR
    return lambda t: np.exp(growth * np.asarray(t, dtype=float))


# -- calendar, cached per scenario -------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """The bins of a run's results (shared, read-only: the same for every replication)."""

    weeks: _Edges
    years: _Edges
    week_len: Array
    week: NDArray[np.int64]
    week_start: NDArray[np.datetime64]
    year_labels: tuple[str, ...]


@functools.lru_cache(maxsize=32)
def calendar(start_date: Any, horizon: float) -> Calendar:
    wk_edges = week_edges(horizon)
    fy_edges, fy_labels = financial_year_edges(start_date, horizon)
    week_start = (pd.to_datetime(start_date) + pd.to_timedelta(wk_edges[:-1], unit="D")).to_numpy()
    week_len = np.diff(wk_edges)
    week = np.arange(len(week_len))
    for arr in (wk_edges, fy_edges, week_start, week_len, week):
        arr.flags.writeable = False
    return Calendar(
        _Edges(wk_edges), _Edges(fy_edges), week_len, week, week_start, tuple(fy_labels)
    )


def bin_counts(sorted_times: Array, edges: Array) -> Array:
    """Events per bin, as ``np.histogram`` counts them (the last bin includes its right edge)."""
    idx = sorted_times.searchsorted(edges, side="left")
    idx[-1] = sorted_times.searchsorted(edges[-1], side="right")
    return np.diff(idx).astype(float)


def weighted_bins(times: Array, weights: Array, edges_list: list[Array]) -> list[Array]:
    """Sum of ``weights`` per bin for each set of edges: ``np.histogram(times, edges,
    weights=weights)``'s own algorithm (a cumulative sum in its sort order), one sort for all."""
    order = np.argsort(times)
    st = times[order]
    cw = np.concatenate(([0.0], weights[order].cumsum()))
    out = []
    for edges in edges_list:
        idx = st.searchsorted(edges, side="left")
        idx[-1] = st.searchsorted(edges[-1], side="right")
        out.append(np.diff(cw[idx]))
    return out
