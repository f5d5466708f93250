"""One replication: build the SimPy model of a scenario, run it, return its event log."""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import simpy
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR, day_of
from simulation.events import EventLog, FrozenLog
from simulation.processes.admissions import PlannedAdmissions
from simulation.processes.arrivals import Children, draw_children, start_arrivals
from simulation.processes.contracts import dps_trigger
from simulation.processes.fostering import FosterCare, draw_foster, registered_days
from simulation.processes.homes import (
    PhasedFill,
    StayLimits,
    open_unit,
    unit_milestones,
    unit_schedule,
)
from simulation.processes.market import Markets, uplift_rounds
from simulation.processes.moves import Breakdowns
from simulation.processes.placement import Placements
from simulation.processes.prevention import Prevention, PreventionRule
from simulation.processes.repatriation import Repatriation, RepatriationRule
from simulation.processes.staffing import (
    StaffedHome,
    apply_bed_closures,
    required_fte,
    staffing_timeline,
)
from simulation.processes.step_down import StepDown, carer_recruitment
from simulation.scenario import Scenario
from simulation.scenario_cache import per_scenario, read_only
from simulation.streams import DrawBuffer, Streams
from simulation.units import (
    BedSchedule,
    UnitInfo,
    bed_schedules,
    build_units,
    dps_trigger_units,
    interim_after_days,
    unit_draws,
)


@dataclass(frozen=True)
class Replication:
    """What one replication leaves behind: its event log and the units it refers to."""

    replication: int
    seed: int
    log: FrozenLog
    units: list[UnitInfo]
    children: Children


def attach_flows(
    placements: Placements, scenario: Scenario, streams: Streams, index: dict[str, int]
) -> StepDown | None:
    """Attach each flow the scenario switches on to the cascade core, each from its own
    module. The order of attaching is the order the flows' placement hooks run in, which is
    part of the model's determinism: phased fill, stay limits, retainers, then breakdowns.
    Returns the step-down carer pool, if carers are limited (its recruitment is a process)."""
    needs = {n: i for i, n in enumerate(scenario.need_names)}
    policy = scenario.placement_policy
    PhasedFill(placements)
    StayLimits(placements)
    fw = scenario.provision.framework
    ends = {"framework": day_of(scenario.run.start_date, fw.end)} if fw and fw.end else {}
    Markets(placements, interim_after_days(scenario), ends)
    windows = any(n.planning_window_days > 0 for n in scenario.demand.needs.values())
    transitions = any(u.transition_days is not None for u in placements.units)
    if windows or transitions:
        PlannedAdmissions(placements, windows, transitions)
    if policy.breakdown_rate_per_year:
        rates = {
            str(k): v / DAYS_PER_YEAR for k, v in policy.breakdown_rate_per_year.items() if v > 0
        }
        Breakdowns(placements, rates, [DrawBuffer(streams(f"breakdown:{n}")) for n in needs])
    if policy.repatriation is not None:
        r = policy.repatriation
        rule = RepatriationRule(
            tuple(r.from_provisions),
            r.out_of_city_only,
            r.min_remaining_days,
            r.max_moves_per_month,
            r.priority,
        )
        Repatriation(placements, rule, _month_numbers(scenario))
    rules = _prevention_rules(scenario, index)
    if rules:
        Prevention(placements, rules)
    carers = scenario.step_down.foster_carers
    if carers is None:
        return None
    return StepDown(
        placements,
        frozenset(needs[n] for n in carers.needs) if carers.needs is not None else None,
        carers.weekly_cost_gbp,
    )


def _prevention_rules(scenario: Scenario, index: dict[str, int]) -> tuple[PreventionRule, ...]:
    needs = {n: i for i, n in enumerate(scenario.need_names)}
    start = scenario.run.start_date
    return tuple(
        PreventionRule(
            needs=frozenset(needs[n] for n in p.needs),
            share=p.share,
            start=day_of(start, p.start) if p.start else -np.inf,
            end=day_of(start, p.end) if p.end else np.inf,
            home=index[p.home] if p.home else -1,
        )
        for p in scenario.demand.prevention
    )


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
        env, log, units, children, list(scenario.placement_policy.order), unit_draws(units, streams)
    )
    step_down = attach_flows(placements, scenario, streams, index)
    # Processes start in this order (it settles ties between events due at the same instant).
    schedules = bed_schedules(scenario, streams)
    _start_bed_units(env, placements, schedules)
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
    _start_dps_triggers(env, placements, scenario, streams, units, schedules)
    for info in units:
        if not info.has_beds:
            placements.is_open[info.index] = True  # markets are always open
    for child in range(len(children)):
        if children.initial[child]:
            placements.start_in_unit(child, children.initial_unit[child])
    carers = scenario.step_down.foster_carers
    if carers is not None and step_down is not None:
        until = (
            day_of(scenario.run.start_date, carers.recruit_until)
            if carers.recruit_until
            else np.inf
        )
        env.process(carer_recruitment(env, step_down, carers.initial, carers.added_per_year, until))
    _start_uplifts(env, placements, scenario, streams)
    if scenario.fostering is None:
        start_arrivals(env, placements, children)
    else:
        care = _start_fostering(env, placements, scenario, streams, children)
        start_arrivals(env, placements, children, care.arrive)
    env.run(until=scenario.horizon_days)
    return Replication(replication, root_seed, log.freeze(), units, children)


def _start_fostering(
    env: simpy.Environment,
    placements: Placements,
    scenario: Scenario,
    streams: Streams,
    children: Children,
) -> FosterCare:
    """The in-house carer pool and its recruitment; its ``arrive`` takes the arrivals."""
    foster = scenario.fostering
    assert foster is not None
    draws = draw_foster(scenario, streams, children)
    care = FosterCare(placements, foster, draws, registered_days(foster, streams))
    pool = foster.in_house
    until = day_of(scenario.run.start_date, pool.recruit_until) if pool.recruit_until else np.inf
    env.process(carer_recruitment(env, care, pool.initial, pool.added_per_year, until))
    return care


def _start_bed_units(
    env: simpy.Environment, placements: Placements, schedules: list[BedSchedule]
) -> None:
    """Open the units open on day 0; start each unit's openings, closings and milestones."""
    for u, sched in enumerate(schedules):
        close_day = sched.close_day
        if close_day is not None:
            placements.close_day[u] = close_day
        if sched.triggered:
            continue  # opened by its DPS trigger, if ever
        open_day = sched.open_day
        if open_day <= 0.0 and (close_day is None or close_day > 0.0):
            open_unit(placements, u)
        if close_day is None or open_day < close_day:
            env.process(unit_schedule(env, placements, u, max(open_day, 0.0), close_day))
        if sched.stage_ends or sched.original_end is not None:
            env.process(unit_milestones(env, placements, u, sched))


def _start_dps_triggers(
    env: simpy.Environment,
    placements: Placements,
    scenario: Scenario,
    streams: Streams,
    units: list[UnitInfo],
    schedules: list[BedSchedule],
) -> None:
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


def _start_uplifts(
    env: simpy.Environment, placements: Placements, scenario: Scenario, streams: Streams
) -> None:
    """Each market with uplifts gets its yearly rounds, on its own streams."""
    for market in placements.market_unit:
        m = getattr(scenario.provision, market, None)
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
