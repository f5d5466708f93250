"""Units: the places children live in one replication, built from the scenario.

A unit is a council home, a block contract (or one tranche of a Dynamic Purchasing System), or a
market (framework, spot, unregistered). What each kind of unit is lives in ``simulation.kinds``;
this module builds the scenario's units in a fixed order (homes, block contracts, DPS tranches,
then the markets), their bed schedules (when each opens and closes in a replication, with
lifecycle slippage and contract extensions), and each unit's own random draws.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR, day_of
from simulation.distributions import Distribution
from simulation.kinds import INTERIM_KINDS, KIND, MARKET_KINDS
from simulation.matching import GroupRule, group_rule
from simulation.scenario import BlockContract, DpsProcurement, Home, Scenario
from simulation.scenario_cache import per_scenario, read_only
from simulation.streams import DrawBuffer, Streams


@dataclass(frozen=True)
class UnitInfo:
    """A place children can live: an internal home, a block contract, or a market."""

    index: int
    name: str
    kind: str  # a name in simulation.kinds.KIND
    beds: int  # 0 for a market (unbounded)
    in_city: bool
    needs: frozenset[int]
    weekly_cost_gbp: float  # running cost (internal) or price per bed (block); see kinds.paid
    assumed_occupancy: float | None = None
    match_probability: float = 1.0
    turnaround: Distribution | None = None
    repair_probability: float = 0.0
    repair_days: Distribution | None = None
    transition_days: Distribution | None = None
    rule: GroupRule | None = None  # admission rules (None: everyone fits)
    solo_needs: frozenset[int] = frozenset()
    max_stay_days: float | None = None
    return_home_share: float = 0.0
    fill_per_month: int = 0  # phased fill: admissions per month after opening (0 = no cap)
    fill_months: int = 0
    planned_open_day: float = 0.0
    capital_annual_gbp: float = 0.0  # annuity repaying the borrowed capital
    capital_from_day: float = 0.0
    capital_years: int = 0

    @property
    def has_beds(self) -> bool:
        return KIND[self.kind].has_beds

    @property
    def weekly_cost_per_bed_gbp(self) -> float:
        """What one bed costs a week whether full or not (0 for a market)."""
        paid = KIND[self.kind].paid
        if paid == "running_cost":
            return self.weekly_cost_gbp / self.beds if self.beds else 0.0
        if paid == "per_bed":
            return self.weekly_cost_gbp
        return 0.0


@dataclass
class UnitDraws:
    """Per-unit random draws: matching a child to the group, bed turnaround, repair and
    move-in transition days, and whether a child at a short-stay home's limit returns home."""

    match: DrawBuffer | None = None
    turnaround: DrawBuffer | None = None
    stay_limit: DrawBuffer | None = None
    repair: DrawBuffer | None = None  # whether a vacated bed needs repair
    repair_days: DrawBuffer | None = None
    transition: DrawBuffer | None = None


BedRules = Home | BlockContract | DpsProcurement


def _bed_fields(scenario: Scenario, rules: BedRules, needs: dict[str, int]) -> dict[str, Any]:
    """UnitInfo fields shared by homes, block contracts and DPS tranches."""
    fill = rules.phased_fill
    return {
        "match_probability": rules.match_probability,
        "turnaround": rules.turnaround_days,
        "repair_probability": rules.repair_probability,
        "repair_days": rules.repair_days,
        "transition_days": rules.transition_days,
        "rule": group_rule(scenario, rules),
        "solo_needs": frozenset(needs[n] for n in rules.solo_needs),
        "max_stay_days": rules.max_stay_days,
        "return_home_share": rules.return_home_share,
        "fill_per_month": fill.admissions_per_month if fill else 0,
        "fill_months": fill.months if fill else 0,
        "needs": frozenset(needs[n] for n in rules.needs),
        "in_city": rules.in_city,
    }


def annuity(principal: float, rate: float, years: int) -> float:
    """Yearly repayment of ``principal`` borrowed at ``rate`` over ``years``."""
    if principal <= 0:
        return 0.0
    if rate == 0:
        return principal / years
    return principal * rate / (1.0 - (1.0 + rate) ** -years)


def project_start_day(scenario: Scenario, home: Home) -> float:
    """First day of a home's project: its open date less the stages' planned days."""
    start = scenario.run.start_date
    opened = day_of(start, home.open_date) if home.open_date else 0.0
    planned = sum(st.planned_days for st in home.lifecycle.stages) if home.lifecycle else 0.0
    return opened - planned


def _home_fields(scenario: Scenario, h: Home) -> dict[str, Any]:
    """The fields only a council home has: its capital repayments."""
    capital = h.capital
    if capital is None:
        return {"capital_from_day": project_start_day(scenario, h)}
    return {
        "capital_annual_gbp": annuity(
            capital.capital_cost_gbp - capital.grant_gbp, capital.borrowing_rate, capital.years
        ),
        "capital_from_day": project_start_day(scenario, h),
        "capital_years": capital.years,
    }


def build_units(scenario: Scenario) -> tuple[list[UnitInfo], dict[str, int]]:
    """Units in a fixed order: homes, block contracts, DPS tranches, then the markets.

    The index maps unit names, and ``@framework`` / ``@spot`` / ``@unregistered`` for markets.
    Built once per scenario; each call gets its own list and dict (the units are frozen).
    """
    units, index = _units(scenario)
    return list(units), dict(index)


def _bed_unit_specs(
    scenario: Scenario,
) -> list[tuple[str, str, BedRules, int, float, float, dict[str, Any]]]:
    """(kind, name, rules, beds, weekly cost, planned open day, extra fields) of each bed unit."""
    start = scenario.run.start_date
    prov = scenario.provision
    specs: list[tuple[str, str, BedRules, int, float, float, dict[str, Any]]] = []
    for h in prov.homes:
        opened = day_of(start, h.open_date) if h.open_date else 0.0
        extra = _home_fields(scenario, h) | {"assumed_occupancy": h.assumed_occupancy}
        specs.append(("internal", h.name, h, h.beds, h.weekly_running_cost_gbp, opened, extra))
    for b in prov.block_contracts:
        opened = day_of(start, b.start) if b.start else 0.0
        extra = {"assumed_occupancy": b.assumed_occupancy}
        specs.append(("block", b.name, b, b.beds, b.weekly_price_per_bed_gbp, opened, extra))
    for d in prov.dps:
        for name, beds, date in _dps_tranches(d):
            opened = day_of(start, date) if date else math.nan
            specs.append(("block", name, d, beds, d.weekly_price_per_bed_gbp, opened, {}))
    return specs


def _dps_tranches(d: DpsProcurement) -> list[tuple[str, int, dt.date | None]]:
    """A DPS's dated tranches, then its triggered ones (no date: opened by the trigger)."""
    tranches: list[tuple[str, int, dt.date | None]] = [
        (f"{d.name} tranche {k + 1}", t.beds, t.date) for k, t in enumerate(d.tranches)
    ]
    if d.trigger is not None:
        tranches += [
            (f"{d.name} triggered {k + 1}", d.trigger.beds, None)
            for k in range(d.trigger.max_tranches)
        ]
    return tranches


def interim_after_days(scenario: Scenario) -> dict[str, float]:
    """Each interim kind's search limit (``kinds.interim_for``), where the scenario sets one:
    ``unregistered`` from ``provision.spot.unregistered_after_days``."""
    out = {}
    for kind in INTERIM_KINDS:
        bridged = getattr(scenario.provision, KIND[kind].interim_for or "", None)
        days = getattr(bridged, f"{kind}_after_days", None)
        if days is not None:
            out[kind] = float(days)
    return out


def _configured_markets(scenario: Scenario) -> list[str]:
    """The market kinds this scenario has, in the kinds table's order."""
    interim = interim_after_days(scenario)
    return [
        kind
        for kind in MARKET_KINDS
        if kind in interim
        or (KIND[kind].interim_for is None and getattr(scenario.provision, kind, None) is not None)
    ]


@per_scenario
def _units(scenario: Scenario) -> tuple[tuple[UnitInfo, ...], Mapping[str, int]]:
    needs = {n: i for i, n in enumerate(scenario.need_names)}
    units: list[UnitInfo] = []
    for kind, name, rules, beds, cost, opened, extra in _bed_unit_specs(scenario):
        units.append(
            UnitInfo(
                index=len(units),
                name=name,
                kind=kind,
                beds=beds,
                weekly_cost_gbp=cost,
                planned_open_day=opened,
                **_bed_fields(scenario, rules, needs),
                **extra,
            )
        )
    all_needs = frozenset(needs.values())
    for market in _configured_markets(scenario):
        units.append(UnitInfo(len(units), market, market, 0, False, all_needs, 0.0))
    index = {u.name: u.index for u in units if u.has_beds}
    index |= {"@" + u.kind: u.index for u in units if not u.has_beds}
    return tuple(units), MappingProxyType(index)


@dataclass(frozen=True)
class BedSchedule:
    """When a bed unit actually opens and closes in one replication."""

    open_day: float  # inf: opens only if a DPS trigger procures it
    close_day: float | None
    stage_ends: tuple[float, ...] = ()  # a new home's stages, as they turned out
    extension_days: float = 0.0  # a block contract's extension, when taken up
    original_end: float | None = None
    triggered: bool = False


@dataclass(frozen=True)
class _Lifecycle:
    """A new home's project as planned; its stages slip on a stream of its own."""

    unit: int
    stream: str
    start_day: float
    planned_days: tuple[float, ...]
    close_day: float | None


@dataclass(frozen=True)
class _Extension:
    """A block contract that may be extended, on a stream of its own."""

    unit: int
    stream: str
    probability: float
    open_day: float
    end_day: float
    days: float


@dataclass(frozen=True)
class _SchedulePlan:
    """What every replication's bed schedules are drawn from (the scenario's part)."""

    planned: tuple[BedSchedule, ...]  # every unit's schedule when nothing slips or is extended
    lifecycles: tuple[_Lifecycle, ...]
    # The stages (numbered through the lifecycles in order) of each distinct slippage
    # distribution: one vectorised ppf call each rather than one per stage.
    slippage: tuple[tuple[Distribution, NDArray[np.intp]], ...]
    extensions: tuple[_Extension, ...]


@per_scenario
def _schedule_plan(scenario: Scenario) -> _SchedulePlan:
    start = scenario.run.start_date
    planned: list[BedSchedule] = []
    lifecycles: list[_Lifecycle] = []
    slippage: dict[str, tuple[Distribution, list[int]]] = {}
    extensions: list[_Extension] = []
    n_stages = 0
    for h in scenario.provision.homes:
        close = day_of(start, h.close_date) if h.close_date else None
        planned.append(BedSchedule(day_of(start, h.open_date) if h.open_date else 0.0, close))
        if h.lifecycle is None:
            continue
        stages = h.lifecycle.stages
        for stage in stages:
            # Keyed by repr: equal reprs mean bitwise equal parameters (unlike ==, 0.0 == -0.0).
            slippage.setdefault(repr(stage.slippage_days), (stage.slippage_days, []))[1].append(
                n_stages
            )
            n_stages += 1
        lifecycles.append(
            _Lifecycle(
                unit=len(planned) - 1,
                stream=f"lifecycle:{h.name}",
                start_day=project_start_day(scenario, h),
                planned_days=tuple(st.planned_days for st in stages),
                close_day=close,
            )
        )
    for b in scenario.provision.block_contracts:
        opened = day_of(start, b.start) if b.start else 0.0
        end = day_of(start, b.end) if b.end else None
        planned.append(BedSchedule(opened, end))
        if end is not None and b.extension_years > 0 and b.extension_probability > 0:
            extensions.append(
                _Extension(
                    unit=len(planned) - 1,
                    stream=f"extension:{b.name}",
                    probability=b.extension_probability,
                    open_day=opened,
                    end_day=end,
                    days=b.extension_years * DAYS_PER_YEAR,
                )
            )
    for d in scenario.provision.dps:
        end = day_of(start, d.end) if d.end else None
        planned += [BedSchedule(day_of(start, t.date), end) for t in d.tranches]
        if d.trigger is not None:
            planned += [BedSchedule(math.inf, end, triggered=True)] * d.trigger.max_tranches
    return _SchedulePlan(
        planned=tuple(planned),
        lifecycles=tuple(lifecycles),
        slippage=tuple(
            (dist, read_only(np.array(stages, dtype=np.intp))) for dist, stages in slippage.values()
        ),
        extensions=tuple(extensions),
    )


def bed_schedules(scenario: Scenario, streams: Streams) -> list[BedSchedule]:
    """Opening and closing days of every bed unit, in build order, with this replication's
    lifecycle slippage and contract extensions (each unit on its own named stream)."""
    plan = _schedule_plan(scenario)
    out = list(plan.planned)  # BedSchedule is frozen: the planned ones are shared
    if plan.lifecycles:
        u = np.concatenate(
            [streams(lc.stream).random(len(lc.planned_days)) for lc in plan.lifecycles]
        )
        slip = np.empty(len(u))
        for dist, stages in plan.slippage:
            slip[stages] = dist.ppf(u[stages])
        slips = iter(slip.tolist())
        for lc in plan.lifecycles:
            t = lc.start_day
            ends = []
            for planned in lc.planned_days:
                t += max(planned + next(slips), 0.0)
                ends.append(t)
            out[lc.unit] = BedSchedule(ends[-1], lc.close_day, tuple(ends))
    for ext in plan.extensions:
        if streams(ext.stream).random() < ext.probability:
            end = ext.end_day
            out[ext.unit] = BedSchedule(ext.open_day, end + ext.days, (), ext.days, end)
    return out


def unit_draws(units: list[UnitInfo], streams: Streams) -> list[UnitDraws]:
    """Each bed unit's own streams, keyed by its name so other units never shift them."""
    draws = []
    for u in units:
        d = UnitDraws()
        if u.match_probability < 1.0:
            d.match = DrawBuffer(streams(f"matching:{u.name}"))
        if u.turnaround is not None:
            d.turnaround = DrawBuffer(streams(f"turnaround:{u.name}"), u.turnaround.ppf)
        if u.max_stay_days is not None:
            d.stay_limit = DrawBuffer(streams(f"stay_limit:{u.name}"))
        if u.repair_probability > 0 and u.repair_days is not None:
            d.repair = DrawBuffer(streams(f"repair:{u.name}"))
            d.repair_days = DrawBuffer(streams(f"repair_days:{u.name}"), u.repair_days.ppf)
        if u.transition_days is not None:
            d.transition = DrawBuffer(streams(f"transition:{u.name}"), u.transition_days.ppf)
        draws.append(d)
    return draws


def dps_trigger_units(
    scenario: Scenario, units: list[UnitInfo]
) -> list[tuple[DpsProcurement, list[int]]]:
    """Each DPS with a trigger, and the units of its triggered tranches, in order."""
    by_name = {u.name: u.index for u in units}
    return [
        (d, [by_name[f"{d.name} triggered {k + 1}"] for k in range(d.trigger.max_tranches)])
        for d in scenario.provision.dps
        if d.trigger is not None
    ]
