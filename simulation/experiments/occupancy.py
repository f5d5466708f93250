"""The occupancy answer: can a council home run at the occupancy its business case assumes?

Two parts, both simulated under the council's own demand, rules and vacancy mechanics:

- **Each council home** of the scenario as it stands: the distribution over replications of its
  occupancy over the run, the probability that it reaches its business case's assumption and the
  usual 75%, 87.5% and 92%, and how often it is full (share of its open weeks at 100%).
- **A new home of 1 to 6 beds** for one need, added to the scenario from the start with the rules
  of an existing home of that need (its template): the new home's occupancy distribution, and what
  it changes for the children, paired with the scenario without it on common random numbers (new
  spot placements, out-of-city share). That is the trade-off: a home sized to run fuller leaves
  more children who do not fit to go elsewhere.

Nothing here is fitted to the business case: occupancy emerges from demand, stays, the admission
rules and the vacancy mechanics (docs/model.md, "Beds").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulation.metrics import compute_metrics
from simulation.metrics.context import build_context
from simulation.metrics.occupancy import unit_weekly
from simulation.model import simulate
from simulation.pool import ProgressCallback, process_map
from simulation.runner import replication_batches
from simulation.scenario import Home, Scenario, parse_scenario
from simulation.stats import mean_ci, paired_ci
from simulation.uncertain import realise

THRESHOLDS_PCT = (75.0, 87.5, 92.0)
Z95 = 1.959964  # two-sided 95% normal quantile
SIZES = (1, 2, 3, 4, 5, 6)
FULL_PCT = 100.0 - 1e-6  # a week at (rounding below) 100% counts as full
_INTERNAL = "internal"


class OccupancyError(ValueError):
    """A request the scenario cannot answer (one line, naming the option)."""


@dataclass(frozen=True)
class OccupancyAnswer:
    """The answer's tables (see the module docstring); ``weekly`` is each existing home's
    weekly occupancy in each replication."""

    homes: pd.DataFrame
    sizes: pd.DataFrame
    weekly: pd.DataFrame
    need: str
    template: str
    replications: int
    seed: int


def _template(scenario: Scenario, need: str | None) -> tuple[str, Home]:
    """The need to size new homes for (default: the need most council homes serve) and the
    existing home whose rules a new home copies (the first serving it)."""
    homes = scenario.provision.homes
    if need is None:
        counts = {n: sum(n in h.needs for h in homes) for n in scenario.need_names}
        need = max(scenario.need_names, key=lambda n: counts[n])
    if need not in scenario.need_names:
        raise OccupancyError(
            f"--need: unknown need '{need}' (allowed: {', '.join(scenario.need_names)})"
        )
    for home in homes:
        if need in home.needs and not home.solo_needs:
            return need, home
    raise OccupancyError(
        f"--need: no council home serves '{need}' to copy rules from (give a need that one does)"
    )


def with_new_home(scenario: Scenario, beds: int, need: str, template: Home) -> Scenario:
    """The scenario plus a ``beds``-bed home for ``need``, open from the start, with the
    template's rules, vacancy settings and running cost per bed."""
    data = scenario.to_dict()
    keep = ("turnaround_days", "repair_probability", "repair_days", "transition_days")
    home: dict[str, Any] = {
        k: v
        for k, v in template.model_dump(mode="json", by_alias=True, exclude_none=True).items()
        if k in keep
    }
    if template.admission is not None:
        home["admission"] = template.admission.model_dump(mode="json", by_alias=True)
    home.update(
        name=f"New {beds}-bed home",
        beds=beds,
        needs=[need],
        in_city=template.in_city,
        match_probability=template.match_probability,
        weekly_running_cost_gbp=template.weekly_running_cost_gbp / template.beds * beds,
    )
    if template.assumed_occupancy is not None:
        home["assumed_occupancy"] = template.assumed_occupancy
    data["provision"]["homes"] = [*data["provision"]["homes"], home]
    data["name"] = f"{scenario.name} + {beds}-bed home"
    return parse_scenario(data)


def _measure(
    scenario: Scenario, seed: int, variant: int, reps: Sequence[int]
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Per replication and council home: occupancy, weeks full; with the replication's new
    spot placements and out-of-city share (one batch of work for a worker)."""
    rows: list[dict[str, Any]] = []
    weekly: list[pd.DataFrame] = []
    for r in reps:
        concrete = realise(scenario, r, seed)  # uncertain values drawn (else scenario itself)
        rep = simulate(concrete, r, seed)
        m = compute_metrics(concrete, rep)
        units = m.units_columns
        w = pd.DataFrame(unit_weekly(build_context(concrete, rep)))
        full = w.assign(full=w["occupancy_pct"] >= FULL_PCT).groupby("unit")["full"]
        open_weeks = w.assign(open=w["beds_usable"] > 0).groupby("unit")["open"].sum()
        full_weeks = full.sum()
        for k, name in enumerate(units["unit"]):
            if units["kind"][k] != _INTERNAL:
                continue
            n_open = int(open_weeks.get(name, 0))
            rows.append(
                {
                    "variant": variant,
                    "replication": r,
                    "unit": name,
                    "beds": units["beds"][k],
                    "occupancy_pct": float(units["occupancy_pct"][k]),
                    "assumed_occupancy_pct": float(units["assumed_occupancy_pct"][k]),
                    "weeks_full_pct": 100.0 * full_weeks.get(name, 0) / n_open
                    if n_open
                    else math.nan,
                    "spot_placements": m.summary["spot_placements"],
                    "out_of_city_share": m.summary["out_of_city_share"],
                }
            )
        if variant == 0:
            weekly.append(w[w["unit"].isin(set(scenario_homes(scenario)))].assign(replication=r))
    return pd.DataFrame(rows), pd.concat(weekly, ignore_index=True) if weekly else None


def scenario_homes(scenario: Scenario) -> list[str]:
    return [h.name for h in scenario.provision.homes]


def _work(item: tuple[Scenario, int, int, list[int]]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    scenario, seed, variant, reps = item
    return _measure(scenario, seed, variant, reps)


def _distribution(x: pd.Series, assumed: float) -> dict[str, float]:
    values = x.dropna().to_numpy()
    row: dict[str, float] = {
        "occupancy_mean_pct": float(values.mean()) if len(values) else math.nan,
        "occupancy_p5_pct": float(np.percentile(values, 5)) if len(values) else math.nan,
        "occupancy_p50_pct": float(np.percentile(values, 50)) if len(values) else math.nan,
        "occupancy_p95_pct": float(np.percentile(values, 95)) if len(values) else math.nan,
        "p_at_or_above_assumed": float(np.mean(values >= assumed))
        if len(values) and not math.isnan(assumed)
        else math.nan,
    }
    for t in THRESHOLDS_PCT:
        row[f"p_at_or_above_{t:g}"] = float(np.mean(values >= t)) if len(values) else math.nan
    return row


def answer(
    scenario: Scenario,
    replications: int,
    seed: int,
    workers: int = 1,
    need: str | None = None,
    sizes: Sequence[int] = SIZES,
    progress: ProgressCallback | None = None,
    on_total: Callable[[int], None] | None = None,
) -> OccupancyAnswer:
    """Simulate the scenario and each sized variant; summarise per home and per size."""
    need, template = _template(scenario, need)
    variants = [scenario, *(with_new_home(scenario, b, need, template) for b in sizes)]
    batches = replication_batches(replications, max(workers, 1))
    items = [(s, seed, v, b) for v, s in enumerate(variants) for b in batches]
    if on_total is not None:
        on_total(replications * len(variants))
    parts, weeks = [], []
    for part, week in process_map(_work, items, workers):
        parts.append(part)
        if week is not None:
            weeks.append(week)
        if progress is not None:
            progress(int(part["replication"].nunique()))
    table = pd.concat(parts, ignore_index=True).sort_values(["variant", "replication", "unit"])
    weekly = pd.concat(weeks, ignore_index=True)
    weekly = weekly.sort_values(["replication", "unit", "week"], kind="stable")
    return OccupancyAnswer(
        homes=_homes_table(table[table["variant"] == 0], scenario),
        sizes=_sizes_table(table, sizes),
        weekly=weekly[
            ["replication", "unit", "week", "beds_usable", "children", "occupancy_pct"]
        ].reset_index(drop=True),
        need=need,
        template=template.name,
        replications=replications,
        seed=seed,
    )


def _homes_table(base: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    rows = []
    for name in scenario_homes(scenario):
        mine = base[base["unit"] == name]
        assumed = float(mine["assumed_occupancy_pct"].iloc[0]) if len(mine) else math.nan
        rows.append(
            {
                "home": name,
                "beds": int(mine["beds"].iloc[0]) if len(mine) else 0,
                "assumed_occupancy_pct": assumed,
                **_distribution(mine["occupancy_pct"], assumed),
                "weeks_full_pct": float(mine["weeks_full_pct"].mean()),
            }
        )
    return pd.DataFrame(rows)


def _sizes_table(table: pd.DataFrame, sizes: Sequence[int]) -> pd.DataFrame:
    """Per size: the new home's occupancy, and the paired change in spot placements and
    out-of-city share against the scenario without it."""
    per_rep = table.drop_duplicates(["variant", "replication"]).set_index(
        ["variant", "replication"]
    )
    base = per_rep.loc[0]
    rows = []
    for v, beds in enumerate(sizes, start=1):
        new = table[(table["variant"] == v) & (table["unit"] == f"New {beds}-bed home")]
        assumed = float(new["assumed_occupancy_pct"].iloc[0]) if len(new) else math.nan
        mine = per_rep.loc[v]
        row: dict[str, float] = {
            "beds": beds,
            **_distribution(new["occupancy_pct"], assumed),
            "weeks_full_pct": float(new["weeks_full_pct"].mean()),
        }
        for metric in ("spot_placements", "out_of_city_share"):
            pair = paired_ci(base.loc[mine.index, metric].to_numpy(), mine[metric].to_numpy())
            row[f"{metric}_change"] = pair.diff.mean
            row[f"{metric}_change_ci_half"] = pair.diff.half_width
        rows.append(row)
    out = pd.DataFrame(rows)
    out["beds"] = out["beds"].astype(int)
    return out


@dataclass(frozen=True)
class Fit:
    """The residual acceptance (``match_probability``) of some homes fitted to their observed
    occupancy: the value whose simulated mean meets it; ``low``-``high``, the values under
    which the observation is a plausible single run (within 1.96 standard deviations of one
    replication's occupancy: an observed period is one realisation, not a mean); and the
    simulated mean at the fitted value with its 95% CI half-width (simulation precision)."""

    homes: tuple[str, ...]
    target_pct: float
    match_probability: float
    low: float
    high: float
    simulated_pct: float
    simulated_half_width_pct: float
    replication_sd_pct: float
    replications: int
    evaluations: int


def with_match_probability(scenario: Scenario, homes: Sequence[str], p: float) -> Scenario:
    data = scenario.to_dict()
    for home in data["provision"]["homes"]:
        if home["name"] in homes:
            home["match_probability"] = p
    return parse_scenario(data)


def _pooled_occupancy(item: tuple[Scenario, int, tuple[str, ...], list[int]]) -> list[float]:
    """Per replication: occupied / usable bed-days pooled over ``homes`` (%)."""
    scenario, seed, homes, reps = item
    out = []
    for r in reps:
        concrete = realise(scenario, r, seed)
        units = compute_metrics(concrete, simulate(concrete, r, seed)).units_columns
        occupied = usable = 0.0
        for k, name in enumerate(units["unit"]):
            if name in homes:
                occupied += float(units["occupied_bed_days"][k])
                usable += float(units["usable_bed_days"][k])
        out.append(100.0 * occupied / usable if usable > 0 else math.nan)
    return out


def fit_match_probability(
    scenario: Scenario,
    homes: Sequence[str],
    target_pct: float,
    replications: int,
    seed: int,
    workers: int = 1,
    steps: int = 10,
    progress: ProgressCallback | None = None,
) -> Fit:
    """Bisection on ``match_probability`` of ``homes`` (common random numbers at every step:
    occupancy rises with it) until their pooled simulated occupancy meets ``target_pct``; the
    range is where one replication's occupancy would cover the target 95% of the time (see
    :class:`Fit`)."""
    known = set(scenario_homes(scenario))
    unknown = [h for h in homes if h not in known]
    if unknown or not homes:
        raise OccupancyError(
            f"--fit-home: no council home named '{(unknown or [''])[0][:60]}' "
            f"(homes: {', '.join(sorted(known))})"
        )
    batches = replication_batches(replications, max(workers, 1))
    names = tuple(homes)
    cache: dict[float, tuple[float, float, float]] = {}

    def occupancy(p: float) -> tuple[float, float, float]:
        if p not in cache:
            s = with_match_probability(scenario, names, p)
            values: list[float] = []
            for part in process_map(
                _pooled_occupancy, [(s, seed, names, b) for b in batches], workers
            ):
                values += part
                if progress is not None:
                    progress(len(part))
            ci = mean_ci(values)
            cache[p] = (ci.mean, ci.half_width, ci.sd)
        return cache[p]

    def solve(offset: float) -> float:
        lo, hi = 0.01, 1.0
        if occupancy(hi)[0] + offset < target_pct:
            return hi
        if occupancy(lo)[0] + offset > target_pct:
            return lo
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            if occupancy(mid)[0] + offset < target_pct:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    top = occupancy(1.0)[0]
    if top < target_pct:
        raise OccupancyError(
            f"--observed: {target_pct:g}% is out of reach: with every fitting child accepted "
            f"(match_probability 1) these homes run at {top:.1f}%; loosen the admission rules "
            "or shorten the vacancy settings"
        )
    p = solve(0.0)
    mean, half, sd = occupancy(p)
    # The range's edges: the p at which mean + 1.96 sd (mean - 1.96 sd) meets the target.
    low, high = solve(Z95 * sd), solve(-Z95 * sd)
    return Fit(names, target_pct, p, low, high, mean, half, sd, replications, len(cache))


__all__ = [
    "Fit",
    "OccupancyAnswer",
    "OccupancyError",
    "answer",
    "fit_match_probability",
    "with_match_probability",
    "with_new_home",
]
