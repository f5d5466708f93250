"""Regenerate the images in docs/: two report figures, a screenshot of the what-if app and one
of the top of a run report.

    make images                         # or: python docs/make_images.py [--figures-only]

The screenshot needs Chromium (/usr/bin/chromium) and Playwright (the dev extra). The figures
come from Coventry 2023 with the config's replications and seed; the screenshot is of the app
at 1366x768 comparing three strategies of Coventry 2023 (the plan, EBD home 2 opening in 2030,
a 14-bed block contract), 50 replications each; the report's is of the top of Coventry 2023's
run report at 1366x768.
tests/test_make_images.py runs the figures part, so the script cannot rot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from simulation import load_scenario, plots, run

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PORT = 8599


def figures(out: Path = DOCS, replications: int | None = None) -> list[Path]:
    """The occupancy fans and the cost by year of Coventry 2023, as PNG files in ``out``."""
    scenario = load_scenario(ROOT / "configs" / "coventry-2023.yaml")
    result = run(scenario, replications=replications, workers=0)
    return [
        plots.save_figure(
            plots.occupancy_fan(result.weekly, result.units), out / "fan-occupancy.png", dpi=110
        ),
        plots.save_figure(plots.cost_by_year(result.finance), out / "cost-by-year.png", dpi=110),
    ]


def screenshot() -> None:
    """The app at 1366x768 comparing three strategies of Coventry 2023 (50 replications each):
    the baseline, EBD home 2 opening in April 2030 instead of April 2026, and the in-city block
    contract at 14 beds instead of 11; scrolled to the comparison."""
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen(
        [sys.executable, "-m", "simulation.cli", "app", "--no-browser", "--port", str(PORT)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{PORT}"
    key = ".st-key-shipped-coventry-2023-yaml"

    def name_variant(page: Any, vid: int, name: str) -> None:
        box = page.locator(f".st-key-variant-{vid}-name input")
        box.fill(name)
        box.press("Enter")
        page.get_by_role("tab", name=name).wait_for(timeout=30_000)

    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"],
            )
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(url)
            button = page.get_by_role("button", name="Run all strategies")
            button.wait_for(timeout=60_000)
            page.locator(f"{key}-v1-home-8-open [data-type=year]").click()
            page.keyboard.type("2030")
            page.get_by_role("heading", name="sufficiency: what if?").click()
            page.get_by_text("EBD home 2: opens 1 Apr 2030").wait_for(timeout=30_000)
            name_variant(page, 1, "EBD home 2 in 2030")
            page.get_by_role("button", name="Add a variant").click()
            page.get_by_role("tab", name="Variant 2").click()
            name_variant(page, 2, "Block of 14 beds")
            page.get_by_role("tab", name="Block of 14 beds").click()
            page.get_by_text("Block contracts: beds").nth(1).click()
            beds = page.locator(f"{key}-v2-block-0-beds input")
            beds.fill("14")
            beds.press("Enter")
            page.get_by_text("14 beds (was 11)").wait_for(timeout=30_000)
            button.click()
            page.get_by_role("button", name="All result files (zip)").wait_for(timeout=300_000)
            page.wait_for_timeout(1500)
            page.get_by_role("heading", name="Every strategy against the baseline").evaluate(
                "e => e.scrollIntoView()"
            )
            page.wait_for_timeout(500)
            page.screenshot(path=str(DOCS / "app.png"))
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def report_screenshot(out: Path = DOCS / "report.png", replications: int | None = None) -> Path:
    """The top of Coventry 2023's run report at 1366x768 (the config's replications and seed),
    as the reader first sees it: the summary."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from simulation.report import from_result, write_report

    scenario = load_scenario(ROOT / "configs" / "coventry-2023.yaml")
    result = run(scenario, replications=replications, workers=0)
    with tempfile.TemporaryDirectory() as tmp:
        page_path = write_report(from_result(result), Path(tmp) / "report.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"],
            )
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(page_path.as_uri())
            page.screenshot(path=str(out))
            browser.close()
    return out


if __name__ == "__main__":
    figures()
    if "--figures-only" not in sys.argv[1:]:
        screenshot()
        report_screenshot()
