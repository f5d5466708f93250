"""Writing a run's results to a folder, all or nothing.

Files are written into a hidden temporary folder beside the target and moved into place only
when every file is complete, so an interrupted run never leaves a half-written result. Every
results folder holds a marker file, :data:`MARKER`, and only a folder with one (and nothing else
but files this tool writes) may be replaced with ``overwrite``: other folders are never deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from simulation.atomic import atomic_dir, check_can_create
from simulation.calendar import horizon_days, week_edges
from simulation.observed import check_points, week_of
from simulation.pool import ProgressCallback
from simulation.runner import (
    BATCH_TABLES,
    ID_COLUMNS,
    RunResult,
    iter_batches,
    plan_run,
    series_fan,
    summary_stats,
)
from simulation.scenario import Scenario
from simulation.store import owner as owners

MARKER = ".sufficiency-results"
"""The file that marks a folder as results of ``sufficiency run`` (holds the code version)."""

FORMATS = ("parquet", "csv", "xlsx")
"""The formats ``run --format`` writes the tables in (the summary is always CSV and JSON)."""
TABLES = ("replications", "weekly", "units", "finance", "fans")
"""The tables of a run, each written as ``<table>.parquet`` or ``.csv``, or as sheets of
``results.xlsx``."""
XLSX = "results.xlsx"
XLSX_MAX_ROWS = 1_048_576
"""Rows of an Excel sheet, the header included."""
XLSX_MAX_SHEETS = 4
"""At most this many sheets of one table (about 4.2 million rows): beyond, a workbook is too
slow to write and to open, and ``run --format xlsx`` is refused before it simulates."""

OUTPUT_FILES = {
    "replications.parquet": "one row per replication: every summary metric",
    "weekly.parquet": "one row per replication and week: children by placement type, beds, cost",
    "units.parquet": "one row per replication and unit: occupancy and voids per home/contract",
    "finance.parquet": "one row per replication and UK financial year: cost by component",
    "fans.parquet": "weekly percentile fans (P5-P95) of every weekly series",
    "summary.csv": "per metric: mean, sd, P5/P25/P50/P75/P95, 95% CI of the mean, the "
    "variance split into uncertain inputs and chance, and the reduced-variance mean (the "
    "`summary` columns below)",
    "summary.json": "the same statistics plus run metadata and the full validated config",
    "scenario.yaml": "the validated scenario, to replay the run exactly",
    "observed.csv": "only with an `observed` section: each published point beside the simulated "
    "mean and P5-P95 in its week, and whether it falls inside",
    MARKER: "marker: written by sufficiency (version); --overwrite may replace it",
}
"""The files of a run in the default format (``--format csv`` writes ``.csv`` for each
``.parquet``; ``--format xlsx`` one workbook, :data:`XLSX`, with a sheet per table)."""
OURS = {
    *OUTPUT_FILES,
    *(f"{t}.csv" for t in TABLES),
    XLSX,
    "report.html",
    "report.pdf",
}
"""Everything this tool writes into a results folder (``sufficiency report`` adds the report)."""

_KINDS = "`internal` (council homes), `block`, `framework`, `spot`, `unregistered`"
_COST_NOTE = (
    "cash: prices at the start date indexed by `costs.inflation_per_year` (capital repayments "
    "are fixed cash sums)"
)
_FOSTER_TYPES = (
    "`in_house` (the council's own foster carers, `fostering.in_house`), `ifa` (independent "
    "fostering agencies), `next_step` (step-down carers, `step_down.foster_carers`, counted "
    "when they have a `weekly_cost_gbp`)"
)
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "replications": (
        ("scenario", "the scenario's name"),
        ("replication", "replication number, 0 to n-1; seeded by (seed, replication) alone"),
        (
            "draw",
            "its parameter draw (configs with uncertain values only: replication // "
            "`run.replications_per_draw`)",
        ),
        ("seed", "the run's root seed"),
        ("children_initial", "children in residential care on the start date"),
        ("arrivals", "children entering residential care during the run"),
        ("exits", "children leaving care during the run"),
        ("children_end", "children in care at the end"),
        ("exits_<route>", "exits by route: `foster`, `home`, `supported`, `other`, `age_out`"),
        ("moves", "placements after a child's first"),
        ("moves_per_child", "moves per child placed"),
        ("displacements", "moves forced by a home closing or a block contract ending"),
        ("breakdowns", "placements that broke down (the child is placed again)"),
        ("repatriations", "moves back into the city from a market placement"),
        ("prevented", "children kept out of care by a prevention service"),
        (
            "emergencies",
            "emergency arrivals: children who must be placed the same day (configs "
            "with `matching`)",
        ),
        ("emergencies_to_<kind>", "the kind of placement each emergency first went to"),
        ("delayed_step_downs", "children due to step down to foster care who waited for a carer"),
        ("delayed_step_down_days", "days those children waited, in their bed"),
        (
            "family_plans",
            "children entering care planned for family-based care (configs with `fostering`)",
        ),
        ("foster_placements_<type>", f"foster placements started, by carer type: {_FOSTER_TYPES}"),
        (
            "foster_step_downs",
            "children in residential care for want of a foster placement who moved to an "
            "in-house carer (also in `foster_placements_in_house` and `exits_foster`)",
        ),
        (
            "want_of_foster_children",
            "children planned for family care who found no foster placement and entered "
            "residential care (also in `arrivals`)",
        ),
        ("want_of_foster_bed_days", "child-days those children spent placed in residential care"),
        (
            "want_of_foster_cost_gbp",
            "what those bed-days cost (a council or block bed's cost per bed, a market "
            "placement's price; cash). Already inside the `cost_<kind>_gbp`: do not add it",
        ),
        ("carers_recruited", "in-house foster carers recruited during the run"),
        ("foster_carers_end", "in-house foster carers registered at the end"),
        ("<kind>_bed_days", f"child-days placed in each kind of provision: {_KINDS}"),
        ("<kind>_usable_bed_days", "bed-days open and staffed (`internal`, `block`)"),
        ("<kind>_void_bed_days", "usable bed-days with no child (`internal`, `block`)"),
        ("<kind>_occupancy_pct", "occupied / usable bed-days, % (`internal`, `block`)"),
        ("void_bed_days", "void bed-days of council homes and block contracts together"),
        (
            "void_cost_gbp",
            "the cost of those empty beds (a home's running cost per bed, a block contract's "
            "price per bed). Already inside `cost_internal_gbp` and `cost_block_gbp`: do not "
            "add it to them",
        ),
        ("staff_short_home_days", "days homes were closed to admissions for want of staff"),
        ("staff_leavers", "care staff who left"),
        (
            "void_<cause>_bed_days",
            "void bed-days by cause: `turnaround` (the lump setting), `repair` (a bed out of use "
            "after a child left), `move_in` (kept for a matched child's planned move-in), "
            "`staffing`, `phased_fill`, `other` (no waiting child fits; they add up to "
            "`void_bed_days`)",
        ),
        (
            "spot_placements",
            "new spot placements during the run (children in spot at the start not counted)",
        ),
        ("spot_placements_per_year", "the same per year of the run"),
        ("framework_placements", "new framework placements"),
        ("spot_stock_mean", "mean number of children in spot placements"),
        ("spot_stock_peak_week", "the highest weekly mean number of children in spot"),
        ("out_of_city_share", "share (0-1) of placed child-days outside the city"),
        ("children_placed_mean", "mean number of children placed"),
        ("children_waiting_mean", "mean number of children waiting for a bed"),
        ("unregistered_placements", "unregistered placements while a spot search ran long"),
        ("spot_price_p95_weekly_gbp", "P95 of new spot placements' weekly prices (cash)"),
        ("cost_top5pct_placements_gbp", "cost of the most expensive 5% of market placements"),
        ("cost_top5pct_share", "their share (0-1) of market spend"),
        ("waiting_days_total", "days children spent waiting for a placement"),
        ("waiting_days_mean", "days waiting per placement sought"),
        (
            "cost_<kind>_gbp",
            f"cost by kind of provision ({_COST_NOTE}): council homes' running "
            "costs while open, full or empty (voids included); block beds' price per bed from "
            "start to end (voids included); framework, spot and unregistered prices per child",
        ),
        ("cost_retainer_gbp", "retainers paid to hold market beds"),
        ("cost_capital_gbp", "capital repayments of new homes (annuities, cash)"),
        ("cost_agency_gbp", "agency / overtime premium over a post's own cost"),
        ("cost_foster_<type>_gbp", "foster placements' weekly costs, by carer type (cash)"),
        ("cost_carer_recruitment_gbp", "cost of recruiting in-house foster carers (cash)"),
        (
            "cost_total_gbp",
            "total cost over the run: the `cost_<kind>_gbp`, retainer, capital, agency, "
            "foster and carer recruitment costs added (not `void_cost_gbp`, which is inside "
            "them)",
        ),
        ("cost_per_year_gbp", "`cost_total_gbp` divided by the run's years"),
        (
            "cost_total_at_mean_prices_gbp",
            "`cost_total_gbp` with every drawn market price (and retainer) at its "
            "distribution's mean and every yearly uplift at its expectation: the expected cost "
            "given the replication's path, "
            "for the mean cost only (empty when prices steer placements: repatriation of the "
            "most expensive first). See docs/statistics.md",
        ),
        (
            "control_arrivals",
            "control variate: arrivals during the run less their exact expectation (mean 0)",
        ),
        (
            "control_stay_days",
            "control variate: arrivals' days of stay within the run less its expectation",
        ),
        (
            "control_stay_spot_gbp",
            "control variate: those days at each need's mean spot price less its expectation",
        ),
    ),
    "weekly": (
        ("scenario", "the scenario's name"),
        ("replication", "replication number"),
        ("seed", "the run's root seed"),
        ("week", "week number from 0; weeks start on the start date's weekday"),
        ("week_start", "the week's first day"),
        ("children_<kind>", f"mean children placed in each kind during the week: {_KINDS}"),
        ("children_waiting", "mean children waiting for a bed"),
        (
            "children_awaiting_carer",
            "mean children due to step down waiting for a foster carer "
            "(in their bed, so also counted by kind)",
        ),
        ("children_out_of_city", "mean children placed outside the city"),
        ("children_placed", "mean children placed, every kind together"),
        ("children_in_city", "mean children placed in the city (`children_placed` less those out)"),
        (
            "in_city_share",
            "share (0-1) of placed children in the city: `children_in_city` / `children_placed` "
            "(empty when none is placed)",
        ),
        ("beds_<kind>", "mean usable beds (`internal`, `block`)"),
        (
            "<kind>_occupancy_pct",
            "children / usable beds, % (`internal`, `block`); empty when there are no beds",
        ),
        ("spot_new_placements", "new spot placements that week"),
        ("cost_gbp", f"cost that week, every component of `cost_total_gbp` ({_COST_NOTE})"),
        ("children_foster_<type>", f"mean children with foster carers: {_FOSTER_TYPES}"),
        (
            "children_want_of_foster",
            "mean children in residential care (placed or waiting) for want of a foster placement",
        ),
        ("foster_carers_registered", "mean in-house foster carers registered"),
        ("foster_carers_free", "mean in-house foster carers registered with no child"),
        ("foster_cost_gbp", "foster placements' and carer recruitment cost that week (cash)"),
    ),
    "units": (
        ("scenario", "the scenario's name"),
        ("replication", "replication number"),
        ("seed", "the run's root seed"),
        ("unit", "the home, block contract or market's name"),
        ("kind", f"its kind: {_KINDS}"),
        ("beds", "beds (0 for a market)"),
        ("in_city", "whether it is in the city (markets: drawn per placement)"),
        ("usable_bed_days", "bed-days open and staffed (homes and block contracts)"),
        ("occupied_bed_days", "child-days placed there"),
        ("occupancy_pct", "occupied / usable bed-days, %"),
        ("void_bed_days", "usable bed-days with no child"),
        (
            "void_cost_gbp",
            "the cost of those empty beds (cash); already inside the run's "
            "`cost_internal_gbp` / `cost_block_gbp`",
        ),
        ("assumed_occupancy_pct", "the business case's assumed occupancy, % (empty if none)"),
        (
            "void_<cause>_bed_days",
            "void bed-days by cause: `turnaround`, `repair`, `move_in`, `staffing`, "
            "`phased_fill`, `other`",
        ),
        (
            "planned_open_day",
            "planned opening, in days from the start date (0 or less: open at the start)",
        ),
        ("opened_day", "the day it actually opened in this replication (empty: not by the end)"),
        ("open_delay_days", "`opened_day` minus the planned opening (lifecycle slippage)"),
    ),
    "finance": (
        ("scenario", "the scenario's name"),
        ("replication", "replication number"),
        ("seed", "the run's root seed"),
        (
            "financial_year",
            "UK financial year, 1 April to 31 March (`2023-24`); a part year at "
            "either end of the run holds only the days simulated",
        ),
        (
            "<kind>_gbp",
            f"cost by kind of provision in the year ({_COST_NOTE}); `internal` and "
            "`block` include their void cost",
        ),
        ("retainer_gbp", "retainers paid"),
        (
            "void_gbp",
            "the cost of empty council and block beds in the year. Already inside "
            "`internal_gbp` and `block_gbp` (and so in `total_gbp`): do not add it",
        ),
        ("capital_gbp", "capital repayments (cash)"),
        ("agency_gbp", "agency / overtime premium"),
        ("foster_<type>_gbp", "foster placements' weekly costs in the year, by carer type"),
        ("carer_recruitment_gbp", "cost of recruiting in-house foster carers in the year"),
        (
            "total_gbp",
            "the year's total: the `<kind>_gbp`, retainer, capital, agency, foster and carer "
            "recruitment costs (not `void_gbp` again)",
        ),
        ("spot_new_placements", "new spot placements in the year"),
    ),
    "fans": (
        ("series", "the weekly table's column it summarises (`children_spot`, ...)"),
        ("week", "week number from 0"),
        ("week_start", "the week's first day"),
        ("mean", "mean across replications"),
        ("p5", "5th percentile across replications (p25, p50, p75, p95 likewise)"),
        ("p25", "25th percentile"),
        ("p50", "median"),
        ("p75", "75th percentile"),
        ("p95", "95th percentile"),
    ),
    "summary": (
        ("metric", "a column of the replications table"),
        ("n", "replications with a value"),
        ("mean", "mean across replications"),
        ("sd", "standard deviation across replications (all the spread: inputs and chance)"),
        ("p5", "5th percentile across replications (p25, p50, p75, p95 likewise)"),
        ("p25", "25th percentile"),
        ("p50", "median"),
        ("p75", "75th percentile"),
        ("p95", "95th percentile"),
        (
            "ci_low",
            "95% CI of the mean, low end (with uncertain inputs: from the parameter draws' "
            "means, since replications sharing a draw are not independent)",
        ),
        ("ci_high", "95% CI of the mean, high end"),
        (
            "var_input",
            "the variance due to the uncertain inputs, Var(E[metric | inputs]) (one-way ANOVA "
            "over the parameter draws, docs/model.md); 0 without uncertain inputs",
        ),
        ("var_chance", "the variance due to chance, E[Var(metric | inputs)]"),
        ("var_input_share", "var_input / (var_input + var_chance), 0-1"),
        (
            "var_input_share_low",
            "95% CI of that share, low end (F interval of an intraclass correlation)",
        ),
        ("var_input_share_high", "95% CI of that share, high end"),
        (
            "reduced_mean",
            "the mean estimated with reduced variance: the cost at mean prices for "
            "`cost_total_gbp` and `cost_per_year_gbp`, control variates where they pass an F "
            "test (docs/statistics.md); empty with uncertain inputs",
        ),
        ("reduced_ci_low", "its 95% CI, low end"),
        ("reduced_ci_high", "its 95% CI, high end"),
        (
            "variance_reduction",
            "the plain mean's variance over the reduced one's (4: the same precision from a "
            "quarter of the replications)",
        ),
        (
            "reduced_by",
            "how: `plain`, `controls`, `mean prices`, `mean prices + controls`, or "
            "`not with uncertain inputs`",
        ),
    ),
}
OBSERVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("date", "the day the published figure describes"),
    ("metric", "the weekly series it is set beside (a column of the weekly table)"),
    ("value", "the published value"),
    ("week", "the week holding the date (from 0)"),
    ("week_start", "that week's first day"),
    ("replications", "replications with a value that week"),
    ("mean", "the simulated mean that week"),
    ("p5", "5th percentile across replications"),
    ("p95", "95th percentile across replications"),
    ("inside", "whether the published value is within P5-P95 (empty: no value simulated)"),
    ("source", "where the figure is published"),
)
"""The columns of ``observed.csv`` (:func:`simulation.observed.check_points`)."""

"""Every column of every table a run writes, with what it holds: the one source of
docs/outputs.md (``sufficiency outputs --markdown``). ``<kind>``, ``<route>``, ``<cause>`` and
``<type>`` stand for each value listed."""


def documented(table: str, column: str) -> bool:
    """Whether ``column`` of ``table`` is described in :data:`COLUMNS` (by name or pattern)."""
    for name, _ in COLUMNS[table]:
        if "<" not in name:
            if name == column:
                return True
            continue
        pattern = re.escape(name)
        pattern = re.sub(r"\\?<[a-z]+\\?>", "[a-z_]+", pattern)
        if re.fullmatch(pattern, column):
            return True
    return False


def outputs_reference() -> str:
    """docs/outputs.md: the files of a run and every column of its tables."""
    lines = [
        "# What a run writes",
        "",
        "Generated by `sufficiency outputs --markdown` from `simulation/outputs.py`; do not edit.",
        "",
        "`sufficiency run CONFIG --out DIR [--format parquet|csv|xlsx]` writes these files. "
        "With `--format csv` each table is a `.csv` file; with `--format xlsx` the tables are "
        f"sheets of one workbook, `{XLSX}` (a `summary` sheet first), the weekly table split "
        f"over sheets of {XLSX_MAX_ROWS - 1:,} rows (`weekly`, `weekly 2`, ...).",
        "",
        "| file | contents |",
        "|---|---|",
        *(f"| `{name}` | {what} |" for name, what in OUTPUT_FILES.items()),
        "",
        "Costs are in cash (nominal) pounds: prices at the start date rise by "
        "`costs.inflation_per_year`. A void cost is part of the running cost of a council home "
        "or the price of a block contract, never an extra cost.",
    ]
    for table, columns in (*COLUMNS.items(), ("observed.csv", OBSERVED_COLUMNS)):
        lines += ["", f"## {table}", "", "| column | meaning |", "|---|---|"]
        lines += [f"| `{name}` | {what} |" for name, what in columns]
    return "\n".join(lines) + "\n"


class OutputDirError(ValueError):
    """A results folder that must not be written or replaced (the message says why, one line)."""


def _listing(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(sorted(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Check, before any work, that results can be written to the folder ``out``.

    Raises
    ------
    OutputDirError
        ``out`` is the current folder or one of its parents, a file, a folder that is not empty
        (without ``overwrite``), or one ``overwrite`` must not replace: not written by this tool
        (no :data:`MARKER`) or holding files it did not write.
    OSError
        The folder cannot be written (read-only or full file system, no permission...).
    """
    here = Path.cwd().resolve()
    resolved = out.resolve()
    if resolved == here or resolved in here.parents:
        raise OutputDirError(
            f"{out} is the current folder or one of its parents: results need a folder of "
            "their own (give a new folder name)"
        )
    if os.path.lexists(out) and not out.is_dir():
        raise OutputDirError(f"{out} is a file, not a folder (give a folder name)")
    if out.is_dir():
        names = [p.name for p in out.iterdir()]
        if names and not overwrite:
            raise OutputDirError(
                f"{out} already exists and is not empty (use --overwrite to replace results "
                "written by sufficiency)"
            )
        if names and MARKER not in names:
            raise OutputDirError(
                f"{out} was not written by 'sufficiency run' (no {MARKER} marker; it holds "
                f"{_listing(names)}): --overwrite only replaces results folders, so choose "
                "another --out or empty it yourself"
            )
        foreign = [n for n in names if n not in OURS]
        if foreign:
            raise OutputDirError(
                f"{out} holds files sufficiency did not write ({_listing(foreign)}): move them "
                "out first, or choose another --out"
            )
    check_can_create(out)


def code_version() -> str:
    """Package version, plus the git commit when run from a checkout."""
    try:
        version = metadata.version("sufficiency")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+g{commit}" if commit else version


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_metadata(result: RunInfo) -> dict[str, Any]:
    return {
        "scenario": result.scenario.name,
        "description": result.scenario.description,
        "seed": result.seed,
        "replications": result.replications,
        "workers": result.workers,
        "elapsed_seconds": round(result.elapsed_seconds, 3),
        "code_version": code_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "start_date": result.scenario.run.start_date.isoformat(),
        "end_date": result.scenario.end_date.isoformat(),
    }


def weekly_rows(scenario: Scenario, replications: int) -> int:
    """Rows of a run's weekly table (known before it runs: what decides whether it fits a
    workbook)."""
    days = horizon_days(scenario.run.start_date, scenario.run.horizon_years)
    return replications * (len(week_edges(days)) - 1)


def read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """The tables of a results folder in whichever format it was written (parquet, CSV or a
    workbook), by name; a table not there is left out."""
    if (folder / XLSX).is_file():
        from openpyxl import load_workbook

        book = load_workbook(folder / XLSX, read_only=True, data_only=True)
        sheets: dict[str, list[pd.DataFrame]] = {}
        for ws in book.worksheets:
            header = [str(c) for c in next(ws.iter_rows(max_row=1, values_only=True))]
            width = len(header)
            # (A read-only sheet drops a row's trailing empty cells: pad them back.)
            rows = [
                (*row, *(None,) * (width - len(row)))
                for row in ws.iter_rows(min_row=2, max_col=width, values_only=True)
            ]
            base = re.sub(r" \d+$", "", ws.title)
            sheets.setdefault(base, []).append(pd.DataFrame(rows, columns=header))
        book.close()
        return {t: pd.concat(sheets[t], ignore_index=True) for t in TABLES if t in sheets}
    out: dict[str, pd.DataFrame] = {}
    for t in TABLES:
        if (folder / f"{t}.parquet").is_file():
            out[t] = pd.read_parquet(folder / f"{t}.parquet")
        elif (folder / f"{t}.csv").is_file():
            out[t] = pd.read_csv(folder / f"{t}.csv")
    return out


def check_format(fmt: str, weekly_rows: int) -> None:
    """Refuse (``ValueError``, one line) a format the run's tables cannot be written in."""
    if fmt not in FORMATS:
        raise ValueError(f"'{fmt}' is not one of {', '.join(FORMATS)}")
    per_sheet = XLSX_MAX_ROWS - 1
    if fmt == "xlsx" and weekly_rows > per_sheet * XLSX_MAX_SHEETS:
        raise ValueError(
            f"xlsx: the weekly table would have {weekly_rows:,} rows, more than "
            f"{XLSX_MAX_SHEETS} Excel sheets of {per_sheet:,}; use --format csv or parquet, or "
            "fewer replications"
        )


def _sheet_value(value: Any) -> Any:
    """A cell openpyxl can store: NaN as empty, numpy scalars as Python, dates as dates."""
    if value is None:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return _sheet_value(value.item())
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime()
    return value


TableSource = pd.DataFrame | Path
"""A table to write: in memory, or a parquet file read one row group at a time."""


def _chunks(source: TableSource) -> Iterator[pd.DataFrame]:
    """A table in consecutive pieces: itself, or a parquet file's row groups (its empty
    schema if it has none, so the header is still known)."""
    if isinstance(source, pd.DataFrame):
        yield source
        return
    pf = pq.ParquetFile(source)
    if pf.num_row_groups == 0:
        yield pf.schema_arrow.empty_table().to_pandas()
    for i in range(pf.num_row_groups):
        yield pf.read_row_group(i).to_pandas()


def write_xlsx(path: Path, tables: dict[str, TableSource]) -> None:
    """One workbook, a sheet per table, streamed row by row (openpyxl's write-only mode, so
    memory stays flat; a parquet table is read a row group at a time); a table longer than a
    sheet continues on ``<name> 2``, ``<name> 3``."""
    from openpyxl import Workbook

    per_sheet = XLSX_MAX_ROWS - 1
    book = Workbook(write_only=True)
    for name, source in tables.items():
        part, rows, sheet = 0, per_sheet, None
        for chunk in _chunks(source):
            header = [str(c) for c in chunk.columns]
            if sheet is None:  # a table with no rows still gets its sheet and header
                part, rows = 1, 0
                sheet = book.create_sheet(name)
                sheet.append(header)
            for row in chunk.itertuples(index=False, name=None):
                if rows == per_sheet:
                    part, rows = part + 1, 0
                    sheet = book.create_sheet(f"{name} {part}")
                    sheet.append(header)
                sheet.append([_sheet_value(v) for v in row])
                rows += 1
    book.save(path)


def write_csv(path: Path, source: TableSource) -> None:
    """A table as CSV, written a piece at a time (the same text as pandas writes at once)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        for i, chunk in enumerate(_chunks(source)):
            chunk.to_csv(f, index=False, header=i == 0)


FILE_OF_BATCH = {
    "summary": "replications",
    "weekly": "weekly",
    "units": "units",
    "finance": "finance",
}
"""The table a batch's frame is written as (a run's ``summary`` is ``replications``)."""


SMALL_ROW_GROUP_BYTES = 16 * 2**20
"""The small tables (all but the weekly one) are written in row groups of about this size, not
one per batch: reading a file of thousands of small row groups costs far more memory than its
data (a 7 MB replications table of 200 row groups took ~120 MB to read, of 1 about 40 MB)."""


class BatchWriter:
    """Writes a run's tables into a folder a batch at a time: each batch is one parquet row
    group of the weekly table, and the small tables' batches are gathered into row groups of
    about :data:`SMALL_ROW_GROUP_BYTES`; so what is held is the batch in hand and at most that
    much of each small table.

    Batches must come in replication order (as :func:`simulation.runner.iter_batches` gives
    them); every batch has the first batch's columns.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.batches = 0
        self._writers: dict[str, pq.ParquetWriter] = {}
        # The files are opened here, not by the writers: a writer whose close fails (a full
        # disk) leaves the file it opened itself open, and the folder could not be cleaned up.
        self._files: list[pa.NativeFile] = []
        self._held: dict[str, list[pa.Table]] = {}

    def add(self, batch: dict[str, pd.DataFrame]) -> None:
        for key, df in batch.items():
            name = FILE_OF_BATCH[key]
            table = pa.Table.from_pandas(df, preserve_index=False)
            writer = self._writers.get(name)
            if writer is None:
                self._files.append(pa.OSFile(str(self.folder / f"{name}.parquet"), "wb"))
                writer = pq.ParquetWriter(self._files[-1], table.schema)
                self._writers[name] = writer
            elif not table.schema.equals(writer.schema, check_metadata=False):
                table = table.cast(writer.schema)
            if name == "weekly":
                writer.write_table(table)
                continue
            held = self._held.setdefault(name, [])
            held.append(table)
            if sum(t.nbytes for t in held) >= SMALL_ROW_GROUP_BYTES:
                self._flush(name)
        self.batches += 1

    def _flush(self, name: str) -> None:
        held = self._held.pop(name, [])
        if held:
            table = pa.concat_tables(held)
            self._writers[name].write_table(table, row_group_size=table.num_rows)

    def close(self) -> None:
        """Write what is held and close every file; the first error (a full disk) is raised
        once every writer has been closed, so none is left open."""
        error: BaseException | None = None
        try:
            for name in list(self._held):
                self._flush(name)
        except BaseException as exc:
            error = exc
        for writer in self._writers.values():
            try:
                writer.close()
            except BaseException as exc:
                error = error or exc
        for file in self._files:
            try:
                file.close()
            except BaseException as exc:
                error = error or exc
        self._files.clear()
        self._writers.clear()
        self._held.clear()
        pa.default_memory_pool().release_unused()
        if error is not None:
            raise error

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


FAN_WEEKS = 52
"""Weeks whose fans are worked out at once from a table on disk (every replication of them):
the statistics of a week depend on that week alone, so blocks give the same numbers."""


def weekly_fans_from_parquet(path: Path) -> pd.DataFrame:
    """:func:`simulation.runner.weekly_fans` of a weekly parquet table (sorted by replication
    and week, whole replications per row group), with the same numbers, holding one series of
    every replication (read a row group at a time into one array) rather than the table, and
    working :data:`FAN_WEEKS` weeks at a time."""
    pf = pq.ParquetFile(path)
    head = pf.read_row_group(0, columns=["replication", "week_start"]).to_pandas()
    first = head["replication"] == head["replication"].iloc[0]
    week_start = head.loc[first, "week_start"]
    n_weeks = len(week_start)
    rows = pf.metadata.num_rows
    series = [c for c in pf.schema_arrow.names if c not in ID_COLUMNS]
    column = np.empty(rows)
    frames = []
    for name in series:
        at = 0
        for i in range(pf.num_row_groups):
            part = pf.read_row_group(i, columns=[name]).column(0).to_numpy()
            column[at : at + len(part)] = part
            at += len(part)
        values = column.reshape(rows // n_weeks, n_weeks)
        blocks = [
            series_fan(name, values[:, w : w + FAN_WEEKS], week_start.iloc[w : w + FAN_WEEKS])
            for w in range(0, n_weeks, FAN_WEEKS)
        ]
        fan = pd.concat(blocks, ignore_index=True)
        fan["week"] = np.arange(n_weeks)
        frames.append(fan)
        # Arrow's allocator keeps freed pages for reuse: hand them back to the system.
        pa.default_memory_pool().release_unused()
    return pd.concat(frames, ignore_index=True)


class RunInfo(Protocol):
    """What the metadata of a run is made of (a :class:`RunResult` or a :class:`WrittenRun`)."""

    scenario: Scenario
    seed: int
    replications: int
    workers: int
    elapsed_seconds: float


UNITS_SHOWN = ["kind", "unit", "beds", "occupancy_pct", "assumed_occupancy_pct"]
"""The units table's columns :class:`WrittenRun` keeps (those the printed occupancy table
reads)."""


@dataclass
class WrittenRun:
    """A run written to a results folder: what the command line prints of it, without its
    tables (they are in ``folder``)."""

    folder: Path
    scenario: Scenario
    seed: int
    replications: int
    workers: int
    elapsed_seconds: float
    summary_stats: pd.DataFrame  # runner.summary_stats() of the replications table
    units: pd.DataFrame  # the UNITS_SHOWN columns of the units table
    observed: pd.DataFrame | None = None  # the observed points' check (observed.csv)

    def stats(self) -> pd.DataFrame:
        """Mean, sd, percentiles and 95% CI of the mean of every summary metric."""
        return self.summary_stats


def run_to_folder(
    scenario: Scenario,
    out_dir: str | Path,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    overwrite: bool = False,
    fmt: str = "parquet",
    progress: ProgressCallback | None = None,
    pool: Executor | None = None,
) -> WrittenRun:
    """Run ``scenario`` and write every result file to ``out_dir`` atomically, each batch of
    replications written as it comes: memory does not grow with the number of replications.

    The files are those :func:`write_outputs` writes of :func:`simulation.runner.run`'s result
    for the same arguments, with the same values. Raises as :func:`write_outputs`, and
    :class:`ScenarioError` / ``ValueError`` as :func:`simulation.runner.plan_run`.
    """
    plan = plan_run(scenario, replications, seed, workers)
    out = Path(out_dir)
    check_format(fmt, weekly_rows(scenario, plan.replications))
    check_out_dir(out, overwrite)
    remove_abandoned(out)
    t0 = time.perf_counter()
    with atomic_dir(out, overwrite=True) as tmp:
        _claim(tmp)
        staging = _staging(tmp, fmt)
        # closing(): an error or interrupt here (in ``progress``) stops the batches at once.
        with BatchWriter(staging) as writer, contextlib.closing(iter_batches(plan, pool)) as it:
            for batch in it:
                writer.add(batch)
                if progress:
                    progress(len(batch["summary"]))
                del batch  # written: not held while the next batch is made
        elapsed = time.perf_counter() - t0
        written = WrittenRun(
            out,
            scenario,
            plan.seed,
            plan.replications,
            plan.workers,
            elapsed,
            pd.DataFrame(),
            pd.DataFrame(),
        )
        _finish(tmp, staging, fmt, written)
    return written


OWNER_FILE = ".owner.json"
"""In a results folder being written: the process writing it (see
:mod:`simulation.store.owner`), so that a folder left by a killed run can be told from one
being written."""


def _claim(tmp: Path) -> None:
    me = owners.this_process()
    doc = {"pid": me.pid, "host": me.host, "started_s": me.started_s}
    (tmp / OWNER_FILE).write_text(json.dumps(doc), encoding="utf-8")


def remove_abandoned(out: Path) -> list[Path]:
    """Remove the temporary folders of ``out`` that a killed run left (SIGKILL, the
    out-of-memory killer: nothing in the process could remove them); returns them.

    Only hidden folders beside ``out`` named as :func:`simulation.atomic.atomic_dir` names
    them, holding :data:`OWNER_FILE`, whose process has ended on this host, are removed.
    """
    removed = []
    for folder in out.parent.glob(f".{glob.escape(out.name)}.*"):
        try:
            doc = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
            owner = owners.Owner(int(doc["pid"]), str(doc["host"]), float(doc["started_s"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owners.is_alive(owner) is False:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _staging(tmp: Path, fmt: str) -> Path:
    """Where the parquet tables go as batches come: the results folder itself, or for another
    format a hidden folder in it, converted from and removed once the run is done."""
    if fmt == "parquet":
        return tmp
    staging = tmp / ".parquet"
    staging.mkdir()
    return staging


def _observed_weeks(staging: Path, scenario: Scenario) -> pd.DataFrame:
    """The weekly table's rows and series that the observed points need, read alone."""
    weeks = sorted({week_of(scenario, p.date) for p in scenario.observed})
    metrics = sorted({p.metric for p in scenario.observed})
    return pd.read_parquet(
        staging / "weekly.parquet",
        columns=["replication", "week", *metrics],
        filters=[("week", "in", weeks)],
    )


def _finish(tmp: Path, staging: Path, fmt: str, run: WrittenRun) -> None:
    """The files made from the written tables: fans, the tables in ``fmt``, the summary,
    metadata, scenario and marker. Fills ``run``'s statistics and units."""
    meta = run_metadata(run)
    (tmp / MARKER).write_text(
        f"sufficiency {meta['code_version']}\ncreated {meta['created']}\n", encoding="utf-8"
    )
    stats = summary_stats(pd.read_parquet(staging / "replications.parquet"), run.scenario)
    run.summary_stats = stats
    if run.scenario.observed:
        run.observed = check_points(run.scenario, _observed_weeks(staging, run.scenario))
        run.observed.to_csv(tmp / "observed.csv", index=False)
    run.units = pd.read_parquet(staging / "units.parquet", columns=UNITS_SHOWN)
    fans = weekly_fans_from_parquet(staging / "weekly.parquet")
    tables: dict[str, TableSource] = {
        name: staging / f"{name}.parquet" for name in ("replications", "weekly", "units", "finance")
    }
    tables["fans"] = fans
    if fmt == "xlsx":
        write_xlsx(tmp / XLSX, {"summary": stats, **tables})
    elif fmt == "csv":
        for name, source in tables.items():
            write_csv(tmp / f"{name}.csv", source)
    else:
        fans.to_parquet(tmp / "fans.parquet", index=False)
    if staging != tmp:
        shutil.rmtree(staging)
    (tmp / OWNER_FILE).unlink(missing_ok=True)
    stats.to_csv(tmp / "summary.csv", index=False)
    doc = {
        **meta,
        "format": fmt,
        "metrics": {
            row["metric"]: {k: _clean(v) for k, v in row.items() if k != "metric"}
            for row in stats.to_dict(orient="records")
        },
        "config": run.scenario.to_dict(),
    }
    (tmp / "summary.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    (tmp / "scenario.yaml").write_text(
        yaml.safe_dump(run.scenario.to_dict(), sort_keys=False), encoding="utf-8"
    )


def write_outputs(
    result: RunResult, out_dir: str | Path, overwrite: bool = False, fmt: str = "parquet"
) -> Path:
    """Write every result file of ``result`` (a run held in memory) to ``out_dir``
    atomically; returns the folder. The same files as :func:`run_to_folder`, through the same
    writer (the result as one batch).

    ``fmt``: the tables as parquet, CSV, or sheets of one Excel workbook (:data:`FORMATS`).

    Raises :class:`OutputDirError` or :class:`OSError` as :func:`check_out_dir`, ValueError for
    a format the tables do not fit (:func:`check_format`); an :class:`OSError` while writing (a
    full disk) leaves ``out_dir`` as it was.
    """
    out = Path(out_dir)
    check_format(fmt, len(result.weekly))
    check_out_dir(out, overwrite)
    # Only an empty folder, or one of ours that --overwrite allows, gets here.
    with atomic_dir(out, overwrite=True) as tmp:
        staging = _staging(tmp, fmt)
        with BatchWriter(staging) as writer:
            writer.add({name: getattr(result, name) for name in BATCH_TABLES})
        written = WrittenRun(
            out,
            result.scenario,
            result.seed,
            result.replications,
            result.workers,
            result.elapsed_seconds,
            pd.DataFrame(),
            pd.DataFrame(),
        )
        _finish(tmp, staging, fmt, written)
    return out
