"""The kinds of place a child can live, and what each kind is: the one home of that vocabulary.

Every module that needs to know whether a unit has beds, is a market, how it is paid or where
its children live asks this table; none restates the list of kinds or assumes an order of them.
Adding a placement kind (for example supported accommodation for 16-17-year-olds) starts here.

A kind's ``code`` is stored in result files (``units.parquet`` and the metrics' arrays), so codes
are append-only: a new kind takes the next code, never an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

InCity = Literal["unit", "placement"]
Paid = Literal["running_cost", "per_bed", "per_placement"]


@dataclass(frozen=True)
class UnitKind:
    """One kind of unit.

    ``has_beds``: a fixed number of beds that can be free, held, voided or staff-closed (homes,
    block contracts); otherwise a market with no bed limit, where a placement is bought.
    ``in_policy``: may appear in ``placement_policy.order`` (the cascade's stages).
    ``in_city``: whether in-city is a property of the ``unit`` or drawn per ``placement``.
    ``paid``: ``running_cost`` (a home's weekly cost, whether full or not), ``per_bed`` (a block
    contract's price per bed, full or not) or ``per_placement`` (a weekly price per child).
    The ``*_attr`` fields name the per-child attributes (``Children`` fields) a market placement
    reads: its weekly price, whether it is in the city, the search's length, whether the search
    ends with an offer (``None``: always), and the retainer days paid before moving in.
    ``interim_for``: an interim placement used while a search of that kind runs too long.
    """

    name: str
    code: int
    label: str
    has_beds: bool
    in_policy: bool
    in_city: InCity
    paid: Paid
    price_attr: str | None = None
    in_city_attr: str | None = None
    search_attr: str | None = None
    offer_attr: str | None = None
    retainer_attr: str | None = None
    interim_for: str | None = None

    @property
    def is_market(self) -> bool:
        return not self.has_beds


KINDS: tuple[UnitKind, ...] = (
    UnitKind(
        name="internal",
        code=0,
        label="Council homes",
        has_beds=True,
        in_policy=True,
        in_city="unit",
        paid="running_cost",
    ),
    UnitKind(
        name="block",
        code=1,
        label="Block contracts",
        has_beds=True,
        in_policy=True,
        in_city="unit",
        paid="per_bed",
    ),
    UnitKind(
        name="framework",
        code=2,
        label="Framework",
        has_beds=False,
        in_policy=True,
        in_city="placement",
        paid="per_placement",
        price_attr="fw_price",
        in_city_attr="fw_in_city",
        search_attr="fw_search",
        offer_attr="fw_offer",
        retainer_attr="fw_retainer_days",
    ),
    UnitKind(
        name="spot",
        code=3,
        label="Spot purchases",
        has_beds=False,
        in_policy=True,
        in_city="placement",
        paid="per_placement",
        price_attr="spot_price",
        in_city_attr="spot_in_city",
        search_attr="spot_search",
        retainer_attr="spot_retainer_days",
    ),
    UnitKind(
        name="unregistered",
        code=4,
        label="Unregistered",
        has_beds=False,
        in_policy=False,
        in_city="placement",
        paid="per_placement",
        price_attr="unregistered_price",
        in_city_attr="spot_in_city",  # the search it bridges decides where the child lives
        interim_for="spot",
    ),
)

KIND: MappingProxyType[str, UnitKind] = MappingProxyType({k.name: k for k in KINDS})
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
BED_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.has_beds)
MARKET_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.is_market)
# The stages a placement policy may name (in the default order) and the market of last resort.
POLICY_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.in_policy)
LAST_RESORT = "spot"
INTERIM_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.interim_for is not None)


def check_table() -> None:
    """The table's own invariants (codes unique and dense from 0; references resolve)."""
    codes = [k.code for k in KINDS]
    if codes != list(range(len(KINDS))):
        raise ValueError(f"kind codes must be 0..{len(KINDS) - 1} in table order, got {codes}")
    if LAST_RESORT not in POLICY_KINDS or KIND[LAST_RESORT].has_beds:
        raise ValueError(f"the last resort {LAST_RESORT!r} must be a market in the policy")
    for k in KINDS:
        if k.interim_for is not None and k.interim_for not in KIND:
            raise ValueError(f"kind {k.name!r}: interim_for {k.interim_for!r} is not a kind")
        if k.is_market and k.price_attr is None:
            raise ValueError(f"market kind {k.name!r} needs a price_attr")


check_table()
