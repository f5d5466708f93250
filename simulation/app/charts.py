"""The app's interactive figures (plotly): the paired differences of every strategy against
the baseline (a forest), the cost of each by financial year, and weekly fans.

Text is at least 13 px and every axis says its unit. Sums of money are drawn in £ million;
percentages and shares in percent (their differences in points). Strategies keep one colour
(Okabe-Ito, readable with the common colour-vision deficiencies) in every figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from simulation import display
from simulation.runner import RunResult

FONT_PX = 14
TICK_PX = 13
# Okabe-Ito, black first for the baseline.
COLOURS = ("#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": FONT_PX + 2}, "x": 0, "xanchor": "left"},
        font={"size": FONT_PX, "family": "sans-serif"},
        legend={"font": {"size": TICK_PX}, "orientation": "h", "y": -0.18},
        height=height,
        margin={"l": 70, "r": 20, "t": 70, "b": 80},
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    fig.update_xaxes(tickfont={"size": TICK_PX}, gridcolor="#dddddd", zerolinecolor="#888888")
    fig.update_yaxes(tickfont={"size": TICK_PX}, gridcolor="#dddddd", zerolinecolor="#888888")
    return fig


def scale(metric: str) -> tuple[float, str]:
    """The factor a metric's difference is drawn with, and the axis text of its unit."""
    info = display.metric_info(metric)
    if info.unit == "gbp":
        return 1e-6, "£ million"
    if info.unit == "pct":
        return 1.0, "percentage points"
    if info.unit == "share":
        return 100.0, "percentage points"
    return 1.0, info.unit_text


def forest(table: pd.DataFrame) -> go.Figure:
    """Each strategy minus the baseline, with its paired 95% CI, one panel per metric, each
    with its own unit (``table``: :func:`simulation.app.strategies.comparison`)."""
    metrics = list(dict.fromkeys(table["metric"]))
    names = list(dict.fromkeys(table["strategy"]))
    rows = len(metrics)
    panel_px, gap_px = 40 + 34 * len(names), 120  # the gap holds an axis title and a panel title
    plot_px = rows * panel_px + (rows - 1) * gap_px
    fig = make_subplots(
        rows=rows,
        cols=1,
        subplot_titles=[display.metric_label(m) for m in metrics],
        vertical_spacing=gap_px / plot_px if rows > 1 else 0.0,
    )
    for k, m in enumerate(metrics):
        factor, unit = scale(m)
        sub = table[table["metric"] == m].set_index("strategy").reindex(names)
        for i, name in enumerate(names):
            row = sub.loc[name]
            mean = float(row["mean_diff"]) * factor
            fig.add_trace(
                go.Scatter(
                    x=[mean],
                    y=[name],
                    mode="markers",
                    marker={"size": 11, "color": colour(i + 1)},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [float(row["ci_high"]) * factor - mean],
                        "arrayminus": [mean - float(row["ci_low"]) * factor],
                        "thickness": 2,
                        "width": 6,
                    },
                    name=name,
                    legendgroup=name,
                    showlegend=False,
                    hovertemplate=f"{name}: %{{x:,.3g}} {unit}<extra></extra>",
                ),
                row=k + 1,
                col=1,
            )
        fig.add_vline(x=0, line={"color": "#555555", "dash": "dash", "width": 1}, row=k + 1, col=1)
        fig.update_xaxes(title_text=f"Difference ({unit})", row=k + 1, col=1)
        fig.update_yaxes(autorange="reversed", row=k + 1, col=1)
    for annotation in fig.layout.annotations:  # the panel titles, above each panel on the left
        annotation.update(font={"size": FONT_PX, "weight": "bold"}, x=0, xanchor="left")
    fig = _layout(fig, "Each strategy minus the baseline: mean and paired 95% CI", plot_px + 150)
    fig.update_layout(margin={"l": 150, "r": 30, "t": 90, "b": 70})
    return fig


def cost_by_year(table: pd.DataFrame, basis: str) -> go.Figure:
    """Each strategy's cost per financial year: mean, with the 5th to 95th percentile
    across replications (``table``: :func:`simulation.app.strategies.costs_by_year`)."""
    fig = go.Figure()
    for i, (name, sub) in enumerate(table.groupby("strategy", sort=False)):
        mean = sub["mean_gbp"] / 1e6
        fig.add_trace(
            go.Scatter(
                x=sub["financial_year"],
                y=mean,
                mode="lines+markers",
                name=str(name),
                line={"color": colour(i), "width": 2},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": sub["p95_gbp"] / 1e6 - mean,
                    "arrayminus": mean - sub["p5_gbp"] / 1e6,
                    "thickness": 1.2,
                },
                hovertemplate=f"{name}, %{{x}}: £%{{y:,.2f}}m<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="Financial year (April to March)")
    fig.update_yaxes(title_text="Cost in the year (£ million)", rangemode="tozero")
    fig = _layout(fig, "Cost by financial year: mean and 5th to 95th percentile", 480)
    fig.update_layout(title_subtitle={"text": f"In {basis}.", "font": {"size": TICK_PX}})
    return fig


def fan(results: Mapping[str, RunResult], column: str, title: str, axis: str) -> go.Figure | None:
    """A weekly series of every strategy: the median and the 5th to 95th percentile band
    across replications. None if no strategy has the series."""
    fig = go.Figure()
    drawn = False
    for i, (name, result) in enumerate(results.items()):
        weekly = result.weekly
        if column not in weekly.columns or not weekly[column].notna().any():
            continue
        g = weekly.groupby("week_start", sort=True)[column]
        q = g.quantile(np.array([0.05, 0.5, 0.95])).unstack()
        x = pd.to_datetime(q.index)
        col = colour(i)
        fig.add_trace(
            go.Scatter(
                x=x, y=q[0.95], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=q[0.05],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=_rgba(col, 0.15),
                name=f"{name}: 5th to 95th percentile",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=q[0.5],
                mode="lines",
                line={"color": col, "width": 2},
                name=f"{name}: median",
                hovertemplate=f"{name}, week of %{{x|%d %b %Y}}: %{{y:,.1f}}<extra></extra>",
            )
        )
        drawn = True
    if not drawn:
        return None
    fig.update_xaxes(title_text="Week starting")
    fig.update_yaxes(title_text=axis)
    return _layout(fig, title, 480)


FANS = (
    ("children_spot", "Children in spot placements, week by week", "Children (weekly mean)"),
    (
        "internal_occupancy_pct",
        "Council homes' occupancy, week by week",
        "Occupancy (% of usable beds)",
    ),
)


def figures_html(figures: Sequence[tuple[str, go.Figure]], title: str) -> str:
    """Every figure in one standalone HTML page, plotly's JavaScript embedded (opens with no
    network)."""
    parts = []
    for i, (_, fig) in enumerate(figures):
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=i == 0))
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"</head><body><h1>{escape(title)}</h1>\n{body}\n</body></html>"
    )
