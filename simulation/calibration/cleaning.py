"""Clean 903 episodes the way the public demand models do.

A multi-year extract repeats episodes (once per return they were open in, the early copy without
an end date), and local systems leave overlaps. The cleaning, in order:

1. duplicates on the same child and start date: keep the copy with the latest end date (an open
   copy only if no closed one exists);
2. an open episode followed by a later one for the same child ends when the next one starts;
3. an episode that ends after the next one starts ends when it starts (a warning naming both
   rows), even one that contains the next entirely: nested episodes are common in councils'
   extracts, and the public demand models trim them the same way (``overlaps="error"`` makes
   every overlap an error instead);
4. episodes that change only the legal status (RNE L, T or U) starting the day the previous one
   ended, in the same placement, are merged into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from simulation.calibration.codes import STATUS_ONLY_RNE
from simulation.calibration.readers import DataIssue


@dataclass
class Cleaned:
    """Cleaned episodes (one row per episode, sorted by child and start) and what was done."""

    episodes: pd.DataFrame
    issues: list[DataIssue] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


def clean_episodes(
    episodes: pd.DataFrame, file: str = "", overlaps: Literal["trim", "error"] = "trim"
) -> Cleaned:
    """Apply the cleaning steps to typed episodes (see :func:`readers.type_episodes`).

    Returns the cleaned table and the issues: a warning per trimmed overlap or nested episode
    (an error each with ``overlaps="error"``), naming the file and row of both episodes.
    ``file`` names the rows of a table without a ``file`` column.
    """
    ep = episodes.copy()
    if "file" not in ep.columns:
        ep["file"] = file
    n_in = len(ep)
    issues: list[DataIssue] = []

    # 1. Same child, same start: keep the latest end, NaT (open) counting as earliest.
    ep = ep.sort_values(["CHILD", "DECOM", "DEC", "row"], na_position="first", kind="stable")
    ep = ep.drop_duplicates(["CHILD", "DECOM"], keep="last")
    n_dup = n_in - len(ep)

    # Same child, same (known) end: keep the longer episode, i.e. the earlier start.
    closed = ep["DEC"].notna()
    same_end = closed & ep.duplicated(["CHILD", "DEC"], keep="first")
    n_same_end = int(same_end.sum())
    ep = ep[~same_end].reset_index(drop=True)

    # 2 and 3. Overlaps with the next episode of the same child: the earlier episode ends when
    # the next one starts, whether it overlaps it by a day or contains it entirely.
    same_child = ep["CHILD"].shift(-1) == ep["CHILD"]
    next_start = ep["DECOM"].shift(-1).where(same_child)
    next_end = ep["DEC"].shift(-1).where(same_child)
    next_row = ep["row"].shift(-1).where(same_child)
    next_file = ep["file"].shift(-1).where(same_child)
    open_then_more = ep["DEC"].isna() & next_start.notna()
    overlap = ep["DEC"].notna() & next_start.notna() & (ep["DEC"] > next_start)
    nested = overlap & next_end.notna() & (ep["DEC"] >= next_end)
    severity: Literal["error", "warning"] = "error" if overlaps == "error" else "warning"
    rows, files = [int(r) for r in ep["row"]], [str(f) for f in ep["file"]]
    starts, ends = list(ep["DECOM"]), list(ep["DEC"])
    n_start, n_end = list(next_start), list(next_end)
    n_row, n_file = list(next_row), list(next_file)

    def other(i: int) -> str:
        where = f"row {int(n_row[i])}"
        return where if n_file[i] == files[i] else f"{n_file[i]}, {where}"

    is_nested = nested.to_numpy()
    for i in map(int, np.flatnonzero(overlap.to_numpy())):
        if is_nested[i]:
            what = (
                f"episode ({starts[i]:%d/%m/%Y} to {ends[i]:%d/%m/%Y}) contains the child's "
                f"next episode ({other(i)}, {n_start[i]:%d/%m/%Y} to {n_end[i]:%d/%m/%Y})"
            )
        else:
            what = (
                f"episode ends {ends[i]:%d/%m/%Y}, after the child's next episode "
                f"({other(i)}) starts on {n_start[i]:%d/%m/%Y}"
            )
        fix = (
            f"overlap trimmed to {n_start[i]:%d/%m/%Y}"
            if severity == "warning"
            else "overlapping episodes (--overlaps trim ends the first when the next starts)"
        )
        issues.append(DataIssue(files[i], rows[i], "DEC", f"{what}: {fix}", severity))
    for i in map(int, np.flatnonzero(open_then_more.to_numpy())):
        issues.append(
            DataIssue(
                files[i],
                rows[i],
                "DEC",
                f"open episode followed by another ({other(i)}): ended on {n_start[i]:%d/%m/%Y}",
                "warning",
            )
        )
    trim = overlap | open_then_more
    ep.loc[trim, "DEC"] = next_start[trim]
    ep.loc[trim & (ep["REC"] == ""), "REC"] = "X1"

    # 4. Merge status-only changes into the episode they continue.
    prev_same_child = ep["CHILD"].shift(1) == ep["CHILD"]
    continues = (
        prev_same_child
        & ep["RNE"].isin(STATUS_ONLY_RNE)
        & (ep["DECOM"] == ep["DEC"].shift(1))
        & (ep["PLACE"] == ep["PLACE"].shift(1))
        & (ep["URN"] == ep["URN"].shift(1))
        & (ep["PLACE_PROVIDER"] == ep["PLACE_PROVIDER"].shift(1))
    )
    group = (~continues).cumsum()
    n_merged = int(continues.sum())
    if n_merged:
        # The merged episode ends as its last part does (open if that is open: not groupby's
        # "last", which would skip a missing end date).
        is_last = ~continues.shift(-1, fill_value=False).astype(bool)
        for col in ("DEC", "REC", "LS"):
            by_group = pd.Series(ep.loc[is_last, col].to_numpy(), index=group[is_last].to_numpy())
            ep[col] = by_group.reindex(group.to_numpy()).to_numpy()
        ep = ep[~continues.to_numpy()]
    ep = ep.reset_index(drop=True)
    stats = {
        "rows_read": n_in,
        "duplicates_dropped": n_dup + n_same_end,
        "overlaps_trimmed": int((overlap & ~nested).sum()),
        "nested_trimmed": int(nested.sum()),
        "open_episodes_closed": int(open_then_more.sum()),
        "status_only_merged": n_merged,
        "episodes": len(ep),
    }
    return Cleaned(episodes=ep, issues=issues, stats=stats)
