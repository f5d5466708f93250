"""The tables behind the report's and the app's text (simulation.findings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation.findings import COST_PARTS, cost_by_year, cost_risk_drivers, opening_dates
from simulation.runner import run
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return run(load_scenario(ROOT / "configs" / "coventry-2023.yaml"), replications=12, seed=4)


def test_cost_parts_add_up_to_the_total(result) -> None:  # type: ignore[no-untyped-def]
    s = result.summary
    parts = s[[p for p in COST_PARTS if p in s.columns]].sum(axis=1)
    np.testing.assert_allclose(parts, s["cost_total_gbp"], rtol=1e-9)


def test_risk_shares_add_up_to_one_and_match_a_hand_split(result) -> None:  # type: ignore[no-untyped-def]
    drivers = cost_risk_drivers(result.summary)
    assert drivers["share_of_variance"].sum() == pytest.approx(1.0, abs=1e-9)
    assert drivers["share_of_variance"].is_monotonic_decreasing
    # Two parts, one constant: the other carries all the spread.
    s = pd.DataFrame({"cost_spot_gbp": [1.0, 3.0, 5.0], "cost_internal_gbp": [2.0, 2.0, 2.0]})
    s["cost_total_gbp"] = s.sum(axis=1)
    hand = cost_risk_drivers(s).set_index("part")["share_of_variance"]
    assert hand["cost_spot_gbp"] == pytest.approx(1.0) and hand["cost_internal_gbp"] == 0.0
    assert cost_risk_drivers(s.iloc[:1]).empty  # one replication: no spread to split


def test_cost_by_year_is_the_finance_table_summarised(result) -> None:  # type: ignore[no-untyped-def]
    table = cost_by_year(result.finance)
    assert list(table["financial_year"]) == sorted(result.finance["financial_year"].unique())
    # The years' means add up to the mean total cost over the run.
    assert table["mean_gbp"].sum() == pytest.approx(result.summary["cost_total_gbp"].mean())
    assert (table["p5_gbp"] <= table["mean_gbp"] + 1e-6).all()
    assert (table["mean_gbp"] <= table["p95_gbp"] + 1e-6).all()
    with pytest.raises(ValueError, match="no 'nope_gbp'"):
        cost_by_year(result.finance, "nope_gbp")


def test_opening_dates_by_hand() -> None:
    planned = pd.Timestamp("2025-04-01")
    openings = pd.DataFrame(
        {
            "replication": [0, 1, 2, 3],
            "unit": ["A"] * 4,
            "planned_date": [planned] * 4,
            "opened_date": [
                planned + pd.Timedelta(days=d) if d is not None else pd.NaT
                for d in (10, 30, 50, None)
            ],
        }
    )
    row = opening_dates(openings).iloc[0]
    assert row["unit"] == "A" and row["planned_date"] == planned
    assert row["median_date"] == planned + pd.Timedelta(days=30)
    assert row["mean_delay_days"] == pytest.approx(30.0)
    assert row["opened_share"] == pytest.approx(0.75)
    assert opening_dates(None).empty
