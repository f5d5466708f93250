"""Costs by UK financial year (and week), in cash: council homes' running costs, block
contracts, market placements, retainers, capital repayments, agency cover and fostering (foster
placements by type, carer recruitment: :mod:`.fostering`); and void costs.

Daily costs at start-date prices are step functions integrated against the price index
(``costs.inflation_per_year``); capital repayments are fixed cash sums, not indexed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR
from simulation.metrics.context import Context, FamilyTables
from simulation.metrics.fostering import FINANCE_COLUMNS as FOSTER_FINANCE
from simulation.metrics.kinds import (
    BED_KINDS,
    MARKET_CODES,
    MARKETS,
    PROVISION_KINDS,
    bed_daily_cost,
    running_daily_cost,
)
from simulation.metrics.market import Retainers
from simulation.metrics.steps import AMOUNTS, COSTS, Array, Integrals, Rows, StepTable, _jumps


@dataclass(slots=True)
class CostRows:
    """Where the costs' step functions are in the :class:`StepTable`, and each unit's daily
    cost of a bed (the rate of its void cost)."""

    capital: Rows
    running: Rows  # one row per bed kind, in BED_KINDS order
    market: Rows  # one row per market kind, in MARKETS order
    void: Rows
    agency: Rows
    bed_rate: Array


def add_cost_steps(ctx: Context, steps: StepTable, agency_rate: float) -> CostRows:
    """Add every cost to ``steps``. ``agency_rate``: the daily cost of one FTE of agency cover,
    over a post's own cost."""
    units, horizon, sp, us, j = ctx.units, ctx.horizon, ctx.placed, ctx.usable, ctx.jumps
    # Capital: each home's annuity, a fixed cash sum a year (not indexed), from its project start.
    financed = [u for u in units if u.capital_annual_gbp > 0]
    cap_on = np.array([u.capital_from_day for u in financed], dtype=float)
    cap_off = cap_on + np.array([u.capital_years * DAYS_PER_YEAR for u in financed], dtype=float)
    cap_rate = np.array([u.capital_annual_gbp / DAYS_PER_YEAR for u in financed], dtype=float)
    cap_on, cap_off = np.clip(cap_on, 0.0, horizon), np.clip(cap_off, 0.0, horizon)
    cap_jumps = _jumps(cap_on, cap_off)
    capital = steps.add(
        AMOUNTS, cap_jumps[0], cap_rate[cap_jumps[1]] * cap_jumps[2], [len(cap_jumps[0])]
    )
    # Running costs of the bed units, and the market placements' weekly prices.
    us_times, us_spell, us_sign = j.usable_by_kind.jumps
    us_rate = running_daily_cost(units, us.unit, us.kind, us.beds)
    running = steps.add(COSTS, us_times, us_rate[us_spell] * us_sign, j.usable_by_kind.sizes)
    (by_kind, kind_spell, kind_sign), kind_sizes = j.placed_by_kind.jumps, j.placed_by_kind.sizes
    market = _groups(kind_sizes, MARKET_CODES)
    market_rows = steps.add(
        COSTS,
        by_kind[market],
        (sp.price / 7.0)[kind_spell[market]] * kind_sign[market],
        [kind_sizes[c] for c in MARKET_CODES],
    )
    # Void cost: the cost of each usable bed minus that of each occupied bed, internal + block.
    bed_rate = bed_daily_cost(units)
    void_rate = np.concatenate(
        [bed_rate[us.unit] * us.beds, -bed_rate[sp.unit[ctx.placed_in_beds]]]
    )
    free = j.free_beds
    void = steps.add(COSTS, free[0], void_rate[free[1]] * free[2], [len(free[0])])
    # Agency / overtime: the premium over a post's own cost, for the FTE covered, indexed.
    ag = j.agency
    agency = steps.add(COSTS, ag[0], (ctx.agency_fte * agency_rate)[ag[1]] * ag[2], [len(ag[0])])
    return CostRows(capital, running, market_rows, void, agency, bed_rate)


def _groups(sizes: list[int], codes: tuple[int, ...]) -> slice | NDArray[np.intp]:
    """Where the groups ``codes`` (in that order) lie among groups of ``sizes`` laid end to end:
    a slice when they are adjacent in that order (no copy), else their positions."""
    first = [0, *itertools.accumulate(sizes)]
    if all(b == a + 1 for a, b in itertools.pairwise(codes)):
        return slice(first[codes[0]], first[codes[-1] + 1])
    return np.concatenate([np.arange(first[c], first[c + 1]) for c in codes])


def costs(
    ctx: Context, ig: Integrals, rows: CostRows, retainers: Retainers, foster: FamilyTables
) -> FamilyTables:
    """Costs per financial year, per week (``cost_gbp``) and over the run. ``foster``: the
    fostering family's tables, whose costs (foster placements by type, carer recruitment) are
    part of the total."""
    finance: dict[str, Array] = {}
    weekly_cost = np.zeros(len(ctx.cal.week_len))
    by_year = _by_kind(ig.year(rows.running), ig.year(rows.market))
    by_week = _by_kind(ig.week(rows.running), ig.week(rows.market))
    for part in PROVISION_KINDS:
        finance[f"{part}_gbp"] = by_year[part]
        weekly_cost += by_week[part]
    finance["retainer_gbp"] = retainers.by_year
    weekly_cost += retainers.by_week
    finance["void_gbp"] = ig.year(rows.void)[0]
    finance["capital_gbp"] = ig.year(rows.capital)[0]
    weekly_cost += ig.week(rows.capital)[0]
    finance["agency_gbp"] = ig.year(rows.agency)[0]
    weekly_cost += ig.week(rows.agency)[0]
    for column in FOSTER_FINANCE:
        finance[column] = foster.finance[column]
    weekly_cost += foster.weekly["foster_cost_gbp"]
    finance["total_gbp"] = np.sum(
        [
            *(finance[f"{p}_gbp"] for p in (*PROVISION_KINDS, "retainer", "capital", "agency")),
            *(finance[column] for column in FOSTER_FINANCE),
        ],
        axis=0,
    )
    total = _by_kind(ig.year_total(rows.running), ig.year_total(rows.market))
    summary: dict[str, float] = {"void_cost_gbp": ig.year_total(rows.void)[0]}
    for part in PROVISION_KINDS:
        summary[f"cost_{part}_gbp"] = total[part]
    summary["cost_retainer_gbp"] = float(finance["retainer_gbp"].sum())
    summary["cost_capital_gbp"] = ig.year_total(rows.capital)[0]
    summary["cost_agency_gbp"] = ig.year_total(rows.agency)[0]
    summary["cost_total_gbp"] = float(finance["total_gbp"].sum())
    summary["cost_per_year_gbp"] = summary["cost_total_gbp"] / ctx.years
    return FamilyTables({"cost_gbp": weekly_cost}, finance, summary)


def _by_kind(running: Array | list[float], market: Array | list[float]) -> dict[str, Any]:
    """Per kind: the bed kinds' running costs and the market kinds' placement costs (rows of
    ``running`` and ``market``, read by index: iterating an array ends in a costly IndexError)."""
    by_kind = {kind: running[k] for k, kind in enumerate(BED_KINDS)}
    by_kind.update({kind: market[k] for k, kind in enumerate(MARKETS)})
    return by_kind


def void_cost_by_unit(ctx: Context, rows: CostRows) -> Array:
    """Each unit's void cost in cash: its usable beds' cost less its occupied beds'."""
    g, us, sp, in_beds = ctx.g, ctx.usable, ctx.placed, ctx.placed_in_beds
    n_units, bed_rate = len(ctx.units), rows.bed_rate
    unit_void_cost = np.zeros(n_units)
    if len(us.unit):
        unit_void_cost += np.bincount(
            us.unit,
            weights=bed_rate[us.unit] * us.beds * (g(us.end) - g(us.start)),
            minlength=n_units,
        )
    g_start, g_end = ctx.placed_g
    if in_beds.any():
        u_in = sp.unit[in_beds]
        unit_void_cost -= np.bincount(
            u_in,
            weights=bed_rate[u_in] * (g_end[in_beds] - g_start[in_beds]),
            minlength=n_units,
        )
    return unit_void_cost
