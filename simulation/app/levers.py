"""The what-if levers, as pure functions the web page calls (and tests call without a browser).

A lever edit is a plain mapping; :func:`apply_levers` turns a validated scenario's dict plus the
edits into a new config dict, which the page validates with :func:`parse_scenario` like any
config, so a bad edit (a home opening after it closes, say) is reported field by field.

Nothing here accepts a file-system path or code from the browser: shipped configs are offered by
name, and an upload is parsed as plain data (a safe loader that refuses a key given twice).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from simulation.display import uk_date
from simulation.errors import Issue, ScenarioError
from simulation.scenario import (
    MAX_CHILDREN_PER_REPLICATION,
    Scenario,
    expected_children,
    parse_scenario,
    parse_yaml,
)

MAX_UPLOAD_BYTES = 1_000_000
MAX_CHILDREN_PER_CLICK = 40 * MAX_CHILDREN_PER_REPLICATION
"""The work one click of *Run* may ask for: children simulated over every strategy and every
replication (the estimate ``validate`` bounds per replication, times the replications, summed
over the baseline and the variants). 2,000,000 is about a minute of one core: Coventry 2023's
1,000 paired replications, or 20 of a scenario at the per-replication budget."""
# Parameters of every distribution kind that scale with the variable (lengths in days):
# multiplying them all by k multiplies every draw, hence the mean, by k.
SCALE_KEYS = ("mean", "scale", "min", "mode", "max", "value")


class HomeEdit(TypedDict):
    """Levers of one council home (config order)."""

    open_date: dt.date | None
    beds: int


class NeedEdit(TypedDict):
    """Levers of one need category."""

    arrivals_per_year: float
    los_mean_days: float


class Edits(TypedDict, total=False):
    """All levers: homes and block contracts in config order, needs by name, and staff
    turnover (only when the config models staffing)."""

    homes: list[HomeEdit]
    block_beds: list[int]
    needs: dict[str, NeedEdit]
    staff_turnover_per_year: float


def configs_dir() -> Path:
    """The shipped ``configs/`` folder of a source checkout (may not exist when installed)."""
    return Path(__file__).resolve().parents[2] / "configs"


def shipped_configs() -> dict[str, Path]:
    """Shipped configs by file name (the browser sees and sends names only)."""
    folder = configs_dir()
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.glob("*.yaml"))}


def scenario_from_upload(content: bytes, filename: str = "upload.yaml") -> Scenario:
    """Validate an uploaded YAML file's bytes; problems raise :class:`ScenarioError`."""
    source = Path(filename).name or "upload.yaml"
    if len(content) > MAX_UPLOAD_BYTES:
        raise ScenarioError(
            [Issue("(file)", f"too large ({len(content):,} bytes; at most {MAX_UPLOAD_BYTES:,})")],
            source,
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError([Issue("(file)", "not UTF-8 text")], source) from None
    data = parse_yaml(text, source)
    return parse_scenario(data, source)


def number_of(value: Any) -> float:
    """A config number, or the mean of an uncertain one (a distribution of its value)."""
    return mean_of(value) if isinstance(value, Mapping) else float(value)


def mean_of(dist: Mapping[str, Any]) -> float:
    """Mean of a distribution given as a config mapping (a parameter may itself be uncertain:
    its mean is used)."""
    kind = dist.get("dist")
    if kind in ("lognormal", "gamma", "exponential", "beta"):
        return number_of(dist["mean"])
    if kind == "fixed":
        return number_of(dist["value"])
    if kind == "uniform":
        return (float(dist["min"]) + float(dist["max"])) / 2.0
    if kind == "triangular":
        return (float(dist["min"]) + float(dist["mode"]) + float(dist["max"])) / 3.0
    if kind == "empirical":
        values = [float(v) for v in dist["values"]]
        weights = [float(w) for w in dist.get("weights") or [1.0] * len(values)]
        return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)
    if kind == "weibull":
        import math

        return number_of(dist["scale"]) * math.gamma(1.0 + 1.0 / float(dist["shape"]))
    raise ValueError(f"unknown distribution {kind!r}")


def scale_distribution(dist: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """The same distribution with every draw multiplied by ``factor`` (shape and cv kept; an
    uncertain parameter is scaled as a distribution)."""
    if factor <= 0:
        raise ValueError(f"scale factor must be positive (got {factor})")
    out = dict(dist)
    for key in SCALE_KEYS:
        if key in out:
            v = out[key]
            out[key] = (
                scale_distribution(v, factor) if isinstance(v, Mapping) else float(v) * factor
            )
    if "values" in out:
        out["values"] = [float(v) * factor for v in out["values"]]
    return out


def current_levers(config: Mapping[str, Any]) -> Edits:
    """The lever values a config has (the starting point of the page's widgets)."""
    prov = config.get("provision", {})
    edits: Edits = {
        "homes": [
            {
                "open_date": dt.date.fromisoformat(h["open_date"]) if h.get("open_date") else None,
                "beds": int(h["beds"]),
            }
            for h in prov.get("homes", [])
        ],
        "block_beds": [int(b["beds"]) for b in prov.get("block_contracts", [])],
        "needs": {
            name: {
                "arrivals_per_year": number_of(need["arrivals_per_year"]),
                "los_mean_days": mean_of(need["length_of_stay_days"]),
            }
            for name, need in config["demand"]["needs"].items()
        },
    }
    staffing = config.get("staffing")
    if staffing:
        edits["staff_turnover_per_year"] = number_of(staffing.get("turnover_per_year", 0.33))
    return edits


def apply_levers(config: Mapping[str, Any], edits: Edits) -> dict[str, Any]:
    """A new config dict: ``config`` (a scenario's ``to_dict()``) with the levers applied.

    A home's ``open_date`` of None leaves it open from before the start; a date on or before the
    start date means the same. The result is not validated: pass it to ``parse_scenario``.
    """
    out: dict[str, Any] = copy.deepcopy(dict(config))
    start = dt.date.fromisoformat(str(out["run"]["start_date"]))
    homes = out.get("provision", {}).get("homes", [])
    if len(edits["homes"]) != len(homes):
        raise ValueError("home levers do not match the config's homes")
    for home, edit in zip(homes, edits["homes"], strict=True):
        home["beds"] = int(edit["beds"])
        opens = edit["open_date"]
        if opens is None or opens <= start:
            # Open from the start: no project left to run, so no lifecycle stages either.
            home.pop("open_date", None)
            home.pop("lifecycle", None)
        else:
            # A new home's stages move with its planned opening (the project starts earlier
            # or later by the same amount).
            home["open_date"] = opens.isoformat()
    blocks = out.get("provision", {}).get("block_contracts", [])
    if len(edits["block_beds"]) != len(blocks):
        raise ValueError("block-contract levers do not match the config's contracts")
    for block, beds in zip(blocks, edits["block_beds"], strict=True):
        block["beds"] = int(beds)
    for name, need_edit in edits["needs"].items():
        need = out["demand"]["needs"][name]
        rate, old_rate = float(need_edit["arrivals_per_year"]), need["arrivals_per_year"]
        if isinstance(old_rate, Mapping):  # uncertain: keep its spread, move its mean
            if rate > 0 and abs(rate - number_of(old_rate)) > 1e-9 * rate:
                need["arrivals_per_year"] = scale_distribution(old_rate, rate / number_of(old_rate))
            elif rate <= 0:
                need["arrivals_per_year"] = rate
        else:
            need["arrivals_per_year"] = rate
        los = need["length_of_stay_days"]
        old = mean_of(los)
        new = float(need_edit["los_mean_days"])
        if old > 0 and new > 0 and abs(new - old) > 1e-9 * old:
            need["length_of_stay_days"] = scale_distribution(los, new / old)
        elif new <= 0:
            # Leave it to validation to name the field: a non-positive mean is not a stay.
            need["length_of_stay_days"] = {"dist": "fixed", "value": new}
    if "staff_turnover_per_year" in edits and out.get("staffing"):
        turnover = float(edits["staff_turnover_per_year"])
        old_turnover = out["staffing"].get("turnover_per_year")
        if not isinstance(old_turnover, Mapping) or abs(turnover - number_of(old_turnover)) > 1e-9:
            out["staffing"]["turnover_per_year"] = turnover
    return out


def changed_levers(
    base: Edits,
    edited: Edits,
    config: Mapping[str, Any],
    need_labels: Mapping[str, str] | None = None,
) -> list[str]:
    """Human-readable list of the levers that differ between two lever sets (needs by their
    display name, ``need_labels``, else their key)."""
    out: list[str] = []
    labels = need_labels or {}
    homes = config.get("provision", {}).get("homes", [])
    start = dt.date.fromisoformat(str(config["run"]["start_date"]))

    def _norm(d: dt.date | None) -> dt.date | None:
        return None if d is None or d <= start else d

    for home, a, b in zip(homes, base["homes"], edited["homes"], strict=True):
        if _norm(a["open_date"]) != _norm(b["open_date"]):
            before, after = a["open_date"], _norm(b["open_date"])
            was = uk_date(before) if before else "before the start"
            now = uk_date(after) if after else "before the start"
            out.append(f"{home['name']}: opens {now} (was {was})")
        if a["beds"] != b["beds"]:
            out.append(f"{home['name']}: {b['beds']} beds (was {a['beds']})")
    blocks = config.get("provision", {}).get("block_contracts", [])
    for block, a_beds, b_beds in zip(blocks, base["block_beds"], edited["block_beds"], strict=True):
        if a_beds != b_beds:
            out.append(f"{block['name']}: {b_beds} beds (was {a_beds})")
    for key, a_need in base["needs"].items():
        b_need = edited["needs"][key]
        name = labels.get(key, key)
        if abs(a_need["arrivals_per_year"] - b_need["arrivals_per_year"]) > 1e-9:
            out.append(
                f"{name}: {b_need['arrivals_per_year']:g} arrivals a year "
                f"(was {a_need['arrivals_per_year']:g})"
            )
        if abs(a_need["los_mean_days"] - b_need["los_mean_days"]) > 1e-6:
            out.append(
                f"{name}: mean stay {b_need['los_mean_days']:g} days "
                f"(was {a_need['los_mean_days']:g})"
            )
    a_turn, b_turn = base.get("staff_turnover_per_year"), edited.get("staff_turnover_per_year")
    if a_turn is not None and b_turn is not None and abs(a_turn - b_turn) > 1e-9:
        out.append(f"staff turnover: {b_turn:.0%} a year (was {a_turn:.0%})")
    return out


def click_budget_problem(scenarios: list[Scenario], replications: int) -> str | None:
    """Why running ``scenarios`` ``replications`` times each is too much work for one click
    (None if it is not): the children the run would simulate, estimated by the same rule as
    ``validate``'s work budget (:func:`simulation.scenario.expected_children`)."""
    per_replication = [expected_children(s) for s in scenarios]
    children = sum(per_replication) * replications
    if children <= MAX_CHILDREN_PER_CLICK:
        return None
    most = max(1, int(MAX_CHILDREN_PER_CLICK // max(sum(per_replication), 1.0)))
    return (
        f"This run would simulate about {children:,.0f} children ({replications:,} "
        f"replications of {len(scenarios)} scenarios, about {max(per_replication):,.0f} "
        f"children each), more than the app's limit of {MAX_CHILDREN_PER_CLICK:,} a run. "
        f"Use at most {most:,} replications here, or run it with `sufficiency compare`."
    )


def run_key(config: Mapping[str, Any], replications: int, seed: int) -> str:
    """A stable key for caching a run of ``config``."""
    blob = json.dumps({"c": config, "n": replications, "s": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
