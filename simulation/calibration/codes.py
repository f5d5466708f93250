"""SSDA903 code lists by collection year, and their meaning for the model: one table.

The 903 return changes its code lists between collection years. A *collection year* is named by
the UK financial year it covers: ``2023`` is the 2023-24 return (1 April 2023 - 31 March 2024).
:data:`CODES` holds every code of the fields this tool reads or writes (placement type,
reason for new episode, reason episode ceased, legal status, placement provider, category of
need, sex), each with the collection years it is valid in and the DfE guide that says so
(:data:`GUIDES`; docs/ssda903.md lists them). The years covered are 2016-17 to 2025-26; a date
outside them is judged by the nearest covered year.

The changes inside that span, as the guides and the DfE's validation rules for each year have
them:

- placement type: registered supported accommodation K3 is new in 2024-25; semi-independent
  living H5, independent living P2 and "other placement" Z1 are still valid in 2024-25 and gone
  from 2025-26, when Z1 is split into Z11-Z14 (validation rule 146 of each year);
- sex: 1 (male) and 2 (female) until 2023-24; M, F and U (unknown) from 2024-25 (rule 101).

An extract spans several returns, so a code is accepted on an episode if it was valid in any
collection year the episode was open in (an H5 episode that started in 2024-25 and runs on was
returned as H5). Each placement code has a *harmonised* category that means the same in every
year: H5 and K3 are both ``supported``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

FIRST_YEAR = 2016  # the 2016-17 collection
LAST_YEAR = 2025  # the 2025-26 collection

GUIDES: dict[int, str] = {
    year: (
        f"Department for Education ({year}), Children looked after by local authorities in "
        f"England: guide to the SSDA903 collection, 1 April {year} to 31 March {year + 1}, and "
        f"the collection's validation rules for {year}-{(year + 1) % 100:02d}"
    )
    for year in range(FIRST_YEAR, LAST_YEAR + 1)
}
"""The DfE guide (and its validation rules) of each collection year, by year."""

FIELDS = {
    "PLACE": "placement",
    "RNE": "reason for new episode",
    "REC": "reason episode ceased",
    "LS": "legal status",
    "PLACE_PROVIDER": "placement provider",
    "CIN": "category of need",
    "SEX": "sex",
}


@dataclass(frozen=True)
class Code:
    """One code of a 903 field: what it means, the years it is valid in, and the guide."""

    field: str  # the 903 column: PLACE, RNE, REC, LS, PLACE_PROVIDER, CIN, SEX
    code: str
    label: str
    category: str = ""  # PLACE: harmonised category; REC: the model's exit route ("" = none)
    first_year: int = FIRST_YEAR  # first collection year it is valid in (inclusive)
    last_year: int = LAST_YEAR  # last collection year it is valid in (inclusive)

    @property
    def guide(self) -> str:
        """The guide that brought the code in (or the first covered one), and the one that
        removed it, if any."""
        text = GUIDES[self.first_year]
        if self.last_year < LAST_YEAR:
            text += f"; removed by {GUIDES[self.last_year + 1]}"
        return text

    def valid_in(self, year: int) -> bool:
        return self.first_year <= _clamp(year) <= self.last_year

    def years_text(self) -> str:
        if self.first_year > FIRST_YEAR:
            return f"valid from the {return_year_label(self.first_year)} return"
        if self.last_year < LAST_YEAR:
            return f"valid until the {return_year_label(self.last_year)} return"
        return "valid in every return"


def _clamp(year: int) -> int:
    return min(max(year, FIRST_YEAR), LAST_YEAR)


_K3_YEAR = 2024  # registered supported accommodation (K3) from 2024-25
_LAST_H5 = 2024  # H5, P2 and Z1 last returned in 2024-25
_SEX_MFU_YEAR = 2024  # sex coded M/F/U from 2024-25


def _place(code: str, label: str, category: str, first: int = FIRST_YEAR, last: int = LAST_YEAR):
    return Code("PLACE", code, label, category, first, last)


def _rec(code: str, label: str, route: str) -> Code:
    return Code("REC", code, label, route)


CODES: tuple[Code, ...] = (
    # Placement type. Categories: residential, secure, school, health, custody, fostering,
    # parents, supported, independent, adoption, temporary, other.
    _place("K2", "Children's home subject to Children's Homes Regulations", "residential"),
    _place("R1", "Residential care home", "residential"),
    _place("K1", "Secure children's home", "secure"),
    _place("S1", "Residential school (not dual-registered as a children's home)", "school"),
    _place("R2", "NHS / health trust or other establishment providing medical care", "health"),
    _place("R3", "Family centre or mother and baby unit", "other"),
    _place("R5", "Young offender institution or prison", "custody"),
    _place("U1", "Foster placement with relative or friend - long term", "fostering"),
    _place("U2", "Foster placement with relative or friend - fostering for adoption", "fostering"),
    _place("U3", "Foster placement with relative or friend - other", "fostering"),
    _place("U4", "Foster placement with other foster carer - long term", "fostering"),
    _place("U5", "Foster placement with other foster carer - fostering for adoption", "fostering"),
    _place("U6", "Foster placement with other foster carer - other", "fostering"),
    _place("P1", "Placed with own parent(s) or person with parental responsibility", "parents"),
    _place("P3", "Residential employment", "other"),
    _place("A3", "Placed for adoption with consent with current foster carer", "adoption"),
    _place("A4", "Placed for adoption with consent not with current foster carer", "adoption"),
    _place("A5", "Placed for adoption with placement order with current foster carer", "adoption"),
    _place(
        "A6", "Placed for adoption with placement order not with current foster carer", "adoption"
    ),
    _place("T0", "Temporary move of any type", "temporary"),
    _place("T1", "Temporary period in hospital", "temporary"),
    _place("T2", "Temporary absence on holiday", "temporary"),
    _place("T3", "Temporary accommodation while foster carer on holiday", "temporary"),
    _place("T4", "Temporary accommodation of seven days or less", "temporary"),
    _place("H5", "Semi-independent living not subject to regulation", "supported", last=_LAST_H5),
    _place("P2", "Independent living (flat, lodgings, bedsit, B&B)", "independent", last=_LAST_H5),
    _place("Z1", "Other placement", "other", last=_LAST_H5),
    _place("K3", "Registered supported accommodation", "supported", first=_K3_YEAR),
    _place("Z11", "Other placement (2025-26 sub-type 1 of the former Z1)", "other", 2025),
    _place("Z12", "Other placement (2025-26 sub-type 2 of the former Z1)", "other", 2025),
    _place("Z13", "Other placement (2025-26 sub-type 3 of the former Z1)", "other", 2025),
    _place("Z14", "Other placement (2025-26 sub-type 4 of the former Z1)", "other", 2025),
    # Reason for new episode.
    Code("RNE", "S", "Started to be looked after"),
    Code("RNE", "L", "Change of legal status only"),
    Code("RNE", "P", "Change of placement and carer(s) only"),
    Code("RNE", "T", "Change of placement (but same carer(s)) only"),
    Code("RNE", "B", "Change of legal status and placement and carer(s) at the same time"),
    Code("RNE", "U", "Change of legal status and change of placement (same carer(s))"),
    # Reason episode ceased -> the model's exit route. X1 (a new episode starts the same day) is
    # not an exit: the route then comes from the next placement.
    Code("REC", "X1", "Episode ceases, and new episode begins on same day"),
    _rec("E11", "Adopted - application for an adoption order unopposed", "home"),
    _rec("E12", "Adopted - consent dispensed with by the court", "home"),
    _rec("E13", "Left care to live with parent(s), relative(s) or other person(s)", "home"),
    _rec("E41", "Residence order (or child arrangements order) granted", "home"),
    _rec("E45", "Special guardianship order made to former foster carer(s)", "home"),
    _rec("E46", "Special guardianship order made to carer(s), not former foster carer(s)", "home"),
    _rec(
        "E47", "Special guardianship order made to relative(s) or friend(s), former carers", "home"
    ),
    _rec("E48", "Special guardianship order made to relative(s) or friend(s), other", "home"),
    _rec("E4A", "Returned home to live with parent(s) as part of a care plan", "home"),
    _rec("E4B", "Returned home to live with parent(s) not as part of a care plan", "home"),
    _rec("E5", "Moved into independent living arrangement with formalised support", "supported"),
    _rec("E6", "Moved into independent living arrangement without formalised support", "supported"),
    _rec("E17", "Aged 18 or over and remained with current carers (Staying Put)", "supported"),
    _rec("E2", "Died", "other"),
    _rec("E3", "Care taken over by another local authority in the UK", "other"),
    _rec("E7", "Transferred to residential care funded by adult social services", "other"),
    _rec("E8", "Period of being looked after ceased for any other reason", "other"),
    _rec("E9", "Sentenced to custody", "other"),
    _rec("E14", "Accommodation on remand ended", "other"),
    _rec("E15", "Age assessment determined child is aged 18 or over", "other"),
    _rec("E16", "Child moved abroad", "other"),
    # Legal status.
    Code("LS", "C1", "Interim care order"),
    Code("LS", "C2", "Full care order"),
    Code("LS", "D1", "Freeing order granted"),
    Code("LS", "E1", "Placement order granted"),
    Code("LS", "V2", "Single period of accommodation under section 20"),
    Code("LS", "V3", "Accommodated under an agreed series of short-term breaks (individual)"),
    Code("LS", "V4", "Accommodated under an agreed series of short-term breaks (series)"),
    Code("LS", "L1", "Under police protection and in local authority accommodation"),
    Code("LS", "L2", "Emergency protection order"),
    Code("LS", "L3", "Under child assessment order and in local authority accommodation"),
    Code("LS", "J1", "Remanded to local authority accommodation or youth detention"),
    Code("LS", "J2", "Placed in local authority accommodation under PACE"),
    Code("LS", "J3", "Sentenced to a youth rehabilitation order with residence requirement"),
    # Placement provider.
    Code("PLACE_PROVIDER", "PR0", "Parent(s) or other person(s) with parental responsibility"),
    Code("PLACE_PROVIDER", "PR1", "Own provision (by the local authority)"),
    Code("PLACE_PROVIDER", "PR2", "Other local authority provision"),
    Code("PLACE_PROVIDER", "PR3", "Other public provision (for example a primary care trust)"),
    Code("PLACE_PROVIDER", "PR4", "Private provision"),
    Code("PLACE_PROVIDER", "PR5", "Voluntary / third sector provision"),
    # Category of need.
    Code("CIN", "N1", "Abuse or neglect"),
    Code("CIN", "N2", "Child's disability"),
    Code("CIN", "N3", "Parental illness or disability"),
    Code("CIN", "N4", "Family in acute stress"),
    Code("CIN", "N5", "Family dysfunction"),
    Code("CIN", "N6", "Socially unacceptable behaviour"),
    Code("CIN", "N7", "Low income"),
    Code("CIN", "N8", "Absent parenting"),
    # Sex.
    Code("SEX", "1", "Male", last_year=_SEX_MFU_YEAR - 1),
    Code("SEX", "2", "Female", last_year=_SEX_MFU_YEAR - 1),
    Code("SEX", "M", "Male", first_year=_SEX_MFU_YEAR),
    Code("SEX", "F", "Female", first_year=_SEX_MFU_YEAR),
    Code("SEX", "U", "Unknown", first_year=_SEX_MFU_YEAR),
)


def codes_of(field: str) -> dict[str, Code]:
    """Every code of ``field`` (a 903 column name), in the table's order."""
    return {c.code: c for c in CODES if c.field == field}


PLACE_CODES = codes_of("PLACE")
REC_ROUTES: dict[str, str] = {c.code: c.category for c in codes_of("REC").values() if c.category}

# New episodes that do not change who looks after the child: merged into the previous episode
# when they start the day it ends in the same placement (as the public demand models do).
STATUS_ONLY_RNE = frozenset({"L", "T", "U"})

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
    """The collection (UK financial) year a date falls in: 2023 for 1 Apr 2023 - 31 Mar 2024."""
    return when.year if when.month >= 4 else when.year - 1


def return_year_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


def allowed_in(field: str, year: int) -> list[str]:
    """The codes of ``field`` valid in collection ``year``."""
    return [c for c, info in codes_of(field).items() if info.valid_in(year)]


def place_category(code: str) -> str:
    """Harmonised category of a placement code (the same for H5 and K3); 'unknown' if not a code."""
    info = PLACE_CODES.get(code)
    return info.category if info is not None else "unknown"


def code_problem(field: str, code: str, first_year: int, last_year: int) -> str | None:
    """Why ``code`` cannot be in ``field`` of a record open in years ``first_year..last_year``.

    None when the code is valid in at least one of those years. The message names the code and
    the codes allowed in the last of those years.
    """
    what = FIELDS[field]
    info = codes_of(field).get(code)
    label = return_year_label(_clamp(last_year))
    if info is None:
        allowed = ", ".join(allowed_in(field, last_year))
        return f"unknown {what} code '{code}' (allowed in the {label} return: {allowed})"
    if any(info.valid_in(y) for y in range(first_year, last_year + 1)):
        return None
    span = return_year_label(_clamp(first_year))
    if _clamp(last_year) != _clamp(first_year):
        span += f" to {label}"
    allowed = ", ".join(allowed_in(field, last_year))
    return (
        f"{what} '{code}' ({info.label}) is {info.years_text()}, but the record is in {span} "
        f"(allowed in the {label} return: {allowed})"
    )


def place_code_problem(code: str, first_year: int, last_year: int) -> str | None:
    """:func:`code_problem` for placement types."""
    return code_problem("PLACE", code, first_year, last_year)


def any_year_codes(field: str, years: Iterable[int]) -> set[str]:
    """Codes of ``field`` valid in at least one of ``years``."""
    ys = list(years)
    return {c for c, info in codes_of(field).items() if any(info.valid_in(y) for y in ys)}
