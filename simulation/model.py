"""One replication: build the SimPy model of a scenario, run it, return its event log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import simpy

from simulation.calendar import DAYS_PER_YEAR, day_of
from simulation.events import EventLog, FrozenLog
from simulation.processes.arrivals import Children, arrival_process, draw_children
from simulation.processes.homes import unit_schedule
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
from simulation.processes.step_down import carer_recruitment
from simulation.scenario import Scenario
from simulation.streams import DrawBuffer, Streams


@dataclass(frozen=True)
class Replication:
    """What one replication leaves behind: its event log and the units it refers to."""

    replication: int
    seed: int
    log: FrozenLog
    units: list[UnitInfo]
    children: Children


def build_units(scenario: Scenario) -> tuple[list[UnitInfo], dict[str, int]]:
    """Units in a fixed order: homes, block contracts, then the framework and spot markets.

    The index maps unit names, and ``@framework`` / ``@spot`` for the markets.
    """
    needs = {n: i for i, n in enumerate(scenario.need_names)}
    all_needs = frozenset(needs.values())
    units: list[UnitInfo] = []
    for h in scenario.provision.homes:
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
                match_probability=h.match_probability,
                turnaround=h.turnaround_days,
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
                match_probability=b.match_probability,
                turnaround=b.turnaround_days,
            )
        )
    for market in ("framework", "spot"):
        if getattr(scenario.provision, market) is not None:
            units.append(UnitInfo(len(units), market, market, 0, False, all_needs, 0.0))
    if scenario.provision.spot.unregistered_after_days is not None:
        units.append(UnitInfo(len(units), "unregistered", "unregistered", 0, False, all_needs, 0.0))
    index = {u.name: u.index for u in units if u.kind in ("internal", "block")}
    index |= {"@" + u.kind: u.index for u in units if u.kind in MARKET_KINDS}
    return units, index


def unit_draws(units: list[UnitInfo], streams: Streams) -> list[UnitDraws]:
    """Each bed unit's own streams, keyed by its name so other units never shift them."""
    draws = []
    for u in units:
        d = UnitDraws()
        if u.match_probability < 1.0:
            d.match = DrawBuffer(streams(f"matching:{u.name}"))
        if u.turnaround is not None:
            d.turnaround = DrawBuffer(streams(f"turnaround:{u.name}"), u.turnaround.ppf)
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
        days = np.datetime64(start, "D") + np.arange(int(np.ceil(scenario.horizon_days)) + 1)
        flows.month_of_day = days.astype("datetime64[M]").astype(np.int64)
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


def april_firsts(scenario: Scenario) -> list[float]:
    """Days of every 1 April after the start and before the end of the run."""
    start, horizon = scenario.run.start_date, scenario.horizon_days
    days = []
    for year in range(start.year, scenario.end_date.year + 1):
        d = day_of(start, dt.date(year, 4, 1))
        if 0 < d < horizon:
            days.append(d)
    return days


def _unit_dates(scenario: Scenario) -> list[tuple[float, float | None]]:
    """Open and close day of each bed unit, in build order (markets are always open)."""
    start = scenario.run.start_date
    dates: list[tuple[float, float | None]] = []
    for h in scenario.provision.homes:
        dates.append(
            (
                day_of(start, h.open_date) if h.open_date else 0.0,
                day_of(start, h.close_date) if h.close_date else None,
            )
        )
    for b in scenario.provision.block_contracts:
        dates.append(
            (day_of(start, b.start) if b.start else 0.0, day_of(start, b.end) if b.end else None)
        )
    return dates


def simulate(scenario: Scenario, replication: int = 0, seed: int | None = None) -> Replication:
    """Run replication ``replication`` of ``scenario`` with root seed ``seed``.

    The seed defaults to ``scenario.run.seed``. The same (scenario, replication, seed) always
    gives the same event log, in any process.
    """
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

    for u, (open_day, close_day) in enumerate(_unit_dates(scenario)):
        if close_day is not None:
            placements.close_day[u] = close_day
        if open_day <= 0.0 and (close_day is None or close_day > 0.0):
            placements.open_unit(u)
        env.process(unit_schedule(env, placements, u, max(open_day, 0.0), close_day))
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
    env.process(arrival_process(env, placements, children))
    env.run(until=scenario.horizon_days)
    return Replication(replication, root_seed, log.freeze(), units, children)
