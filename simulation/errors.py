"""Config problems as one-line messages naming the field path and what is allowed."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ValidationError

# Values echoed back in an error line (a key, a value, a name) are cut to this many characters,
# and a whole message to MESSAGE_LIMIT, so a 2 MB key cannot flood the terminal.
ECHO_LIMIT = 80
MESSAGE_LIMIT = 400


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, marking the cut with its full length."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text):,} characters)"


def echo(value: Any) -> str:
    """A value's repr for an error line, at most :data:`ECHO_LIMIT` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of {value.bit_length()} bits>"  # repr would be slow or refused
    return shorten(repr(value))


class HugeInteger:
    """A YAML integer of more than 30 digits, kept unconverted so validation names its field
    (every numeric field refuses it; Python refuses to convert more than 4,300 digits)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


@dataclass(frozen=True)
class Issue:
    """One problem in a config: where (a dotted field path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{shorten(self.path, 2 * ECHO_LIMIT)}: {shorten(self.message, MESSAGE_LIMIT)}"


class ScenarioError(ValueError):
    """A config (or data file, or override) that cannot be used, with every problem found."""

    def __init__(self, issues: list[Issue], source: str = "<config>") -> None:
        self.issues = issues
        self.source = source
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The first problem on one line, with a count of any others."""
        first = f"{self.source}: {self.issues[0]}" if self.issues else f"{self.source}: invalid"
        more = len(self.issues) - 1
        return first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")

    def lines(self) -> list[str]:
        return [f"{self.source}: {issue}" for issue in self.issues]


def format_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = shorten(str(part))
            out += f".{name}" if out else name
    return out or "(top level)"


def _unwrap(tp: Any) -> Any:
    """Strip Annotated / Optional wrappers, keeping the informative type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
            else:
                return tp
        else:
            return tp


def _union_members(tp: Any) -> dict[str, type[BaseModel]]:
    """Tag -> model for a discriminated union of models with a literal ``dist`` field."""
    members: dict[str, type[BaseModel]] = {}
    for arg in typing.get_args(tp):
        arg = _unwrap(arg)
        if isinstance(arg, type) and issubclass(arg, BaseModel) and "dist" in arg.model_fields:
            annotation = arg.model_fields["dist"].annotation
            for tag in typing.get_args(annotation):
                members[str(tag)] = arg
    return members


def resolve_path(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[Any, list[str | int]]:
    """Walk a pydantic ``loc`` through the model types.

    Returns the type found at ``loc`` (or None when it leaves the schema) and the loc with
    pydantic's union tags removed, so paths read as the user wrote them.
    """
    tp: Any = root
    clean: list[str | int] = []
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = None
            for name, info in tp.model_fields.items():
                if part in (name, info.alias):
                    field = info
                    break
            clean.append(part)
            if field is None:
                return None, clean + [str(p) for p in parts[i + 1 :]]
            tp = field.annotation
        elif origin is list:
            clean.append(part)
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            clean.append(part)
            tp = typing.get_args(tp)[1]
        elif origin in (Union, types.UnionType):
            members = _union_members(tp)
            if isinstance(part, str) and part in members:
                tp = members[part]  # pydantic's tag: not part of the user's path
            else:
                return None, clean + [str(p) for p in parts[i:]]
        else:
            clean.append(part)
            tp = None
        i += 1
    return tp, clean


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def issues_from_validation_error(exc: ValidationError, root: type[BaseModel]) -> list[Issue]:
    """One :class:`Issue` per pydantic error, with readable paths and allowed values."""
    issues: list[Issue] = []
    unknown: list[Issue] = []  # reported first: a typo'd key also makes a field "missing"
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            parent, clean_parent = resolve_path(root, loc[:-1])
            parent = _unwrap(parent)
            path = format_path((*clean_parent, loc[-1]))
            if isinstance(parent, type) and issubclass(parent, BaseModel):
                names = [f for f in _field_names(parent) if f != "dist"]
                close = difflib.get_close_matches(shorten(str(loc[-1])), names, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                unknown.append(Issue(path, f"unknown field; {hint}allowed: {', '.join(names)}"))
            else:
                unknown.append(Issue(path, "unknown field"))
            continue
        key_problem = bool(loc) and loc[-1] == "[key]"
        if key_problem:
            loc = loc[:-1]
        _, clean = resolve_path(root, loc)
        path = format_path(tuple(clean))
        msg = err["msg"].replace("Input should be", "must be").removeprefix("Value error, ")
        if key_problem:
            msg = f"key {msg}"
        if kind == "missing":
            msg = "required field is missing"
        elif kind.startswith("union_tag"):
            msg = msg.replace("Input tag", "distribution").replace("found using 'dist' ", "")
        value = err.get("input")
        if kind not in ("missing", "model_type", "dict_type") and _is_scalar(value):
            msg = f"{msg} (got {echo(value)})"
        issues.append(Issue(path, msg))
    return unknown + issues


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | HugeInteger) or value is None
