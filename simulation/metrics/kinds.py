"""The kinds of unit as the metrics use them: codes and lookups from the kinds table.

A unit's kind is stored as its code (``simulation.kinds``: append-only, in table order), so the
metrics can group spells by kind with integer keys. Whether a code has beds, is a market or is
paid as a whole home comes from the table through the lookups below; nothing here assumes an
order of kinds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.kinds import BED_KINDS, KIND, KIND_NAMES, KINDS, MARKET_KINDS
from simulation.metrics.steps import Array
from simulation.units import UnitInfo

PROVISION_KINDS = KIND_NAMES  # by code
MARKETS = MARKET_KINDS
_SPOT = KIND["spot"].code
_FRAMEWORK = KIND["framework"].code
_UNREGISTERED = KIND["unregistered"].code
_HAS_BEDS = np.array([k.has_beds for k in KINDS])  # by code
_PAID_AS_HOME = np.array([k.paid == "running_cost" for k in KINDS])  # a home's cost, not a bed's
# Each code's position among the bed kinds (-1: a market), and the market kinds' codes.
BED_INDEX = np.array([BED_KINDS.index(k.name) if k.has_beds else -1 for k in KINDS], np.int8)
MARKET_CODES: tuple[int, ...] = tuple(KIND[k].code for k in MARKET_KINDS)

__all__ = [
    "BED_INDEX",
    "BED_KINDS",
    "MARKETS",
    "MARKET_CODES",
    "PROVISION_KINDS",
    "bed_daily_cost",
    "has_bed_codes",
    "has_beds",
    "kind_codes",
    "market_codes",
    "running_daily_cost",
]


def kind_codes(units: list[UnitInfo]) -> NDArray[np.int8]:
    """Each unit's kind as its code."""
    return np.array([KIND[u.kind].code for u in units], dtype=np.int8)


def has_beds(unit: UnitInfo) -> bool:
    return unit.has_beds


def has_bed_codes(codes: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Which of the kind ``codes`` have beds."""
    return _HAS_BEDS[codes]


def market_codes(codes: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Which of the kind ``codes`` are markets."""
    return ~_HAS_BEDS[codes]


def bed_daily_cost(units: list[UnitInfo]) -> Array:
    """What one bed of each unit costs a day at start-date prices, full or not (0: a market)."""
    return np.array([u.weekly_cost_per_bed_gbp / 7.0 for u in units])


def running_daily_cost(
    units: list[UnitInfo], unit: NDArray[np.int16], kind: NDArray[np.int8], beds: Array
) -> Array:
    """The daily running cost of usable-bed spells (``unit``, its ``kind``, ``beds`` usable):
    a council home's whole cost, or a block contract's price per bed times its beds."""
    rate = np.array([u.weekly_cost_gbp / 7.0 for u in units])[unit]
    return np.where(_PAID_AS_HOME[kind], rate, rate * beds)
