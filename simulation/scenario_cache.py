"""Work derived from a scenario alone, done once per scenario rather than once per replication.

A replication's setup needs many things that depend only on the scenario (units, seasonal
factors, distribution groups, calendar arrays). :func:`per_scenario` memoises such a builder per
scenario object. Scenarios are frozen (and nothing edits their lists or dicts in place), so a
result cannot go stale. Entries are keyed by the scenario's identity and dropped when the
scenario is garbage collected (a weak reference), so the cache neither keeps scenarios alive nor
confuses a new scenario with a dead one that had the same id. The cache is per process, like the
module.

Cached results are shared by every replication of the scenario: builders return immutable
values (tuples, frozen dataclasses, read-only arrays), never something a caller may change.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from simulation.scenario import Scenario

T = TypeVar("T")
A = TypeVar("A", bound="np.ndarray[Any, Any]")


def per_scenario(build: Callable[[Scenario], T]) -> Callable[[Scenario], T]:
    """Memoise ``build(scenario)`` per scenario object (see the module's docstring)."""
    entries: dict[int, tuple[weakref.ref[Scenario], T]] = {}

    def forget(key: int, ref: weakref.ref[Scenario]) -> None:
        entry = entries.get(key)
        if entry is not None and entry[0] is ref:
            del entries[key]

    @functools.wraps(build)
    def cached(scenario: Scenario) -> T:
        key = id(scenario)
        entry = entries.get(key)
        if entry is not None and entry[0]() is scenario:
            return entry[1]
        value = build(scenario)
        ref = weakref.ref(scenario, lambda r: forget(key, r))
        entries[key] = (ref, value)
        return value

    return cached


def read_only(array: A) -> A:
    """``array`` made read-only, so that a cached array shared by replications stays intact."""
    array.flags.writeable = False
    return array
