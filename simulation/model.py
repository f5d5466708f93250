"""One replication: build the SimPy model of a scenario, run it, return its event log."""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from simulation.calendar import day_of
from simulation.events import EventLog, FrozenLog
from simulation.processes.arrivals import Children, arrival_process, draw_children
from simulation.processes.homes import unit_schedule
from simulation.processes.placement import Placements, UnitDraws, UnitInfo
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
    index = {u.name: u.index for u in units if u.kind in ("internal", "block")}
    index |= {"@" + u.kind: u.index for u in units if u.kind in ("framework", "spot")}
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
    env.process(arrival_process(env, placements, children))
    env.run(until=scenario.horizon_days)
    return Replication(replication, root_seed, log.freeze(), units, children)
