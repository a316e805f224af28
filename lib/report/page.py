"""One self-contained HTML page: the report's tables and figures (PNG inlined as base64),
so it can be mailed or attached to a ticket as a single file."""

from __future__ import annotations

import base64
import datetime as dt
import re
from html import escape

from lib.report.render import TextTable

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 0.5em; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #fafafa; }
p.caption { font-size: 12px; color: #555; max-width: 70em; }
section { border-top: 2px solid #eee; margin-top: 2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 12px; color: #555; }
a.top { font-size: 12px; margin-left: 1em; font-weight: normal; }
"""

# A cell that reads as a number (58.0, +13.8, 1.62 > 1.46, 10/10, 2m41s, 1,800): right-aligned
# so a column's digits line up.
_NUMERIC = re.compile(r"[-+]?\d[\d.,]*(?:%|s|m\d+s|/\d+| \(e\d+\)| [>±] [-+]?[\d.]+.*)?")


def anchor(run: str) -> str:
    return "run-" + re.sub(r"[^A-Za-z0-9_.-]", "_", run)


def _cell(text: str, runs: set[str]) -> str:
    if text in runs:  # a run with figures below: link to them
        return f'<td><a href="#{anchor(text)}">{escape(text)}</a></td>'
    kind = ' class="num"' if _NUMERIC.fullmatch(text) else ""
    return f"<td{kind}>{escape(text)}</td>"


def _table(t: TextTable, runs: set[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    body = "".join("<tr>" + "".join(_cell(c, runs) for c in row) + "</tr>" for row in t.rows)
    caption = f'<p class="caption">{escape(t.caption)}</p>' if t.caption else ""
    return f"<h3>{escape(t.title)}</h3><table><tr>{head}</tr>{body}</table>{caption}"


def page(title: str, sources: list[str], tables: list[TextTable],
         figures: dict[str, dict[str, bytes]]) -> str:
    """`figures`: run name -> {figure name: PNG bytes}; each run a section the tables link to."""
    parts = [f'<h1 id="top">{escape(title)}</h1>',
             f"<p>{escape(', '.join(sources))}; written "
             f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC</p>"]
    parts += [_table(t, set(figures)) for t in tables]
    for run, pngs in figures.items():
        parts.append(f'<section id="{anchor(run)}"><h2>{escape(run)}'
                     f'<a class="top" href="#top">back to the table</a></h2>')
        parts += [f'<figure><img alt="{escape(run)} {escape(name)}" '
                  f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                  f"<figcaption>{escape(name)}</figcaption></figure>"
                  for name, data in pngs.items()]
        parts.append("</section>")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
