"""Bed-mix optimiser: the cheapest strategies of a search space that meet a risk limit.

An optimisation file (``experiments/optimise-*.yaml``) names a base config, a search space (a
list of dimensions, each a field path with candidate values, in the syntax of an experiment's
``grid``), a risk limit and an objective::

    name: coventry-bed-mix
    base: ../configs/coventry-2023.yaml
    replications: 50
    shortlist: 6
    objective: cost_total_gbp
    risk: {spot_stock_above: 25, max_probability: 0.2, from_date: 2026-04-01}
    search:
      - {name: EBD 2 beds, path: "provision.homes[name=EBD home 2].beds", set: [0, 4]}
      - {name: EBD 1 opening, path: "provision.homes[name=EBD home 1].open_date",
         shift_months: [0, 6]}

Every combination of the dimensions' values is a candidate. ``set: [remove, ...]`` (or
``null``, or ``0`` for a ``beds`` field, since a home or contract has at least one bed) removes
the list item the path points into, e.g. the whole home. The optimiser then

1. **screens** every candidate with the Erlang loss approximation (:func:`screen`): no
   simulation, a few milliseconds each;
2. keeps a **shortlist**: the candidates of lowest screened objective among those whose
   screened risk is within ``screen_slack`` times the limit (the screen is an approximation, so
   its risk test is loosened; if too few pass, the lowest-risk others fill the list);
3. **simulates** the shortlist on common random numbers (the same root seed and replication
   indices for every candidate) and reports, per candidate, the mean objective with its 95% CI,
   the risk with its CI, whether it meets the limit, and the **efficient frontier**: the
   candidates no other candidate beats on both objective and risk.

Risk limits: ``spot_stock_above: k`` with ``max_probability: alpha`` means P(the spot stock
(weekly average of children in spot placements) exceeds k in any week from ``from_date``, or
the start) <= alpha, estimated as the share of replications in which it does (Wilson CI);
``out_of_city_share_max: x`` means the mean share of placed child-days out of the city <= x
(Student t CI).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from scipy import stats

from simulation.calendar import DAYS_PER_YEAR, day_of
from simulation.errors import Issue, ScenarioError, issues_from_validation_error
from simulation.experiments.executor import Runner, Task
from simulation.experiments.overrides import (
    Override,
    apply_overrides,
    attribute_issues,
    remove_items,
)
from simulation.experiments.spec import FactorSpec, OverrideSpec, _fmt_level
from simulation.kinds import MARKET_KINDS
from simulation.pool import ProgressCallback
from simulation.queueing import loss_system, overflow_variance
from simulation.scenario import Scenario, parse_scenario, read_yaml
from simulation.stats import mean_ci, paired_ci
from simulation.units import annuity, project_start_day

ObjectiveName = Literal["cost_total_gbp", "cost_per_year_gbp", "spot_bed_days", "spot_stock_mean"]
REMOVE = "remove"
# The screen treats the spot stock as independent over windows of mean stay / TAU_DIVISOR (set
# by comparing the screened P(any week > k) with simulated Coventry 2023 candidates: rough).
TAU_DIVISOR = 2.0


# -- the spec ---------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RiskSpec(_Strict):
    """One risk limit: a spot-stock exceedance probability, or a mean out-of-city share."""

    spot_stock_above: float | None = Field(
        None, ge=0, description="k: the spot stock (children in spot) that must rarely be exceeded."
    )
    max_probability: float | None = Field(
        None, gt=0, lt=1, description="alpha: the largest allowed P(spot stock > k in any week)."
    )
    from_date: dt.date | None = Field(
        None, description="Only weeks starting on or after this date count (default: all)."
    )
    out_of_city_share_max: float | None = Field(
        None, gt=0, le=1, description="x: the largest allowed mean out-of-city share."
    )

    @model_validator(mode="after")
    def _check(self) -> RiskSpec:
        spot = self.spot_stock_above is not None
        if spot == (self.out_of_city_share_max is not None):
            raise ValueError("give exactly one of spot_stock_above or out_of_city_share_max")
        if spot and self.max_probability is None:
            raise ValueError("spot_stock_above needs max_probability (alpha)")
        if not spot and (self.max_probability is not None or self.from_date is not None):
            raise ValueError("max_probability and from_date go with spot_stock_above only")
        return self

    @property
    def kind(self) -> Literal["spot_stock", "out_of_city_share"]:
        return "spot_stock" if self.spot_stock_above is not None else "out_of_city_share"

    @property
    def limit(self) -> float:
        """The largest allowed value of the risk metric."""
        if self.kind == "spot_stock":
            assert self.max_probability is not None
            return self.max_probability
        assert self.out_of_city_share_max is not None
        return self.out_of_city_share_max

    @property
    def label(self) -> str:
        if self.kind == "spot_stock":
            since = f" from {self.from_date}" if self.from_date else ""
            return f"P(spot stock > {self.spot_stock_above:g} in any week{since})"
        return "mean out-of-city share"


class OptimiseSpec(_Strict):
    """The YAML document of an optimisation."""

    name: str = Field(min_length=1)
    description: str = ""
    base: str = Field(description="Base config, relative to this file.")
    seed: int | None = Field(None, ge=0, description="Root seed (default: the base config's).")
    replications: int = Field(50, ge=2, le=100_000, description="Replications per candidate.")
    shortlist: int = Field(8, ge=1, le=200, description="Candidates simulated after the screen.")
    objective: ObjectiveName = Field("cost_total_gbp", description="Summary metric to minimise.")
    risk: RiskSpec
    screen_slack: float = Field(
        2.0,
        ge=1,
        description="A candidate passes the screen if its screened risk <= slack x limit.",
    )
    overrides: list[OverrideSpec] = Field(
        default_factory=list, description="Changes applied to the base before the search."
    )
    search: list[FactorSpec] = Field(min_length=1, description="Dimensions (full factorial).")
    max_candidates: int = Field(5000, ge=1, description="Refuse larger search spaces.")


@dataclass(frozen=True)
class Candidate:
    """One point of the search space: its overrides, levels and validated scenario."""

    name: str
    scenario: Scenario
    levels: dict[str, str]
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Optimisation:
    """A loaded, fully validated optimisation."""

    name: str
    source: str
    base_path: Path
    seed: int
    replications: int
    shortlist: int
    objective: str
    risk: RiskSpec
    screen_slack: float
    dimensions: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    spec: OptimiseSpec | None = None

    def with_options(
        self,
        replications: int | None = None,
        seed: int | None = None,
        shortlist: int | None = None,
    ) -> Optimisation:
        """The same optimisation with command-line overrides."""
        new = dict(self.__dict__)
        for key, value in (
            ("replications", replications),
            ("seed", seed),
            ("shortlist", shortlist),
        ):
            if value is not None:
                new[key] = value
        return Optimisation(**new)


def _is_removal(path: str, value: Any) -> bool:
    if value is None or (isinstance(value, str) and value.strip().lower() == REMOVE):
        return True
    return path.rstrip().endswith(".beds") and value == 0 and not isinstance(value, bool)


def build_candidate(
    base_raw: dict[str, Any], overrides: Sequence[Override], source: str, label: str = ""
) -> Scenario:
    """Apply changes (set, scale, ..., then removals) to the raw base and validate it.

    A problem is named by the override that caused it; others (a cohort that no longer fits,
    a reference to a removed home) by their config path and the candidate's ``label``.
    """
    changes = [o for o in overrides if not (o.op == "set" and _is_removal(o.path, o.value))]
    removals = [o for o in overrides if o.op == "set" and _is_removal(o.path, o.value)]
    data, applied = apply_overrides(base_raw, changes, source)
    remove_items(data, removals, source)
    try:
        return parse_scenario(data, source)
    except ScenarioError as exc:
        issues = attribute_issues(exc.issues, applied)
        if label:
            issues = [Issue(i.path, f"{i.message} (candidate '{label}')") for i in issues]
        raise ScenarioError(issues, source) from None


def parse_optimisation(
    data: Any, source: str = "<optimise>", root: Path | None = None
) -> Optimisation:
    """Validate an optimisation document; ``root`` is the folder ``base`` is relative to.

    Raises :class:`ScenarioError` with every problem found, each naming its path.
    """
    if not isinstance(data, dict):
        raise ScenarioError([Issue("(top level)", "an optimisation must be a mapping")], source)
    try:
        spec = OptimiseSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(issues_from_validation_error(exc, OptimiseSpec), source) from None

    base_path = ((root or Path.cwd()) / spec.base).resolve()
    if not base_path.is_file():
        raise ScenarioError([Issue("base", f"base config not found: {base_path}")], source)
    raw = read_yaml(base_path)
    try:
        parse_scenario(raw, str(base_path))
    except ScenarioError as exc:
        raise ScenarioError(
            [Issue(f"base ({spec.base})", f"{i}") for i in exc.issues], source
        ) from None

    fixed: list[Override] = []
    for j, o in enumerate(spec.overrides):
        op, value = o.operation()
        fixed += [Override(p, op, value, where=f"overrides[{j}]") for p in o.all_paths]
    issues: list[Issue] = []
    if fixed:
        try:
            raw, _ = apply_overrides(raw, fixed, source)
            parse_scenario(raw, source)
        except ScenarioError as exc:
            raise ScenarioError(exc.issues, source) from None

    # Each dimension's levels: (label, overrides); removals checked against the base here.
    dims: list[list[tuple[str, list[Override]]]] = []
    labels: list[str] = []
    for i, f in enumerate(spec.search):
        op, values = f.operation()
        label = f.label
        if label in labels:
            issues.append(Issue(f"search[{i}].name", f"dimension name '{label}' is used twice"))
        labels.append(label)
        options: list[tuple[str, list[Override]]] = []
        for j, v in enumerate(values):
            where = f"search[{i}].{op}[{j}]"
            ovs = [Override(p, op, v, where=where) for p in f.all_paths]
            for ov in ovs:
                if op == "set" and _is_removal(ov.path, v):
                    try:
                        remove_items(_copy(raw), [ov], source)
                    except ScenarioError as exc:
                        issues += exc.issues
            text = "0" if op == "set" and _is_removal(f.all_paths[0], v) else _fmt_level(op, v)
            options.append((text, ovs))
        dims.append(options)
    n_candidates = math.prod(len(d) for d in dims)
    if n_candidates > spec.max_candidates:
        issues.append(
            Issue(
                "search",
                f"{n_candidates} candidates is more than max_candidates ({spec.max_candidates})",
            )
        )
    if issues:
        raise ScenarioError(issues, source)

    candidates: list[Candidate] = []
    seen: list[Scenario] = []
    for combo in itertools.product(*dims):
        ovs = [o for _, level_ovs in combo for o in level_ovs]
        levels = {lab: text for lab, (text, _) in zip(labels, combo, strict=True)}
        name = ", ".join(f"{k}={v}" for k, v in levels.items())
        try:
            scenario = build_candidate(raw, ovs, source, name)
        except ScenarioError as exc:
            issues += [i for i in exc.issues if i not in issues]
            continue
        scenario = scenario.model_copy(update={"name": f"{spec.name}: {name}"})
        # Identical configs (e.g. a removed home's opening date varied) are one candidate.
        if any(_same(scenario, s) for s in seen):
            continue
        seen.append(scenario)
        candidates.append(Candidate(name, scenario, levels, tuple(ovs)))
    if issues:
        raise ScenarioError(issues, source)
    if spec.risk.from_date is not None:
        first = candidates[0].scenario
        day = day_of(first.run.start_date, spec.risk.from_date)
        if not 0 <= day < first.horizon_days:
            issues.append(
                Issue("risk.from_date", f"{spec.risk.from_date} is outside the run's horizon")
            )
    if issues:
        raise ScenarioError(issues, source)
    base_seed = candidates[0].scenario.run.seed
    return Optimisation(
        name=spec.name,
        source=source,
        base_path=base_path,
        seed=base_seed if spec.seed is None else spec.seed,
        replications=spec.replications,
        shortlist=spec.shortlist,
        objective=spec.objective,
        risk=spec.risk,
        screen_slack=spec.screen_slack,
        dimensions=tuple(labels),
        candidates=tuple(candidates),
        spec=spec,
    )


def _copy(raw: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(raw)


def _same(a: Scenario, b: Scenario) -> bool:
    return a.model_copy(update={"name": ""}) == b.model_copy(update={"name": ""})


def load_optimisation(path: str | Path) -> Optimisation:
    """Load and validate an optimisation YAML file (see :func:`parse_optimisation`)."""
    p = Path(path)
    return parse_optimisation(read_yaml(p), str(p), root=p.resolve().parent)


# -- the Erlang screen ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreenResult:
    """What the Erlang loss approximation says of one candidate (see :func:`screen`)."""

    cost_gbp: float  # total cost over the horizon, cash terms
    spot_stock_mean: float  # children in spot, time average
    framework_stock_mean: float
    out_of_city_share: float
    p_spot_above: float  # P(spot stock > k in any week from from_date); NaN without a k
    blocking: dict[str, float] = field(default_factory=dict)  # per pool, time average
    segments: tuple[tuple[float, float, float, float], ...] = ()  # (t0, t1, spot mean, var)

    def objective(self, name: str, horizon_days: float) -> float:
        if name == "cost_total_gbp":
            return self.cost_gbp
        if name == "cost_per_year_gbp":
            return self.cost_gbp / (horizon_days / DAYS_PER_YEAR)
        if name == "spot_stock_mean":
            return self.spot_stock_mean
        if name == "spot_bed_days":
            return self.spot_stock_mean * horizon_days
        raise KeyError(name)

    def risk(self, risk: RiskSpec) -> float:
        return self.p_spot_above if risk.kind == "spot_stock" else self.out_of_city_share


@dataclass(frozen=True)
class _Unit:
    kind: str
    beds: int
    needs: frozenset[str]
    on: float
    off: float
    weekly_cost: float
    in_city: bool
    match: float
    turnaround: float


def _bed_units(s: Scenario) -> list[_Unit]:
    start, horizon = s.run.start_date, s.horizon_days
    units: list[_Unit] = []

    def day(d: dt.date | None, default: float) -> float:
        return default if d is None else day_of(start, d)

    def rules(x: Any) -> tuple[float, float]:
        ta = x.turnaround_days.mean if x.turnaround_days is not None else 0.0
        return float(x.match_probability), float(ta)

    for h in s.provision.homes:
        units.append(
            _Unit(
                "internal",
                h.beds,
                frozenset(h.needs),
                day(h.open_date, 0.0),
                day(h.close_date, horizon),
                h.weekly_running_cost_gbp,
                h.in_city,
                *rules(h),
            )
        )
    for b in s.provision.block_contracts:
        off = day(b.end, horizon)
        if b.end is not None:  # the expected extension
            off += b.extension_probability * b.extension_years * DAYS_PER_YEAR
        units.append(
            _Unit(
                "block",
                b.beds,
                frozenset(b.needs),
                day(b.start, 0.0),
                off,
                b.beds * b.weekly_price_per_bed_gbp,
                b.in_city,
                *rules(b),
            )
        )
    for d in s.provision.dps:
        for t in d.tranches:
            units.append(
                _Unit(
                    "block",
                    t.beds,
                    frozenset(d.needs),
                    day(t.date, 0.0),
                    day(d.end, horizon),
                    t.beds * d.weekly_price_per_bed_gbp,
                    d.in_city,
                    *rules(d),
                )
            )
    return units


def _pools(needs: Sequence[str], units: Sequence[_Unit]) -> list[tuple[str, ...]]:
    """Needs joined by any unit that accepts several of them (connected components)."""
    parent = {n: n for n in needs}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for u in units:
        members = [n for n in u.needs if n in parent]
        for other in members[1:]:
            parent[find(other)] = find(members[0])
    groups: dict[str, list[str]] = {}
    for n in needs:
        groups.setdefault(find(n), []).append(n)
    return [tuple(g) for g in groups.values()]


def _stay_samples(s: Scenario, need: str, n: int = 4000) -> np.ndarray:
    """Effective stays (days): planned stay cut short at the age-out age. Fixed quasi-random."""
    spec = s.demand.needs[need]
    u = (np.arange(n) + 0.5) / n
    v = np.random.default_rng(12345).permutation(u)
    stay = spec.length_of_stay_days.ppf(u)
    age = spec.age_at_entry_years.ppf(v)
    cap = np.maximum(s.step_down.age_out_years - age, 0.0) * DAYS_PER_YEAR
    return np.minimum(stay, cap)


def _market_price(s: Scenario, market: str, need: str) -> float:
    m = getattr(s.provision, market)
    if m is None:
        return 0.0
    base = m.weekly_price_gbp_by_need.get(need, m.weekly_price_gbp).mean
    if m.high_cost_share > 0 and m.high_cost_weekly_price_gbp is not None:
        base = (
            1 - m.high_cost_share
        ) * base + m.high_cost_share * m.high_cost_weekly_price_gbp.mean
    return float(base)


def _uplift_factor(s: Scenario, market: str, age_years: float) -> float:
    """Mean price rise of a running placement of that age from yearly uplifts (1 April)."""
    m = getattr(s.provision, market)
    if m is None or m.uplift is None or m.uplift_probability_per_year <= 0:
        return 1.0
    return float((1.0 + m.uplift_probability_per_year * m.uplift.mean) ** age_years)


def _tail(mean: float, var: float, k: float) -> float:
    """P(X > k) for a count of that mean and variance: Poisson, or negative binomial if wider."""
    if mean <= 0:
        return 0.0
    kk = math.floor(k)
    if var <= mean * (1 + 1e-9):
        return float(stats.poisson.sf(kk, mean))
    p = mean / var
    r = mean * p / (1 - p)
    return float(stats.nbinom.sf(kk, r, p))


@dataclass(frozen=True)
class _ScreenInputs:
    """What every step of :func:`screen` reads of one scenario, worked out once."""

    infl: float  # continuous inflation rate per day
    p_fw: float  # framework offer probability (0 if the policy skips the framework)
    spot_city: float  # in-city shares of the markets
    fw_city: float
    wait: float  # mean search of a turned-away child: framework, then spot (days)
    stays: dict[str, np.ndarray]  # effective stays by need (:func:`_stay_samples`)
    mean_stay: dict[str, float]
    price: dict[tuple[str, str], float]  # (market, need): mean weekly price with uplifts
    home_on: dict[str, float]  # homes' opening and closing days (for prevention at a home)
    home_off: dict[str, float]


@dataclass(frozen=True)
class _CohortGroup:
    """One initial-cohort entry in a market: its children's residual stays (quasi-random)."""

    residual: np.ndarray
    count: int
    market: str
    need: str
    weekly: float
    in_city: bool | None


@dataclass
class _SegmentStock:
    """Mean stocks (children) of one segment, summed over its pools and the cohort."""

    spot_mean: float = 0.0
    spot_var: float = 0.0
    fw_mean: float = 0.0
    out: float = 0.0
    placed: float = 0.0


@dataclass
class _ScreenTotals:
    """The screen's running sums, added to in the order of the horizon's segments."""

    cost: float = 0.0
    spot_days: float = 0.0
    fw_days: float = 0.0
    out_days: float = 0.0
    placed_days: float = 0.0
    windows: list[tuple[float, float, float, float]] = field(default_factory=list)
    blocking_num: dict[str, float] = field(default_factory=dict)
    blocking_den: dict[str, float] = field(default_factory=dict)

    def add_costs(self, costs: Iterable[float]) -> None:
        for c in costs:  # one at a time, as the costs accrue
            self.cost += c


def _screen_inputs(s: Scenario) -> _ScreenInputs:
    """Market rules, stays and prices of a scenario (see :func:`screen`: searching, costs)."""
    needs = s.need_names
    order = s.placement_policy.order
    fw = s.provision.framework if "framework" in order else None
    p_fw = fw.offer_probability if fw is not None else 0.0

    # A child turned away searches the framework, then spot; a bed freeing meanwhile is theirs.
    wait = s.provision.spot.search_days.mean * (1 - p_fw)
    if fw is not None:
        wait += fw.search_days.mean
    stays = {n: _stay_samples(s, n) for n in needs}
    # Mean age of a running placement (length-biased): E[L^2] / (2 E[L]).
    age = {
        n: float(np.mean(x**2) / (2 * np.mean(x)) / DAYS_PER_YEAR) if np.mean(x) > 0 else 0.0
        for n, x in stays.items()
    }
    return _ScreenInputs(
        infl=math.log1p(s.costs.inflation_per_year) / DAYS_PER_YEAR,
        p_fw=p_fw,
        spot_city=s.provision.spot.in_city_share,
        fw_city=fw.in_city_share if fw is not None else 0.0,
        wait=wait,
        stays=stays,
        mean_stay={n: float(np.mean(x)) for n, x in stays.items()},
        price={
            (m, n): _market_price(s, m, n) * _uplift_factor(s, m, age[n])
            for m in ("spot", "framework")
            for n in needs
        },
        home_on={
            h.name: day_of(s.run.start_date, h.open_date) if h.open_date else 0.0
            for h in s.provision.homes
        },
        home_off={
            h.name: day_of(s.run.start_date, h.close_date) if h.close_date else s.horizon_days
            for h in s.provision.homes
        },
    )


def _segment_edges(s: Scenario, units: Sequence[_Unit]) -> np.ndarray:
    """Breakpoints: everything that changes a rate (openings, closures, contracts, prevention
    starts and ends), and each year (trend, inflation)."""
    horizon = s.horizon_days
    cuts = {0.0, horizon}
    cuts |= {t for u in units for t in (u.on, u.off) if 0 < t < horizon}
    for pv in s.demand.prevention:
        for d in (pv.start, pv.end):
            if d is not None:
                cuts.add(min(max(day_of(s.run.start_date, d), 0.0), horizon))
    k = 1
    while k * DAYS_PER_YEAR < horizon:
        cuts.add(k * DAYS_PER_YEAR)
        k += 1
    return np.array(sorted(cuts))


def _prevented_share(s: Scenario, inp: _ScreenInputs, need: str, t: float) -> float:
    """Share of the need's arrivals prevented at day t (a home's prevention while it is open)."""
    share = 0.0
    for pv in s.demand.prevention:
        if need not in pv.needs:
            continue
        lo = day_of(s.run.start_date, pv.start) if pv.start else 0.0
        hi = day_of(s.run.start_date, pv.end) if pv.end else math.inf
        if pv.home is not None:
            lo = max(lo, inp.home_on.get(pv.home, math.inf))
            hi = min(hi, inp.home_off.get(pv.home, 0))
        if lo <= t < hi:
            share += pv.share
    return min(share, 1.0)


def _cohort_residuals(s: Scenario) -> list[_CohortGroup]:
    """Initial cohort in the markets: residual stays (quasi-random), cut at the age-out age."""
    groups: list[_CohortGroup] = []
    for j, entry in enumerate(s.demand.initial_cohort):
        if entry.provision not in MARKET_KINDS:
            continue
        spec = s.demand.needs[entry.need]
        m = 2000
        u = (np.arange(m) + 0.5) / m
        rng = np.random.default_rng(1000 + j)
        elapsed = entry.elapsed_days.ppf(rng.permutation(u))
        total = spec.length_of_stay_days.ppf_above(rng.permutation(u), elapsed)
        if entry.age_years is not None:
            age_now = entry.age_years.ppf(rng.permutation(u))
        else:
            age_now = spec.age_at_entry_years.ppf(rng.permutation(u)) + elapsed / DAYS_PER_YEAR
        cap = np.maximum(s.step_down.age_out_years - age_now, 0.0) * DAYS_PER_YEAR
        residual = np.minimum(total - elapsed, cap)
        weekly = (
            entry.weekly_price_gbp
            if entry.weekly_price_gbp is not None
            else _market_price(s, entry.provision, entry.need)
        )
        groups.append(
            _CohortGroup(residual, entry.count, entry.provision, entry.need, weekly, entry.in_city)
        )
    return groups


def _pool_loss(
    mine: Sequence[_Unit], total_lam: float, stay: float, wait: float
) -> tuple[float, float, float]:
    """Blocking, overflow peakedness and in-city bed share of a pool's open units (matching,
    searching: see :func:`screen`). A pool without beds turns everyone away."""
    c = sum(u.beds for u in mine)
    if c <= 0:
        return 1.0, 1.0, 1.0
    p = sum(u.beds * u.match for u in mine) / c
    turn = sum(u.beds * u.turnaround for u in mine) / c
    a_bed = total_lam * (stay + turn) / DAYS_PER_YEAR
    n_busy = np.arange(c)
    free_units = np.minimum(len(mine), c - n_busy)
    admit = 1.0 - (1.0 - p) ** free_units
    admit[0] = 1.0
    b, _ = loss_system(c, a_bed, admit, patience=wait / (stay + turn))
    peak = overflow_variance(c, a_bed, b) / (a_bed * b) if a_bed * b > 0 else 1.0
    city = sum(u.beds for u in mine if u.in_city) / c
    return b, peak, city


def _pool_segment(
    s: Scenario,
    inp: _ScreenInputs,
    pool: tuple[str, ...],
    live: Sequence[_Unit],
    tm: float,
    index: float,
    stock: _SegmentStock,
) -> tuple[float, list[float]] | None:
    """One pool in a segment at its steady state: adds its stocks to ``stock``; returns its
    blocking and its overflow's market costs by need (None if nobody arrives)."""
    lam = {
        n: s.demand.needs[n].arrivals_per_year
        * (1 + s.demand.needs[n].trend_per_year) ** (tm / DAYS_PER_YEAR)
        * (1 - _prevented_share(s, inp, n, tm))
        for n in pool
    }
    total_lam = sum(lam.values())
    if total_lam <= 0:
        return None
    stay = sum(lam[n] * inp.mean_stay[n] for n in pool) / total_lam
    mine = [u for u in live if u.needs & set(pool)]
    a_child = total_lam * stay / DAYS_PER_YEAR
    b, peak, city = _pool_loss(mine, total_lam, stay, inp.wait)
    # Overflow since the start only: earlier overflow is the cohort's market children.
    fill = sum(lam[n] * float(np.mean(np.minimum(inp.stays[n], tm))) for n in pool) / (
        total_lam * stay
    )
    over = a_child * b * fill
    p_fw = inp.p_fw
    stock.spot_mean += (1 - p_fw) * over
    stock.spot_var += (1 - p_fw) ** 2 * peak * over + p_fw * (1 - p_fw) * over
    stock.fw_mean += p_fw * over
    inside = a_child * (1 - b)
    stock.out += inside * (1 - city) + over * (
        (1 - p_fw) * (1 - inp.spot_city) + p_fw * (1 - inp.fw_city)
    )
    stock.placed += a_child
    costs = []
    for n in pool:
        share = lam[n] / total_lam * over
        costs.append(
            share
            * index
            / 7.0
            * ((1 - p_fw) * inp.price["spot", n] + p_fw * inp.price["framework", n])
        )
    return b, costs


def _add_cohort_stock(
    inp: _ScreenInputs,
    cohort: Sequence[_CohortGroup],
    t0: float,
    t1: float,
    length: float,
    stock: _SegmentStock,
) -> None:
    """The initial cohort's market children still there in the segment, on average."""
    for g in cohort:
        alive = g.count * float(np.mean(np.clip(np.minimum(g.residual, t1) - t0, 0, None))) / length
        city_share = inp.spot_city if g.market == "spot" else inp.fw_city
        out = 1 - city_share if g.in_city is None else float(not g.in_city)
        if g.market == "spot":
            stock.spot_mean += alive
            stock.spot_var += alive  # a thinning of a fixed cohort: at most Poisson
        else:
            stock.fw_mean += alive
        stock.out += alive * out
        stock.placed += alive


def _screen_segment(
    s: Scenario,
    inp: _ScreenInputs,
    pools: Sequence[tuple[str, ...]],
    units: Sequence[_Unit],
    cohort: Sequence[_CohortGroup],
    t0: float,
    t1: float,
    totals: _ScreenTotals,
) -> None:
    """One stationary segment [t0, t1): its costs, stocks, blocking and spot window."""
    length = float(t1 - t0)
    tm = 0.5 * (t0 + t1)
    infl = inp.infl
    index = (math.exp(infl * t1) - math.exp(infl * t0)) / infl if infl > 0 else length
    live = [u for u in units if u.on <= tm < u.off]
    totals.cost += sum(u.weekly_cost / 7.0 for u in live) * index
    stock = _SegmentStock()
    for pool in pools:
        seen = _pool_segment(s, inp, pool, live, tm, index, stock)
        if seen is None:
            continue
        b, costs = seen
        key = "+".join(pool)
        totals.blocking_num[key] = totals.blocking_num.get(key, 0.0) + b * length
        totals.blocking_den[key] = totals.blocking_den.get(key, 0.0) + length
        totals.add_costs(costs)
    _add_cohort_stock(inp, cohort, t0, t1, length, stock)
    totals.spot_days += stock.spot_mean * length
    totals.fw_days += stock.fw_mean * length
    totals.out_days += stock.out * length
    totals.placed_days += stock.placed * length
    totals.windows.append((float(t0), float(t1), stock.spot_mean, stock.spot_var))


def _cohort_market_costs(s: Scenario, infl: float, cohort: Sequence[_CohortGroup]) -> list[float]:
    """Each cohort entry's market cost over its residual stays, inflated and uplifted."""
    costs = []
    for g in cohort:
        grow = (np.expm1(infl * g.residual) / infl) if infl > 0 else g.residual
        up = _uplift_factor(s, g.market, float(np.mean(g.residual)) / (2 * DAYS_PER_YEAR))
        costs.append(g.count * g.weekly / 7.0 * float(np.mean(grow)) * up)
    return costs


def _capital_annuities(s: Scenario) -> list[float]:
    """Each financed home's capital annuity (cash) over its repayment years in the horizon."""
    costs = []
    for h in s.provision.homes:
        if h.capital is None:
            continue
        yearly = annuity(
            h.capital.capital_cost_gbp - h.capital.grant_gbp,
            h.capital.borrowing_rate,
            h.capital.years,
        )
        lo = project_start_day(s, h)
        hi = lo + h.capital.years * DAYS_PER_YEAR
        costs.append(yearly / DAYS_PER_YEAR * max(0.0, min(hi, s.horizon_days) - max(lo, 0.0)))
    return costs


def _p_spot_above(
    s: Scenario,
    risk: RiskSpec,
    mean_stay: dict[str, float],
    windows: Sequence[tuple[float, float, float, float]],
) -> float:
    """P(spot stock > k in any week from ``from_date``): independent blocks half a mean stay
    long (:data:`TAU_DIVISOR`), each with the tail of its segment's spot stock."""
    assert risk.spot_stock_above is not None
    horizon = s.horizon_days
    start = day_of(s.run.start_date, risk.from_date) if risk.from_date else 0.0
    tau = max(
        sum(a_n * mean_stay[n] for n, a_n in _arrivals(s).items())
        / max(sum(_arrivals(s).values()), 1e-12)
        / TAU_DIVISOR,
        7.0,
    )
    log_ok = 0.0
    for t0, t1, mean, var in windows:
        overlap = max(0.0, min(t1, horizon) - max(t0, start))
        if overlap <= 0:
            continue
        tail = min(_tail(mean, var, risk.spot_stock_above), 1 - 1e-15)
        log_ok += overlap / tau * math.log1p(-tail)
    return -math.expm1(log_ok)


def screen(s: Scenario, risk: RiskSpec | None = None) -> ScreenResult:
    """Cost and risk of a scenario by the Erlang loss approximation (no simulation).

    Assumptions (the screen only ranks candidates; the shortlist is then simulated):

    - **Pools.** Needs that share any home or block contract form one pool whose beds are
      fully shared (an upper bound on what matching allows); other needs are separate pools.
    - **Stationary segments.** The horizon is cut at every opening, closure, contract start or
      end, prevention start or end, and year; in each segment each pool is an M/G/c/c loss
      system at its steady state with ``c`` = the beds open then and offered load
      ``a = lambda (E[stay] + E[turnaround]) / 365.25`` (a bed is held for the stay plus the
      turnaround; insensitivity lets only means matter). ``lambda`` is the yearly arrivals with
      the trend at the segment's middle, less prevented arrivals; seasonality averages out.
      Stays are cut short at the age-out age. Transients after an opening are ignored.
    - **Matching.** An arrival finding ``n`` beds busy is taken with probability
      ``1 - (1 - p)^h``, ``h = min(units, c - n)`` homes with a free bed, ``p`` their
      (bed-weighted) match probability; an empty pool always takes it
      (:func:`simulation.queueing.loss_system`; Erlang-B when ``p = 1``).
    - **Searching.** A child finding no bed waits while the framework and then spot are
      searched (mean framework search + (1 - offer probability) x mean spot search, taken as
      exponential patience, Erlang-A) and takes a bed that frees meanwhile.
    - **Overflow.** Turned-away children go to the framework with its offer probability if the
      policy uses it, else to spot, and stay their whole stay there (no repatriation). Their
      stock at time t counts arrivals since the start only (``a_child B E[min(L, t)] / E[L]``),
      the rest being the cohort's. The overflow stock's variance is Riordan's (overflow is
      peaked); a week's spot stock is then Poisson (negative binomial if peaked).
    - **Initial cohort.** Children in framework or spot on the start date stay their residual
      stays there; cohort children in beds are part of the stationary load.
    - **Any week.** ``P(stock > k in any week)`` treats the window from ``from_date`` as
      independent blocks half a mean stay long (:data:`TAU_DIVISOR`):
      ``1 - prod(1 - P(X_block > k))``. Seasonality and repatriation are left out; on Coventry
      2023 the screened mean spot stock is ~2 children high and its tail too light, so the
      screen's risk test is loosened (``screen_slack``) and only the simulation decides.
    - **Costs.** Homes' running costs and block beds while open, market placements at mean
      prices (high-cost tail included) with expected uplifts, all indexed by inflation; capital
      annuities in cash. Staffing (agency cover, closures) and unregistered placements are left out.
    """
    inp = _screen_inputs(s)
    units = [u for u in _bed_units(s) if u.off > u.on]
    pools = _pools(s.need_names, units)
    cohort = _cohort_residuals(s)
    totals = _ScreenTotals()
    for t0, t1 in itertools.pairwise(_segment_edges(s, units)):
        if float(t1 - t0) <= 0:
            continue
        _screen_segment(s, inp, pools, units, cohort, t0, t1, totals)
    totals.add_costs(_cohort_market_costs(s, inp.infl, cohort))
    totals.add_costs(_capital_annuities(s))

    p_above = math.nan
    if risk is not None and risk.kind == "spot_stock":
        p_above = _p_spot_above(s, risk, inp.mean_stay, totals.windows)
    horizon = s.horizon_days
    return ScreenResult(
        cost_gbp=totals.cost,
        spot_stock_mean=totals.spot_days / horizon,
        framework_stock_mean=totals.fw_days / horizon,
        out_of_city_share=(
            totals.out_days / totals.placed_days if totals.placed_days > 0 else math.nan
        ),
        p_spot_above=p_above,
        blocking={k: totals.blocking_num[k] / totals.blocking_den[k] for k in totals.blocking_num},
        segments=tuple(totals.windows),
    )


def _arrivals(s: Scenario) -> dict[str, float]:
    return {n: d.arrivals_per_year for n, d in s.demand.needs.items()}


SCREEN_COLUMNS = [
    "candidate",
    "screened_objective",
    "screened_spot_stock",
    "screened_risk",
    "passes_screen",
    "shortlisted",
]


def screen_candidates(opt: Optimisation, shortlist: int | None = None) -> pd.DataFrame:
    """Screen every candidate; mark the shortlist (see the module docstring, step 2).

    Returns one row per candidate in screen order (shortlist first, by screened objective),
    with the dimensions' levels as columns too.
    """
    k = opt.shortlist if shortlist is None else shortlist
    rows = []
    for i, cand in enumerate(opt.candidates):
        res = screen(cand.scenario, opt.risk)
        horizon = cand.scenario.horizon_days
        rows.append(
            {
                "candidate": cand.name,
                "position": i,
                **cand.levels,
                "screened_objective": res.objective(opt.objective, horizon),
                "screened_spot_stock": res.spot_stock_mean,
                "screened_risk": res.risk(opt.risk),
            }
        )
    df = pd.DataFrame(rows)
    df["passes_screen"] = df["screened_risk"] <= opt.screen_slack * opt.risk.limit
    passing = df[df["passes_screen"]].sort_values(["screened_objective", "position"], kind="stable")
    others = df[~df["passes_screen"]].sort_values(
        ["screened_risk", "screened_objective", "position"], kind="stable"
    )
    df = pd.concat([passing, others]).reset_index(drop=True)
    df["shortlisted"] = df.index < k
    return df.drop(columns=["position"])


# -- simulation of the shortlist --------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if n <= 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def pareto_front(objective: Sequence[float], risk: Sequence[float]) -> list[bool]:
    """True for points no other point beats: <= on both and < on one (minimising both)."""
    pts = list(zip(objective, risk, strict=True))
    out = []
    for i, (c, r) in enumerate(pts):
        dominated = any(
            (c2 <= c and r2 <= r) and (c2 < c or r2 < r) for j, (c2, r2) in enumerate(pts) if j != i
        )
        out.append(not dominated and not (math.isnan(c) or math.isnan(r)))
    return out


def risk_values(
    opt: Optimisation, scenario: Scenario, summary: pd.DataFrame, weekly: pd.DataFrame | None
) -> pd.Series:
    """Per replication: 1/0 whether the spot stock exceeded k in a counted week, or the
    out-of-city share."""
    risk = opt.risk
    if risk.kind == "out_of_city_share":
        return summary.set_index("replication")["out_of_city_share"].astype(float)
    assert weekly is not None and risk.spot_stock_above is not None
    w = weekly
    if risk.from_date is not None:
        w = w[w["week_start"] >= pd.Timestamp(risk.from_date)]
    peak = w.groupby("replication")["children_spot"].max()
    peak = peak.reindex(summary["replication"]).fillna(0.0)
    return (peak > risk.spot_stock_above).astype(float)


SIM_COLUMNS = [
    "n",
    "objective_mean",
    "objective_ci_low",
    "objective_ci_high",
    "risk",
    "risk_ci_low",
    "risk_ci_high",
    "feasible",
    "feasible_ci",
    "on_frontier",
]


def simulate_candidates(
    opt: Optimisation,
    names: Sequence[str],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate candidates on common random numbers; per-candidate statistics and the rows.

    Every candidate runs replications ``0..n-1`` on ``opt.seed``. Returns (stats, per
    replication) where stats has :data:`SIM_COLUMNS` per candidate (index = candidate name)
    and the per-replication frame has ``candidate``, ``replication``, ``objective``, ``risk``.
    """
    by_name = {c.name: c for c in opt.candidates}
    cands = [by_name[n] for n in names]
    n = opt.replications
    weekly = opt.risk.kind == "spot_stock"
    per_rep: list[pd.DataFrame] = []
    with Runner(scheduler, workers) as runner:
        size = max(
            1, min(50, math.ceil(n * len(cands) / max(1, 4 * runner.slots) / max(1, len(cands))))
        )
        tasks = [
            Task(i, c.scenario, tuple(range(k, min(n, k + size))), opt.seed, weekly)
            for k in range(0, n, size)
            for i, c in enumerate(cands)
        ]
        for key, tables in runner.imap_unordered(tasks):
            cand = cands[key]
            summary = tables["summary"]
            risk = risk_values(opt, cand.scenario, summary, tables.get("weekly"))
            per_rep.append(
                pd.DataFrame(
                    {
                        "candidate": cand.name,
                        "replication": summary["replication"].to_numpy(),
                        "objective": summary[opt.objective].to_numpy(dtype=float),
                        "risk": risk.to_numpy(dtype=float),
                    }
                )
            )
            if progress:
                progress(len(summary))
    order = {name: i for i, name in enumerate(names)}
    reps = pd.concat(per_rep, ignore_index=True)
    reps = reps.sort_values(
        ["candidate", "replication"], key=lambda c: c.map(order) if c.name == "candidate" else c
    ).reset_index(drop=True)
    rows = []
    for name in names:
        grp = reps[reps["candidate"] == name]
        objective = mean_ci(grp["objective"].to_numpy(dtype=float))
        x = grp["risk"].to_numpy(dtype=float)
        if opt.risk.kind == "spot_stock":
            r = float(np.mean(x))
            lo, hi = wilson_interval(int(np.sum(x)), len(x))
        else:
            risk_ci = mean_ci(x)
            r, lo, hi = risk_ci.mean, risk_ci.low, risk_ci.high
        rows.append(
            {
                "candidate": name,
                "n": len(grp),
                "objective_mean": objective.mean,
                "objective_ci_low": objective.low,
                "objective_ci_high": objective.high,
                "risk": r,
                "risk_ci_low": lo,
                "risk_ci_high": hi,
                "feasible": bool(r <= opt.risk.limit),
                "feasible_ci": bool(hi <= opt.risk.limit),
            }
        )
    out = pd.DataFrame(rows).set_index("candidate")
    out["on_frontier"] = pareto_front(list(out["objective_mean"]), list(out["risk"]))
    return out, reps


@dataclass
class OptimisationResult:
    """The screen of every candidate, the simulated shortlist and its frontier."""

    optimisation: Optimisation
    screened: pd.DataFrame  # every candidate (SCREEN_COLUMNS + levels)
    shortlist: pd.DataFrame  # screened rows of the shortlist joined with SIM_COLUMNS
    replications: pd.DataFrame  # candidate, replication, objective, risk

    @property
    def frontier(self) -> pd.DataFrame:
        """The non-dominated shortlist candidates, by objective."""
        f = self.shortlist[self.shortlist["on_frontier"]]
        return f.sort_values("objective_mean").reset_index(drop=True)

    @property
    def best(self) -> pd.Series | None:
        """The feasible candidate of lowest mean objective (None if none is feasible)."""
        f = self.shortlist[self.shortlist["feasible"]]
        if f.empty:
            return None
        return f.sort_values("objective_mean").iloc[0]

    def ties(self) -> pd.DataFrame:
        """Each feasible candidate's paired difference in the objective from the cheapest
        feasible one (same replications: common random numbers), with its 95% CI; ``tied``
        when the CI includes 0, i.e. the data cannot tell it from the cheapest. Sorted by the
        mean difference; empty when nothing is feasible."""
        best = self.best
        columns = ["candidate", "diff_mean", "diff_ci_low", "diff_ci_high", "tied"]
        if best is None:
            return pd.DataFrame(columns=columns)
        reps = self.replications.pivot(index="replication", columns="candidate", values="objective")
        base = reps[best["candidate"]].to_numpy(dtype=float)
        rows = []
        for name in self.shortlist.loc[self.shortlist["feasible"], "candidate"]:
            diff = paired_ci(base, reps[name].to_numpy(dtype=float)).diff
            low, high = (0.0, 0.0) if name == best["candidate"] else (diff.low, diff.high)
            rows.append(
                {
                    "candidate": name,
                    "diff_mean": diff.mean,
                    "diff_ci_low": low,
                    "diff_ci_high": high,
                    "tied": bool(low <= 0.0 <= high),
                }
            )
        return pd.DataFrame(rows, columns=columns).sort_values("diff_mean").reset_index(drop=True)


def run_optimisation(
    opt: Optimisation,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: ProgressCallback | None = None,
) -> OptimisationResult:
    """Screen every candidate, simulate the shortlist on common random numbers."""
    screened = screen_candidates(opt)
    names = list(screened.loc[screened["shortlisted"], "candidate"])
    sim, reps = simulate_candidates(
        opt, names, workers=workers, scheduler=scheduler, progress=progress
    )
    short = screened[screened["shortlisted"]].set_index("candidate").join(sim).reset_index()
    return OptimisationResult(opt, screened, short, reps)


__all__ = [
    "Candidate",
    "Optimisation",
    "OptimisationResult",
    "OptimiseSpec",
    "RiskSpec",
    "ScreenResult",
    "load_optimisation",
    "pareto_front",
    "parse_optimisation",
    "run_optimisation",
    "screen",
    "screen_candidates",
    "simulate_candidates",
    "wilson_interval",
]
