"""The ``sufficiency`` command line: the app, its ``run``, ``validate``, ``schema`` and
``outputs`` commands, and :func:`main`; the other command groups live beside this module.

Bad input (a config, a flag) ends with one line naming the field and what is allowed, and exit
code 2; nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from simulation import display
from simulation.atomic import write_text_atomic
from simulation.cli import calibrate, experiments, occupancy, report
from simulation.cli.common import (
    EXIT_BAD_INPUT,
    check_output_file,
    console,
    fail,
    fail_lines,
    fail_write,
    interrupted,
    load_config,
    progress_bar,
)
from simulation.cli.observed import observed_table
from simulation.errors import ScenarioError
from simulation.kinds import BED_KINDS, KINDS

try:  # typer >= 0.20 vendors its own click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exc  # type: ignore[no-redef]
from simulation.outputs import (
    OUTPUT_FILES,
    OutputDirError,
    WrittenRun,
    check_format,
    check_out_dir,
    code_version,
    outputs_reference,
    run_to_folder,
    weekly_rows,
)
from simulation.pool import ProgressCallback
from simulation.runner import RunResult
from simulation.scenario import Scenario, load_scenario
from simulation.schema_doc import config_reference
from simulation.uncertain import replications_per_draw

app = typer.Typer(
    name="sufficiency",
    help="Capacity simulation of a council's children's homes and placements.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"sufficiency {code_version()}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Capacity simulation of a council's children's homes and placements."""


def _default_out(scenario: Scenario) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario.name).strip("-") or "run"
    return Path("results") / f"{slug}-{stamp}"


KIND_LABELS = {k.name: k.label for k in KINDS}


def _table(title: str, caption: str = "") -> Table:
    """A table that fits 80 columns: a rule under the header, no vertical borders."""
    return Table(
        title=title,
        title_justify="left",
        caption=caption or None,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )


def summary_table(result: RunResult | WrittenRun, wide: bool = False) -> Table:
    """The headline metrics over the whole run: mean, the 95% CI of the mean and the P5-P95
    range (``wide``: every percentile, the CI's ends and the standard deviation)."""
    stats = result.stats().set_index("metric")
    scenario = result.scenario
    split = bool(scenario.uncertain)
    caption = (
        f"Totals {display.totals_basis(scenario)}. ±: half-width of the 95% confidence "
        "interval of the mean; P5-P95: the range of outcomes (90% of replications)."
    )
    if split:
        per = replications_per_draw(scenario)
        caption += (
            f" Inputs: the share of the spread due to the {len(scenario.uncertain)} uncertain "
            f"input(s), the rest being chance ({math.ceil(result.replications / per)} draws of "
            f"them, {per} replications each)."
        )
    table = _table(
        f"{scenario.name}: {result.replications} replications, seed {result.seed}", caption
    )
    table.add_column("Metric (whole run)", no_wrap=True)
    columns = (
        ("Mean", "95% CI of the mean", "P5", "P25", "P50", "P75", "P95", "SD")
        if wide
        else ("Mean", "±", "P5", "P95")
    )
    if split:
        columns = (*columns, "Inputs (95% CI)" if wide else "Inputs")
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True)
    for name in display.HEADLINE_METRICS:
        if name not in stats.index:
            continue
        row = stats.loc[name]

        def v(x: Any, metric: str = name) -> str:
            return display.value(metric, x)

        if wide:
            ci = display.interval(v(row["ci_low"]), v(row["ci_high"]))
            cells = [v(row["mean"]), ci, *(v(row[p]) for p in ("p5", "p25", "p50", "p75", "p95"))]
            cells.append(display.value(name, row["sd"], like=row["mean"]))
        else:
            half = (row["ci_high"] - row["ci_low"]) / 2
            cells = [
                v(row["mean"]),
                "±" + display.value(name, half, like=row["mean"]),
                v(row["p5"]),
                v(row["p95"]),
            ]
        if split:
            share = display.share(row["var_input_share"], 0)
            if wide and share != display.DASH:
                low, high = row["var_input_share_low"], row["var_input_share_high"]
                share += f" ({display.share(low, 0)}-{display.share(high, 0)})"
            cells.append(share)
        table.add_row(display.metric_label(name), *cells)
    return table


def units_table(result: RunResult | WrittenRun, wide: bool = False) -> Table | None:
    """Occupancy of each home and block contract against the business case's assumption."""
    units = result.units[result.units["kind"].isin(BED_KINDS)]
    if units.empty:
        return None
    table = _table(
        "Occupancy by home and block contract (whole run)",
        "Occupancy: occupied / usable bed-days. Case: the business case's assumed occupancy; "
        "P(≥ case): the share of replications at or above it.",
    )
    table.add_column("Home / contract", no_wrap=True)
    columns = (
        ("Beds", "Mean", "P5", "P50", "P95", "Case", "P(≥ case)")
        if wide
        else ("Beds", "Mean", "P5-P95", "Case", "P(≥ case)")
    )
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True)
    pct = display.percent
    for i, (kind, of_kind) in enumerate(units.groupby("kind", sort=False)):
        if i:
            table.add_section()
        # A row naming the kind above its units, rather than a column repeating it.
        table.add_row(KIND_LABELS.get(str(kind), str(kind)), style="bold")
        for name, grp in of_kind.groupby("unit", sort=False):
            occ = grp["occupancy_pct"].dropna()
            assumed = grp["assumed_occupancy_pct"].iloc[0]
            head = [f"  {name}", str(grp["beds"].iloc[0])]
            if occ.empty:
                table.add_row(*head, "not open")
                continue
            meets = (
                display.DASH if math.isnan(assumed) else display.share((occ >= assumed).mean(), 0)
            )
            if wide:
                spread = [pct(occ.quantile(q)) for q in (0.05, 0.5, 0.95)]
            else:
                spread = [f"{display.number(occ.quantile(0.05), 1)}-{pct(occ.quantile(0.95))}"]
            table.add_row(*head, pct(occ.mean()), *spread, pct(assumed), meets)
    return table


def _check_out(out_dir: Path, overwrite: bool) -> None:
    """Fail (one line, exit 2) unless the results can go to ``out_dir``: before any work."""
    try:
        check_out_dir(out_dir, overwrite)
    except OutputDirError as exc:
        fail(f"--out: {exc}")
    except OSError as exc:
        fail_write("--out", out_dir, exc)


def _run_to_folder(
    scenario: Scenario,
    out_dir: Path,
    overwrite: bool,
    fmt: str,
    progress: ProgressCallback,
    replications: int,
    seed: int | None,
    workers: int,
) -> WrittenRun:
    """Run and write each batch as it comes; a write that fails (a full disk) leaves nothing
    and exits 2."""
    existed = out_dir.exists()
    try:
        return run_to_folder(
            scenario,
            out_dir,
            replications=replications,
            seed=seed,
            workers=workers,
            overwrite=overwrite,
            fmt=fmt,
            progress=progress,
        )
    except OutputDirError as exc:  # changed during the run
        fail(f"--out: {exc}")
    except OSError as exc:
        kept = "the existing folder is unchanged" if existed else "nothing was written"
        fail_write("--out", out_dir, exc, f" ({kept})")


@app.command("run")
def run_command(
    config: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    replications: Annotated[
        int | None,
        typer.Option("--replications", "-n", min=1, help="Replications (default: the config's)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", "-s", min=0, help="Root seed (default: the config's).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=0, help="Local processes; 0 = one per core.")
    ] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default: results/<name>-<time>)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an output folder that holds results.")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Format of the result tables: parquet, csv, or xlsx (one Excel workbook, a "
            "sheet per table). The summary is always CSV and JSON too.",
        ),
    ] = "parquet",
    wide: Annotated[
        bool,
        typer.Option("--wide", help="Every column in the printed tables (wider than 80)."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or tables: print the folder only.")
    ] = False,
) -> None:
    """Simulate a scenario many times, print the headline results and write the result files
    (see 'sufficiency outputs')."""
    scenario = load_config(config)
    n = replications or scenario.run.replications
    try:
        check_format(fmt, weekly_rows(scenario, n))
    except ValueError as exc:
        fail(f"--format: {exc}")
    out_dir = out or _default_out(scenario)
    _check_out(out_dir, overwrite)
    try:
        with progress_bar(f"Simulating {scenario.name}", n, quiet) as (advance, _):
            result = _run_to_folder(scenario, out_dir, overwrite, fmt, advance, n, seed, workers)
        written = result.folder
    except KeyboardInterrupt:
        kept = " (the existing folder is unchanged)" if out_dir.exists() else ""
        interrupted(f"nothing was written{kept}")
    if not quiet:
        console.print(summary_table(result, wide))
        homes = units_table(result, wide)
        if homes is not None:
            console.print(homes)
        if result.observed is not None:
            console.print(
                observed_table(
                    result.observed,
                    "Published outcomes against the simulation (observed.csv)",
                )
            )
        console.print(
            f"{n} replications in {result.elapsed_seconds:.1f} s on {result.workers} worker(s); "
            f"results in {written}/",
            markup=False,
        )
    else:
        print(written)


@app.command("validate")
def validate_command(
    config: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
) -> None:
    """Check a scenario; print every problem, one per line."""
    try:
        scenario = load_scenario(config)
    except ScenarioError as exc:
        fail_lines(exc.lines())
    console.print(
        f"{config}: valid — '{scenario.name}', {scenario.run.start_date} to {scenario.end_date}, "
        f"{len(scenario.provision.homes)} homes, "
        f"{len(scenario.provision.block_contracts)} block contracts, "
        f"needs: {', '.join(scenario.need_names)}",
        markup=False,
    )


@app.command("schema")
def schema_command(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to a file instead of stdout.")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="A Markdown field reference instead of JSON Schema.")
    ] = False,
) -> None:
    """Print the JSON Schema of scenario configs (for editors' completion and checks)."""
    if markdown:
        text = config_reference()
    else:
        text = json.dumps(Scenario.model_json_schema(by_alias=True), indent=2)
    if out is None:
        print(text)
        return
    check_output_file(out)
    try:
        write_text_atomic(out, text + "\n")
    except OSError as exc:
        fail_write("--out", out, exc)


@app.command("outputs")
def outputs_command(
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Every column of every table, as docs/outputs.md."),
    ] = False,
) -> None:
    """List the files a run writes and what each holds (--markdown: every column too)."""
    if markdown:
        print(outputs_reference(), end="")
        return
    for name, what in OUTPUT_FILES.items():
        print(f"{name:22s} {what}")
    print("Every column: sufficiency outputs --markdown (docs/outputs.md)")


# The other command groups, after this module's own commands (their order in ``--help``).
for _group in (experiments, occupancy, report, calibrate):
    _group.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: usage errors become one line and exit code 2."""
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=argv, prog_name="sufficiency", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except click_exc.NoArgsIsHelpError as exc:  # bare `sufficiency` (or a bare group): help
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        return 0
    except click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        print(f"error: {exc.format_message()}{hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # Without standalone mode click returns an Exit's code rather than raising it.
    return rc if isinstance(rc, int) else 0
