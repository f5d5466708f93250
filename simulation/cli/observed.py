"""The observed-against-simulated table on the terminal (``run`` and ``experiment``).

The numbers come from :func:`simulation.observed.check_points`; this module only lays them out
in 80 columns.
"""

from __future__ import annotations

import pandas as pd
from rich import box
from rich.table import Table

from simulation import display
from simulation.observed import coverage_text


def observed_table(checks: pd.DataFrame, title: str) -> Table:
    """Each published point: its date and series, the published value, the simulated mean and
    P5-P95 in its week, and whether it falls inside; the caption counts the points inside."""
    table = Table(
        title=title,
        title_justify="left",
        caption=f"{coverage_text(checks)}. Simulated: the week holding the date, across "
        "replications; P5-P95: the range of 90% of replications.",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("Date", no_wrap=True)
    table.add_column("Figure")
    for col in ("Published", "Mean", "P5-P95", "Inside"):
        table.add_column(col, justify="right", no_wrap=True)
    for rec in checks.to_dict("records"):
        table.add_row(*display.observed_check(rec, between="-", no="NO"))
    return table
