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
from rich.table import Table

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
from simulation.errors import ScenarioError
from simulation.kinds import BED_KINDS

try:  # typer >= 0.20 vendors its own click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exc  # type: ignore[no-redef]
from simulation.metrics import HEADLINE
from simulation.outputs import OUTPUT_FILES, OutputDirError, check_out_dir, write_outputs
from simulation.runner import RunResult, run
from simulation.scenario import Scenario, load_scenario
from simulation.schema_doc import config_reference

app = typer.Typer(
    name="sufficiency",
    help="Capacity simulation of a council's children's homes and placements.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _default_out(scenario: Scenario) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario.name).strip("-") or "run"
    return Path("results") / f"{slug}-{stamp}"


def _fmt(fmt: str, value: Any) -> str:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "-" if missing else fmt.format(value)


def summary_table(result: RunResult) -> Table:
    stats = result.stats().set_index("metric")
    table = Table(
        title=f"{result.scenario.name}: {result.replications} replications, seed {result.seed}",
        title_justify="left",
    )
    table.add_column("Metric (whole run)")
    for col in ("Mean", "P5", "P50", "P95", "95% CI of mean"):
        table.add_column(col, justify="right")
    for name, label, fmt in HEADLINE:
        if name not in stats.index:
            continue
        row = stats.loc[name]
        ci = f"{_fmt(fmt, row['ci_low'])} – {_fmt(fmt, row['ci_high'])}"
        table.add_row(
            label,
            _fmt(fmt, row["mean"]),
            _fmt(fmt, row["p5"]),
            _fmt(fmt, row["p50"]),
            _fmt(fmt, row["p95"]),
            ci,
        )
    return table


def units_table(result: RunResult) -> Table | None:
    """Occupancy of each home and block contract against the business case's assumption."""
    units = result.units[result.units["kind"].isin(BED_KINDS)]
    if units.empty:
        return None
    table = Table(title="Occupancy by home / contract (whole run)", title_justify="left")
    for col, justify in (
        ("Unit", "left"),
        ("Kind", "left"),
        ("Beds", "right"),
        ("Occupancy % mean", "right"),
        ("P5 – P95", "right"),
        ("Assumed %", "right"),
        ("P(at or above assumed)", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, grp in units.groupby("unit", sort=False):
        occ = grp["occupancy_pct"].dropna()
        assumed = grp["assumed_occupancy_pct"].iloc[0]
        if occ.empty:
            table.add_row(str(name), grp["kind"].iloc[0], str(grp["beds"].iloc[0]), "not open")
            continue
        meets = "-" if math.isnan(assumed) else f"{(occ >= assumed).mean():.2f}"
        table.add_row(
            str(name),
            grp["kind"].iloc[0],
            str(grp["beds"].iloc[0]),
            f"{occ.mean():.1f}",
            f"{occ.quantile(0.05):.1f} – {occ.quantile(0.95):.1f}",
            _fmt("{:.1f}", assumed),
            meets,
        )
    return table


def _check_out(out_dir: Path, overwrite: bool) -> None:
    """Fail (one line, exit 2) unless the results can go to ``out_dir``: before any work."""
    try:
        check_out_dir(out_dir, overwrite)
    except OutputDirError as exc:
        fail(f"--out: {exc}")
    except OSError as exc:
        fail_write("--out", out_dir, exc)


def _write(result: RunResult, out_dir: Path, overwrite: bool) -> Path:
    """Write the results; a write that fails (a full disk) leaves nothing and exits 2."""
    existed = out_dir.exists()
    try:
        return write_outputs(result, out_dir, overwrite=overwrite)
    except OutputDirError as exc:  # changed during the run
        fail(f"--out: {exc}")
    except OSError as exc:
        kept = "the existing folder is unchanged" if existed else "nothing was written"
        fail_write("--out", out_dir, exc, f" ({kept})")


@app.command("run")
def run_command(
    config: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Simulate a scenario many times and write the results."""
    scenario = load_config(config)
    out_dir = out or _default_out(scenario)
    _check_out(out_dir, overwrite)
    n = replications or scenario.run.replications
    try:
        with progress_bar(f"Simulating {scenario.name}", n, quiet) as (advance, _):
            result = run(scenario, replications=n, seed=seed, workers=workers, progress=advance)
        written = _write(result, out_dir, overwrite)
    except KeyboardInterrupt:
        kept = " (the existing folder is unchanged)" if out_dir.exists() else ""
        interrupted(f"nothing was written{kept}")
    if not quiet:
        console.print(summary_table(result))
        homes = units_table(result)
        if homes is not None:
            console.print(homes)
        console.print(
            f"{n} replications in {result.elapsed_seconds:.1f} s on {result.workers} worker(s); "
            f"results in {written}/"
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
def outputs_command() -> None:
    """List the files a run writes and what each holds."""
    for name, what in OUTPUT_FILES.items():
        print(f"{name:22s} {what}")


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
