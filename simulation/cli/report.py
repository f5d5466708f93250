"""The ``report`` and ``app`` commands: an HTML report of a run, and the what-if web app."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from simulation.cli.common import (
    check_output_file,
    err_console,
    fail,
    fail_write,
    interrupted,
    load_config,
    progress_bar,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _resolve_target(target: Path) -> Path:
    """A path as given, else a run name under ``results/``."""
    if target.exists():
        return target
    under_results = Path("results") / target
    if under_results.is_dir():
        return under_results
    fail(f"{target}: no such results folder or config file")


def _check_html(html_path: Path, pdf: bool) -> None:
    """Fail (one line, exit 2) unless the report (and its PDF) can be written there."""
    if html_path.suffix.lower() not in (".html", ".htm"):
        fail(f"--out: {html_path} should end in .html")
    check_output_file(html_path)
    if pdf:
        check_output_file(html_path.with_suffix(".pdf"), "--pdf")


def report_command(
    target: Annotated[
        Path,
        typer.Argument(
            help="A results folder of 'sufficiency run' (or its name under results/), "
            "a scenario YAML to run first, or an experiment spec (experiments/*.yaml) to run "
            "first: its report sets every strategy against the baseline.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="HTML file to write (default: report.html in the results folder, or "
            "<name>-report.html here for a config or an experiment spec). Replaced if it exists.",
        ),
    ] = None,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also print the report to PDF beside the HTML.")
    ] = False,
    replications: Annotated[
        int | None,
        typer.Option("--replications", "-n", min=1, help="For a config: replications to run."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", "-s", min=0, help="For a config: root seed.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=0, help="For a config: processes; 0 = per core.")
    ] = 0,
    occupancy: Annotated[
        int | None,
        typer.Option(
            "--occupancy",
            min=10,
            max=100_000,
            help="Add the occupancy answer of 'sufficiency occupancy' (each home against its "
            "business case; a new home of 1-6 beds), with this many replications.",
        ),
    ] = None,
) -> None:
    """Write a self-contained HTML report: a summary in plain English, then the tables and
    figures it rests on, the config and seed (of a run, or of an experiment's strategies)."""
    from simulation import report
    from simulation.runner import run

    path = _resolve_target(target)
    is_spec = path.is_file() and _is_experiment_spec(path)
    if is_spec:
        if occupancy is not None:
            fail("--occupancy applies to a scenario, not to an experiment spec")
        written = _experiment_report(path, out, pdf, replications, seed, workers)
    elif path.is_dir():
        if replications is not None or seed is not None:
            fail("--replications/--seed apply to a config, not to a results folder")
        try:
            data = report.load_results(path)
        except ValueError as exc:
            fail(str(exc))
        html_path = out or path / "report.html"
        _check_html(html_path, pdf)
    else:
        scenario = load_config(path)
        html_path = out or Path(f"{scenario.name}-report.html")
        _check_html(html_path, pdf)  # before the run, not after it
        n = replications or scenario.run.replications
        try:
            with progress_bar(f"Simulating {scenario.name}", n, False, on=err_console) as (
                advance,
                _,
            ):
                result = run(scenario, replications=n, seed=seed, workers=workers, progress=advance)
        except KeyboardInterrupt:
            interrupted()
        data = report.from_result(result)
    if not is_spec:
        if occupancy is not None:
            data.occupancy = _occupancy(data, occupancy, workers)
        try:
            written = report.write_report(data, html_path)
        except OSError as exc:
            fail_write("--out", html_path, exc, " (nothing was written)")
    print(written)
    if pdf:
        pdf_path = written.with_suffix(".pdf")
        try:
            engine = report.html_to_pdf(written, pdf_path)
        except report.PdfEngineMissing as exc:
            print(f"error: --pdf: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            print(f"error: --pdf: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        print(f"{pdf_path} ({engine})")


def _is_experiment_spec(path: Path) -> bool:
    """Whether a YAML file is an experiment spec (it names strategies, a grid or a sweep)."""
    from simulation.errors import ScenarioError
    from simulation.scenario import read_yaml

    try:
        doc = read_yaml(path)
    except ScenarioError:
        return False  # reported as a config's error, one line
    if isinstance(doc, dict) and "search" in doc and "objective" in doc:
        fail(
            f"{path}: an optimiser spec: run 'sufficiency optimise {path}' (report takes a "
            "results folder, a scenario or an experiment spec)"
        )
    return isinstance(doc, dict) and bool({"strategies", "grid", "sweep"} & set(doc))


def _experiment_report(
    spec: Path,
    out: Path | None,
    pdf: bool,
    replications: int | None,
    seed: int | None,
    workers: int,
) -> Path:
    """Run the experiment in a store of its own (gone afterwards) and write its report."""
    import tempfile

    from simulation.cli.experiments import (
        _load_experiment,
        run_with_progress,
        write_experiment_report_file,
    )
    from simulation.store import ResultsStore, StoreError

    exp = _load_experiment(spec)
    html_path = out or Path(f"{exp.name}-report.html")
    _check_html(html_path, pdf)  # before the run, not after it
    if replications is not None:
        exp = exp.with_replications(replications)
    if seed is not None:
        exp = exp.with_seed(seed)
    observed = any(st.scenario.observed for st in exp.strategies)
    with tempfile.TemporaryDirectory(prefix="sufficiency-report-") as tmp:
        store = ResultsStore(Path(tmp) / "results.duckdb")
        try:
            result = run_with_progress(
                exp,
                store,
                False,
                err_console,
                workers=workers,
                weekly=observed,  # the weekly series only for the published points
            )
            return write_experiment_report_file(result, store, html_path, "", "--out")
        except StoreError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            interrupted()
        finally:
            store.close()


def _occupancy(data: Any, replications: int, workers: int) -> Any:
    """The occupancy answer for the report's scenario (simulated now)."""
    from simulation.experiments.occupancy import OccupancyError, answer
    from simulation.scenario import parse_scenario

    scenario = parse_scenario(data.config)
    n_workers = (os.cpu_count() or 1) if workers == 0 else workers
    try:
        with progress_bar("Occupancy", replications, False, on=err_console) as (advance, total):
            return answer(
                scenario,
                replications,
                int(data.meta.get("seed", scenario.run.seed)),
                workers=n_workers,
                progress=advance,
                on_total=total,
            )
    except OccupancyError as exc:
        fail(f"--occupancy: {exc}")
    except KeyboardInterrupt:
        interrupted()


def _die_with_parent() -> None:
    """In the Streamlit child, before it starts: on Linux, be sent SIGTERM when the
    ``sufficiency app`` process dies, however it dies (even SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _open_browser_when_up(url: str, child: subprocess.Popen[bytes]) -> None:
    """Open ``url`` in a browser tab once the server answers (Streamlit itself runs headless,
    so it never stops at its first-run prompt)."""

    def wait_then_open() -> None:
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    webbrowser.open(url)
                    return
            except OSError:
                time.sleep(0.3)

    threading.Thread(target=wait_then_open, daemon=True).start()


def app_command(
    port: Annotated[
        int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")
    ] = DEFAULT_PORT,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to bind. The app has no login: keep it on this machine."
        ),
    ] = DEFAULT_HOST,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open a browser tab.")
    ] = True,
) -> None:
    """Open the what-if web app (Streamlit) on http://127.0.0.1:8501."""
    if importlib.util.find_spec("streamlit") is None:
        fail("the app needs Streamlit: make app, or pip install -e '.[app]'")
    if host not in LOCAL_HOSTS:
        print(
            f"warning: binding to {host}: anyone who can reach it can run simulations "
            "(the app has no login)",
            file=sys.stderr,
        )
    script = Path(__file__).resolve().parents[1] / "app" / "main.py"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.address",
        host,
        "--server.port",
        str(port),
        # Headless always: a first start in a terminal would otherwise wait at Streamlit's
        # welcome / email prompt. The browser tab is opened here instead.
        "--server.headless",
        "true",
        "--server.maxUploadSize",
        "1",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "viewer",
        "--global.developmentMode",
        "false",
        "--theme.base",
        "light",
    ]
    # The page imports this same copy of the package, whatever else is on the path.
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    url = f"http://{'localhost' if host in LOCAL_HOSTS else host}:{port}"
    print(f"sufficiency app on {url} (Ctrl+C to stop)", file=sys.stderr)
    child = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def stop_child(signum: int, _frame: object) -> None:
        # Stopping this process (kill PID, a closed terminal) stops the server with it.
        child.terminate()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop_child)
    if browser:
        _open_browser_when_up(url, child)
    try:
        rc = child.wait()
    except (KeyboardInterrupt, SystemExit) as exc:
        # Ctrl-C reaches the server too (same terminal); give it a moment, then make sure.
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        rc = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 0
    raise typer.Exit(rc)


def register(app: typer.Typer) -> None:
    """Add the ``report`` and ``app`` commands to the CLI."""
    app.command("report")(report_command)
    app.command("app")(app_command)
