"""From 903 placements to the model's provision types and needs.

The 903 says what kind of placement a child is in (PLACE), who provides it (PLACE_PROVIDER) and,
for Ofsted-registered settings, which one (URN). It does not say whether a bed is a council home,
a block contract, a framework or a spot purchase (docs/sources.md#dfe-903). A council knows that
from its commissioning data, so it can give a *providers file*, one row per URN::

    URN,provision,need,name,beds,in_city,weekly_cost_gbp
    SC123456,internal,ebd,Elm House,4,true,21600
    SC654321,block,ebd,Acme block,6,true,5200
    SC777777,spot,disability,,,false,

``URN`` and ``provision`` (internal, block, framework or spot) are required; the rest may be
blank. ``need`` puts every child placed there in that need category; ``name`` groups URNs into
one home or contract. Without a providers file every residential placement is counted as spot.

A child's need, when the providers file does not give it, comes from the 903 category of need
(CIN): by default N2 (child's disability) is ``disability`` and everything else ``ebd``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from simulation.calibration.codes import DEFAULT_RESIDENTIAL, PLACE_CODES, place_category
from simulation.calibration.readers import DataIssue, ExtractError, read_table
from simulation.kinds import BED_KINDS
from simulation.scenario import PROVISION_TYPES

PROVIDER_COLUMNS = ("URN", "PROVISION", "NEED", "NAME", "BEDS", "IN_CITY", "WEEKLY_COST_GBP")
_NEED_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True)
class Provider:
    """What the council's commissioning data says about one URN."""

    urn: str
    provision: str
    need: str | None = None
    name: str | None = None
    beds: int | None = None
    in_city: bool | None = None
    weekly_cost_gbp: float | None = None


@dataclass
class Rules:
    """How episodes become model placements."""

    residential_codes: tuple[str, ...] = DEFAULT_RESIDENTIAL
    providers: dict[str, Provider] = field(default_factory=dict)
    need_by_cin: Mapping[str, str] = field(default_factory=lambda: {"N2": "disability"})
    default_need: str = "ebd"
    city_postcode_areas: tuple[str, ...] = ()  # e.g. ("CV",); empty = inferred from HOME_POST


def read_providers(path: str | Path) -> dict[str, Provider]:
    """Read and validate a providers file; raise :class:`ExtractError` naming row and column."""
    name = str(path)
    frame = read_table(path, ("URN", "PROVISION"), PROVIDER_COLUMNS[2:], "providers")
    issues: list[DataIssue] = []
    providers: dict[str, Provider] = {}
    for rec in frame.to_dict("records"):
        row = int(rec["row"])
        urn = str(rec["URN"]).upper()  # as the Episodes table's URNs are read
        if not urn:
            issues.append(DataIssue(name, row, "URN", "URN is missing"))
            continue
        provision = str(rec["PROVISION"]).lower()
        if provision not in PROVISION_TYPES:
            issues.append(
                DataIssue(
                    name,
                    row,
                    "provision",
                    f"'{rec['PROVISION']}' is not a provision type "
                    f"(allowed: {', '.join(PROVISION_TYPES)})",
                )
            )
            continue
        need = str(rec["NEED"]) or None
        if need is not None and not _NEED_RE.match(need):
            issues.append(
                DataIssue(
                    name, row, "need", f"'{need}': need names are lower-case letters, digits and _"
                )
            )
        beds: int | None = None
        if rec["BEDS"]:
            try:
                beds = int(rec["BEDS"])
                if beds < 1:
                    raise ValueError
            except ValueError:
                issues.append(
                    DataIssue(name, row, "beds", f"'{rec['BEDS']}' is not a positive whole number")
                )
        in_city: bool | None = None
        flag = str(rec["IN_CITY"]).lower()
        if flag in _TRUE:
            in_city = True
        elif flag in _FALSE:
            in_city = False
        elif flag:
            issues.append(DataIssue(name, row, "in_city", f"'{rec['IN_CITY']}' is not true/false"))
        cost: float | None = None
        if rec["WEEKLY_COST_GBP"]:
            try:
                cost = float(str(rec["WEEKLY_COST_GBP"]).replace(",", "").lstrip("£"))
                if not cost >= 0:
                    raise ValueError
            except ValueError:
                issues.append(
                    DataIssue(
                        name, row, "weekly_cost_gbp", f"'{rec['WEEKLY_COST_GBP']}' is not a cost"
                    )
                )
        if urn in providers:
            issues.append(DataIssue(name, row, "URN", f"URN '{urn}' is listed twice"))
        providers[urn] = Provider(
            urn, provision, need, str(rec["NAME"]) or None, beds, in_city, cost
        )
    if issues:
        raise ExtractError(issues)
    return providers


def check_residential_codes(codes: Iterable[str]) -> tuple[str, ...]:
    """Validate a list of placement codes counted as residential care."""
    out = tuple(c.strip().upper() for c in codes if c.strip())
    bad = [c for c in out if c not in PLACE_CODES]
    if bad or not out:
        raise ValueError(
            f"unknown placement code(s) {', '.join(bad) or '(none given)'} "
            f"(known: {', '.join(PLACE_CODES)})"
        )
    return out


def postcode_area(postcode: str) -> str:
    """The letters that start a postcode ('CV1 2' -> 'CV'); '' when there are none."""
    m = re.match(r"^\s*([A-Za-z]{1,2})\d", postcode)
    return m.group(1).upper() if m else ""


def classify(episodes: pd.DataFrame, rules: Rules) -> tuple[pd.DataFrame, str | None]:
    """Add ``residential``, ``category``, ``provision``, ``unit``, ``need`` and ``in_city``.

    ``unit`` is the home or contract name for internal and block placements (the providers
    file's name, else the URN). ``in_city`` is the providers file's flag, else whether the
    placement postcode is in the council's area (True/False), else missing. Returns the table and
    the postcode area taken as the council's (given, or the most common home postcode area).
    """
    ep = episodes.copy()
    ep["category"] = ep["PLACE"].map(place_category)
    ep["residential"] = ep["PLACE"].isin(rules.residential_codes)
    prov = rules.providers
    urns = ep["URN"]
    ep["provision"] = [
        prov[u].provision if u in prov else "spot" for u in urns
    ]  # without commissioning data a bed is bought one child at a time
    ep["unit"] = [
        (prov[u].name or u) if u in prov and prov[u].provision in BED_KINDS else "" for u in urns
    ]
    cin_need = ep["CIN"].map(lambda c: rules.need_by_cin.get(c, rules.default_need))
    ep["need"] = [
        prov[u].need if u in prov and prov[u].need else n
        for u, n in zip(urns, cin_need, strict=True)
    ]
    areas = rules.city_postcode_areas
    area: str | None = None
    if not areas:
        home = ep["HOME_POST"].map(postcode_area)
        home = home[home != ""]
        if len(home):
            area = str(home.value_counts().index[0])
            areas = (area,)
    else:
        area = ",".join(areas)
    pl_area = [postcode_area(str(p)) for p in ep["PL_POST"]]
    by_post: list[bool | None] = [(a in areas) if a and areas else None for a in pl_area]
    ep["in_city"] = [
        prov[u].in_city if u in prov and prov[u].in_city is not None else p
        for u, p in zip(urns, by_post, strict=True)
    ]
    return ep, area
