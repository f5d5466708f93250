"""One real-browser smoke test: the app served by Streamlit, driven in headless Chromium.

Uses Debian's chromium (``/usr/bin/chromium``) through Playwright's ``executable_path``, since
Playwright's own browser download needs a network. Skipped when either is missing; CI installs
both (see .ci/run).
"""

from __future__ import annotations

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


def test_change_an_opening_date_run_and_see_the_result(app_url: str) -> None:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
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
            page.get_by_text("EBD home 2: opens 2030-04-01 (was 2026-04-01)").wait_for(
                timeout=30_000
            )
            run_button.click()
            headline = page.get_by_text(re.compile(r"Edited minus baseline, total cost"))
            headline.wait_for(timeout=60_000)
            text = headline.inner_text()
            # Unedited, both runs are identical and the difference is exactly £+0.00m.
            diff = re.search(r"total cost over the run: £([+-][\d,.]+)m", text)
            assert diff is not None, text
            assert abs(float(diff.group(1).replace(",", ""))) > 0.01, text
            assert "P(edited cheaper)" in text
            page.get_by_role("tab", name="Home openings").wait_for(timeout=10_000)
        finally:
            browser.close()
