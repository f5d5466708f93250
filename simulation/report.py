"""A self-contained HTML report of a run, to open offline or attach to an email.

One file holds everything: the scenario in brief, the headline numbers with their intervals,
occupancy by home against the business case, the figures (PNG, embedded as ``data:`` URIs), the
full validated config, and the seed and code version that reproduce it. Nothing is fetched from
a network when it opens: no scripts, fonts or stylesheets from elsewhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import yaml
from matplotlib.figure import Figure

from simulation import display
from simulation.atomic import atomic_file, write_text_atomic
from simulation.errors import ScenarioError
from simulation.experiments.occupancy import THRESHOLDS_PCT, OccupancyAnswer
from simulation.kinds import BED_KINDS, KINDS, MARKET_KINDS
from simulation.observed import check_points, coverage_text
from simulation.outputs import code_version, read_tables, run_metadata
from simulation.plots import openings_from_units, standard_figures
from simulation.runner import RunResult, summarise
from simulation.scenario import Scenario, parse_scenario

RESULT_TABLES = ("replications", "weekly", "units", "finance")
SECTIONS = {
    "summary": "Scenario",
    "headline": "Headline numbers",
    "homes": "Occupancy by home and contract",
    "occupancy": "How full can a home run?",
    "observed": "Published outcomes against the simulation",
    "figures": "Figures",
    "config": "Configuration",
    "provenance": "How to reproduce this report",
}


class PdfEngineMissing(RuntimeError):
    """No program that turns HTML into PDF is installed."""


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


# -- rendering ---------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #0072B2; padding-bottom: 0.2rem;
     margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
.lede { color: #444; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; margin: 0.6rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f6fa; }
td:not(:first-child) { white-space: nowrap; }
figure { margin: 1.2rem 0; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #444; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.78rem;
      border: 1px solid #e4e4e4; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; }
.note { font-size: 0.85rem; color: #555; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(fmt: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def _png_data_uri(fig: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")


def _scenario_section(data: RunData) -> str:
    cfg = data.config
    prov = cfg.get("provision", {})
    homes = prov.get("homes", [])
    blocks = prov.get("block_contracts", [])
    run_cfg = cfg.get("run", {})
    needs_rows = []
    scenario = _scenario_of(data)
    for name, need in cfg.get("demand", {}).get("needs", {}).items():
        los = need.get("length_of_stay_days", {})
        label = scenario.need_label(name) if scenario is not None else name
        needs_rows.append(
            f"<tr><td>{_e(label)}</td><td>{_fmt('{:g}', need.get('arrivals_per_year'))}</td>"
            f"<td>{_e(_dist_text(los))}</td></tr>"
        )
    cohort = sum(int(c.get("count", 0)) for c in cfg.get("demand", {}).get("initial_cohort", []))
    opening = [h for h in homes if h.get("open_date")]
    items = [
        (
            "Period",
            _e(display.run_period(scenario))
            if scenario is not None
            else f"{_e(data.meta.get('start_date', run_cfg.get('start_date')))} to "
            f"{_e(data.meta.get('end_date', ''))}",
        ),
        ("Prices", _e(display.price_basis(scenario)) if scenario is not None else "–"),
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
        ("Replications", f"{_e(data.meta.get('replications', len(data.summary)))}"),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items)
    return (
        f"<p class='lede'>{_e(cfg.get('description', ''))}</p><dl>{dl}</dl>"
        "<h3>Demand by need</h3><table><tr><th>Need</th><th>New children per year</th>"
        f"<th>Length of stay (days)</th></tr>{''.join(needs_rows)}</table>"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _dist_text(d: Any) -> str:
    if not isinstance(d, dict):
        return str(d)
    params = ", ".join(f"{k} {v}" for k, v in d.items() if k != "dist")
    return f"{d.get('dist', '?')}: {params}"


def _scenario_of(data: RunData) -> Scenario | None:
    """The run's scenario, for display names, the period and the price basis (None if its
    config no longer validates, as from an older version)."""
    try:
        return parse_scenario(data.config)
    except ScenarioError:
        return None


def _headline_section(data: RunData) -> str:
    stats = data.stats.set_index("metric")
    rows = []
    for name in display.HEADLINE_METRICS:
        if name not in stats.index:
            continue
        r = stats.loc[name]

        def v(x: Any, metric: str = name, like: Any = r["mean"]) -> str:
            return _e(display.value(metric, x, like))

        rows.append(
            f"<tr><td>{_e(display.metric_label(name))}</td><td>{v(r['mean'])}</td>"
            f"<td>{v(r['ci_low'])} to {v(r['ci_high'])}</td>"
            f"<td>{v(r['p5'])} to {v(r['p95'])}</td></tr>"
        )
    n = len(data.summary)
    scenario = _scenario_of(data)
    basis = f" Totals {_e(display.totals_basis(scenario))}." if scenario is not None else ""
    return (
        "<table><tr><th>Metric (whole run)</th><th>Mean</th><th>95% CI of the mean</th>"
        f"<th>P5 to P95 (range of outcomes)</th></tr>{''.join(rows)}</table>"
        f"<p class='note'>Over {n} replications.{basis} The confidence interval says how "
        "precisely the simulation estimates the mean; the P5-P95 range says how much one "
        "possible future can differ from another: plan for the range, not the mean.</p>"
    )


def _homes_section(data: RunData) -> str:
    units = data.units[data.units["kind"].isin(BED_KINDS)]
    if units.empty:
        return "<p>No council homes or block contracts in this scenario.</p>"
    kinds = {k.name: k.label for k in KINDS}
    rows = []
    for name, grp in units.groupby("unit", sort=False):
        occ = grp["occupancy_pct"].dropna()
        assumed = float(grp["assumed_occupancy_pct"].iloc[0])
        kind = str(grp["kind"].iloc[0])
        cells = [_e(name), _e(kinds.get(kind, kind)), _e(int(grp["beds"].iloc[0]))]
        if occ.empty:
            cells += ["not open", "", _e(display.percent(assumed)), ""]
        else:
            meets = (
                display.DASH if math.isnan(assumed) else display.share((occ >= assumed).mean(), 0)
            )
            cells += [
                display.percent(occ.mean()),
                f"{display.percent(occ.quantile(0.05))} to {display.percent(occ.quantile(0.95))}",
                display.percent(assumed),
                meets,
            ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<table><tr><th>Home / contract</th><th>Kind</th><th>Beds</th><th>Occupancy (mean)</th>"
        "<th>P5 to P95</th><th>Business case assumes</th>"
        "<th>Replications at or above the business case</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _occupancy_section(data: RunData) -> str | None:
    """The occupancy answer (``sufficiency occupancy``), when the report was asked for it."""
    a = data.occupancy
    if a is None:
        return None
    home_rows = [
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                _e(r["home"]),
                _e(r["beds"]),
                display.percent(r["assumed_occupancy_pct"]),
                display.percent(r["occupancy_mean_pct"]),
                f"{display.percent(r['occupancy_p5_pct'])} to "
                f"{display.percent(r['occupancy_p95_pct'])}",
                display.probability(r["p_at_or_above_assumed"]),
                display.percent(r["weeks_full_pct"], 0),
            )
        )
        + "</tr>"
        for r in a.homes.to_dict("records")
    ]
    size_rows = [
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                _e(r["beds"]),
                display.percent(r["occupancy_mean_pct"]),
                *(display.probability(r[f"p_at_or_above_{t:g}"]) for t in THRESHOLDS_PCT),
                f"{display.number(r['spot_placements_change'], 1, signed=True)} ± "
                f"{display.number(r['spot_placements_change_ci_half'], 1)}",
                f"{display.number(100 * r['out_of_city_share_change'], 1, signed=True)} pts",
            )
        )
        + "</tr>"
        for r in a.sizes.to_dict("records")
    ]
    thresholds = "".join(f"<th>P(at or above {t:g}%)</th>" for t in THRESHOLDS_PCT)
    return (
        "<p>Occupancy here is not an input: it comes from the council's demand, each home's "
        "admission rules (a child joins only a group it fits) and how vacancies happen "
        f"(repairs, move-in transitions, emergencies). {a.replications} replications, seed "
        f"{a.seed}.</p>"
        "<table><caption>Council homes: occupancy over the run</caption><tr><th>Home</th>"
        "<th>Beds</th><th>Business case</th><th>Mean</th><th>P5 to P95</th>"
        "<th>Replications reaching the business case</th><th>Weeks full</th></tr>"
        f"{''.join(home_rows)}</table>"
        f"<table><caption>A new home for {_e(a.need)} (rules of {_e(a.template)}), against "
        "none</caption><tr><th>Beds</th><th>Mean occupancy</th>"
        f"{thresholds}<th>New spot placements (change, 95% CI)</th>"
        f"<th>Out-of-city share (change)</th></tr>{''.join(size_rows)}</table>"
        "<p class='note'>Read the second table as a trade-off: a smaller home runs fuller, a "
        "bigger one runs emptier but keeps more children out of spot placements and in the "
        "city. The new home is offered children after the existing homes.</p>"
    )


def _observed_section(data: RunData) -> str | None:
    """Each published point (the config's ``observed``) beside the simulated range in its week
    (:func:`simulation.observed.check_points`), when the config has any."""
    scenario = _scenario_of(data)
    if scenario is None or not scenario.observed:
        return None
    checks = check_points(scenario, data.weekly)
    rows = []
    for r in checks.to_dict("records"):
        m = str(r["metric"])
        inside = r["inside"]
        cells = (
            display.uk_date(r["date"]),
            _e(display.metric_label(m)),
            display.value(m, r["value"]),
            display.value(m, r["mean"]),
            f"{display.value(m, r['p5'])} to {display.value(m, r['p95'])}",
            display.DASH if inside is None or pd.isna(inside) else ("yes" if inside else "no"),
            _e(r["source"]),
        )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<p>{_e(coverage_text(checks))}. Each figure the council published is set beside the "
        "simulation in the week holding its date: the mean across replications and the range "
        "of 90% of them (P5 to P95). A point outside the range is one this configuration finds "
        "unusual: look for the assumption that misses it.</p>"
        "<table><caption>Published outcomes</caption><tr><th>Date</th><th>Figure</th>"
        "<th>Published</th><th>Simulated mean</th><th>P5 to P95</th><th>Inside</th>"
        f"<th>Source</th></tr>{''.join(rows)}</table>"
    )


def _figures_section(data: RunData) -> str:
    figs = standard_figures(
        data.weekly,
        data.units,
        data.finance,
        data.config,
        data.meta.get("start_date") or data.config["run"]["start_date"],
        data.meta.get("end_date") or data.weekly["week_start"].max(),
        data.openings,
    )
    parts = []
    for stem, (title, fig) in figs.items():
        uri = _png_data_uri(fig)
        parts.append(
            f"<figure id='fig-{_e(stem)}'><h3>{_e(title)}</h3>"
            f"<img alt='{_e(title)}' src='{uri}'></figure>"
        )
    return "".join(parts)


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
        else ("Run time", "–"),
        ("Results read from", data.source or "–"),
        ("Report written", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        ("Report code version", code_version()),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return (
        f"<dl>{dl}</dl><p>Save the configuration below as <code>{_e(name)}.yaml</code> and run "
        f"<code>sufficiency run {_e(name)}.yaml --replications {_e(reps)} --seed {_e(seed)}</code>"
        " with the same code version to reproduce every number in this report.</p>"
    )


def render_html(data: RunData) -> str:
    """The report as one HTML document (figures embedded; no external resources)."""
    name = data.meta.get("scenario") or data.config.get("name", "scenario")
    config_yaml = yaml.safe_dump(data.config, sort_keys=False, allow_unicode=True)
    bodies = {
        "summary": _scenario_section(data),
        "headline": _headline_section(data),
        "homes": _homes_section(data),
        "occupancy": _occupancy_section(data),
        "observed": _observed_section(data),
        "figures": _figures_section(data),
        "config": f"<pre>{_e(config_yaml)}</pre>",
        "provenance": _provenance_section(data),
    }
    sections = "".join(
        f"<section id='{sid}'><h2>{_e(title)}</h2>{bodies[sid]}</section>"
        for sid, title in SECTIONS.items()
        if bodies[sid] is not None
    )
    subtitle = (
        f"{_e(data.meta.get('replications', len(data.summary)))} simulated futures, "
        f"seed {_e(data.meta.get('seed', ''))}, code {_e(data.meta.get('code_version', ''))}"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(name)}: sufficiency report</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(name)}: residential care capacity</h1>"
        f"<p class='lede'>{subtitle}</p></header>{sections}"
        "<footer class='note'><p>Made with sufficiency, a discrete-event simulation of children's "
        "residential care. Figures are distributions across simulated futures, not forecasts of "
        "one future.</p></footer></body></html>\n"
    )


def write_report(data: RunData, path: str | Path) -> Path:
    """Render and write the report to ``path``; returns the path."""
    return write_text_atomic(Path(path), render_html(data))


# -- PDF ---------------------------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_pdf_engine() -> tuple[str, str] | None:
    """The first available HTML-to-PDF engine as (kind, locator), or None."""
    try:
        import weasyprint  # noqa: F401

        return ("weasyprint", "weasyprint")
    except Exception:  # not installed, or its system libraries are missing
        pass
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return ("chromium", exe)
    return None


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, timeout_s: float = 120.0) -> str:
    """Print the HTML report to PDF; returns the engine used.

    Raises
    ------
    PdfEngineMissing
        If neither WeasyPrint nor a Chromium/Chrome executable is available.
    RuntimeError
        If the engine fails.
    """
    engine = find_pdf_engine()
    if engine is None:
        raise PdfEngineMissing(
            "no PDF engine found (install WeasyPrint with 'pip install weasyprint', or Chromium); "
            "open the HTML report in a browser and print it to PDF instead"
        )
    src, out = Path(html_path).resolve(), Path(pdf_path)
    with atomic_file(out, suffix=".pdf") as tmp:
        if engine[0] == "weasyprint":
            import weasyprint

            weasyprint.HTML(filename=str(src)).write_pdf(tmp)
        else:
            with tempfile.TemporaryDirectory() as profile:
                proc = subprocess.run(
                    [
                        engine[1],
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        f"--user-data-dir={profile}",
                        "--no-pdf-header-footer",
                        f"--print-to-pdf={tmp}",
                        src.as_uri(),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                )
            if proc.returncode != 0 or tmp.stat().st_size == 0:
                raise RuntimeError(f"{engine[1]} could not print the PDF: {proc.stderr[-300:]}")
    return engine[0]


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """A figure as PNG bytes (closes the figure)."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


__all__ = [
    "SECTIONS",
    "PdfEngineMissing",
    "RunData",
    "find_pdf_engine",
    "from_result",
    "html_to_pdf",
    "load_results",
    "png_bytes",
    "render_html",
    "write_report",
]
