"""The event log as spells: intervals from one event to the next of the same child or unit.

A child is placed from a PLACE (or PRICE_CHANGE) to its next placement event; waits from
ARRIVE, DISPLACE or BREAKDOWN to its next PLACE or EXIT; awaits a foster carer from READY to
EXIT. A unit's beds are usable from UNIT_OPEN to UNIT_CLOSE; levels (agency cover) last to the
unit's next such event. Rows of the kinds that share a key (a child, a unit) are sorted once
(:class:`_Keyed`), by integer time keys where possible (:func:`_time_keys`), and every kind of
spell of that key is read from that one sort. Spells end at the horizon at the latest.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from simulation.events import EventKind, FrozenLog
from simulation.metrics.steps import Array, Keys


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
    ) -> tuple[NDArray[np.intp], NDArray[np.int8], Array, Array, Keys | None]:
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


def _select(keys: Keys | None, mask: NDArray[np.bool_]) -> Keys | None:
    return None if keys is None else (keys[0][mask], keys[1][mask])


def _placements(
    log: FrozenLog, horizon: float, by_child: _Keyed | None = None
) -> tuple[Spells, Keys | None]:
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
) -> tuple[Array, Array, Keys | None]:
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
) -> tuple[Array, Array, Keys | None]:
    by_child = by_child or _Keyed.sort(log, log.child, _READY_BOUNDARIES)
    _, kind, time, end, keys = by_child.spells(_READY_BOUNDARIES, horizon)
    is_start = kind == _C.READY
    return time[is_start], end[is_start], _select(keys, is_start)


def ready_spells(log: FrozenLog, horizon: float) -> tuple[Array, Array]:
    """A child ready to step down to foster care with no carer: from READY to its EXIT."""
    return _ready(log, horizon)[:2]


def _usable(
    log: FrozenLog, horizon: float, by_unit: _Keyed | None = None
) -> tuple[NDArray[np.int16], Array, Array, Array, Keys | None]:
    by_unit = by_unit or _Keyed.sort(log, log.unit, _USABLE_BOUNDARIES)
    rows, kind, time, end, keys = by_unit.spells(_USABLE_BOUNDARIES, horizon)
    is_start = kind == _C.UNIT_OPEN
    sel = rows[is_start]
    return log.unit[sel], time[is_start], end[is_start], log.value[sel], _select(keys, is_start)


def usable_spells(log: FrozenLog, horizon: float) -> tuple[NDArray[np.int16], Array, Array, Array]:
    """Beds usable in a unit: (unit, start, end, beds) from UNIT_OPEN to UNIT_CLOSE."""
    return _usable(log, horizon)[:4]


def _level_spells(
    log: FrozenLog, kind: int, horizon: float, by_unit: _Keyed | None = None
) -> tuple[NDArray[np.int16], Array, Array, Array, Keys | None]:
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


Intervals: TypeAlias = dict[int, list[tuple[float, float]]]  # per unit, [start, end) intervals


def _intervals_by_unit(
    log: FrozenLog, rows: NDArray[np.intp], opens: int, ends: int, horizon: float
) -> Intervals:
    """Per unit, [start, end) intervals from ``opens`` to the next ``ends`` (or the horizon).

    ``rows``: the log rows of both kinds, in log order. A repeated ``opens`` (or an ``ends``
    with nothing open) is ignored.
    """
    out: Intervals = {}
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
