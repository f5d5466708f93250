"""The kinds of unit, as the metrics know them: the one place in this package that names them.

A unit's kind is coded by its position in :data:`PROVISION_KINDS`; the codes below
``_BED_KIND_CODES`` are the kinds with beds (council homes and block contracts), the rest are
markets, where a placement is bought at a weekly price. Every other module of the package asks
this one about kinds, by these names and functions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.metrics.steps import Array
from simulation.processes.placement import UnitInfo

PROVISION_KINDS = ("internal", "block", "framework", "spot", "unregistered")
MARKETS = ("framework", "spot", "unregistered")
_BED_KIND_CODES = 2  # PROVISION_KINDS[:2] have beds (internal, block)
_SPOT = PROVISION_KINDS.index("spot")
_FRAMEWORK = PROVISION_KINDS.index("framework")
_UNREGISTERED = PROVISION_KINDS.index("unregistered")
BED_KINDS = PROVISION_KINDS[:_BED_KIND_CODES]
_PER_HOME = PROVISION_KINDS.index("internal")  # a council home's cost is the home's, not a bed's


def kind_codes(units: list[UnitInfo]) -> NDArray[np.int8]:
    """Each unit's kind as its code."""
    return np.array([PROVISION_KINDS.index(u.kind) for u in units], dtype=np.int8)


def has_beds(unit: UnitInfo) -> bool:
    return unit.kind in ("internal", "block")


def has_bed_codes(codes: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Which of the kind ``codes`` have beds."""
    return codes < _BED_KIND_CODES


def market_codes(codes: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Which of the kind ``codes`` are markets."""
    return codes >= _FRAMEWORK


def bed_daily_cost(units: list[UnitInfo]) -> Array:
    """What one bed of each unit costs a day at start-date prices, full or not (0: a market)."""
    return np.array(
        [
            (u.weekly_cost_gbp / u.beds if u.kind == "internal" else u.weekly_cost_gbp) / 7.0
            if u.beds
            else 0.0
            for u in units
        ]
    )


def running_daily_cost(
    units: list[UnitInfo], unit: NDArray[np.int16], kind: NDArray[np.int8], beds: Array
) -> Array:
    """The daily running cost of usable-bed spells (``unit``, its ``kind``, ``beds`` usable):
    a council home's whole cost, or a block contract's price per bed times its beds."""
    rate = np.array([u.weekly_cost_gbp / 7.0 for u in units])[unit]
    return np.where(kind == _PER_HOME, rate, rate * beds)
