"""What a run found, as plain numbers for people: the tables a report or the app shows as text.

Each function reads the result tables of a run (``replications``, ``finance``, ``units``; see
``sufficiency outputs``) and returns a small DataFrame of numbers, never formatted text, so the
report, the app and the tests read the same figures (formatting lives in
:mod:`simulation.display`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.metrics.fostering import FINANCE_COLUMNS as FOSTER_FINANCE
from simulation.metrics.kinds import PROVISION_KINDS

# The parts of ``cost_total_gbp`` in the replications table: they add up to it exactly (void
# costs are inside the internal and block parts, so they are not a part of their own).
COST_PARTS: tuple[str, ...] = (
    *(f"cost_{kind}_gbp" for kind in PROVISION_KINDS),
    "cost_retainer_gbp",
    "cost_capital_gbp",
    "cost_agency_gbp",
    *(f"cost_{column}" for column in FOSTER_FINANCE),
)
QUANTILES = (0.05, 0.95)


def cost_by_year(finance: pd.DataFrame, column: str = "total_gbp") -> pd.DataFrame:
    """Cost per UK financial year across replications.

    Returns one row per ``financial_year`` (in order) with ``mean_gbp``, ``p5_gbp`` and
    ``p95_gbp`` of ``column`` over the replications. A part year at either end of the run holds
    only the days simulated.
    """
    if finance.empty or column not in finance.columns:
        raise ValueError(f"the finance table has no {column!r} rows")
    g = finance.groupby("financial_year", sort=True)[column]
    return pd.DataFrame(
        {
            "financial_year": g.mean().index.astype(str),
            "mean_gbp": g.mean().to_numpy(),
            "p5_gbp": g.quantile(QUANTILES[0]).to_numpy(),
            "p95_gbp": g.quantile(QUANTILES[1]).to_numpy(),
        }
    )


def opening_dates(openings: pd.DataFrame | None) -> pd.DataFrame:
    """Each home that opens during the run: its planned date against the simulated ones.

    ``openings`` is :func:`simulation.plots.openings_from_units`'s table (one row per
    replication and home). Returns one row per home, in first-seen order: ``unit``,
    ``planned_date``, ``median_date``, ``p5_date`` and ``p95_date`` of the simulated opening
    among replications in which it opened, ``mean_delay_days`` (the same replications), and
    ``opened_share`` (the share of replications in which it opened by the end of the run).
    """
    columns = [
        "unit",
        "planned_date",
        "median_date",
        "p5_date",
        "p95_date",
        "mean_delay_days",
        "opened_share",
    ]
    if openings is None or openings.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for unit, grp in openings.groupby("unit", sort=False):
        opened = grp["opened_date"].dropna()
        planned = pd.Timestamp(grp["planned_date"].iloc[0])
        days = (opened - planned).dt.days.to_numpy(dtype=float)
        q = (
            opened.quantile([0.5, *QUANTILES]).to_list()
            if len(opened)
            else [pd.NaT, pd.NaT, pd.NaT]
        )
        rows.append(
            {
                "unit": str(unit),
                "planned_date": planned,
                "median_date": q[0],
                "p5_date": q[1],
                "p95_date": q[2],
                "mean_delay_days": float(days.mean()) if len(days) else float("nan"),
                "opened_share": len(opened) / len(grp),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def cost_risk_drivers(summary: pd.DataFrame, total: str = "cost_total_gbp") -> pd.DataFrame:
    """Which parts of the cost make the total uncertain, and by how much.

    The variance of a sum splits exactly into each part's covariance with the sum:
    ``var(total) = sum_i cov(part_i, total)``, so ``cov(part_i, total) / var(total)`` is part
    i's share of the spread between replications (the shares add up to 1; a part that moves
    against the others has a negative share). Returns ``part``, ``share_of_variance``,
    ``sd_gbp`` (the part's own standard deviation) and ``mean_gbp``, largest share first; empty
    if the total does not vary.
    """
    parts = [p for p in COST_PARTS if p in summary.columns]
    columns = ["part", "share_of_variance", "sd_gbp", "mean_gbp"]
    if total not in summary.columns or len(summary) < 2 or not parts:
        return pd.DataFrame(columns=columns)
    t = summary[total].to_numpy(dtype=float)
    var_total = float(np.var(t, ddof=1))
    if not np.isfinite(var_total) or var_total <= 0:
        return pd.DataFrame(columns=columns)
    rows = []
    for p in parts:
        x = summary[p].to_numpy(dtype=float)
        cov = float(np.cov(x, t, ddof=1)[0, 1])
        rows.append(
            {
                "part": p,
                "share_of_variance": cov / var_total,
                "sd_gbp": float(np.std(x, ddof=1)),
                "mean_gbp": float(x.mean()),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("share_of_variance", ascending=False, ignore_index=True)


__all__ = ["COST_PARTS", "cost_by_year", "cost_risk_drivers", "opening_dates"]
