"""Shared by the browser tests (the app's and the report's): headless Chromium and axe-core.

Debian's chromium (``/usr/bin/chromium``) is driven through Playwright's ``executable_path``,
since Playwright's own browser download needs a network. axe-core is the copy pinned in the dev
extra (``axe-playwright-python``'s ``axe.min.js``), injected into the page: nothing is fetched
at test time.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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
VIEWPORTS = ((1024, 768), (1366, 768), (1920, 1080))
# The impacts that fail a test; "moderate" and "minor" findings are reported, not failed.
FAILING_IMPACTS = ("serious", "critical")


def have_chromium() -> bool:
    return Path(CHROMIUM).exists()


def axe_script() -> str:
    """The pinned axe-core source."""
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(page: Any, context: Any = None) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A/AA violations on the page as it is now (``context``: a CSS selector
    or axe context object to limit the check to; default the whole document)."""
    page.evaluate(axe_script())
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
    result = page.evaluate("([ctx, opts]) => axe.run(ctx || document, opts)", [context, options])
    return list(result["violations"])


def serious(violations: list[dict[str, Any]]) -> list[str]:
    """One line per serious or critical violation: rule, impact and the first offending
    element (what a failing test prints)."""
    out = []
    for v in violations:
        if v.get("impact") in FAILING_IMPACTS:
            where = v["nodes"][0]["target"] if v["nodes"] else "?"
            out.append(f"{v['id']} ({v['impact']}): {v['help']} at {where}")
    return out
