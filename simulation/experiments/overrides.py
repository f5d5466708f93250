"""Overrides by path: change one field of a raw config dict, checked against the schema.

A path names a field the way a config reads: ``run.horizon_years``,
``provision.homes[name=EBD home 1].open_date``, ``provision.homes[2].beds``,
``demand.needs.*.arrivals_per_year`` (``*`` = every key of a mapping or item of a list).
Operations: ``set`` (a value), ``scale`` (multiply a number), ``add`` (add to a number),
``shift_months`` / ``shift_days`` (move a date), ``remove`` (delete a list item: a home, a
block contract, a DPS, any list entry; what refers to a removed home or contract by name goes
with it: its staffing entry, a prevention service tied to it; children of the initial cohort
living there are refused by name, since where they would live instead is the user's choice).

Overrides apply to the raw dict (before validation) and the result is then validated as a
whole by :func:`simulation.parse_scenario`, so a value of the wrong type is caught by the same
rules as in a config file; :func:`attribute_issues` maps such problems back to the override
that caused them. A path that does not exist is refused here, before anything runs.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from simulation.errors import Issue, ScenarioError, _unwrap, format_path
from simulation.scenario import Scenario

Operation = Literal["set", "scale", "add", "shift_months", "shift_days", "remove"]
OPERATIONS: tuple[str, ...] = ("set", "scale", "add", "shift_months", "shift_days", "remove")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Key:
    """A mapping key or model field (``*`` for every key)."""

    name: str


@dataclass(frozen=True)
class Index:
    """A list item by position (``[*]`` for every item)."""

    index: int | None  # None = every item


@dataclass(frozen=True)
class Match:
    """A list item whose field equals a value: ``[name=EBD home 1]``."""

    field: str
    value: str


Segment = Key | Index | Match

_BRACKET = re.compile(r"\[([^\]]*)\]")


class PathError(ValueError):
    """A path that cannot be parsed or does not lead anywhere (message names what is wrong)."""


def parse_path(path: str) -> list[Segment]:
    """Split a path into segments; raises :class:`PathError` on bad syntax."""
    if not path or not path.strip():
        raise PathError("empty path")
    segments: list[Segment] = []
    i, n = 0, len(path)
    expect_key = True
    while i < n:
        ch = path[i]
        if ch == "[":
            m = _BRACKET.match(path, i)
            if m is None:
                raise PathError(f"unclosed '[' at character {i + 1}")
            inner = m.group(1).strip()
            if inner == "*":
                segments.append(Index(None))
            elif inner.isdigit():
                segments.append(Index(int(inner)))
            elif "=" in inner:
                field, value = (s.strip() for s in inner.split("=", 1))
                if not field:
                    raise PathError(f"'[{inner}]' needs a field name before '='")
                segments.append(Match(field, value))
            else:
                raise PathError(f"'[{inner}]': use [N], [*] or [field=value]")
            i = m.end()
            expect_key = False
        elif ch == ".":
            if expect_key:
                raise PathError(f"empty segment at character {i + 1}")
            i += 1
            expect_key = True
        else:
            j = i
            while j < n and path[j] not in ".[":
                j += 1
            name = path[i:j].strip()
            if not expect_key:
                raise PathError(f"missing '.' before '{name}'")
            segments.append(Key(name))
            i = j
            expect_key = False
    if expect_key:
        raise PathError("path ends with '.'")
    return segments


# --------------------------------------------------------------------------------------------
# Walking the schema alongside the raw dict


def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _union_member(tp: Any, value: Any) -> Any:
    """The member of a ``dist``-tagged union that ``value`` (a raw mapping) selects."""
    if not isinstance(value, dict):
        return None
    for arg in typing.get_args(tp):
        arg = _unwrap(arg)
        if (
            isinstance(arg, type)
            and issubclass(arg, BaseModel)
            and "dist" in arg.model_fields
            and value.get("dist") in typing.get_args(arg.model_fields["dist"].annotation)
        ):
            return arg
    return None


def _child_type(tp: Any, key: str | int, value: Any) -> Any:
    """The schema type one step below ``tp``; ``value`` is the raw container (for unions)."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        member = _union_member(tp, value)
        return _child_type(member, key, value) if member is not None else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_fields(tp).get(str(key))
    if origin is list:
        return typing.get_args(tp)[0]
    if origin is dict:
        return typing.get_args(tp)[1]
    return None


def _allowed_keys(tp: Any, value: Any) -> list[str] | None:
    """Field names a model allows here (None for free-form mappings)."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = _union_member(tp, value)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [k for k in _model_fields(tp) if k != "dist"]
    return None


def _is_mapping_type(tp: Any) -> bool:
    tp = _unwrap(tp)
    return typing.get_origin(tp) is dict


def resolve(raw: Any, path: str, *, for_set: bool) -> list[Loc]:
    """Every concrete location ``path`` names in ``raw``.

    With ``for_set``, the last key may be absent from ``raw`` if the schema has that field (a
    field left at its default can still be set). Raises :class:`PathError` otherwise.
    """
    segments = parse_path(path)
    # Each state: (concrete loc so far, raw value there (or _ABSENT), schema type there)
    states: list[tuple[Loc, Any, Any]] = [((), raw, Scenario)]
    for depth, seg in enumerate(segments):
        last = depth == len(segments) - 1
        nxt: list[tuple[Loc, Any, Any]] = []
        for loc, value, tp in states:
            where = format_path(loc) if loc else "(top level)"
            if value is _ABSENT:
                raise PathError(f"{where} is not set in the base config, so it has no fields")
            if isinstance(seg, Key):
                if not isinstance(value, dict):
                    raise PathError(f"{where} is not a mapping (it is {_describe(value)})")
                if seg.name == "*":
                    keys: list[str] = list(value)
                    if not keys:
                        raise PathError(f"{where} is empty: '*' matches nothing")
                elif seg.name in value:
                    keys = [seg.name]
                else:
                    allowed = _allowed_keys(tp, value)
                    if allowed is not None and seg.name in allowed and (last and for_set):
                        keys = [seg.name]
                    elif allowed is not None and seg.name in allowed:
                        only_set = " (only 'set' can give it a value)" if last else ""
                        raise PathError(
                            f"{format_path((*loc, seg.name))} is not set in the base config"
                            + only_set
                        )
                    elif allowed is not None:
                        close = difflib.get_close_matches(seg.name, allowed, n=1)
                        hint = f"did you mean '{close[0]}'? " if close else ""
                        raise PathError(
                            f"{format_path((*loc, seg.name))}: unknown field; {hint}"
                            f"allowed: {', '.join(allowed)}"
                        )
                    elif _is_mapping_type(tp) and last and for_set:
                        keys = [seg.name]  # a new key of a free-form mapping (e.g. seasonality)
                    else:
                        have = ", ".join(map(str, value)) or "(none)"
                        raise PathError(
                            f"{format_path((*loc, seg.name))}: no such key (have: {have})"
                        )
                for k in keys:
                    nxt.append(((*loc, k), value.get(k, _ABSENT), _child_type(tp, k, value)))
            else:
                if not isinstance(value, list):
                    raise PathError(f"{where} is not a list (it is {_describe(value)})")
                item_tp = _child_type(tp, 0, value)
                if isinstance(seg, Index):
                    if seg.index is None:
                        idxs = list(range(len(value)))
                        if not idxs:
                            raise PathError(f"{where} is empty: '[*]' matches nothing")
                    elif seg.index < len(value):
                        idxs = [seg.index]
                    else:
                        raise PathError(
                            f"{where}[{seg.index}]: no such item ({where} has {len(value)})"
                        )
                else:
                    idxs = [
                        i
                        for i, item in enumerate(value)
                        if isinstance(item, dict) and str(item.get(seg.field)) == seg.value
                    ]
                    if not idxs:
                        names = [
                            str(item.get(seg.field))
                            for item in value
                            if isinstance(item, dict) and seg.field in item
                        ]
                        raise PathError(
                            f"{where}[{seg.field}={seg.value}]: no item with {seg.field} "
                            f"'{seg.value}' (have: {', '.join(names) or '(none)'})"
                        )
                for i in idxs:
                    nxt.append(((*loc, i), value[i], item_tp))
        states = nxt
    return [loc for loc, _, _ in states]


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


# --------------------------------------------------------------------------------------------
# Operations


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def shift_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clipped to the end of a shorter month."""
    total = day.year * 12 + (day.month - 1) + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def apply_operation(current: Any, op: str, operand: Any) -> Any:
    """The new value of a field; raises :class:`PathError` if ``op`` cannot apply to it."""
    if op == "set":
        return copy.deepcopy(operand)
    if current is _ABSENT or current is None:
        raise PathError(f"has no value in the base config to {op.replace('_', ' ')}")
    if op in ("scale", "add"):
        if not _is_number(current):
            hint = (
                " (point the path at a number, e.g. '.mean')" if isinstance(current, dict) else ""
            )
            raise PathError(f"is {_describe(current)}, not a number: cannot {op} it{hint}")
        if not _is_number(operand):
            raise PathError(f"{op} needs a number (got {operand!r})")
        new = current * operand if op == "scale" else current + operand
        # Keep integers integral (beds, counts) when the result is a whole number.
        if isinstance(current, int) and float(new).is_integer():
            return int(new)
        return float(new)
    if op in ("shift_months", "shift_days"):
        day = _as_date(current)
        if day is None:
            raise PathError(f"is {_describe(current)}, not a date: cannot {op.replace('_', ' ')}")
        if not isinstance(operand, int) or isinstance(operand, bool):
            raise PathError(f"{op} needs a whole number (got {operand!r})")
        moved = shift_months(day, operand) if op == "shift_months" else day + dt.timedelta(operand)
        return moved.isoformat()
    raise PathError(f"unknown operation '{op}' (allowed: {', '.join(OPERATIONS)})")


def _get(raw: Any, loc: Loc) -> Any:
    value = raw
    for part in loc:
        if isinstance(value, dict):
            if part not in value:
                return _ABSENT
            value = value[part]
        else:
            value = value[part]
    return value


def _put(raw: Any, loc: Loc, new: Any) -> None:
    parent = _get(raw, loc[:-1])
    parent[loc[-1]] = new


@dataclass(frozen=True)
class Override:
    """One change: ``op`` with ``value`` at ``path``; ``where`` says where it was written."""

    path: str
    op: str
    value: Any
    where: str = ""

    @property
    def label(self) -> str:
        """How the override is named in messages: where it is written and its path."""
        return f"{self.where} ({self.path})" if self.where else self.path


@dataclass(frozen=True)
class Applied:
    """The concrete locations an override changed (for mapping validation errors back)."""

    override: Override
    locs: tuple[Loc, ...]


def apply_overrides(
    raw: dict[str, Any], overrides: Sequence[Override], source: str = "<experiment>"
) -> tuple[dict[str, Any], list[Applied]]:
    """Apply ``overrides`` in order to a deep copy of ``raw``.

    Raises :class:`ScenarioError` naming the override's path if a path does not exist or an
    operation does not fit the value there.
    """
    data = copy.deepcopy(raw)
    applied: list[Applied] = []
    for ov in overrides:
        if ov.op == "remove":
            if ov.value is not True:
                raise ScenarioError([Issue(ov.label, "remove takes true (remove: true)")], source)
            remove_items(data, [ov], source, containing=False)
            applied.append(Applied(ov, ()))
            continue
        try:
            locs = resolve(data, ov.path, for_set=ov.op == "set")
            for loc in locs:
                try:
                    _put(data, loc, apply_operation(_get(data, loc), ov.op, ov.value))
                except PathError as exc:
                    raise PathError(f"{format_path(loc)} {exc}") from None
        except PathError as exc:
            raise ScenarioError([Issue(ov.label, str(exc))], source) from None
        applied.append(Applied(ov, tuple(locs)))
    return data, applied


def attribute_issues(issues: Sequence[Issue], applied: Sequence[Applied]) -> list[Issue]:
    """Rename validation issues caused by an override so they name the override's path.

    An issue at (or below) a location an override changed is attributed to the last such
    override; other issues keep their config path.
    """
    out: list[Issue] = []
    for issue in issues:
        owner: Applied | None = None
        for a in reversed(applied):
            for loc in a.locs:
                p = format_path(loc)
                if issue.path == p or issue.path.startswith((p + ".", p + "[")):
                    owner = a
                    break
            if owner is not None:
                break
        if owner is None:
            out.append(issue)
        else:
            detail = "" if issue.path == format_path(owner.locs[0]) else f" at {issue.path}"
            out.append(Issue(owner.override.label, f"{issue.message}{detail}"))
    return out


# Fields that name a home or contract (``name``) elsewhere in a config, by where they live.
_REFERENCES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("staffing", "homes"), "home"),
    (("demand", "prevention"), "home"),
)
_UNIT_LISTS = (("provision", "homes"), ("provision", "block_contracts"), ("provision", "dps"))


def _item_of(loc: Loc) -> Loc | None:
    """The list item a location lies in (the loc itself if it is an item), or None."""
    for i in range(len(loc) - 1, -1, -1):
        if isinstance(loc[i], int):
            return loc[: i + 1]
    return None


def remove_items(
    data: dict[str, Any], removals: Sequence[Override], source: str, containing: bool = True
) -> None:
    """Delete, in place, the list items the ``removals`` point at (with ``containing``, the
    item a path points into, e.g. ``homes[name=X].beds``), then what refers to a removed home
    or contract by name. Raises :class:`ScenarioError` naming the override on a path that is
    no list item, or each cohort entry still living in a removed unit."""
    targets: list[tuple[Loc, Override]] = []
    for ov in removals:
        try:
            locs = resolve(data, ov.path, for_set=containing)
        except PathError as exc:
            raise ScenarioError([Issue(ov.label, str(exc))], source) from None
        for loc in locs:
            item = (
                _item_of(loc) if containing else (loc if loc and isinstance(loc[-1], int) else None)
            )
            if item is None:
                raise ScenarioError(
                    [
                        Issue(
                            ov.label,
                            f"{format_path(loc)} is not a list item: remove deletes one, e.g. "
                            "provision.homes[name=X]",
                        )
                    ],
                    source,
                )
            if item not in [t for t, _ in targets]:
                targets.append((item, ov))
    removed: dict[str, Override] = {}
    for item, ov in targets:
        if tuple(item[:-1]) in _UNIT_LISTS:
            unit = _get(data, item)
            if isinstance(unit, dict) and "name" in unit:
                removed[str(unit["name"])] = ov

    # Delete from the end so that earlier indices stay valid.
    def key(loc: Loc) -> list[tuple[int, int, str]]:
        return [(1, p, "") if isinstance(p, int) else (0, 0, p) for p in loc]

    for item, _ in sorted(targets, key=lambda t: key(t[0]), reverse=True):
        parent: Any = _get(data, item[:-1])
        del parent[item[-1]]
    _drop_references(data, removed, source)


def _drop_references(data: dict[str, Any], removed: dict[str, Override], source: str) -> None:
    if not removed:
        return
    cohort = _get(data, ("demand", "initial_cohort"))
    stuck = [
        Issue(
            removed[str(entry["unit"])].label,
            f"demand.initial_cohort[{i}] has {entry.get('count', '?')} children living in "
            f"'{entry['unit']}', which this removes: remove or move them too",
        )
        for i, entry in enumerate(cohort if isinstance(cohort, list) else [])
        if isinstance(entry, dict) and str(entry.get("unit")) in removed
    ]
    if stuck:
        raise ScenarioError(stuck, source)
    for where, field in _REFERENCES:
        items = _get(data, where)
        if isinstance(items, list):
            items[:] = [
                x for x in items if not (isinstance(x, dict) and str(x.get(field)) in removed)
            ]
    staffing = data.get("staffing")
    if isinstance(staffing, dict) and staffing.get("homes") == []:
        del data["staffing"]  # no home left to staff
