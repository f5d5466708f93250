"""The what-if web page (Streamlit). Start it with ``sufficiency app``.

Pick a shipped config or upload one, move the levers, run: the page runs the unedited baseline
and the edited scenario with the same seed (common random numbers), shows the edited scenario's
fans and the paired difference against the baseline, and offers the results and the edited YAML
for download. Every problem is shown in the page as a message, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from simulation.app.levers import (
    MAX_UPLOAD_BYTES,
    Edits,
    apply_levers,
    changed_levers,
    current_levers,
    results_zip,
    run_key,
    scenario_from_upload,
    scenario_yaml,
    shipped_configs,
)
from simulation.compare import paired_differences
from simulation.errors import ScenarioError
from simulation.metrics import HEADLINE
from simulation.plots import (
    cost_by_year,
    home_openings,
    occupancy_fan,
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
EXTRA = (
    ("cost_internal_gbp", "Council homes' running cost (£)", "{:,.0f}"),
    ("cost_spot_gbp", "Spot cost (£)", "{:,.0f}"),
    ("internal_usable_bed_days", "Usable council-home bed-days", "{:,.0f}"),
)
COMPARED = [name for name, _, _ in (*HEADLINE, *EXTRA)]
LABELS = {name: label for name, label, _ in (*HEADLINE, *EXTRA)}
FORMATS = {name: fmt for name, _, fmt in (*HEADLINE, *EXTRA)}


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
    homes: list[dict[str, Any]] = []
    with st.expander("Council homes: opening dates and beds", expanded=True):
        st.caption(
            f"A home opening on or before the start ({start:%d %b %Y}) is open from the start. "
            "A new home's date is its planned opening: its project stages, and their slippage, "
            "move with it."
        )
        for i, (home, lever) in enumerate(
            zip(cfg["provision"].get("homes", []), base["homes"], strict=True)
        ):
            c1, c2 = st.columns([3, 1])
            opens = c1.date_input(
                f"{home['name']} ({', '.join(home['needs'])}): opens",
                value=lever["open_date"] or start,
                min_value=start,
                max_value=end,
                format="YYYY-MM-DD",
                key=f"{sid}:home:{i}:open",
            )
            beds = c2.number_input(
                "Beds", min_value=1, max_value=50, value=lever["beds"], key=f"{sid}:home:{i}:beds"
            )
            homes.append({"open_date": opens if isinstance(opens, dt.date) else None, "beds": beds})
    block_beds: list[int] = []
    blocks = cfg["provision"].get("block_contracts", [])
    if blocks:
        with st.expander("Block contracts: beds"):
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
    with st.expander("Demand: arrivals and length of stay"):
        for name, need in base["needs"].items():
            c1, c2 = st.columns(2)
            arrivals = c1.number_input(
                f"{name}: new children per year",
                min_value=0.0,
                max_value=10_000.0,
                value=float(need["arrivals_per_year"]),
                step=1.0,
                key=f"{sid}:need:{name}:arrivals",
            )
            los = c2.number_input(
                f"{name}: mean length of stay (days)",
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
        with st.expander("Staff: turnover"):
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
        st.caption("Staff turnover: this config does not model staffing.")
    return edits


def cached_run(
    scenario: Scenario, replications: int, seed: int, progress: ProgressCallback
) -> RunResult:
    """Run, or reuse a run of the same config, replications and seed from this session."""
    cache: dict[str, RunResult] = st.session_state.setdefault("runs", {})
    key = run_key(scenario.to_dict(), replications, seed)
    if key in cache:
        progress(replications)
        return cache[key]
    result = run(scenario, replications=replications, seed=seed, workers=1, progress=progress)
    while len(cache) >= MAX_CACHED_RUNS:
        cache.pop(next(iter(cache)))
    cache[key] = result
    return result


def run_both(base: Scenario, edited: Scenario, replications: int, seed: int) -> dict[str, Any]:
    """Run baseline and edited with common random numbers, with a progress bar."""
    bar = st.progress(0.0, text="Simulating…")
    done = [0]
    total = 2 * replications

    def tick(k: int) -> None:
        done[0] += k
        which = "baseline" if done[0] <= replications else "edited scenario"
        bar.progress(min(1.0, done[0] / total), text=f"Simulating the {which}: {done[0]}/{total}")

    r_base = cached_run(base, replications, seed, tick)
    r_edit = cached_run(edited, replications, seed, tick)
    bar.empty()
    comparison = paired_differences(r_base.summary, r_edit.summary, COMPARED)
    return {"baseline": r_base, "edited": r_edit, "comparison": comparison}


def _fmt(metric: str, value: float) -> str:
    if pd.isna(value):
        return "–"
    return FORMATS.get(metric, "{:,.2f}").format(value)


def headline_sentence(comparison: pd.DataFrame) -> str:
    """One sentence on total cost: the difference, its CI and P(edited cheaper)."""
    row = comparison.set_index("metric").loc["cost_total_gbp"]
    d, lo, hi = row["mean_diff"], row["ci_low"], row["ci_high"]
    return (
        f"Edited minus baseline, total cost over the run: £{d / 1e6:+,.2f}m "
        f"(95% CI £{lo / 1e6:+,.2f}m to £{hi / 1e6:+,.2f}m); "
        f"P(edited cheaper) = {row['p_edited_lower']:.2f}"
    )


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The paired comparison with labels and formatted numbers."""
    rows = []
    for _, r in comparison.iterrows():
        m = str(r["metric"])
        rows.append(
            {
                "Metric (whole run)": LABELS.get(m, m),
                "Baseline": _fmt(m, r["baseline_mean"]),
                "Edited": _fmt(m, r["edited_mean"]),
                "Difference (95% CI)": f"{_fmt(m, r['mean_diff'])} "
                f"({_fmt(m, r['ci_low'])} to {_fmt(m, r['ci_high'])})",
                "P(lower)": f"{r['p_edited_lower']:.2f}",
            }
        )
    return pd.DataFrame(rows)


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
    out["forest"] = (
        png_bytes(paired_forest(changed, LABELS))
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
    out["openings"] = (
        png_bytes(home_openings(planned, edited.run.start_date, edited.end_date))
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
    st.markdown(f"**{headline_sentence(comparison)}**")
    st.caption(
        f"{edit_r.replications} paired replications, seed {edit_r.seed}: replication r of both "
        "runs sees the same children, so the difference is the effect of the edits."
    )
    table = comparison_table(comparison)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=35 * (len(table) + 1) + 3,  # every row, no inner scrolling
        column_config={
            "Metric (whole run)": st.column_config.TextColumn(width="medium"),
            "Baseline": st.column_config.TextColumn(width="small"),
            "Edited": st.column_config.TextColumn(width="small"),
            "P(lower)": st.column_config.TextColumn(
                width="small",
                help="Share of paired replications in which the edited scenario's value is "
                "lower (for a cost: the chance the edited plan is cheaper).",
            ),
        },
    )
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


def page() -> None:
    """The whole page."""
    st.set_page_config(page_title="sufficiency: what if?", layout="wide")
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
    replications = int(
        st.sidebar.number_input(
            "Replications", min_value=2, max_value=1000, value=50, step=10, key="replications"
        )
    )
    seed = int(
        st.sidebar.number_input(
            "Seed", min_value=0, value=int(scenario.run.seed), step=1, key=f"{sid}:seed"
        )
    )
    st.markdown(f"**{scenario.name}** — {scenario.description}")
    left, right = st.columns([4, 7], gap="medium")
    with left:
        st.subheader("Levers")
        request, edited = levers_and_button(scenario, sid, replications, seed)
    with right:
        last = st.session_state.get("last")
        if last is None:
            st.info(
                "Change the levers on the left, then press **Run baseline and edited**: both "
                "are simulated on the same random demand and compared here."
            )
            return
        if st.session_state.get("last_request") != request or edited is None:
            st.warning(
                "The levers changed since the last run: these results are for earlier edits."
            )
        show_results(last, st.session_state["last_edited"])


def levers_and_button(
    scenario: Scenario, sid: str, replications: int, seed: int
) -> tuple[str, Scenario | None]:
    """Lever widgets, the list of edits, validation and the run button.

    Returns the request key of the current levers and the edited scenario (None if invalid).
    """
    base_levers = current_levers(scenario.to_dict())
    edits = lever_widgets(scenario, sid)
    changes = changed_levers(base_levers, edits, scenario.to_dict())
    if changes:
        st.markdown("**Edits:** " + "; ".join(changes))
    else:
        st.caption("No edits yet: the edited scenario equals the baseline.")
    try:
        edited = parse_scenario(apply_levers(scenario.to_dict(), edits), "edited scenario")
    except ScenarioError as exc:
        _show_issues(exc, "These edits make an invalid scenario")
        return "invalid", None
    request = run_key(edited.to_dict(), replications, seed) + run_key(
        scenario.to_dict(), replications, seed
    )
    if st.button("Run baseline and edited", type="primary", key="run"):
        try:
            st.session_state["last"] = run_both(scenario, edited, replications, seed)
            st.session_state["last_request"] = request
            st.session_state["last_edited"] = edited
        except ScenarioError as exc:
            _show_issues(exc, "The scenario cannot be run")
    return request, edited


def main() -> None:
    """Run the page; any unexpected failure becomes a message, not a traceback."""
    try:
        page()
    except Exception as exc:
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


if __name__ == "__main__":  # Streamlit runs the page as __main__
    main()
