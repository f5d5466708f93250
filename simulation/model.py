"""One replication: build the SimPy model of a scenario, run it, return its event log."""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR, day_of
from simulation.distributions import Distribution
from simulation.events import EventLog, FrozenLog
from simulation.processes.arrivals import Children, draw_children, start_arrivals
from simulation.processes.contracts import dps_trigger
from simulation.processes.homes import unit_milestones, unit_schedule
from simulation.processes.market import uplift_rounds
from simulation.processes.placement import (
    MARKET_KINDS,
    Flows,
    Placements,
    PreventionRule,
    RepatriationRule,
    UnitDraws,
    UnitInfo,
)
from simulation.processes.staffing import (
    StaffedHome,
    apply_bed_closures,
    required_fte,
    staffing_timeline,
)
from simulation.processes.step_down import carer_recruitment
from simulation.scenario import BedRules, DpsProcurement, Home, Scenario
from simulation.scenario_cache import per_scenario, read_only
from simulation.streams import DrawBuffer, Streams


@dataclass(frozen=True)
class Replication:
    """What one replication leaves behind: its event log and the units it refers to."""

    replication: int
    seed: int
    log: FrozenLog
    units: list[UnitInfo]
    children: Children


def _bed_fields(rules: BedRules, needs: dict[str, int]) -> dict[str, Any]:
    """UnitInfo fields shared by homes, block contracts and DPS tranches."""
    fill = rules.phased_fill
    return {
        "match_probability": rules.match_probability,
        "turnaround": rules.turnaround_days,
        "solo_needs": frozenset(needs[n] for n in rules.solo_needs),
        "max_stay_days": rules.max_stay_days,
        "return_home_share": rules.return_home_share,
        "fill_per_month": fill.admissions_per_month if fill else 0,
        "fill_months": fill.months if fill else 0,
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


def build_units(scenario: Scenario) -> tuple[list[UnitInfo], dict[str, int]]:
    """Units in a fixed order: homes, block contracts, DPS tranches, then the markets.

    The index maps unit names, and ``@framework`` / ``@spot`` / ``@unregistered`` for markets.
    Built once per scenario; each call gets its own list and dict (the units are frozen).
    """
    units, index = _units(scenario)
    return list(units), dict(index)


@per_scenario
def _units(scenario: Scenario) -> tuple[tuple[UnitInfo, ...], Mapping[str, int]]:
    needs = {n: i for i, n in enumerate(scenario.need_names)}
    all_needs = frozenset(needs.values())
    start = scenario.run.start_date
    units: list[UnitInfo] = []
    for h in scenario.provision.homes:
        capital = h.capital
        units.append(
            UnitInfo(
                index=len(units),
                name=h.name,
                kind="internal",
                beds=h.beds,
                in_city=h.in_city,
                needs=frozenset(needs[n] for n in h.needs),
                weekly_cost_gbp=h.weekly_running_cost_gbp,
                assumed_occupancy=h.assumed_occupancy,
                planned_open_day=day_of(start, h.open_date) if h.open_date else 0.0,
                capital_annual_gbp=annuity(
                    capital.capital_cost_gbp - capital.grant_gbp,
                    capital.borrowing_rate,
                    capital.years,
                )
                if capital
                else 0.0,
                capital_from_day=project_start_day(scenario, h),
                capital_years=capital.years if capital else 0,
                **_bed_fields(h, needs),
            )
        )
    for b in scenario.provision.block_contracts:
        units.append(
            UnitInfo(
                index=len(units),
                name=b.name,
                kind="block",
                beds=b.beds,
                in_city=b.in_city,
                needs=frozenset(needs[n] for n in b.needs),
                weekly_cost_gbp=b.weekly_price_per_bed_gbp,
                assumed_occupancy=b.assumed_occupancy,
                planned_open_day=day_of(start, b.start) if b.start else 0.0,
                **_bed_fields(b, needs),
            )
        )
    for d in scenario.provision.dps:
        tranches: list[tuple[str, int, dt.date | None]] = [
            (f"{d.name} tranche {k + 1}", t.beds, t.date) for k, t in enumerate(d.tranches)
        ]
        if d.trigger is not None:
            tranches += [
                (f"{d.name} triggered {k + 1}", d.trigger.beds, None)
                for k in range(d.trigger.max_tranches)
            ]
        for name, beds, date in tranches:
            units.append(
                UnitInfo(
                    index=len(units),
                    name=name,
                    kind="block",
                    beds=beds,
                    in_city=d.in_city,
                    needs=frozenset(needs[n] for n in d.needs),
                    weekly_cost_gbp=d.weekly_price_per_bed_gbp,
                    planned_open_day=day_of(start, date) if date else math.nan,
                    **_bed_fields(d, needs),
                )
            )
    for market in ("framework", "spot"):
        if getattr(scenario.provision, market) is not None:
            units.append(UnitInfo(len(units), market, market, 0, False, all_needs, 0.0))
    if scenario.provision.spot.unregistered_after_days is not None:
        units.append(UnitInfo(len(units), "unregistered", "unregistered", 0, False, all_needs, 0.0))
    index = {u.name: u.index for u in units if u.kind in ("internal", "block")}
    index |= {"@" + u.kind: u.index for u in units if u.kind in MARKET_KINDS}
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
        draws.append(d)
    return draws


def build_flows(scenario: Scenario, streams: Streams, index: dict[str, int]) -> Flows:
    """The optional flows (carers, repatriation, breakdowns, unregistered, prevention)."""
    needs = {n: i for i, n in enumerate(scenario.need_names)}
    start = scenario.run.start_date
    carers = scenario.step_down.foster_carers
    policy = scenario.placement_policy
    flows = Flows()
    if carers is not None:
        flows.carers_limited = True
        if carers.needs is not None:
            flows.carer_needs = frozenset(needs[n] for n in carers.needs)
    if policy.repatriation is not None:
        r = policy.repatriation
        flows.repatriation = RepatriationRule(
            tuple(r.from_provisions),
            r.out_of_city_only,
            r.min_remaining_days,
            r.max_moves_per_month,
            r.priority,
        )
        flows.month_of_day = _month_numbers(scenario)
    if policy.breakdown_rate_per_year:
        flows.breakdown_rate_per_day = {
            str(k): v / DAYS_PER_YEAR for k, v in policy.breakdown_rate_per_year.items() if v > 0
        }
        flows.breakdown_draws = [DrawBuffer(streams(f"breakdown:{n}")) for n in needs]
    flows.unregistered_after_days = scenario.provision.spot.unregistered_after_days
    rules = []
    for p in scenario.demand.prevention:
        rules.append(
            PreventionRule(
                needs=frozenset(needs[n] for n in p.needs),
                share=p.share,
                start=day_of(start, p.start) if p.start else -np.inf,
                end=day_of(start, p.end) if p.end else np.inf,
                home=index[p.home] if p.home else -1,
            )
        )
    flows.prevention = tuple(rules)
    return flows


@per_scenario
def _month_numbers(scenario: Scenario) -> NDArray[np.int64]:
    """Calendar month number (months since 1970) of each whole day of the run (read-only)."""
    start = scenario.run.start_date
    days = np.datetime64(start, "D") + np.arange(int(np.ceil(scenario.horizon_days)) + 1)
    return read_only(days.astype("datetime64[M]").astype(np.int64))


def april_firsts(scenario: Scenario) -> list[float]:
    """Days of every 1 April after the start and before the end of the run."""
    return list(_april_firsts(scenario))


@per_scenario
def _april_firsts(scenario: Scenario) -> tuple[float, ...]:
    start, horizon = scenario.run.start_date, scenario.horizon_days
    days = []
    for year in range(start.year, scenario.end_date.year + 1):
        d = day_of(start, dt.date(year, 4, 1))
        if 0 < d < horizon:
            days.append(d)
    return tuple(days)


@dataclass(frozen=True)
class _StaffingPlan:
    """A staffed home's settings (the scenario's part of its StaffedHome)."""

    home: str
    establishment: int
    required_fte: float
    in_post: int
    close_beds: int


@per_scenario
def _staffing_plan(scenario: Scenario) -> tuple[_StaffingPlan, ...]:
    cfg = scenario.staffing
    if cfg is None:
        return ()
    plans = []
    for hs in cfg.homes:
        establishment = max(round(hs.establishment_fte), 0)
        beds = next(h.beds for h in scenario.provision.homes if h.name == hs.home)
        plans.append(
            _StaffingPlan(
                home=hs.home,
                establishment=establishment,
                required_fte=required_fte(
                    hs.min_on_shift, hs.waking_night, cfg.contract_hours_per_week, cfg.absence_rate
                ),
                in_post=hs.initial_fte if hs.initial_fte is not None else establishment,
                close_beds=min(hs.close_beds_when_short, beds)
                if hs.close_beds_when_short
                else beds,
            )
        )
    return tuple(plans)


def build_staffing(
    scenario: Scenario, streams: Streams, index: dict[str, int], schedules: list[BedSchedule]
) -> list[StaffedHome]:
    """Each staffed home with its own streams (leavers, recruitment lead times) and the days
    it opens and closes in this replication."""
    cfg = scenario.staffing
    if cfg is None:
        return []
    homes = []
    for plan in _staffing_plan(scenario):
        unit = index[plan.home]
        sched = schedules[unit]
        homes.append(
            StaffedHome(
                unit=unit,
                establishment=plan.establishment,
                required_fte=plan.required_fte,
                in_post=plan.in_post,
                close_beds=plan.close_beds,
                leave_rng=streams(f"staff_leave:{plan.home}"),
                recruit_rng=streams(f"staff_recruit:{plan.home}"),
                recruit_days=cfg.recruitment_days.ppf,
                open_day=sched.open_day,
                close_day=sched.close_day if sched.close_day is not None else math.inf,
            )
        )
    return homes


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


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a replication allocates tens of thousands of short
    lived objects (log rows, events), and collections triggered by them cost ~8% of its time.
    The cycles it leaves (the model's callbacks refer to the model) are collected afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def simulate(scenario: Scenario, replication: int = 0, seed: int | None = None) -> Replication:
    """Run replication ``replication`` of ``scenario`` with root seed ``seed``.

    The seed defaults to ``scenario.run.seed``. The same (scenario, replication, seed) always
    gives the same event log, in any process.
    """
    with _gc_paused():
        return _simulate(scenario, replication, seed)


def _simulate(scenario: Scenario, replication: int, seed: int | None) -> Replication:
    root_seed = scenario.run.seed if seed is None else seed
    streams = Streams(root_seed, replication)
    units, index = build_units(scenario)
    children = draw_children(scenario, streams, index)
    env = simpy.Environment()
    log = EventLog()
    placements = Placements(
        env,
        log,
        units,
        children,
        list(scenario.placement_policy.order),
        unit_draws(units, streams),
        build_flows(scenario, streams, index),
    )

    schedules = bed_schedules(scenario, streams)
    for u, sched in enumerate(schedules):
        close_day = sched.close_day
        if close_day is not None:
            placements.close_day[u] = close_day
        if sched.triggered:
            continue  # opened by its DPS trigger, if ever
        open_day = sched.open_day
        if open_day <= 0.0 and (close_day is None or close_day > 0.0):
            placements.open_unit(u)
        if close_day is None or open_day < close_day:
            env.process(unit_schedule(env, placements, u, max(open_day, 0.0), close_day))
        if sched.stage_ends or sched.original_end is not None:
            env.process(unit_milestones(env, placements, u, sched))
    staff = scenario.staffing
    if staff is not None:
        timeline = staffing_timeline(
            build_staffing(scenario, streams, index, schedules),
            staff.turnover_per_year,
            staff.relief_pool_fte,
            staff.agency_cap_fte,
            scenario.horizon_days,
        )
        log.merge(timeline.rows)
        apply_bed_closures(env, placements, timeline.closures)
    for d, units_of in dps_trigger_units(scenario, units):
        trigger = d.trigger
        assert trigger is not None
        env.process(
            dps_trigger(
                env,
                placements,
                units_of,
                trigger.spot_stock_above,
                trigger.check_every_days,
                DrawBuffer(streams(f"dps_lead:{d.name}"), trigger.lead_time_days.ppf),
                schedules[units_of[0]].close_day,
            )
        )
    for info in units:
        if info.kind in ("framework", "spot"):
            placements.is_open[info.index] = True
    for child in range(len(children)):
        if children.initial[child]:
            placements.start_in_unit(child, children.initial_unit[child])
    carers = scenario.step_down.foster_carers
    if carers is not None:
        until = (
            day_of(scenario.run.start_date, carers.recruit_until)
            if carers.recruit_until
            else np.inf
        )
        env.process(
            carer_recruitment(env, placements, carers.initial, carers.added_per_year, until)
        )
    for market in ("framework", "spot"):
        m = getattr(scenario.provision, market)
        if m is not None and m.uplift_probability_per_year > 0 and m.uplift is not None:
            env.process(
                uplift_rounds(
                    env,
                    placements,
                    april_firsts(scenario),
                    market,
                    m.uplift_probability_per_year,
                    DrawBuffer(streams(f"uplift:{market}")),
                    DrawBuffer(streams(f"uplift_size:{market}"), m.uplift.ppf),
                )
            )
    start_arrivals(env, placements, children)
    env.run(until=scenario.horizon_days)
    # Events still pending refer back to the model through their callbacks: dropping them
    # breaks those cycles, so the model is freed at once rather than by a later collection.
    env._queue.clear()
    return Replication(replication, root_seed, log.freeze(), units, children)
