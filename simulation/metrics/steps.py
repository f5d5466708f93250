"""Step functions integrated over bins: the arithmetic under every series and total.

A series is a step function of spells (a child placed, a bed usable, a cost running): +weight
from each spell's start, -weight from its end. :func:`step_integral` integrates one over bins,
plainly; :class:`_StepRows` integrates many at once, with the same floating-point operations in
the same order, so results are bit-for-bit equal. :class:`StepTable` is what the families of
metrics use: each adds its step functions to a group that says what they are integrated for, and
reads its integrals back from :class:`Integrals` by the handle it was given.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from simulation.metrics.bins import Calendar

Array = NDArray[np.float64]
# Integer keys in the order of times (see spells._time_keys): a spell's start and end keys.
Keys: TypeAlias = tuple[NDArray[np.integer], NDArray[np.integer]]
# Jumps of step functions: times in order, with each jump's spell and sign (+1 on, -1 off).
Jumps: TypeAlias = tuple[Array, NDArray[np.intp], Array]


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


def _jumps(on: Array, off: Array, keys: Keys | None = None) -> Jumps:
    """The starts (+1) and ends (-1) of spells in time order, ties kept in the order of
    ``concat(on, off)``: exactly the order a stable sort in :func:`step_integral` gives
    (``keys``: the times' integer keys, see spells._time_keys, to sort those instead).

    Any subset of the spells, taken from this order, is in the order its own stable sort would
    give (the subset's positions map monotonically onto these), so one sort serves many series.
    """
    n = len(on)
    times = np.concatenate((on, off))
    order = (np.concatenate(keys) if keys is not None else times).argsort(kind="stable")
    is_on = order < n
    return times[order], np.where(is_on, order, order - n), np.where(is_on, 1.0, -1.0)


def _jump_sets(sets: Sequence[tuple[Array, Array, Keys | None]]) -> list[Jumps]:
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
    jumps: Jumps, group: NDArray[np.integer], n_groups: int
) -> tuple[Jumps, list[int]]:
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


# -- the families' table of step functions ---------------------------------------------------

COUNTS, LEVELS, AMOUNTS, COSTS = range(4)
"""The groups of a :class:`StepTable`, in the order :class:`_StepRows` integrates them.

``COUNTS``: numbers of children (every jump +1 or -1), by week; ``LEVELS``: other levels, by
week; ``AMOUNTS``: daily amounts, by week and financial year; ``COSTS``: daily costs at start-date
prices, integrated against the price index, by week and financial year."""


@dataclass(slots=True)
class Rows:
    """Rows added to a :class:`StepTable` together: where to read their integrals."""

    group: int
    first: int  # within its group
    n: int


class StepTable:
    """Every family's step functions, integrated together in one pass (:class:`_StepRows`).

    A family adds its rows to the group saying what they are integrated for, in any order
    relative to other families: the groups are laid out in their own order when integrated.
    Within a group, rows keep the order they were added in.
    """

    def __init__(self) -> None:
        self._parts: list[list[tuple[Array, Array, Sequence[int]]]] = [[], [], [], []]
        self._n = [0, 0, 0, 0]

    def add(self, group: int, times: Array, deltas: Array, sizes: Sequence[int]) -> Rows:
        """Rows whose jumps are ``times``/``deltas`` back to back, ``sizes`` jumps each (times
        sorted per row, ties as :func:`_jumps` orders them)."""
        first = self._n[group]
        self._parts[group].append((times, deltas, sizes))
        self._n[group] = first + len(sizes)
        return Rows(group, first, len(sizes))

    def integrate(self, g: Callable[[Array], Array], cal: Calendar) -> Integrals:
        """Integrals of every row by week, and of the ``AMOUNTS`` and ``COSTS`` rows by year
        (``COSTS`` against ``g``, the price index's integral)."""
        steps = _StepRows()
        for group, parts in enumerate(self._parts):
            for times, deltas, sizes in parts:
                steps.add(times, deltas, sizes, indexed=group == COSTS, unit_steps=group == COUNTS)
        starts = [0, *itertools.accumulate(self._n)][:-1]
        at_week, at_year = steps.integrate(g, ((cal.weeks, 0), (cal.years, starts[AMOUNTS])))
        return Integrals(at_week, at_year, starts, cal.week_len)


class Integrals:
    """A :class:`StepTable`'s integrals, read by the :class:`Rows` handles it gave out."""

    def __init__(self, at_week: Array, at_year: Array, starts: list[int], week_len: Array) -> None:
        self._starts = starts
        self._by_week = at_week[:, 1:] - at_week[:, :-1]
        # The mean level of each COUNTS and LEVELS row in each week, in one division.
        self._mean = self._by_week[: starts[AMOUNTS]] / week_len
        # Week edges run from 0 to the horizon: the whole run's integral, as from [0, horizon].
        self._whole_run = at_week[:, -1] - at_week[:, 0]
        self._by_year = at_year[:, 1:] - at_year[:, :-1]
        self._year_first = starts[AMOUNTS]
        # Sums of each year row at once (a row sum is np.sum of that row, to the bit).
        self._year_sums: list[float] = self._by_year.sum(axis=1).tolist()

    def week(self, rows: Rows) -> Array:
        """Integral over each week (rows x weeks)."""
        first = self._starts[rows.group] + rows.first
        return self._by_week[first : first + rows.n]

    def week_mean(self, rows: Rows) -> Array:
        """Mean over each week (rows x weeks) of ``COUNTS`` or ``LEVELS`` rows."""
        if rows.group > LEVELS:
            raise ValueError("weekly means are of COUNTS and LEVELS rows")
        first = self._starts[rows.group] + rows.first
        return self._mean[first : first + rows.n]

    def whole_run(self, rows: Rows) -> Array:
        """Integral over the whole run, per row."""
        first = self._starts[rows.group] + rows.first
        return self._whole_run[first : first + rows.n]

    def year(self, rows: Rows) -> Array:
        """Integral over each financial year (rows x years) of ``AMOUNTS`` or ``COSTS`` rows."""
        if rows.group < AMOUNTS:
            raise ValueError("only AMOUNTS and COSTS rows are integrated by year")
        first = self._starts[rows.group] + rows.first - self._year_first
        return self._by_year[first : first + rows.n]

    def year_total(self, rows: Rows) -> list[float]:
        """Sum of :meth:`year` along each row."""
        if rows.group < AMOUNTS:
            raise ValueError("only AMOUNTS and COSTS rows are integrated by year")
        first = self._starts[rows.group] + rows.first - self._year_first
        return self._year_sums[first : first + rows.n]
