"""How numbers, dates and names read: the one formatting module of the CLI, app and report."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest

from simulation import display, load_scenario
from simulation.metrics import SUMMARY_COLUMNS

COVENTRY = Path(__file__).resolve().parents[1] / "configs" / "coventry-2023.yaml"


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        (314_974_549.0, False, "£315.0m"),
        (999_960.0, False, "£1.0m"),
        (8_123.4, False, "£8,123"),
        (1_234_567.0, True, "+£1.2m"),
        (-1_234_567.0, True, "-£1.2m"),
        (-40_000.0, True, "-£40,000"),
        (-0.04, True, "£0"),  # never "-0"
        (-20_000.0, True, "-£20,000"),
        (math.nan, False, "–"),
        (None, False, "–"),
    ],
)
def test_money(value: float | None, signed: bool, text: str) -> None:
    assert display.money(value, signed) == text


def test_money_on_the_scale_of_another_value() -> None:
    # A CI half-width beside a mean in £m reads in £m too.
    assert display.money(820_000, like=31_600_000) == "£0.8m"


def test_no_minus_zero_anywhere() -> None:
    for x in (-0.0, -0.0001, -0.049):
        assert display.number(x, 1, signed=True) == "0.0"
        assert display.percent(x) == "0.0%"
        assert display.difference("internal_occupancy_pct", x) == "0.0 pts"
        assert display.difference("cost_total_gbp", x * 10) == "£0"  # under 50p


def test_percentages_and_shares_read_as_percentages() -> None:
    assert display.percent(86.34) == "86.3%"
    assert display.share(0.3532) == "35.3%"
    assert display.value("out_of_city_share", 0.353) == "35.3%"
    assert display.value("internal_occupancy_pct", 86.34) == "86.3%"
    assert display.difference("out_of_city_share", 0.0178) == "+1.8 pts"
    assert display.difference("block_occupancy_pct", -2.04) == "-2.0 pts"
    assert display.probability(0.873) == "87%"
    assert display.probability(0.001) == "<1%" and display.probability(0.999) == ">99%"


def test_differences_carry_a_sign() -> None:
    assert display.difference("spot_placements", 6.5) == "+6.5"
    assert display.difference("spot_bed_days", 2088.5, like=67_000) == "+2,088"
    assert display.difference("cost_total_gbp", 1.25e6) == "+£1.2m"
    assert display.plus_minus("cost_total_gbp", 8.2e6, like=3e8) == "±£8.2m"
    assert display.plus_minus("internal_occupancy_pct", 0.23) == "±0.2"


def test_better_reads_the_right_way() -> None:
    # Occupancy: higher is better, so P(better) is P(higher), not P(lower).
    assert display.metric_info("internal_occupancy_pct").better == "higher"
    assert display.p_better("internal_occupancy_pct", 0.2, 0.7) == 0.7
    assert display.p_better("cost_total_gbp", 0.2, 0.7) == 0.2
    assert math.isnan(display.p_better("framework_placements", 0.2, 0.7))


def test_every_summary_metric_has_a_display_name_and_unit() -> None:
    for metric in SUMMARY_COLUMNS:
        info = display.metric_info(metric)
        assert info.label and "_" not in info.label, metric
        if metric.endswith("_gbp"):
            assert info.unit == "gbp", metric
        if metric.endswith(("_pct", "_share")):
            assert info.unit in ("pct", "share"), metric
    assert display.metric_label("cost_total_gbp", with_unit=True) == "Total cost (£)"


def test_uk_dates_period_and_price_basis() -> None:
    assert display.uk_date(dt.date(2023, 4, 1)) == "1 Apr 2023"
    assert display.uk_date("2030-04-01") == "1 Apr 2030"
    assert display.uk_date(pd.Timestamp("2026-12-25")) == "25 Dec 2026"
    assert display.uk_date(pd.NaT) == "–"
    scenario = load_scenario(COVENTRY)
    assert display.run_period(scenario) == "1 Apr 2023 to 31 Mar 2033 (10 years)"
    rate = 100 * scenario.costs.inflation_per_year
    assert display.price_basis(scenario) == (
        f"nominal prices, rising {rate:.1f}% a year from 1 Apr 2023"
    )


def test_needs_by_their_label() -> None:
    scenario = load_scenario(COVENTRY)
    labels = display.need_labels(scenario)
    assert labels["ebd"] == scenario.need_label("ebd") != "ebd"
    assert display.need_label(scenario, "no_such_need") == "no_such_need"
