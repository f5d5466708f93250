"""The what-if web page (Streamlit). Start it with ``sufficiency app``.

Pick a base (a shipped config, an uploaded one, or a shipped experiment from ``experiments/``),
add and name variants of it and move each one's levers (an experiment's strategies are fixed,
listed with their overrides), then run: the page runs the unedited baseline and every variant
with the same seed and replications (common random numbers) and compares each with the baseline.
Every problem is shown in the page as a message, never as a traceback.

The levers live in the sidebar, one tab per variant, with *Run* above them; the results take
the page's whole width (so nothing is clipped from 1024 pixels up) and are cleared as soon as
the base, a variant or a lever changes, or a run starts. Simulations run in worker processes on
every core, never in the server's own process (one pool per browser session, kept between
runs: :mod:`simulation.app.workers`), and one click's work is bounded
(:func:`levers.click_budget_problem`). Pressing *Cancel*, or changing anything while a run goes
on, stops it: Streamlit interrupts the page at its next progress update, and the run's worker
processes are stopped. A second tab explains the method.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.forkserver
import os
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from simulation import display
from simulation.app.about import about_markdown
from simulation.app.editor import lever_widgets
from simulation.app.levers import (
    MAX_UPLOAD_BYTES,
    click_budget_problem,
    run_key,
    scenario_from_upload,
    shipped_configs,
)
from simulation.app.results import show_results
from simulation.app.strategies import (
    BASELINE,
    MAX_VARIANTS,
    Base,
    Variant,
    baseline_variant,
    comparison,
    experiment_variant,
    lever_variant,
    name_problem,
)
from simulation.app.workers import SessionPool
from simulation.errors import ScenarioError
from simulation.experiments.spec import Experiment, load_experiment
from simulation.pool import ProgressCallback
from simulation.runner import RunResult, run
from simulation.scenario import Scenario, parse_scenario, parse_yaml, read_yaml

DEFAULT_CONFIG = "coventry-2023.yaml"
MAX_CACHED_RUNS = 2 * (MAX_VARIANTS + 1)
RUN_LABEL = "Run all strategies"
SOURCES = ("Shipped config", "Shipped experiment", "Upload a YAML file")


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


def _show_issues(exc: ScenarioError, what: str) -> None:
    st.error(f"{what}:\n\n" + "\n".join(f"- {line}" for line in exc.lines()))


def experiments_dir() -> Path:
    """The shipped ``experiments/`` folder of a source checkout (may not exist when installed)."""
    return Path(__file__).resolve().parents[2] / "experiments"


def is_strategy_experiment(path: Path) -> bool:
    """A spec of strategies (``strategies``, ``grid`` or ``sweep``), not, say, an optimiser's."""
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), path.name)
    except (OSError, ScenarioError):
        return False
    return isinstance(data, dict) and any(k in data for k in ("strategies", "grid", "sweep"))


def shipped_experiments() -> dict[str, Path]:
    """Shipped experiment specs by file name (the browser sees and sends names only)."""
    folder = experiments_dir()
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.glob("*.yaml")) if is_strategy_experiment(p)}


@st.cache_resource(show_spinner="Loading the experiment…", max_entries=4)
def _load_experiment(path: str, _modified: float) -> Experiment:
    return load_experiment(path)


def _config_base(path: Path, name: str) -> Base:
    text = path.read_text(encoding="utf-8")
    raw = parse_yaml(text, name)
    return Base(f"shipped:{name}", parse_scenario(raw, name), raw, text)


def choose_base() -> Base | None:
    """Sidebar: a shipped config or experiment by name, or an uploaded YAML."""
    st.sidebar.header("Base")
    shipped, experiments = shipped_configs(), shipped_experiments()
    sources = [
        s
        for s, have in zip(SOURCES, (shipped, experiments, True), strict=True)
        if have  # an installed copy without the folders offers the upload only
    ]
    source = st.sidebar.radio("Start from", sources, key="source")
    if source == "Shipped config":
        names = list(shipped)
        default = names.index(DEFAULT_CONFIG) if DEFAULT_CONFIG in names else 0
        name = str(st.sidebar.selectbox("Config", names, index=default, key="config_name"))
        try:
            return _config_base(shipped[name], name)
        except ScenarioError as exc:
            _show_issues(exc, f"The shipped config {name} is not valid")
            return None
    if source == "Shipped experiment":
        return _experiment_base(experiments)
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
    text = content.decode("utf-8")
    sid = "upload:" + hashlib.sha256(content).hexdigest()[:12]
    return Base(sid, scenario, parse_yaml(text, upload.name), text)


def _experiment_base(experiments: dict[str, Path]) -> Base | None:
    names = list(experiments)
    name = str(st.sidebar.selectbox("Experiment", names, key="experiment_name"))
    path = experiments[name]
    try:
        experiment = _load_experiment(str(path), path.stat().st_mtime)
    except ScenarioError as exc:
        _show_issues(exc, f"The experiment {name} cannot be compared here")
        return None
    base_path = experiment.base_path
    text = base_path.read_text(encoding="utf-8")
    baseline = experiment.strategy(experiment.baseline).scenario
    return Base(f"experiment:{name}", baseline, read_yaml(base_path), text, experiment)


def _add_variant() -> None:
    variants: list[int] = st.session_state["variants"]
    variants.append(max(variants, default=0) + 1)


def _remove_variant(vid: int) -> None:
    st.session_state["variants"].remove(vid)


def variant_editors(base: Base) -> list[Variant] | None:
    """Sidebar: one tab per variant (its name, Remove, its levers), and Add. Returns the
    strategies, baseline first, or None if a name or an edit is not valid."""
    ids: list[int] = st.session_state.setdefault("variants", [1])
    st.sidebar.header("Variants")
    st.sidebar.button(
        "Add a variant",
        key="add_variant",
        on_click=_add_variant,
        disabled=len(ids) >= MAX_VARIANTS,
        help=f"Up to {MAX_VARIANTS} variants, each with its own lever values.",
    )
    # Tab labels: the names typed so far (a tab needs a label even while its name is empty).
    names = [
        str(st.session_state.get(f"variant:{vid}:name", "")).strip() or f"Variant {vid}"
        for vid in ids
    ]
    out = [baseline_variant(base.raw, base.scenario)]
    problems: list[tuple[str, ScenarioError]] = []
    with st.sidebar:
        for vid, tab in zip(ids, st.tabs(names), strict=True):
            with tab:
                name = st.text_input(
                    "Variant name", value=f"Variant {vid}", max_chars=40, key=f"variant:{vid}:name"
                ).strip()
                st.button(
                    "Remove this variant",
                    key=f"variant:{vid}:remove",
                    on_click=_remove_variant,
                    args=(vid,),
                    disabled=len(ids) == 1,
                )
                edits = lever_widgets(base.scenario, f"{base.sid}:v{vid}")
            try:
                out.append(lever_variant(name, base.raw, base.scenario, edits, name or "variant"))
            except ScenarioError as exc:
                problems.append((name, exc))
    for who, error in problems:
        _show_issues(error, f"The edits of {who or 'a variant'} make an invalid scenario")
    problem = name_problem([v.name for v in out[1:]])
    if problem:
        st.error(problem)
    return None if problems or problem else out


def experiment_strategies(base: Base) -> list[Variant]:
    """An experiment's strategies, baseline first, each with its overrides."""
    experiment = base.experiment
    assert experiment is not None
    ordered = sorted(experiment.strategies, key=lambda s: s.name != experiment.baseline)
    return [experiment_variant(s.name, base.raw, s.scenario, s.overrides) for s in ordered]


def describe_strategies(strategies: list[Variant], experiment: Experiment | None) -> None:
    """What each strategy changes, in the main column."""
    lines = []
    for i, v in enumerate(strategies):
        role = " (the baseline)" if i == 0 else ""
        what = "; ".join(v.changes) if v.changes else "no changes: the config as it is"
        if i > 0 and not v.changes:
            what = "no edits yet: equals the baseline"
        lines.append(f"- **{v.name}**{role}: {what}")
    if experiment is not None:
        st.caption(
            f"Experiment **{experiment.name}**: {experiment.description} Its strategies are "
            "fixed: they are listed with their overrides and cannot be edited here."
        )
    st.markdown("\n".join(lines))


def session_pool() -> SessionPool:
    """This browser session's worker processes (started at its first run)."""
    pool: SessionPool = st.session_state.setdefault("pool", SessionPool(workers()))
    return pool


def cached_run(
    scenario: Scenario, replications: int, seed: int, progress: ProgressCallback
) -> RunResult:
    """Run (in the session's worker processes), or reuse a run of the same config,
    replications and seed from this session."""
    cache: dict[str, RunResult] = st.session_state.setdefault("runs", {})
    key = run_key(scenario.to_dict(), replications, seed)
    if key in cache:
        progress(replications)
        return cache[key]
    workers_ = session_pool()
    try:
        result = run(
            scenario,
            replications=replications,
            seed=seed,
            workers=workers_.workers,
            progress=progress,
            pool=workers_.acquire(),
        )
    except BaseException:
        # Cancel, a change of settings (Streamlit stops the page in ``progress``) or a failure:
        # the workers stop now, with whatever they had queued.
        workers_.stop()
        raise
    workers_.release()
    while len(cache) >= MAX_CACHED_RUNS:
        cache.pop(next(iter(cache)))
    cache[key] = result
    return result


def run_all(
    strategies: list[Variant], replications: int, seed: int, beside_run: Any
) -> dict[str, Any]:
    """Run every strategy with common random numbers, then compare each with the baseline (the
    first). The progress shows both under Run (``beside_run``, with Cancel), where the click
    was, and where the results will appear."""
    with beside_run.container():
        st.button("Cancel", key="cancel", help="Stop this run; nothing is kept.", width="stretch")
        bars = [st.progress(0.0, text="Starting the worker processes…")]
    bars.append(st.progress(0.0, text="Starting the worker processes…"))
    n = len(strategies)
    results: dict[str, RunResult] = {}
    for step, variant in enumerate(strategies):
        who = f"the baseline ({variant.name})" if step == 0 else variant.name
        if variant.name == BASELINE:
            who = "the baseline"
        done = [0]

        def tick(k: int, who: str = who, step: int = step, done: list[int] = done) -> None:
            # Each update is also where Streamlit stops the page if Cancel was pressed.
            done[0] += k
            for bar in bars:
                bar.progress(
                    min(1.0, (step + done[0] / replications) / n),
                    text=f"Simulating {who} (step {step + 1} of {n}): "
                    f"{done[0]}/{replications} replications",
                )

        results[variant.name] = cached_run(variant.scenario, replications, seed, tick)
    beside_run.empty()  # no Cancel once the run is over
    table = comparison(results, strategies[0].name)
    return {"results": results, "comparison": table, "strategies": strategies}


def run_settings(seed_default: int, sid: str) -> tuple[int, int]:
    """Sidebar: replications and seed, each with what it means."""
    replications = int(
        st.sidebar.number_input(
            "Replications",
            min_value=2,
            max_value=1000,
            value=50,
            step=10,
            key="replications",
            help="How many times each strategy is simulated. More replications narrow the "
            "confidence intervals (about halving them for four times as many) and take "
            "longer: 50 is a quick look, 500 a firm answer.",
        )
    )
    seed = int(
        st.sidebar.number_input(
            "Seed",
            min_value=0,
            value=int(seed_default),
            step=1,
            key=f"{sid}:seed",
            help="The root of the random numbers. The same seed gives the same results; every "
            "strategy shares it, so their differences are due to their changes alone.",
        )
    )
    return replications, seed


def compare_page() -> None:
    """The comparison tab, with its sidebar."""
    base = choose_base()
    if base is None:
        return
    st.sidebar.header("Run")
    experiment = base.experiment
    replications, seed = run_settings(
        experiment.seed if experiment else base.scenario.run.seed, base.sid
    )
    run_slot = st.sidebar.container()  # Run sits above the variants' levers, filled below
    progress_slot = st.sidebar.empty()  # and its progress and Cancel just under it
    strategies = experiment_strategies(base) if experiment else variant_editors(base)
    st.markdown(f"**{base.scenario.name}** — {base.scenario.description}")
    st.caption(
        f"Runs over {display.run_period(base.scenario)}, in {display.price_basis(base.scenario)}."
    )
    if strategies is not None:
        describe_strategies(strategies, experiment)
    request = (
        run_key(
            {"strategies": [(v.name, v.scenario.to_dict()) for v in strategies]},
            replications,
            seed,
        )
        if strategies is not None
        else "invalid"
    )
    # One slot for the results: replaced at once when a run starts or anything changes.
    results = st.empty()
    if st.session_state.pop("running", False):
        cancelled = bool(st.session_state.get("cancel"))
        st.warning(
            "The run was cancelled: nothing was kept."
            if cancelled
            else "The run stopped when the page changed: press Run again for these settings."
        )
    if strategies is not None and run_slot.button(
        RUN_LABEL, type="primary", key="run", width="stretch"
    ):
        problem = click_budget_problem([v.scenario for v in strategies], replications)
        if problem is not None:
            st.error(problem)
        else:
            start_run(results, progress_slot, base, strategies, replications, seed, request)
    last = st.session_state.get("last")
    if last is not None and st.session_state.get("last_request") != request:
        # A result of other settings is never shown beside these ones.
        for key in ("last", "last_request", "last_base"):
            st.session_state.pop(key, None)
        results.info(f"The settings changed: press **{RUN_LABEL}** for new results.")
        return
    if last is None:
        results.info(
            f"Add variants and change their levers in the sidebar, then press **{RUN_LABEL}**: "
            "every strategy is simulated on the same random demand and compared here with the "
            "baseline."
        )
        return
    with results.container():
        show_results(last, st.session_state["last_base"], replications, seed)


def start_run(
    results: Any,
    progress: Any,
    base: Base,
    strategies: list[Variant],
    replications: int,
    seed: int,
    request: str,
) -> None:
    """Clear the old results, then run every strategy with the progress in their place."""
    for key in ("last", "last_request", "last_base"):
        st.session_state.pop(key, None)
    st.session_state["running"] = True  # still set on the next page if this run is stopped
    try:
        with results.container():
            out = run_all(strategies, replications, seed, progress)
    except ScenarioError as exc:
        st.session_state.pop("running", None)
        _show_issues(exc, "The scenario cannot be run")
        return
    st.session_state.pop("running", None)
    st.session_state["last"] = out
    st.session_state["last_request"] = request
    st.session_state["last_base"] = base


def page() -> None:
    """The whole page: the comparison and the About tab."""
    st.set_page_config(page_title="sufficiency: what if?", layout="wide")
    _warm_forkserver()
    # Streamlit's grey captions fall short of WCAG AA contrast (4.5:1) on white: darken them.
    st.html("<style>[data-testid=stCaptionContainer] {color: #4d4d4d; opacity: 1;}</style>")
    st.title("sufficiency: what if?")
    st.caption(
        "Children's residential care capacity simulation. Change the plan in several ways, run "
        "each many times, and compare them with the unedited plan on the same random demand."
    )
    compare_tab, about_tab = st.tabs(["Compare strategies", "About the method"])
    with about_tab:
        st.markdown(about_markdown())
    with compare_tab:
        compare_page()


def main() -> None:
    """Run the page; any unexpected failure becomes a message, not a traceback."""
    try:
        page()
    except Exception as exc:  # (Streamlit's reruns and stops, how Cancel works, are not Exceptions)
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


if __name__ == "__main__":  # Streamlit runs the page as __main__
    main()
