"""Self-contained HTML reports, to open offline or attach to an email: of one run
(:mod:`simulation.report.run`) and of an experiment of N strategies
(:mod:`simulation.report.experiment`). Each tells what it found in plain English first, then
gives the evidence (tables, figures), then the full configuration in an appendix and how to
reproduce it. Nothing is fetched from a network when a report opens.
"""

from simulation.report.html import png_bytes
from simulation.report.pdf import PdfEngineMissing, find_pdf_engine, html_to_pdf
from simulation.report.run import (
    SECTIONS,
    RunData,
    _observed_section,
    from_result,
    load_results,
    render_html,
    write_report,
)

__all__ = [
    "SECTIONS",
    "PdfEngineMissing",
    "RunData",
    "_observed_section",
    "find_pdf_engine",
    "from_result",
    "html_to_pdf",
    "load_results",
    "png_bytes",
    "render_html",
    "write_report",
]
