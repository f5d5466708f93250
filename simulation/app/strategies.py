"""The strategies the app compares, and the tables and files made from their runs: pure
functions the page calls and tests call without a browser.

A :class:`Variant` is one strategy: its name, its validated scenario, the list of what differs
from the base (lever edits, or an experiment's overrides), and its config as plain data in the
layout of the original file (so that :func:`commented_yaml` can write it back into the original
text with every comment kept). The baseline is a variant with no changes.

Tables are numbers (formatting for people is :mod:`simulation.display`'s, done by the page);
the downloads are these same numbers as CSV and xlsx.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from simulation import display
from simulation.app.levers import Edits, apply_levers, changed_levers, current_levers
from simulation.compare import paired_differences
from simulation.experiments.driver import ExperimentResult
from simulation.experiments.overrides import Override, apply_overrides
from simulation.experiments.spec import Experiment, Strategy
from simulation.findings import cost_by_year, opening_dates
from simulation.outputs import write_outputs
from simulation.plots import openings_from_units
from simulation.report import from_result, render_html
from simulation.report.experiment import ExperimentData, render_experiment_html
from simulation.runner import RunResult
from simulation.scenario import Scenario, parse_scenario

BASELINE = "Baseline"
MAX_VARIANTS = 6
# The headline metrics, plus the parts of the cost an opening date or a bed count moves.
COMPARED = [
    *display.HEADLINE_METRICS,
    "cost_internal_gbp",
    "cost_spot_gbp",
    "internal_usable_bed_days",
]


@dataclass(frozen=True)
class Variant:
    """One strategy: ``raw`` is its config as plain data, laid out as the original file."""

    name: str
    scenario: Scenario
    changes: tuple[str, ...]
    raw: dict[str, Any]


@dataclass(frozen=True)
class Base:
    """What the strategies are built on: a config (``experiment`` None) or an experiment."""

    sid: str  # identifies the base: widget keys and cached results hang on it
    scenario: Scenario
    raw: dict[str, Any]  # the config as plain data, as written
    text: str  # the original YAML text (its comments are kept in the downloads)
    experiment: Experiment | None = None


def name_problem(names: Sequence[str]) -> str | None:
    """Why these variant names cannot be used together (None if they can): each must be
    given, unique, and not the baseline's."""
    seen: set[str] = set()
    for name in names:
        clean = name.strip()
        if not clean:
            return "Every variant needs a name."
        if clean.casefold() == BASELINE.casefold():
            return f"'{BASELINE}' names the unedited config: give the variant another name."
        if clean.casefold() in seen:
            return f"Two variants are called '{clean}': give each its own name."
        seen.add(clean.casefold())
    return None


def baseline_variant(raw: Mapping[str, Any], scenario: Scenario) -> Variant:
    """The unedited config."""
    return Variant(BASELINE, scenario, (), copy.deepcopy(dict(raw)))


def lever_variant(
    name: str, raw: Mapping[str, Any], base: Scenario, edits: Edits, source: str
) -> Variant:
    """The base config with the lever ``edits``; :class:`ScenarioError` if they make an
    invalid scenario. The edits are applied to the original layout (``raw``), which validates
    to the same scenario as applying them to ``base.to_dict()``."""
    cfg = base.to_dict()
    changes = changed_levers(current_levers(cfg), edits, cfg, display.need_labels(base))
    edited = apply_levers(raw, edits)
    return Variant(name, parse_scenario(edited, source), tuple(changes), edited)


def override_text(override: Override) -> str:
    """One experiment override as the user reads it."""
    if override.op == "remove":
        return f"remove {override.path}"
    return f"{override.path}: {override.op} {override.value}"


def experiment_variant(
    name: str, raw: Mapping[str, Any], scenario: Scenario, overrides: Sequence[Override]
) -> Variant:
    """An experiment's strategy: its (already validated) scenario and its overrides."""
    edited, _ = apply_overrides(dict(raw), list(overrides), name)
    return Variant(name, scenario, tuple(override_text(o) for o in overrides), edited)


# -- the commented YAML of a variant ---------------------------------------------------------


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    # The shipped configs' layout: lists indented under their key, long lines kept whole.
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def _same(old: Any, new: Any) -> bool:
    """Equal as config values (a date and its ISO text are the same date)."""
    if isinstance(old, dt.date) and isinstance(new, str):
        return old.isoformat() == new
    # True == 1 in Python, but not in a config.
    return bool(old == new) and isinstance(old, bool) == isinstance(new, bool)


def _as_node(new: Any, like: Any = None) -> Any:
    """A plain value ready to put into the commented map (a date stays a date)."""
    if isinstance(new, str) and isinstance(like, dt.date):
        try:
            return dt.date.fromisoformat(new)
        except ValueError:
            return new
    return new


def _merge(old: Any, new: Any) -> Any:
    """``new`` written into ``old`` in place, changing only what differs, so the comments
    attached to what did not change stay where they were."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _merge(old[key], value) if key in old else _as_node(value)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        if len(old) != len(new):
            old_names = [x.get("name") if isinstance(x, Mapping) else None for x in old]
            new_names = [x.get("name") if isinstance(x, Mapping) else None for x in new]
            if None in old_names or not set(new_names) <= set(old_names):
                return new
            for i in reversed(range(len(old))):  # items removed by name (experiment removals)
                if old_names[i] not in new_names:
                    del old[i]
            if [x.get("name") for x in old] != new_names:
                return new
        for i, value in enumerate(new):
            old[i] = _merge(old[i], value)
        return old
    if _same(old, new):
        return old
    return _as_node(new, old)


def commented_yaml(
    original: str,
    variant: Variant,
    replications: int,
    seed: int,
) -> str:
    """The original config text with ``variant``'s changes applied, its comments kept.

    ``name`` becomes the variant's name, ``run.replications`` and ``run.seed`` what was run,
    and a header comment lists the changes, so the file reruns the variant as the app ran it.
    """
    y = _yaml()
    doc = y.load(original)
    if not isinstance(doc, CommentedMap):
        raise ValueError("the original config is not a mapping")
    raw = copy.deepcopy(variant.raw)
    raw["name"] = _slug(variant.name, variant.scenario.name)
    run = dict(raw.get("run") or {})
    run["replications"] = int(replications)
    run["seed"] = int(seed)
    raw["run"] = run
    _merge(doc, raw)
    out = io.StringIO()
    y.dump(doc, out)
    lines = [
        f"# {variant.name}: written by the sufficiency app from {variant.scenario.name},",
        f"# run with {replications} replications and seed {seed}.",
    ]
    if variant.changes:
        lines.append("# Changes from the original config:")
        lines += [f"#   - {c}" for c in variant.changes]
        lines.append("# The comments below describe the original values.")
    else:
        lines.append("# No changes from the original config.")
    return "\n".join(lines) + "\n#\n" + out.getvalue()


def _slug(name: str, base: str) -> str:
    """A config name for a variant: the base's name and the variant's, in file-name letters."""
    if name == BASELINE:
        return base
    tail = "".join(c if c.isalnum() else "-" for c in name.strip().lower()).strip("-")
    return f"{base}-{'-'.join(p for p in tail.split('-') if p) or 'variant'}"


def file_stem(name: str) -> str:
    """A file name for a strategy's download."""
    return "-".join(p for p in "".join(c if c.isalnum() else "-" for c in name).split("-") if p)


def comment_lines(text: str) -> list[str]:
    """The comment lines of a YAML text (stripped), for checking a round trip keeps them."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


# -- tables ----------------------------------------------------------------------------------


def comparison(
    results: Mapping[str, RunResult], baseline: str = BASELINE, metrics: Sequence[str] = COMPARED
) -> pd.DataFrame:
    """Every strategy against the baseline, paired by replication (common random numbers):
    one row per strategy and metric, :func:`paired_differences`'s columns plus ``strategy``
    and ``p_better`` (the share of pairs in which the strategy is better, read the metric's
    way; NaN where neither direction is better)."""
    base = results[baseline].summary
    present = [m for m in metrics if m in base.columns]
    parts = []
    for name, result in results.items():
        if name == baseline:
            continue
        diff = paired_differences(base, result.summary, present)
        diff.insert(0, "strategy", name)
        diff["p_better"] = [
            display.p_better(m, lo, hi)
            for m, lo, hi in zip(
                diff["metric"], diff["p_edited_lower"], diff["p_edited_higher"], strict=True
            )
        ]
        parts.append(diff)
    return pd.concat(parts, ignore_index=True)


COMPARISON_COLUMNS = (
    "Metric (whole run)",
    "Strategy",
    "Baseline",
    "Strategy's value",
    "Difference (95% CI)",
    "P(better)",
)


def comparison_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison` as text for people: display names, units, signed differences;
    grouped by metric so each metric's strategies sit together."""
    rows = []
    order = {m: i for i, m in enumerate(dict.fromkeys(table["metric"]))}
    for rec in sorted(table.to_dict("records"), key=lambda r: order[r["metric"]]):
        m = str(rec["metric"])
        like = rec["baseline_mean"]
        ci = display.interval(
            display.difference(m, rec["ci_low"], like), display.difference(m, rec["ci_high"], like)
        )
        rows.append(
            (
                display.metric_label(m),
                str(rec["strategy"]),
                display.value(m, like),
                display.value(m, rec["edited_mean"], like),
                f"{display.difference(m, rec['mean_diff'], like)} ({ci})",
                display.probability(rec["p_better"]),
            )
        )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def comparison_download(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison` for the CSV and xlsx downloads: numbers, named with their units."""
    out = table.rename(columns={"edited_mean": "strategy_mean"}).copy()
    out.insert(2, "metric_label", [display.metric_label(m, with_unit=True) for m in out["metric"]])
    out.insert(3, "better_when", [display.metric_info(m).better or "" for m in out["metric"]])
    return out


def costs_by_year(results: Mapping[str, RunResult]) -> pd.DataFrame:
    """Cost per UK financial year of every strategy (:func:`findings.cost_by_year`): one row
    per strategy and year, ``mean_gbp``, ``p5_gbp``, ``p95_gbp``."""
    parts = []
    for name, result in results.items():
        table = cost_by_year(result.finance)
        table.insert(0, "strategy", name)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def costs_by_year_display(table: pd.DataFrame) -> pd.DataFrame:
    """Financial years down, strategies across: each cell the mean and the 5th to 95th
    percentile across replications."""
    cells = table.assign(
        cell=[
            f"{display.money(m, like=m)} ({display.money(lo, like=m)} to "
            f"{display.money(hi, like=m)})"
            for m, lo, hi in zip(table["mean_gbp"], table["p5_gbp"], table["p95_gbp"], strict=True)
        ]
    )
    wide = cells.pivot(index="financial_year", columns="strategy", values="cell")
    wide = wide[list(dict.fromkeys(table["strategy"]))]
    wide.index.name = "Financial year"
    wide.columns.name = None
    return wide


def opening_dates_by_strategy(results: Mapping[str, RunResult]) -> pd.DataFrame:
    """Each strategy's new homes: planned against simulated opening
    (:func:`findings.opening_dates`), one row per strategy and home that opens during the run;
    empty if none does."""
    parts = []
    for name, result in results.items():
        start = result.scenario.run.start_date
        table = opening_dates(openings_from_units(result.units, start))
        table.insert(0, "strategy", name)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


OPENING_COLUMNS = (
    "Home",
    "Strategy",
    "Planned opening",
    "Simulated opening: median (5th to 95th percentile)",
    "Open by the end",
)


def opening_dates_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`opening_dates_by_strategy` as text, each home's strategies together."""
    if table.empty:
        return pd.DataFrame(columns=list(OPENING_COLUMNS))
    order = {u: i for i, u in enumerate(dict.fromkeys(table["unit"]))}
    rows = []
    for rec in sorted(table.to_dict("records"), key=lambda r: order[r["unit"]]):
        spread = display.interval(display.uk_date(rec["p5_date"]), display.uk_date(rec["p95_date"]))
        rows.append(
            (
                str(rec["unit"]),
                str(rec["strategy"]),
                display.uk_date(rec["planned_date"]),
                f"{display.uk_date(rec['median_date'])} ({spread})",
                display.share(rec["opened_share"], decimals=0),
            )
        )
    return pd.DataFrame(rows, columns=list(OPENING_COLUMNS))


def csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode("utf-8")


def xlsx_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """An Excel workbook with one sheet per table."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, table in sheets.items():
            table.to_excel(writer, sheet_name=name[:31], index=False)
    return buf.getvalue()


def results_zip(results: Mapping[str, RunResult], table: pd.DataFrame) -> bytes:
    """Every strategy's result folder (as ``sufficiency run`` writes it) and the comparison,
    zipped."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (name, result) in enumerate(results.items()):
            label = f"{i}-{file_stem(name) or 'strategy'}"
            folder = write_outputs(result, Path(tmp) / label)
            for f in sorted(folder.iterdir()):
                z.write(f, f"{label}/{f.name}")
        z.writestr("comparison.csv", comparison_download(table).to_csv(index=False))
    return buf.getvalue()


def report_html(results: Mapping[str, RunResult], strategy: str) -> str:
    """The run report of one strategy (its summary, tables and figures)."""
    return render_html(from_result(results[strategy]))


def comparison_report_html(results: Mapping[str, RunResult], strategies: Sequence[Variant]) -> str:
    """The report of every strategy against the baseline (the first), as ``sufficiency
    experiment --report`` writes it: the strategies' runs become an experiment's result, and
    the appendix lists each strategy's changes to the base config."""
    names = [v.name for v in strategies]
    first = results[names[0]]
    summary = pd.concat([results[n].summary.assign(strategy=n) for n in names], ignore_index=True)
    summary = summary[["strategy", *[c for c in summary.columns if c != "strategy"]]]
    experiment = Experiment(
        name=f"{first.scenario.name}: strategies compared in the app",
        description=first.scenario.description,
        source="the what-if app",
        base_path=Path("."),
        seed=first.seed,
        replications=first.replications,
        stop=None,
        baseline=names[0],
        metrics=tuple(m for m in COMPARED if m in summary.columns),
        strategies=tuple(Strategy(v.name, v.scenario) for v in strategies),
    )
    result = ExperimentResult(
        experiment=experiment,
        replications=first.replications,
        summary=summary,
        run_ids={},
        where=f"{first.workers} processes (the what-if app)",
    )
    lines = [f"# Strategies compared in the app, each a set of changes to {first.scenario.name}"]
    for v in strategies:
        lines.append(f"{v.name}:")
        lines += [f"  - {change}" for change in v.changes] or ["  - no changes"]
    return render_experiment_html(ExperimentData(result, spec_text="\n".join(lines) + "\n"))


__all__ = [
    "BASELINE",
    "COMPARED",
    "MAX_VARIANTS",
    "Variant",
    "baseline_variant",
    "commented_yaml",
    "comparison",
    "comparison_display",
    "comparison_report_html",
    "costs_by_year",
    "costs_by_year_display",
    "experiment_variant",
    "lever_variant",
    "name_problem",
]
