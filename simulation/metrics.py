"""Everything users see, derived from one replication's event log.

The log is turned into spells (a child in a unit from a PLACE to the next PLACE, DISPLACE or EXIT;
a child waiting from ARRIVE or DISPLACE to the next PLACE or EXIT; a unit usable from UNIT_OPEN to
UNIT_CLOSE). Step functions of those spells, integrated over weeks or financial years, give every
series and total, with costs indexed by inflation from the start date.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.calendar import DAYS_PER_YEAR, financial_year_edges, week_edges
from simulation.events import MOVE_REPATRIATION, ROUTE_LABELS, EventKind, FrozenLog
from simulation.model import Replication
from simulation.processes.placement import UnitInfo
from simulation.scenario import Scenario

Array = NDArray[np.float64]
PROVISION_KINDS = ("internal", "block", "framework", "spot", "unregistered")
MARKETS = ("framework", "spot", "unregistered")

# Headline metrics printed by the CLI (name, label, format).
HEADLINE = (
    ("internal_occupancy_pct", "Internal occupancy (%)", "{:.1f}"),
    ("block_occupancy_pct", "Block occupancy (%)", "{:.1f}"),
    ("void_bed_days", "Void bed-days (internal + block)", "{:,.0f}"),
    ("void_cost_gbp", "Void cost (£)", "{:,.0f}"),
    ("spot_placements", "New spot placements", "{:,.0f}"),
    ("spot_placements_per_year", "New spot placements per year", "{:.1f}"),
    ("spot_bed_days", "Spot bed-days", "{:,.0f}"),
    ("spot_stock_mean", "Children in spot (mean)", "{:.1f}"),
    ("out_of_city_share", "Share of placed child-days out of city", "{:.3f}"),
    ("waiting_days_mean", "Days waiting per placement sought", "{:.1f}"),
    ("cost_total_gbp", "Total cost (£)", "{:,.0f}"),
    ("cost_per_year_gbp", "Cost per year (£)", "{:,.0f}"),
)


@dataclass(frozen=True)
class ReplicationMetrics:
    """Tidy results of one replication."""

    summary: dict[str, float]
    weekly: pd.DataFrame
    units: pd.DataFrame
    finance: pd.DataFrame


def inflation_integral(inflation_per_year: float) -> Callable[[Array], Array]:
    """G(t) = integral from 0 to t of the price index (1 + i)^(s / 365.25) ds."""
    if inflation_per_year == 0.0:
        return lambda t: np.asarray(t, dtype=float)
    rate = math.log1p(inflation_per_year) / DAYS_PER_YEAR
    return lambda t: np.expm1(rate * np.asarray(t, dtype=float)) / rate


def step_integral(
    t_on: Array,
    t_off: Array,
    weight: Array,
    edges: Array,
    transform: Callable[[Array], Array] | None = None,
) -> Array:
    """Integral over each bin of ``sum_i weight_i * 1[t_on_i <= t < t_off_i]``.

    With ``transform`` = G, integrates against dG (for inflation-indexed costs).
    """
    g = transform or (lambda t: t)
    if len(t_on) == 0:
        return np.zeros(len(edges) - 1)
    times = np.concatenate([t_on, t_off])
    deltas = np.concatenate([weight, -np.asarray(weight, dtype=float)])
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    level = np.cumsum(deltas)
    gt = g(times)
    cum = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(gt))])
    idx = np.searchsorted(times, edges, side="right") - 1
    safe = np.maximum(idx, 0)
    at_edges = np.where(idx >= 0, cum[safe] + level[safe] * (g(edges) - gt[safe]), 0.0)
    return np.diff(at_edges)


@dataclass(frozen=True)
class Spells:
    """Intervals derived from the log (days, clipped to the horizon)."""

    child: NDArray[np.int32]
    unit: NDArray[np.int16]
    start: Array
    end: Array
    price: Array  # weekly, start-date prices (markets only)
    in_city: NDArray[np.bool_]
    placement: NDArray[np.int64]  # spells split by a price change share a placement id


def _spells(
    log: FrozenLog,
    horizon: float,
    kinds: tuple[EventKind, ...],
    starts: NDArray[np.bool_],
    key: NDArray[np.integer],
) -> tuple[NDArray[np.intp], Array, NDArray[np.bool_]]:
    """Rows of ``kinds`` grouped by ``key`` (a child or a unit) in log order; each row where
    ``starts`` holds opens a spell that the group's next row (or the horizon) closes.

    Returns the sorted rows, each row's end, and the mask of spell-opening rows among them.
    """
    rows = np.flatnonzero(np.isin(log.kind, kinds))
    order = np.argsort(key[rows], kind="stable")
    rows = rows[order]
    k = key[rows]
    nxt_same = np.append(k[1:] == k[:-1], False)
    end = np.where(nxt_same, np.append(log.time[rows][1:], horizon), horizon)
    return rows, np.minimum(end, horizon), starts[rows]


def placement_spells(log: FrozenLog, horizon: float) -> Spells:
    """A child in a unit at a price: from PLACE (or PRICE_CHANGE) to that child's next
    PLACE, PRICE_CHANGE, MOVE, DISPLACE, BREAKDOWN or EXIT."""
    opens = (log.kind == EventKind.PLACE) | (log.kind == EventKind.PRICE_CHANGE)
    rows, end, is_start = _spells(log, horizon, PLACEMENT_BOUNDARIES, opens, log.child)
    # A price change continues its placement: number placements by their PLACE rows.
    placement_id = np.cumsum(log.kind[rows] == EventKind.PLACE)
    sel = rows[is_start]
    return Spells(
        child=log.child[sel],
        unit=log.unit[sel],
        start=log.time[sel],
        end=end[is_start],
        price=log.value[sel],
        in_city=log.in_city[sel] == 1,
        placement=placement_id[is_start],
    )


def waiting_spells(log: FrozenLog, horizon: float) -> tuple[Array, Array]:
    """A child without a bed: from ARRIVE, DISPLACE or BREAKDOWN to the next PLACE or EXIT."""
    # The cohort's ARRIVE (logged with its unit) is no search for a bed: it is placed at once.
    opens = (
        (log.kind == EventKind.DISPLACE)
        | (log.kind == EventKind.BREAKDOWN)
        | ((log.kind == EventKind.ARRIVE) & (log.unit < 0))
    )
    kinds = (
        EventKind.ARRIVE,
        EventKind.DISPLACE,
        EventKind.BREAKDOWN,
        EventKind.PLACE,
        EventKind.EXIT,
    )
    rows, end, is_start = _spells(log, horizon, kinds, opens, log.child)
    return log.time[rows][is_start], end[is_start]


def ready_spells(log: FrozenLog, horizon: float) -> tuple[Array, Array]:
    """A child ready to step down to foster care with no carer: from READY to its EXIT."""
    opens = log.kind == EventKind.READY
    kinds = (EventKind.READY, EventKind.EXIT)
    rows, end, is_start = _spells(log, horizon, kinds, opens, log.child)
    return log.time[rows][is_start], end[is_start]


def usable_spells(log: FrozenLog, horizon: float) -> tuple[NDArray[np.int16], Array, Array, Array]:
    """Beds usable in a unit: (unit, start, end, beds) from UNIT_OPEN to UNIT_CLOSE."""
    opens = log.kind == EventKind.UNIT_OPEN
    kinds = (EventKind.UNIT_OPEN, EventKind.UNIT_CLOSE)
    rows, end, is_start = _spells(log, horizon, kinds, opens, log.unit)
    sel = rows[is_start]
    return log.unit[sel], log.time[sel], end[is_start], log.value[sel]


PLACEMENT_BOUNDARIES = (
    EventKind.PLACE,
    EventKind.PRICE_CHANGE,
    EventKind.MOVE,
    EventKind.DISPLACE,
    EventKind.BREAKDOWN,
    EventKind.EXIT,
)


VOID_CAUSES = ("turnaround", "staffing", "phased_fill", "other")


def _level_spells(
    log: FrozenLog, kind: EventKind, horizon: float
) -> tuple[NDArray[np.int16], Array, Array, Array]:
    """A per-unit level set by ``kind`` events (value = the new level): (unit, start, end,
    level) spells, each lasting to the unit's next such event or the horizon."""
    opens = log.kind == kind
    rows, end, is_start = _spells(log, horizon, (kind,), opens, log.unit)
    sel = rows[is_start]
    return log.unit[sel], log.time[sel], end[is_start], log.value[sel]


def first_opening(log: FrozenLog, n_units: int) -> Array:
    """Day each unit first opened (NaN if it never did in the run)."""
    opened = np.full(n_units, np.nan)
    rows = np.flatnonzero(log.kind == EventKind.UNIT_OPEN)[::-1]  # last write wins: the first
    opened[log.unit[rows]] = log.time[rows]
    return opened


def _intervals(
    log: FrozenLog, unit: int, opens: EventKind, ends: EventKind, horizon: float
) -> list[tuple[float, float]]:
    """[start, end) intervals of a unit between ``opens`` and the next ``ends`` (or horizon)."""
    rows = np.flatnonzero(((log.kind == opens) | (log.kind == ends)) & (log.unit == unit))
    out: list[tuple[float, float]] = []
    start: float | None = None
    opens_code, ends_code = int(opens), int(ends)  # plain ints: no enum machinery in the loop
    for kind, time in zip(log.kind[rows].tolist(), log.time[rows].tolist(), strict=True):
        if kind == opens_code and start is None:
            start = time
        elif kind == ends_code and start is not None:
            out.append((start, time))
            start = None
    if start is not None:
        out.append((start, horizon))
    return out


@dataclass(frozen=True)
class _BedSpells:
    """One bed unit's occupancy and holds, to count free bed-days in any interval."""

    beds: int
    close_times: Array
    occupied_start: Array
    occupied_end: Array
    held_start: Array
    held_end: Array

    def free(self, a: float, b: float) -> float:
        """Bed-days in [a, b) neither occupied nor held (and not past a closure)."""
        later_close = self.close_times[self.close_times > a]
        if len(later_close):
            b = min(b, float(later_close[0]))
        if b <= a:
            return 0.0
        occupied = np.clip(
            np.minimum(self.occupied_end, b) - np.maximum(self.occupied_start, a), 0, None
        ).sum()
        held = np.clip(np.minimum(self.held_end, b) - np.maximum(self.held_start, a), 0, None).sum()
        return max(self.beds * (b - a) - float(occupied) - float(held), 0.0)


def void_causes(
    log: FrozenLog, units: list[UnitInfo], horizon: float, sp: Spells, usable: Array
) -> dict[int, dict[str, float]]:
    """Split each bed unit's void bed-days by cause.

    ``turnaround``: beds held empty after a child left (BED_HOLD until released or closed);
    ``staffing``: other free beds while the home cannot cover its rota (STAFF_SHORT to
    STAFF_COVERED); ``phased_fill``: other free beds while a new home's monthly admission cap
    binds (FILL_CAPPED to FILL_RESUMED); ``other``: the rest (no child needing the bed, or none
    matching).
    """
    out: dict[int, dict[str, float]] = {}
    closes = {
        int(u): np.sort(log.time[(log.kind == EventKind.UNIT_CLOSE) & (log.unit == u)])
        for u in np.unique(log.unit[log.kind == EventKind.UNIT_CLOSE])
    }
    holds = np.flatnonzero(log.kind == EventKind.BED_HOLD)
    for info in units:
        if info.kind not in ("internal", "block"):
            continue
        u = info.index
        close_times = closes.get(u, np.empty(0))
        mine = holds[log.unit[holds] == u]
        t0 = log.time[mine]
        # A unit's closure ends its holds: the next close after each hold, or the horizon.
        next_close = np.append(close_times, horizon)[np.searchsorted(close_times, t0, side="right")]
        held_end = np.minimum(t0 + log.value[mine], next_close)
        in_unit = sp.unit == u
        sp_start, sp_end = sp.start[in_unit], sp.end[in_unit]
        bed_spells = _BedSpells(info.beds, close_times, sp_start, sp_end, t0, held_end)
        free_beds = bed_spells.free
        staff = _intervals(log, u, EventKind.STAFF_SHORT, EventKind.STAFF_COVERED, horizon)
        fill = _intervals(log, u, EventKind.FILL_CAPPED, EventKind.FILL_RESUMED, horizon)
        staffing = sum(free_beds(a, b) for a, b in staff)
        # A capped fill while also short of staff counts once, as staffing.
        phased = 0.0
        for a, b in fill:
            cuts = sorted({a, b, *(x for iv in staff for x in iv if a < x < b)})
            for lo, hi in itertools.pairwise(cuts):
                if not any(sa <= lo and hi <= sb for sa, sb in staff):
                    phased += free_beds(lo, hi)
        turnaround = float(np.sum(held_end - t0))
        total = float(usable[u] - np.sum(sp_end - sp_start))
        out[u] = {
            "turnaround": turnaround,
            "staffing": staffing,
            "phased_fill": phased,
            "other": max(total - turnaround - staffing - phased, 0.0),
        }
    return out


def _pct(num: float, den: float) -> float:
    return 100.0 * num / den if den > 0 else math.nan


def compute_metrics(scenario: Scenario, rep: Replication) -> ReplicationMetrics:
    """Summary, weekly series, per-unit and per-financial-year results of one replication."""
    log, units = rep.log, rep.units
    horizon = scenario.horizon_days
    start_date = scenario.run.start_date
    years = horizon / DAYS_PER_YEAR
    g = inflation_integral(scenario.costs.inflation_per_year)
    growth = math.log1p(scenario.costs.inflation_per_year) / DAYS_PER_YEAR

    def price_index(t: Array) -> Array:
        return np.exp(growth * np.asarray(t, dtype=float))

    kind_of = np.array([PROVISION_KINDS.index(u.kind) for u in units], dtype=np.int8)
    wk_edges = week_edges(horizon)
    wk_len = np.diff(wk_edges)
    fy_edges, fy_labels = financial_year_edges(start_date, horizon)
    all_edges = np.array([0.0, horizon])

    sp = placement_spells(log, horizon)
    sp_kind = kind_of[sp.unit] if len(sp.unit) else np.zeros(0, dtype=np.int8)
    sp_len = sp.end - sp.start
    ones = np.ones_like(sp.start)
    w_on, w_off = waiting_spells(log, horizon)
    us_unit, us_on, us_off, us_beds = usable_spells(log, horizon)
    us_kind = kind_of[us_unit] if len(us_unit) else np.zeros(0, dtype=np.int8)

    weekly: dict[str, Array] = {}
    for k, kind in enumerate(PROVISION_KINDS):
        m = sp_kind == k
        weekly[f"children_{kind}"] = (
            step_integral(sp.start[m], sp.end[m], ones[m], wk_edges) / wk_len
        )
    weekly["children_waiting"] = step_integral(w_on, w_off, np.ones_like(w_on), wk_edges) / wk_len
    r_on, r_off = ready_spells(log, horizon)
    weekly["children_awaiting_carer"] = (
        step_integral(r_on, r_off, np.ones_like(r_on), wk_edges) / wk_len
    )
    out = ~sp.in_city
    weekly["children_out_of_city"] = (
        step_integral(sp.start[out], sp.end[out], ones[out], wk_edges) / wk_len
    )
    for k, kind in enumerate(("internal", "block")):
        m = us_kind == k
        weekly[f"beds_{kind}"] = step_integral(us_on[m], us_off[m], us_beds[m], wk_edges) / wk_len
        with np.errstate(invalid="ignore", divide="ignore"):
            weekly[f"{kind}_occupancy_pct"] = np.where(
                weekly[f"beds_{kind}"] > 0,
                100.0 * weekly[f"children_{kind}"] / weekly[f"beds_{kind}"],
                np.nan,
            )
    place_rows = log.kind == EventKind.PLACE
    # New placements: all but the cohort's own placements on day 0 (arrivals on the start date
    # are new placements too).
    cohort = log.child[(log.kind == EventKind.ARRIVE) & (log.unit >= 0)]
    new_place = place_rows & ((log.time > 0) | ~np.isin(log.child, cohort))
    spot_unit = [u.index for u in units if u.kind == "spot"]
    new_spot = new_place & np.isin(log.unit, spot_unit)
    weekly["spot_new_placements"] = np.histogram(log.time[new_spot], bins=wk_edges)[0].astype(float)

    # -- costs: a daily rate per spell, integrated against the price index -------------------
    cost_parts: dict[str, tuple[Array, Array, Array]] = {}
    run_rate = np.array([u.weekly_cost_gbp / 7.0 for u in units])
    m_int, m_blk = us_kind == 0, us_kind == 1
    cost_parts["internal"] = (us_on[m_int], us_off[m_int], run_rate[us_unit[m_int]])
    cost_parts["block"] = (us_on[m_blk], us_off[m_blk], run_rate[us_unit[m_blk]] * us_beds[m_blk])
    for kind in MARKETS:
        m = sp_kind == PROVISION_KINDS.index(kind)
        cost_parts[kind] = (sp.start[m], sp.end[m], sp.price[m] / 7.0)
    # Void cost: the cost of each usable bed minus that of each occupied bed, internal + block.
    bed_rate = np.array(
        [
            (u.weekly_cost_gbp / u.beds if u.kind == "internal" else u.weekly_cost_gbp) / 7.0
            if u.beds
            else 0.0
            for u in units
        ]
    )
    in_beds = sp_kind <= 1
    void_on = np.concatenate([us_on, sp.start[in_beds]])
    void_off = np.concatenate([us_off, sp.end[in_beds]])
    void_rate = np.concatenate([bed_rate[us_unit] * us_beds, -bed_rate[sp.unit[in_beds]]])

    finance: dict[str, Array] = {}
    weekly_cost = np.zeros(len(wk_len))
    for part, (on, off, rate) in cost_parts.items():
        finance[f"{part}_gbp"] = step_integral(on, off, rate, fy_edges, g)
        weekly_cost += step_integral(on, off, rate, wk_edges, g)
    # Retainers: the placement's weekly price for the days the bed was held, paid on moving in
    # (the PLACE it belongs to is the row just before it).
    ret_rows = np.flatnonzero(log.kind == EventKind.RETAINER)
    ret_time = log.time[ret_rows]
    ret_cost = log.value[ret_rows - 1] / 7.0 * log.value[ret_rows] * price_index(ret_time)
    finance["retainer_gbp"] = np.histogram(ret_time, bins=fy_edges, weights=ret_cost)[0]
    weekly_cost += np.histogram(ret_time, bins=wk_edges, weights=ret_cost)[0]
    finance["void_gbp"] = step_integral(void_on, void_off, void_rate, fy_edges, g)
    # Capital: each home's annuity, a fixed cash sum a year (not indexed), from its project start.
    cap = np.array([u.capital_annual_gbp > 0 for u in units], dtype=bool)
    cap_on = np.array([u.capital_from_day for u in units])[cap]
    cap_off = cap_on + np.array([u.capital_years * DAYS_PER_YEAR for u in units])[cap]
    cap_rate = np.array([u.capital_annual_gbp / DAYS_PER_YEAR for u in units])[cap]
    cap_on, cap_off = np.clip(cap_on, 0.0, horizon), np.clip(cap_off, 0.0, horizon)
    finance["capital_gbp"] = step_integral(cap_on, cap_off, cap_rate, fy_edges)
    weekly_cost += step_integral(cap_on, cap_off, cap_rate, wk_edges)
    # Agency / overtime: the premium over a post's own cost, for the FTE covered, indexed.
    _, ag_on, ag_off, ag_fte = _level_spells(log, EventKind.AGENCY, horizon)
    staffing_cfg = scenario.staffing
    premium_rate = (
        staffing_cfg.staff_cost_per_fte_year_gbp * staffing_cfg.agency_premium / DAYS_PER_YEAR
        if staffing_cfg is not None
        else 0.0
    )
    finance["agency_gbp"] = step_integral(ag_on, ag_off, ag_fte * premium_rate, fy_edges, g)
    weekly_cost += step_integral(ag_on, ag_off, ag_fte * premium_rate, wk_edges, g)
    finance["total_gbp"] = np.sum(
        [finance[f"{p}_gbp"] for p in (*cost_parts, "retainer", "capital", "agency")], axis=0
    )
    finance["spot_new_placements"] = np.histogram(log.time[new_spot], bins=fy_edges)[0].astype(
        float
    )
    weekly["cost_gbp"] = weekly_cost

    # -- per unit ----------------------------------------------------------------------------
    occupied = (
        np.bincount(sp.unit, weights=sp_len, minlength=len(units))
        if len(sp.unit)
        else (np.zeros(len(units)))
    )
    usable = (
        np.bincount(us_unit, weights=(us_off - us_on) * us_beds, minlength=len(units))
        if len(us_unit)
        else np.zeros(len(units))
    )
    unit_void_cost = np.zeros(len(units))
    if len(us_unit):
        unit_void_cost += np.bincount(
            us_unit,
            weights=bed_rate[us_unit] * us_beds * (g(us_off) - g(us_on)),
            minlength=len(units),
        )
    if in_beds.any():
        u_in = sp.unit[in_beds]
        unit_void_cost -= np.bincount(
            u_in,
            weights=bed_rate[u_in] * (g(sp.end[in_beds]) - g(sp.start[in_beds])),
            minlength=len(units),
        )
    voids_by_cause = void_causes(log, units, horizon, sp, usable.astype(np.float64))
    opened = first_opening(log, len(units))
    unit_rows = []
    for u in units:
        is_bed_unit = u.kind in ("internal", "block")
        causes = voids_by_cause.get(u.index, {})
        unit_rows.append(
            {
                "unit": u.name,
                "kind": u.kind,
                "beds": u.beds,
                "in_city": u.in_city,
                "usable_bed_days": usable[u.index] if is_bed_unit else math.nan,
                "occupied_bed_days": occupied[u.index],
                "occupancy_pct": _pct(occupied[u.index], usable[u.index])
                if is_bed_unit
                else math.nan,
                "void_bed_days": usable[u.index] - occupied[u.index] if is_bed_unit else math.nan,
                "void_cost_gbp": unit_void_cost[u.index] if is_bed_unit else math.nan,
                "assumed_occupancy_pct": 100.0 * u.assumed_occupancy
                if u.assumed_occupancy is not None
                else math.nan,
                **{f"void_{c}_bed_days": causes.get(c, math.nan) for c in VOID_CAUSES},
                "planned_open_day": u.planned_open_day if is_bed_unit else math.nan,
                "opened_day": opened[u.index] if is_bed_unit else math.nan,
                "open_delay_days": opened[u.index] - max(u.planned_open_day, 0.0)
                if is_bed_unit
                else math.nan,
            }
        )

    # -- summary -----------------------------------------------------------------------------
    arrive = log.kind == EventKind.ARRIVE
    exits = log.kind == EventKind.EXIT
    initial = arrive & (log.unit >= 0)
    summary: dict[str, float] = {
        "children_initial": float(np.sum(initial)),
        "arrivals": float(np.sum(arrive)) - float(np.sum(initial)),
        "exits": float(np.sum(exits)),
    }
    summary["children_end"] = float(np.sum(arrive)) - summary["exits"]
    for code, label in ROUTE_LABELS.items():
        summary[f"exits_{label}"] = float(np.sum(exits & (log.route == code)))
    # Stability: every placement after a child's first is a move (closures, breakdowns,
    # repatriation, an unregistered placement replaced by a registered one).
    placed_children = np.unique(log.child[place_rows])
    summary["moves"] = float(np.sum(place_rows) - len(placed_children))
    summary["moves_per_child"] = (
        summary["moves"] / len(placed_children) if len(placed_children) else 0.0
    )
    summary["displacements"] = float(np.sum(log.kind == EventKind.DISPLACE))
    summary["breakdowns"] = float(np.sum(log.kind == EventKind.BREAKDOWN))
    move_rows = log.kind == EventKind.MOVE
    summary["repatriations"] = float(np.sum(move_rows & (log.route == MOVE_REPATRIATION)))
    summary["prevented"] = float(np.sum(log.kind == EventKind.PREVENT))
    summary["delayed_step_downs"] = float(len(r_on))
    summary["delayed_step_down_days"] = float(np.sum(r_off - r_on))
    for k, kind in enumerate(PROVISION_KINDS):
        summary[f"{kind}_bed_days"] = float(np.sum(sp_len[sp_kind == k]))
    for k, kind in enumerate(("internal", "block")):
        usable_days = float(np.sum(((us_off - us_on) * us_beds)[us_kind == k]))
        summary[f"{kind}_usable_bed_days"] = usable_days
        summary[f"{kind}_void_bed_days"] = usable_days - summary[f"{kind}_bed_days"]
        summary[f"{kind}_occupancy_pct"] = _pct(summary[f"{kind}_bed_days"], usable_days)
    summary["void_bed_days"] = summary["internal_void_bed_days"] + summary["block_void_bed_days"]
    summary["void_cost_gbp"] = float(finance["void_gbp"].sum())
    short = [
        b - a
        for u in {int(x) for x in log.unit[log.kind == EventKind.STAFF_SHORT]}
        for a, b in _intervals(log, u, EventKind.STAFF_SHORT, EventKind.STAFF_COVERED, horizon)
    ]
    summary["staff_short_home_days"] = float(sum(short))
    summary["staff_leavers"] = float(np.sum(log.kind == EventKind.STAFF_LEAVE))
    for cause in VOID_CAUSES:
        summary[f"void_{cause}_bed_days"] = float(
            sum(c.get(cause, 0.0) for c in voids_by_cause.values())
        )
    fw_unit = [u.index for u in units if u.kind == "framework"]
    new_fw = new_place & np.isin(log.unit, fw_unit)
    summary["spot_placements"] = float(np.sum(new_spot))
    summary["spot_placements_per_year"] = summary["spot_placements"] / years
    summary["framework_placements"] = float(np.sum(new_fw))
    summary["spot_stock_mean"] = summary["spot_bed_days"] / horizon
    summary["spot_stock_peak_week"] = float(np.max(weekly["children_spot"], initial=0.0))
    placed_days = float(np.sum(sp_len))
    summary["out_of_city_share"] = (
        float(np.sum(sp_len[~sp.in_city])) / placed_days if placed_days > 0 else math.nan
    )
    summary["children_placed_mean"] = float(
        step_integral(sp.start, sp.end, ones, all_edges)[0] / horizon
    )
    summary["children_waiting_mean"] = float(
        step_integral(w_on, w_off, np.ones_like(w_on), all_edges)[0] / horizon
    )
    unreg_unit = [u.index for u in units if u.kind == "unregistered"]
    summary["unregistered_placements"] = float(np.sum(new_place & np.isin(log.unit, unreg_unit)))
    # Prices in cash terms at placement: the P95 weekly price of new spot placements.
    spot_prices = log.value[new_spot] * price_index(log.time[new_spot])
    summary["spot_price_p95_weekly_gbp"] = (
        float(np.percentile(spot_prices, 95)) if len(spot_prices) else math.nan
    )
    # The most expensive 5% of market placements (whole placements, across price changes).
    in_market = sp_kind >= PROVISION_KINDS.index("framework")
    if in_market.any():
        spell_cost = sp.price[in_market] / 7.0 * (g(sp.end[in_market]) - g(sp.start[in_market]))
        _, pid = np.unique(sp.placement[in_market], return_inverse=True)
        per_placement = np.sort(np.bincount(pid, weights=spell_cost))[::-1]
        top = per_placement[: math.ceil(0.05 * len(per_placement))]
        summary["cost_top5pct_placements_gbp"] = float(top.sum())
        total = per_placement.sum()
        summary["cost_top5pct_share"] = float(top.sum() / total) if total > 0 else math.nan
    else:
        summary["cost_top5pct_placements_gbp"] = 0.0
        summary["cost_top5pct_share"] = math.nan
    wait_len = w_off - w_on
    summary["waiting_days_total"] = float(np.sum(wait_len))
    summary["waiting_days_mean"] = float(np.mean(wait_len)) if len(wait_len) else 0.0
    for part in (
        "internal",
        "block",
        "framework",
        "spot",
        "unregistered",
        "retainer",
        "capital",
        "agency",
    ):
        summary[f"cost_{part}_gbp"] = float(finance[f"{part}_gbp"].sum())
    summary["cost_total_gbp"] = float(finance["total_gbp"].sum())
    summary["cost_per_year_gbp"] = summary["cost_total_gbp"] / years

    weekly_df = pd.DataFrame(weekly)
    weekly_df.insert(0, "week", np.arange(len(wk_len)))
    weekly_df.insert(
        1, "week_start", pd.to_datetime(start_date) + pd.to_timedelta(wk_edges[:-1], unit="D")
    )
    finance_df = pd.DataFrame(finance)
    finance_df.insert(0, "financial_year", fy_labels)
    return ReplicationMetrics(summary, weekly_df, pd.DataFrame(unit_rows), finance_df)


__all__ = ["HEADLINE", "ReplicationMetrics", "UnitInfo", "compute_metrics", "step_integral"]
