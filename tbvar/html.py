"""Self-contained HTML pages: inline CSS, figures as inline SVG, tables; no external requests.

Pages written by ``tbvar explain`` and ``tbvar report`` open from a file with no network: every
style and picture is inside the page, and there is no script beyond an optional inline one
(sorting a table). Text is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1, h2, h3 { font-weight: 600; } h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f2f2f2; cursor: pointer; } td.num { text-align: right; font-family: monospace; }
.figure { margin: 1em 0; } .figure svg { max-width: 100%; height: auto; }
.note { color: #555; font-size: 0.9em; } code { background: #f4f4f4; padding: 0 3px; }
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.from(body.rows), up = th.dataset.order !== "asc";
    th.dataset.order = up ? "asc" : "desc";
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value ?? a.cells[column].textContent;
      var y = b.cells[column].dataset.value ?? b.cells[column].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def page(title: str, sections: Iterable[str], sortable: bool = False) -> str:
    """A complete HTML document with the inline style (and the table-sorting script)."""
    script = f"<script>{SORT_SCRIPT}</script>" if sortable else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>"
            f"<h1>{escape(title)}</h1>\n" + "\n".join(sections) + f"\n{script}</body></html>\n")


def svg_markup(figure: Any) -> str:
    """A matplotlib figure as standalone ``<svg>`` markup (no XML prolog, DOCTYPE or RDF
    metadata; also a valid ``.svg`` file)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE
    return re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)  # RDF creator notes


def svg_block(svg: str, caption: str = "") -> str:
    """``<svg>`` markup in a captioned ``<div>``."""
    text = f'<p class="note">{escape(caption)}</p>' if caption else ""
    return f'<div class="figure">{svg}{text}</div>'


def figure_svg(figure: Any, caption: str = "") -> str:
    """A matplotlib figure as an inline ``<svg>`` in a captioned ``<div>`` (figure closed)."""
    import matplotlib.pyplot as plt

    svg = svg_markup(figure)
    plt.close(figure)
    return svg_block(svg, caption)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], sortable: bool = False,
          numeric: Sequence[bool] | None = None, table_id: str | None = None) -> str:
    """An HTML table; cells are escaped, numeric columns right-aligned (and sortable by value);
    ``table_id`` names it (``id`` attribute) for links and tests."""
    numeric = numeric or [False] * len(columns)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num" data-value="{escape(str(v))}">{escape(_text(v))}</td>'
                        if num else f"<td>{escape(_text(v))}</td>"
                        for v, num in zip(row, numeric, strict=True))
        body.append(f"<tr>{cells}</tr>")
    kind = ' class="sortable"' if sortable else ""
    kind += f' id="{escape(table_id)}"' if table_id else ""
    return (f"<table{kind}><thead><tr>{head}</tr></thead><tbody>" + "".join(body)
            + "</tbody></table>")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return "NA" if value != value else f"{value:.4g}"
    return str(value)


def paragraph(text: str, note: bool = False) -> str:
    """An escaped ``<p>`` (in the smaller grey ``note`` style if ``note``)."""
    kind = ' class="note"' if note else ""
    return f"<p{kind}>{escape(text)}</p>"


def section(heading: str, *parts: str, level: int = 2) -> str:
    """A section headed ``<h{level}>`` (default ``<h2>``) with its (already HTML) parts."""
    return (f"<section><h{level}>{escape(heading)}</h{level}>" + "".join(parts)
            + "</section>")
