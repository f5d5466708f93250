"""Clean 903 episodes the way the public demand models do.

A multi-year extract repeats episodes (once per return they were open in, the early copy without
an end date), and local systems leave overlaps. The cleaning, in order:

1. duplicates on the same child and start date: keep the copy with the latest end date (an open
   copy only if no closed one exists);
2. an open episode followed by a later one for the same child ends when the next one starts;
3. an episode that ends after the next one starts is trimmed to that start (a warning naming the
   row); an episode that contains the next one entirely cannot be trimmed and is an error;
4. episodes that change only the legal status (RNE L, T or U) starting the day the previous one
   ended, in the same placement, are merged into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def clean_episodes(episodes: pd.DataFrame, file: str) -> Cleaned:
    """Apply the cleaning steps to typed episodes (see :func:`readers.read_episodes`).

    Returns the cleaned table and the issues: a warning per trimmed overlap, an error per
    episode that contains a later one (which no trimming can repair).
    """
    ep = episodes.copy()
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

    # 2 and 3. Overlaps with the next episode of the same child.
    same_child = ep["CHILD"].shift(-1) == ep["CHILD"]
    next_start = ep["DECOM"].shift(-1).where(same_child)
    next_end = ep["DEC"].shift(-1).where(same_child)
    next_row = ep["row"].shift(-1).where(same_child)
    open_then_more = ep["DEC"].isna() & next_start.notna()
    overlap = ep["DEC"].notna() & next_start.notna() & (ep["DEC"] > next_start)
    nested = overlap & next_end.notna() & (ep["DEC"] >= next_end)
    rows = [int(r) for r in ep["row"]]
    starts, ends = list(ep["DECOM"]), list(ep["DEC"])
    n_start, n_end, n_row = list(next_start), list(next_end), list(next_row)
    for i in np.flatnonzero(nested.to_numpy()):
        issues.append(
            DataIssue(
                file,
                rows[i],
                "DEC",
                f"episode ({starts[i]:%d/%m/%Y} to {ends[i]:%d/%m/%Y}) contains "
                f"the child's next episode on row {int(n_row[i])} "
                f"({n_start[i]:%d/%m/%Y} to {n_end[i]:%d/%m/%Y}): overlapping "
                f"episodes, fix one of them",
            )
        )
    trim = (overlap & ~nested) | open_then_more
    for i in np.flatnonzero((overlap & ~nested).to_numpy()):
        issues.append(
            DataIssue(
                file,
                rows[i],
                "DEC",
                f"episode ends {ends[i]:%d/%m/%Y}, after the child's next episode "
                f"(row {int(n_row[i])}) starts on {n_start[i]:%d/%m/%Y}: "
                f"overlap trimmed to {n_start[i]:%d/%m/%Y}",
                "warning",
            )
        )
    for i in np.flatnonzero(open_then_more.to_numpy()):
        issues.append(
            DataIssue(
                file,
                rows[i],
                "DEC",
                f"open episode followed by another (row {int(n_row[i])}): ended on "
                f"{n_start[i]:%d/%m/%Y}",
                "warning",
            )
        )
    ep.loc[trim, "DEC"] = next_start[trim]
    ep.loc[open_then_more & (ep["REC"] == ""), "REC"] = "X1"

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
        "open_episodes_closed": int(open_then_more.sum()),
        "status_only_merged": n_merged,
        "episodes": len(ep),
    }
    return Cleaned(episodes=ep, issues=issues, stats=stats)
