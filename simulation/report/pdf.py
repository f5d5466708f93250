"""A report printed to PDF, by WeasyPrint or a headless Chromium, whichever is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from simulation.atomic import atomic_file


class PdfEngineMissing(RuntimeError):
    """No program that turns HTML into PDF is installed."""


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_pdf_engine() -> tuple[str, str] | None:
    """The first available HTML-to-PDF engine as (kind, locator), or None."""
    try:
        import weasyprint  # noqa: F401

        return ("weasyprint", "weasyprint")
    except Exception:  # not installed, or its system libraries are missing
        pass
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return ("chromium", exe)
    return None


_DETAILS = re.compile(r"<details(?=[\s>])(?![^>]*\bopen\b)")


def printable_html(text: str) -> str:
    """The report as it should print: every collapsed section (the appendix) open, since a
    reader of the PDF cannot click to expand it."""
    return _DETAILS.sub("<details open", text)


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, timeout_s: float = 120.0) -> str:
    """Print the HTML report to PDF; returns the engine used.

    Raises
    ------
    PdfEngineMissing
        If neither WeasyPrint nor a Chromium/Chrome executable is available.
    RuntimeError
        If the engine fails.
    """
    engine = find_pdf_engine()
    if engine is None:
        raise PdfEngineMissing(
            "no PDF engine found (install WeasyPrint with 'pip install weasyprint', or Chromium); "
            "open the HTML report in a browser and print it to PDF instead"
        )
    out = Path(pdf_path)
    with (
        atomic_file(out, suffix=".pdf") as tmp,
        tempfile.TemporaryDirectory() as work,
    ):
        # The report is self-contained, so its printable copy can live anywhere.
        src = Path(work) / "report.html"
        src.write_text(printable_html(Path(html_path).read_text(encoding="utf-8")), "utf-8")
        if engine[0] == "weasyprint":
            import weasyprint

            weasyprint.HTML(filename=str(src)).write_pdf(tmp)
        else:
            with tempfile.TemporaryDirectory() as profile:
                proc = subprocess.run(
                    [
                        engine[1],
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        f"--user-data-dir={profile}",
                        "--no-pdf-header-footer",
                        f"--print-to-pdf={tmp}",
                        src.as_uri(),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                )
            if proc.returncode != 0 or tmp.stat().st_size == 0:
                raise RuntimeError(f"{engine[1]} could not print the PDF: {proc.stderr[-300:]}")
    return engine[0]
