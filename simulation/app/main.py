"""The what-if web page (Streamlit). Start it with ``sufficiency app``.

Pick a shipped config or upload one, move the levers, run: the page runs the unedited baseline
and the edited scenario with the same seed (common random numbers), shows the edited scenario's
fans and the paired difference against the baseline, and offers the results and the edited YAML
for download. Every problem is shown in the page as a message, never as a traceback.

The levers live in the sidebar, with *Run* at their top; the results take the page's whole
width (so nothing is clipped from 1024 pixels up) and are cleared as soon as the scenario or a
lever changes, or a run starts. Simulations run in worker processes on every core, never in the
server's own process, and one click's work is bounded (:func:`levers.click_budget_problem`).
Pressing *Cancel*, or changing anything while a run goes on, stops it: Streamlit interrupts the
page at its next progress update, and the run's worker processes are stopped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import multiprocessing.forkserver
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import streamlit as st

from simulation import display
from simulation.app.levers import (
    MAX_UPLOAD_BYTES,
    Edits,
    apply_levers,
    changed_levers,
    click_budget_problem,
    current_levers,
    results_zip,
    run_key,
    scenario_from_upload,
    scenario_yaml,
    shipped_configs,
)
from simulation.compare import paired_differences
from simulation.errors import ScenarioError
from simulation.plots import (
    cost_by_year,
    home_openings,
    occupancy_fan,
    openings_from_units,
    paired_forest,
    placement_mix,
    planned_openings,
    spot_stock_fan,
)
from simulation.pool import ProgressCallback
from simulation.report import png_bytes
from simulation.runner import RunResult, run
from simulation.scenario import Scenario, load_scenario, parse_scenario

DEFAULT_CONFIG = "coventry-2023.yaml"
MAX_CACHED_RUNS = 6
# The headline metrics, plus the parts of the cost an opening date or a bed count moves.
COMPARED = [
    *display.HEADLINE_METRICS,
    "cost_internal_gbp",
    "cost_spot_gbp",
    "internal_usable_bed_days",
]
TABLE_COLUMNS = ("Metric (whole run)", "Baseline", "Edited", "Difference (95% CI)", "P(better)")


def workers() -> int:
    """Every core, and at least two processes, so the simulation never runs in the server."""
    return max(2, os.cpu_count() or 1)


@st.cache_resource(show_spinner=False)
def _warm_forkserver() -> bool:
    """Start the forkserver (importing the simulation: ~5 s) once per server, in the
    background when the page first loads, so that the first Run does not wait for it."""
    multiprocessing.set_forkserver_preload(["simulation.runner"])
    threading.Thread(target=multiprocessing.forkserver.ensure_running, daemon=True).start()
    return True


@contextmanager
def _forkserver() -> Iterator[None]:
    """Worker processes started from a clean server process, not forked from Streamlit's
    (which runs threads that a fork would copy mid-flight); the process's default start
    method is restored afterwards."""
    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_forkserver_preload(["simulation.runner"])
    multiprocessing.set_start_method("forkserver", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(before, force=True)


def _show_issues(exc: ScenarioError, what: str) -> None:
    st.error(f"{what}:\n\n" + "\n".join(f"- {line}" for line in exc.lines()))


def choose_scenario() -> tuple[Scenario, str] | None:
    """Sidebar: a shipped config by name, or an uploaded YAML. Returns (scenario, id)."""
    st.sidebar.header("Scenario")
    shipped = shipped_configs()
    sources = (["Shipped config"] if shipped else []) + ["Upload a YAML file"]
    source = st.sidebar.radio("Start from", sources, key="source")
    if source == "Shipped config":
        names = list(shipped)
        default = names.index(DEFAULT_CONFIG) if DEFAULT_CONFIG in names else 0
        name = st.sidebar.selectbox("Config", names, index=default, key="config_name")
        try:
            return load_scenario(shipped[str(name)]), f"shipped:{name}"
        except ScenarioError as exc:
            _show_issues(exc, f"The shipped config {name} is not valid")
            return None
    upload = st.sidebar.file_uploader(
        f"Scenario YAML (at most {MAX_UPLOAD_BYTES // 1000} kB)",
        type=["yaml", "yml"],
        key="upload",
    )
    if upload is None:
        st.info("Upload a scenario YAML file in the sidebar (see `sufficiency schema`).")
        return None
    content = upload.getvalue()
    try:
        scenario = scenario_from_upload(content, upload.name)
    except ScenarioError as exc:
        _show_issues(exc, "The uploaded config is not valid")
        return None
    return scenario, "upload:" + hashlib.sha256(content).hexdigest()[:12]


def lever_widgets(scenario: Scenario, sid: str) -> Edits:
    """The lever widgets, keyed by scenario so switching configs starts from its values."""
    cfg = scenario.to_dict()
    base = current_levers(cfg)
    start, end = scenario.run.start_date, scenario.end_date - dt.timedelta(days=1)
    sidebar = st.sidebar
    homes: list[dict[str, Any]] = []
    with sidebar.expander("Council homes: opening dates and beds", expanded=True):
        st.caption(
            f"A home opening on or before the start ({display.uk_date(start)}) is open from "
            "the start. A new home's date is its planned opening: its project stages, and "
            "their slippage, move with it."
        )
        for i, (home, lever) in enumerate(
            zip(cfg["provision"].get("homes", []), base["homes"], strict=True)
        ):
            served = ", ".join(scenario.need_label(n) for n in home["needs"])
            c1, c2 = st.columns([3, 1])
            opens = c1.date_input(
                f"{home['name']} ({served}): opens",
                value=lever["open_date"] or start,
                min_value=start,
                max_value=end,
                format="DD/MM/YYYY",
                key=f"{sid}:home:{i}:open",
            )
            beds = c2.number_input(
                "Beds", min_value=1, max_value=50, value=lever["beds"], key=f"{sid}:home:{i}:beds"
            )
            homes.append({"open_date": opens if isinstance(opens, dt.date) else None, "beds": beds})
    block_beds: list[int] = []
    blocks = cfg["provision"].get("block_contracts", [])
    if blocks:
        with sidebar.expander("Block contracts: beds"):
            for i, (block, beds) in enumerate(zip(blocks, base["block_beds"], strict=True)):
                block_beds.append(
                    int(
                        st.number_input(
                            block["name"],
                            min_value=1,
                            max_value=200,
                            value=beds,
                            key=f"{sid}:block:{i}:beds",
                        )
                    )
                )
    needs: dict[str, Any] = {}
    with sidebar.expander("Demand: arrivals and length of stay"):
        for name, need in base["needs"].items():
            label = scenario.need_label(name)
            arrivals = st.number_input(
                f"{label}: new children per year",
                min_value=0.0,
                max_value=10_000.0,
                value=float(need["arrivals_per_year"]),
                step=1.0,
                key=f"{sid}:need:{name}:arrivals",
            )
            los = st.number_input(
                f"{label}: mean length of stay (days)",
                min_value=1.0,
                max_value=20_000.0,
                value=float(round(need["los_mean_days"], 1)),
                step=10.0,
                key=f"{sid}:need:{name}:los",
                help="Scales the whole length-of-stay distribution; its shape is kept.",
            )
            needs[name] = {"arrivals_per_year": float(arrivals), "los_mean_days": float(los)}
    edits: Edits = {
        "homes": [{"open_date": h["open_date"], "beds": int(h["beds"])} for h in homes],
        "block_beds": block_beds,
        "needs": needs,
    }
    if "staff_turnover_per_year" in base:
        with sidebar.expander("Staff: turnover"):
            turnover = st.number_input(
                "Care staff leaving per post per year",
                min_value=0.0,
                max_value=5.0,
                value=float(base["staff_turnover_per_year"]),
                step=0.05,
                key=f"{sid}:staff:turnover",
                help="0.33 = a third of posts turn over each year; leavers are replaced after "
                "the recruitment lead time, and a home short of cover stops admitting.",
            )
        edits["staff_turnover_per_year"] = float(turnover)
    else:
        sidebar.caption("Staff turnover: this config does not model staffing.")
    return edits


def cached_run(
    scenario: Scenario, replications: int, seed: int, progress: ProgressCallback
) -> RunResult:
    """Run (in worker processes), or reuse a run of the same config, replications and seed
    from this session."""
    cache: dict[str, RunResult] = st.session_state.setdefault("runs", {})
    key = run_key(scenario.to_dict(), replications, seed)
    if key in cache:
        progress(replications)
        return cache[key]
    with _forkserver():
        result = run(
            scenario, replications=replications, seed=seed, workers=workers(), progress=progress
        )
    while len(cache) >= MAX_CACHED_RUNS:
        cache.pop(next(iter(cache)))
    cache[key] = result
    return result


def run_both(base: Scenario, edited: Scenario, replications: int, seed: int) -> dict[str, Any]:
    """Run baseline and edited with common random numbers, showing progress and a Cancel
    button where the results will appear."""
    st.button("Cancel", key="cancel", help="Stop this run; nothing is kept.")
    bar = st.progress(0.0, text="Starting the worker processes…")
    out: dict[str, RunResult] = {}
    for which, scenario in (("baseline", base), ("edited scenario", edited)):
        done = [0]

        def tick(k: int, which: str = which, done: list[int] = done) -> None:
            # Each update is also where Streamlit stops the page if Cancel was pressed.
            done[0] += k
            step = 0 if which == "baseline" else 1
            bar.progress(
                min(1.0, (step + done[0] / replications) / 2),
                text=f"Simulating the {which} (step {step + 1} of 2): "
                f"{done[0]}/{replications} replications",
            )

        out[which] = cached_run(scenario, replications, seed, tick)
    comparison = paired_differences(
        out["baseline"].summary, out["edited scenario"].summary, COMPARED
    )
    return {"baseline": out["baseline"], "edited": out["edited scenario"], "comparison": comparison}


def headline_sentence(comparison: pd.DataFrame, scenario: Scenario) -> str:
    """One sentence on total cost: the difference, its CI, P(edited cheaper), the period and
    the price basis."""
    row = comparison.set_index("metric").loc["cost_total_gbp"]
    d, lo, hi = row["mean_diff"], row["ci_low"], row["ci_high"]
    like = row["baseline_mean"]
    diff = display.difference("cost_total_gbp", d, like)
    ci = display.interval(
        display.difference("cost_total_gbp", lo, like),
        display.difference("cost_total_gbp", hi, like),
    )
    return (
        f"Edited minus baseline, total cost over {display.run_period(scenario)}: {diff} "
        f"(95% CI {ci}); P(edited cheaper) = {display.probability(row['p_edited_lower'])}. "
        f"In {display.price_basis(scenario)}."
    )


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The paired comparison with display names, units and signed differences."""
    rows = []
    for rec in comparison.to_dict("records"):
        m = str(rec["metric"])
        like = rec["baseline_mean"]
        p = display.p_better(m, rec["p_edited_lower"], rec["p_edited_higher"])
        ci = display.interval(
            display.difference(m, rec["ci_low"], like), display.difference(m, rec["ci_high"], like)
        )
        rows.append(
            dict(
                zip(
                    TABLE_COLUMNS,
                    (
                        display.metric_label(m),
                        display.value(m, like),
                        display.value(m, rec["edited_mean"], like),
                        f"{display.difference(m, rec['mean_diff'], like)} ({ci})",
                        display.probability(p),
                    ),
                    strict=True,
                )
            )
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


FIGURE_TABS = [
    ("Occupancy", "occupancy"),
    ("Children in spot", "spot"),
    ("Placement mix", "mix"),
    ("Home openings", "openings"),
    ("Cost by year", "cost"),
]


def result_figures(
    base_r: RunResult, edit_r: RunResult, comparison: pd.DataFrame, edited: Scenario
) -> dict[str, bytes | str]:
    """PNG bytes of each figure by name, or a message where a figure cannot be drawn."""
    out: dict[str, bytes | str] = {}
    changed = comparison[comparison["mean_diff"].abs() > 0]
    labels = {m: display.metric_label(m) for m in comparison["metric"]}
    out["forest"] = (
        png_bytes(paired_forest(changed, labels))
        if len(changed)
        else "No metric differs: the edited scenario equals the baseline."
    )
    try:
        out["occupancy"] = png_bytes(occupancy_fan(edit_r.weekly, edit_r.units))
    except ValueError as exc:
        out["occupancy"] = str(exc)
    out["spot"] = png_bytes(spot_stock_fan(edit_r.weekly, base_r.weekly))
    out["mix"] = png_bytes(placement_mix(edit_r.weekly))
    planned = planned_openings(edited.to_dict())
    # The simulated opening dates (lifecycle slippage), not only the plan.
    openings = openings_from_units(edit_r.units, edited.run.start_date)
    out["openings"] = (
        png_bytes(home_openings(planned, edited.run.start_date, edited.end_date, openings))
        if len(planned)
        else "This scenario has no council homes."
    )
    out["cost"] = png_bytes(cost_by_year(edit_r.finance))
    return out


def show_results(out: dict[str, Any], edited: Scenario) -> None:
    """The comparison, the fans and the downloads of the last run."""
    base_r: RunResult = out["baseline"]
    edit_r: RunResult = out["edited"]
    comparison: pd.DataFrame = out["comparison"]
    st.subheader("Edited scenario against the baseline")
    st.markdown(f"**{headline_sentence(comparison, edited)}**")
    st.caption(
        f"{edit_r.replications} paired replications, seed {edit_r.seed}, on "
        f"{edit_r.workers} processes: replication r of both runs sees the same children, so "
        "the difference is the effect of the edits. P(better): the share of paired "
        "replications in which the edited plan is better (lower, or higher for occupancy and "
        "usable beds; – where neither is better). Differences of a percentage are in points."
    )
    # A static table: its cells wrap on a narrow screen rather than being clipped.
    st.table(comparison_table(comparison).set_index(TABLE_COLUMNS[0]))
    if "pngs" not in out:  # figures drawn once per run, not on every rerun of the page
        out["pngs"] = result_figures(base_r, edit_r, comparison, edited)
    pngs: dict[str, bytes | str] = out["pngs"]
    if isinstance(pngs["forest"], bytes):
        st.image(pngs["forest"], width="stretch")
    else:
        st.info(pngs["forest"])
    tabs = st.tabs([title for title, _ in FIGURE_TABS])
    for tab, (_, stem) in zip(tabs, FIGURE_TABS, strict=True):
        with tab:
            png = pngs[stem]
            if isinstance(png, bytes):
                st.image(png, width="stretch")
            else:
                st.info(png)
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download the edited YAML",
        data=scenario_yaml(edited),
        file_name=f"{edited.name}-edited.yaml",
        mime="application/x-yaml",
        key="download_yaml",
    )
    if "zip" not in out:
        out["zip"] = results_zip(base_r, edit_r, comparison)
    c2.download_button(
        "Download the results (zip)",
        data=out["zip"],
        file_name=f"{edited.name}-what-if-results.zip",
        mime="application/zip",
        key="download_zip",
    )


def run_settings(scenario: Scenario, sid: str) -> tuple[int, int]:
    """Sidebar: replications and seed, each with what it means."""
    replications = int(
        st.sidebar.number_input(
            "Replications",
            min_value=2,
            max_value=1000,
            value=50,
            step=10,
            key="replications",
            help="How many times each plan is simulated. More replications narrow the "
            "confidence intervals (about halving them for four times as many) and take "
            "longer: 50 is a quick look, 500 a firm answer.",
        )
    )
    seed = int(
        st.sidebar.number_input(
            "Seed",
            min_value=0,
            value=int(scenario.run.seed),
            step=1,
            key=f"{sid}:seed",
            help="The root of the random numbers. The same seed gives the same results; both "
            "plans always share it, so their difference is due to the edits alone.",
        )
    )
    return replications, seed


def page() -> None:
    """The whole page."""
    st.set_page_config(page_title="sufficiency: what if?", layout="wide")
    _warm_forkserver()
    st.title("sufficiency: what if?")
    st.caption(
        "Children's residential care capacity simulation. Change the plan, run it many times, "
        "and compare it with the unedited plan on the same random demand."
    )
    chosen = choose_scenario()
    if chosen is None:
        return
    scenario, sid = chosen
    st.sidebar.header("Run")
    replications, seed = run_settings(scenario, sid)
    st.sidebar.header("Levers")
    run_slot = st.sidebar.container()  # Run sits at the top of the levers, filled below
    edits = lever_widgets(scenario, sid)
    st.markdown(f"**{scenario.name}** — {scenario.description}")
    st.caption(f"Runs over {display.run_period(scenario)}, in {display.price_basis(scenario)}.")
    edited, request = check_edits(scenario, edits, replications, seed)
    # One slot for the results: replaced at once when a run starts or anything changes.
    results = st.empty()
    if st.session_state.pop("running", False):
        cancelled = bool(st.session_state.get("cancel"))
        st.warning(
            "The run was cancelled: nothing was kept."
            if cancelled
            else "The run stopped when the page changed: press Run again for these settings."
        )
    if edited is not None and run_slot.button(
        "Run baseline and edited", type="primary", key="run", width="stretch"
    ):
        problem = click_budget_problem([scenario, edited], replications)
        if problem is not None:
            st.error(problem)
        else:
            start_run(results, scenario, edited, replications, seed, request)
    last = st.session_state.get("last")
    if last is not None and st.session_state.get("last_request") != request:
        # A result of other settings is never shown beside these ones.
        for key in ("last", "last_request", "last_edited"):
            st.session_state.pop(key, None)
        last = None
        results.info("The settings changed: press **Run baseline and edited** for new results.")
        return
    if last is None:
        results.info(
            "Change the levers in the sidebar, then press **Run baseline and edited** at their "
            "top: both plans are simulated on the same random demand and compared here."
        )
        return
    with results.container():
        show_results(last, st.session_state["last_edited"])


def check_edits(
    scenario: Scenario, edits: Edits, replications: int, seed: int
) -> tuple[Scenario | None, str]:
    """The list of edits and the edited scenario (None if invalid), with the key of these
    settings (config, edits, replications, seed)."""
    base_cfg = scenario.to_dict()
    labels = display.need_labels(scenario)
    changes = changed_levers(current_levers(base_cfg), edits, base_cfg, labels)
    if changes:
        st.markdown("**Edits:** " + "; ".join(changes))
    else:
        st.caption("No edits yet: the edited scenario equals the baseline.")
    try:
        edited = parse_scenario(apply_levers(base_cfg, edits), "edited scenario")
    except ScenarioError as exc:
        _show_issues(exc, "These edits make an invalid scenario")
        return None, "invalid"
    request = run_key(edited.to_dict(), replications, seed) + run_key(base_cfg, replications, seed)
    return edited, request


def start_run(
    results: Any, scenario: Scenario, edited: Scenario, replications: int, seed: int, request: str
) -> None:
    """Clear the old results, then run both plans with the progress in their place."""
    for key in ("last", "last_request", "last_edited"):
        st.session_state.pop(key, None)
    st.session_state["running"] = True  # still set on the next page if this run is stopped
    try:
        with results.container():
            out = run_both(scenario, edited, replications, seed)
    except ScenarioError as exc:
        st.session_state.pop("running", None)
        _show_issues(exc, "The scenario cannot be run")
        return
    st.session_state.pop("running", None)
    st.session_state["last"] = out
    st.session_state["last_request"] = request
    st.session_state["last_edited"] = edited


def main() -> None:
    """Run the page; any unexpected failure becomes a message, not a traceback."""
    try:
        page()
    except Exception as exc:  # (Streamlit's reruns and stops, how Cancel works, are not Exceptions)
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


if __name__ == "__main__":  # Streamlit runs the page as __main__
    main()
