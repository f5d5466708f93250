"""What every family of metrics reads, built once per replication: :class:`Context`.

The log is sorted once by kind (:class:`_RowsByKind`), once by child and once by unit
(:class:`_Keyed`); every kind of spell is read from those sorts, and the jumps of every set of
spells that is integrated come from one sort of them all (:func:`_jump_sets`).

The records families pass on (here and in the families) are slotted dataclasses, and not frozen:
they are built per replication and read many times, Python reads slots fastest, and a frozen
dataclass sets each field through ``object.__setattr__``. Nothing changes them once built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR
from simulation.events import EventKind, FrozenLog
from simulation.metrics.bins import Calendar, calendar, inflation_integral, price_index
from simulation.metrics.kinds import (
    BED_INDEX,
    BED_KINDS,
    PROVISION_KINDS,
    has_bed_codes,
    kind_codes,
)
from simulation.metrics.spells import (
    _C,
    _READY_BOUNDARIES,
    _USABLE_BOUNDARIES,
    _WAITING_BOUNDARIES,
    PLACEMENT_BOUNDARIES,
    Spells,
    _Keyed,
    _level_spells,
    _placements,
    _ready,
    _RowsByKind,
    _time_keys,
    _usable,
    _waiting,
)
from simulation.metrics.steps import Array, Jumps, _group_jumps, _jump_sets
from simulation.model import Replication
from simulation.scenario import Scenario
from simulation.units import UnitInfo

# The kinds of row sorted by child, and by unit: every spell of either key is read from them.
_CHILD_KINDS = (*PLACEMENT_BOUNDARIES, *_WAITING_BOUNDARIES, *_READY_BOUNDARIES)
_UNIT_KINDS = (*_USABLE_BOUNDARIES, EventKind.AGENCY)


@dataclass(slots=True)
class FamilyTables:
    """What a family of metrics returns: its weekly series, its columns by financial year and
    its summary figures."""

    weekly: dict[str, Array]
    finance: dict[str, Array]
    summary: dict[str, float]


@dataclass(slots=True)
class Usable:
    """Beds usable in a unit, from UNIT_OPEN to UNIT_CLOSE (one spell per opening)."""

    unit: NDArray[np.int16]
    start: Array
    end: Array
    beds: Array
    kind: NDArray[np.int8]  # the unit's kind code
    bed_days: Array


@dataclass(slots=True)
class Grouped:
    """Jumps of a set of spells grouped by the kind of their unit (time order within each),
    and the number of jumps of each kind."""

    jumps: Jumps
    sizes: list[int]


@dataclass(slots=True)
class AllJumps:
    """The jumps of every set of spells that is integrated (from one sort)."""

    placed: Jumps  # children placed
    placed_by_kind: Grouped  # ... by provision kind
    waiting: Jumps  # children waiting for a placement
    ready: Jumps  # children awaiting a foster carer
    usable_by_kind: Grouped  # usable beds, by bed kind (in BED_KINDS order)
    free_beds: Jumps  # usable beds (spells 0 ..) less beds occupied (the rest), in bed units
    agency: Jumps  # agency cover


@dataclass(slots=True)
class Context:
    """A replication's log and units, its calendar and price index, its spells and their jumps."""

    scenario: Scenario
    log: FrozenLog
    units: list[UnitInfo]
    horizon: float
    years: float
    g: Callable[[Array], Array]  # the price index's integral (costs.inflation_per_year)
    price_index: Callable[[Array], Array]
    cal: Calendar
    kind_of: NDArray[np.int8]  # each unit's kind code
    rows: _RowsByKind
    by_child: _Keyed  # the rows of children's spells by child (retainers join its PLACEs)
    placed: Spells
    placed_kind: NDArray[np.int8]
    placed_len: Array
    placed_in_beds: NDArray[np.bool_]  # placed in a unit with beds
    placed_g: tuple[Array, Array]  # g of the placed spells' starts and ends
    waiting: tuple[Array, Array]  # (start, end) of each spell waiting for a placement
    ready: tuple[Array, Array]  # (start, end) of each spell awaiting a foster carer
    usable: Usable
    agency_fte: Array  # the FTE each agency spell covers
    jumps: AllJumps


def build_context(scenario: Scenario, rep: Replication) -> Context:
    """Sort the log, read its spells and sort their jumps: once, for every family."""
    log, units = rep.log, rep.units
    horizon = scenario.horizon_days
    g = inflation_integral(scenario.costs.inflation_per_year)
    kind_of = kind_codes(units)
    time_keys = _time_keys(log, horizon)
    by_child = _Keyed.sort(log, log.child, _CHILD_KINDS, time_keys)
    by_unit = _Keyed.sort(log, log.unit, _UNIT_KINDS, time_keys)
    sp, sp_keys = _placements(log, horizon, by_child)
    sp_kind = kind_of[sp.unit] if len(sp.unit) else np.zeros(0, dtype=np.int8)
    w_on, w_off, w_keys = _waiting(log, horizon, by_child)
    r_on, r_off, r_keys = _ready(log, horizon, by_child)
    us_unit, us_on, us_off, us_beds, us_keys = _usable(log, horizon, by_unit)
    us_kind = kind_of[us_unit] if len(us_unit) else np.zeros(0, dtype=np.int8)
    _, ag_on, ag_off, ag_fte, ag_keys = _level_spells(log, _C.AGENCY, horizon, by_unit)
    in_beds = has_bed_codes(sp_kind)
    free_keys = (
        None
        if us_keys is None or sp_keys is None
        else (
            np.concatenate([us_keys[0], sp_keys[0][in_beds]]),
            np.concatenate([us_keys[1], sp_keys[1][in_beds]]),
        )
    )
    placed, waiting, ready, usable_jumps, free_beds, agency = _jump_sets(
        [
            (sp.start, sp.end, sp_keys),
            (w_on, w_off, w_keys),
            (r_on, r_off, r_keys),
            (us_on, us_off, us_keys),
            (
                np.concatenate([us_on, sp.start[in_beds]]),
                np.concatenate([us_off, sp.end[in_beds]]),
                free_keys,
            ),
            (ag_on, ag_off, ag_keys),
        ]
    )
    jumps = AllJumps(
        placed=placed,
        placed_by_kind=Grouped(*_group_jumps(placed, sp_kind, len(PROVISION_KINDS))),
        waiting=waiting,
        ready=ready,
        usable_by_kind=Grouped(*_group_jumps(usable_jumps, BED_INDEX[us_kind], len(BED_KINDS))),
        free_beds=free_beds,
        agency=agency,
    )
    return Context(
        scenario=scenario,
        log=log,
        units=units,
        horizon=horizon,
        years=horizon / DAYS_PER_YEAR,
        g=g,
        price_index=price_index(scenario.costs.inflation_per_year),
        cal=calendar(scenario.run.start_date, horizon),
        kind_of=kind_of,
        rows=_RowsByKind(log),
        by_child=by_child,
        placed=sp,
        placed_kind=sp_kind,
        placed_len=sp.end - sp.start,
        placed_in_beds=in_beds,
        placed_g=(g(sp.start), g(sp.end)),
        waiting=(w_on, w_off),
        ready=(r_on, r_off),
        usable=Usable(us_unit, us_on, us_off, us_beds, us_kind, (us_off - us_on) * us_beds),
        agency_fte=ag_fte,
        jumps=jumps,
    )
