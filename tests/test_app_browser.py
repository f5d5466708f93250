"""The app served by Streamlit, driven in headless Chromium: three strategies compared, the
downloads opened, no clipped cells at three screen sizes, axe-core clean, Run reachable by
keyboard, no stale results, and Cancel stopping the workers.

Uses Debian's chromium (``/usr/bin/chromium``) through Playwright's ``executable_path``
(``tests/browser.py``), since Playwright's own browser download needs a network. Skipped when
either is missing; CI installs both (see .ci/run).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from browser import CHROMIUM, LAUNCH_ARGS, VIEWPORTS, axe_violations, have_chromium, serious

from simulation.app.strategies import comment_lines
from simulation.scenario import parse_scenario, parse_yaml

ROOT = Path(__file__).resolve().parents[1]
COVENTRY = ROOT / "configs" / "coventry-2023.yaml"
KEY = ".st-key-shipped-coventry-2023-yaml"  # the widgets of the default config

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not have_chromium(), reason="no chromium installed")


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


def clipped(page: Any) -> list[str]:
    """Table cells and button labels whose text does not fit (scrolled or cut off)."""
    return page.evaluate(  # type: ignore[no-any-return]
        """() => [...document.querySelectorAll(
                '[data-testid=stTable] td, [data-testid=stTable] th, button p')]
            .filter(c => c.offsetParent !== null && c.scrollWidth > c.clientWidth + 1)
            .map(c => c.innerText)"""
    )


def smallest_figure_text_px(page: Any) -> float:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => Math.min(...[...document.querySelectorAll('.js-plotly-plot text')]
            .filter(t => t.textContent.trim())
            .map(t => parseFloat(getComputedStyle(t).fontSize)))"""
    )


def gone(locator: Any, seconds: float = 3.0) -> bool:
    """Whether ``locator`` matches nothing within ``seconds``: the browser applies a rerun's
    changes one element after another, so an element due to go may outlive, by a moment, the
    message that replaces it."""
    deadline = time.monotonic() + seconds
    while locator.count() and time.monotonic() < deadline:
        time.sleep(0.1)
    return locator.count() == 0


def download(page: Any, label: str) -> bytes:
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=label).click()
    return Path(info.value.path()).read_bytes()


def set_number(page: Any, selector: str, value: str) -> None:
    box = page.locator(f"{selector} input")
    box.fill(value)
    box.press("Enter")


def test_three_strategies_compared_downloads_accessibility_and_cancel(app_url: str) -> None:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768}, accept_downloads=True)
            page.goto(app_url)
            run_button = page.get_by_role("button", name="Run all strategies")
            run_button.wait_for(timeout=60_000)
            # Run sits above the variants' levers: in view without scrolling.
            box = run_button.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 768, box
            set_number(page, ".st-key-replications", "3")
            # Variant 1: EBD home 2 opens in April 2030, not 2026 (type the year segment).
            page.locator(f"{KEY}-v1-home-8-open [data-type=year]").click()
            page.keyboard.type("2030")
            page.get_by_role("heading", name="sufficiency: what if?").click()  # commit the date
            page.get_by_text("EBD home 2: opens 1 Apr 2030 (was 1 Apr 2026)").wait_for(
                timeout=30_000
            )
            # A second variant, named, with a bigger block contract.
            page.get_by_role("button", name="Add a variant").click()
            page.get_by_role("tab", name="Variant 2").click()
            name = page.locator(".st-key-variant-2-name input")
            name.fill("Bigger block")
            name.press("Enter")
            page.get_by_role("tab", name="Bigger block").click()
            page.locator(f"{KEY}-v2-block-0-beds").wait_for(state="attached")
            page.get_by_text("Block contracts: beds").nth(1).click()
            set_number(page, f"{KEY}-v2-block-0-beds", "14")
            page.get_by_text("In-city block (2 providers): 14 beds (was 11)").wait_for(
                timeout=30_000
            )
            # Run is reachable by keyboard: tab from the seed to it and press Enter.
            page.locator(f"{KEY}-seed input").focus()
            for _ in range(8):
                page.keyboard.press("Tab")
                if page.evaluate("() => document.activeElement.innerText") == "Run all strategies":
                    break
            else:
                pytest.fail("Tab never reached Run")
            page.keyboard.press("Enter")
            page.get_by_text(re.compile(r"Bigger block minus Baseline, total cost")).wait_for(
                timeout=90_000
            )
            headline = page.get_by_text(re.compile(r"Variant 1 minus Baseline, total cost"))
            diff = re.search(r"\(\d+ years\): ([+-])£([\d,.]+)m", headline.inner_text())
            assert diff is not None and float(diff.group(2).replace(",", "")) > 0.01
            table = page.locator("[data-testid=stTable]").first.inner_text()
            assert "Variant 1" in table and "Bigger block" in table
            page.locator(".js-plotly-plot").nth(3).wait_for(timeout=30_000)  # four figures
            for width, height in VIEWPORTS:
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(300)
                assert not clipped(page), (width, clipped(page))
                assert smallest_figure_text_px(page) >= 12, width
            assert not serious(axe_violations(page))
            # The downloads open: CSV, xlsx, the figures page, a variant's commented YAML.
            compared = pd.read_csv(io.BytesIO(download(page, "Comparison (CSV)")))
            assert set(compared["strategy"]) == {"Variant 1", "Bigger block"}
            assert {"mean_diff", "ci_low", "ci_high", "p_better"} <= set(compared.columns)
            book = openpyxl.load_workbook(io.BytesIO(download(page, "Both tables (xlsx)")))
            assert book.sheetnames == ["comparison", "cost by year"]
            assert book["cost by year"].max_row == 1 + 3 * 10  # 3 strategies, 10 years
            figures = download(page, "Figures (HTML)").decode()
            assert "Plotly.newPlot" in figures and '<script src="http' not in figures
            text = download(page, "YAML: Variant 1").decode()
            original = comment_lines(COVENTRY.read_text())
            kept = set(comment_lines(text))
            assert sum(c in kept for c in original) >= 0.98 * len(original)
            again = parse_scenario(parse_yaml(text, "Variant-1.yaml"))
            assert again.provision.homes[8].open_date.year == 2030
            assert again.run.replications == 3
            # The About page is axe-clean too.
            page.get_by_role("tab", name="About the method").click()
            page.get_by_role("heading", name="How to read the numbers").wait_for()
            assert not serious(axe_violations(page))
            page.get_by_role("tab", name="Compare strategies").click()
            # A change of scenario clears the results at once (a lever's too: tests/test_app.py).
            page.locator(".st-key-config_name").click()
            page.get_by_role("option", name="minimal.yaml").click()
            page.get_by_text(re.compile("The settings changed")).wait_for(timeout=30_000)
            assert gone(page.locator("[data-testid=stTable]"))
            assert gone(page.get_by_text(re.compile("minus Baseline")))
            page.locator(".st-key-config_name").click()
            page.get_by_role("option", name="coventry-2023.yaml").click()
            page.locator(f"{KEY}-v1-home-8-beds").wait_for(state="attached")
            # A long run runs in worker processes (not the server), and Cancel stops it.
            set_number(page, ".st-key-replications", "400")  # a progress update each ~2 s
            page.wait_for_timeout(1000)
            run_button.click()
            # The progress shows under Run, with Cancel, and where the results will be.
            sidebar = page.get_by_test_id("stSidebarUserContent")
            sidebar.get_by_text(re.compile(r"Simulating the baseline")).wait_for(timeout=60_000)
            # The two bars are separate elements, painted one after the other: wait for both.
            main = page.get_by_test_id("stMainBlockContainer")
            main.get_by_text(re.compile(r"Simulating the baseline")).wait_for(timeout=10_000)
            assert main.get_by_text(re.compile(r"Simulating the baseline")).count() == 1
            assert len(simulation_workers()) >= 2, [cmdline(p) for p in simulation_workers()]
            cancel = page.get_by_role("button", name="Cancel")
            box = cancel.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 768, box
            started = time.monotonic()
            cancel.click()
            page.get_by_text("The run was cancelled: nothing was kept.").wait_for(timeout=30_000)
            assert time.monotonic() - started < 15
            assert gone(page.get_by_text(re.compile("minus Baseline")))
            deadline = time.monotonic() + 10
            while simulation_workers() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not simulation_workers()
        finally:
            browser.close()
