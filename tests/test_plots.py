"""Figures: each draws a non-trivial PNG from a small run, and refuses empty data clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation import RunResult, load_scenario, plots, run
from simulation.compare import paired_differences

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_run() -> RunResult:
    scenario = load_scenario(ROOT / "configs" / "coventry-2023.yaml")
    return run(scenario, replications=4, seed=7, workers=1)


def assert_png(path: Path, min_bytes: int = 15_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert len(data) > min_bytes, f"{path.name} is only {len(data)} bytes: an empty figure?"


def test_every_standard_figure_is_written(small_run: RunResult, tmp_path: Path) -> None:
    s = small_run.scenario
    figs = plots.standard_figures(
        small_run.weekly,
        small_run.units,
        small_run.finance,
        s.to_dict(),
        s.run.start_date,
        s.end_date,
    )
    assert set(figs) == {
        "fan-occupancy",
        "fan-spot",
        "placement-mix",
        "home-openings",
        "cost-by-year",
    }
    for stem, (_title, fig) in figs.items():
        assert_png(plots.save_figure(fig, tmp_path / f"{stem}.png"))


def test_occupancy_fan_draws_the_business_case_line(small_run: RunResult) -> None:
    fig = plots.occupancy_fan(small_run.weekly, small_run.units)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assumed = plots.assumed_occupancy(small_run.units, "internal")
    # Coventry: EBD homes 87.5%, CWD 92%, short stay 75%, weighted by usable bed-days.
    assert 80.0 < assumed < 92.0
    assert any(f"{assumed:.1f}%" in label for label in labels)
    assert ax.get_ylabel() == "Occupancy (% of usable beds)"
    assert np.isnan(plots.assumed_occupancy(small_run.units, "block"))  # no assumption given


def test_figures_carry_units_and_dates(small_run: RunResult) -> None:
    fig = plots.cost_by_year(small_run.finance)
    ax = fig.axes[0]
    assert "£" in ax.get_ylabel()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == "2023-24"
    fig = plots.spot_stock_fan(small_run.weekly, baseline=small_run.weekly)
    assert "Children" in fig.axes[0].get_ylabel()
    assert "Baseline: median" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_home_openings_planned_only_and_with_simulated_dates(
    small_run: RunResult, tmp_path: Path
) -> None:
    s = small_run.scenario
    planned = plots.planned_openings(s.to_dict())
    assert len(planned) == 9
    assert planned["planned_date"].isna().sum() == 4  # the 4 homes open before the start
    fig = plots.home_openings(planned, s.run.start_date, s.end_date)
    assert "Planned dates only" in " ".join(t.get_text() for t in fig.texts)
    assert_png(plots.save_figure(fig, tmp_path / "planned.png"))
    # A future model's openings table plugs in: one row per replication and home.
    rng = np.random.default_rng(1)
    rows = [
        {
            "replication": r,
            "unit": u,
            "planned_date": d,
            "opened_date": d + pd.Timedelta(days=int(rng.integers(0, 200))),
        }
        for r in range(20)
        for u, d in zip(planned["unit"], planned["planned_date"], strict=True)
        if not pd.isna(d)
    ]
    fig = plots.home_openings(planned, s.run.start_date, s.end_date, pd.DataFrame(rows))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Simulated median" in labels
    assert_png(plots.save_figure(fig, tmp_path / "simulated.png"))


def test_forest_and_tornado(small_run: RunResult, tmp_path: Path) -> None:
    shifted = small_run.summary.copy()
    shifted["cost_total_gbp"] *= 0.97
    shifted["spot_placements"] += 3
    comparison = paired_differences(
        small_run.summary, shifted, ["cost_total_gbp", "spot_placements"]
    )
    assert_png(plots.save_figure(plots.paired_forest(comparison), tmp_path / "forest.png"), 8_000)
    sens = pd.DataFrame(
        {
            "parameter": ["Arrivals per year", "Length of stay", "Spot price"],
            "low": [2.6e8, 2.5e8, 2.7e8],
            "high": [3.2e8, 3.3e8, 3.0e8],
            "base": 2.9e8,
        }
    )
    fig = plots.tornado(sens)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks[-1] == "Length of stay"  # widest swing on top
    assert_png(plots.save_figure(fig, tmp_path / "tornado.png"), 8_000)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: plots.occupancy_fan(r.weekly.iloc[0:0], r.units),
        lambda r: plots.spot_stock_fan(r.weekly.iloc[0:0]),
        lambda r: plots.placement_mix(r.weekly.iloc[0:0]),
        lambda r: plots.cost_by_year(r.finance.iloc[0:0]),
        lambda r: plots.home_openings(pd.DataFrame(), "2023-04-01", "2033-04-01"),
        lambda r: plots.paired_forest(pd.DataFrame()),
        lambda r: plots.tornado(pd.DataFrame(columns=["parameter", "low", "high", "base"])),
    ],
    ids=["occupancy", "spot", "mix", "cost", "openings", "forest", "tornado"],
)
def test_empty_data_raise_a_clear_error(small_run: RunResult, call: object) -> None:
    with pytest.raises(ValueError, match="is empty: nothing to plot"):
        call(small_run)  # type: ignore[operator]


def test_missing_columns_are_named(small_run: RunResult) -> None:
    with pytest.raises(ValueError, match="lacks column"):
        plots.spot_stock_fan(small_run.weekly.drop(columns=["children_spot"]))
    no_beds = small_run.weekly.assign(internal_occupancy_pct=np.nan, block_occupancy_pct=np.nan)
    with pytest.raises(ValueError, match="no occupancy data"):
        plots.occupancy_fan(no_beds, small_run.units)


def test_palette_is_okabe_ito() -> None:
    assert set(plots.KIND_COLOURS.values()) <= set(plots.OKABE_ITO.values())


def test_strategy_forest_one_panel_per_metric_in_its_own_unit(tmp_path: Path) -> None:
    paired = pd.DataFrame(
        {
            "strategy": ["a", "b", "a", "b"],
            "metric": ["cost_total_gbp"] * 2 + ["out_of_city_share"] * 2,
            "n": 10,
            "mean_diff": [2.0e6, -1.0e6, 0.05, -0.02],
            "ci_low": [1.0e6, -2.0e6, 0.03, -0.04],
            "ci_high": [3.0e6, 0.5e6, 0.07, 0.0],
        }
    )
    fig = plots.strategy_forest(paired, ["cost_total_gbp", "out_of_city_share"], caption=False)
    assert [ax.get_title(loc="left") for ax in fig.axes] == [
        "Total cost (£)",
        "Child-days out of city (percentage points)",
    ]
    # A share's difference is drawn in points: 0.05 -> 5.
    lo, hi = fig.axes[1].get_xlim()
    assert lo < -2 and hi > 7
    assert not fig.texts  # no caption drawn into the image when the page prints it
    assert_png(plots.save_figure(fig, tmp_path / "strategies.png"), 8_000)
    with pytest.raises(ValueError, match="none of the metrics"):
        plots.strategy_forest(paired, ["moves"])


def test_figures_drawn_at_a_column_width(small_run: RunResult) -> None:
    with plots.drawn_at(5.8):
        narrow = plots.cost_by_year(small_run.finance, caption=False)
    wide = plots.cost_by_year(small_run.finance)
    assert narrow.get_figwidth() == pytest.approx(5.8)
    assert wide.get_figwidth() == pytest.approx(plots.FIG_WIDTH_IN)
    assert wide.texts and not narrow.texts  # the caption, in the image only when asked
    # Ten financial years do not fit side by side in 5.8 inches: they are slanted.
    assert narrow.axes[0].get_xticklabels()[0].get_rotation() == pytest.approx(35)
    assert wide.axes[0].get_xticklabels()[0].get_rotation() == pytest.approx(0)
