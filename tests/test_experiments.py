"""Experiments end to end: common random numbers, paired statistics, the results store, resume
after SIGKILL, and identical rows from local processes and a Dask LocalCluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from simulation.cli import main
from simulation.experiments import load_experiment, paired_differences, run_experiment
from simulation.experiments.driver import run_in_memory
from simulation.experiments.spec import experiment_from_configs
from simulation.store import ResultsStore

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "configs" / "minimal.yaml"


def write_spec(tmp_path: Path, replications: Any = 8, name: str = "small", **extra: Any) -> Path:
    """A small experiment on the minimal config (2-year horizon: milliseconds a replication)."""
    doc = {
        "name": name,
        "base": str(MINIMAL),
        "replications": replications,
        "metrics": ["cost_total_gbp", "spot_placements", "internal_occupancy_pct"],
        "strategies": [
            {"name": "short", "overrides": [{"path": "run.horizon_years", "set": 2}]},
            {
                "name": "short, 6 beds",
                "overrides": [
                    {"path": "run.horizon_years", "set": 2},
                    {"path": "provision.homes[name=Elm House].beds", "set": 6},
                ],
            },
            {
                "name": "short, busier",
                "overrides": [
                    {"path": "run.horizon_years", "set": 2},
                    {"path": "demand.needs.ebd.arrivals_per_year", "scale": 1.5},
                ],
            },
        ],
        "include_base": False,
        "baseline": "short",
        **extra,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def stored(db: Path, table: str = "replications") -> pd.DataFrame:
    """Every row of a stored table, in a canonical order, without timestamps."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        df = con.execute(f"SELECT r.strategy, t.* FROM {table} t JOIN runs r USING (run_id)").df()
    finally:
        con.close()
    keys = [c for c in ("strategy", "replication", "week", "unit", "financial_year") if c in df]
    return df.sort_values(keys).reset_index(drop=True)


# -- paired statistics ------------------------------------------------------------------------


def test_paired_differences_by_hand() -> None:
    summary = pd.DataFrame(
        {
            "strategy": ["b"] * 4 + ["a"] * 4,
            "replication": [0, 1, 2, 3] * 2,
            "cost_total_gbp": [10.0, 12.0, 11.0, 13.0, 9.0, 12.5, 10.0, 12.0],
        }
    )
    out = paired_differences(summary, "b", ["cost_total_gbp"]).iloc[0]
    d = np.array([-1.0, 0.5, -1.0, -1.0])
    assert out["mean_diff"] == pytest.approx(d.mean())
    half = 3.182446305284263 * d.std(ddof=1) / 2  # t(0.975, 3)
    assert out["ci_high"] - out["mean_diff"] == pytest.approx(half)
    assert out["p_cheaper"] == pytest.approx(0.75) and out["p_lower"] == pytest.approx(0.75)
    assert out["n"] == 4 and out["baseline_mean"] == pytest.approx(11.5)


def test_common_random_numbers_pair_the_strategies(tmp_path: Path) -> None:
    exp = load_experiment(write_spec(tmp_path, replications=30))
    result = run_in_memory(exp, workers=1)
    s = result.summary
    # Same seeds: the strategies see the same children (arrivals differ only where the
    # arrival rate was changed).
    short = s[s["strategy"] == "short"].set_index("replication")
    beds = s[s["strategy"] == "short, 6 beds"].set_index("replication")
    assert (short["arrivals"] == beds["arrivals"]).all()
    # ... so the paired difference varies much less than the strategies themselves.
    d = beds["cost_total_gbp"] - short["cost_total_gbp"]
    independent_sd = np.sqrt(short["cost_total_gbp"].var() + beds["cost_total_gbp"].var())
    assert d.std() < 0.5 * independent_sd
    paired = result.paired()
    row = paired[(paired["strategy"] == "short, 6 beds") & (paired["metric"] == "spot_placements")]
    assert row["ci_high"].iloc[0] < 0  # more beds: fewer spot placements, clearly


def test_compare_command_prints_paired_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["compare", str(MINIMAL), str(MINIMAL), "-n", "6", "-w", "1", "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "#2" in out and "P(cheaper)" in out
    # A config compared with itself on common random numbers differs by exactly zero.
    exp = experiment_from_configs([MINIMAL, MINIMAL], replications=6)
    paired = run_in_memory(exp, workers=1).paired()
    assert (paired["mean_diff"] == 0).all()


# -- store, resume ----------------------------------------------------------------------------


def test_experiment_stores_everything_and_resume_never_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, replications=10)
    db = tmp_path / "r.duckdb"
    assert main(["experiment", str(spec), "--db", str(db), "-w", "1", "-n", "4"]) == 0
    out = capsys.readouterr().out
    assert "short, 6 beds" in out and "P(cheaper)" in out and "±" in out
    # Asking for more replications of the same configs extends the same runs.
    assert main(["experiment", str(spec), "--db", str(db), "-w", "1", "--batch-size", "3"]) == 0
    capsys.readouterr()
    reps = stored(db)
    assert len(reps) == 30 and not reps.duplicated(["strategy", "replication"]).any()
    assert sorted(set(reps["replication"])) == list(range(10))
    weekly = stored(db, "weekly")
    assert len(weekly) == 30 * weekly["week"].nunique()
    for table in ("units", "finance"):
        assert set(stored(db, table)["replication"]) == set(range(10))
    runs = ResultsStore(db).runs("small")
    assert (runs["status"] == "complete").all() and (runs["replications"] == 10).all()
    assert runs["config_hash"].nunique() == 3 and runs["code_version"].notna().all()
    # A complete experiment re-run writes nothing and gives the same rows.
    assert main(["experiment", str(spec), "--db", str(db), "-w", "1", "-q"]) == 0
    pd.testing.assert_frame_equal(stored(db), reps)
    # Same rows as a fresh, uninterrupted run in one go.
    fresh = tmp_path / "fresh.duckdb"
    assert main(["experiment", str(spec), "--db", str(fresh), "-w", "2", "-q"]) == 0
    pd.testing.assert_frame_equal(stored(fresh), reps)
    pd.testing.assert_frame_equal(stored(fresh, "weekly"), weekly)


def test_results_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, replications=5)
    db = tmp_path / "r.duckdb"
    assert main(["experiment", str(spec), "--db", str(db), "-w", "1", "-q"]) == 0
    assert main(["results", "list", "--db", str(db)]) == 0
    assert "small" in capsys.readouterr().out
    assert main(["results", "list", "small", "--db", str(db)]) == 0
    assert "complete" in capsys.readouterr().out
    assert main(["results", "show", "small", "--db", str(db)]) == 0
    assert "Paired differences" in capsys.readouterr().out
    out_csv = tmp_path / "reps.csv"
    assert main(["results", "export", "small", "--db", str(db), "-o", str(out_csv)]) == 0
    df = pd.read_csv(out_csv)
    assert len(df) == 15 and {"strategy", "replication", "cost_total_gbp"} <= set(df.columns)
    out_pq = tmp_path / "weekly.parquet"
    assert (
        main(["results", "export", "small", "--db", str(db), "-t", "weekly", "-o", str(out_pq)])
        == 0
    )
    assert pd.read_parquet(out_pq)["replication"].nunique() == 5
    capsys.readouterr()
    for args in (
        ["results", "show", "nope", "--db", str(db)],
        ["results", "export", "small", "--db", str(db), "-t", "wekly", "-o", str(out_csv)],
        ["results", "list", "--db", str(tmp_path / "none.duckdb")],
        ["experiment", str(spec), "--db", str(db), "--scheduler", "yarn://x"],
    ):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1


def test_stopping_rule_stops_when_the_ci_is_narrow(tmp_path: Path) -> None:
    rule = {"metric": "cost_total_gbp", "relative_half_width": 0.5, "min": 4, "step": 4, "max": 16}
    exp = load_experiment(write_spec(tmp_path, replications=rule))
    result = run_experiment(exp, ResultsStore(tmp_path / "r.duckdb"), workers=1)
    assert result.replications == 4  # +/-50% is met at once
    rule["relative_half_width"] = 1e-6
    exp = load_experiment(write_spec(tmp_path, replications=rule, name="tight"))
    result = run_experiment(exp, ResultsStore(tmp_path / "r.duckdb"), workers=1)
    assert result.replications == 16  # never met: runs to the cap
    assert len(result.summary) == 3 * 16


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, replications=250)
    db = tmp_path / "killed.duckdb"
    cmd = [
        sys.executable,
        "-m",
        "simulation.cli",
        "experiment",
        str(spec),
        "--db",
        str(db),
        "-w",
        "1",
        "--batch-size",
        "4",
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = ResultsStore(db, wait_s=5)
    committed = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    runs = store.runs("small")
                    committed = int(runs["replications"].sum()) if not runs.empty else 0
                except Exception:  # the writer holds the lock just now
                    committed = 0
            if committed > 0:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the experiment finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = stored(db)
    assert 0 < len(partial) < 750  # killed part way (stored every ~2 s), whole batches only
    assert not partial.duplicated(["strategy", "replication"]).any()
    # Re-run: completes, and the rows equal those of an uninterrupted run.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    clean = tmp_path / "clean.duckdb"
    assert main(["experiment", str(spec), "--db", str(clean), "-w", "1", "-q"]) == 0
    resumed = stored(db)
    assert len(resumed) == 750
    pd.testing.assert_frame_equal(resumed, stored(clean))
    pd.testing.assert_frame_equal(stored(db, "weekly"), stored(clean, "weekly"))


def test_dask_local_cluster_stores_identical_rows(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    spec = write_spec(tmp_path, replications=6)
    serial, dask = tmp_path / "serial.duckdb", tmp_path / "dask.duckdb"
    assert main(["experiment", str(spec), "--db", str(serial), "-w", "1", "-q"]) == 0
    args = [
        "experiment",
        str(spec),
        "--db",
        str(dask),
        "--scheduler",
        "local:2",
        "-q",
        "--batch-size",
        "2",
    ]
    assert main(args) == 0
    pd.testing.assert_frame_equal(stored(dask), stored(serial))
    pd.testing.assert_frame_equal(stored(dask, "weekly"), stored(serial, "weekly"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_existing_dask_cluster_over_tcp_stores_identical_rows(tmp_path: Path) -> None:
    """A scheduler and a worker started as their own processes (as on a cluster): the same
    experiment through ``--scheduler tcp://HOST:PORT`` stores the serial run's rows."""
    pytest.importorskip("distributed")
    from dask.distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    no_dashboard = ["--dashboard-address", ":0"]
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            *no_dashboard,
        ],
        **quiet,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            address,
            "--nthreads",
            "1",
            "--nworkers",
            "2",
            *no_dashboard,
        ],
        **quiet,
    )
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        spec = write_spec(tmp_path, replications=6)
        serial, cluster = tmp_path / "serial.duckdb", tmp_path / "cluster.duckdb"
        assert main(["experiment", str(spec), "--db", str(serial), "-w", "1", "-q"]) == 0
        args = ["experiment", str(spec), "--db", str(cluster), "--scheduler", address, "-q"]
        assert main([*args, "--batch-size", "2"]) == 0
        pd.testing.assert_frame_equal(stored(cluster), stored(serial))
        pd.testing.assert_frame_equal(stored(cluster, "weekly"), stored(serial, "weekly"))
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
        for proc in (worker, scheduler):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_unreachable_scheduler_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    from simulation.experiments import executor

    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", "2s")
    spec = write_spec(tmp_path, replications=2)
    db = tmp_path / "r.duckdb"
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert main(["experiment", str(spec), "--db", str(db), "--scheduler", address, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--scheduler" in err and "cannot connect" in err and len(err.splitlines()) == 1


# -- sensitivity ------------------------------------------------------------------------------


def sweep_spec(tmp_path: Path) -> Path:
    doc = {
        "name": "sens",
        "base": str(MINIMAL),
        "replications": 8,
        "metrics": ["spot_placements"],
        "sweep": [
            {"name": "arrivals", "path": "demand.needs.ebd.arrivals_per_year", "scale": [0.5, 1.5]},
            {"name": "spot share", "path": "provision.spot.in_city_share", "add": [-0.1, 0.1]},
        ],
    }
    path = tmp_path / "sens.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_tornado_ranks_the_factor_that_moves_the_output(tmp_path: Path) -> None:
    from simulation.experiments.sensitivity import tornado

    exp = load_experiment(sweep_spec(tmp_path))
    result = run_experiment(exp, ResultsStore(tmp_path / "r.duckdb"), workers=1)
    df = tornado(result, "spot_placements")
    assert list(df["factor"]) == ["arrivals", "spot share"]
    arrivals = df.iloc[0]
    assert arrivals["low_diff"] < 0 < arrivals["high_diff"]
    # The in-city share of spot beds does not change how many children need a spot bed; with
    # common random numbers the paired difference is exactly zero.
    assert df.iloc[1]["swing"] == 0


def test_morris_through_salib(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "sensitivity",
        str(sweep_spec(tmp_path)),
        "--method",
        "morris",
        "-m",
        "spot_placements",
        "--trajectories",
        "3",
        "-n",
        "3",
        "-w",
        "1",
        "-q",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "mu*" in out and out.index("arrivals") < out.index("spot share")
