"""Synthetic SSDA903 extracts simulated from a scenario (real extracts are confidential).

One replication of the scenario is run and its event log turned into the episodes a council
would have returned: each residential placement an episode (K2 children's homes, some R1 for
disabled children), moves between homes new episodes (RNE P, previous REC X1), with realistic
codes: PR1 for the council's own homes, PR4/PR5 for bought beds, URNs that stay with a home,
postcodes in or out of the council's area as the model placed the child, and the reason each
stay ended by route (E4A home, X1 then a U4/U6 foster episode, E5 or a K3/H5 episode for
supported accommodation, E5/E17 at 18). Around the residential stays are the episodes the
public models must clean: fostering before and after, legal-status-only changes, repeated rows
from earlier returns (no end date yet), a few overlaps, and children who never enter residential
care. The council's providers file (URN -> internal/block/framework/spot, need) comes with it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulation.calendar import DAYS_PER_YEAR
from simulation.calibration.codes import (
    PLACE_CODES,
    allowed_in,
    return_year,
    return_year_label,
)
from simulation.calibration.readers import EPISODE_COLUMNS, HEADER_COLUMNS
from simulation.events import EventKind, Route
from simulation.kinds import BED_KINDS
from simulation.model import simulate
from simulation.scenario import Scenario

CITY_AREA = "CV"  # the synthetic council's postcode area
OTHER_AREAS = ("B", "LE", "NN", "WS", "ST", "DE", "WV", "OX", "NG", "M")
ETHNIC = ("WBRI", "WBRI", "WBRI", "WOTH", "MWBC", "AIND", "APKN", "BAFR", "BCRB", "OOTH")


@dataclass
class Synthetic903:
    """A synthetic extract: the 903 tables as strings, the providers file, and its dates.

    ``episodes`` is a multi-year extract with the untidiness the cleaning must undo; ``tidy``
    the same episodes as the council recorded them, from which :meth:`collection` cuts one
    year's return.
    """

    episodes: pd.DataFrame
    header: pd.DataFrame
    providers: pd.DataFrame
    extract_start: dt.date
    as_of: dt.date
    tidy: pd.DataFrame

    def collection_years(self) -> list[int]:
        """The collection years wholly inside the extract."""
        first = return_year(self.extract_start)
        if self.extract_start != dt.date(first, 4, 1):
            first += 1
        last = return_year(self.as_of)
        if self.as_of != dt.date(last + 1, 3, 31):
            last -= 1
        return list(range(first, last + 1))

    def collection(self, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The ``year`` return as a council submits it: the episodes open at any time in the
        year, end dates after it blank (with their reasons), sex in the year's codes."""
        years = self.collection_years()
        if year not in years:
            inside = ", ".join(return_year_label(y) for y in years) or "none"
            raise ValueError(
                f"the {return_year_label(year)} collection is not wholly inside the extract "
                f"({self.extract_start} to {self.as_of}; whole years: {inside})"
            )
        lo, hi = pd.Timestamp(year, 4, 1), pd.Timestamp(year + 1, 3, 31)
        eps = self.tidy.copy()
        decom = pd.to_datetime(eps["DECOM"], format="%d/%m/%Y")
        dec = pd.to_datetime(eps["DEC"], format="%d/%m/%Y")
        keep = (decom <= hi) & (dec.isna() | (dec >= lo))
        eps, dec = eps[keep].copy(), dec[keep]
        later = dec > hi
        eps.loc[later, ["DEC", "REC", "REASON_PLACE_CHANGE"]] = ""
        header = self.header[self.header["CHILD"].isin(set(eps["CHILD"]))].copy()
        male = header["SEX"].isin(["1", "M"])
        header["SEX"] = [sex_code(bool(m), year) for m in male]
        return eps.reset_index(drop=True), header.reset_index(drop=True)

    def write(self, folder: str, year: int | None = None) -> dict[str, str]:
        """Write episodes.csv, header.csv and providers.csv into ``folder``; return the paths.

        With ``year``, the tables are that collection year's return (:meth:`collection`).
        """
        from pathlib import Path

        out = Path(folder)
        episodes, header = (self.episodes, self.header) if year is None else self.collection(year)
        paths = {}
        for name, df in (
            ("episodes", episodes),
            ("header", header),
            ("providers", self.providers),
        ):
            p = out / f"{name}.csv"
            df.to_csv(p, index=False)
            paths[name] = str(p)
        return paths


@dataclass
class _Ep:
    start: int  # day from the run start
    end: int | None
    place: str
    provider: str
    urn: str
    pl_post: str
    rne: str
    rec: str = ""
    reason_change: str = ""
    ls: str = "C2"


def _fmt(start: dt.date, day: int | None) -> str:
    return "" if day is None else (start + dt.timedelta(days=day)).strftime("%d/%m/%Y")


# Letters a postcode's inward code may end in (the Royal Mail's format leaves out C I K M O V).
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _postcode(rng: np.random.Generator, area: str) -> str:
    """A well-formed full postcode in ``area`` (fictional: made up, not looked up)."""
    a, b = rng.choice(list(_INWARD_LETTERS), size=2)
    return f"{area}{rng.integers(1, 13)} {rng.integers(1, 10)}{a}{b}"


def _eighteenth(dob: dt.date) -> dt.date:
    """The 18th birthday (1 March for a child born on 29 February)."""
    try:
        return dob.replace(year=dob.year + 18)
    except ValueError:
        return dt.date(dob.year + 18, 3, 1)


def sex_code(male: bool, year: int) -> str:
    """The child's sex as the ``year`` collection codes it (1/2, then M/F from 2024-25)."""
    codes = allowed_in("SEX", year)
    if "M" in codes:
        return "M" if male else "F"
    return "1" if male else "2"


def supported_code(when: dt.date) -> str:
    """Supported accommodation's placement code on a date: H5 until K3 is valid."""
    return "K3" if PLACE_CODES["K3"].valid_in(return_year(when)) else "H5"


# Reasons for a change of placement, written on the episode that ends (validation rule 225).
MOVE_REASONS = ("CARPL", "CARPL", "CLOSE", "CREQB", "LAREQ", "PLACE")
_MOVE_RNE = frozenset({"P", "B", "T", "U"})
SUPPORTED_MIN_AGE_YEARS = 16  # no supported accommodation, nor independent living, under 16


def synth_903(
    scenario: Scenario,
    seed: int = 0,
    replication: int = 0,
    as_of: dt.date | None = None,
    messiness: float = 0.1,
) -> Synthetic903:
    """Simulate ``scenario`` once and write what its 903 return would hold.

    Parameters
    ----------
    scenario
        The "true" demand and provision.
    seed, replication
        Which replication to simulate; the extract's own extra draws use the same seed.
    as_of
        Date of the extract (default: the run's last day): later episodes are left out and
        episodes still open then have no end date.
    messiness
        Scale of the untidiness the cleaning must undo (0 = none): shares of legal-status-only
        changes, rows repeated from an earlier return, and overlaps.
    """
    rep = simulate(scenario, replication, seed)
    rng = np.random.default_rng([seed, replication, 903])
    start = scenario.run.start_date
    last_day = scenario.end_date - dt.timedelta(days=1)
    as_of = min(as_of or last_day, last_day)
    # An extract covers whole return years: from the first 1 April on or after the start.
    first_april = dt.date(
        start.year if start <= dt.date(start.year, 4, 1) else start.year + 1, 4, 1
    )
    extract_start = first_april if first_april < as_of else start
    cut = (as_of - start).days
    lo_day = (extract_start - start).days
    needs = scenario.need_names
    age_out = scenario.step_down.age_out_years
    children = rep.children
    units = rep.units
    log = rep.log

    # Providers: each internal home / block contract one URN; markets draw from pools of homes.
    urn_counter = iter(range(100001, 999999))
    unit_urn = {u.index: f"SC{next(urn_counter)}" for u in units if u.kind in BED_KINDS}
    unit_post = {
        u.index: _postcode(rng, CITY_AREA if u.in_city else str(rng.choice(OTHER_AREAS)))
        for u in units
        if u.kind in BED_KINDS
    }
    pools: dict[tuple[str, str, bool], list[tuple[str, str]]] = {}

    def pool_home(market: str, need: str, in_city: bool) -> tuple[str, str]:
        key = (market, need, in_city)
        if key not in pools:
            pools[key] = [
                (
                    f"SC{next(urn_counter)}",
                    _postcode(rng, CITY_AREA if in_city else str(rng.choice(OTHER_AREAS))),
                )
                for _ in range(8)
            ]
        homes = pools[key]
        return homes[int(rng.integers(len(homes)))]

    # Events per child, in time order.
    order = np.argsort(log.child, kind="stable")
    kinds = log.kind[order]
    keep = np.isin(kinds, (EventKind.PLACE, EventKind.EXIT))
    rows = order[keep]
    by_child: dict[int, list[int]] = {}
    for r in rows:
        by_child.setdefault(int(log.child[r]), []).append(int(r))

    ep_rows: list[dict[str, Any]] = []
    header_rows: list[dict[str, Any]] = []
    next_id = iter(range(1, 10_000_000))

    fostering_urn = f"SC{next(urn_counter)}"  # the council's own fostering service
    agency_urns = [f"SC{next(urn_counter)}" for _ in range(6)]  # fostering agencies
    supported_urns = [f"SC{next(urn_counter)}" for _ in range(6)]  # supported accommodation
    last_h5 = dt.date(PLACE_CODES["H5"].last_year + 1, 3, 31)

    def add_child(
        cid: str, dob_day: int, male: bool, home_post: str, cin: str, eps: list[_Ep]
    ) -> None:
        # Whole days: an episode lasts at least a day and the next starts when it ends.
        for i, e in enumerate(eps):
            if e.end is not None and e.end <= e.start:
                e.end = e.start + 1
            if i + 1 < len(eps) and eps[i + 1].start < (e.end if e.end is not None else e.start):
                eps[i + 1].start = e.end if e.end is not None else e.start
        # A "move" back into the same home is no change of placement (rule 435): one episode.
        merged: list[_Ep] = []
        for e in eps:
            prev = merged[-1] if merged else None
            if (
                prev is not None
                and e.rne in ("P", "T")
                and (e.place, e.pl_post, e.urn, e.provider)
                == (prev.place, prev.pl_post, prev.urn, prev.provider)
            ):
                prev.end, prev.rec = e.end, e.rec
            else:
                merged.append(e)
        eps[:] = merged
        # A legal status holds until an episode that changes it (RNE L, B or U; rule 435).
        for prev, e in itertools.pairwise(eps):
            if e.rne not in ("L", "B", "U"):
                e.ls = prev.ls
        # H5 is gone after its last collection year: a stay still open then moves to K3 on the
        # year's last day (same carers, RNE T), as councils recoded them.
        h5_end = (last_h5 - start).days
        for i, e in enumerate(eps):
            if e.place == "H5" and (e.end is None or e.end > h5_end) and e.start < h5_end:
                k3 = _Ep(
                    h5_end, e.end, "K3", e.provider, e.urn, e.pl_post, "T", e.rec, "OTHER", e.ls
                )
                e.end, e.rec = h5_end, "X1"
                eps.insert(i + 1, k3)
        # The reason for a change of placement goes on the episode that ends (rule 225); it was
        # drawn with the move, on the new episode.
        drawn = [e.reason_change for e in eps]
        for i, e in enumerate(eps):
            moves = i + 1 < len(eps) and e.rec == "X1" and eps[i + 1].rne in _MOVE_RNE
            e.reason_change = (drawn[i + 1] or "OTHER") if moves else ""
        kept = 0
        for e in eps:
            if e.start > cut or (e.end is not None and e.end < lo_day):
                continue  # outside the extract
            ended = e.end is not None and e.end <= cut
            end, rec = (e.end, e.rec) if ended else (None, "")
            ep_rows.append(
                {
                    "CHILD": cid,
                    "DECOM": _fmt(start, e.start),
                    "RNE": e.rne,
                    "LS": e.ls,
                    "CIN": cin,
                    "PLACE": e.place,
                    "PLACE_PROVIDER": e.provider,
                    "DEC": _fmt(start, end),
                    "REC": rec,
                    "REASON_PLACE_CHANGE": e.reason_change if ended else "",
                    "HOME_POST": home_post,
                    "PL_POST": e.pl_post,
                    "URN": e.urn,
                }
            )
            kept += 1
        if kept:
            header_rows.append(
                {
                    "CHILD": cid,
                    "SEX": sex_code(male, return_year(as_of)),
                    "DOB": _fmt(start, dob_day),
                    "ETHNIC": str(rng.choice(ETHNIC)),
                    "UPN": f"A{rng.integers(10**11, 10**12)}",
                    "MOTHER": "" if male else "0",
                    "MC_DOB": "",
                }
            )

    for child, evs in by_child.items():
        places = [r for r in evs if log.kind[r] == EventKind.PLACE]
        if not places:
            continue  # never placed: not in residential care
        need = needs[children.need[child]]
        dob_day = math.floor(children.age_out_at[child] - age_out * DAYS_PER_YEAR)
        birthday18 = (_eighteenth(start + dt.timedelta(days=dob_day)) - start).days

        def age_years(day: int, dob_day: int = dob_day) -> float:
            return (day - dob_day) / DAYS_PER_YEAR

        stay_start = (
            -math.ceil(children.elapsed[child])
            if children.initial[child]
            else math.floor(log.time[places[0]])
        )
        disability = need == "disability"
        cin = "N2" if disability else str(rng.choice(["N1", "N1", "N4", "N5", "N6"]))
        male = bool(rng.integers(1, 3) == 1)
        home_post = _postcode(
            rng, CITY_AREA if rng.random() < 0.9 else str(rng.choice(OTHER_AREAS))
        )
        eps: list[_Ep] = []
        ls = str(rng.choice(["C2", "C2", "C2", "V2", "C1"]))
        if rng.random() < 0.6:  # fostered before the residential stay
            pre = max(stay_start - int(rng.integers(30, 700)), dob_day + 30)
            if pre < stay_start:
                eps.append(
                    _Ep(
                        pre,
                        stay_start,
                        str(rng.choice(["U4", "U6", "U3"])),
                        "PR1",
                        fostering_urn,
                        _postcode(rng, CITY_AREA),
                        "S",
                        "X1",
                        ls=ls,
                    )
                )
        for k, r in enumerate(places):
            u = int(log.unit[r])
            info = units[u]
            in_city = bool(log.in_city[r] == 1)
            place = "K2"
            if info.kind == "internal":
                provider, urn, post = "PR1", unit_urn[u], unit_post[u]
            elif info.kind == "block":
                provider, urn, post = str(rng.choice(["PR4", "PR5"])), unit_urn[u], unit_post[u]
            elif info.kind == "unregistered":  # no Ofsted registration, so no URN
                provider, urn = "PR4", ""
                post = _postcode(rng, CITY_AREA if in_city else str(rng.choice(OTHER_AREAS)))
            else:
                provider = str(rng.choice(["PR4", "PR4", "PR4", "PR5"]))
                urn, post = pool_home(info.kind, need, in_city)
                if disability and rng.random() < 0.2:
                    place, urn = "R1", ""  # a care home: no Ofsted URN (rule 222)
            day = stay_start if k == 0 else math.floor(log.time[r])
            rne = ("S" if not eps else "P") if k == 0 else "P"
            if eps:
                eps[-1].end = day
                eps[-1].rec = "X1"
            reason = "" if k == 0 else str(rng.choice(MOVE_REASONS))
            eps.append(_Ep(day, None, place, provider, urn, post, rne, reason_change=reason, ls=ls))
        exit_rows = [r for r in evs if log.kind[r] == EventKind.EXIT]
        if exit_rows:
            r = exit_rows[0]
            day = math.floor(log.time[r])
            route = int(log.route[r])
            last = eps[-1]
            last.end = day
            if route == Route.AGE_OUT:  # on the 18th birthday itself
                last.end = max(birthday18, last.start + 1)
                last.rec = str(rng.choice(["E5", "E5", "E6", "E17"]))
            elif route == Route.HOME:
                # Not E45/E46: those are special guardianship to former foster carers (rule 516).
                last.rec = str(rng.choice(["E4A", "E4A", "E4A", "E4B", "E13", "E13", "E41"]))
            elif route == Route.OTHER:
                last.rec = str(rng.choice(["E8", "E8", "E3", "E9", "E7"]))
                if last.rec == "E7" and age_years(day) < SUPPORTED_MIN_AGE_YEARS:
                    last.rec = "E8"  # adult social care takes over from 16 (rule 389)
            elif route == Route.FOSTER:
                last.rec = "X1"
                end = min(day + int(rng.integers(90, 900)), birthday18)
                eps.append(
                    _Ep(
                        day,
                        end,
                        str(rng.choice(["U4", "U6"])),
                        "PR1",
                        fostering_urn,
                        _postcode(rng, CITY_AREA),
                        "P",
                        "E17" if end >= birthday18 else "E4A",
                        ls=ls,
                    )
                )
            elif route == Route.SUPPORTED:
                if age_years(day) < SUPPORTED_MIN_AGE_YEARS:
                    last.rec = "E8"  # no supported accommodation under 16: left care otherwise
                elif rng.random() < 0.5:
                    last.rec = "X1"
                    eps.append(
                        _Ep(
                            day,
                            max(birthday18, day + 1),
                            supported_code(start + dt.timedelta(days=day)),
                            "PR4",
                            str(rng.choice(supported_urns)),
                            _postcode(rng, CITY_AREA),
                            "P",
                            "E5",
                            ls=ls,
                        )
                    )
                else:
                    last.rec = str(rng.choice(["E5", "E5", "E6"]))
        # Legal-status-only changes inside residential episodes (merged back by the cleaning).
        split: list[_Ep] = []
        for e in eps:
            length = (e.end if e.end is not None else cut) - e.start
            if e.place in ("K2", "R1") and length > 60 and rng.random() < messiness:
                at = e.start + int(rng.integers(20, length - 20))
                second = _Ep(
                    at,
                    e.end,
                    e.place,
                    e.provider,
                    e.urn,
                    e.pl_post,
                    "L",
                    e.rec,
                    ls="C2" if e.ls != "C2" else "C1",
                )
                split += [
                    _Ep(
                        e.start,
                        at,
                        e.place,
                        e.provider,
                        e.urn,
                        e.pl_post,
                        e.rne,
                        "X1",
                        e.reason_change,
                        e.ls,
                    ),
                    second,
                ]
            else:
                split.append(e)
        add_child(f"C{next(next_id):06d}", dob_day, male, home_post, cin, split)

    # Children fostered but never in residential care: out of scope, there to be filtered out.
    n_res = len(header_rows)
    for _ in range(n_res // 2):
        s = int(rng.integers(lo_day - 400, cut))
        dob = s - int(rng.integers(1, 16) * DAYS_PER_YEAR)
        e1 = s + int(rng.integers(60, 900))
        eps = [
            _Ep(
                s,
                e1,
                str(rng.choice(["U4", "U6", "U1"])),
                "PR1",
                fostering_urn,
                _postcode(rng, CITY_AREA),
                "S",
                str(rng.choice(["X1", "E4A", "E45"])),
            )
        ]
        if eps[0].rec == "X1":
            eps.append(
                _Ep(
                    e1,
                    e1 + int(rng.integers(60, 600)),
                    "U6",
                    "PR4",
                    str(rng.choice(agency_urns)),
                    _postcode(rng, CITY_AREA),
                    "P",
                    "E4A",
                )
            )
        add_child(
            f"C{next(next_id):06d}",
            dob,
            bool(rng.integers(1, 3) == 1),
            _postcode(rng, CITY_AREA),
            str(rng.choice(["N1", "N4"])),
            eps,
        )

    tidy = pd.DataFrame(ep_rows, columns=list(EPISODE_COLUMNS))
    episodes = _untidy(tidy, rng, messiness)
    header = pd.DataFrame(header_rows, columns=list(HEADER_COLUMNS))
    prov_rows = []
    for info in units:
        if info.kind in BED_KINDS:
            served = [needs[n] for n in sorted(info.needs)]
            prov_rows.append(
                {
                    "URN": unit_urn[info.index],
                    "provision": info.kind,
                    "need": served[0] if len(served) == 1 else "",
                    "name": info.name,
                    "beds": info.beds,
                    "in_city": str(info.in_city).lower(),
                    "weekly_cost_gbp": round(info.weekly_cost_gbp),
                }
            )
    for (market, need, in_city), homes in pools.items():
        for urn, _post in homes:
            prov_rows.append(
                {
                    "URN": urn,
                    "provision": market,
                    "need": need,
                    "name": "",
                    "beds": "",
                    "in_city": str(in_city).lower(),
                    "weekly_cost_gbp": "",
                }
            )
    providers = pd.DataFrame(
        prov_rows,
        columns=["URN", "provision", "need", "name", "beds", "in_city", "weekly_cost_gbp"],
    )
    return Synthetic903(episodes, header, providers, extract_start, as_of, tidy)


def _untidy(episodes: pd.DataFrame, rng: np.random.Generator, messiness: float) -> pd.DataFrame:
    """Add what multi-year extracts hold: an earlier return's open copy of a closed episode,
    exact repeats, and overlaps of a few days with the next episode."""
    if messiness <= 0 or episodes.empty:
        return episodes
    ep = episodes.copy()
    closed = np.flatnonzero((ep["DEC"] != "").to_numpy())
    n_copy = int(len(closed) * messiness / 2)
    early = ep.iloc[rng.choice(closed, size=n_copy, replace=False)].copy()
    early["DEC"] = ""
    early["REC"] = ""
    repeat = ep.iloc[rng.choice(len(ep), size=int(len(ep) * messiness / 4), replace=False)]
    # Overlaps: an episode ends a few days after the child's next one started.
    nxt_same = (ep["CHILD"].shift(-1) == ep["CHILD"]).to_numpy()
    decs = [str(d) for d in ep["DEC"]]
    cand = np.flatnonzero(nxt_same & (ep["DEC"] != "").to_numpy())
    n_pick = int(len(cand) * messiness / 4)
    pick = rng.choice(cand, size=n_pick, replace=False) if n_pick else np.empty(0, dtype=int)
    for i in pick:
        dec = dt.datetime.strptime(decs[i], "%d/%m/%Y").date()
        shifted = dec + dt.timedelta(days=int(rng.integers(1, 6)))
        nxt_dec = decs[i + 1]
        if nxt_dec and shifted >= dt.datetime.strptime(nxt_dec, "%d/%m/%Y").date():
            continue  # would swallow the next episode: that is an error, not untidiness
        decs[i] = shifted.strftime("%d/%m/%Y")
    ep["DEC"] = decs
    out = pd.concat([ep, early, repeat], ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)
