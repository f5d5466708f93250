"""Figures for people who read charts: fans, stacks, openings, costs, comparisons, tornadoes.

Every function takes result DataFrames (as :func:`simulation.run` returns them or as the results
folder stores them) and returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes
one to a file. Nothing here runs the model. Colours come from the Okabe-Ito palette, which stays
distinguishable under the common forms of colour blindness; bands differ in shade as well as
colour so they also read in greyscale.

Empty or unusable data raise :class:`ValueError` with a message that says what was missing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files and HTML; never open a window

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from simulation import display
from simulation.atomic import atomic_file
from simulation.kinds import BED_KINDS, KIND_NAMES, KINDS

# Okabe & Ito (2008), "Color universal design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
# One colour per kind of unit (simulation.kinds), used the same way in every figure; a kind
# without one here is drawn grey.
KIND_COLOURS = {
    "internal": OKABE_ITO["blue"],
    "block": OKABE_ITO["green"],
    "framework": OKABE_ITO["orange"],
    "spot": OKABE_ITO["vermillion"],
    "unregistered": OKABE_ITO["black"],
    "waiting": OKABE_ITO["purple"],
}
OTHER_COLOUR = "#999999"
KIND_LABELS = {k.name: k.label for k in KINDS} | {"waiting": "Waiting for a bed"}


def kind_colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, OTHER_COLOUR)


FIG_WIDTH_IN = 9.0
_WIDTH_IN: ContextVar[float] = ContextVar("figure_width_in", default=FIG_WIDTH_IN)


def fig_width_in() -> float:
    """The width new figures are drawn at (:data:`FIG_WIDTH_IN` unless :func:`drawn_at`)."""
    return _WIDTH_IN.get()


@contextlib.contextmanager
def drawn_at(width_in: float) -> Iterator[None]:
    """Draw the figures made inside at ``width_in`` inches (a column of a page, say), with as
    many date ticks as fit. Per thread: the app draws in several at once."""
    token = _WIDTH_IN.set(width_in)
    try:
        yield
    finally:
        _WIDTH_IN.reset(token)


# The smallest text in a figure (legends, annotations, captions). The report draws its figures
# at the width it shows them (drawn_at), so this reads at about 9 pt there.
SMALL_PT = 9.0


# -- helpers -----------------------------------------------------------------------------------


def _require(df: pd.DataFrame | None, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """Refuse empty data or missing columns with a message naming them."""
    if df is None or len(df) == 0:
        raise ValueError(f"{name} is empty: nothing to plot (run at least one replication)")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}: not a result DataFrame?")
    return df


def _quantiles(weekly: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per week: P5, P25, P50, P75, P95 and mean of ``column`` across replications."""
    grouped = weekly.groupby("week_start", sort=True)[column]
    out = grouped.quantile(np.array([0.05, 0.25, 0.5, 0.75, 0.95])).unstack()
    out.columns = ["p5", "p25", "p50", "p75", "p95"]
    out["mean"] = grouped.mean()
    out.index = pd.to_datetime(out.index)
    return out


def _gbp_millions(x: float, _pos: int | None = None) -> str:
    return f"£{x / 1e6:,.0f}m" if abs(x) >= 1e8 else f"£{x / 1e6:,.1f}m"


def _date_axis(ax: Any) -> None:
    # About one labelled tick per inch and a bit, so the labels never run into each other.
    most = max(4, min(12, round(ax.figure.get_figwidth() * 1.2)))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=most)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, axis="both", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _fan(ax: Any, q: pd.DataFrame, colour: str, label: str) -> None:
    """P5-P95 light band, P25-P75 darker band, median line."""
    x = q.index.to_numpy()
    ax.fill_between(x, q["p5"], q["p95"], color=colour, alpha=0.18, linewidth=0, label="P5-P95")
    ax.fill_between(x, q["p25"], q["p75"], color=colour, alpha=0.40, linewidth=0, label="P25-P75")
    ax.plot(x, q["p50"], color=colour, linewidth=1.8, label=f"{label}: median")


def _num(when: Any) -> float:
    """A date as matplotlib's date number (days since its epoch)."""
    return float(mdates.date2num(pd.Timestamp(when).to_datetime64()))


def _caption(
    fig: Figure, text: str, bottom: float = 0.04, right: float = 1.0, show: bool = True
) -> None:
    """Write the caption under the axes and lay the figure out above it (``bottom``: the share
    of the height kept for it; ``right``: where the axes end, leaving room for a legend).
    ``show=False``: no caption in the image (a page that prints it as text beside it)."""
    if not show:
        fig.tight_layout(rect=(0, 0, right, 1))
        return
    fig.text(
        0.01, 0.005, text, ha="left", va="bottom", fontsize=SMALL_PT, color="#444444", wrap=True
    )
    fig.tight_layout(rect=(0, bottom, right, 1))


def _n_reps(df: pd.DataFrame) -> int:
    return int(df["replication"].nunique()) if "replication" in df.columns else 1


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) via a temporary file, then close it."""
    out = Path(path)
    try:
        with atomic_file(out) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out


# -- figures -----------------------------------------------------------------------------------


def assumed_occupancy(units: pd.DataFrame, kind: str) -> float:
    """The business case's occupancy for a provision type (%), weighted by usable bed-days.

    Units without an assumption are left out; NaN when none of that type has one.
    """
    u = units[(units["kind"] == kind) & units["assumed_occupancy_pct"].notna()]
    if u.empty:
        return float("nan")
    per_unit = u.groupby("unit").agg(
        assumed=("assumed_occupancy_pct", "first"), weight=("usable_bed_days", "mean")
    )
    weight = per_unit["weight"].fillna(0.0).to_numpy()
    if weight.sum() <= 0:
        return float(per_unit["assumed"].mean())
    return float(np.average(per_unit["assumed"], weights=weight))


def occupancy_fan(
    weekly: pd.DataFrame,
    units: pd.DataFrame,
    kinds: Sequence[str] = BED_KINDS,
    caption: bool = True,
) -> Figure:
    """Weekly occupancy fan (P5-P95, P25-P75, median) per provision type with beds.

    The business case's assumed occupancy (``assumed_occupancy_pct`` of the units, weighted by
    usable bed-days) is drawn as a dashed line where the config gives one.
    """
    _require(weekly, "weekly", ["replication", "week_start"])
    _require(units, "units", ["unit", "kind", "assumed_occupancy_pct", "usable_bed_days"])
    present = [
        k
        for k in kinds
        if f"{k}_occupancy_pct" in weekly.columns and weekly[f"{k}_occupancy_pct"].notna().any()
    ]
    if not present:
        raise ValueError(
            "weekly has no occupancy data (no council homes or block contracts were open)"
        )
    fig, axes = plt.subplots(
        len(present), 1, figsize=(fig_width_in(), 3.4 * len(present)), sharex=True, squeeze=False
    )
    for ax, kind in zip(axes[:, 0], present, strict=True):
        q = _quantiles(weekly, f"{kind}_occupancy_pct")
        _fan(ax, q, kind_colour(kind), "Simulated")
        assumed = assumed_occupancy(units, kind)
        if not np.isnan(assumed):
            ax.axhline(
                assumed,
                color=OKABE_ITO["black"],
                linestyle="--",
                linewidth=1.3,
                label=f"Business case assumes {assumed:.1f}%",
            )
        else:
            ax.plot([], [], " ", label="No assumed occupancy in the config")
        ax.set_title(f"{KIND_LABELS[kind]}: occupancy, week by week", loc="left", fontsize=11)
        ax.set_ylabel("Occupancy (%)" if fig_width_in() < 7.0 else "Occupancy (% of usable beds)")
        ax.set_ylim(max(0.0, float(np.nanmin(q["p5"])) - 10.0), 102.0)
        _date_axis(ax)
        ax.legend(loc="lower right", fontsize=SMALL_PT, framealpha=0.9)
    axes[-1, 0].set_xlabel("Week starting")
    _caption(
        fig,
        f"Bands: P5-P95 and P25-P75 across {_n_reps(weekly)} replications; line: median. "
        "Occupancy = children living there / usable beds in the week.",
        show=caption,
    )
    return fig


def spot_stock_fan(
    weekly: pd.DataFrame, baseline: pd.DataFrame | None = None, caption: bool = True
) -> Figure:
    """Children placed on the spot market, week by week: P5-P95, P25-P75 and median.

    With ``baseline`` (another run's weekly data), its median is drawn as a dashed line.
    """
    _require(weekly, "weekly", ["replication", "week_start", "children_spot"])
    q = _quantiles(weekly, "children_spot")
    fig, ax = plt.subplots(figsize=(fig_width_in(), 3.8))
    _fan(ax, q, KIND_COLOURS["spot"], "Children in spot")
    if baseline is not None:
        _require(baseline, "baseline", ["replication", "week_start", "children_spot"])
        qb = _quantiles(baseline, "children_spot")
        ax.plot(
            qb.index.to_numpy(),
            qb["p50"],
            color=OKABE_ITO["black"],
            linestyle="--",
            linewidth=1.2,
            label="Baseline: median",
        )
    ax.set_title("Children in spot placements, week by week", loc="left", fontsize=11)
    ax.set_ylabel("Children (weekly mean)")
    ax.set_xlabel("Week starting")
    ax.set_ylim(bottom=0)
    _date_axis(ax)
    ax.legend(loc="upper right", fontsize=SMALL_PT, framealpha=0.9)
    _caption(fig, f"Bands across {_n_reps(weekly)} replications.", show=caption)
    return fig


def placement_mix(weekly: pd.DataFrame, caption: bool = True) -> Figure:
    """Stacked mean number of children by placement type over time (plus those waiting)."""
    # Every kind the run has a weekly series for (unregistered placements too), then waiting.
    kinds = [*(k for k in KIND_NAMES if f"children_{k}" in weekly.columns), "waiting"]
    _require(weekly, "weekly", ["week_start", *[f"children_{k}" for k in (*BED_KINDS, "waiting")]])
    mean = weekly.groupby("week_start", sort=True)[[f"children_{k}" for k in kinds]].mean()
    x = pd.to_datetime(mean.index).to_numpy()
    fig, ax = plt.subplots(figsize=(fig_width_in(), 4.2))
    ax.stackplot(
        x,
        *[mean[f"children_{k}"].to_numpy() for k in kinds],
        labels=[KIND_LABELS[k] for k in kinds],
        colors=[kind_colour(k) for k in kinds],
        alpha=0.85,
        edgecolor="white",
        linewidth=0.3,
    )
    ax.set_title("Children by placement type (mean across replications)", loc="left", fontsize=11)
    ax.set_ylabel("Children (weekly mean)")
    ax.set_xlabel("Week starting")
    ax.set_ylim(bottom=0)
    _date_axis(ax)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=SMALL_PT
    )
    _caption(
        fig,
        f"Mean of {_n_reps(weekly)} replications; layers stack to children in care.",
        show=caption,
    )
    return fig


def planned_openings(config: Mapping[str, Any]) -> pd.DataFrame:
    """Planned opening (and closing) dates of the council homes of a config (a scenario dict).

    Returns one row per home: ``unit``, ``beds``, ``planned_date`` (NaT for a home open before
    the start) and ``close_date`` (NaT if it stays open), in config order.
    """
    homes = (config.get("provision") or {}).get("homes") or []
    rows = [
        {
            "unit": h["name"],
            "beds": int(h["beds"]),
            "planned_date": pd.to_datetime(h.get("open_date")),
            "close_date": pd.to_datetime(h.get("close_date")),
        }
        for h in homes
    ]
    return pd.DataFrame(rows, columns=["unit", "beds", "planned_date", "close_date"])


def openings_from_units(units: pd.DataFrame, start_date: dt.date | str) -> pd.DataFrame | None:
    """Simulated openings of homes that open during the run, from a run's units table.

    One row per replication and home with ``planned_date`` and ``opened_date`` (NaT if it had
    not opened by the end); None when the table predates opening-day columns or no home opens
    after the start.
    """
    needed = {"replication", "unit", "kind", "planned_open_day", "opened_day"}
    if not needed <= set(units.columns):
        return None
    homes = units[(units["kind"] == "internal") & (units["planned_open_day"] > 0)]
    if homes.empty:
        return None
    start = pd.Timestamp(start_date)
    return pd.DataFrame(
        {
            "replication": homes["replication"].to_numpy(),
            "unit": homes["unit"].to_numpy(),
            "planned_date": start + pd.to_timedelta(homes["planned_open_day"], unit="D"),
            "opened_date": start + pd.to_timedelta(homes["opened_day"], unit="D"),
        }
    )


def home_openings(
    planned: pd.DataFrame,
    start_date: dt.date | str,
    end_date: dt.date | str,
    openings: pd.DataFrame | None = None,
    caption: bool = True,
) -> Figure:
    """Planned opening date of each home against the simulated opening-date distribution.

    Parameters
    ----------
    planned
        One row per home: ``unit``, ``beds``, ``planned_date`` (NaT = open before the start),
        optionally ``close_date`` (see :func:`planned_openings`).
    start_date, end_date
        The run's horizon.
    openings
        Simulated openings, one row per replication and home: ``replication``, ``unit``,
        ``planned_date``, ``opened_date`` (NaT = not open by the end). When given, each home shows
        the P5-P95 range, the P25-P75 range and the median of its simulated opening dates. The
        table comes from a run's units (:func:`openings_from_units`); without it the chart shows
        the planned dates and says so.
    """
    _require(planned, "planned", ["unit", "beds", "planned_date"])
    start, end = pd.Timestamp(start_date), pd.Timestamp(end_date)
    plan = planned.reset_index(drop=True)
    n = len(plan)
    fig, ax = plt.subplots(figsize=(fig_width_in(), 0.9 + 0.42 * n))
    narrow = fig_width_in() < 7.0
    y = np.arange(n)[::-1]
    close = (
        pd.to_datetime(plan["close_date"])
        if "close_date" in plan.columns
        else pd.Series(pd.NaT, index=plan.index)
    )
    for yi, (_, row), closes in zip(y, plan.iterrows(), close, strict=True):
        opens = row["planned_date"]
        bar_start = start if pd.isna(opens) else pd.Timestamp(opens)
        bar_end = end if pd.isna(closes) else min(pd.Timestamp(closes), end)
        ax.barh(
            yi,
            (bar_end - bar_start).days,
            left=_num(bar_start),
            height=0.5,
            color=KIND_COLOURS["internal"],
            alpha=0.22,
            linewidth=0,
        )
        if not pd.isna(opens):
            ax.plot(
                _num(bar_start), yi, marker="D", color=OKABE_ITO["black"], markersize=6, zorder=3
            )
            if not narrow:  # (a narrow chart has no room; its page lists the dates)
                ax.annotate(
                    pd.Timestamp(opens).strftime("%b %Y"),
                    (_num(bar_start), yi),
                    xytext=(6, 5),
                    textcoords="offset points",
                    fontsize=SMALL_PT,
                )
    if openings is not None and len(openings):
        _require(openings, "openings", ["replication", "unit", "opened_date"])
        pos = dict(zip(plan["unit"], y, strict=True))
        for unit, grp in openings.groupby("unit", sort=False):
            if unit not in pos:
                continue
            d = pd.to_datetime(grp["opened_date"]).dropna()
            if d.empty:
                continue
            days = (d - start).dt.days.to_numpy(dtype=float)
            p5, p25, p50, p75, p95 = (
                _num(start + pd.Timedelta(days=float(v)))
                for v in np.percentile(days, [5, 25, 50, 75, 95])
            )
            yi = pos[unit]
            ax.plot([p5, p95], [yi, yi], color=OKABE_ITO["orange"], linewidth=1.5, zorder=4)
            ax.plot([p25, p75], [yi, yi], color=OKABE_ITO["orange"], linewidth=5, zorder=4)
            ax.plot(p50, yi, "o", color=OKABE_ITO["vermillion"], markersize=6, zorder=5)
        ax.plot([], [], "D", color=OKABE_ITO["black"], label="Planned opening")
        ax.plot([], [], color=OKABE_ITO["orange"], linewidth=5, label="Simulated P25-P75")
        ax.plot([], [], color=OKABE_ITO["orange"], linewidth=1.5, label="Simulated P5-P95")
        ax.plot([], [], "o", color=OKABE_ITO["vermillion"], label="Simulated median")
        text = f"Simulated opening dates across {_n_reps(openings)} replications against the plan."
    else:
        ax.plot([], [], "D", color=OKABE_ITO["black"], label="Planned opening")
        text = (
            "Planned dates only: no simulated opening dates were given to this chart (homes "
            "with project stages can open later than planned). Shaded bar: the home's plan."
        )
    ax.plot([], [], "s", color=KIND_COLOURS["internal"], alpha=0.3, label="Open")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{u} ({b} beds)" for u, b in zip(plan["unit"], plan["beds"], strict=True)])
    ax.set_xlim(_num(start), _num(end))
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_title("Council homes: when they open", loc="left", fontsize=11)
    ax.set_xlabel("Date")
    _date_axis(ax)
    ax.grid(False, axis="y")
    if narrow:  # under the chart, not over its bars
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=SMALL_PT)
    else:
        ax.legend(loc="lower right", fontsize=SMALL_PT, framealpha=0.9)
    _caption(fig, text, bottom=0.06 if n > 4 else 0.1, show=caption)
    return fig


def cost_by_year(finance: pd.DataFrame, column: str = "total_gbp", caption: bool = True) -> Figure:
    """Cost per UK financial year: mean bars with P5-P95 whiskers across replications."""
    _require(finance, "finance", ["financial_year", column])
    g = finance.groupby("financial_year", sort=True)[column]
    mean = g.mean()
    p5, p95 = g.quantile(0.05), g.quantile(0.95)
    x = np.arange(len(mean))
    fig, ax = plt.subplots(figsize=(fig_width_in(), 4.0))
    ax.bar(x, mean.to_numpy(), color=OKABE_ITO["sky_blue"], edgecolor=OKABE_ITO["blue"], width=0.7)
    ax.errorbar(
        x,
        mean.to_numpy(),
        yerr=np.vstack([(mean - p5).to_numpy(), (p95 - mean).to_numpy()]),
        fmt="none",
        ecolor=OKABE_ITO["black"],
        capsize=4,
        linewidth=1.2,
    )
    ax.set_xticks(x)
    # Years side by side while they fit (about 0.8 inch each), else slanted.
    slant = len(mean) * 0.8 > fig.get_figwidth()
    ax.set_xticklabels(
        [f"{fy}" for fy in mean.index],
        rotation=35 if slant else 0,
        ha="right" if slant else "center",
        fontsize=SMALL_PT,
    )
    ax.yaxis.set_major_formatter(FuncFormatter(_gbp_millions))
    what = "Total cost" if column == "total_gbp" else column.replace("_gbp", "").replace("_", " ")
    ax.set_title(
        f"{what.capitalize()} per financial year (April-March, cash terms)", loc="left", fontsize=11
    )
    ax.set_ylabel("£ million per year")
    ax.set_xlabel("UK financial year")
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    _caption(
        fig,
        f"Bars: mean of {_n_reps(finance)} replications; whiskers: P5-P95. "
        "A part year at either end of the run is shown as simulated.",
        show=caption,
    )
    return fig


def paired_forest(
    comparison: pd.DataFrame,
    labels: Mapping[str, str] | None = None,
    title: str = "Edited minus baseline (paired replications)",
    caption: bool = True,
) -> Figure:
    """Forest plot of paired differences, as % of the baseline mean, with 95% CIs.

    ``comparison`` is :func:`simulation.compare.paired_differences`'s output (columns
    ``metric``, ``baseline_mean``, ``mean_diff``, ``ci_low``, ``ci_high``). Each row is labelled
    with its absolute difference too.
    """
    _require(
        comparison, "comparison", ["metric", "baseline_mean", "mean_diff", "ci_low", "ci_high"]
    )
    df = comparison[comparison["baseline_mean"].abs() > 0].reset_index(drop=True)
    if df.empty:
        raise ValueError("comparison has no metric with a non-zero baseline mean to scale by")
    base = df["baseline_mean"].abs()
    mid = 100.0 * df["mean_diff"] / base
    lo = 100.0 * df["ci_low"] / base
    hi = 100.0 * df["ci_high"] / base
    names = [(labels or {}).get(m, m) for m in df["metric"]]
    y = np.arange(len(df))[::-1]
    fig, ax = plt.subplots(figsize=(fig_width_in(), 1.2 + 0.45 * len(df)))
    ax.axvline(0.0, color=OKABE_ITO["black"], linewidth=1.0)
    lo_f, hi_f = lo.fillna(mid), hi.fillna(mid)
    ax.errorbar(
        mid,
        y,
        xerr=np.vstack([(mid - lo_f).to_numpy(), (hi_f - mid).to_numpy()]),
        fmt="o",
        color=OKABE_ITO["blue"],
        ecolor=OKABE_ITO["blue"],
        capsize=3,
        markersize=5,
    )
    for yi, (_, row) in zip(y, df.iterrows(), strict=True):
        ax.annotate(
            _abs_label(str(row["metric"]), float(row["mean_diff"])),
            (1.0, yi),
            xycoords=("axes fraction", "data"),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=SMALL_PT,
        )
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=SMALL_PT)
    ax.set_xlabel("Difference (% of the baseline mean), with 95% confidence interval")
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    n = int(df["n"].iloc[0]) if "n" in df.columns else 0
    _caption(
        fig,
        f"Both scenarios run on the same random demand (common random numbers), {n} pairs. "
        "Right: the mean difference in the metric's own units.",
        bottom=0.05,
        right=0.82,
        show=caption,
    )
    return fig


def strategy_forest(
    paired: pd.DataFrame,
    metrics: Sequence[str],
    baseline: str = "the baseline",
    caption: bool = True,
) -> Figure:
    """Each strategy's paired difference from the baseline, one panel per metric in its own
    unit, with 95% CIs (an experiment of any number of strategies).

    ``paired`` has :data:`simulation.experiments.paired.PAIRED_COLUMNS` (``strategy``,
    ``metric``, ``mean_diff``, ``ci_low``, ``ci_high``, ``n``).
    """
    _require(paired, "paired", ["strategy", "metric", "mean_diff", "ci_low", "ci_high"])
    shown = [m for m in metrics if m in set(paired["metric"])]
    if not shown:
        raise ValueError("paired has none of the metrics asked for")
    names = list(dict.fromkeys(paired["strategy"]))
    fig, axes = plt.subplots(
        len(shown),
        1,
        figsize=(fig_width_in(), 0.7 + (0.35 * len(names) + 0.55) * len(shown)),
        squeeze=False,
    )
    y = np.arange(len(names))[::-1]
    for ax, metric in zip(axes[:, 0], shown, strict=True):
        rows = paired[paired["metric"] == metric].set_index("strategy").reindex(names)
        unit = display.metric_info(metric).unit
        k = 100.0 if unit == "share" else 1.0  # a share's difference in points
        mid = k * rows["mean_diff"].to_numpy(dtype=float)
        lo = k * rows["ci_low"].fillna(rows["mean_diff"]).to_numpy(dtype=float)
        hi = k * rows["ci_high"].fillna(rows["mean_diff"]).to_numpy(dtype=float)
        ax.axvline(0.0, color=OKABE_ITO["black"], linewidth=1.0)
        ax.errorbar(
            mid,
            y,
            xerr=np.vstack([mid - lo, hi - mid]),
            fmt="o",
            color=OKABE_ITO["blue"],
            capsize=3,
            markersize=5,
        )
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=SMALL_PT)
        points = " (percentage points)" if unit in ("pct", "share") else ""
        label = display.metric_label(metric, with_unit=not points) + points
        ax.set_title(label, loc="left", fontsize=10)
        if unit == "gbp":
            ax.xaxis.set_major_formatter(FuncFormatter(_gbp_millions))
        ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="x", labelsize=SMALL_PT)
    n = int(paired["n"].max()) if "n" in paired.columns else 0
    _caption(
        fig,
        f"Each strategy minus {baseline}, paired on the same {n} replication seeds; bars: 95% "
        "confidence intervals. Left of the line: lower than the baseline.",
        bottom=0.06,
        show=caption,
    )
    return fig


def _abs_label(metric: str, value: float) -> str:
    """A difference in the metric's own unit, signed (``+£1.2m``, ``-3.4 pts``)."""
    return display.difference(metric, value)


def tornado(
    sensitivity: pd.DataFrame, metric_label: str = "Total cost (£)", money: bool = True
) -> Figure:
    """Tornado chart: the metric at each parameter's low and high value around the base case.

    ``sensitivity`` has one row per parameter: ``parameter``, ``low``, ``high`` (the metric at
    the parameter's low and high values) and ``base`` (the metric in the base case, the same in
    every row). Rows are sorted by swing, widest on top.
    """
    _require(sensitivity, "sensitivity", ["parameter", "low", "high", "base"])
    df = sensitivity.assign(swing=(sensitivity["high"] - sensitivity["low"]).abs())
    df = df.sort_values("swing", ascending=True).reset_index(drop=True)
    base = float(df["base"].iloc[0])
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(fig_width_in(), 1.2 + 0.5 * len(df)))
    ax.barh(
        y,
        df["low"] - base,
        left=base,
        color=OKABE_ITO["sky_blue"],
        edgecolor=OKABE_ITO["blue"],
        label="Parameter at its low value",
    )
    ax.barh(
        y,
        df["high"] - base,
        left=base,
        color=OKABE_ITO["orange"],
        edgecolor=OKABE_ITO["vermillion"],
        label="Parameter at its high value",
    )
    ax.axvline(base, color=OKABE_ITO["black"], linewidth=1.2)
    ax.set_yticks(y)
    ax.set_yticklabels(df["parameter"].astype(str), fontsize=9)
    if money:
        ax.xaxis.set_major_formatter(FuncFormatter(_gbp_millions))
    ax.set_xlabel(metric_label)
    ax.set_title(f"Sensitivity of {metric_label.lower()}", loc="left", fontsize=11)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="lower right", fontsize=SMALL_PT, framealpha=0.9)
    base_txt = _gbp_millions(base) if money else f"{base:,.1f}"
    _caption(fig, f"Vertical line: the base case ({base_txt}).", bottom=0.05)
    return fig


def standard_figures(
    weekly: pd.DataFrame,
    units: pd.DataFrame,
    finance: pd.DataFrame,
    config: Mapping[str, Any],
    start_date: dt.date | str,
    end_date: dt.date | str,
    openings: pd.DataFrame | None = None,
    captions: bool = True,
) -> dict[str, tuple[str, Figure]]:
    """The figures of one run, by file stem: ``{stem: (title, figure)}``.

    Figures whose data the run lacks (no council homes, say) are left out. ``captions=False``
    leaves the captions out of the images (the report prints them as text).
    """
    c = captions
    out: dict[str, tuple[str, Figure]] = {}
    with contextlib.suppress(ValueError):  # no council homes or block contracts
        out["fan-occupancy"] = ("Occupancy fans", occupancy_fan(weekly, units, caption=c))
    out["fan-spot"] = ("Children in spot placements", spot_stock_fan(weekly, caption=c))
    out["placement-mix"] = ("Children by placement type", placement_mix(weekly, caption=c))
    planned = planned_openings(config)
    if len(planned):
        out["home-openings"] = (
            "Home openings",
            home_openings(planned, start_date, end_date, openings, caption=c),
        )
    out["cost-by-year"] = ("Cost per financial year", cost_by_year(finance, caption=c))
    return out


__all__ = [
    "FIG_WIDTH_IN",
    "KIND_COLOURS",
    "OKABE_ITO",
    "assumed_occupancy",
    "cost_by_year",
    "drawn_at",
    "fig_width_in",
    "home_openings",
    "occupancy_fan",
    "paired_forest",
    "placement_mix",
    "planned_openings",
    "save_figure",
    "spot_stock_fan",
    "standard_figures",
    "strategy_forest",
    "tornado",
]


def frontier_figure(
    shortlist: pd.DataFrame, objective_label: str, risk_label: str, limit: float
) -> Figure:
    """The optimiser's shortlist: mean objective (with its 95% CI) against risk (with its CI),
    the efficient frontier joined up, the risk limit as a line. ``shortlist`` has the
    optimiser's simulated columns (``objective_mean``, ``objective_ci_low/high``, ``risk``,
    ``risk_ci_low/high``, ``on_frontier``, ``feasible``)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    s = shortlist.sort_values("objective_mean")
    money = "gbp" in objective_label.lower() or "£" in objective_label
    scale = 1e6 if money else 1.0
    y = s["objective_mean"] / scale
    # (Interval ends can sit a rounding error on the wrong side of a mean of 0 or 1.)
    yerr = [
        ((s["objective_mean"] - s["objective_ci_low"]) / scale).clip(lower=0),
        ((s["objective_ci_high"] - s["objective_mean"]) / scale).clip(lower=0),
    ]
    xerr = [
        (s["risk"] - s["risk_ci_low"]).clip(lower=0),
        (s["risk_ci_high"] - s["risk"]).clip(lower=0),
    ]
    colours = ["#0072B2" if f else "#999999" for f in s["feasible"]]
    ax.errorbar(s["risk"], y, xerr=xerr, yerr=yerr, fmt="none", ecolor="#bbbbbb", lw=1)
    ax.scatter(s["risk"], y, c=colours, zorder=3, s=28)
    front = s[s["on_frontier"]].sort_values("risk")
    ax.plot(
        front["risk"],
        front["objective_mean"] / scale,
        color="#D55E00",
        lw=1.5,
        marker="o",
        markersize=11,
        markerfacecolor="none",
        zorder=4,
        label="efficient frontier",
    )
    ax.axvline(limit, color="#444444", ls="--", lw=1, label=f"risk limit ({limit:g})")
    ax.set_xlabel(risk_label)
    name = objective_label.replace("(£)", "").strip()
    ax.set_ylabel(f"{name} (£ million)" if money else name)
    ax.set_title("Candidates: cost against risk (blue: within the limit)", loc="left")
    ax.legend(loc="best", fontsize=SMALL_PT)
    _caption(
        fig,
        "Each point is a shortlisted candidate's mean over common random numbers, with 95% "
        "intervals; the frontier joins candidates no other is both cheaper and less risky than.",
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
