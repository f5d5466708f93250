"""Group matching: who a home admits, given the child and the children already living there.

A home's statement of purpose states the ages, sexes and needs it cares for; before an admission
the registered manager weighs the child against the existing group (the impact risk assessment).
Here that is a rule check, compiled once per unit from ``Admission`` and the scenario's flags:

- the child's age on the day is within the home's range, and its sex is admitted;
- an emergency is taken on the day it arises only by a home that takes emergencies;
- with each child already there: the age gap is within the limit, and no incompatible pair of
  flags (a child with flag a is not placed with a child with flag b, in either order);
- no flag's limit on residents carrying it is exceeded.

What the rules leave to judgement is the unit's ``match_probability``. A child's flags are a bit
mask (bit k = ``matching.flags[k]``), so a pair check is one ``&`` per resident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from simulation.calendar import DAYS_PER_YEAR
from simulation.scenario import MAX_FLAGS, Admission, BedRules, Scenario

ALL_FLAGS = 1 << MAX_FLAGS  # the number of distinct masks of a child's flags
SAME_DAY = 1.0  # an emergency must be placed within a day of arising


def flag_bits(scenario: Scenario) -> dict[str, int]:
    """The bit of each flag named in ``matching.flags``."""
    flags = scenario.matching.flags if scenario.matching is not None else []
    return {name: 1 << k for k, name in enumerate(flags)}


class Attributes(Protocol):
    """The children's attributes the rules read (``processes.arrivals.Children``)."""

    @property
    def born(self) -> Sequence[float]: ...  # day of birth, in run days
    @property
    def female(self) -> Sequence[bool]: ...
    @property
    def flags(self) -> Sequence[int]: ...
    @property
    def emergency_until(self) -> Sequence[float]: ...


@dataclass(frozen=True, slots=True)
class GroupRule:
    """One unit's admission rules, ready for the cascade's hot path."""

    age_min_days: float
    age_max_days: float  # admitted while younger
    max_gap_days: float  # inf = any
    female_ok: bool
    male_ok: bool
    takes_emergencies: bool
    limits: tuple[tuple[int, int], ...]  # (flag bit, most residents carrying it)
    forbidden: tuple[int, ...]  # per flag mask: flags a resident must not carry

    def admits(self, child: int, residents: Iterable[int], now: float, c: Attributes) -> bool:
        """Whether ``child`` may join ``residents`` today."""
        born, female, flags = c.born, c.female, c.flags
        b = born[child]
        age = now - b
        if age < self.age_min_days or age >= self.age_max_days:
            return False
        if not (self.female_ok if female[child] else self.male_ok):
            return False
        if not self.takes_emergencies and now < c.emergency_until[child]:
            return False
        mine = flags[child]
        forbid = self.forbidden[mine]
        gap = self.max_gap_days
        counts = [0] * len(self.limits)
        for r in residents:
            theirs = flags[r]
            if theirs & forbid or abs(born[r] - b) > gap:
                return False
            for k, (bit, _) in enumerate(self.limits):
                if theirs & bit:
                    counts[k] += 1
        for k, (bit, limit) in enumerate(self.limits):
            if mine & bit and counts[k] >= limit:
                return False
        return True


def _forbidden(pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """For each mask of a child's flags, the flags no resident beside it may carry."""
    out = []
    for mask in range(ALL_FLAGS):
        f = 0
        for a, b in pairs:
            if mask & a:
                f |= b
            if mask & b:
                f |= a
        out.append(f)
    return tuple(out)


def group_rule(scenario: Scenario, rules: BedRules) -> GroupRule | None:
    """The unit's compiled rules: its own ``admission``, else the scenario's default; None
    when neither is given (everyone fits)."""
    m = scenario.matching
    admission: Admission | None = rules.admission
    if admission is None and m is not None:
        admission = m.default_admission
    if admission is None:
        return None
    bits = flag_bits(scenario)
    pairs = (
        [(bits[a], bits[b]) for a, b in m.incompatible]
        if m is not None and admission.incompatible
        else []
    )
    gap = admission.max_age_gap_years
    return GroupRule(
        age_min_days=admission.age_min_years * DAYS_PER_YEAR,
        age_max_days=admission.age_max_years * DAYS_PER_YEAR,
        max_gap_days=gap * DAYS_PER_YEAR if gap is not None else float("inf"),
        female_ok="female" in admission.sexes,
        male_ok="male" in admission.sexes,
        takes_emergencies=admission.takes_emergencies,
        limits=tuple((bits[f], n) for f, n in admission.max_with_flag.items()),
        forbidden=_forbidden(pairs),
    )
