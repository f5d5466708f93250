"""Prevention services: some would-be arrivals are supported to stay at home instead.

A service serves some needs between two dates, optionally only while a given home is open (an
edge-of-care or short-stay home). A child arriving while services run is diverted with the
largest share that applies, on the child's own uniform draw (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulation.processes.placement import Placements


@dataclass(frozen=True)
class PreventionRule:
    """A prevention service in model time: needs, share, active days, optional home."""

    needs: frozenset[int]
    share: float
    start: float
    end: float
    home: int  # unit index, or -1


class Prevention:
    """Diverts arrivals (attached to the cascade core)."""

    def __init__(self, placements: Placements, rules: tuple[PreventionRule, ...]) -> None:
        self.placements = placements
        self.rules = rules
        placements.prevented = self.prevented

    def prevented(self, child: int) -> bool:
        """Diverted home by a prevention service running now (the largest share applies)."""
        p = self.placements
        now, need = p.env.now, p.children.need[child]
        share = 0.0
        for rule in self.rules:
            if (
                need in rule.needs
                and rule.start <= now < rule.end
                and (rule.home < 0 or (p.is_open[rule.home] and now < p.close_day[rule.home]))
            ):
                share = max(share, rule.share)
        return p.children.prevent_u[child] < share
