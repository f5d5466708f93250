"""Repatriation: bringing a child back from a market placement into a freed in-city bed.

When an in-city bed is free and no waiting child takes it, a child placed in one of the named
markets (optionally only those out of the city) with enough of their stay left may be moved into
it, chosen by the rule's priority (most expensive, longest placed, or longest stay left), at most
so many moves a calendar month.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numpy.typing import NDArray

from simulation.events import MOVE_REPATRIATION
from simulation.processes.placement import Placements


@dataclass(frozen=True)
class RepatriationRule:
    from_kinds: tuple[str, ...]
    out_of_city_only: bool
    min_remaining_days: float
    max_moves_per_month: int
    priority: str


class Repatriation:
    """Moves back into in-city bed units (attached to the cascade core)."""

    def __init__(
        self, placements: Placements, rule: RepatriationRule, month_of_day: NDArray
    ) -> None:
        p = self.placements = placements
        self.rule = rule
        self.month_of_day: list[int] = month_of_day.tolist()
        self.moves_in_month: dict[int, int] = {}
        # A search that found nobody stays fruitless while no child has been placed in a market
        # (the only way to add a candidate: the others only run out of time) and the unit's own
        # group is unchanged (solo rules): remember those versions.
        self.fruitless: list[tuple[int, int] | None] = [None] * len(p.units)
        p.repatriate = self.into
        p.repatriates_into = [u.in_city and u.has_beds for u in p.units]

    def into(self, unit: int) -> None:
        """Bring children back into ``unit`` while it has room and the month allows."""
        p = self.placements
        rule = self.rule
        now = p.env.now
        by_day = self.month_of_day
        month = by_day[min(int(now), len(by_day) - 1)]
        while p.has_room(unit) and self.moves_in_month.get(month, 0) < rule.max_moves_per_month:
            versions = (p.market_version, p.unit_version[unit])
            if self.fruitless[unit] == versions:
                return
            best = self._candidate(unit)
            if best < 0:
                self.fruitless[unit] = versions
                return
            if not p.matches(unit):
                return
            self.moves_in_month[month] = self.moves_in_month.get(month, 0) + 1
            p.place(best, unit, reason=MOVE_REPATRIATION)

    def _candidate(self, unit: int) -> int:
        """The child to bring back into ``unit`` by the rule's priority, or -1."""
        p = self.placements
        rule = self.rule
        now = p.env.now
        need, in_city_now, exit_at = p.children.need, p.in_city_now, p.exit_at
        needs, ready = p.units[unit].needs, p.ready
        out_only, min_days = rule.out_of_city_only, rule.min_remaining_days
        best, best_key = -1, -math.inf
        for kind in rule.from_kinds:
            market = p.market_unit.get(kind)
            if market is None:
                continue
            for ch in p.occupants[market]:
                if (
                    need[ch] not in needs
                    or (out_only and in_city_now[ch])
                    or exit_at[ch] - now < min_days
                    or ch in ready
                    or not p.admits(unit, ch)
                ):
                    continue
                if rule.priority == "most_expensive":
                    key = p.price_now[ch]
                elif rule.priority == "longest_placed":
                    key = now - p.placed_since[ch]
                else:
                    key = exit_at[ch] - now
                if key > best_key or (key == best_key and ch < best):
                    best, best_key = ch, key
        return best
