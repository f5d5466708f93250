"""The HTML reports in a real browser (headless Chromium at 1366x768): the summary comes first
and the story before the appendix fits in five screens; axe-core finds no serious or critical
accessibility issue; headings go in order; every image says what it shows; figure text reads
at 9 pt or more as displayed. Skipped when Chromium or Playwright is missing, like
tests/test_app_browser.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, LAUNCH_ARGS, axe_violations, have_chromium, serious

from simulation import load_scenario, run
from simulation.cli import main
from simulation.plots import SMALL_PT
from simulation.report import from_result, write_report
from simulation.report.html import FIG_DPI

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not have_chromium(), reason="no chromium installed")

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1366, 768
SCREENS = 5
MIN_TEXT_PX = 12.0  # 9 pt at 96 CSS px to the inch


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def run_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run(load_scenario(ROOT / "configs" / "coventry-2023.yaml"), replications=3, workers=1)
    return write_report(from_result(result), tmp_path_factory.mktemp("r") / "report.html")


def open_page(browser: Any, path: Path) -> Any:
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(path.as_uri())
    return page


def heading_levels(page: Any) -> list[int]:
    return [
        int(tag[1])
        for tag in page.eval_on_selector_all(
            "h1, h2, h3, h4, h5, h6", "hs => hs.map(h => h.tagName)"
        )
    ]


def test_run_report_tells_the_story_first(browser: Any, run_report: Path) -> None:
    page = open_page(browser, run_report)
    try:
        first = page.eval_on_selector("main section", "s => s.id")
        assert first == "summary"
        appendix_top = page.eval_on_selector(
            "#appendix", "e => e.getBoundingClientRect().top + window.scrollY"
        )
        assert appendix_top < SCREENS * HEIGHT, f"{appendix_top:.0f} px before the appendix"
        # The config is collapsed: its text takes no room until opened.
        assert page.eval_on_selector("#appendix details", "d => d.open") is False
        levels = heading_levels(page)
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
        images = page.eval_on_selector_all(
            "img",
            "is => is.map(i => [i.alt, i.naturalWidth, i.getBoundingClientRect().width])",
        )
        assert len(images) == 5
        for alt, natural, shown in images:
            assert alt.strip() and any(ch.isdigit() for ch in alt), alt  # a finding, in words
            # The smallest figure text, as displayed, in CSS px.
            assert SMALL_PT * FIG_DPI / 72 * shown / natural >= MIN_TEXT_PX, (alt, shown, natural)
        problems = serious(axe_violations(page))
        assert not problems, problems
    finally:
        page.close()


def test_experiment_report_is_accessible(browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "experiment.html"
    spec = ROOT / "experiments" / "coventry-2023-strategy.yaml"
    assert main(["report", str(spec), "-n", "2", "-w", "1", "-o", str(out)]) == 0
    page = open_page(browser, out)
    try:
        assert page.eval_on_selector("main section", "s => s.id") == "summary"
        levels = heading_levels(page)
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
        images = page.eval_on_selector_all(
            "img",
            "is => is.map(i => [i.alt, i.naturalWidth, i.getBoundingClientRect().width])",
        )
        assert images
        for alt, natural, shown in images:
            assert alt.strip().startswith("Total cost against"), alt
            assert SMALL_PT * FIG_DPI / 72 * shown / natural >= MIN_TEXT_PX, (alt, shown, natural)
        problems = serious(axe_violations(page))
        assert not problems, problems
    finally:
        page.close()
