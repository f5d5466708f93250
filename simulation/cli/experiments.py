"""Command-line commands for experiments: ``experiment``, ``compare``, ``results``, ``sensitivity``.

Same conventions as :mod:`simulation.cli.run`: bad input ends with one line ``error: ...`` naming
the field or path and what is allowed, exit code 2, and nothing written.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from simulation import compare, display
from simulation.atomic import atomic_file
from simulation.cli.common import check_output_file, fail, fail_write, interrupted, progress_bar
from simulation.cli.observed import observed_table
from simulation.errors import ScenarioError
from simulation.experiments.driver import (
    ExperimentResult,
    observed_values,
    run_experiment,
    run_in_memory,
)
from simulation.experiments.executor import SchedulerError, parse_scheduler
from simulation.experiments.spec import (
    Experiment,
    experiment_from_configs,
    load_experiment,
    metric_names,
)
from simulation.observed import check_values, paired_at_points
from simulation.runner import summarise
from simulation.store import DATA_TABLES, DEFAULT_DB, ResultsStore, StoreError, StoreWriteError

# Piped or logged output is as wide as COLUMNS says, else 120 (rich would assume 80).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)

DbOption = Annotated[
    Path, typer.Option("--db", help="Results store (DuckDB file; one per project folder).")
]
WorkersOption = Annotated[
    int, typer.Option("--workers", "-w", min=0, help="Local processes; 0 = one per core.")
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run on Dask: local:N starts a LocalCluster of N workers; tcp://HOST:PORT uses an "
        "existing scheduler. Default: local processes.",
    ),
]


def compact(value: float, signed: bool = False) -> str:
    """A number short enough for a table cell: 1.23m, 45.6k, 87.5, 0.421."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    sign = "+" if signed and value >= 0 else ""
    a = abs(value)
    if a >= 1e6:
        return f"{sign}{value / 1e6:,.2f}m"
    if a >= 1e4:
        return f"{sign}{value / 1e3:,.1f}k"
    if a >= 100:
        return f"{sign}{value:,.0f}"
    if a >= 1:
        return f"{sign}{value:.2f}"
    return f"{sign}{value:.3g}"


def paired_table(
    title: str, summary: pd.DataFrame, baseline: str, metrics: list[str], order: list[str]
) -> RenderableType:
    """Each strategy against the baseline, one table per strategy (so any number of them, with
    names of any length, fits 80 columns): per metric the baseline's mean, the strategy's mean
    difference ± the half-width of its 95% CI, and the chance the strategy is better."""
    base = summary[summary["strategy"] == baseline]
    parts: list[RenderableType] = [Text(title, style="bold")]
    for name in order:
        rows = summary[summary["strategy"] == name]
        if name == baseline or rows.empty:
            continue
        if not set(rows["replication"]) & set(base["replication"]):
            continue
        # The tool's one pairing rule (simulation.compare), which also counts pairs in which
        # the strategy is higher, so "better" reads the right way for every metric.
        diffs = compare.paired_differences(base, rows, metrics)
        table = Table(
            title=f"{name} against {baseline} ({int(diffs['n'].max())} pairs)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
        )
        table.add_column("Metric", no_wrap=True)
        for col in ("Baseline", "Difference ± 95% CI", "P(better)"):
            table.add_column(col, justify="right", no_wrap=True)
        for rec in diffs.to_dict("records"):
            m = str(rec["metric"])
            half = (rec["ci_high"] - rec["ci_low"]) / 2
            like = rec["baseline_mean"]
            p = display.p_better(m, rec["p_edited_lower"], rec["p_edited_higher"])
            table.add_row(
                display.metric_label(m),
                display.value(m, like),
                f"{display.difference(m, rec['mean_diff'], like)} "
                f"{display.plus_minus(m, half, like)}",
                display.probability(p),
            )
        parts.append(table)
    parts.append(
        Text(
            "Paired on the same replication seeds (common random numbers). Difference: the "
            "strategy's mean minus the baseline's, ± the half-width of its 95% confidence "
            "interval (an interval that excludes 0 is a real difference). P(better): the share "
            "of pairs in which the strategy is better (lower or higher, as the metric reads; – "
            "where neither is better; for a cost, P(cheaper)). Percentage differences are in "
            "points."
        )
    )
    return Group(*parts)


def _print_result(result: ExperimentResult, metrics: list[str]) -> None:
    exp = result.experiment
    order = [s.name for s in exp.strategies]
    title = (
        f"{exp.name}: {len(order)} strategies x {result.replications} replications, "
        f"seed {exp.seed}, each against '{exp.baseline}'"
    )
    console.print(paired_table(title, result.summary, exp.baseline, metrics, order))
    scenario = exp.strategies[0].scenario
    console.print(f"Totals {display.totals_basis(scenario)}.", markup=False)


def _print_precision(result: ExperimentResult) -> None:
    """Per strategy: the precision its paired differences reached, and with what."""
    table = result.precision
    rule = result.experiment.precision
    assert table is not None and rule is not None
    if rule.target.relative:
        target = f"{display.number(100 * rule.target.value, 1)}% of the baseline's mean"
    else:
        metrics = dict.fromkeys(str(m) for m in table["metric"])
        target = ", ".join(display.plus_minus(m, rule.target.value) for m in metrics)
    out = Table(
        title=f"Precision reached (target: 95% CI half-width within {target}; cap "
        f"{rule.max:,} replications a strategy)",
        title_justify="left",
    )
    for col in ("strategy", "metric", "replications", "difference", "95% CI", "target"):
        out.add_column(col, justify="left" if col in ("strategy", "metric") else "right")
    out.add_column("met")
    out.add_column("variance reduction", justify="right")
    for r in table.to_dict(orient="records"):
        m = str(r["metric"])
        out.add_row(
            str(r["strategy"]),
            display.metric_label(m),
            display.number(r["n"]),
            # On the target's scale: against ±£0.5m, pounds; against ±£5m, £m.
            display.difference(m, r["mean_diff"], r["target"]),
            display.plus_minus(m, r["half_width"], r["target"]),
            display.plus_minus(m, r["target"]),
            "yes" if r["met"] else "no",
            f"x{r['variance_reduction']:.1f} ({r['reduced_by']})",
        )
    console.print(out)


def _print_reduced_cost(table: pd.DataFrame) -> None:
    """Per strategy: the total-cost difference estimated with reduced variance
    (:meth:`ExperimentResult.reduced_cost`)."""
    out = Table(
        title="Total cost difference, reduced variance (docs/statistics.md)", title_justify="left"
    )
    for col in ("strategy", "pairs", "difference", "± 95% CI", "variance reduction"):
        out.add_column(col, justify="left" if col == "strategy" else "right")
    for r in table.to_dict(orient="records"):
        out.add_row(
            str(r["strategy"]),
            display.number(r["n"]),
            display.difference("cost_total_gbp", r["reduced_diff"]),
            display.plus_minus("cost_total_gbp", r["reduced_half_width"], r["reduced_diff"]),
            f"x{r['variance_reduction']:.1f} ({r['reduced_by']})",
        )
    console.print(out)


def _print_observed(result: ExperimentResult, store: ResultsStore) -> None:
    """With observed points in the configs: each strategy against the published figures, then
    each strategy's paired effect at them (the same replication seeds as the baseline)."""
    exp = result.experiment
    if not any(st.scenario.observed for st in exp.strategies):
        return
    try:
        values = observed_values(result, store)
    except StoreError as exc:
        fail(str(exc))
    if not values:
        console.print(
            "Observed points: no weekly series stored (run without --no-weekly to compare)",
            markup=False,
        )
        return
    scenarios = {st.name: st.scenario for st in exp.strategies}
    for name, vals in values.items():
        checks = check_values(scenarios[name], vals)
        console.print(observed_table(checks, f"{name}: published outcomes against the simulation"))
    base = values.get(exp.baseline)
    if base is None:
        return
    parts: list[RenderableType] = [
        Text(f"Paired effect at the published dates, each against '{exp.baseline}'", style="bold")
    ]
    for name, vals in values.items():
        if name == exp.baseline or list(vals.columns) != list(base.columns):
            continue
        diffs = paired_at_points(scenarios[name], base, vals)
        table = Table(
            title=f"{name} against {exp.baseline} ({int(diffs['n'].max())} pairs)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
        )
        table.add_column("Date", no_wrap=True)
        table.add_column("Figure")
        for col in ("Baseline", "Strategy", "Difference ± 95% CI"):
            table.add_column(col, justify="right", no_wrap=True)
        for rec in diffs.to_dict("records"):
            m = str(rec["series"])
            half = (rec["ci_high"] - rec["ci_low"]) / 2
            like = rec["baseline_mean"]
            table.add_row(
                display.uk_date(rec["date"]),
                display.metric_label(m),
                display.value(m, like),
                display.value(m, rec["edited_mean"]),
                f"{display.difference(m, rec['mean_diff'], like)} "
                f"{display.plus_minus(m, half, like)}",
            )
        parts.append(table)
    console.print(Group(*parts))


def check_report_file(path: Path, option: str) -> None:
    """Fail (one line, exit 2) unless an HTML report can be written at ``path``."""
    if path.suffix.lower() not in (".html", ".htm"):
        fail(f"{option}: {path} should end in .html")
    check_output_file(path, option)


def run_with_progress(
    exp: Experiment,
    store: ResultsStore,
    quiet: bool,
    on: Console,
    label: str = "Experiment",
    **options: Any,
) -> ExperimentResult:
    """:func:`run_experiment` behind a progress bar over every replication it may run (a run
    to a precision target lowers the total as strategies stop)."""
    total = exp.max_replications * len(exp.strategies)
    with progress_bar(f"{label} {exp.name}", total, quiet, on=on) as (advance, set_total):
        return run_experiment(exp, store, progress=advance, set_total=set_total, **options)


def write_experiment_report_file(
    result: ExperimentResult, store: ResultsStore | None, path: Path, where: str, flag: str
) -> Path:
    """The experiment's HTML report, with the published points when the store has the weekly
    series (``store`` None: none were stored); a failure is one line naming ``flag``."""
    from simulation.report.experiment import ExperimentData, write_experiment_report

    try:
        values = observed_values(result, store) if store is not None else {}
    except StoreError as exc:
        fail(str(exc))
    try:
        return write_experiment_report(ExperimentData(result, values, where), path)
    except OSError as exc:
        fail_write(flag, path, exc, " (nothing was written)")


def _load_experiment(spec: Path) -> Experiment:
    try:
        return load_experiment(spec)
    except ScenarioError as exc:
        fail(exc.one_line())


def _check_scheduler(scheduler: str | None) -> None:
    try:
        parse_scheduler(scheduler)
    except SchedulerError as exc:
        fail(str(exc))


def experiment_command(
    spec: Annotated[Path, typer.Argument(help="Experiment YAML file (experiments/*.yaml).")],
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications", "-n", min=1, help="Fixed replications per strategy (overrides spec)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", "-s", min=0, help="Root seed (default: the spec's).")
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            help="Run until every paired difference's 95% CI half-width is within this "
            "(100k, 0.1m, 2500, or 5% of the baseline's mean); overrides the spec's count.",
        ),
    ] = None,
    max_replications: Annotated[
        int | None,
        typer.Option(
            "--max-replications", min=10, help="Cap per strategy for --precision (default 2000)."
        ),
    ] = None,
    workers: WorkersOption = 0,
    scheduler: SchedulerOption = None,
    db: DbOption = DEFAULT_DB,
    weekly: Annotated[
        bool, typer.Option("--weekly/--no-weekly", help="Store the weekly series too.")
    ] = True,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Replications per task.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write an HTML report of the experiment here (a summary in words, every "
            "strategy against the baseline, the forest plot, the spec). Replaced if it exists.",
        ),
    ] = None,
) -> None:
    """Run an experiment into the results store (resuming it if interrupted); print paired
    differences of every strategy from the baseline."""
    exp = _load_experiment(spec)
    _check_scheduler(scheduler)
    if report is not None:
        check_report_file(report, "--report")
    if replications is not None and (precision is not None or max_replications is not None):
        fail("--replications: give either --replications or --precision, not both")
    if replications is not None:
        exp = exp.with_replications(replications)
    if precision is not None or max_replications is not None:
        try:
            exp = exp.with_precision(precision, max_replications)
        except ValueError as exc:
            fail(f"--precision: {exc}")
    if seed is not None:
        exp = exp.with_seed(seed)
    store = ResultsStore(db)
    try:  # a foreign, damaged or unwritable store is refused before any simulation
        store.prepare_for_writing()
    except StoreError as exc:
        fail(str(exc))
    total = exp.max_replications * len(exp.strategies)  # for the line printed at the end
    try:
        result = run_with_progress(
            exp,
            store,
            quiet,
            console,
            scheduler=scheduler,
            workers=workers,
            weekly=weekly,
            batch_size=batch_size,
        )
    except StoreWriteError as exc:  # a full disk: the store keeps whole batches; resume later
        fail(f"{exc}; to resume, run again: {shlex.join(['sufficiency', *sys.argv[1:]])}")
    except (StoreError, SchedulerError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        again = shlex.join(["sufficiency", *sys.argv[1:]])
        interrupted(f"every finished batch is kept in {db}; to resume, run again: {again}")
    if report is not None:
        written = write_experiment_report_file(result, store, report, str(db), "--report")
        print(written, file=sys.stderr)
    if quiet:
        print(db)
        return
    _print_result(result, list(exp.metrics))
    if result.precision is not None:
        _print_precision(result)
    elif "cost_total_gbp" in exp.metrics and (reduced := result.reduced_cost()) is not None:
        _print_reduced_cost(reduced)

    _print_observed(result, store)
    console.print(
        f"{result.ran} replications run ({total - result.ran} already stored or not needed) in "
        f"{result.elapsed_seconds:.1f} s on {result.where}; stored in {db} "
        f"(sufficiency results show {exp.name})",
        markup=False,
    )


def compare_command(
    configs: Annotated[
        list[Path], typer.Argument(help="Two or more config files; the first is the baseline.")
    ],
    replications: Annotated[
        int | None,
        typer.Option("--replications", "-n", min=1, help="Replications (default: first config's)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", "-s", min=0, help="Root seed (default: first config's).")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Metric to compare (repeatable).")
    ] = None,
    workers: WorkersOption = 0,
    scheduler: SchedulerOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Compare configs on the same replication seeds (common random numbers); nothing stored."""
    if len(configs) < 2:
        fail("compare needs at least two configs (the first is the baseline)")
    _check_scheduler(scheduler)
    try:
        exp = experiment_from_configs(configs, replications, seed, metric)
    except ScenarioError as exc:
        fail(exc.one_line())
    total = exp.max_replications * len(exp.strategies)
    with progress_bar("Comparing", total, quiet, on=console) as (advance, _):
        result = run_in_memory(exp, workers=workers, scheduler=scheduler, progress=advance)
    _print_result(result, list(exp.metrics))
    console.print(
        f"{total} replications in {result.elapsed_seconds:.1f} s on {result.where}", markup=False
    )


# -- results ----------------------------------------------------------------------------------

results_app = typer.Typer(
    help="Browse and export the results store.", no_args_is_help=True, rich_markup_mode=None
)


def _store(db: Path) -> ResultsStore:
    if not db.exists():
        fail(f"--db: no results store at {db} (run 'sufficiency experiment SPEC' first)")
    if db.is_dir():
        fail(f"--db: {db} is a folder (give the store's file)")
    return ResultsStore(db)


@results_app.command("list")
def results_list(
    experiment: Annotated[
        str | None, typer.Argument(help="List this experiment's runs (default: experiments).")
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """List stored experiments, or the runs of one experiment."""
    store = _store(db)
    try:
        store.check()  # a damaged store is reported, not listed
        runs = store.runs(experiment)
    except StoreError as exc:
        fail(str(exc))
    if experiment is not None and runs.empty:
        fail(f"no experiment '{experiment}' in {db}")
    if experiment is None:
        table = Table(title=f"Experiments in {db}", title_justify="left")
        cols = ("Experiment", "Runs", "Complete", "Interrupted", "Replications", "Last started")
        for col in cols:
            table.add_column(col)
        for name, grp in runs.groupby("experiment", sort=False):
            table.add_row(
                str(name),
                str(len(grp)),
                str(int((grp["status"] == "complete").sum())),
                str(int((grp["status"] == "interrupted").sum())),
                f"{int(grp['replications'].sum()):,}",
                str(grp["started"].max()),
            )
    else:
        table = Table(title=f"Runs of {experiment}", title_justify="left")
        for col in ("Run id", "Strategy", "Status", "Replications", "Seed", "Code", "Started"):
            table.add_column(col)
        for _, r in runs.sort_values(["position", "started"]).iterrows():
            table.add_row(
                r["run_id"],
                r["strategy"],
                f"{r['status']} ({r['owner']})" if r["owner"] else r["status"],
                f"{int(r['replications'])}/{int(r['target_replications'])}",
                str(r["seed"]),
                str(r["code_version"]),
                str(r["started"]),
            )
    console.print(table)


@results_app.command("show")
def results_show(
    selector: Annotated[str, typer.Argument(help="Experiment name or run id (prefix).")],
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Metric to show (repeatable).")
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Per-strategy statistics and paired differences of a stored experiment or run."""
    store = _store(db)
    try:
        store.check()
        runs = store.resolve(selector)
        summary = store.table("replications", list(runs["run_id"]))
        info = store.experiment_info(str(runs["experiment"].iloc[0]))
    except StoreError as exc:
        fail(str(exc))
    if summary.empty:
        fail(f"'{selector}' has no stored replications yet")
    known = [
        c for c in summary.columns if c not in ("experiment", "strategy", "run_id", "replication")
    ]
    metrics = list(metric or (info["metrics"] if info else known[:5]))
    bad = [m for m in metrics if m not in known]
    if bad:
        fail(f"--metric: unknown metric '{bad[0]}' (allowed: {', '.join(known)})")
    order = list(runs["strategy"])
    # Pair on the replications every strategy has (an interrupted run may have fewer).
    common = set.intersection(*(set(g["replication"]) for _, g in summary.groupby("strategy")))
    summary = summary[summary["replication"].isin(common)].drop(columns=["experiment", "run_id"])
    stats = Table(title=f"{selector}: means (95% CI)", title_justify="left")
    stats.add_column("Strategy")
    stats.add_column("n", justify="right")
    for m in metrics:
        stats.add_column(m, justify="right")
    for name in order:
        grp = summary[summary["strategy"] == name]
        s = summarise(grp[["replication", *metrics]]).set_index("metric")
        stats.add_row(
            name,
            str(len(grp)),
            *[
                f"{compact(s.loc[m, 'mean'])} ({compact(s.loc[m, 'ci_low'])}–"
                f"{compact(s.loc[m, 'ci_high'])})"
                for m in metrics
            ],
        )
    console.print(stats)
    baseline = info["baseline"] if info and info["baseline"] in order else order[0]
    if len(order) > 1:
        console.print(paired_table("Paired differences", summary, baseline, metrics, order))
    status = ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items())
    console.print(f"{len(runs)} run(s): {status}", markup=False)


@results_app.command("export")
def results_export(
    selector: Annotated[str, typer.Argument(help="Experiment name or run id (prefix).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.csv or .parquet).")],
    table: Annotated[
        str, typer.Option("--table", "-t", help=f"runs, {', '.join(DATA_TABLES)}.")
    ] = "replications",
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="csv or parquet (default: from --out).")
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Export a stored table of an experiment or run to CSV or parquet."""
    allowed_tables = ("runs", *DATA_TABLES)
    if table not in allowed_tables:
        fail(f"--table: unknown table '{table}' (allowed: {', '.join(allowed_tables)})")
    kind = fmt or out.suffix.lstrip(".").lower()
    if kind not in ("csv", "parquet"):
        fail(f"--format: '{kind}' is not csv or parquet (give --format or a .csv/.parquet --out)")
    check_output_file(out)
    store = _store(db)
    try:
        runs = store.resolve(selector)
        n = store.export(table, list(runs["run_id"]), out, kind)
    except StoreError as exc:
        fail(str(exc))
    except OSError as exc:  # a full disk: drop the export's temporary, keep any earlier file
        out.with_name(f".{out.name}.tmp").unlink(missing_ok=True)
        fail_write("--out", out, exc, " (nothing was written)")
    console.print(f"{n:,} rows of {table} written to {out}", markup=False)


@results_app.command("verify")
def results_verify(db: DbOption = DEFAULT_DB) -> None:
    """Check a store: its file, every table's blocks and the tables against each other (read
    only). Exit code 0 if healthy, 2 with a line per problem if not."""
    from simulation.cli.common import fail_lines
    from simulation.store.verify import verify

    verdict = verify(db)
    if not verdict.healthy:
        fail_lines(verdict.problems)
    held = ", ".join(f"{name} {n:,}" for name, n in verdict.counts.items())
    console.print(f"{db}: healthy (store version {verdict.version}; {held})", markup=False)


def sensitivity_command(
    spec: Annotated[Path, typer.Argument(help="Experiment YAML file with a sweep (or grid).")],
    metric: Annotated[str, typer.Option("--metric", "-m", help="Output to analyse.")] = (
        "cost_total_gbp"
    ),
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="tornado (the sweep, one at a time), morris (SALib elementary effects) or "
            "sobol (SALib first-order and total indices).",
        ),
    ] = "tornado",
    replications: Annotated[
        int | None,
        typer.Option("--replications", "-n", min=2, help="Replications per strategy / point."),
    ] = None,
    trajectories: Annotated[
        int, typer.Option("--trajectories", min=2, help="Morris trajectories.")
    ] = 10,
    levels: Annotated[int, typer.Option("--levels", min=2, help="Morris grid levels.")] = 4,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            min=8,
            max=65536,
            help="Sobol base samples N (a power of 2): N x (factors + 2) points are run.",
        ),
    ] = 64,
    workers: WorkersOption = 0,
    scheduler: SchedulerOption = None,
    db: DbOption = DEFAULT_DB,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Which factors matter: a one-at-a-time tornado (stored like an experiment), Morris
    elementary effects or Sobol variance indices (SALib)."""
    from simulation.experiments.sensitivity import morris, tornado

    if method not in ("tornado", "morris", "sobol"):
        fail(f"--method: '{method}' is not tornado, morris or sobol")
    if method == "sobol" and samples & (samples - 1):
        fail(f"--samples: {samples} is not a power of 2 (e.g. 32, 64, 128)")
    exp = _load_experiment(spec)
    _check_scheduler(scheduler)
    allowed = metric_names(exp.strategies[0].scenario)
    if metric not in allowed:
        fail(f"--metric: unknown metric '{metric}' (allowed: {', '.join(allowed)})")
    if method == "tornado":
        if exp.spec is None or not exp.spec.sweep or exp.baseline != "base":
            fail(f"{spec}: a tornado needs a sweep and the base config as baseline")
        if replications is not None:
            exp = exp.with_replications(replications)
        try:
            result = run_with_progress(
                exp,
                ResultsStore(db),
                quiet,
                console,
                "Sweep",
                scheduler=scheduler,
                workers=workers,
            )
        except (StoreError, SchedulerError) as exc:
            fail(str(exc))
        df = tornado(result, metric)
        width = float(df[["low_diff", "high_diff"]].abs().to_numpy().max()) if len(df) else 0.0
        label = display.metric_label(metric, with_unit=True)
        table = Table(
            title=f"{exp.name}: change of {label} from the base (paired, "
            f"{result.replications} replications)",
            title_justify="left",
            caption="Low, High: the factor's two values; Δ: the mean change of the metric from "
            "the base with the factor at that value; Swing: the distance between the two.",
            caption_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
        )
        for col in ("Factor", "Low", "Δ low", "High", "Δ high", "Swing", ""):
            table.add_column(
                col, justify="left" if col in ("Factor", "") else "right", no_wrap=True
            )
        for _, r in df.iterrows():
            bar = _bar(float(r["low_diff"]), float(r["high_diff"]), width)
            table.add_row(
                str(r["factor"]),
                str(r["low_level"]),
                display.difference(metric, float(r["low_diff"]), width),
                str(r["high_level"]),
                display.difference(metric, float(r["high_diff"]), width),
                display.difference(metric, float(r["swing"]), width).lstrip("+"),
                bar,
            )
        console.print(table)
        return
    n = replications or 20
    if method == "sobol":
        _print_sobol(exp, metric, samples, n, workers, scheduler, quiet)
        return
    points = trajectories * (len(exp.factors) + 1)
    try:
        with progress_bar("Morris", points * n, quiet, on=console) as (advance, _):
            df = morris(
                exp,
                metric,
                trajectories=trajectories,
                levels=levels,
                replications=n,
                workers=workers,
                scheduler=scheduler,
                progress=advance,
            )
    except ScenarioError as exc:
        fail(exc.one_line())
    table = Table(
        title=f"{exp.name}: Morris elementary effects on "
        f"{display.metric_label(metric, with_unit=True)} ({trajectories} trajectories, "
        f"{points} points x {n} replications)",
        title_justify="left",
        caption="mu*: the mean absolute change of the metric when the factor moves one step of "
        "its range (how much it matters), with its 95% interval; mu: the same with signs (its "
        "direction); sigma: the spread of those changes (large: the factor interacts with "
        "others or acts non-linearly). All in the metric's units.",
        caption_justify="left",
    )
    for col in ("Factor", "mu*", "mu* 95% conf", "mu", "sigma"):
        table.add_column(col, justify="left" if col == "Factor" else "right")
    for _, r in df.iterrows():
        table.add_row(
            str(r["factor"]),
            display.value(metric, float(r["mu_star"])),
            display.value(metric, float(r["mu_star_conf"])),
            display.difference(metric, float(r["mu"])),
            display.value(metric, float(r["sigma"])),
        )
    console.print(table)


def _print_sobol(
    exp: Any,
    metric: str,
    samples: int,
    replications: int,
    workers: int,
    scheduler: str | None,
    quiet: bool,
) -> None:
    from simulation.experiments.sensitivity import sobol

    points = samples * (len(exp.factors) + 2)
    try:
        with progress_bar("Sobol", points * replications, quiet, on=console) as (advance, _):
            df, runs = sobol(
                exp,
                metric,
                samples=samples,
                replications=replications,
                workers=workers,
                scheduler=scheduler,
                seed=exp.seed % 2**32,
                progress=advance,
            )
    except ScenarioError as exc:
        fail(exc.one_line())
    table = Table(
        title=f"{exp.name}: Sobol indices of {display.metric_label(metric, with_unit=True)} "
        f"({points} points x {replications} replications = {runs:,} model runs)",
        title_justify="left",
        caption="S1: the share of the metric's variance over the factors' ranges that the factor "
        "explains alone; ST: with its interactions (ST - S1 large: it acts with others; ST near "
        "0: it does not matter over this range). ± 95% bootstrap half-widths. Each point is the "
        "mean of its replications on common random numbers, so chance is kept out of the split.",
        caption_justify="left",
    )
    for col in ("Factor", "S1", "± S1", "ST", "± ST"):
        table.add_column(col, justify="left" if col == "Factor" else "right")
    for _, r in df.iterrows():
        table.add_row(
            str(r["factor"]),
            f"{float(r['S1']):.2f}",
            f"{float(r['S1_conf']):.2f}",
            f"{float(r['ST']):.2f}",
            f"{float(r['ST_conf']):.2f}",
        )
    console.print(table)


def _bar(low: float, high: float, width: float, size: int = 6) -> str:
    """A text tornado bar: left of '|' the decrease, right of it the increase."""
    if width <= 0:
        return "|"
    neg = max(0.0, -min(low, high)) / width
    pos = max(0.0, max(low, high)) / width
    return f"{'#' * round(neg * size):>{size}}|{'#' * round(pos * size):<{size}}"


# -- optimise ---------------------------------------------------------------------------------


def optimise_command(
    spec: Annotated[Path, typer.Argument(help="Optimisation YAML file (experiments/optimise-*).")],
    replications: Annotated[
        int | None,
        typer.Option("--replications", "-n", min=2, help="Replications per shortlisted candidate."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", "-s", min=0, help="Root seed (default: the spec's).")
    ] = None,
    workers: WorkersOption = 0,
    shortlist: Annotated[
        int | None,
        typer.Option("--shortlist", "-k", min=1, help="Candidates to simulate after the screen."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write every candidate's row to this CSV.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Draw the shortlist's cost against risk and its frontier (.png, .svg)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Bed-mix optimiser: screen a search space with the Erlang loss approximation, simulate
    the cheapest shortlist on common random numbers, print (and plot) the cost-risk frontier."""
    from simulation.experiments.optimise import (
        SIM_COLUMNS,
        load_optimisation,
        run_optimisation,
    )

    try:
        opt = load_optimisation(spec)
    except ScenarioError as exc:
        fail(exc.one_line())
    if out is not None:
        if out.suffix.lower() != ".csv":
            fail(f"--out: '{out}' is not a .csv file")
        check_output_file(out)  # before the screen and the simulations, not after
    if plot is not None:
        if plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            fail(f"--plot: '{plot}' is not a .png, .svg or .pdf file")
        check_output_file(plot, "--plot")
    opt = opt.with_options(replications=replications, seed=seed, shortlist=shortlist)
    k = min(opt.shortlist, len(opt.candidates))
    with progress_bar(f"Optimise {opt.name}", k * opt.replications, quiet, on=console) as (
        advance,
        _,
    ):
        result = run_optimisation(opt, workers=workers, progress=advance)
    _print_optimisation(result)
    if out is not None:
        table = result.screened.merge(
            result.shortlist[["candidate", *SIM_COLUMNS]], on="candidate", how="left"
        )
        try:
            with atomic_file(out) as tmp:  # all or nothing
                table.to_csv(tmp, index=False)
        except OSError as exc:
            fail_write("--out", out, exc)
        console.print(f"{len(table)} candidates written to {out}", markup=False)
    if plot is not None:
        from simulation.plots import frontier_figure, save_figure

        label = display.metric_label(opt.objective, with_unit=True)
        fig = frontier_figure(result.shortlist, label, opt.risk.label, opt.risk.limit)
        try:
            save_figure(fig, plot)
        except OSError as exc:
            fail_write("--plot", plot, exc)
        console.print(f"frontier drawn in {plot}", markup=False)


def _print_optimisation(result: Any) -> None:
    opt = result.optimisation
    risk = opt.risk
    screened = result.screened
    n_pass = int(screened["passes_screen"].sum())
    console.print(
        f"{opt.name}: {len(screened)} candidates screened (Erlang loss approximation); "
        f"{n_pass} within {opt.screen_slack:g} x the risk limit; "
        f"{len(result.shortlist)} simulated x {opt.replications} replications, seed {opt.seed} "
        "(common random numbers)",
        markup=False,
    )

    def risk_text(value: float) -> str:
        return f"{value:.3f}" if not math.isnan(value) else "-"

    limit = f"{risk.label} <= {risk.limit:g}"
    table = Table(title=f"Shortlist: minimise {opt.objective} subject to {limit}")
    table.title_justify = "left"
    for col in ("#", "Candidate", "Screened", "Screened risk", opt.objective, "Risk (95% CI)"):
        table.add_column(col, justify="left" if col == "Candidate" else "right")
    table.add_column("Feasible")
    table.add_column("Frontier")
    ordered = result.shortlist.sort_values("objective_mean").reset_index(drop=True)
    for i, (_, r) in enumerate(ordered.iterrows()):
        half = (r["objective_ci_high"] - r["objective_ci_low"]) / 2
        feasible = "yes" if r["feasible_ci"] else ("likely" if r["feasible"] else "no")
        table.add_row(
            str(i + 1),
            str(r["candidate"]),
            compact(float(r["screened_objective"])),
            risk_text(float(r["screened_risk"])),
            f"{compact(float(r['objective_mean']))} ±{compact(float(half))}",
            f"{risk_text(float(r['risk']))} ({risk_text(float(r['risk_ci_low']))}-"
            f"{risk_text(float(r['risk_ci_high']))})",
            feasible,
            "*" if r["on_frontier"] else "",
        )
    table.caption = (
        "Screened: Erlang loss approximation (no simulation). Simulated: mean ± 95% CI half-width; "
        "risk CI Wilson (a probability) or Student t (a mean). Feasible: yes = CI within the "
        "limit, likely = estimate within it. * = on the efficient frontier (no candidate is "
        "both cheaper and less risky)."
    )
    console.print(table)
    front = result.frontier
    lines = [
        f"  {compact(float(r['objective_mean']))}  risk {risk_text(float(r['risk']))}  "
        f"{r['candidate']}"
        for _, r in front.iterrows()
    ]
    console.print("Efficient frontier (cost vs risk):\n" + "\n".join(lines), markup=False)
    best = result.best
    if best is None:
        console.print(
            "No shortlisted candidate meets the risk limit: widen the search or the shortlist.",
            markup=False,
        )
    else:
        ties = result.ties()
        tied = ties[ties["tied"] & (ties["candidate"] != best["candidate"])]
        if tied.empty:
            console.print(
                f"Cheapest meeting the limit: {best['candidate']} "
                f"({opt.objective} {compact(float(best['objective_mean']))}, "
                f"risk {risk_text(float(best['risk']))}); every other feasible candidate "
                "costs more (paired 95% CI above 0).",
                markup=False,
            )
        else:
            # Candidates the data cannot tell apart are reported together, not ranked.
            lines = [f"  {best['candidate']} ({compact(float(best['objective_mean']))})"]
            lines += [
                f"  {r['candidate']} ({compact(float(r['diff_mean']), signed=True)}, 95% CI "
                f"{compact(float(r['diff_ci_low']), signed=True)} to "
                f"{compact(float(r['diff_ci_high']), signed=True)})"
                for _, r in tied.iterrows()
            ]
            console.print(
                f"Tied for cheapest meeting the limit ({len(lines)} candidates whose paired "
                f"difference in {opt.objective} from the cheapest has a 95% CI including 0; "
                "more replications may separate them):\n" + "\n".join(lines),
                markup=False,
            )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``sufficiency`` app."""
    app.command("experiment")(experiment_command)
    app.command("compare")(compare_command)
    app.command("sensitivity")(sensitivity_command)
    app.command("optimise")(optimise_command)
    app.add_typer(results_app, name="results")
