"""Calibration from end to end: a validated extract in, every estimate a scenario needs out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from simulation.calibration.cleaning import clean_episodes
from simulation.calibration.codes import return_year
from simulation.calibration.estimate import (
    MIN_EVENTS,
    AgeEstimate,
    ArrivalEstimate,
    CalibrationError,
    CohortChild,
    Interval,
    LosEstimate,
    RouteEstimate,
    build_stays,
    cohort_on,
    estimate_ages,
    estimate_arrivals,
    estimate_los,
    estimate_routes,
    rounded_probs,
    share,
    wilson,
)
from simulation.calibration.mapping import Rules, classify
from simulation.calibration.readers import DataIssue, Extract, check
from simulation.kinds import BED_KINDS, MARKET_KINDS
from simulation.scenario import ROUTE_NAMES


@dataclass
class UnitEstimate:
    """An internal home or block contract named in the providers file."""

    name: str
    kind: str  # internal | block
    urns: list[str]
    needs: list[str]
    beds: int
    beds_source: str
    in_city: bool
    weekly_cost_gbp: float | None
    children_now: int
    # What the unit achieved over the window: occupied child-days / (beds x days open), and
    # the mean days from a child leaving to the next child moving in (None: too few).
    occupancy_pct: float | None = None
    occupied_days: float = 0.0
    usable_days: float = 0.0
    vacancy_gap_days: float | None = None
    vacancy_gaps: int = 0
    gaps_days: tuple[float, ...] = ()  # each gap, for fitting their shape (vacancy_fit)


@dataclass
class Calibration:
    """Everything estimated from one extract, with the evidence behind each number."""

    as_of: dt.date
    window_start: dt.date
    needs: list[str]
    arrivals: dict[str, ArrivalEstimate]
    los: dict[str, LosEstimate]
    routes: dict[str, RouteEstimate]
    ages: dict[str, AgeEstimate | None]
    cohort: list[CohortChild]
    units: list[UnitEstimate]
    in_city: dict[str, Interval | None]  # by market: share of new placements in the city
    framework_offer: Interval | None
    city_area: str | None
    rules: Rules
    stays: pd.DataFrame
    episodes: pd.DataFrame
    cleaning: dict[str, int]
    warnings: list[DataIssue] = field(default_factory=list)
    episodes_file: str = ""
    header_file: str = ""
    age_out_years: float = 18.0


def _max_concurrent(starts: pd.Series, ends: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    """Most children at once in [lo, hi] from stay intervals [start, end)."""
    after = hi + pd.Timedelta(days=1)
    s = starts.where(starts > lo, lo)
    e = ends.fillna(after)
    e = e.where(e < after, after)
    keep = s < e
    if not keep.any():
        return 0
    times = np.r_[s[keep].to_numpy(), e[keep].to_numpy()]
    deltas = np.r_[np.ones(int(keep.sum())), -np.ones(int(keep.sum()))]
    order = np.lexsort((deltas, times))  # leavers before arrivals on the same day
    return int(np.max(np.cumsum(deltas[order])))


def observed_occupancy(
    starts: pd.Series, ends: pd.Series, beds: int, lo: pd.Timestamp, hi: pd.Timestamp
) -> tuple[float, float, list[float]]:
    """Occupied child-days and usable bed-days of a unit over [lo, hi) from its stays
    [start, end) (an open stay runs to ``hi``; the unit is taken as open from ``lo``, or from
    its first admission if later), and the vacancy gaps: for each departure, the days until
    the next admission (departures with none before ``hi`` are left out)."""
    s = starts.where(starts > lo, lo)
    e = ends.fillna(hi)
    e = e.where(e < hi, hi)
    keep = s < e
    occupied = float((e[keep] - s[keep]).dt.days.sum())
    opened = max(lo, starts.min()) if len(starts) else lo
    usable = float(beds * max((hi - opened).days, 0))
    arrivals = np.sort(starts[starts >= lo].to_numpy())
    gaps: list[float] = []
    for end in np.sort(ends.dropna()[(ends.dropna() >= lo) & (ends.dropna() < hi)].to_numpy()):
        later = arrivals[arrivals >= end]
        if len(later):
            gaps.append(float((later[0] - end) / np.timedelta64(1, "D")))
    return occupied, usable, gaps


def _unit_stays(eps: pd.DataFrame) -> pd.DataFrame:
    """A child's back-to-back episodes in the same unit (a change of legal status, say) as one
    stay: the child did not leave, so no vacancy opened."""
    e = eps.sort_values(["CHILD", "DECOM"], kind="stable")
    new = (e["CHILD"] != e["CHILD"].shift()) | (e["DECOM"] != e["DEC"].shift())
    key = new.cumsum()
    # (The last episode's end, open or not: groupby's last() would skip an open end.)
    return pd.DataFrame(
        {
            "start": e.groupby(key)["DECOM"].min().to_numpy(),
            "end": e.groupby(key).tail(1)["DEC"].to_numpy(),
        }
    )


def _units(
    cal_eps: pd.DataFrame,
    rules: Rules,
    cohort: list[CohortChild],
    needs: list[str],
    as_of: dt.date,
    window_start: dt.date | None = None,
) -> list[UnitEstimate]:
    out: list[UnitEstimate] = []
    groups: dict[str, list[str]] = {}
    for urn, p in rules.providers.items():
        if p.provision in BED_KINDS:
            groups.setdefault(p.name or urn, []).append(urn)
    hi = pd.Timestamp(as_of)
    lo = hi - pd.Timedelta(days=365)
    for name, urns in groups.items():
        provs = [rules.providers[u] for u in urns]
        eps = cal_eps[cal_eps["URN"].isin(urns) & cal_eps["residential"]]
        eps = eps[eps["DECOM"] <= hi]
        now = sum(1 for c in cohort if c.unit == name)
        observed = _max_concurrent(eps["DECOM"], eps["DEC"].where(eps["DEC"] <= hi), lo, hi)
        listed = [p.beds for p in provs]
        if all(b is not None for b in listed):
            beds = int(sum(b for b in listed if b is not None))
            source = "providers file"
            if beds < now:
                beds, source = now, f"providers file says {beds}, but {now} children live there"
        elif observed > 0 or now > 0:
            beds = max(observed, now)
            source = "not in the 903: most children there at once in the last 12 months"
        else:
            continue  # no beds given and nobody placed there for a year: taken as closed
        unit_needs = sorted({p.need for p in provs if p.need})
        if not unit_needs:
            unit_needs = sorted(set(eps["need"]) & set(needs)) or list(needs)
        flags = [p.in_city for p in provs if p.in_city is not None]
        if flags:
            in_city = sum(bool(f) for f in flags) >= len(flags) / 2
        else:
            known = [v for v in eps["in_city"] if isinstance(v, bool | np.bool_)]
            in_city = sum(bool(k) for k in known) >= len(known) / 2 if known else True
        costs = [p.weekly_cost_gbp for p in provs if p.weekly_cost_gbp is not None]
        w0 = pd.Timestamp(window_start) if window_start is not None else lo
        stays = _unit_stays(eps)
        occupied, usable, gaps = observed_occupancy(stays["start"], stays["end"], beds, w0, hi)
        out.append(
            UnitEstimate(
                name=name,
                kind=provs[0].provision,
                urns=urns,
                needs=[n for n in unit_needs if n in needs] or list(needs),
                beds=beds,
                beds_source=source,
                in_city=in_city,
                weekly_cost_gbp=float(sum(costs)) if costs else None,
                children_now=now,
                occupancy_pct=100.0 * occupied / usable if usable > 0 else None,
                occupied_days=occupied,
                usable_days=usable,
                vacancy_gap_days=float(np.mean(gaps)) if len(gaps) >= 3 else None,
                vacancy_gaps=len(gaps),
                gaps_days=tuple(gaps),
            )
        )
    return out


def observation_start(extract: Extract) -> dt.date:
    """First day the extract can be trusted to hold every stay, from the data as written.

    The 1 April that starts the earliest collection year the extract names (its ``YEAR``
    column), else the one of its earliest end date *as written*: a return holds the episodes
    open during its year, so an episode that ended earlier is not in it. Never from dates the
    cleaning repaired: an overlap trimmed back to years before the data would move the window
    back too, and stays that began and ended before the data would go missing from it.
    """
    if extract.years:
        return dt.date(min(extract.years), 4, 1)
    when = extract.first_end or extract.first_start
    if when is None:
        raise CalibrationError(f"{extract.episodes_file}: no episodes")
    return dt.date(return_year(when), 4, 1)


def calibrate(
    extract: Extract,
    as_of: dt.date,
    rules: Rules | None = None,
    window_start: dt.date | None = None,
    age_out_years: float = 18.0,
    strict: bool = False,
    overlaps: Literal["trim", "error"] = "trim",
) -> Calibration:
    """Clean, classify and estimate every demand parameter from ``extract`` as seen on ``as_of``.

    ``window_start`` overrides the observation window's start (default
    :func:`observation_start`); ``overlaps="error"`` refuses overlapping episodes instead of
    trimming them.

    Raises
    ------
    ExtractError
        For overlaps with ``overlaps="error"`` (and, with ``strict``, for any warning).
    CalibrationError
        When the data are too thin for an estimate.
    """
    rules = rules or Rules()
    cleaned = clean_episodes(extract.episodes, extract.episodes_file, overlaps=overlaps)
    check(cleaned.issues, strict)
    episodes, area = classify(cleaned.episodes, rules)
    dob = extract.header.set_index("CHILD")["DOB"]
    ws = window_start or observation_start(extract)
    if ws >= as_of:
        raise CalibrationError(
            f"the extract's window starts {ws}, on or after the as-of date {as_of}"
        )
    stays = build_stays(episodes, dob, as_of, age_out_years)
    stays = stays[stays["end"].isna() | (stays["end"] >= pd.Timestamp(ws))].reset_index(drop=True)
    if stays.empty:
        codes = ", ".join(rules.residential_codes)
        raise CalibrationError(
            f"{extract.episodes_file}: no residential episodes ({codes}) between {ws} and {as_of}"
        )
    in_window = stays["start"] >= pd.Timestamp(ws)
    needs = sorted(set(stays["need"]))
    arrivals = {
        n: estimate_arrivals(stays.loc[stays["need"] == n, "start"], n, ws, as_of) for n in needs
    }

    los: dict[str, LosEstimate] = {}
    ended = stays["end"].notna() & ~stays["age_out"]
    for n in needs:
        mine = stays[stays["need"] == n]
        if int((mine["end"].notna() & ~mine["age_out"]).sum()) >= MIN_EVENTS:
            los[n] = estimate_los(mine, n, ws, as_of)
        else:  # too few completed stays: borrow the shape from every need's stays
            if int(ended.sum()) < MIN_EVENTS:
                raise CalibrationError(
                    f"only {int(ended.sum())} residential stays ended between {ws} and {as_of}; "
                    f"at least {MIN_EVENTS} are needed to estimate length of stay"
                )
            los[n] = estimate_los(stays, n, ws, as_of, pooled=True)

    routes = {n: estimate_routes(stays[stays["need"] == n], n, ws) for n in needs}
    all_routes = estimate_routes(stays, "all", ws)
    for n, r in routes.items():
        if r.n < MIN_EVENTS and all_routes.n >= MIN_EVENTS:
            routes[n] = RouteEstimate(
                need=n,
                n=all_routes.n,
                counts=all_routes.counts,
                probs=rounded_probs(all_routes.counts),
                intervals={k: wilson(c, all_routes.n) for k, c in all_routes.counts.items()},
                pooled=True,
                age_outs=r.age_outs,
            )
        assert set(routes[n].probs) <= set(ROUTE_NAMES)

    ages = {
        n: estimate_ages(stays.loc[(stays["need"] == n) & in_window, "age_entry"], n)
        or estimate_ages(stays.loc[stays["need"] == n, "age_entry"], n)
        for n in needs
    }
    cohort = cohort_on(stays, as_of)
    units = _units(episodes, rules, cohort, needs, as_of, ws)
    unit_names = {u.name for u in units}
    # A child in a home that is not modelled as a unit is placed on the spot market.
    cohort = [
        c
        if c.provision in MARKET_KINDS or c.unit in unit_names
        else CohortChild(c.need, "spot", "", c.elapsed_days, c.age_years, c.in_city)
        for c in cohort
    ]
    new = stays[in_window]
    in_city = {
        m: share(new.loc[new["provision_first"] == m, "in_city_first"])
        for m in ("framework", "spot")
    }
    has_framework = any(p.provision == "framework" for p in rules.providers.values())
    framework_offer = None
    if has_framework:
        ext = new[new["provision_first"].isin(["framework", "spot"])]
        if len(ext):
            k = int((ext["provision_first"] == "framework").sum())
            lo, hi = wilson(k, len(ext))
            framework_offer = Interval(k / len(ext), lo, hi, len(ext))
    return Calibration(
        as_of=as_of,
        window_start=ws,
        needs=needs,
        arrivals=arrivals,
        los=los,
        routes=routes,
        ages=ages,
        cohort=cohort,
        units=units,
        in_city=in_city,
        framework_offer=framework_offer,
        city_area=area,
        rules=rules,
        stays=stays,
        episodes=episodes,
        cleaning={**extract.stats, **cleaned.stats},
        warnings=extract.warnings + cleaned.issues,
        episodes_file=extract.episodes_file,
        header_file=extract.header_file,
        age_out_years=age_out_years,
    )
