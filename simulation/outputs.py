"""Writing a run's results to a folder, all or nothing.

Files are written into a hidden temporary folder beside the target and moved into place only
when every file is complete, so an interrupted run never leaves a half-written result. Every
results folder holds a marker file, :data:`MARKER`, and only a folder with one (and nothing else
but files this tool writes) may be replaced with ``overwrite``: other folders are never deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from simulation.atomic import atomic_dir, check_can_create
from simulation.runner import RunResult

OUTPUT_FILES = {
    "replications.parquet": "one row per replication: every summary metric",
    "weekly.parquet": "one row per replication and week: children by placement type, beds, cost",
    "units.parquet": "one row per replication and unit: occupancy and voids per home/contract",
    "finance.parquet": "one row per replication and UK financial year: cost by component",
    "fans.parquet": "weekly percentile fans (P5-P95) of every weekly series",
    "summary.csv": "per metric: mean, sd, P5/P25/P50/P75/P95, 95% CI of the mean",
    "summary.json": "the same statistics plus run metadata and the full validated config",
    "scenario.yaml": "the validated scenario, to replay the run exactly",
    ".sufficiency-results": "marker: written by sufficiency (version); --overwrite may replace it",
}
MARKER = ".sufficiency-results"
"""The file that marks a folder as results of ``sufficiency run`` (holds the code version)."""
OURS = {*OUTPUT_FILES, "report.html", "report.pdf"}
"""Everything this tool writes into a results folder (``sufficiency report`` adds the report)."""


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


def run_metadata(result: RunResult) -> dict[str, Any]:
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


def write_outputs(result: RunResult, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write every result file of ``result`` to ``out_dir`` atomically; returns the folder.

    Raises :class:`OutputDirError` or :class:`OSError` as :func:`check_out_dir`; an
    :class:`OSError` while writing (a full disk) leaves ``out_dir`` as it was.
    """
    out = Path(out_dir)
    check_out_dir(out, overwrite)
    # Only an empty folder, or one of ours that --overwrite allows, gets here.
    meta = run_metadata(result)
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / MARKER).write_text(
            f"sufficiency {meta['code_version']}\ncreated {meta['created']}\n", encoding="utf-8"
        )
        stats = result.stats()
        result.summary.to_parquet(tmp / "replications.parquet", index=False)
        result.weekly.to_parquet(tmp / "weekly.parquet", index=False)
        result.units.to_parquet(tmp / "units.parquet", index=False)
        result.finance.to_parquet(tmp / "finance.parquet", index=False)
        result.fans().to_parquet(tmp / "fans.parquet", index=False)
        stats.to_csv(tmp / "summary.csv", index=False)
        doc = {
            **meta,
            "metrics": {
                row["metric"]: {k: _clean(v) for k, v in row.items() if k != "metric"}
                for row in stats.to_dict(orient="records")
            },
            "config": result.scenario.to_dict(),
        }
        (tmp / "summary.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
        (tmp / "scenario.yaml").write_text(
            yaml.safe_dump(result.scenario.to_dict(), sort_keys=False), encoding="utf-8"
        )
    return out
