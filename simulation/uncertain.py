"""Uncertain inputs: a config number given as a distribution, drawn once per parameter draw.

A rate, price, probability or share the council only knows roughly may be written as a
distribution instead of a number::

    arrivals_per_year: {dist: gamma, mean: 42, cv: 0.12}
    match_probability: {dist: beta, mean: 0.4, sd: 0.08}
    length_of_stay_days: {dist: lognormal, mean: {dist: gamma, mean: 400, cv: 0.1}, cv: 0.9}

(the last: each child's stay varies as before, and the *mean* stay is uncertain).

How it works, before and after validation:

1. :func:`extract` walks the raw config beside the schema, finds each uncertain mapping, checks
   the field may be uncertain (:data:`ALLOWED_RULE`) and that the distribution cannot leave the
   field's limits, and puts the distribution's mean in its place; the scenario is validated at
   those means like any other. The uncertain values ride on the scenario
   (``Scenario.uncertain``), and ``to_dict`` writes them back, so a saved scenario replays.
2. :func:`realise` makes replication ``r``'s concrete scenario: each uncertain value is drawn
   by inverse CDF from its own stream, named by the field's path (a list item by its ``name``,
   not its position), keyed by the run's seed and the replication's *parameter draw*
   ``r // run.replications_per_draw``; the drawn numbers are set in a copy that shares every
   other part of the scenario (``model_copy``). Replications of one draw share the scenario
   object, so per-scenario caches are built once per draw.

Draws depend on (seed, draw, path) alone: not on the worker, the batch, the other uncertain
values, or a strategy's change to another field (common random numbers). A scenario without
uncertain values is returned unchanged, so its event logs do not move.

The variance of a metric then splits into the part from the inputs and the part from chance;
:func:`variance_split_table` estimates it from the groups of replications sharing a draw
(docs/model.md, "Uncertain inputs").
"""

from __future__ import annotations

import copy
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from simulation.distributions import Beta, Gamma, Lognormal, Triangular, Uniform, _Dist
from simulation.errors import Issue, _unwrap, format_path
from simulation.stats import DEFAULT_CONFIDENCE, grouped_mean_ci, variance_split
from simulation.streams import Streams

if TYPE_CHECKING:
    from simulation.scenario import Scenario

UncertainDist = Annotated[
    Gamma | Lognormal | Beta | Uniform | Triangular, Field(discriminator="dist")
]
UNCERTAIN_DISTS = ("gamma", "lognormal", "beta", "uniform", "triangular")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(UncertainDist)

# Which fields may be uncertain: numbers that are estimates of the world, not the council's own
# choices or counts. By name: a number field whose name (or, for a mapping of numbers, the
# mapping's name) ends in one of these; a need's flag prevalences; and the location parameter
# (mean, Weibull scale, fixed value) of a per-child distribution.
RATE_SUFFIXES = ("_per_year", "_gbp", "_share", "_probability", "_rate", "_premium")
_PREVALENCES = ("flags",)
DIST_PARAMETERS = ("mean", "scale", "value")
ALLOWED_RULE = (
    "uncertain values are allowed on number fields named *"
    + ", *".join(RATE_SUFFIXES)
    + ", demand.needs.<need>.flags.<flag>, and the mean (scale, value) of a per-child "
    "distribution; not on counts, dates, ages, names, seeds or policy settings"
)
DEFAULT_REPLICATIONS_PER_DRAW = 2
# A positive distribution's upper tail is checked against the field's limit at this quantile;
# a rarer draw beyond the limit is set to the limit.
_TAIL = 1e-9


@dataclass(frozen=True)
class UncertainValue:
    """One uncertain number: where it is (``loc``, as the config reads), the name of its stream
    (the path with list items by name), and the distribution it is drawn from."""

    loc: tuple[str | int, ...]
    stream: str
    dist: Any  # one of UncertainDist's members
    low: float  # the field's limits: a draw is kept inside them
    high: float

    @property
    def path(self) -> str:
        return format_path(self.loc)

    def draw(self, seed: int, draw: int) -> float:
        u = Streams(seed, draw)(f"uncertain:{self.stream}").random(1)
        return float(np.clip(self.dist.ppf(u)[0], self.low, self.high))


# --------------------------------------------------------------------------------------------
# Finding uncertain values in a raw config


def _bounds(tp: Any, metadata: Sequence[Any] = ()) -> tuple[float, float]:
    """The numeric limits (ge/gt, le/lt) carried by a field's metadata and its Annotated type."""
    low, high = -math.inf, math.inf
    items = list(metadata)
    while typing.get_origin(tp) is typing.Annotated or typing.get_origin(tp) in (
        typing.Union,
        types.UnionType,
    ):
        if typing.get_origin(tp) is typing.Annotated:
            args = typing.get_args(tp)
            items += list(args[1:])
            tp = args[0]
        else:
            args = tuple(a for a in typing.get_args(tp) if a is not type(None))
            if len(args) != 1:
                break
            tp = args[0]
    for item in items:
        for m in [item, *getattr(item, "metadata", [])]:
            for attr, sign in (("ge", 0), ("gt", 1), ("le", 0), ("lt", -1)):
                v = getattr(m, attr, None)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    # A strict limit becomes the next number inside it.
                    v = math.nextafter(v, sign * math.inf) if sign else float(v)
                    low, high = (max(low, v), high) if attr[0] == "g" else (low, min(high, v))
    return low, high


def _is_dist_union(tp: Any) -> bool:
    args = typing.get_args(_unwrap(tp))
    return bool(args) and all(
        isinstance(_unwrap(a), type) and issubclass(_unwrap(a), _Dist) for a in args
    )


def _allowed_name(name: str) -> bool:
    return name.endswith(RATE_SUFFIXES) or name in _PREVALENCES


def accepts_uncertain(name: str, tp: Any) -> bool:
    """Whether the field ``name`` of type ``tp`` (or each value of it, for a mapping) may be
    given as an uncertain value (:data:`ALLOWED_RULE`)."""
    bare = _unwrap(tp)
    if typing.get_origin(bare) is dict:
        bare = _unwrap(typing.get_args(bare)[1])
    return bare is float and _allowed_name(name)


_ABOVE_ZERO = math.nextafter(0.0, 1.0)


def _support(d: Any) -> tuple[float, float]:
    """The values a distribution can draw (beta, gamma, lognormal never draw 0 itself)."""
    if isinstance(d, Triangular | Uniform):
        return d.min, d.max
    if isinstance(d, Beta):
        return _ABOVE_ZERO, math.nextafter(1.0, 0.0)
    return _ABOVE_ZERO, math.inf  # gamma, lognormal


def _fmt(x: float) -> str:
    if x == _ABOVE_ZERO:
        return "just above 0"
    if x == math.nextafter(1.0, 0.0):
        return "just below 1"
    return f"{x:g}"


class _Walker:
    def __init__(self) -> None:
        self.found: list[UncertainValue] = []
        self.issues: list[Issue] = []

    def walk(self, data: Any, tp: Any, loc: tuple[str | int, ...], key: str, name: str) -> Any:
        """``data`` with each uncertain mapping replaced by its mean (a copy where changed)."""
        bare = _unwrap(tp)
        if _is_dist_union(tp):
            return self._distribution(data, loc, key)
        if isinstance(bare, type) and issubclass(bare, BaseModel):
            if not isinstance(data, Mapping):
                return data
            out = dict(data)
            for k, v in data.items():
                info = next((f for n, f in bare.model_fields.items() if k in (n, f.alias)), None)
                if info is not None:
                    out[k] = self._field(v, info, (*loc, k), f"{key}.{k}" if key else str(k), k)
            return out
        origin = typing.get_origin(bare)
        if origin is dict and isinstance(data, Mapping):
            inner = typing.get_args(bare)[1]
            return {k: self.walk(v, inner, (*loc, k), f"{key}.{k}", name) for k, v in data.items()}
        if origin is list and isinstance(data, list):
            inner = typing.get_args(bare)[0]
            items = []
            for i, v in enumerate(data):
                label = v.get("name") if isinstance(v, Mapping) else None
                sub = f"{key}[name={label}]" if isinstance(label, str) else f"{key}[{i}]"
                items.append(self.walk(v, inner, (*loc, i), sub, name))
            return items
        if isinstance(data, Mapping) and "dist" in data:
            if accepts_uncertain(name, tp):
                return self._value(data, loc, key, _bounds(tp))
            self.issues.append(Issue(format_path(loc), f"cannot be uncertain: {ALLOWED_RULE}"))
        return data

    def _field(self, v: Any, info: Any, loc: tuple[str | int, ...], key: str, name: str) -> Any:
        tp = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        return self.walk(v, tp, loc, key, name)

    def _distribution(self, data: Any, loc: tuple[str | int, ...], key: str) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for k, v in data.items():
            if not isinstance(v, Mapping):
                continue
            where = (*loc, k)
            if k not in DIST_PARAMETERS:
                self.issues.append(
                    Issue(format_path(where), f"cannot be uncertain: {ALLOWED_RULE}")
                )
                continue
            # A location parameter must stay a valid one: positive (a fixed value: not negative).
            low = 0.0 if k == "value" else _ABOVE_ZERO
            out[k] = self._value(v, where, f"{key}.{k}", (low, math.inf))
        return out

    def _value(
        self,
        data: Mapping[str, Any],
        loc: tuple[str | int, ...],
        key: str,
        limits: tuple[float, float],
    ) -> Any:
        path = format_path(loc)
        if data.get("dist") not in UNCERTAIN_DISTS:
            self.issues.append(
                Issue(
                    path,
                    f"unknown uncertain dist {data.get('dist')!r} (allowed: "
                    f"{', '.join(UNCERTAIN_DISTS)})",
                )
            )
            return data
        try:
            dist = _ADAPTER.validate_python(dict(data))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"][1:])
            msg = err["msg"].replace("Input should be", "must be").removeprefix("Value error, ")
            self.issues.append(Issue(f"{path}.{where}" if where else path, msg))
            return data
        low, high = limits
        lo, hi = _support(dist)
        span = f"from {_fmt(low)} to {_fmt(high)}"
        if lo < low:
            self.issues.append(
                Issue(path, f"this {dist.dist} can reach {lo:g}, below the field's limit ({span})")
            )
        elif math.isfinite(hi) and hi > high:
            self.issues.append(
                Issue(path, f"this {dist.dist} can reach {hi:g}, above the field's limit ({span})")
            )
        elif not math.isfinite(hi) and high <= 1.0:
            self.issues.append(
                Issue(
                    path,
                    f"a {dist.dist} can exceed {_fmt(high)}: for a probability or share use beta "
                    "(mean, sd), uniform (min, max) or triangular (min, mode, max)",
                )
            )
        elif not math.isfinite(hi) and float(dist.ppf([1 - _TAIL])[0]) > high:
            self.issues.append(
                Issue(path, f"this {dist.dist} reaches above the field's limit {_fmt(high)}")
            )
        else:
            self.found.append(UncertainValue(loc, key, dist, low, high))
        return dist.mean


def extract_uncertain(
    data: Any, root: type[BaseModel]
) -> tuple[Any, tuple[UncertainValue, ...], list[Issue]]:
    """The config with every uncertain value at its mean, the uncertain values, and problems."""
    if not isinstance(data, Mapping):
        return data, (), []
    walker = _Walker()
    out = walker.walk(data, root, (), "", "")
    if not walker.found and not walker.issues:
        return data, (), []
    return out, tuple(walker.found), walker.issues


def restore_uncertain(config: dict[str, Any], values: Sequence[UncertainValue]) -> dict[str, Any]:
    """A dumped config with each uncertain value written back as its distribution."""
    if not values:
        return config
    out = copy.deepcopy(config)
    for v in values:
        node: Any = out
        for part in v.loc[:-1]:
            node = node[part]
        node[v.loc[-1]] = v.dist.model_dump(mode="json", by_alias=True)
    return out


# --------------------------------------------------------------------------------------------
# One replication's concrete scenario


def _set_in(obj: Any, loc: tuple[str | int, ...], value: float) -> Any:
    """A copy of ``obj`` with ``value`` at ``loc``; everything else is shared."""
    if not loc:
        return value
    head, rest = loc[0], loc[1:]
    if isinstance(obj, BaseModel):
        name = next(n for n, f in type(obj).model_fields.items() if head in (n, f.alias))
        return obj.model_copy(update={name: _set_in(getattr(obj, name), rest, value)})
    if isinstance(obj, dict):
        return {**obj, head: _set_in(obj[head], rest, value)}
    if isinstance(obj, list):
        assert isinstance(head, int)
        return [*obj[:head], _set_in(obj[head], rest, value), *obj[head + 1 :]]
    raise TypeError(f"cannot set {format_path(loc)} in {type(obj).__name__}")


def replications_per_draw(scenario: Scenario) -> int:
    n = scenario.run.replications_per_draw
    return DEFAULT_REPLICATIONS_PER_DRAW if n is None else n


def parameter_draw(scenario: Scenario, replication: int) -> int:
    """The parameter draw replication ``replication`` belongs to."""
    return replication // replications_per_draw(scenario)


def drawn_values(scenario: Scenario, draw: int, seed: int) -> dict[str, float]:
    """The value of each uncertain input in parameter draw ``draw``, by path."""
    return {v.path: v.draw(seed, draw) for v in scenario.uncertain}


# The last realised scenario, as one (key, base, realised) tuple replaced whole, so threads
# sharing the module never see one's key with another's scenario. Replications of a draw come
# in a row, so one entry is enough.
_last: list[tuple[tuple[int, int, int], Any, Any]] = []


def realise(scenario: Scenario, replication: int, seed: int) -> Scenario:
    """Replication ``replication``'s concrete scenario (``scenario`` itself if nothing is
    uncertain): every uncertain value drawn for the replication's parameter draw."""
    if not scenario.uncertain:
        return scenario
    draw = parameter_draw(scenario, replication)
    key = (id(scenario), draw, seed)
    last = _last[0] if _last else None
    if last is not None and last[0] == key and last[1] is scenario:
        cached: Scenario = last[2]
        return cached
    out = scenario
    for v in scenario.uncertain:
        out = _set_in(out, v.loc, v.draw(seed, draw))
    out._uncertain = ()  # concrete now
    _last[:] = [(key, scenario, out)]
    return out


# --------------------------------------------------------------------------------------------
# The variance split of a run's summary

SPLIT_COLUMNS = (
    "var_input",
    "var_chance",
    "var_input_share",
    "var_input_share_low",
    "var_input_share_high",
)


def variance_split_table(
    stats: pd.DataFrame,
    summary: pd.DataFrame,
    scenario: Scenario,
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """``stats`` (one row per metric) with the variance split columns.

    Without uncertain inputs all variance is chance: ``var_input`` and the share are 0. With
    them, the replications sharing a parameter draw form the groups of a one-way random-effects
    ANOVA (:func:`simulation.stats.variance_split`), and the CI of the mean is taken from the
    draws' means, since replications of one draw are not independent.
    """
    out = stats.copy()
    if not scenario.uncertain:
        sd = out["sd"].to_numpy(dtype=float)
        out["var_input"] = np.where(np.isnan(sd), np.nan, 0.0)
        out["var_chance"] = sd**2
        for col in ("var_input_share", "var_input_share_low", "var_input_share_high"):
            out[col] = out["var_input"]
        return out
    groups = summary["replication"].to_numpy() // replications_per_draw(scenario)
    rows = []
    for metric in out["metric"]:
        y = summary[metric].to_numpy(dtype=float)
        split = variance_split(y, groups, confidence)
        ci = grouped_mean_ci(y, groups, confidence)
        rows.append(
            (
                split.var_input,
                split.var_chance,
                split.share,
                split.share_low,
                split.share_high,
                ci.low,
                ci.high,
            )
        )
    cols = [*SPLIT_COLUMNS, "ci_low", "ci_high"]
    values = pd.DataFrame(rows, columns=cols, index=out.index)
    out[["ci_low", "ci_high"]] = values[["ci_low", "ci_high"]]
    for col in SPLIT_COLUMNS:
        out[col] = values[col]
    return out
