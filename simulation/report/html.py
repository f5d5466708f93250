"""What every HTML report is made of: the page, numbers keyed to their source, tables, figures.

A number the summary quotes is rendered once, into :class:`Numbers`, under a key; the table
cell it comes from and the summary's sentence both print that same text with the same
``data-key`` attribute, so a reader (and a test) can match every summary number to its cell.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       max-width: 76rem; margin: 1rem auto; padding: 0 1rem; color: #1a1a1a;
       line-height: 1.4; }
p, #summary > ul { max-width: 64rem; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(28rem, 1fr));
        gap: 0 2rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(30rem, 1fr));
           gap: 0 1.5rem; align-items: start; }
h1 { font-size: 1.6rem; margin: 0 0 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 2px solid #0072B2; padding-bottom: 0.15rem;
     margin: 1.6rem 0 0.5rem; }
h3 { font-size: 1.0rem; margin: 0.8rem 0 0.3rem; }
p { margin: 0.4rem 0; }
.lede { color: #444; margin-top: 0; }
#summary ul { padding-left: 1.2rem; margin: 0.3rem 0; }
#summary li { margin: 0.25rem 0; }
#summary ul.homes { columns: 3 18rem; column-gap: 2rem; max-width: none; }
#summary ul.homes li { break-inside: avoid; margin: 0.1rem 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; margin: 0.4rem 0; }
caption { text-align: left; font-weight: 600; padding: 0.2rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.12rem 0.45rem; text-align: right; }
th { vertical-align: bottom; font-weight: 600; }
td:first-child { white-space: nowrap; }
.text-2 th:nth-child(2), .text-2 td:nth-child(2) { text-align: left; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f6fa; }
td:not(:first-child) { white-space: nowrap; }
figure { margin: 0.6rem 0; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #333; }
details summary { cursor: pointer; font-weight: 600; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem;
      border: 1px solid #e4e4e4; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; }
.note { font-size: 0.85rem; color: #444; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; }
               pre { white-space: pre-wrap; overflow-wrap: anywhere; overflow: visible; } }
"""


def esc(value: Any) -> str:
    """Text made safe for HTML (quotes too, for attributes)."""
    return html.escape(str(value), quote=True)


class Numbers:
    """Formatted numbers by key: each put once (where its table is built), quoted anywhere."""

    def __init__(self) -> None:
        self.text: dict[str, str] = {}

    def put(self, key: str, text: str, tag: str = "td") -> str:
        """Keep ``text`` under ``key``; returns the table cell (or ``tag``) that shows it."""
        self.text[key] = text
        return f"<{tag} data-key='{esc(key)}'>{esc(text)}</{tag}>"

    def span(self, key: str) -> str:
        """The number as a summary sentence quotes it (KeyError if no table holds it)."""
        return f"<span data-key='{esc(key)}'>{esc(self.text[key])}</span>"

    def __contains__(self, key: str) -> bool:
        return key in self.text


def td(text: Any) -> str:
    return f"<td>{esc(text)}</td>"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "", text_columns: int = 1
) -> str:
    """A table; each row is a sequence of ready ``<td>`` cells (see :func:`td`,
    :meth:`Numbers.put`). The first ``text_columns`` (1 or 2) are text, aligned left."""
    head = "".join(f"<th scope='col'>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    cls = " class='text-2'" if text_columns == 2 else ""
    return f"<table{cls}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """A figure as PNG bytes (closes the figure)."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


# Figures are drawn this wide at this resolution, so that in a column of the report at 1366 px
# they show at about their own size and their smallest text (plots.SMALL_PT) reads at ~9 pt.
FIG_WIDTH_IN = 5.8
FIG_DPI = 100


def fit(fig: Figure, height_scale: float = 0.66, min_height_in: float = 2.3) -> Figure:
    """A figure drawn at the report's column width (:func:`simulation.plots.drawn_at`) made
    shorter, to keep the page short (long bars such as the openings' keep their height)."""
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, max(min_height_in, height * height_scale))
    fig.tight_layout()
    return fig


def figure(stem: str, title: str, fig: Figure, alt: str, caption: str, shorten: bool = True) -> str:
    """A figure with its title, the finding as alt text and the caption as text
    (``shorten``: made shorter to keep the page short, see :func:`fit`)."""
    png = png_bytes(fit(fig) if shorten else fig, dpi=FIG_DPI)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f"<figure id='fig-{esc(stem)}'><h3>{esc(title)}</h3>"
        f"<img alt='{esc(alt)}' src='{uri}'><figcaption>{esc(alt)} {esc(caption)}"
        "</figcaption></figure>"
    )


def section(sid: str, title: str, body: str) -> str:
    return f"<section id='{esc(sid)}'><h2>{esc(title)}</h2>{body}</section>"


def appendix(what: str, text: str) -> str:
    """Long text (a config, a spec) collapsed behind its summary line."""
    lines = text.count("\n")
    return (
        f"<details><summary>{esc(what)} ({lines} lines)</summary>"
        f"<pre tabindex='0'>{esc(text)}</pre></details>"
    )


def provenance(items: Iterable[tuple[str, Any]], reproduce: str) -> str:
    """How a report came about: a definition list of ``items``, then ``reproduce`` (ready
    HTML: the command that gives every number again)."""
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f"<dl>{dl}</dl><p>{reproduce}</p>"


def page(title: str, heading: str, lede: str, sections: Iterable[str]) -> str:
    """The whole document: no scripts, fonts or stylesheets from anywhere else."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(heading)}</h1><p class='lede'>{lede}</p></header>"
        f"<main>{''.join(sections)}</main>"
        "<footer class='note'><p>Made with sufficiency, a discrete-event simulation of children's "
        "residential care. Figures are distributions across simulated futures, not forecasts of "
        "one future.</p></footer></body></html>\n"
    )
