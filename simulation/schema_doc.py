"""A Markdown reference of the scenario config, generated from the pydantic models."""

from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from simulation.distributions import (
    AGE_LIMIT_YEARS,
    DAYS_LIMIT,
    DISTRIBUTION_NAMES,
    UPLIFT_RANGE,
    WEEKLY_PRICE_LIMIT_GBP,
)
from simulation.scenario import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_CHILDREN_PER_REPLICATION,
    Scenario,
)
from simulation.uncertain import (
    DEFAULT_REPLICATIONS_PER_DRAW,
    DIST_PARAMETERS,
    UNCERTAIN_DISTS,
    accepts_uncertain,
)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        inner = args[0]
        if typing.get_origin(inner) in (Union, types.UnionType) and any(
            isinstance(a, type) and issubclass(a, BaseModel) and "dist" in a.model_fields
            for a in typing.get_args(inner)
        ):
            return "distribution"
        return _type_name(inner)
    if origin in (Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        if all(
            isinstance(a, type) and issubclass(a, BaseModel) and "dist" in a.model_fields
            for a in real
        ):
            return "distribution" + (" or null" if type(None) in args else "")
        names = [_type_name(a) for a in real]
        suffix = " or null" if type(None) in args else ""
        return " | ".join(dict.fromkeys(names)) + suffix
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    return getattr(tp, "__name__", str(tp))


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen or "dist" in tp.model_fields:
                return
            seen.append(tp)
            for field in tp.model_fields.values():
                visit(field.annotation)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(root)
    return seen


def _bounds(field: Any) -> str:
    """A field's numeric range, like ', 0 to 10000' or ', > 0' (empty when unbounded)."""
    low = high = ""
    for m in field.metadata:
        for attr, side in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(m, attr, None)
            if value is None:
                continue
            if isinstance(value, float):
                text = f"{side} {value:,g}"
            else:
                text = f"{side} {value:,}" if isinstance(value, int) else f"{side} {value}"
            if attr in ("ge", "gt"):
                low = text
            else:
                high = text
    if low.startswith(">= ") and high.startswith("<= "):
        return f", {low[3:]} to {high[3:]}"
    return ", " + ", ".join(t for t in (low, high) if t) if low or high else ""


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        return "" if field.default is None else f"`{field.default}`"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return f"`{value.model_dump(by_alias=True)}`"
        return f"`{value}`" if value not in ({}, []) else "empty"
    return "**required**"


def config_reference() -> str:
    """The whole config reference as Markdown."""
    lines = [
        "# Scenario config reference",
        "",
        "Generated from the schema by `sufficiency schema --markdown`; do not edit by hand.",
        "Unknown keys are rejected. Dates are ISO (`2024-04-01`). Names carry their unit",
        "(`_days`, `_years`, `_gbp`, `_per_year`).",
        "",
        "A **distribution** is a mapping with a `dist` key: "
        + ", ".join(f"`{d}`" for d in DISTRIBUTION_NAMES)
        + ". Parameters: exponential `mean`; lognormal and gamma `mean`, `cv` (sd / mean); "
        "weibull `shape`, `scale`; triangular `min`, `mode`, `max`; uniform `min`, `max`; "
        "fixed `value`; empirical `values` and optional `weights`. In the initial cohort, "
        "`elapsed_days` and `age_years` may also be a plain number (a fixed value).",
        "",
        "**Limits.** Numbers are strict: `true` is not 1, `'4'` is not 4, an integer field "
        "refuses 4.5, and `.inf` / `.nan` are refused; each field's range is shown with its type. "
        "A key given twice in one mapping is refused. Dates run from "
        f"{EARLIEST_DATE} to {LATEST_DATE}; seeds are below 2**63. A distribution's values must "
        f"suit its field: days from 0 to {DAYS_LIMIT:g} (a slippage may be negative), ages from 0 "
        f"to {AGE_LIMIT_YEARS:g} years (at entry, a minimum and mean below "
        "`step_down.age_out_years`), weekly "
        f"prices from £0 to £{WEEKLY_PRICE_LIMIT_GBP:,.0f}, uplifts from {UPLIFT_RANGE[0]:g} to "
        f"{UPLIFT_RANGE[1]:g}; exponential, lognormal, gamma and weibull never go below 0 and "
        "their upper tail is checked by the mean. Work budget: a replication may expect at most "
        f"{MAX_CHILDREN_PER_REPLICATION:,} children (initial cohort, scheduled arrivals and "
        "arrivals_per_year grown by trend_per_year over the horizon).",
        "",
        "**Uncertain values.** A number known only roughly (an estimate of the world, not the "
        "council's own choice) may be given as a distribution drawn once per parameter draw, "
        "e.g. `arrivals_per_year: {dist: gamma, mean: 42, cv: 0.12}`: "
        + ", ".join(f"`{d}`" for d in UNCERTAIN_DISTS)
        + " (gamma and lognormal by `mean`, `cv`; beta by `mean`, `sd`; uniform and triangular "
        "as above). Fields marked *uncertain ok* below accept it (numbers named `*_per_year`, "
        "`*_gbp`, `*_share`, `*_probability`, `*_rate`, `*_premium`, and a need's flag "
        "prevalences), and so does the "
        + " / ".join(f"`{p}`" for p in DIST_PARAMETERS)
        + " of a distribution (`length_of_stay_days: {dist: lognormal, mean: {dist: gamma, "
        "mean: 400, cv: 0.1}, cv: 0.9}`: the mean stay is uncertain). The distribution must stay "
        "inside the field's range: a probability or share takes beta, uniform or triangular. "
        "The scenario is validated at the means; `run.replications_per_draw` consecutive "
        f"replications (default {DEFAULT_REPLICATIONS_PER_DRAW}) share one draw, and the "
        "summary splits each metric's variance into inputs and chance (docs/model.md).",
        "",
    ]
    for model in _models(Scenario):
        lines += [f"## {model.__name__}", ""]
        doc = (model.__doc__ or "").strip().splitlines()
        if doc and not doc[0].startswith("!!!"):
            lines += [doc[0], ""]
        lines += ["| field | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            desc = (field.description or "").replace("|", "/")
            ok = "; *uncertain ok*" if accepts_uncertain(key, field.annotation) else ""
            kind = f"{_type_name(field.annotation)}{_bounds(field)}{ok}"
            lines.append(f"| `{key}` | {kind} | {_default(field)} | {desc} |")
        lines.append("")
    return "\n".join(lines)
