"""Everything users see, derived from one replication's event log.

The log is turned into spells (a child in a unit from a PLACE to the next PLACE, DISPLACE or EXIT;
a child waiting from ARRIVE or DISPLACE to the next PLACE or EXIT; a unit usable from UNIT_OPEN to
UNIT_CLOSE). Step functions of those spells, integrated over weeks or financial years, give every
series and total, with costs indexed by inflation from the start date.

This runs once per replication, so it is written for speed: the ~20 step functions are integrated
together in one pass (:class:`_StepRows`), rows of the log are found by kind from one sort, and the
tables are kept as plain columns that :func:`simulation.runner.run_batch` stacks once per batch.
Every number is computed with the same floating-point operations, in the same order, as the
straightforward per-series version (:func:`step_integral`), so results are bit-for-bit the same.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace
from typing import Any, TypeAlias, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR, financial_year_edges, week_edges
from simulation.events import MOVE_REPATRIATION, ROUTE_LABELS, EventKind, FrozenLog
from simulation.model import Replication
from simulation.processes.placement import UnitInfo
from simulation.scenario import Scenario

Array = NDArray[np.float64]
# A table as plain columns (numpy arrays, or lists where pandas should infer the dtype).
Columns: TypeAlias = dict[str, NDArray[Any] | list[Any]]
PROVISION_KINDS = ("internal", "block", "framework", "spot", "unregistered")
MARKETS = ("framework", "spot", "unregistered")
_BED_KIND_CODES = 2  # PROVISION_KINDS[:2] have beds (internal, block)
_SPOT = PROVISION_KINDS.index("spot")
_FRAMEWORK = PROVISION_KINDS.index("framework")
_UNREGISTERED = PROVISION_KINDS.index("unregistered")

# Headline metrics printed by the CLI (name, label, format).
HEADLINE = (
    ("internal_occupancy_pct", "Internal occupancy (%)", "{:.1f}"),
    ("block_occupancy_pct", "Block occupancy (%)", "{:.1f}"),
    ("void_bed_days", "Void bed-days (internal + block)", "{:,.0f}"),
    ("void_cost_gbp", "Void cost (£)", "{:,.0f}"),
    ("spot_placements", "New spot placements", "{:,.0f}"),
    ("spot_placements_per_year", "New spot placements per year", "{:.1f}"),
    ("spot_bed_days", "Spot bed-days", "{:,.0f}"),
    ("spot_stock_mean", "Children in spot (mean)", "{:.1f}"),
    ("out_of_city_share", "Share of placed child-days out of city", "{:.3f}"),
    ("waiting_days_mean", "Days waiting per placement sought", "{:.1f}"),
    ("cost_total_gbp", "Total cost (£)", "{:,.0f}"),
    ("cost_per_year_gbp", "Cost per year (£)", "{:,.0f}"),
)


@dataclass(frozen=True)
class ReplicationMetrics:
    """Tidy results of one replication.

    The tables are held as columns (what :func:`simulation.runner.run_batch` stacks, once per
    batch); ``weekly``, ``units`` and ``finance`` build a DataFrame on first use, since building
    three frames costs more than computing the metrics.
    """

    summary: dict[str, float]
    weekly_columns: Columns
    units_columns: Columns
    finance_columns: Columns

    # cached_property writes the instance __dict__ directly, so it works on a frozen dataclass
    # (this one has no __slots__).
    @cached_property
    def weekly(self) -> pd.DataFrame:
        """One row per week."""
        return pd.DataFrame(self.weekly_columns)

    @cached_property
    def units(self) -> pd.DataFrame:
        """One row per unit."""
        return pd.DataFrame(self.units_columns)

    @cached_property
    def finance(self) -> pd.DataFrame:
        """One row per financial year."""
        return pd.DataFrame(self.finance_columns)


def inflation_integral(inflation_per_year: float) -> Callable[[Array], Array]:
    """G(t) = integral from 0 to t of the price index (1 + i)^(s / 365.25) ds."""
    if inflation_per_year == 0.0:
        return lambda t: np.asarray(t, dtype=float)
    rate = math.log1p(inflation_per_year) / DAYS_PER_YEAR
    return lambda t: np.expm1(rate * np.asarray(t, dtype=float)) / rate


def step_integral(
    t_on: Array,
    t_off: Array,
    weight: Array,
    edges: Array,
    transform: Callable[[Array], Array] | None = None,
) -> Array:
    """Integral over each bin of ``sum_i weight_i * 1[t_on_i <= t < t_off_i]``.

    With ``transform`` = G, integrates against dG (for inflation-indexed costs). The reference
    for :class:`_StepRows`, which does the same for many series at once.
    """
    g = transform or (lambda t: t)
    if len(t_on) == 0:
        return np.zeros(len(edges) - 1)
    times = np.concatenate([t_on, t_off])
    deltas = np.concatenate([weight, -np.asarray(weight, dtype=float)])
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    level = np.cumsum(deltas)
    gt = g(times)
    cum = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(gt))])
    idx = np.searchsorted(times, edges, side="right") - 1
    safe = np.maximum(idx, 0)
    at_edges = np.where(idx >= 0, cum[safe] + level[safe] * (g(edges) - gt[safe]), 0.0)
    return np.diff(at_edges)


# -- step functions, many at once ----------------------------------------------------------------

# Jumps of step functions: times in order, with each jump's spell and sign (+1 on, -1 off).
_Jumps: TypeAlias = tuple[Array, NDArray[np.intp], Array]


def _jumps(on: Array, off: Array, keys: _Keys | None = None) -> _Jumps:
    """The starts (+1) and ends (-1) of spells in time order, ties kept in the order of
    ``concat(on, off)``: exactly the order a stable sort in :func:`step_integral` gives
    (``keys``: the times' integer keys, see _time_keys, to sort those instead).

    Any subset of the spells, taken from this order, is in the order its own stable sort would
    give (the subset's positions map monotonically onto these), so one sort serves many series.
    """
    n = len(on)
    times = np.concatenate((on, off))
    order = (np.concatenate(keys) if keys is not None else times).argsort(kind="stable")
    is_on = order < n
    return times[order], np.where(is_on, order, order - n), np.where(is_on, 1.0, -1.0)


def _jump_sets(sets: Sequence[tuple[Array, Array, _Keys | None]]) -> list[_Jumps]:
    """:func:`_jumps` of several sets of spells (on, off, keys) at once: with time keys, one
    stable sort of all the jumps by time key, then one by set (both radix sorts), instead of
    a sort per set. Each set's jumps come out in the order its own stable sort gives."""
    all_keys = [keys for *_, keys in sets if keys is not None]
    if len(all_keys) < len(sets):
        return [_jumps(on, off, keys) for on, off, keys in sets]
    n = [len(on) for on, _, _ in sets]
    n_jumps = [2 * m for m in n]
    times = np.concatenate([x for on, off, _ in sets for x in (on, off)])
    keys = np.concatenate([k for on_off in all_keys for k in on_off])
    set_of = np.repeat(np.arange(len(sets), dtype=np.int8), n_jumps)
    order = keys.argsort(kind="stable")
    order = order[set_of[order].argsort(kind="stable")]
    # Now grouped by set, so position i belongs to set set_of[i]: make positions set-local.
    bounds = [0, *itertools.accumulate(n_jumps)]
    local = order - np.repeat(bounds[:-1], n_jumps)
    n_of = np.repeat(n, n_jumps)
    is_on = local < n_of
    spell = np.where(is_on, local, local - n_of)
    sign = np.where(is_on, 1.0, -1.0)
    times = times[order]
    return [(times[a:b], spell[a:b], sign[a:b]) for a, b in itertools.pairwise(bounds)]


def _group_jumps(
    jumps: _Jumps, group: NDArray[np.integer], n_groups: int
) -> tuple[_Jumps, list[int]]:
    """``jumps`` regrouped by the group of their spell (0 .. n_groups - 1, others dropped),
    time order kept within each group; and the number of jumps in each group."""
    times, spell, sign = jumps
    g = group[spell]
    if len(g) and (g.min() < 0 or g.max() >= n_groups):
        keep = ((g >= 0) & (g < n_groups)).nonzero()[0]
        g = g[keep]
        order = keep[g.argsort(kind="stable")]
    else:
        order = g.argsort(kind="stable")
    sizes: list[int] = np.bincount(g, minlength=n_groups).tolist()
    return (times[order], spell[order], sign[order]), sizes


class _Edges:
    """Sorted bin edges, and how many lie below any time (``edges.searchsorted(t, "left")``),
    by table lookup when the edges are whole days (a binary search per time costs more)."""

    def __init__(self, edges: Array) -> None:
        self.edges = edges
        whole_days = (
            len(edges) > 0
            and edges[0] >= 0
            and edges[-1] < 1e7
            and bool(np.all(edges == np.floor(edges)))
        )
        # _below[c] = number of edges < c, for whole days c = 0 .. last edge + 1.
        self._below = (
            edges.searchsorted(np.arange(int(edges[-1]) + 2), side="left") if whole_days else None
        )

    @property
    def whole_days(self) -> bool:
        return self._below is not None

    def below(self, t: Array, ceil_t: NDArray[np.intp] | None = None) -> NDArray[np.intp]:
        """How many edges lie below each of ``t``; ``ceil_t``: np.ceil(t) as integers, if known."""
        if self._below is None:
            return self.edges.searchsorted(t, side="left")
        # A whole-day edge e < t exactly when e < ceil(t); days past either end clip to it.
        if ceil_t is None:
            ceil_t = np.ceil(t).astype(np.intp)
        return self._below.take(ceil_t, mode="clip")


class _StepRows:
    """Many step functions integrated over the same bins in one pass.

    Each row is added as its jumps (times sorted, ties as :func:`_jumps` orders them) and their
    signed weights. :meth:`integrate` then does per row exactly what :func:`step_integral`
    does, so results are bit-for-bit equal, but the elementwise work is done once over all rows
    and only the running sums (which must restart per row to stay exact) loop over rows.
    """

    def __init__(self) -> None:
        self._times: list[Array] = []
        self._deltas: list[Array] = []
        self._sizes: list[int] = []
        self._unit_rows = 0  # leading rows whose jumps are all +1 or -1
        self._first_indexed: int | None = None  # trailing rows against the price index

    def add(
        self,
        times: Array,
        deltas: Array,
        sizes: Sequence[int],
        indexed: bool = False,
        unit_steps: bool = False,
    ) -> int:
        """Add rows whose jumps are ``times``/``deltas`` back to back, ``sizes`` jumps each.

        ``unit_steps`` rows (counts: deltas all +1 or -1) come first, ``indexed`` rows
        (integrated against the price index) last. Returns the first row's number.
        """
        first = len(self._sizes)
        if unit_steps and self._unit_rows != first:
            raise ValueError("rows of unit steps must come first")
        if self._first_indexed is not None and not indexed:
            raise ValueError("indexed rows must come last")
        if unit_steps:
            self._unit_rows += len(sizes)
        if indexed and self._first_indexed is None:
            self._first_indexed = first
        self._times.append(times)
        self._deltas.append(deltas)
        self._sizes.extend(sizes)
        return first

    def integrate(
        self, g: Callable[[Array], Array], edge_sets: Sequence[tuple[_Edges, int]]
    ) -> list[Array]:
        """Integral of each row from before its first jump to each edge, indexed rows against
        G: for each (edges, first row), an array of (rows from the first row) x edges."""
        n_rows = len(self._sizes)
        times = np.concatenate(self._times)
        deltas = np.concatenate(self._deltas)
        n = len(times)
        if n == 0:
            return [np.zeros((n_rows - first, len(e.edges))) for e, first in edge_sets]
        sizes = np.asarray(self._sizes, dtype=np.intp)
        ends = sizes.cumsum()
        starts = ends - sizes
        starts_list = [*starts.tolist(), n]
        first_indexed = n_rows if self._first_indexed is None else self._first_indexed
        j = starts_list[first_indexed]
        gt = np.concatenate((times[:j], g(times[j:])))
        # Running sums restart per row: a global sum less an offset is exact only for counts.
        accumulate = np.add.accumulate  # (cheaper to call than ndarray.cumsum)
        level = np.empty(n)
        k = self._unit_rows
        m = starts_list[k]
        if m:
            running = accumulate(deltas[:m])
            before = np.concatenate(([0.0], running))[starts[:k]]
            np.subtract(running, np.repeat(before, sizes[:k]), out=level[:m])
        bounds = list(itertools.pairwise(starts_list))
        for s, e in bounds[k:]:
            accumulate(deltas[s:e], out=level[s:e])
        # Across a row boundary the product is junk, but no row's running sum reaches it.
        step = level[:-1] * (gt[1:] - gt[:-1])
        cum = np.zeros(n)
        for s, e in bounds:
            if e - s > 1:
                accumulate(step[s : e - 1], out=cum[s + 1 : e])
        j0 = starts_list[min(first for _, first in edge_sets)]
        whole_days = all(e.whole_days for e, _ in edge_sets)
        ceil_t = np.ceil(times[j0:]).astype(np.intp) if whole_days else None
        out = []
        for edge_set, first in edge_sets:
            # Jumps at or before each edge, per row (searchsorted(row, edges, "right")): count
            # each jump at the first edge at or after it, then accumulate along the edges.
            edges = edge_set.edges
            n_edges, n_out = len(edges), n_rows - first
            j = starts_list[first]
            first_edge = edge_set.below(times[j:], None if ceil_t is None else ceil_t[j - j0 :])
            first_edge += np.repeat(np.arange(n_out) * (n_edges + 1), sizes[first:])
            per_edge = np.bincount(first_edge, minlength=n_out * (n_edges + 1))
            found = per_edge.reshape(n_out, n_edges + 1)[:, :n_edges].cumsum(axis=1)
            # The last jump at or before each edge (index -1 or another row's when none: unused).
            last = (starts[first:] - 1)[:, None] + found
            # Edges less the last jump's time (in G for indexed rows, which come last).
            to_edge = np.empty((n_out, n_edges))
            plain = max(first_indexed - first, 0)
            np.subtract(edges, gt[last[:plain]], out=to_edge[:plain])
            np.subtract(g(edges), gt[last[plain:]], out=to_edge[plain:])
            at = cum[last] + level[last] * to_edge
            out.append(np.where(found > 0, at, 0.0))
        return out


# -- spells ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spells:
    """Intervals derived from the log (days, clipped to the horizon)."""

    child: NDArray[np.int32]
    unit: NDArray[np.int16]
    start: Array
    end: Array
    price: Array  # weekly, start-date prices (markets only)
    in_city: NDArray[np.bool_]
    placement: NDArray[np.int64]  # spells split by a price change share a placement id


PLACEMENT_BOUNDARIES = (
    EventKind.PLACE,
    EventKind.PRICE_CHANGE,
    EventKind.MOVE,
    EventKind.DISPLACE,
    EventKind.BREAKDOWN,
    EventKind.EXIT,
)
_WAITING_BOUNDARIES = (
    EventKind.ARRIVE,
    EventKind.DISPLACE,
    EventKind.BREAKDOWN,
    EventKind.PLACE,
    EventKind.EXIT,
)
_READY_BOUNDARIES = (EventKind.READY, EventKind.EXIT)
_USABLE_BOUNDARIES = (EventKind.UNIT_OPEN, EventKind.UNIT_CLOSE)
_CHILD_KINDS = (*PLACEMENT_BOUNDARIES, *_WAITING_BOUNDARIES, *_READY_BOUNDARIES)
_UNIT_KINDS = (*_USABLE_BOUNDARIES, EventKind.AGENCY)
_N_CODES = max(EventKind) + 1
# Event codes as plain ints: looking a member up on an IntEnum class is slow in Python 3.11,
# and comparing arrays with plain ints is the cheaper path too.
_C = SimpleNamespace(**{kind.name: int(kind) for kind in EventKind})


@functools.cache
def _kind_table(kinds: tuple[int, ...]) -> NDArray[np.bool_]:
    """Indexed by an event code: True for ``kinds`` (a lookup is far cheaper than np.isin)."""
    table = np.zeros(_N_CODES, dtype=bool)
    table[[int(k) for k in kinds]] = True
    table.flags.writeable = False
    return table


# Integer keys in the order of times (see _time_keys): a spell's start and end keys.
_Keys: TypeAlias = tuple[NDArray[np.integer], NDArray[np.integer]]


def _time_keys(log: FrozenLog, horizon: float) -> tuple[NDArray[np.integer], int] | None:
    """Integers in the order of the log's times (equal times, equal keys), and the horizon's
    key; None unless the log is in time order and within the horizon (as the simulation
    writes it: then no spell's end needs clipping to the horizon either).

    Sorting spells by these keys gives the very order a stable sort of their float times
    gives, but a stable sort of 16-bit integers is a radix sort: much cheaper than sorting
    floats, whose branches the CPU cannot predict.
    """
    t = log.time
    if len(t) == 0 or t[-1] > horizon or not bool((t[1:] >= t[:-1]).all()):
        return None
    keys: NDArray[np.integer] = np.empty(len(t), dtype=np.int16 if len(t) < 2**15 - 1 else np.int64)
    keys[0] = 0
    np.cumsum(t[1:] != t[:-1], out=keys[1:])  # one key per distinct time, in order
    last = int(keys[-1])
    return keys, last if t[-1] == horizon else last + 1


@dataclass(frozen=True)
class _Keyed:
    """Rows of some kinds sorted by a key (a child or a unit), ties in log order, with their
    kind, key, time and time key (see _time_keys): the kinds of spell that share a key share
    this one sort."""

    rows: NDArray[np.intp]
    kind: NDArray[np.int8]
    key: NDArray[np.integer]
    time: Array
    time_key: NDArray[np.integer] | None = None
    horizon_key: int = 0

    @classmethod
    def sort(
        cls,
        log: FrozenLog,
        key: NDArray[np.integer],
        kinds: tuple[int, ...],
        time_keys: tuple[NDArray[np.integer], int] | None = None,
    ) -> _Keyed:
        rows = _kind_table(kinds)[log.kind].nonzero()[0]
        k = key[rows]
        if len(k) and k.min() >= -(2**15) and k.max() < 2**15:
            k = k.astype(np.int16)  # a stable sort of 16-bit integers is a radix sort
        rows = rows[k.argsort(kind="stable")]
        if time_keys is None:
            return cls(rows, log.kind[rows], key[rows], log.time[rows])
        return cls(
            rows, log.kind[rows], key[rows], log.time[rows], time_keys[0][rows], time_keys[1]
        )

    def spells(
        self, kinds: tuple[int, ...], horizon: float
    ) -> tuple[NDArray[np.intp], NDArray[np.int8], Array, Array, _Keys | None]:
        """Rows of ``kinds`` grouped by key in log order (their row numbers, kinds and times),
        each one's end: the next of them with the same key, or the horizon; and the time keys
        of both (if known)."""
        sel = _kind_table(kinds)[self.kind].nonzero()[0]  # indices: cheaper than 4 masks
        rows, kind, key, time = self.rows[sel], self.kind[sel], self.key[sel], self.time[sel]
        last = key[1:] != key[:-1]  # the last row of its key
        end = np.concatenate((time[1:], [horizon]))[: len(time)]  # (none if no rows)
        np.putmask(end[:-1], last, horizon)
        if self.time_key is None:
            return rows, kind, time, np.minimum(end, horizon), None
        # Time keys exist only for logs within the horizon: no end is past it.
        time_key = self.time_key[sel]
        end_key = np.concatenate((time_key[1:], np.array([self.horizon_key], time_key.dtype)))[
            : len(time)
        ]
        np.putmask(end_key[:-1], last, self.horizon_key)
        return rows, kind, time, end, (time_key, end_key)


def _select(keys: _Keys | None, mask: NDArray[np.bool_]) -> _Keys | None:
    return None if keys is None else (keys[0][mask], keys[1][mask])


def _placements(
    log: FrozenLog, horizon: float, by_child: _Keyed | None = None
) -> tuple[Spells, _Keys | None]:
    by_child = by_child or _Keyed.sort(log, log.child, PLACEMENT_BOUNDARIES)
    rows, kind, time, end, keys = by_child.spells(PLACEMENT_BOUNDARIES, horizon)
    is_place = kind == _C.PLACE
    is_start = is_place | (kind == _C.PRICE_CHANGE)
    # A price change continues its placement: number placements by their PLACE rows.
    placement_id = np.cumsum(is_place)
    sel = rows[is_start]
    spells = Spells(
        child=log.child[sel],
        unit=log.unit[sel],
        start=time[is_start],
        end=end[is_start],
        price=log.value[sel],
        in_city=log.in_city[sel] == 1,
        placement=placement_id[is_start],
    )
    return spells, _select(keys, is_start)


def placement_spells(log: FrozenLog, horizon: float) -> Spells:
    """A child in a unit at a price: from PLACE (or PRICE_CHANGE) to that child's next
    PLACE, PRICE_CHANGE, MOVE, DISPLACE, BREAKDOWN or EXIT."""
    return _placements(log, horizon)[0]


def _waiting(
    log: FrozenLog, horizon: float, by_child: _Keyed | None = None
) -> tuple[Array, Array, _Keys | None]:
    by_child = by_child or _Keyed.sort(log, log.child, _WAITING_BOUNDARIES)
    rows, kind, time, end, keys = by_child.spells(_WAITING_BOUNDARIES, horizon)
    # The cohort's ARRIVE (logged with its unit) is no search for a bed: it is placed at once.
    is_start = (
        (kind == _C.DISPLACE)
        | (kind == _C.BREAKDOWN)
        | ((kind == _C.ARRIVE) & (log.unit[rows] < 0))
    )
    return time[is_start], end[is_start], _select(keys, is_start)


def waiting_spells(log: FrozenLog, horizon: float) -> tuple[Array, Array]:
    """A child without a bed: from ARRIVE, DISPLACE or BREAKDOWN to the next PLACE or EXIT."""
    return _waiting(log, horizon)[:2]


def _ready(
    log: FrozenLog, horizon: float, by_child: _Keyed | None = None
) -> tuple[Array, Array, _Keys | None]:
    by_child = by_child or _Keyed.sort(log, log.child, _READY_BOUNDARIES)
    _, kind, time, end, keys = by_child.spells(_READY_BOUNDARIES, horizon)
    is_start = kind == _C.READY
    return time[is_start], end[is_start], _select(keys, is_start)


def ready_spells(log: FrozenLog, horizon: float) -> tuple[Array, Array]:
    """A child ready to step down to foster care with no carer: from READY to its EXIT."""
    return _ready(log, horizon)[:2]


def _usable(
    log: FrozenLog, horizon: float, by_unit: _Keyed | None = None
) -> tuple[NDArray[np.int16], Array, Array, Array, _Keys | None]:
    by_unit = by_unit or _Keyed.sort(log, log.unit, _USABLE_BOUNDARIES)
    rows, kind, time, end, keys = by_unit.spells(_USABLE_BOUNDARIES, horizon)
    is_start = kind == _C.UNIT_OPEN
    sel = rows[is_start]
    return log.unit[sel], time[is_start], end[is_start], log.value[sel], _select(keys, is_start)


def usable_spells(log: FrozenLog, horizon: float) -> tuple[NDArray[np.int16], Array, Array, Array]:
    """Beds usable in a unit: (unit, start, end, beds) from UNIT_OPEN to UNIT_CLOSE."""
    return _usable(log, horizon)[:4]


VOID_CAUSES = ("turnaround", "staffing", "phased_fill", "other")


def _level_spells(
    log: FrozenLog, kind: int, horizon: float, by_unit: _Keyed | None = None
) -> tuple[NDArray[np.int16], Array, Array, Array, _Keys | None]:
    """A per-unit level set by ``kind`` events (value = the new level): (unit, start, end,
    level) spells, each lasting to the unit's next such event or the horizon."""
    by_unit = by_unit or _Keyed.sort(log, log.unit, (kind,))
    rows, _, time, end, keys = by_unit.spells((kind,), horizon)
    return log.unit[rows], time, end, log.value[rows], keys


class _RowsByKind:
    """The log's row numbers grouped by event kind (each group in log order), from one sort."""

    def __init__(self, log: FrozenLog) -> None:
        self._order = log.kind.argsort(kind="stable")
        self.counts = np.bincount(log.kind, minlength=_N_CODES)
        self._offsets = [0, *itertools.accumulate(self.counts.tolist())]

    def __getitem__(self, kind: int) -> NDArray[np.intp]:
        return self._order[self._offsets[kind] : self._offsets[kind + 1]]

    def count(self, kind: int) -> float:
        return float(self.counts[kind])

    def of(self, *kinds: int) -> NDArray[np.intp]:
        """Rows of any of ``kinds``, in log order."""
        return np.sort(np.concatenate([self[k] for k in kinds]))


def first_opening(log: FrozenLog, n_units: int, open_rows: NDArray[np.intp] | None = None) -> Array:
    """Day each unit first opened (NaN if it never did in the run)."""
    opened = np.full(n_units, np.nan)
    if open_rows is None:
        open_rows = np.flatnonzero(log.kind == _C.UNIT_OPEN)
    rows = open_rows[::-1]  # last write wins: the first
    opened[log.unit[rows]] = log.time[rows]
    return opened


def _intervals_by_unit(
    log: FrozenLog, rows: NDArray[np.intp], opens: int, ends: int, horizon: float
) -> dict[int, list[tuple[float, float]]]:
    """Per unit, [start, end) intervals from ``opens`` to the next ``ends`` (or the horizon).

    ``rows``: the log rows of both kinds, in log order. A repeated ``opens`` (or an ``ends``
    with nothing open) is ignored.
    """
    out: dict[int, list[tuple[float, float]]] = {}
    started: dict[int, float] = {}
    opens_code, ends_code = int(opens), int(ends)  # plain ints: no enum machinery in the loop
    for kind, unit, time in zip(
        log.kind[rows].tolist(), log.unit[rows].tolist(), log.time[rows].tolist(), strict=True
    ):
        if kind == opens_code:
            if unit not in started:
                started[unit] = time
        elif kind == ends_code and unit in started:
            out.setdefault(unit, []).append((started.pop(unit), time))
    for unit, time in started.items():
        out.setdefault(unit, []).append((time, horizon))
    return out


def void_causes(
    log: FrozenLog,
    units: list[UnitInfo],
    horizon: float,
    sp: Spells,
    usable: Array,
    staff: dict[int, list[tuple[float, float]]] | None = None,
    rows: _RowsByKind | None = None,
) -> dict[int, dict[str, float]]:
    """Split each bed unit's void bed-days by cause.

    ``turnaround``: beds held empty after a child left (BED_HOLD until released or closed);
    ``staffing``: other free beds while the home cannot cover its rota (STAFF_SHORT to
    STAFF_COVERED); ``phased_fill``: other free beds while a new home's monthly admission cap
    binds (FILL_CAPPED to FILL_RESUMED); ``other``: the rest (no child needing the bed, or none
    matching).

    ``staff`` (intervals short of staff, by unit) and ``rows`` can be passed when already known.
    """
    if rows is None:
        rows = _RowsByKind(log)
    if staff is None:
        staff = _intervals_by_unit(
            log, rows.of(_C.STAFF_SHORT, _C.STAFF_COVERED),
            _C.STAFF_SHORT, _C.STAFF_COVERED, horizon,
        )  # fmt: skip
    fills = _intervals_by_unit(
        log, rows.of(_C.FILL_CAPPED, _C.FILL_RESUMED),
        _C.FILL_CAPPED, _C.FILL_RESUMED, horizon,
    )  # fmt: skip
    n_units = len(units)
    close_rows = rows[_C.UNIT_CLOSE]
    closes: dict[int, Array] = {
        u: np.sort(log.time[close_rows][log.unit[close_rows] == u])
        for u in set(log.unit[close_rows].tolist())
    }
    hold_rows = rows[_C.BED_HOLD]
    hold_unit, t0 = log.unit[hold_rows], log.time[hold_rows]
    held_end = np.minimum(t0 + log.value[hold_rows], horizon)
    for u, close_times in closes.items():
        # A unit's closure ends its holds: the next close after each hold, or the horizon.
        m = hold_unit == u
        next_close = np.append(close_times, horizon)[
            np.searchsorted(close_times, t0[m], side="right")
        ]
        held_end[m] = np.minimum(t0[m] + log.value[hold_rows[m]], next_close)

    # Per bed unit, the intervals to overlap with its spells and holds: first an unbounded one
    # (the overlaps are the spells' and holds' own lengths), then its staffing shortfalls, then
    # its capped-fill pieces (a capped fill while also short of staff counts once, as staffing).
    bed_units = [info for info in units if info.kind in ("internal", "block")]
    if not bed_units:
        return {}
    intervals: list[tuple[float, float]] = []
    q_unit: list[int] = []
    q_beds: list[int] = []
    q_first: dict[int, tuple[int, int, int]] = {}
    for info in bed_units:
        u = info.index
        unit_staff = staff.get(u, [])
        pieces: list[tuple[float, float]] = []
        for a, b in fills.get(u, []):
            if not unit_staff and a < b:  # nothing to cut out
                pieces.append((a, b))
                continue
            cuts = sorted({a, b, *(x for iv in unit_staff for x in iv if a < x < b)})
            for lo, hi in itertools.pairwise(cuts):
                if not any(sa <= lo and hi <= sb for sa, sb in unit_staff):
                    pieces.append((lo, hi))
        q0 = len(intervals)
        intervals.append((-math.inf, math.inf))
        intervals += unit_staff
        intervals += pieces
        q_first[u] = (q0, q0 + 1 + len(unit_staff), len(intervals))
        q_unit += [u] * (len(intervals) - q0)
        q_beds += [info.beds] * (len(intervals) - q0)
    bounds = np.array(intervals)
    a_, b_ = bounds[:, 0], bounds[:, 1]
    qu = np.array(q_unit, dtype=np.intp)
    whole = np.isinf(a_)
    for u, close_times in closes.items():
        # Nothing is free past the unit's next closure.
        m = (qu == u) & ~whole
        nxt = np.append(close_times, np.inf)[close_times.searchsorted(a_[m], side="right")]
        b_[m] = np.minimum(b_[m], nxt)
    # Each unit's spells (in spell order) then its holds (in log order), back to back; each
    # interval is overlapped with the whole run of its unit's (and, harmlessly, the next
    # units'), then summed over its unit's own columns only, as np.sum of a row: the same
    # sums, to the bit, as np.sum over one unit and interval at a time.
    n_occ = np.bincount(sp.unit, minlength=n_units)
    n_held = np.bincount(hold_unit, minlength=n_units)
    order = np.concatenate((sp.unit, hold_unit)).argsort(kind="stable")
    starts = np.concatenate((sp.start, t0))[order]
    ends = np.concatenate((sp.end, held_end))[order]
    if not len(starts):  # (keep the gathers below in bounds)
        starts = ends = np.zeros(1)
    n_both = n_occ + n_held
    width = max(1, int(n_both[[info.index for info in bed_units]].max()))
    col = (n_both.cumsum() - n_both)[qu][:, None] + np.arange(width)
    np.minimum(col, len(starts) - 1, out=col)
    overlap = np.minimum(ends[col], b_[:, None]) - np.maximum(starts[col], a_[:, None])
    np.maximum(overlap, 0.0, out=overlap, where=~whole[:, None])
    occupied = np.empty(len(intervals))
    held = np.empty(len(intervals))
    for info in bed_units:
        u = info.index
        q0, _, q1 = q_first[u]
        n = int(n_occ[u])
        overlap[q0:q1, :n].sum(axis=1, out=occupied[q0:q1])
        overlap[q0:q1, n : n + n_held[u]].sum(axis=1, out=held[q0:q1])
    span = np.where(whole, 0.0, b_ - a_)
    left = np.array(q_beds) * span - occupied - held
    free: list[float] = np.where(b_ > a_, np.maximum(left, 0.0), 0.0).tolist()

    out: dict[int, dict[str, float]] = {}
    for info in bed_units:
        u = info.index
        q0, q_mid, q1 = q_first[u]
        staffing = sum(free[q0 + 1 : q_mid])
        phased = 0.0
        for x in free[q_mid:q1]:
            phased += x
        turnaround = float(held[q0])
        total = float(usable[u] - occupied[q0])
        out[u] = {
            "turnaround": turnaround,
            "staffing": staffing,
            "phased_fill": phased,
            "other": max(total - turnaround - staffing - phased, 0.0),
        }
    return out


def _percentile(x: Array, q: float) -> float:
    """``np.percentile(x, q)`` (its default 'linear' method) of a non-empty 1-D array, by the
    same arithmetic: a sort is far cheaper than numpy's general machinery for one quantile."""
    s = np.sort(x)
    if np.isnan(s[-1]):
        return math.nan
    n = len(s)
    v = (n - 1) * (q / 100)
    if v >= n - 1:
        return float(s[-1])
    i = math.floor(v)
    t = v - i
    a, b = float(s[i]), float(s[i + 1])
    d = b - a
    # numpy's lerp: from the nearer end, to stay monotonic.
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def _pct(num: float, den: float) -> float:
    return 100.0 * num / den if den > 0 else math.nan


def _ratio_pct(num: Array, den: Array) -> Array:
    """100 * num / den where den > 0, else NaN (no warnings to silence)."""
    return np.divide(100.0 * num, den, out=np.full(len(num), np.nan), where=den > 0)


# -- calendar, cached per scenario -------------------------------------------------------------


@dataclass(frozen=True)
class _Calendar:
    """The bins of a run's results (shared, read-only: the same for every replication)."""

    weeks: _Edges
    years: _Edges
    week_len: Array
    week: NDArray[np.int64]
    week_start: NDArray[np.datetime64]
    year_labels: tuple[str, ...]


@functools.lru_cache(maxsize=32)
def _calendar(start_date: Any, horizon: float) -> _Calendar:
    wk_edges = week_edges(horizon)
    fy_edges, fy_labels = financial_year_edges(start_date, horizon)
    week_start = (pd.to_datetime(start_date) + pd.to_timedelta(wk_edges[:-1], unit="D")).to_numpy()
    week_len = np.diff(wk_edges)
    week = np.arange(len(week_len))
    for arr in (wk_edges, fy_edges, week_start, week_len, week):
        arr.flags.writeable = False
    return _Calendar(
        _Edges(wk_edges), _Edges(fy_edges), week_len, week, week_start, tuple(fy_labels)
    )


def _bin_counts(sorted_times: Array, edges: Array) -> Array:
    """Events per bin, as ``np.histogram`` counts them (the last bin includes its right edge)."""
    idx = sorted_times.searchsorted(edges, side="left")
    idx[-1] = sorted_times.searchsorted(edges[-1], side="right")
    return np.diff(idx).astype(float)


def _weighted_bins(times: Array, weights: Array, edges_list: list[Array]) -> list[Array]:
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


# -- the metrics ---------------------------------------------------------------------------------


def compute_metrics(scenario: Scenario, rep: Replication) -> ReplicationMetrics:
    """Summary, weekly series, per-unit and per-financial-year results of one replication."""
    log, units = rep.log, rep.units
    horizon = scenario.horizon_days
    start_date = scenario.run.start_date
    years = horizon / DAYS_PER_YEAR
    g = inflation_integral(scenario.costs.inflation_per_year)
    growth = math.log1p(scenario.costs.inflation_per_year) / DAYS_PER_YEAR

    def price_index(t: Array) -> Array:
        return np.exp(growth * np.asarray(t, dtype=float))

    n_units = len(units)
    kind_of = np.array([PROVISION_KINDS.index(u.kind) for u in units], dtype=np.int8)
    cal = _calendar(start_date, horizon)
    wk_edges, fy_edges, wk_len = cal.weeks.edges, cal.years.edges, cal.week_len
    n_wk = len(wk_len)

    rows = _RowsByKind(log)
    time_keys = _time_keys(log, horizon)
    by_child = _Keyed.sort(log, log.child, _CHILD_KINDS, time_keys)
    by_unit = _Keyed.sort(log, log.unit, _UNIT_KINDS, time_keys)
    sp, sp_keys = _placements(log, horizon, by_child)
    sp_kind = kind_of[sp.unit] if len(sp.unit) else np.zeros(0, dtype=np.int8)
    sp_len = sp.end - sp.start
    w_on, w_off, w_keys = _waiting(log, horizon, by_child)
    r_on, r_off, r_keys = _ready(log, horizon, by_child)
    us_unit, us_on, us_off, us_beds, us_keys = _usable(log, horizon, by_unit)
    us_kind = kind_of[us_unit] if len(us_unit) else np.zeros(0, dtype=np.int8)
    us_bed_days = (us_off - us_on) * us_beds

    # Per-unit rates (daily): running cost, cost of one bed, capital annuity.
    run_rate = np.array([u.weekly_cost_gbp / 7.0 for u in units])
    bed_rate = np.array(
        [
            (u.weekly_cost_gbp / u.beds if u.kind == "internal" else u.weekly_cost_gbp) / 7.0
            if u.beds
            else 0.0
            for u in units
        ]
    )
    # Capital: each home's annuity, a fixed cash sum a year (not indexed), from its project start.
    cap = np.array([u.capital_annual_gbp > 0 for u in units], dtype=bool)
    cap_on = np.array([u.capital_from_day for u in units])[cap]
    cap_off = cap_on + np.array([u.capital_years * DAYS_PER_YEAR for u in units])[cap]
    cap_rate = np.array([u.capital_annual_gbp / DAYS_PER_YEAR for u in units])[cap]
    cap_on, cap_off = np.clip(cap_on, 0.0, horizon), np.clip(cap_off, 0.0, horizon)
    # Agency / overtime: the premium over a post's own cost, for the FTE covered, indexed.
    _, ag_on, ag_off, ag_fte, ag_keys = _level_spells(log, _C.AGENCY, horizon, by_unit)
    staffing_cfg = scenario.staffing
    premium_rate = (
        staffing_cfg.staff_cost_per_fte_year_gbp * staffing_cfg.agency_premium / DAYS_PER_YEAR
        if staffing_cfg is not None
        else 0.0
    )

    # -- every step function, integrated over weeks and financial years in one pass ---------
    # Void cost: the cost of each usable bed minus that of each occupied bed, internal + block.
    in_beds = sp_kind <= 1
    void_rate = np.concatenate([bed_rate[us_unit] * us_beds, -bed_rate[sp.unit[in_beds]]])
    void_keys = (
        None
        if us_keys is None or sp_keys is None
        else (
            np.concatenate([us_keys[0], sp_keys[0][in_beds]]),
            np.concatenate([us_keys[1], sp_keys[1][in_beds]]),
        )
    )
    placed, waiting, ready, usable_jumps, void, ag = _jump_sets(
        [
            (sp.start, sp.end, sp_keys),
            (w_on, w_off, w_keys),
            (r_on, r_off, r_keys),
            (us_on, us_off, us_keys),
            (
                np.concatenate([us_on, sp.start[in_beds]]),
                np.concatenate([us_off, sp.end[in_beds]]),
                void_keys,
            ),
            (ag_on, ag_off, ag_keys),
        ]
    )
    (by_kind, kind_spell, kind_sign), kind_sizes = _group_jumps(
        placed, sp_kind, len(PROVISION_KINDS)
    )
    # Counts first (their running sums need no restart per row), costs (indexed) last.
    steps = _StepRows()
    row_children = steps.add(by_kind, kind_sign, kind_sizes, unit_steps=True)
    row_waiting = steps.add(waiting[0], waiting[2], [len(waiting[0])], unit_steps=True)
    row_ready = steps.add(ready[0], ready[2], [len(ready[0])], unit_steps=True)
    out_of_city = ~sp.in_city[placed[1]]
    row_out = steps.add(
        placed[0][out_of_city], placed[2][out_of_city], [int(out_of_city.sum())], unit_steps=True
    )
    row_placed = steps.add(placed[0], placed[2], [len(placed[0])], unit_steps=True)
    (us_times, us_spell, us_sign), us_sizes = _group_jumps(usable_jumps, us_kind, _BED_KIND_CODES)
    row_beds = steps.add(us_times, us_beds[us_spell] * us_sign, us_sizes)
    # From here on, rows are also wanted by financial year.
    cap_jumps = _jumps(cap_on, cap_off)
    row_capital = steps.add(
        cap_jumps[0], cap_rate[cap_jumps[1]] * cap_jumps[2], [len(cap_jumps[0])]
    )
    # Costs: a daily rate per spell, integrated against the price index.
    us_rate = run_rate[us_unit]
    us_rate = np.where(us_kind == 0, us_rate, us_rate * us_beds)  # internal: per home
    row_cost = steps.add(us_times, us_rate[us_spell] * us_sign, us_sizes, indexed=True)
    market = slice(sum(kind_sizes[:_BED_KIND_CODES]), None)
    steps.add(
        by_kind[market],
        (sp.price / 7.0)[kind_spell[market]] * kind_sign[market],
        kind_sizes[_BED_KIND_CODES:],
        indexed=True,
    )
    row_void = steps.add(void[0], void_rate[void[1]] * void[2], [len(void[0])], indexed=True)
    row_agency = steps.add(
        ag[0], (ag_fte * premium_rate)[ag[1]] * ag[2], [len(ag[0])], indexed=True
    )
    at_week, at_year = steps.integrate(g, ((cal.weeks, 0), (cal.years, row_capital)))
    by_week = at_week[:, 1:] - at_week[:, :-1]
    by_year_rows = at_year[:, 1:] - at_year[:, :-1]

    def by_year(row: int) -> Array:
        return by_year_rows[row - row_capital]

    # Week edges run from 0 to the horizon: the whole run's integral, as from edges [0, horizon].
    whole_run = at_week[:, -1] - at_week[:, 0]

    # Weekly means of the counts and beds (rows up to the beds'), in one division.
    per_day = by_week[: row_beds + _BED_KIND_CODES] / wk_len
    weekly: dict[str, Array] = {}
    for k, kind in enumerate(PROVISION_KINDS):
        weekly[f"children_{kind}"] = per_day[row_children + k]
    weekly["children_waiting"] = per_day[row_waiting]
    weekly["children_awaiting_carer"] = per_day[row_ready]
    weekly["children_out_of_city"] = per_day[row_out]
    for k, kind in enumerate(("internal", "block")):
        weekly[f"beds_{kind}"] = per_day[row_beds + k]
        weekly[f"{kind}_occupancy_pct"] = _ratio_pct(
            weekly[f"children_{kind}"], weekly[f"beds_{kind}"]
        )

    # New placements: all but the cohort's own placements on day 0 (arrivals on the start date
    # are new placements too).
    place_rows = rows[_C.PLACE]
    arrive_rows = rows[_C.ARRIVE]
    initial_rows = arrive_rows[log.unit[arrive_rows] >= 0]
    cohort = log.child[initial_rows]
    place_child = log.child[place_rows]
    n_child_ids = int(max(place_child.max(initial=-1), cohort.max(initial=-1))) + 1
    is_cohort = np.zeros(n_child_ids, dtype=bool)
    is_cohort[cohort] = True
    new_place = (log.time[place_rows] > 0) | ~is_cohort[place_child]
    # A unit's kind by its code; code -1 (no unit) reads the sentinel at the end.
    place_kind = np.append(kind_of, -1)[log.unit[place_rows]]
    new_spot = place_rows[new_place & (place_kind == _SPOT)]
    spot_times = log.time[new_spot]
    spot_sorted = np.sort(spot_times)
    weekly["spot_new_placements"] = _bin_counts(spot_sorted, wk_edges)

    finance: dict[str, Array] = {}
    weekly_cost = np.zeros(n_wk)
    for k, part in enumerate(PROVISION_KINDS):
        finance[f"{part}_gbp"] = by_year(row_cost + k)
        weekly_cost += by_week[row_cost + k]
    # Retainers: the placement's weekly price for the days the bed was held, paid on moving in
    # (the PLACE it belongs to is the row just before it).
    ret_rows = rows[_C.RETAINER]
    ret_time = log.time[ret_rows]
    ret_cost = log.value[ret_rows - 1] / 7.0 * log.value[ret_rows] * price_index(ret_time)
    finance["retainer_gbp"], ret_weekly = _weighted_bins(ret_time, ret_cost, [fy_edges, wk_edges])
    weekly_cost += ret_weekly
    finance["void_gbp"] = by_year(row_void)
    finance["capital_gbp"] = by_year(row_capital)
    weekly_cost += by_week[row_capital]
    finance["agency_gbp"] = by_year(row_agency)
    weekly_cost += by_week[row_agency]
    finance["total_gbp"] = np.sum(
        [finance[f"{p}_gbp"] for p in (*PROVISION_KINDS, "retainer", "capital", "agency")], axis=0
    )
    finance["spot_new_placements"] = _bin_counts(spot_sorted, fy_edges)
    weekly["cost_gbp"] = weekly_cost

    # -- per unit ----------------------------------------------------------------------------
    # (bincount with weights gives floats; the stubs cannot tell.)
    occupied = cast(
        Array,
        np.bincount(sp.unit, weights=sp_len, minlength=n_units)
        if len(sp.unit)
        else np.zeros(n_units),
    )
    usable = cast(
        Array,
        np.bincount(us_unit, weights=us_bed_days, minlength=n_units)
        if len(us_unit)
        else np.zeros(n_units),
    )
    unit_void_cost = np.zeros(n_units)
    if len(us_unit):
        unit_void_cost += np.bincount(
            us_unit,
            weights=bed_rate[us_unit] * us_beds * (g(us_off) - g(us_on)),
            minlength=n_units,
        )
    g_start, g_end = g(sp.start), g(sp.end)
    if in_beds.any():
        u_in = sp.unit[in_beds]
        unit_void_cost -= np.bincount(
            u_in,
            weights=bed_rate[u_in] * (g_end[in_beds] - g_start[in_beds]),
            minlength=n_units,
        )
    staff = _intervals_by_unit(
        log, rows.of(_C.STAFF_SHORT, _C.STAFF_COVERED),
        _C.STAFF_SHORT, _C.STAFF_COVERED, horizon,
    )  # fmt: skip
    voids_by_cause = void_causes(log, units, horizon, sp, usable, staff=staff, rows=rows)
    opened = first_opening(log, n_units, rows[_C.UNIT_OPEN])
    index = np.array([u.index for u in units], dtype=np.intp)
    is_bed = kind_of < _BED_KIND_CODES
    planned = [u.planned_open_day if u.kind in ("internal", "block") else math.nan for u in units]
    nan = np.full(n_units, np.nan)
    u_usable, u_occupied, u_opened = usable[index], occupied[index], opened[index]
    units_columns: Columns = {
        "unit": [u.name for u in units],
        "kind": [u.kind for u in units],
        "beds": [u.beds for u in units],
        "in_city": [u.in_city for u in units],
        "usable_bed_days": np.where(is_bed, u_usable, nan),
        "occupied_bed_days": u_occupied,
        "occupancy_pct": np.where(is_bed, _ratio_pct(u_occupied, u_usable), nan),
        "void_bed_days": np.where(is_bed, u_usable - u_occupied, nan),
        "void_cost_gbp": np.where(is_bed, unit_void_cost[index], nan),
        "assumed_occupancy_pct": [
            100.0 * u.assumed_occupancy if u.assumed_occupancy is not None else math.nan
            for u in units
        ],
    }
    unit_causes = [voids_by_cause.get(u.index) for u in units]
    for c in VOID_CAUSES:
        units_columns[f"void_{c}_bed_days"] = [
            math.nan if causes is None else causes[c] for causes in unit_causes
        ]
    units_columns["planned_open_day"] = planned
    units_columns["opened_day"] = np.where(is_bed, u_opened, nan)
    units_columns["open_delay_days"] = np.where(
        is_bed, u_opened - np.maximum(np.array(planned, dtype=float), 0.0), nan
    )

    # -- summary -----------------------------------------------------------------------------
    n_arrive = rows.count(_C.ARRIVE)
    n_initial = float(len(initial_rows))
    summary: dict[str, float] = {
        "children_initial": n_initial,
        "arrivals": n_arrive - n_initial,
        "exits": rows.count(_C.EXIT),
    }
    summary["children_end"] = n_arrive - summary["exits"]
    exit_route = log.route[rows[_C.EXIT]]
    route_counts = np.bincount(exit_route[exit_route >= 0], minlength=max(ROUTE_LABELS) + 1)
    for code, label in ROUTE_LABELS.items():
        summary[f"exits_{label}"] = float(route_counts[code])
    # Stability: every placement after a child's first is a move (closures, breakdowns,
    # repatriation, an unregistered placement replaced by a registered one).
    was_placed = np.zeros(n_child_ids, dtype=bool)
    was_placed[place_child] = True
    n_placed_children = int(np.count_nonzero(was_placed))
    summary["moves"] = float(len(place_rows) - n_placed_children)
    summary["moves_per_child"] = summary["moves"] / n_placed_children if n_placed_children else 0.0
    summary["displacements"] = rows.count(_C.DISPLACE)
    summary["breakdowns"] = rows.count(_C.BREAKDOWN)
    move_route = log.route[rows[_C.MOVE]]
    summary["repatriations"] = float(np.count_nonzero(move_route == MOVE_REPATRIATION))
    summary["prevented"] = rows.count(_C.PREVENT)
    summary["delayed_step_downs"] = float(len(r_on))
    summary["delayed_step_down_days"] = float((r_off - r_on).sum())
    # Spells grouped by kind (spell order kept) sum exactly as the masked subsets would.
    len_by_kind = sp_len[sp_kind.argsort(kind="stable")]
    kind_bounds = [0, *itertools.accumulate(n // 2 for n in kind_sizes)]
    for k, kind in enumerate(PROVISION_KINDS):
        summary[f"{kind}_bed_days"] = float(len_by_kind[kind_bounds[k] : kind_bounds[k + 1]].sum())
    for k, kind in enumerate(("internal", "block")):
        usable_days = float(us_bed_days[us_kind == k].sum())
        summary[f"{kind}_usable_bed_days"] = usable_days
        summary[f"{kind}_void_bed_days"] = usable_days - summary[f"{kind}_bed_days"]
        summary[f"{kind}_occupancy_pct"] = _pct(summary[f"{kind}_bed_days"], usable_days)
    summary["void_bed_days"] = summary["internal_void_bed_days"] + summary["block_void_bed_days"]
    # Sums of each financial-year row at once (a row sum is np.sum of that row, to the bit).
    year_sums = by_year_rows.sum(axis=1).tolist()
    summary["void_cost_gbp"] = year_sums[row_void - row_capital]
    # The set (not the dict) fixes the order of this float sum.
    short_units = {int(x) for x in log.unit[rows[_C.STAFF_SHORT]].tolist()}
    short = [b - a for u in short_units for a, b in staff.get(u, [])]
    summary["staff_short_home_days"] = float(sum(short))
    summary["staff_leavers"] = rows.count(_C.STAFF_LEAVE)
    for cause in VOID_CAUSES:
        summary[f"void_{cause}_bed_days"] = float(sum([c[cause] for c in voids_by_cause.values()]))
    summary["spot_placements"] = float(len(new_spot))
    summary["spot_placements_per_year"] = summary["spot_placements"] / years
    summary["framework_placements"] = float(
        np.count_nonzero(new_place & (place_kind == _FRAMEWORK))
    )
    summary["spot_stock_mean"] = summary["spot_bed_days"] / horizon
    summary["spot_stock_peak_week"] = float(weekly["children_spot"].max(initial=0.0))
    placed_days = float(sp_len.sum())
    summary["out_of_city_share"] = (
        float(sp_len[~sp.in_city].sum()) / placed_days if placed_days > 0 else math.nan
    )
    summary["children_placed_mean"] = float(whole_run[row_placed] / horizon)
    summary["children_waiting_mean"] = float(whole_run[row_waiting] / horizon)
    summary["unregistered_placements"] = float(
        np.count_nonzero(new_place & (place_kind == _UNREGISTERED))
    )
    # Prices in cash terms at placement: the P95 weekly price of new spot placements.
    spot_prices = log.value[new_spot] * price_index(spot_times)
    summary["spot_price_p95_weekly_gbp"] = (
        _percentile(spot_prices, 95) if len(spot_prices) else math.nan
    )
    # The most expensive 5% of market placements (whole placements, across price changes).
    in_market = sp_kind >= _FRAMEWORK
    if in_market.any():
        spell_cost = sp.price[in_market] / 7.0 * (g_end[in_market] - g_start[in_market])
        # Placement ids never decrease along the spells: number each run of equal ids.
        ids = sp.placement[in_market]
        pid = np.concatenate(([0], np.cumsum(ids[1:] != ids[:-1])))
        per_placement = np.sort(np.bincount(pid, weights=spell_cost))[::-1]
        top = per_placement[: math.ceil(0.05 * len(per_placement))]
        summary["cost_top5pct_placements_gbp"] = float(top.sum())
        total = per_placement.sum()
        summary["cost_top5pct_share"] = float(top.sum() / total) if total > 0 else math.nan
    else:
        summary["cost_top5pct_placements_gbp"] = 0.0
        summary["cost_top5pct_share"] = math.nan
    wait_len = w_off - w_on
    wait_total = wait_len.sum()
    summary["waiting_days_total"] = float(wait_total)
    # np.mean is this sum over the count.
    summary["waiting_days_mean"] = float(wait_total / len(wait_len)) if len(wait_len) else 0.0
    for k, part in enumerate(PROVISION_KINDS):
        summary[f"cost_{part}_gbp"] = year_sums[row_cost + k - row_capital]
    summary["cost_retainer_gbp"] = float(finance["retainer_gbp"].sum())
    summary["cost_capital_gbp"] = year_sums[0]
    summary["cost_agency_gbp"] = year_sums[row_agency - row_capital]
    summary["cost_total_gbp"] = float(finance["total_gbp"].sum())
    summary["cost_per_year_gbp"] = summary["cost_total_gbp"] / years

    weekly_columns: Columns = {"week": cal.week, "week_start": cal.week_start, **weekly}
    finance_columns: Columns = {"financial_year": list(cal.year_labels), **finance}
    return ReplicationMetrics(summary, weekly_columns, units_columns, finance_columns)


__all__ = ["HEADLINE", "ReplicationMetrics", "UnitInfo", "compute_metrics", "step_integral"]
