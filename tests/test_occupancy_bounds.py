"""Occupancy percentages never exceed 100 in any output, even by rounding, and a real excess
(a bug) is not hidden."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulation import load_scenario, run
from simulation.metrics.occupancy import _pct, _ratio_pct

ROOT = Path(__file__).resolve().parent.parent


def test_rounding_above_100_is_100_and_a_real_excess_stays() -> None:
    overshoot = 4.0 * (1 + 1e-14)
    assert 100.0 * overshoot / 4.0 > 100.0  # the rounding this guards against
    assert _pct(overshoot, 4.0) == 100.0
    assert _pct(5.0, 4.0) == 125.0
    out = _ratio_pct(np.array([overshoot, 5.0, 2.0, 1.0]), np.array([4.0, 4.0, 4.0, 0.0]))
    np.testing.assert_array_equal(out[:3], [100.0, 125.0, 50.0])
    assert np.isnan(out[3])


def test_no_output_exceeds_100_percent() -> None:
    result = run(load_scenario(ROOT / "configs" / "coventry-2023.yaml"), replications=20)
    weekly = result.weekly.filter(like="occupancy_pct")
    assert not weekly.empty
    assert float(np.nanmax(weekly.to_numpy())) <= 100.0
    assert float(result.units["occupancy_pct"].max()) <= 100.0
    summary = result.summary.filter(like="occupancy_pct")
    assert float(np.nanmax(summary.to_numpy())) <= 100.0
