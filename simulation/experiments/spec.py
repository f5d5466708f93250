"""Experiment specs: a base config, strategies made of overrides, and how many replications.

An experiment file (``experiments/*.yaml``) names a base config and lists strategies as
overrides of it, written out one by one (``strategies``), as a full factorial ``grid`` or as a
one-at-a-time ``sweep`` around the base. Every strategy is validated as a config before any
replication runs; a problem is reported on one line naming the experiment file and the
override's path, exactly like a config error.

Replications are a fixed number, or a stopping rule: run in rounds until the 95% CI of the mean
of a chosen metric is narrow enough for every strategy, up to a cap. Every strategy always runs
the same replication indices on the same root seed (common random numbers), so paired
differences between strategies are meaningful.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulation.errors import Issue, ScenarioError, issues_from_validation_error
from simulation.experiments.overrides import OPERATIONS, Override, apply_overrides, attribute_issues
from simulation.scenario import Scenario, parse_scenario, read_yaml

if TYPE_CHECKING:
    from simulation.precision import Precision

DEFAULT_METRICS: tuple[str, ...] = (
    "cost_total_gbp",
    "spot_placements",
    "spot_bed_days",
    "internal_occupancy_pct",
    "void_cost_gbp",
    "out_of_city_share",
)
BASE_NAME = "base"


_NO_PRECISION_WITH_UNCERTAIN = (
    "a precision target is not available with uncertain inputs (replications sharing a "
    "parameter draw are not independent); give replications"
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _one_operation(data: Any, what: str) -> Any:
    if isinstance(data, dict):
        given = [op for op in OPERATIONS if op in data]
        if len(given) != 1:
            raise ValueError(
                f"{what} needs exactly one operation of {', '.join(OPERATIONS)} "
                f"(got {', '.join(given) or 'none'})"
            )
    return data


class OverrideSpec(_Strict):
    """``{path|paths: ..., set|scale|add|shift_months|shift_days|remove: ...}``."""

    path: str | None = Field(
        None, min_length=1, description="Field path, e.g. provision.homes[name=X].beds."
    )
    paths: list[str] | None = Field(
        None, min_length=1, description="Several paths changed together by the same operation."
    )
    set: Any = Field(None, description="New value.")
    scale: float | None = Field(None, description="Multiply a number by this.")
    add: float | None = Field(None, description="Add this to a number.")
    shift_months: int | None = Field(None, description="Move a date by whole months.")
    shift_days: int | None = Field(None, description="Move a date by days.")
    remove: Literal[True] | None = Field(
        None,
        description="Delete the list item the path names (a home, contract, DPS...), with "
        "what refers to it: its staffing entry, a prevention service tied to it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _check_op(cls, data: Any) -> Any:
        data = _one_operation(data, "an override")
        if isinstance(data, dict) and ("path" in data) == ("paths" in data):
            raise ValueError("an override needs exactly one of path or paths")
        return data

    def operation(self) -> tuple[str, Any]:
        op = next(o for o in OPERATIONS if o in self.model_fields_set)
        return op, getattr(self, op)

    @property
    def all_paths(self) -> list[str]:
        return list(self.paths) if self.paths else [self.path or ""]


class StrategySpec(_Strict):
    """A named strategy: the base config with some overrides."""

    name: str = Field(min_length=1)
    description: str = ""
    overrides: list[OverrideSpec] = Field(default_factory=list)


class FactorSpec(_Strict):
    """A parameter varied over levels: one operation with a list of operands."""

    name: str | None = Field(None, description="Short name used in strategy names.")
    path: str | None = Field(None, description="Field path the factor changes.")
    paths: list[str] | None = Field(
        None, min_length=1, description="Several paths changed together by the same operation."
    )
    set: list[Any] | None = Field(None, min_length=1)
    scale: list[float] | None = Field(None, min_length=1)
    add: list[float] | None = Field(None, min_length=1)
    shift_months: list[int] | None = Field(None, min_length=1)
    shift_days: list[int] | None = Field(None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if isinstance(data, dict) and "remove" in data:
            raise ValueError(
                "a factor cannot remove (use set: [remove, ...] in an optimiser search, or "
                "a strategy with remove: true)"
            )
        data = _one_operation(data, "a factor")
        if isinstance(data, dict) and ("path" in data) == ("paths" in data):
            raise ValueError("a factor needs exactly one of path or paths")
        return data

    def operation(self) -> tuple[str, list[Any]]:
        op = next(o for o in OPERATIONS if o in self.model_fields_set)
        return op, list(getattr(self, op))

    @property
    def all_paths(self) -> list[str]:
        return list(self.paths) if self.paths else [self.path or ""]

    @property
    def label(self) -> str:
        return self.name or ",".join(self.all_paths)


class StoppingRule(_Strict):
    """Run rounds of ``step`` replications until the CI half-width target is met, or ``max``."""

    metric: str = Field(description="Summary metric whose 95% CI of the mean is watched.")
    half_width: float | None = Field(None, gt=0, description="Target half-width, in its units.")
    relative_half_width: float | None = Field(
        None, gt=0, lt=1, description="Target half-width as a share of the mean (0.01 = 1%)."
    )
    min: int = Field(50, ge=2, description="Replications before the rule is first checked.")
    max: int = Field(ge=2, le=1_000_000, description="Cap on replications per strategy.")
    step: int | None = Field(None, ge=1, description="Replications added per round (default min).")

    @model_validator(mode="after")
    def _check(self) -> StoppingRule:
        if (self.half_width is None) == (self.relative_half_width is None):
            raise ValueError("give exactly one of half_width or relative_half_width")
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class PrecisionRule(_Strict):
    """Run rounds until every strategy's paired difference from the baseline is precise.

    Every strategy first runs ``min`` replications. A strategy stops as soon as the 95% CI
    half-width of its reduced-variance paired difference (docs/statistics.md) is within
    ``half_width`` for every metric listed; one that is not runs on to the replications its
    half-widths project, in whole ``step``s (:func:`simulation.experiments.driver.next_reach`);
    the baseline runs as far as the furthest strategy; nothing runs past ``max``.
    """

    half_width: str | float = Field(
        description="Target 95% CI half-width of each paired difference: in the metric's units "
        "(100k, 0.1m, 2500) or relative to the baseline's mean (5%)."
    )
    metrics: list[str] = Field(
        default_factory=lambda: ["cost_total_gbp"],
        min_length=1,
        description="Metrics whose paired differences must reach the target.",
    )
    min: int = Field(50, ge=10, description="Replications before the target is first checked.")
    step: int | None = Field(
        None,
        ge=1,
        description="Replications are added in whole steps (default min): a strategy short of "
        "its target runs on to what its half-width projects, at least one step more.",
    )
    max: int = Field(2000, ge=10, le=1_000_000, description="Cap on replications per strategy.")
    reduce_variance: bool = Field(
        True,
        description="Judge the target on the reduced-variance paired difference (cost at mean "
        "prices and control variates, docs/statistics.md); false: on the plain one.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # ``precision: 100k`` is ``precision: {half_width: 100k}``.
        return {"half_width": data} if isinstance(data, str | int | float) else data

    @model_validator(mode="after")
    def _check(self) -> PrecisionRule:
        from simulation.precision import parse_precision

        parse_precision(self.half_width)  # ValueError names what is allowed
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    @property
    def target(self) -> Precision:
        from simulation.precision import parse_precision

        return parse_precision(self.half_width)


class ExperimentSpec(_Strict):
    """The YAML document of an experiment."""

    name: str = Field(min_length=1, description="Experiment name (results are stored under it).")
    description: str = ""
    base: str = Field(description="Base config, relative to the experiment file.")
    seed: int | None = Field(None, ge=0, description="Root seed (default: the base config's).")
    replications: int | StoppingRule | None = Field(
        None, description="Replications per strategy, or a stopping rule (or give precision)."
    )
    precision: PrecisionRule | None = Field(
        None,
        description="Instead of replications: run until every paired difference from the "
        "baseline is within a 95% CI half-width (e.g. precision: 100k).",
    )
    include_base: bool = Field(True, description="Run the unchanged base config as 'base'.")
    baseline: str | None = Field(
        None, description="Strategy the others are compared with (default: base, else the first)."
    )
    metrics: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRICS), min_length=1, description="Metrics reported."
    )
    strategies: list[StrategySpec] = Field(default_factory=list)
    grid: list[FactorSpec] = Field(default_factory=list, description="Full factorial.")
    sweep: list[FactorSpec] = Field(default_factory=list, description="One factor at a time.")

    @model_validator(mode="after")
    def _check(self) -> ExperimentSpec:
        if isinstance(self.replications, int) and not 1 <= self.replications <= 1_000_000:
            raise ValueError(f"replications must be 1 to 1000000 (got {self.replications})")
        if (self.replications is None) == (self.precision is None):
            raise ValueError("give exactly one of replications or precision")
        return self


@dataclass(frozen=True)
class Strategy:
    """A validated strategy: its scenario and, for grids and sweeps, its factor levels."""

    name: str
    scenario: Scenario
    overrides: tuple[Override, ...] = ()
    levels: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A loaded, fully validated experiment."""

    name: str
    description: str
    source: str
    base_path: Path
    seed: int
    replications: int | None
    stop: StoppingRule | None
    baseline: str
    metrics: tuple[str, ...]
    strategies: tuple[Strategy, ...]
    spec: ExperimentSpec | None = None
    factors: tuple[FactorSpec, ...] = ()
    precision: PrecisionRule | None = None

    @property
    def max_replications(self) -> int:
        """Replications per strategy if the experiment runs to its end (the cap)."""
        if self.precision is not None:
            return self.precision.max
        if self.stop is not None:
            return self.stop.max
        assert self.replications is not None
        return self.replications

    def strategy(self, name: str) -> Strategy:
        return next(s for s in self.strategies if s.name == name)

    def with_replications(self, n: int) -> Experiment:
        """The same experiment with a fixed number of replications (a command-line override)."""
        return Experiment(**{**self.__dict__, "replications": n, "stop": None, "precision": None})

    def with_precision(self, half_width: str | None, max_replications: int | None) -> Experiment:
        """The same experiment run to a precision target (command-line ``--precision``), or
        with another cap; ValueError for a bad target."""
        rule = self.precision
        if any(s.scenario.uncertain for s in self.strategies):
            raise ValueError(_NO_PRECISION_WITH_UNCERTAIN)
        if half_width is None and rule is None:
            raise ValueError("--max-replications needs --precision (or precision: in the spec)")
        data = rule.model_dump() if rule is not None else {}
        if half_width is not None:
            data["half_width"] = half_width
        if max_replications is not None:
            data["max"] = max_replications
            data["min"] = min(data.get("min", 50), max_replications)
        try:
            new = PrecisionRule.model_validate(data)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return Experiment(**{**self.__dict__, "replications": None, "stop": None, "precision": new})

    def with_seed(self, seed: int) -> Experiment:
        return Experiment(**{**self.__dict__, "seed": seed})


def _fmt_level(op: str, value: Any) -> str:
    if op == "scale":
        return f"x{value:g}"
    if op in ("add", "shift_months", "shift_days"):
        unit = {"shift_months": "m", "shift_days": "d"}.get(op, "")
        return f"{value:+g}{unit}"
    return str(value)


def _factor_strategies(
    kind: str, factors: list[FactorSpec]
) -> Iterator[tuple[str, list[Override], dict[str, Any]]]:
    """(name, overrides, levels) of each strategy a grid or sweep defines."""

    def overrides_for(i: int, f: FactorSpec, j: int) -> list[Override]:
        op, values = f.operation()
        return [Override(p, op, values[j], where=f"{kind}[{i}].{op}[{j}]") for p in f.all_paths]

    if not factors:
        return
    if kind == "sweep":
        for i, f in enumerate(factors):
            op, values = f.operation()
            for j, v in enumerate(values):
                level = _fmt_level(op, v)
                yield f"{f.label}={level}", overrides_for(i, f, j), {f.label: v}
    else:
        ranges = [range(len(f.operation()[1])) for f in factors]
        for combo in itertools.product(*ranges):
            ovs: list[Override] = []
            parts, levels = [], {}
            for i, (f, j) in enumerate(zip(factors, combo, strict=True)):
                op, values = f.operation()
                ovs += overrides_for(i, f, j)
                parts.append(f"{f.label}={_fmt_level(op, values[j])}")
                levels[f.label] = values[j]
            yield ", ".join(parts), ovs, levels


def build_scenario(base_raw: dict[str, Any], overrides: list[Override], source: str) -> Scenario:
    """Apply overrides to the raw base config and validate the result, naming override paths."""
    data, applied = apply_overrides(base_raw, overrides, source)
    try:
        return parse_scenario(data, source)
    except ScenarioError as exc:
        raise ScenarioError(attribute_issues(exc.issues, applied), source) from None


def parse_experiment(
    data: Any, source: str = "<experiment>", root: Path | None = None
) -> Experiment:
    """Validate an experiment document; ``root`` is the folder ``base`` is relative to.

    Raises :class:`ScenarioError` with every problem found, each naming its path.
    """
    if not isinstance(data, dict):
        raise ScenarioError([Issue("(top level)", "an experiment must be a mapping")], source)
    reps = data.get("replications")
    if isinstance(reps, dict):
        # Validated on its own so that a bad rule is not also reported as "not an integer".
        try:
            StoppingRule.model_validate(reps)
        except ValidationError as exc:
            rule_issues = issues_from_validation_error(exc, StoppingRule)
            raise ScenarioError(
                [Issue(_join("replications", i.path), i.message) for i in rule_issues], source
            ) from None
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(issues_from_validation_error(exc, ExperimentSpec), source) from None

    base_path = ((root or Path.cwd()) / spec.base).resolve()
    if not base_path.is_file():
        raise ScenarioError([Issue("base", f"base config not found: {base_path}")], source)
    base_raw = read_yaml(base_path)
    try:
        base = parse_scenario(base_raw, str(base_path))
    except ScenarioError as exc:
        raise ScenarioError(
            [Issue(f"base ({spec.base})", f"{i}") for i in exc.issues], source
        ) from None

    candidates: list[tuple[str, list[Override], dict[str, Any], str]] = []
    if spec.include_base:
        candidates.append((BASE_NAME, [], {}, "include_base"))
    for i, st in enumerate(spec.strategies):
        ovs = []
        for j, o in enumerate(st.overrides):
            op, value = o.operation()
            where = f"strategies[{i}].overrides[{j}]"
            ovs += [Override(p, op, value, where=where) for p in o.all_paths]
        candidates.append((st.name, ovs, {}, f"strategies[{i}].name"))
    for kind, factors in (("grid", spec.grid), ("sweep", spec.sweep)):
        for name, ovs, levels in _factor_strategies(kind, factors):
            candidates.append((name, ovs, levels, kind))

    issues: list[Issue] = []
    if not candidates:
        issues.append(Issue("strategies", "no strategies: give strategies, grid or sweep"))
    strategies: list[Strategy] = []
    seen: set[str] = set()
    for name, ovs, levels, where in candidates:
        if name in seen:
            issues.append(Issue(where, f"strategy name '{name}' is used twice"))
            continue
        seen.add(name)
        try:
            scenario = base if not ovs else build_scenario(base_raw, ovs, source)
        except ScenarioError as exc:
            issues += exc.issues
            continue
        if levels and spec.include_base and scenario == base:
            continue  # a grid or sweep point equal to the base: 'base' already runs it
        strategies.append(Strategy(name, scenario, tuple(ovs), levels))

    names = [s.name for s in strategies]
    baseline = spec.baseline or (BASE_NAME if spec.include_base else (names[0] if names else ""))
    if spec.baseline is not None and spec.baseline not in seen:
        issues.append(
            Issue("baseline", f"no strategy '{spec.baseline}' (have: {', '.join(names)})")
        )
    known = metric_names(base)
    for i, m in enumerate(spec.metrics):
        if m not in known:
            issues.append(
                Issue(f"metrics[{i}]", f"unknown metric '{m}' (allowed: {', '.join(known)})")
            )
    stop = spec.replications if isinstance(spec.replications, StoppingRule) else None
    if spec.precision is not None:
        for i, m in enumerate(spec.precision.metrics):
            if m not in known:
                issues.append(
                    Issue(
                        f"precision.metrics[{i}]",
                        f"unknown metric '{m}' (allowed: {', '.join(known)})",
                    )
                )
    if stop is not None and stop.metric not in known:
        issues.append(
            Issue(
                "replications.metric",
                f"unknown metric '{stop.metric}' (allowed: {', '.join(known)})",
            )
        )
    if spec.precision is not None and any(s.scenario.uncertain for s in strategies):
        issues.append(Issue("precision", _NO_PRECISION_WITH_UNCERTAIN))
    if issues:
        raise ScenarioError(issues, source)
    return Experiment(
        name=spec.name,
        description=spec.description,
        source=source,
        base_path=base_path,
        seed=base.run.seed if spec.seed is None else spec.seed,
        replications=spec.replications if isinstance(spec.replications, int) else None,
        stop=stop,
        baseline=baseline,
        metrics=tuple(spec.metrics),
        strategies=tuple(strategies),
        spec=spec,
        factors=tuple(spec.sweep) + tuple(spec.grid),
        precision=spec.precision,
    )


def _join(prefix: str, path: str) -> str:
    return prefix if path == "(top level)" else f"{prefix}.{path}"


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment YAML file (see :func:`parse_experiment`)."""
    p = Path(path)
    return parse_experiment(read_yaml(p), str(p), root=p.resolve().parent)


_METRIC_CACHE: dict[str, tuple[str, ...]] = {}


def metric_names(scenario: Scenario) -> tuple[str, ...]:
    """Names of the summary metrics a replication of ``scenario`` reports.

    Found by measuring one replication (a few ms), so the list follows the metrics module
    rather than a copy of it that could go stale.
    """
    from simulation.runner import run_batch  # late: keeps spec loading light to import

    key = scenario.name + str(len(scenario.need_names))
    if key not in _METRIC_CACHE:
        summary = run_batch(scenario, [0], scenario.run.seed)["summary"]
        _METRIC_CACHE[key] = tuple(c for c in summary.columns if c != "replication")
    return _METRIC_CACHE[key]


def experiment_from_configs(
    paths: list[Path],
    replications: int | None = None,
    seed: int | None = None,
    metrics: list[str] | None = None,
) -> Experiment:
    """A quick experiment comparing whole configs; the first is the baseline.

    Strategies are named by file stem (the config's name if stems clash). Seed and
    replications default to the first config's, so every config runs the same seeds.
    """
    from simulation.scenario import load_scenario

    scenarios = [load_scenario(p) for p in paths]
    names = [p.stem for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.stem} ({s.name})" for p, s in zip(paths, scenarios, strict=True)]
    for i in range(len(names)):  # the same file twice: number the repeats
        if names[i] in names[:i]:
            names[i] = f"{names[i]} #{names[:i].count(names[i]) + 1}"
    first = scenarios[0]
    known = metric_names(first)
    chosen = tuple(metrics or DEFAULT_METRICS)
    bad = [m for m in chosen if m not in known]
    if bad:
        raise ScenarioError(
            [Issue("--metric", f"unknown metric '{bad[0]}' (allowed: {', '.join(known)})")],
            "compare",
        )
    return Experiment(
        name="compare",
        description="",
        source="compare",
        base_path=paths[0],
        seed=first.run.seed if seed is None else seed,
        replications=replications or first.run.replications,
        stop=None,
        baseline=names[0],
        metrics=chosen,
        strategies=tuple(Strategy(n, s) for n, s in zip(names, scenarios, strict=True)),
    )
