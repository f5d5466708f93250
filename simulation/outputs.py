"""Writing a run's results to a folder, all or nothing.

Files are written into a hidden temporary folder beside the target and moved into place only
when every file is complete, so an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from simulation.atomic import atomic_dir
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
}


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
    """Write every result file of ``result`` to ``out_dir`` atomically; returns the folder."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already holds results (use --overwrite to replace them)")
    # Only an empty folder, or one --overwrite allows, gets here.
    with atomic_dir(out, overwrite=True) as tmp:
        stats = result.stats()
        result.summary.to_parquet(tmp / "replications.parquet", index=False)
        result.weekly.to_parquet(tmp / "weekly.parquet", index=False)
        result.units.to_parquet(tmp / "units.parquet", index=False)
        result.finance.to_parquet(tmp / "finance.parquet", index=False)
        result.fans().to_parquet(tmp / "fans.parquet", index=False)
        stats.to_csv(tmp / "summary.csv", index=False)
        doc = {
            **run_metadata(result),
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
