"""Write a calibration as a scenario YAML in which every number says where it comes from.

Each estimate carries a comment with its value, sample size and 95% interval; every number the
903 cannot give (prices, running costs, search times, inflation) is marked as a placeholder with
its source, so a reviewer can see at a glance what is data and what is assumption. The text is
validated with :func:`simulation.parse_scenario` before anyone writes it to disk.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from simulation.calendar import MONTHS
from simulation.calibration.codes import return_year
from simulation.calibration.pipeline import Calibration, UnitEstimate
from simulation.distributions import CV_RANGE
from simulation.kinds import BED_KINDS, MARKET_KINDS
from simulation.scenario import ROUTE_NAMES, Scenario, parse_scenario

# Published England defaults (docs/sources.md), used where the 903 is silent.
SPOT_PRICE_2024_GBP = 6000.0  # NAO 2025: £318,400 per children's home place in 2023-24
HOME_COST_PER_CHILD_WEEK_2019_GBP = 4750.0  # NCERCC / Revolution Consulting 2020, 85% occupancy
INFLATION = 0.06  # NCERCC / Revolution Consulting 2020: prices up ~6% a year since 2013
OUT_OF_AREA_SHARE = 0.67  # NAO 2025: children in homes outside their own council, March 2024


def _num(x: float, digits: int = 4) -> float | int:
    """A float rounded to ``digits`` significant figures (ints stay ints)."""
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e15):
        return int(x)
    if x == 0 or not math.isfinite(x):
        return 0
    places = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    return round(float(x), places)


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .()/-]*$")


def flow(value: Any) -> str:
    """YAML flow style for one value: ``{dist: lognormal, mean: 300, cv: 0.8}``."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(_num(value, 6) if isinstance(value, float) else value)
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    reserved = text.lower() in ("true", "false", "yes", "no", "null", "on", "off", "~")
    if _PLAIN.match(text) and not reserved and text == text.strip():
        return text
    return json.dumps(text)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str, indent: int = 0) -> None:
        for part in text.split("\n"):
            self.lines.append(" " * indent + ("# " + part if part else "#"))

    def kv(self, indent: int, key: str, value: Any = None, note: str = "") -> None:
        line = " " * indent + f"{key}:"
        if value is not None:
            line += " " + flow(value)
        if note:
            line += "   # " + note
        self.lines.append(line)

    def item(self, indent: int, value: Any, note: str = "") -> None:
        self.lines.append(" " * indent + "- " + flow(value) + (f"   # {note}" if note else ""))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


Z95 = 1.959964  # two-sided 95% normal quantile


def _uncertain(value: float, low: float, high: float) -> dict[str, Any] | None:
    """An estimate and its 95% CI as an uncertain value drawn per parameter draw: a gamma with
    the estimate's mean and a cv of the CI's half-width on the log scale (log(high / low) /
    (2 x 1.96), the relative standard error of a positive estimate). None when the estimate is
    not positive or its interval gives no usable cv."""
    if not (value > 0 and low > 0 and high > low) or not math.isfinite(high):
        return None
    cv = math.log(high / low) / (2 * Z95)
    if not CV_RANGE[0] <= cv <= CV_RANGE[1]:
        return None
    return {"dist": "gamma", "mean": _num(value), "cv": _num(cv, 3)}


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


@dataclass(frozen=True)
class VacancySettings:
    """The split vacancy mechanics written for the council homes with an observed record:
    assumed repair and transition durations, and the fitted acceptance and repair chance
    (``fitted`` None: not fitted yet, written as 1 and 0 for the fit to start from)."""

    homes: tuple[str, ...]
    fitted: tuple[float, float, str] | None = None  # match, repair, the fit's note


# The durations the 903 cannot show, as in the Coventry configs (docs/sources.md#gaps).
REPAIR_DAYS = "{dist: lognormal, mean: 14, cv: 0.5}"
TRANSITION_DAYS = "{dist: lognormal, mean: 21, cv: 0.5}"


def _split_vacancies(out: _Lines, v: VacancySettings) -> None:
    if v.fitted is None:
        out.kv(6, "match_probability", 1.0, "PLACEHOLDER: to be fitted (calibrate --fit-vacancies)")
        out.kv(
            6, "repair_probability", 0.0, "PLACEHOLDER: to be fitted (calibrate --fit-vacancies)"
        )
    else:
        match, repair, note = v.fitted
        out.kv(6, "match_probability", _num(match), f"FITTED: {note}")
        out.kv(6, "repair_probability", _num(repair), "FITTED with match_probability (above)")
    out.lines.append(
        f"      repair_days: {REPAIR_DAYS}   # PLACEHOLDER: not in the 903; about two weeks "
        "of works (assumption, docs/sources.md#gaps)"
    )
    out.lines.append(
        f"      transition_days: {TRANSITION_DAYS}   # PLACEHOLDER: not in the 903; notice and "
        "introductory visits before a planned move-in, about three weeks (assumption, "
        "docs/sources.md#gaps)"
    )


def _observed(
    out: _Lines, u: UnitEstimate, cal: Calibration, vacancies: VacancySettings | None = None
) -> None:
    """What the home achieved in the 903 window, and the residual acceptance left to fit to it
    (the 903 shows occupancy, not why a bed stood empty: rules and vacancies are the
    council's to give, docs/model.md "Beds")."""
    if u.occupancy_pct is None:
        return
    gap = (
        f"; mean {u.vacancy_gap_days:.0f} days from a child leaving to the next moving in "
        f"({u.vacancy_gaps} departures)"
        if u.vacancy_gap_days is not None
        else ""
    )
    out.comment(
        f"Observed {cal.window_start} to {cal.as_of}: occupancy {u.occupancy_pct:.1f}% "
        f"({u.occupied_days:,.0f} child-days / {u.usable_days:,.0f} bed-days){gap}.",
        6,
    )
    if vacancies is not None and u.name in vacancies.homes:
        _split_vacancies(out, vacancies)
        return
    out.kv(
        6,
        "match_probability",
        1.0,
        "PLACEHOLDER: set this home's admission rules and vacancy settings, then fit: "
        f'sufficiency occupancy THIS_FILE --fit-home "{u.name}" --observed '
        f"{u.occupancy_pct:.1f}",
    )


def _inflated(value_gbp: float, base_year: int, year: int) -> float:
    return value_gbp * (1 + INFLATION) ** max(year - base_year, 0)


def scenario_text(
    cal: Calibration,
    name: str,
    horizon_years: float = 5.0,
    replications: int = 200,
    seed: int = 0,
    report_dir: str | None = None,
    vacancies: VacancySettings | None = None,
    point_estimates: bool = False,
) -> str:
    """The scenario YAML for ``cal``, with a comment on every estimate; ``vacancies`` gives the
    council homes the split vacancy mechanics (and their fitted values, once fitted).

    Arrival rates and mean stays are written as uncertain values (docs/model.md, "Uncertain
    inputs") matching their 95% intervals, unless ``point_estimates``."""
    out = _Lines()
    start = cal.as_of + dt.timedelta(days=1)
    year = return_year(cal.as_of) + 1
    window_years = (cal.as_of - cal.window_start).days / 365.25 + 1 / 365.25
    codes = ", ".join(cal.rules.residential_codes)
    c = cal.cleaning
    out.comment(
        f"Calibrated from SSDA903 data by `sufficiency calibrate` on {dt.date.today()}.\n"
        f"Episodes: {cal.episodes_file} ({c['rows_read']} rows; cleaning dropped "
        f"{c['duplicates_dropped']} duplicates, trimmed {c['overlaps_trimmed']} overlaps and "
        f"{c.get('nested_trimmed', 0)} nested episodes, closed "
        f"{c['open_episodes_closed']} open episodes followed by another,\n"
        f"merged {c['status_only_merged']} legal-status-only changes; dropped the episodes of "
        f"{c.get('children_not_in_header', 0)} children missing from the Header).\n"
        f"Header: {cal.header_file}.\n"
        f"Residential care = placement codes {codes}; a stay runs from the first residential "
        f"episode to the first day out of residential care.\n"
        f"Observation window {cal.window_start} to {cal.as_of} ({window_years:.2f} years); "
        f"{len(cal.stays)} residential stays seen in it; {len(cal.warnings)} data warnings.\n"
        f"Each estimate below gives its value, sample size (n) and 95% interval. Numbers the 903 "
        f"does not hold (prices, running costs,\n"
        f"search times, inflation) are marked PLACEHOLDER with their source: review them."
        + (f"\nFigures and the Kaplan-Meier curves: {report_dir}/" if report_dir else "")
    )
    out.kv(0, "name", name)
    out.kv(
        0,
        "description",
        f"Calibrated from the SSDA903 extract {cal.episodes_file} as of {cal.as_of}",
    )
    out.lines.append("")
    out.kv(0, "run")
    out.kv(
        2,
        "start_date",
        start,
        f"the day after the as-of date {cal.as_of}: the cohort below is in residential care on it",
    )
    out.kv(2, "horizon_years", horizon_years)
    out.kv(2, "replications", replications)
    out.kv(2, "seed", seed)
    out.lines.append("")
    out.kv(0, "demand")
    out.kv(2, "needs")
    for need in cal.needs:
        a, los, ages = cal.arrivals[need], cal.los[need], cal.ages[need]
        out.kv(4, need)
        if a.trend_used:
            rate_note = (
                f"fitted rate on {start} with the trend below: n={a.n} entries in "
                f"{a.years:.2f} years, 95% CI {a.rate.low:.1f}-{a.rate.high:.1f} (mean over the "
                f"window {a.mean_rate.value:.1f})"
            )
        else:
            rate_note = (
                f"n={a.n} residential entries in {a.years:.2f} years = {a.mean_rate.value:.2f} "
                f"a year (95% CI {a.mean_rate.low:.1f}-{a.mean_rate.high:.1f}, exact Poisson)"
            )
        rate = None if point_estimates else _uncertain(a.rate.value, a.rate.low, a.rate.high)
        if rate is not None:
            rate_note += "; drawn per parameter draw as a gamma matching it"
        out.kv(6, "arrivals_per_year", rate or _num(a.rate.value), rate_note)
        if a.trend is None:
            out.kv(6, "trend_per_year", 0.0, "too little data to fit a trend")
        else:
            verdict = "significant at 5%: used" if a.trend_used else "not significant at 5%: none"
            out.kv(
                6,
                "trend_per_year",
                _num(a.trend.value) if a.trend_used else 0.0,
                f"fitted {_pct(a.trend.value)} a year (95% CI {_pct(a.trend.low)} to "
                f"{_pct(a.trend.high)}, p={a.trend_p:.2g}): {verdict}",
            )
        factors = {m: _num(f, 3) for m, f in a.seasonality.items()}
        if a.seasonality_used:
            out.kv(
                6,
                "seasonality",
                factors,
                f"monthly factors, Poisson fit, likelihood-ratio test p={a.seasonality_p:.2g}",
            )
        else:
            listing = ", ".join(f"{m} {factors[m]}" for m in MONTHS)
            out.comment(
                f"seasonality: none (likelihood-ratio test p={a.seasonality_p:.2g}); fitted "
                f"monthly factors were {listing}",
                6,
            )
        best = los.best
        aics = " / ".join(f"{f.family} {f.aic:.1f}" for f in los.fits)
        dist: dict[str, Any] = {
            k: (_num(v, 5) if isinstance(v, float) else v) for k, v in best.dist.items()
        }
        # The mean stay's uncertainty: on the mean, or on a Weibull's scale (the mean's factor).
        where = "scale" if "scale" in dist else "mean"
        m = best.mean
        mean_cv = _uncertain(m.value, m.low, m.high)
        drawn = ""
        if not point_estimates and mean_cv is not None and where in dist:
            dist[where] = {**mean_cv, "mean": dist[where]}
            drawn = f"; the {where} drawn per parameter draw as a gamma matching the mean's CI"
        median = los.km.loc[los.km["survival"] <= 0.5, "days"]
        median_text = f"{median.iloc[0]:.0f} days" if len(median) else "not reached"
        pooled = "pooled over all needs (too few ended stays of this need); " if los.pooled else ""
        out.kv(
            6,
            "length_of_stay_days",
            dist,
            f"{pooled}mean {best.mean.value:.0f} days (95% CI {best.mean.low:.0f}-"
            f"{best.mean.high:.0f}); best by AIC of {aics}; n={los.n} stays, {los.events} ended, "
            f"{los.censored_as_of} still in care (censored), {los.censored_age_out} cut short "
            f"at {cal.age_out_years:g} (censored), {los.truncated} started before the window "
            f"(left-truncated); Kaplan-Meier median {median_text}, restricted mean "
            f"{los.km_restricted_mean:.0f} days{drawn}",
        )
        if ages is not None:
            out.kv(
                6,
                "age_at_entry_years",
                {"dist": "empirical", "values": ages.values, "weights": ages.weights},
                f"ages at first residential placement, n={ages.n}: mean {ages.mean:.1f}, "
                f"quartiles {ages.q25:.1f}-{ages.q75:.1f}",
            )
        else:
            out.comment("age_at_entry_years: no dates of birth: the schema default is used", 6)
    _cohort(out, cal)
    out.lines.append("")
    _provision(out, cal, year, vacancies)
    out.lines.append("")
    out.kv(0, "step_down")
    out.kv(2, "routes")
    for need in cal.needs:
        r = cal.routes[need]
        if r.default:
            note = "PLACEHOLDER: no exits observed; configs/minimal.yaml's routes"
        else:
            parts = ", ".join(
                f"{k} {r.counts[k]} ({r.intervals[k][0]:.2f}-{r.intervals[k][1]:.2f})"
                for k in ROUTE_NAMES
            )
            pooled = "pooled over all needs (fewer than 5 exits of this need); " if r.pooled else ""
            note = (
                f"{pooled}n={r.n} exits before {cal.age_out_years:g} (count, 95% CI): {parts}; "
                f"{r.age_outs} left at {cal.age_out_years:g} (the model's age-out)"
            )
        out.kv(4, need, {k: r.probs[k] for k in ROUTE_NAMES}, note)
    out.kv(2, "age_out_years", cal.age_out_years, "children leave residential care at 18")
    out.lines.append("")
    out.kv(0, "costs")
    out.kv(
        2,
        "inflation_per_year",
        INFLATION,
        "PLACEHOLDER: not in the 903; 6%/yr nominal (NCERCC and Revolution Consulting 2020, "
        "docs/sources.md#ncercc-rc-2020)",
    )
    return out.text()


def _cohort(out: _Lines, cal: Calibration) -> None:
    kids = sorted(cal.cohort, key=lambda k: (k.need, k.provision, k.unit, k.elapsed_days))
    if not kids:
        out.kv(2, "initial_cohort", [], f"nobody in residential care on {cal.as_of}")
        return
    by: dict[tuple[str, str], int] = {}
    for k in kids:
        by[(k.need, k.provision)] = by.get((k.need, k.provision), 0) + 1
    summary = ", ".join(f"{n} {need}/{prov}" for (need, prov), n in by.items())
    out.kv(2, "initial_cohort")
    out.comment(
        f"{len(kids)} children in residential care on {cal.as_of} ({summary}); elapsed days "
        f"and ages on the start date, one line per child",
        4,
    )
    for k in kids:
        entry: dict[str, Any] = {"need": k.need, "provision": k.provision}
        if k.provision in BED_KINDS:
            entry["unit"] = k.unit
        entry["elapsed_days"] = k.elapsed_days
        if math.isfinite(k.age_years):
            entry["age_years"] = round(min(k.age_years, cal.age_out_years - 0.01), 2)
        if k.provision in MARKET_KINDS and k.in_city is not None:
            entry["in_city"] = k.in_city
        out.item(4, entry)


def _provision(out: _Lines, cal: Calibration, year: int, vacancies: VacancySettings | None) -> None:
    out.kv(0, "provision")
    homes = [u for u in cal.units if u.kind == "internal"]
    blocks = [u for u in cal.units if u.kind == "block"]
    has_fw = cal.framework_offer is not None or any(
        p.provision == "framework" for p in cal.rules.providers.values()
    )
    if not cal.rules.providers:
        out.comment(
            "No providers file: the 903 does not say which beds are the council's own, block, "
            "framework or spot (docs/sources.md#dfe-903),\nso there are no council homes and every "
            "child is placed on the spot market. Give --providers to model them.",
            2,
        )
    home_cost = _inflated(HOME_COST_PER_CHILD_WEEK_2019_GBP * 0.85, 2019, year)
    if homes:
        out.kv(2, "homes")
        for u in homes:
            out.lines.append(f"    - name: {flow(u.name)}")
            out.kv(6, "beds", u.beds, u.beds_source)
            out.kv(6, "needs", u.needs, f"URN {', '.join(u.urns)}")
            out.kv(6, "in_city", u.in_city)
            _observed(out, u, cal, vacancies)
            if u.weekly_cost_gbp is not None:
                out.kv(6, "weekly_running_cost_gbp", _num(u.weekly_cost_gbp), "providers file")
            else:
                out.kv(
                    6,
                    "weekly_running_cost_gbp",
                    round(home_cost * u.beds),
                    f"PLACEHOLDER: £4,750 per child-week x 85% x {u.beds} beds (2019, NCERCC and "
                    f"Revolution Consulting 2020, docs/sources.md#ncercc-rc-2020) inflated 6%/yr "
                    f"to {year}",
                )
    if blocks:
        out.kv(2, "block_contracts")
        for u in blocks:
            out.lines.append(f"    - name: {flow(u.name)}")
            out.kv(6, "beds", u.beds, u.beds_source)
            out.kv(6, "needs", u.needs, f"URN {', '.join(u.urns)}")
            out.kv(6, "in_city", u.in_city)
            price = u.weekly_cost_gbp
            if price is not None:
                out.kv(6, "weekly_price_per_bed_gbp", _num(price), "providers file")
            else:
                out.kv(
                    6,
                    "weekly_price_per_bed_gbp",
                    round(_inflated(HOME_COST_PER_CHILD_WEEK_2019_GBP, 2019, year)),
                    f"PLACEHOLDER: £4,750 per bed-week (2019, docs/sources.md#ncercc-rc-2020) "
                    f"inflated to {year}",
                )
    spot_price = round(_inflated(SPOT_PRICE_2024_GBP, 2024, year), -1)
    if has_fw:
        out.kv(2, "framework")
        fo = cal.framework_offer
        if fo is not None:
            out.kv(
                4,
                "offer_probability",
                _num(fo.value, 3),
                f"share of new framework/spot placements that were framework: "
                f"{round(fo.value * fo.n)} of {fo.n} (95% CI {fo.low:.2f}-{fo.high:.2f})",
            )
        else:
            out.kv(4, "offer_probability", 0.5, "PLACEHOLDER: no new framework/spot placements")
        out.kv(
            4,
            "search_days",
            {"dist": "fixed", "value": 0},
            "PLACEHOLDER: the 903 shows placements, not searches",
        )
        out.kv(
            4,
            "weekly_price_gbp",
            {"dist": "lognormal", "mean": spot_price * 0.9, "cv": 0.3},
            "PLACEHOLDER: 90% of the spot price (NAO 2025: £6,000 a week in 2024, +6%/yr; "
            "docs/sources.md#nao-2025)",
        )
        _share(out, cal, "framework")
    out.kv(2, "spot")
    out.kv(
        4,
        "search_days",
        {"dist": "fixed", "value": 0},
        "PLACEHOLDER: the 903 shows placements, not searches",
    )
    out.kv(
        4,
        "weekly_price_gbp",
        {"dist": "lognormal", "mean": spot_price, "cv": 0.4},
        f"PLACEHOLDER: NAO 2025 (£6,000 a week in 2024; docs/sources.md#nao-2025) inflated 6%/yr "
        f"to {year}",
    )
    _share(out, cal, "spot")
    out.lines.append("")
    order = (
        (["internal"] if homes else [])
        + (["block"] if blocks else [])
        + (["framework"] if has_fw else [])
        + ["spot"]
    )
    out.kv(0, "placement_policy")
    out.kv(2, "order", order, "the cascade: council homes, block, framework, then spot")


def _share(out: _Lines, cal: Calibration, market: str) -> None:
    est = cal.in_city.get(market)
    if est is not None:
        where = f"postcode area {cal.city_area}" if cal.city_area else "the council's area"
        out.kv(
            4,
            "in_city_share",
            _num(est.value, 3),
            f"{round(est.value * est.n)} of {est.n} new {market} placements in {where} "
            f"(providers file, else placement postcode; 95% CI {est.low:.2f}-{est.high:.2f})",
        )
    else:
        out.kv(
            4,
            "in_city_share",
            round(1 - OUT_OF_AREA_SHARE, 2),
            "PLACEHOLDER: no postcodes; NAO 2025: 67% of children's home residents live "
            "outside their own LA",
        )


def render(cal: Calibration, name: str, **kwargs: Any) -> tuple[str, Scenario]:
    """The scenario text and the validated scenario it parses to.

    Raises :class:`simulation.ScenarioError` if the text does not validate (a bug, or a need
    name in the providers file that the schema refuses).
    """
    text = scenario_text(cal, name, **kwargs)
    scenario = parse_scenario(yaml.safe_load(text), "calibrated scenario")
    return text, scenario
