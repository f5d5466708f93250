"""Check: two results folders of ``sufficiency run`` hold the same results, value for value.

Every table (replications, weekly, units, finance, fans; parquet, CSV or a workbook) must be
equal exactly (same columns, types and values, NaN where NaN), ``summary.csv`` byte for byte,
and ``summary.json`` equal but for what says when and how the run was made (created,
elapsed_seconds, code_version, workers). Used to check that a change to how a run is written
(e.g. batch by batch) leaves its results as they were:

    git archive main | tar -x -C /tmp/main-ref
    (cd /tmp/main-ref && PYTHONPATH=. python -m simulation.cli run configs/coventry-2023.yaml \\
        -n 300 -w 2 -q -o /tmp/old-300)
    sufficiency run configs/coventry-2023.yaml -n 300 -w 2 -q -o /tmp/new-300
    python experiments/bench/compare_results.py /tmp/old-300 /tmp/new-300

Exit code 0 if they match, 1 (with a line per difference) if not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from simulation.outputs import TABLES, read_tables

RUN_FACTS = ("created", "elapsed_seconds", "code_version", "workers")


def differences(old: Path, new: Path) -> list[str]:
    """What differs between the results in ``old`` and ``new`` (empty: nothing)."""
    problems: list[str] = []
    a, b = read_tables(old), read_tables(new)
    for name in TABLES:
        if (name in a) != (name in b):
            problems.append(f"{name}: in only one folder")
            continue
        if name not in a:
            continue
        try:
            pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
        except AssertionError as exc:
            problems.append(f"{name}: {str(exc).splitlines()[0]} ({len(a[name])} rows)")
    if (old / "summary.csv").read_bytes() != (new / "summary.csv").read_bytes():
        problems.append("summary.csv: differs")
    ja, jb = (json.loads((d / "summary.json").read_text()) for d in (old, new))
    for key in sorted(set(ja) | set(jb)):
        if key not in RUN_FACTS and ja.get(key) != jb.get(key):
            problems.append(f"summary.json: {key} differs")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    problems = differences(args.old, args.new)
    for line in problems:
        print(line)
    if problems:
        sys.exit(1)
    print(f"identical: every table, summary.csv and summary.json of {args.old} and {args.new}")


if __name__ == "__main__":
    main()
