"""Scheduling helpers shared by the model's processes."""

from __future__ import annotations

import simpy
from simpy.core import URGENT


class Urgent(simpy.Event):
    """An event due ``delay`` from now that runs before any normal event due at that instant,
    in the order such events were created (as a process starting does)."""

    def __init__(self, env: simpy.Environment, delay: float = 0.0) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, URGENT, delay)
