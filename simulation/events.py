"""The event log: the single source of truth of one replication.

Every change of state appends one row. Every metric is derived from the finished log, never from
the model's internal state, so a result can always be traced back to the events behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pandas as pd
from numpy.typing import NDArray


class EventKind(IntEnum):
    """Vocabulary of events (append-only: codes are stored in result files)."""

    ARRIVE = 1  # a child needs a placement; cohort: unit = where they live, value = days in care
    SEARCH = 2  # a framework or spot search starts (unit: the market; value: search days)
    PLACE = 3  # a child moves into a unit (value: weekly price at start-date prices)
    DISPLACE = 4  # a child must leave a unit that closes; the child then seeks a new bed
    EXIT = 5  # a child leaves residential care (route says where to)
    UNIT_OPEN = 6  # beds become usable (value: number of beds)
    UNIT_CLOSE = 7  # beds stop being usable (value: number of beds)
    BED_HOLD = 8  # a vacated bed is held empty for turnaround (value: days)
    BED_RELEASE = 9  # a held bed is ready for the next child
    READY = 10  # due to step down to foster care, but no carer is free: stays in the bed
    CARER_FREE = 11  # a step-down foster carer becomes free again
    CARER_ADDED = 12  # step-down foster carers recruited (value: how many)
    MOVE = 13  # a child leaves a unit for another (the PLACE follows at the same instant)
    BREAKDOWN = 14  # a placement breaks down: the child seeks a new one
    PREVENT = 15  # a would-be arrival is diverted home by a prevention service
    PRICE_CHANGE = 16  # a running placement's weekly price changes (value: new price)
    RETAINER = 17  # a retainer is paid to hold a bed before moving in (value: days)
    STAY_LIMIT = 18  # a short-stay home's longest stay is reached: the child moves on
    FILL_CAPPED = 19  # a new home's phased fill allows no more admissions this month
    FILL_RESUMED = 20  # the next month of a phased fill begins
    HOME_STAGE = 21  # a stage of a new home's project ends (value: stage number, from 0)
    CONTRACT_EXTENDED = 22  # a block contract's extension is taken up (value: days added)
    PROCURE = 23  # a DPS tranche is procured (unit: the tranche; value: lead time days)
    STAFF_JOIN = 24  # staff start in a home (value: staff in post after)
    STAFF_LEAVE = 25  # a member of staff leaves (value: staff in post after)
    STAFF_SHORT = 26  # a home cannot cover its rota: admissions close (value: beds closed)
    STAFF_COVERED = 27  # the rota is covered again: admissions reopen
    AGENCY = 28  # agency / overtime cover in use changes (value: FTE now)
    FAMILY_PLAN = 29  # a child entering care is planned for family-based care (fostering)
    FOSTER_PLACE = 30  # a child starts with a foster carer (value: weekly cost; route: FOSTER_*;
    #   in_city: 1 when the child steps down from residential care, else 0)
    FOSTER_END = 31  # a child's time with a foster carer ends (route: FOSTER_*)
    NO_FOSTER = 32  # no foster placement found: the child enters residential care for want of one
    CARERS_JOIN = 33  # in-house foster carers register (value: how many; route: 0 initial, 1 new)
    CARER_LEAVE = 34  # an in-house foster carer deregisters (free, or at a placement's end)


class Route(IntEnum):
    """Where a child goes on leaving residential care."""

    FOSTER = 0
    HOME = 1
    SUPPORTED = 2
    OTHER = 3
    AGE_OUT = 4


ROUTE_LABELS = {r.value: r.name.lower() for r in Route}
# Why a child moved (the ``route`` column of a MOVE row).
MOVE_FOUND = 0  # the search ended: from an unregistered placement to the bed found
MOVE_REPATRIATION = 1  # brought back into a freed in-city bed
NO_UNIT = -1
ARRIVE_EMERGENCY = 1  # the ``route`` column of an ARRIVE row: an emergency (else -1)
# Why a bed is held empty (the ``route`` column of a BED_HOLD row).
HOLD_TURNAROUND = -1  # turnaround_days: one lump for every reason
HOLD_REPAIR = 1  # repair or redecoration after a child left
HOLD_TRANSITION = 2  # kept for a matched child's planned move-in (``child`` is that child)
# Which carer a foster placement is with (the ``route`` column of FOSTER_PLACE / FOSTER_END).
FOSTER_IN_HOUSE = 0  # the council's own foster carers (fostering.in_house)
FOSTER_IFA = 1  # an independent fostering agency (fostering.ifa)
FOSTER_NEXT_STEP = 2  # a step-down "next step" carer (step_down.foster_carers)
FOSTER_TYPES = ("in_house", "ifa", "next_step")
FOSTER_WEEKLY = (
    *(f"children_foster_{t}" for t in FOSTER_TYPES),
    "children_want_of_foster",
    "foster_carers_registered",
    "foster_carers_free",
    "foster_cost_gbp",
)
"""The fostering link's weekly series (simulation/metrics/fostering.py; observed points may
name them)."""


ROW_DTYPE = np.dtype(
    [
        ("time", np.float64),
        ("kind", np.int8),
        ("child", np.int32),
        ("unit", np.int16),
        ("need", np.int16),
        ("value", np.float64),
        ("in_city", np.int8),
        ("route", np.int8),
    ]
)


# One row of the log: (time, kind, child, unit, need, value, in_city, route).
LogRow = tuple[float, int, int, int, int, float, int, int]


class EventLog:
    """Append-only log; rows are (time, kind, child, unit, need, value, in_city, route).

    Hot paths append tuples to ``rows`` directly (a method call per row costs as much as the
    row). Rows of a timeline worked out before the run (staffing) come in through ``merge``.
    """

    __slots__ = ("_merged", "rows")

    def __init__(self) -> None:
        self.rows: list[LogRow] = []
        self._merged: list[NDArray[np.void]] = []

    def append(
        self,
        time: float,
        kind: EventKind,
        child: int = -1,
        unit: int = NO_UNIT,
        need: int = -1,
        value: float = 0.0,
        in_city: int = -1,
        route: int = -1,
    ) -> None:
        self.rows.append((time, int(kind), child, unit, need, value, in_city, route))

    def merge(self, rows: NDArray[np.void]) -> None:
        """Add rows (of ``ROW_DTYPE``, in time order) from a timeline computed ahead of the run."""
        self._merged.append(rows)

    def __len__(self) -> int:
        return len(self.rows) + sum(len(m) for m in self._merged)

    def freeze(self) -> FrozenLog:
        # One C-level conversion of the row tuples, then contiguous columns.
        rows = np.array(self.rows, dtype=ROW_DTYPE)
        if self._merged:
            # Each part is in time order; a stable sort puts merged rows first at a tie (they
            # are the causes: a leaver, then the home closing to admissions).
            rows = np.concatenate([*self._merged, rows])
            rows = rows[np.argsort(rows["time"], kind="stable")]
        names = ROW_DTYPE.names or ()
        return FrozenLog(**{name: np.ascontiguousarray(rows[name]) for name in names})


@dataclass(frozen=True)
class FrozenLog:
    """Columnar, read-only event log, in the order events happened."""

    time: NDArray[np.float64]
    kind: NDArray[np.int8]
    child: NDArray[np.int32]
    unit: NDArray[np.int16]
    need: NDArray[np.int16]
    value: NDArray[np.float64]
    in_city: NDArray[np.int8]
    route: NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.time)

    def to_frame(
        self, units: list[str] | None = None, needs: list[str] | None = None
    ) -> pd.DataFrame:
        """The log as a DataFrame, with names instead of codes where given."""
        df = pd.DataFrame(
            {
                "time_days": self.time,
                "kind": pd.Categorical.from_codes(
                    self.kind.astype(np.int64) - 1, pd.Index([k.name for k in EventKind])
                ),
                "child": self.child,
                "unit": self.unit,
                "need": self.need,
                "value": self.value,
                "in_city": self.in_city,
                "route": self.route,
            }
        )
        if units is not None:
            df["unit_name"] = [units[u] if u >= 0 else "" for u in self.unit]
        if needs is not None:
            df["need_name"] = [needs[n] if n >= 0 else "" for n in self.need]
        return df
