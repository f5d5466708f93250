"""The ``report`` and ``app`` commands: an HTML report of a run, and the what-if web app."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

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
            "or a scenario YAML to run first.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="HTML file to write (default: report.html in the results folder, or "
            "<config name>-report.html here for a config). Replaced if it exists.",
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
) -> None:
    """Write a self-contained HTML report (figures, headline numbers, config, seed)."""
    from simulation import report
    from simulation.runner import run

    path = _resolve_target(target)
    if path.is_dir():
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
        "--server.headless",
        "false" if browser else "true",
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
    print(f"sufficiency app on http://{host}:{port} (Ctrl+C to stop)", file=sys.stderr)
    try:
        rc = subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        rc = 0
    raise typer.Exit(rc)


def register(app: typer.Typer) -> None:
    """Add the ``report`` and ``app`` commands to the CLI."""
    app.command("report")(report_command)
    app.command("app")(app_command)
