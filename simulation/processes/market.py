"""The markets: framework and spot searches, interim (unregistered) placements, retainers and
providers' price uplifts.

A market stage of the cascade starts a search that takes the child's own search time. When it
ends, the market offers a bed (spot always; framework with the child's offer draw), or the child
moves on to the next stage. A search that outlasts an interim kind's limit (``unregistered``
bridges ``spot``) puts the child in an interim placement until the registered bed is found; the
child keeps searching meanwhile and can still take a bed that frees up. A market placement may
come with a retainer paid to hold the bed before moving in, and each 1 April every running
placement may get a price uplift.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from functools import partial

import simpy

from simulation.events import EventKind
from simulation.kinds import KIND, MARKET_KINDS
from simulation.processes.placement import WAITING, Placements
from simulation.streams import DrawBuffer

_SEARCH, _RETAINER = int(EventKind.SEARCH), int(EventKind.RETAINER)


class Markets:
    """Searches and retainers of the scenario's markets (attached to the cascade core)."""

    def __init__(
        self,
        placements: Placements,
        interim_after_days: dict[str, float],
        ends: dict[str, float] | None = None,
    ) -> None:
        """``interim_after_days``: per interim kind present (e.g. ``unregistered``), the search
        days after which a child waiting for the market it bridges is placed in it; ``ends``:
        per market that ends during the run, the day from which no search of it starts."""
        p = self.placements = placements
        self.ends = ends or {}
        c = placements.children
        self.search_days: dict[str, list[float]] = {}
        self.offers: dict[str, list[bool] | None] = {}
        for kind in p.market_unit:
            k = KIND[kind]
            if k.search_attr is not None:
                self.search_days[kind] = getattr(c, k.search_attr)
                self.offers[kind] = getattr(c, k.offer_attr) if k.offer_attr else None
        # The searched market -> (interim unit, days after which the child goes there).
        self.interim: dict[str, tuple[int, float]] = {
            KIND[kind].interim_for or "": (p.market_unit[kind], days)
            for kind, days in interim_after_days.items()
            if kind in p.market_unit
        }
        p.search = self.search
        for kind in MARKET_KINDS:
            unit = p.market_unit.get(kind)
            attr = KIND[kind].retainer_attr
            if unit is not None and attr is not None:
                p.place_hooks[unit].append(partial(self._retainer, getattr(c, attr)))

    def search(self, child: int, market: str, stage: int) -> None:
        """Start ``child``'s search of ``market`` (stage ``stage`` of the policy)."""
        p = self.placements
        if p.env.now >= self.ends.get(market, math.inf):
            p.seek(child, stage + 1)  # the market has ended: on to the next stage
            return
        c = p.children
        days = self.search_days[market][child]
        p.search_token[child] += 1
        token = p.search_token[child]
        unit = p.market_unit[market]
        now = p.env.now
        if not p.placed_once[child] and now + days >= c.age_out_at[child]:
            p.schedule_age_out(child)
        p.rows.append((now, _SEARCH, child, unit, c.need[child], days, -1, -1))
        interim = self.interim.get(market)
        if interim is not None and days > interim[1]:
            p.env.timeout(interim[1]).callbacks.append(
                partial(self._go_interim, child, token, interim[0])
            )
        if days <= 0.0:
            self._search_done(child, token, market, stage, None)
        else:
            p.env.timeout(days).callbacks.append(
                partial(self._search_done, child, token, market, stage)
            )

    def _go_interim(self, child: int, token: int, unit: int, _event: simpy.Event) -> None:
        p = self.placements
        if token == p.search_token[child] and p.location[child] == WAITING:
            p.place(child, unit, keep_searching=True)

    def _search_done(
        self, child: int, token: int, market: str, stage: int, _event: simpy.Event | None
    ) -> None:
        p = self.placements
        if token != p.search_token[child] or child not in p.waiting:
            return  # placed elsewhere or gone while searching
        offers = self.offers[market]
        if offers is None or offers[child]:
            p.place(child, p.market_unit[market])
        else:
            p.seek(child, stage + 1)

    def _retainer(self, days_of: list[float], child: int, unit: int) -> None:
        """A retainer paid to hold the bed before the child moves in (0 days: none)."""
        days = days_of[child]
        if days > 0.0:
            p = self.placements
            need = p.children.need[child]
            p.rows.append((p.env.now, _RETAINER, child, unit, need, days, -1, -1))


def uplift(
    placements: Placements,
    kinds: tuple[str, ...],
    probability: float,
    draw: DrawBuffer,
    size: DrawBuffer,
) -> None:
    """Providers' yearly uplift requests: each running placement may get a price rise."""
    p = placements
    for kind in kinds:
        market = p.market_unit.get(kind)
        if market is None:
            continue
        for child in sorted(p.occupants[market]):
            if draw() < probability:
                p.price_now[child] *= 1.0 + size()
                p.log.append(
                    p.env.now,
                    EventKind.PRICE_CHANGE,
                    child,
                    market,
                    p.children.need[child],
                    p.price_now[child],
                    int(p.in_city_now[child]),
                )


def uplift_rounds(
    env: simpy.Environment,
    placements: Placements,
    days: list[float],
    market: str,
    probability: float,
    draw: DrawBuffer,
    size: DrawBuffer,
) -> Generator[simpy.Event, None, None]:
    """On each given day (1 April), every running placement in ``market`` may get an uplift."""
    for day in days:
        if day > env.now:
            yield env.timeout(day - env.now)
        uplift(placements, (market,), probability, draw, size)
