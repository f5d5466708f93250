"""SSDA903 code lists, versioned by return year, and their meaning for the model.

The 903 return changes its code lists between collection years. Placement codes matter here:
from the 2024-25 return the semi-independent code H5, independent living P2 and "other" Z1 are
gone and K3 (registered supported accommodation) is new (the DfE's SSDA903 guides,
docs/sources.md#dfe-903). An extract that spans several returns holds both generations of codes,
so each code carries the return years in which it is valid and a *harmonised* category that
means the same thing in every year: H5 and K3 are both ``supported``, whatever year they were
recorded in.

A return year is the UK financial year of the collection: ``2023`` is the 2023-24 return
(1 April 2023 - 31 March 2024). An episode may carry a code if the code was valid in any return
year the episode was open in (an H5 episode that started in 2022 and ran into 2024 was reported
under H5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# First return year without H5/P2/Z1 and with K3 (the 2024-25 collection). One constant, so that a
# change in the DfE guidance is a one-line fix.
SUPPORTED_ACCOMMODATION_YEAR = 2024


@dataclass(frozen=True)
class Code:
    """One code of a 903 field: label, harmonised category and the return years it is valid in."""

    code: str
    label: str
    category: str
    first_year: int | None = None  # first return year (inclusive); None = always
    last_year: int | None = None  # last return year (inclusive); None = still valid

    def valid_in(self, year: int) -> bool:
        return (self.first_year is None or year >= self.first_year) and (
            self.last_year is None or year <= self.last_year
        )

    def years_text(self) -> str:
        if self.first_year is not None:
            return f"valid from the {return_year_label(self.first_year)} return"
        if self.last_year is not None:
            return f"removed from the {return_year_label(self.last_year + 1)} return"
        return "valid in every return"


_LAST_OLD = SUPPORTED_ACCOMMODATION_YEAR - 1

# Placement types. Categories: residential (children's homes and like), secure, fostering,
# parents, supported, independent, adoption, health, custody, temporary, other.
PLACE_CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code("K2", "Children's home subject to Children's Homes Regulations", "residential"),
        Code("R1", "Residential care home", "residential"),
        Code("K1", "Secure children's home", "secure"),
        Code("S1", "Residential school (not dual-registered as a children's home)", "school"),
        Code("R2", "NHS / health trust establishment providing medical or nursing care", "health"),
        Code("R3", "Family centre or mother and baby unit", "other"),
        Code("R5", "Young offender institution", "custody"),
        Code("U1", "Foster placement with relative or friend - long term", "fostering"),
        Code(
            "U2", "Foster placement with relative or friend - fostering for adoption", "fostering"
        ),
        Code("U3", "Foster placement with relative or friend - other", "fostering"),
        Code("U4", "Foster placement with other foster carer - long term", "fostering"),
        Code(
            "U5", "Foster placement with other foster carer - fostering for adoption", "fostering"
        ),
        Code("U6", "Foster placement with other foster carer - other", "fostering"),
        Code("P1", "Placed with own parent(s) or person with parental responsibility", "parents"),
        Code("P3", "Residential employment", "other"),
        Code("A3", "Placed for adoption with consent with current foster carer", "adoption"),
        Code("A4", "Placed for adoption with consent not with current foster carer", "adoption"),
        Code(
            "A5", "Placed for adoption with placement order with current foster carer", "adoption"
        ),
        Code(
            "A6",
            "Placed for adoption with placement order not with current foster carer",
            "adoption",
        ),
        Code("T0", "Temporary move of any type", "temporary"),
        Code("T1", "Temporary period in hospital", "temporary"),
        Code("T2", "Temporary absence on holiday", "temporary"),
        Code("T3", "Temporary accommodation while foster carer on holiday", "temporary"),
        Code("T4", "Temporary accommodation of seven days or less", "temporary"),
        Code(
            "H5",
            "Semi-independent living not subject to children's homes regulations",
            "supported",
            last_year=_LAST_OLD,
        ),
        Code(
            "P2",
            "Independent living (flat, lodgings, B&B, friends)",
            "independent",
            None,
            _LAST_OLD,
        ),
        Code("Z1", "Other placement (listed on a schedule to DfE)", "other", None, _LAST_OLD),
        Code(
            "K3",
            "Registered supported accommodation",
            "supported",
            first_year=SUPPORTED_ACCOMMODATION_YEAR,
        ),
    )
}

PROVIDER_CODES: dict[str, str] = {
    "PR0": "Parent(s) or person with parental responsibility",
    "PR1": "Own local authority provision",
    "PR2": "Other local authority provision",
    "PR3": "Other public provision",
    "PR4": "Private provision",
    "PR5": "Voluntary / third sector provision",
}

RNE_CODES: dict[str, str] = {
    "S": "Started to be looked after",
    "L": "Change of legal status only",
    "P": "Change of placement and carer(s) only",
    "T": "Change of placement (but same carer(s)) only",
    "B": "Change of legal status and placement and carer(s) at the same time",
    "U": "Change of legal status and change of placement (but same carer(s)) at the same time",
}
# New episodes that do not change who looks after the child: merged into the previous episode
# when they start the day it ends in the same placement (as the public demand models do).
STATUS_ONLY_RNE = frozenset({"L", "T", "U"})

LS_CODES = frozenset({"C1", "C2", "D1", "E1", "V2", "V3", "V4", "L1", "L2", "L3", "J1", "J2", "J3"})
CIN_CODES = frozenset({"N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"})

# Reason episode ceased -> the model's exit route. X1 (a new episode starts the same day) is not an
# exit: the route then comes from the next placement.
REC_ROUTES: dict[str, str] = {
    "E11": "home",  # adopted: leaves to a family
    "E12": "home",
    "E41": "home",  # residence / child arrangements order
    "E43": "home",  # special guardianship (pre-2016 codes)
    "E44": "home",
    "E45": "home",  # special guardianship
    "E46": "home",
    "E47": "home",
    "E48": "home",
    "E4A": "home",  # returned home
    "E4B": "home",
    "E13": "home",  # left to live with parents / relatives
    "E5": "supported",  # independent living with support (Staying Close, hostels)
    "E6": "supported",  # independent living without formal support
    "E17": "supported",  # aged 18+, stayed with carers (Staying Put / Close)
    "E2": "other",  # died
    "E3": "other",  # care taken over by another LA
    "E7": "other",  # transferred to adult social care
    "E8": "other",
    "E9": "other",  # sentenced to custody
    "E14": "other",  # remand ended
    "E15": "other",  # age assessment: 18 or over
    "E16": "other",  # moved abroad
    "E99": "other",  # not recorded
}
REC_CODES = frozenset({*REC_ROUTES, "X1"})

# The next placement's harmonised category -> exit route (for a residential stay ending in X1).
CATEGORY_ROUTES: dict[str, str] = {
    "fostering": "foster",
    "parents": "home",
    "adoption": "home",
    "supported": "supported",
    "independent": "supported",
}

# Placement codes counted as residential care by default: the public demand models' "Resi".
DEFAULT_RESIDENTIAL = ("K2", "R1")


def return_year(when: dt.date) -> int:
    """The return (UK financial) year a date falls in: 2023 for 1 Apr 2023 - 31 Mar 2024."""
    return when.year if when.month >= 4 else when.year - 1


def return_year_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


def place_category(code: str) -> str:
    """Harmonised category of a placement code (the same for H5 and K3); 'unknown' if not a code."""
    info = PLACE_CODES.get(code)
    return info.category if info is not None else "unknown"


def place_code_problem(code: str, first_year: int, last_year: int) -> str | None:
    """Why ``code`` cannot be on an episode open in return years ``first_year..last_year``.

    None when the code is valid in at least one of those years.
    """
    info = PLACE_CODES.get(code)
    if info is None:
        allowed = ", ".join(c for c, i in PLACE_CODES.items() if i.valid_in(last_year))
        return (
            f"unknown placement code '{code}' "
            f"(allowed in the {return_year_label(last_year)} return: {allowed})"
        )
    if any(info.valid_in(y) for y in range(first_year, last_year + 1)):
        return None
    span = return_year_label(first_year)
    if last_year != first_year:
        span += f" to {return_year_label(last_year)}"
    hint = ""
    if code in ("H5",):
        hint = "; registered supported accommodation is K3"
    elif code == "K3":
        hint = "; before then supported accommodation was H5"
    return f"'{code}' ({info.label}) is {info.years_text()}, but the episode is in {span}{hint}"
