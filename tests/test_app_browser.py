"""One real-browser smoke test: the app served by Streamlit, driven in headless Chromium.

Uses Debian's chromium (``/usr/bin/chromium``) through Playwright's ``executable_path``, since
Playwright's own browser download needs a network. Skipped when either is missing; CI installs
both (see .ci/run).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium installed")


SERVER: dict[str, int] = {}  # the pid of the app's CLI process


def descendants(pid: int) -> list[int]:
    """Every living process under ``pid`` (Linux /proc)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(c) for c in (task / "children").read_text().split()]
                out += kids
                todo += kids
    return out


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def parent(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return 0


def simulation_workers() -> list[int]:
    """The app's worker processes: started from the forkserver process, not the server's
    own (nor the forkserver or multiprocessing's resource tracker themselves)."""
    return [p for p in descendants(SERVER["pid"]) if "forkserver" in cmdline(parent(p))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """``sufficiency app`` on a free local port, stopped (by its own pid) afterwards."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulation.cli", "app", "--no-browser", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    SERVER["pid"] = proc.pid
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the app did not start")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, 15)  # the CLI and the Streamlit server it started, nothing else
        proc.wait(timeout=20)


def _no_clipped_cells(page: object) -> list[str]:
    """Cells of the results table whose text does not fit (scrolled or cut off)."""
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        """() => [...document.querySelectorAll(
                '[data-testid=stTable] td, [data-testid=stTable] th')]
            .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.innerText)"""
    )


def test_change_an_opening_date_run_see_the_result_and_cancel(app_url: str) -> None:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.goto(app_url)
            run_button = page.get_by_role("button", name="Run baseline and edited")
            run_button.wait_for(timeout=60_000)
            reps = page.locator(".st-key-replications input")
            reps.fill("4")
            reps.press("Enter")
            # EBD home 2 opens in April 2026: move it to April 2030 (type the year segment).
            key = ".st-key-shipped-coventry-2023-yaml-home-8-open"
            page.locator(f"{key} [data-type=year]").click()
            page.keyboard.type("2030")
            page.get_by_role("heading", name="sufficiency: what if?").click()  # commit the date
            page.get_by_text("EBD home 2: opens 1 Apr 2030 (was 1 Apr 2026)").wait_for(
                timeout=30_000
            )
            # Run sits at the top of the levers: in view without scrolling.
            box = run_button.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 768, box
            run_button.click()
            headline = page.get_by_text(re.compile(r"Edited minus baseline, total cost"))
            headline.wait_for(timeout=60_000)
            text = headline.inner_text()
            # Unedited, both runs are identical and the difference is exactly £0.0m.
            diff = re.search(r"\(\d+ years\): ([+-])£([\d,.]+)m", text)
            assert diff is not None, text
            assert float(diff.group(2).replace(",", "")) > 0.01, text
            assert "P(edited cheaper)" in text and "nominal prices" in text
            page.get_by_role("tab", name="Home openings").wait_for(timeout=10_000)
            for width, height in ((1024, 768), (1366, 768), (1920, 1080)):
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(300)
                assert not _no_clipped_cells(page), (width, _no_clipped_cells(page))
            # A change of lever clears the results at once.
            beds = page.locator(".st-key-shipped-coventry-2023-yaml-home-8-beds input")
            beds.fill("5")
            beds.press("Enter")
            page.get_by_text(re.compile("The settings changed")).wait_for(timeout=30_000)
            assert page.locator("[data-testid=stTable]").count() == 0
            # A long run runs in worker processes (not the server), and Cancel stops it.
            reps.fill("400")  # batches of 25: a progress update (where a run can stop) each ~2 s
            reps.press("Enter")
            page.wait_for_timeout(1000)
            run_button.click()
            page.get_by_text(re.compile(r"Simulating the baseline")).wait_for(timeout=60_000)
            assert len(simulation_workers()) >= 2, [cmdline(p) for p in simulation_workers()]
            started = time.monotonic()
            page.get_by_role("button", name="Cancel").click()
            page.get_by_text("The run was cancelled: nothing was kept.").wait_for(timeout=30_000)
            assert time.monotonic() - started < 15
            assert page.get_by_text(re.compile("Edited minus baseline")).count() == 0
            deadline = time.monotonic() + 10
            while simulation_workers() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not simulation_workers()
        finally:
            browser.close()
