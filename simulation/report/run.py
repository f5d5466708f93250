"""The report of one run: what it found in plain English first, then the evidence.

One file holds everything: a summary whose every number is quoted from a table below it, the
tables (headline numbers, occupancy by home, cost by financial year, what makes the cost
uncertain, opening dates, published outcomes), the figures (PNG, embedded as ``data:`` URIs,
their captions as text), then in an appendix the scenario and the full validated config, and
last the seed and code version that reproduce it. Nothing is fetched from a network when it
opens.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from simulation import display, findings
from simulation.atomic import write_text_atomic
from simulation.errors import ScenarioError
from simulation.experiments.occupancy import OccupancyAnswer
from simulation.kinds import BED_KINDS, KINDS, MARKET_KINDS
from simulation.observed import check_points, coverage_text
from simulation.outputs import code_version, read_tables, run_metadata
from simulation.plots import drawn_at, openings_from_units, standard_figures
from simulation.report import sentences
from simulation.report.html import (
    FIG_WIDTH_IN,
    Numbers,
    appendix,
    esc,
    figure,
    page,
    provenance,
    section,
    table,
    td,
)
from simulation.report.occupancy import occupancy_section
from simulation.runner import RunResult, summarise
from simulation.scenario import Scenario, parse_scenario
from simulation.uncertain import variance_split_table

RESULT_TABLES = ("replications", "weekly", "units", "finance")
SECTIONS = {
    "summary": "Summary",
    "headline": "Headline numbers",
    "homes": "Occupancy by home and contract",
    "years": "Cost by financial year",
    "risk": "What makes the total cost uncertain",
    "openings": "Opening dates: planned against simulated",
    "occupancy": "How full can a home run?",
    "observed": "Published outcomes against the simulation",
    "figures": "Figures",
    "appendix": "Appendix: the scenario and its configuration",
    "provenance": "How to reproduce this report",
}
# Sections a run may lack: the occupancy answer (only with `report --occupancy`), opening dates
# (no home opens during the run), published outcomes (no observed points).
OPTIONAL_SECTIONS = ("occupancy", "openings", "observed")
FOSTER_METRICS = ("want_of_foster_children", "want_of_foster_bed_days", "want_of_foster_cost_gbp")


@dataclass
class RunData:
    """What a report needs from a run, whether fresh from :func:`run` or read from a folder."""

    summary: pd.DataFrame
    weekly: pd.DataFrame
    units: pd.DataFrame
    finance: pd.DataFrame
    meta: dict[str, Any]
    config: dict[str, Any]
    openings: pd.DataFrame | None = None
    source: str = ""
    occupancy: OccupancyAnswer | None = None  # `report --occupancy`: the occupancy answer
    stats: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        if self.summary.empty or self.weekly.empty:
            raise ValueError("the run has no replications: nothing to report")
        self.stats = summarise(self.summary)


def from_result(result: RunResult) -> RunData:
    """Wrap a fresh :class:`RunResult`."""
    return RunData(
        summary=result.summary,
        weekly=result.weekly,
        units=result.units,
        finance=result.finance,
        meta=run_metadata(result),
        config=result.scenario.to_dict(),
        openings=openings_from_units(result.units, result.scenario.run.start_date),
        source="a fresh run",
    )


def load_results(folder: str | Path) -> RunData:
    """Read a results folder written by ``sufficiency run`` (see ``sufficiency outputs``).

    Raises
    ------
    ValueError
        If the folder is not a complete results folder.
    """
    d = Path(folder)
    if not d.is_dir():
        raise ValueError(f"{d}: not a folder")
    try:
        frames = read_tables(d)
        has_doc = (d / "summary.json").is_file()
        doc = json.loads((d / "summary.json").read_text(encoding="utf-8")) if has_doc else {}
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise ValueError(f"{d}: cannot read results ({exc})") from None
    missing = [f"{t} table" for t in RESULT_TABLES if t not in frames]
    missing += [] if has_doc else ["summary.json"]
    if missing:
        raise ValueError(
            f"{d}: not a results folder of 'sufficiency run' (missing {', '.join(missing)})"
        )
    if not isinstance(doc, dict) or "config" not in doc:
        raise ValueError(f"{d}/summary.json: no 'config' (written by an older version?)")
    meta = {k: v for k, v in doc.items() if k not in ("metrics", "config")}
    openings = (
        pd.read_parquet(d / "openings.parquet")
        if (d / "openings.parquet").is_file()
        else openings_from_units(frames["units"], doc["config"]["run"]["start_date"])
    )
    return RunData(
        summary=frames["replications"],
        weekly=frames["weekly"],
        units=frames["units"],
        finance=frames["finance"],
        meta=meta,
        config=doc["config"],
        openings=openings,
        source=str(d),
    )


def _scenario_of(data: RunData) -> Scenario | None:
    """The run's scenario, for display names, the period and the price basis (None if its
    config no longer validates, as from an older version)."""
    try:
        return parse_scenario(data.config)
    except ScenarioError:
        return None


def _stats(data: RunData, scenario: Scenario | None) -> pd.DataFrame:
    """Per metric: mean, P5, P95 and the CI of the mean (from the draws' means when inputs are
    uncertain, since replications of one draw are not independent), with the variance split."""
    if scenario is None or not scenario.uncertain:
        return data.stats
    return variance_split_table(data.stats, data.summary, scenario)


# -- evidence: each table puts the numbers it shows into `nums` ----------------------------------


def headline_metrics(data: RunData, scenario: Scenario | None) -> list[str]:
    """The headline metrics, with the fostering ones when the config has a fostering section."""
    names = list(display.HEADLINE_METRICS)
    if scenario is not None and scenario.fostering is not None:
        names += list(FOSTER_METRICS)
    return [m for m in names if m in set(data.stats["metric"])]


def _headline_section(
    data: RunData, scenario: Scenario | None, stats: pd.DataFrame, nums: Numbers
) -> str:
    by_metric = stats.set_index("metric")
    rows = []
    for name in headline_metrics(data, scenario):
        r = by_metric.loc[name]
        like = r["mean"]

        def v(x: Any, metric: str = name, like: Any = like) -> str:
            return display.value(metric, x, like)

        half = (r["ci_high"] - r["ci_low"]) / 2
        key = f"headline.{name}"
        rows.append(
            [
                td(display.metric_label(name)),
                nums.put(f"{key}.mean", v(r["mean"])),
                nums.put(f"{key}.ci", display.interval(v(r["ci_low"]), v(r["ci_high"]))),
                nums.put(f"{key}.half", "±" + v(half)),
                nums.put(f"{key}.range", display.interval(v(r["p5"]), v(r["p95"]))),
            ]
        )
    n = len(data.summary)
    basis = f" Totals {esc(display.totals_basis(scenario))}." if scenario is not None else ""
    return table(
        ["Metric (whole run)", "Mean", "95% CI of the mean", "± half-width", "P5 to P95"], rows
    ) + (
        f"<p class='note'>Over {n} replications.{basis} The confidence interval says how "
        "precisely the simulation estimates the mean; the P5-P95 range says how much one "
        "possible future can differ from another: plan for the range, not the mean.</p>"
    )


def home_rows(data: RunData) -> pd.DataFrame:
    """Per council home and block contract: its kind, beds, mean and P5/P95 occupancy, the
    business case's occupancy and the share of replications reaching it (NaN if not open)."""
    units = data.units[data.units["kind"].isin(BED_KINDS)]
    rows = []
    for name, grp in units.groupby("unit", sort=False):
        occ = grp["occupancy_pct"].dropna()
        assumed = float(grp["assumed_occupancy_pct"].iloc[0])
        rows.append(
            {
                "unit": str(name),
                "kind": str(grp["kind"].iloc[0]),
                "beds": int(grp["beds"].iloc[0]),
                "open": not occ.empty,
                "mean": occ.mean(),
                "p5": occ.quantile(0.05) if len(occ) else math.nan,
                "p95": occ.quantile(0.95) if len(occ) else math.nan,
                "assumed": assumed,
                "reach": (occ >= assumed).mean()
                if len(occ) and not math.isnan(assumed)
                else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _homes_section(homes: pd.DataFrame, nums: Numbers) -> str:
    if homes.empty:
        return "<p>No council homes or block contracts in this scenario.</p>"
    kinds = {k.name: k.label for k in KINDS}
    rows = []
    for i, r in enumerate(homes.to_dict("records")):
        key = f"home.{i}"
        cells = [td(r["unit"]), td(kinds.get(r["kind"], r["kind"])), td(r["beds"])]
        case = nums.put(f"{key}.case", display.percent(r["assumed"]))
        if not r["open"]:
            cells += [td("not open"), td(""), case, td("")]
        else:
            cells += [
                nums.put(f"{key}.mean", display.percent(r["mean"])),
                nums.put(
                    f"{key}.range",
                    display.interval(display.percent(r["p5"]), display.percent(r["p95"])),
                ),
                case,
                nums.put(f"{key}.reach", display.share(r["reach"], 0)),
            ]
        rows.append(cells)
    return table(
        [
            "Home / contract",
            "Kind",
            "Beds",
            "Occupancy (mean)",
            "P5 to P95",
            "Business case assumes",
            "Replications at or above the business case",
        ],
        rows,
    )


def _years_section(data: RunData, nums: Numbers) -> str:
    years = findings.cost_by_year(data.finance)
    rows = [
        [
            td(r["financial_year"]),
            nums.put(f"year.{r['financial_year']}.mean", display.money(r["mean_gbp"])),
            nums.put(
                f"year.{r['financial_year']}.range",
                display.interval(display.money(r["p5_gbp"]), display.money(r["p95_gbp"])),
            ),
        ]
        for r in years.to_dict("records")
    ]
    return table(["Financial year (April to March)", "Mean", "P5 to P95"], rows) + (
        "<p class='note'>A part year at either end of the run holds only the days simulated.</p>"
    )


def _risk_section(
    data: RunData, scenario: Scenario | None, stats: pd.DataFrame, nums: Numbers
) -> str:
    drivers = findings.cost_risk_drivers(data.summary)
    drivers = drivers[drivers["share_of_variance"].abs() >= 0.005]
    rows = [
        [
            td(display.metric_label(r["part"])),
            nums.put(f"risk.{r['part']}.share", display.share(r["share_of_variance"], 0)),
            td(display.money(r["sd_gbp"])),
            td(display.money(r["mean_gbp"])),
        ]
        for r in drivers.to_dict("records")
    ]
    out = (
        table(["Part of the cost", "Share of the spread in total cost", "Its SD", "Its mean"], rows)
        if rows
        else "<p>The total cost does not vary between replications.</p>"
    )
    out += (
        "<p class='note'>Each part's share is its covariance with the total over the total's "
        "variance across replications: the shares add up to 100% (a part that moves against "
        "the others has a negative share; parts under 0.5% are left out).</p>"
    )
    if scenario is not None and scenario.uncertain and "var_input_share" in stats:
        out += _split_table(stats, nums)
    return out


def _split_table(stats: pd.DataFrame, nums: Numbers) -> str:
    """Inputs against chance: the share of each headline metric's variance that comes from the
    uncertain inputs (the rest is the chance of one future against another)."""
    rows = []
    for r in stats.to_dict("records"):
        m = str(r["metric"])
        if m not in display.HEADLINE_METRICS:
            continue
        key = f"split.{m}"
        rows.append(
            [
                td(display.metric_label(m)),
                nums.put(f"{key}.share", display.share(r["var_input_share"], 0)),
                nums.put(
                    f"{key}.ci",
                    display.interval(
                        display.share(r["var_input_share_low"], 0),
                        display.share(r["var_input_share_high"], 0),
                    ),
                ),
            ]
        )
    return table(
        ["Metric", "Share of variance from uncertain inputs", "95% CI"],
        rows,
        caption="Uncertain inputs against chance",
    )


def _openings_section(data: RunData, nums: Numbers) -> str | None:
    dates = findings.opening_dates(data.openings)
    if dates.empty:
        return None
    rows = [
        [
            nums.put(f"opening.{i}.unit", str(r["unit"])),
            nums.put(f"opening.{i}.planned", display.uk_date(r["planned_date"])),
            nums.put(f"opening.{i}.median", display.uk_date(r["median_date"])),
            nums.put(
                f"opening.{i}.range",
                display.interval(display.uk_date(r["p5_date"]), display.uk_date(r["p95_date"])),
            ),
            nums.put(f"opening.{i}.delay", display.number(r["mean_delay_days"])),
            nums.put(f"opening.{i}.opened", display.share(r["opened_share"], 0)),
        ]
        for i, r in enumerate(dates.to_dict("records"))
    ]
    return table(
        [
            "Home",
            "Planned",
            "Simulated (median)",
            "P5 to P95",
            "Mean delay (days)",
            "Replications in which it opened",
        ],
        rows,
    )


def _observed_section(data: RunData, nums: Numbers | None = None) -> str | None:
    """Each published point (the config's ``observed``) beside the simulated range in its week
    (:func:`simulation.observed.check_points`), when the config has any."""
    scenario = _scenario_of(data)
    if scenario is None or not scenario.observed:
        return None
    nums = nums if nums is not None else Numbers()
    return observed_html(check_points(scenario, data.weekly), nums, "observed")


def observed_html(checks: pd.DataFrame, nums: Numbers, key: str, caption: str = "") -> str:
    """Published points against the simulation (:data:`simulation.observed.CHECK_COLUMNS`),
    with how many the simulated range covers (kept as ``{key}.coverage``)."""
    rows = []
    for r in checks.to_dict("records"):
        rows.append([td(c) for c in (*display.observed_check(r), r["source"])])
    nums.put(f"{key}.coverage", coverage_text(checks))
    return (
        f"<p>{nums.span(f'{key}.coverage')}. Each figure the council published is set beside "
        "the simulation in the week holding its date: the mean across replications and the "
        "range of 90% of them (P5 to P95). A point outside the range is one this configuration "
        "finds unusual: look for the assumption that misses it.</p>"
        + table(
            ["Date", "Figure", "Published", "Simulated mean", "P5 to P95", "Inside", "Source"],
            rows,
            caption=caption or "Published outcomes",
            text_columns=2,
        )
    )


def _figures_section(data: RunData, nums: Numbers) -> str:
    with drawn_at(FIG_WIDTH_IN):
        figs = standard_figures(
            data.weekly,
            data.units,
            data.finance,
            data.config,
            data.meta.get("start_date") or data.config["run"]["start_date"],
            data.meta.get("end_date") or data.weekly["week_start"].max(),
            data.openings,
            captions=False,
        )
    texts = sentences.figure_texts(data, nums)
    return (
        "<div class='figures'>"
        + "".join(
            figure(stem, title, fig, *texts.get(stem, (title + ".", "")))
            for stem, (title, fig) in figs.items()
        )
        + "</div>"
    )


# -- the appendix and provenance -----------------------------------------------------------------


def _scenario_brief(data: RunData, scenario: Scenario | None, nums: Numbers) -> str:
    cfg = data.config
    prov = cfg.get("provision", {})
    homes = prov.get("homes", [])
    blocks = prov.get("block_contracts", [])
    needs_rows = []
    for name, need in cfg.get("demand", {}).get("needs", {}).items():
        los = need.get("length_of_stay_days", {})
        label = scenario.need_label(name) if scenario is not None else name
        needs_rows.append(
            [
                td(label),
                td(display.number(need.get("arrivals_per_year"), 1)),
                td(_dist_text(los)),
            ]
        )
    cohort = sum(int(c.get("count", 0)) for c in cfg.get("demand", {}).get("initial_cohort", []))
    opening = [h for h in homes if h.get("open_date")]
    period = nums.put(
        "plan.period",
        display.run_period(scenario) if scenario is not None else display.DASH,
        "dd",
    )
    prices = nums.put(
        "plan.prices",
        display.price_basis(scenario) if scenario is not None else display.DASH,
        "dd",
    )
    items = [
        (
            "Council homes",
            f"{_count(len(homes), 'home')}, {sum(int(h['beds']) for h in homes)} beds "
            f"({len(opening)} opening during the run)",
        ),
        (
            "Block contracts",
            f"{_count(len(blocks), 'contract')}, {sum(int(b['beds']) for b in blocks)} beds",
        ),
        ("Markets", ", ".join(k for k in MARKET_KINDS if prov.get(k)) or "none"),
        ("Children at the start", f"{cohort}"),
        ("Placement order", " → ".join(cfg.get("placement_policy", {}).get("order", []))),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    dl = f"<dt>Period</dt>{period}<dt>Prices</dt>{prices}" + dl
    return f"<p>{esc(cfg.get('description', ''))}</p><dl>{dl}</dl>" + table(
        ["Need", "New children per year", "Length of stay (days)"],
        needs_rows,
        caption="Demand by need",
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _dist_text(d: Any) -> str:
    if not isinstance(d, dict):
        return str(d)
    params = ", ".join(f"{k} {v}" for k, v in d.items() if k != "dist")
    return f"{d.get('dist', '?')}: {params}"


def _provenance_section(data: RunData) -> str:
    m = data.meta
    name = m.get("scenario", data.config.get("name", ""))
    seed = m.get("seed", "")
    reps = m.get("replications", len(data.summary))
    items = [
        ("Seed", seed),
        ("Replications", reps),
        ("Code version", m.get("code_version", "unknown")),
        ("Run created", m.get("created", "")),
        ("Run time", f"{m['elapsed_seconds']} s on {m.get('workers', 1)} worker(s)")
        if "elapsed_seconds" in m
        else ("Run time", display.DASH),
        ("Results read from", data.source or display.DASH),
        ("Report written", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        ("Report code version", code_version()),
    ]
    return provenance(
        items,
        f"Save the configuration above as <code>{esc(name)}.yaml</code> and run "
        f"<code>sufficiency run {esc(name)}.yaml --replications {esc(reps)} --seed {esc(seed)}"
        "</code> with the same code version to reproduce every number in this report.",
    )


def render_html(data: RunData) -> str:
    """The report as one HTML document (figures embedded; no external resources)."""
    name = data.meta.get("scenario") or data.config.get("name", "scenario")
    scenario = _scenario_of(data)
    stats = _stats(data, scenario)
    nums = Numbers()
    homes = home_rows(data)
    # The evidence first, so every number the summary quotes is already in a table.
    bodies: dict[str, str | None] = {
        "headline": _headline_section(data, scenario, stats, nums),
        "homes": _homes_section(homes, nums),
        "years": _years_section(data, nums),
        "risk": _risk_section(data, scenario, stats, nums),
        "openings": _openings_section(data, nums),
        "occupancy": occupancy_section(data.occupancy),
        "observed": _observed_section(data, nums),
        "figures": _figures_section(data, nums),
        "appendix": _scenario_brief(data, scenario, nums)
        + appendix(
            "The full configuration, as validated (YAML)",
            yaml.safe_dump(data.config, sort_keys=False, allow_unicode=True),
        ),
        "provenance": _provenance_section(data),
    }
    bodies["summary"] = sentences.run_summary(data, scenario, homes, nums)
    sections = [
        section(sid, title, body)
        for sid, title in SECTIONS.items()
        if (body := bodies[sid]) is not None
    ]
    # Two short tables side by side on a wide screen (one above the other on a narrow one).
    years = next(i for i, s in enumerate(sections) if s.startswith("<section id='years'"))
    sections[years : years + 2] = [
        "<div class='pair'>" + "".join(sections[years : years + 2]) + "</div>"
    ]
    lede = (
        f"{esc(data.meta.get('replications', len(data.summary)))} simulated futures, "
        f"seed {esc(data.meta.get('seed', ''))}, code {esc(data.meta.get('code_version', ''))}"
    )
    return page(f"{name}: sufficiency report", f"{name}: residential care capacity", lede, sections)


def write_report(data: RunData, path: str | Path) -> Path:
    """Render and write the report to ``path``; returns the path."""
    return write_text_atomic(Path(path), render_html(data))
