"""Observed points: published outcomes set beside the simulation (simulation/observed.py).

Validation (one line per problem, exit 2), the numbers of the table on a run whose answer is
known exactly, agreement with the weekly table, coverage counting, observed.csv written with the
run or not at all, and the experiment's per-strategy tables and paired effects.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import START, base_config, fixed, scenario

from simulation.cli import main
from simulation.observed import (
    CHECK_COLUMNS,
    check_points,
    coverage,
    coverage_text,
    paired_at_points,
    point_values,
)
from simulation.outputs import OBSERVED_COLUMNS
from simulation.runner import ID_COLUMNS, run
from simulation.scenario import observable_series
from simulation.store.results import config_hash

MINIMAL = Path(__file__).resolve().parent.parent / "configs" / "minimal.yaml"


def _known_config(observed: list[dict[str, Any]]) -> dict[str, Any]:
    """3 children in a council home in the city and 2 in spot out of it, all staying past the
    end, no arrivals: every week holds exactly 5 placed, 3 in the city (share 0.6)."""
    need = {
        "arrivals_per_year": 0.0,
        "length_of_stay_days": fixed(10_000),
        "age_at_entry_years": fixed(5),
    }
    cfg = base_config(
        {"a": need},
        homes=[{"name": "H", "beds": 4, "needs": ["a"], "in_city": True}],
        cohort=[
            {"need": "a", "provision": "internal", "count": 3, "elapsed_days": fixed(0)},
            {
                "need": "a",
                "provision": "spot",
                "count": 2,
                "in_city": False,
                "elapsed_days": fixed(0),
            },
        ],
        order=["internal", "spot"],
    )
    cfg["observed"] = observed
    return cfg


def _point(days: int, metric: str, value: float) -> dict[str, Any]:
    return {
        "date": (START + dt.timedelta(days=days)).isoformat(),
        "metric": metric,
        "value": value,
        "source": "a test",
    }


def _write(path: Path, cfg: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


def test_the_table_on_a_run_whose_answer_is_known() -> None:
    points = [
        _point(100, "children_placed", 5),  # exactly the simulated value: inside
        _point(100, "children_in_city", 2),  # below P5 = 3: outside
        _point(200, "in_city_share", 0.6),
        _point(300, "children_spot", 2.5),  # above P95 = 2: outside
    ]
    s = scenario(_known_config(points))
    result = run(s, replications=4, workers=1)
    checks = check_points(s, result.weekly)
    assert list(checks.columns) == list(CHECK_COLUMNS)
    assert checks["mean"].tolist() == pytest.approx([5, 3, 0.6, 2])
    assert checks["p5"].tolist() == pytest.approx([5, 3, 0.6, 2])
    assert checks["p95"].tolist() == pytest.approx([5, 3, 0.6, 2])
    assert checks["inside"].tolist() == [True, False, True, False]
    assert checks["week"].tolist() == [14, 14, 28, 42]  # day // 7
    assert checks["week_start"].tolist() == [
        START + dt.timedelta(days=7 * w) for w in (14, 14, 28, 42)
    ]
    assert (checks["replications"] == 4).all()
    assert coverage(checks) == (2, 4)
    assert coverage_text(checks) == "2 of 4 published points inside the simulated P5-P95"


def test_the_table_agrees_with_the_weekly_table() -> None:
    """On a random run, each point's mean and P5/P95 are those of its week's rows of the weekly
    table, as the fans compute them."""
    cfg = yaml.safe_load(MINIMAL.read_text())
    cfg["observed"] = [
        {"date": "2025-06-03", "metric": "children_placed", "value": 6, "source": "t"},
        {"date": "2027-01-10", "metric": "in_city_share", "value": 0.5, "source": "t"},
    ]
    s = scenario(cfg)
    result = run(s, replications=12, workers=1)
    checks = check_points(s, result.weekly)
    fans = result.fans()
    for rec in checks.to_dict("records"):
        week = (rec["date"] - s.run.start_date).days // 7
        x = result.weekly.loc[result.weekly["week"] == week, rec["metric"]].to_numpy(dtype=float)
        assert rec["mean"] == pytest.approx(x.mean())
        assert rec["p5"] == pytest.approx(np.percentile(x, 5))
        assert rec["p95"] == pytest.approx(np.percentile(x, 95))
        fan = fans[(fans["series"] == rec["metric"]) & (fans["week"] == week)].iloc[0]
        assert (rec["p5"], rec["p95"]) == pytest.approx((fan["p5"], fan["p95"]))
        assert rec["inside"] == (rec["p5"] <= rec["value"] <= rec["p95"])


def test_weekly_series_are_what_observed_points_may_name() -> None:
    """The allowed names are exactly the weekly table's series; the new series add up."""
    s = scenario(yaml.safe_load(MINIMAL.read_text()))
    weekly = run(s, replications=2, workers=1).weekly
    series = [c for c in weekly.columns if c not in ID_COLUMNS]
    assert sorted(series) == sorted(observable_series())
    by_kind = weekly[
        [
            c
            for c in series
            if c.startswith("children_")
            and c[9:] in ("internal", "block", "framework", "spot", "unregistered")
        ]
    ].sum(axis=1)
    assert np.allclose(weekly["children_placed"], by_kind)
    assert np.allclose(weekly["children_in_city"] + weekly["children_out_of_city"], by_kind)
    share = weekly["in_city_share"].dropna()
    assert ((share >= 0) & (share <= 1)).all()


def test_coverage_counts_only_points_inside() -> None:
    checks = pd.DataFrame({"inside": [True, False, None, True]})
    assert coverage(checks) == (2, 4)
    assert coverage_text(checks.iloc[:1]) == "1 of 1 published point inside the simulated P5-P95"


@pytest.mark.parametrize(
    ("point", "field", "words"),
    [
        (_point(10, "children_in_homes", 5), "observed[0].metric", "children_placed"),
        (_point(400, "children_placed", 5), "observed[0].date", "2024-01-01 to 2024-12-31"),
        (_point(-1, "children_placed", 5), "observed[0].date", "outside the run"),
    ],
)
def test_a_bad_point_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    point: dict[str, Any],
    field: str,
    words: str,
) -> None:
    path = _write(tmp_path / "c.yaml", _known_config([point]))
    out = tmp_path / "out"
    for args in (["validate", path], ["run", path, "-n", "2", "-w", "1", "-o", str(out)]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{field}:" in err[0] and words in err[0], err
    assert not out.exists()


def test_a_point_without_a_source_or_repeated_is_refused(tmp_path: Path) -> None:
    point = _point(10, "children_placed", 5)
    del point["source"]
    with pytest.raises(Exception, match=r"observed\[0\]\.source"):
        scenario(_known_config([point]))
    twice = [_point(10, "children_placed", 5), _point(10, "children_placed", 6)]
    with pytest.raises(Exception, match=r"observed\[1\]"):
        scenario(_known_config(twice))


def test_run_writes_observed_csv_with_the_results_or_not_at_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _known_config([_point(100, "children_placed", 5), _point(100, "children_in_city", 2)])
    path = _write(tmp_path / "c.yaml", cfg)
    out = tmp_path / "out"
    assert main(["run", path, "-n", "3", "-w", "1", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 of 2 published points inside the simulated P5-P95" in printed
    table = pd.read_csv(out / "observed.csv")
    assert list(table.columns) == [name for name, _ in OBSERVED_COLUMNS] == list(CHECK_COLUMNS)
    assert table["mean"].tolist() == pytest.approx([5, 3])
    assert table["inside"].tolist() == [True, False]
    # The report shows the same table (its section alone: the figures are slow to draw).
    from simulation import report

    page = report._observed_section(report.load_results(out)) or ""
    assert "1 of 2 published points inside the simulated P5-P95" in page
    assert (
        "<td>Children in the city</td><td>2.0</td><td>3.0</td><td>3.0 to 3.0</td><td>no</td>"
        in page
    )
    # Without points, no file.
    plain = _write(tmp_path / "p.yaml", _known_config([]))
    assert main(["run", plain, "-n", "2", "-w", "1", "-q", "-o", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "observed.csv").exists()

    # A failure while writing it leaves nothing behind.
    import simulation.outputs as outputs

    def broken(*_: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "check_points", broken)
    failed = tmp_path / "failed"
    assert main(["run", path, "-n", "2", "-w", "1", "-q", "-o", str(failed)]) == 2
    assert not failed.exists()


def test_observed_points_leave_the_simulation_and_the_store_key_alone() -> None:
    cfg = _known_config([])
    plain = scenario(cfg)
    with_points = scenario({**copy.deepcopy(cfg), "observed": [_point(10, "children_placed", 5)]})
    assert "observed" not in plain.to_dict()
    assert config_hash(plain) == config_hash(with_points)


def test_paired_effect_at_points_is_the_mean_paired_difference() -> None:
    s = scenario(_known_config([_point(100, "children_placed", 5)]))
    label = "children_placed@" + (START + dt.timedelta(days=100)).isoformat()
    base = pd.DataFrame({"replication": [0, 1, 2], label: [5.0, 6.0, 7.0]})
    edited = pd.DataFrame({"replication": [0, 1, 2], label: [6.0, 8.0, 7.0]})
    diffs = paired_at_points(s, base, edited)
    assert diffs.loc[0, "series"] == "children_placed"
    assert diffs.loc[0, "mean_diff"] == pytest.approx(1.0)
    weekly = run(s, replications=3, workers=1).weekly
    assert list(point_values(s, weekly).columns) == ["replication", label]


def test_experiment_prints_each_strategy_against_the_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from simulation.cli import experiments as experiments_cli

    buf = io.StringIO()
    terminal = Console(file=buf, width=80, force_terminal=False, color_system=None)
    monkeypatch.setattr(experiments_cli, "console", terminal)
    cfg = yaml.safe_load(MINIMAL.read_text())
    cfg["observed"] = [
        {"date": "2026-01-10", "metric": "children_placed", "value": 6, "source": "t"},
        {"date": "2026-01-10", "metric": "in_city_share", "value": 0.5, "source": "t"},
    ]
    _write(tmp_path / "base.yaml", cfg)
    spec = {
        "name": "obs",
        "base": "base.yaml",
        "replications": 4,
        "metrics": ["cost_total_gbp"],
        "strategies": [
            {
                "name": "more arrivals",
                "overrides": [{"path": "demand.needs.ebd.arrivals_per_year", "scale": 1.5}],
            }
        ],
    }
    path = _write(tmp_path / "spec.yaml", spec)
    db = str(tmp_path / "s.duckdb")
    assert main(["experiment", path, "-w", "1", "--db", db]) == 0
    text = buf.getvalue()
    assert "base: published outcomes against the simulation" in text
    assert "more arrivals: published outcomes against the simulation" in text
    assert "Paired effect at the published dates, each against 'base'" in text
    assert "more arrivals against base (4 pairs)" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    # Each point's row whole on one line: 2 tables of checks, 1 of paired effects.
    rows = [line for line in text.splitlines() if line.startswith("10 Jan 2026")]
    assert len(rows) == 6, rows
    # Without weekly series stored, the tables give way to a note.
    buf.truncate(0)
    buf.seek(0)
    spec["name"] = "obs2"
    path = _write(tmp_path / "spec2.yaml", spec)
    assert main(["experiment", path, "-w", "1", "--db", db, "--no-weekly"]) == 0
    assert "no weekly series stored" in buf.getvalue()
