"""One self-contained HTML page: the report's tables and figures (PNG inlined as base64),
so it can be mailed or attached to a ticket as a single file."""

from __future__ import annotations

import base64
import datetime as dt
from html import escape

from lib.report.render import TextTable

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 0.5em; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; }
p.caption { font-size: 12px; color: #555; max-width: 70em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
"""


def _table(t: TextTable) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in t.rows)
    caption = f'<p class="caption">{escape(t.caption)}</p>' if t.caption else ""
    return f"<h3>{escape(t.title)}</h3><table><tr>{head}</tr>{body}</table>{caption}"


def page(title: str, sources: list[str], tables: list[TextTable],
         figures: dict[str, dict[str, bytes]]) -> str:
    """`figures`: run name -> {figure name: PNG bytes}."""
    parts = [f"<h1>{escape(title)}</h1>",
             f"<p>{escape(', '.join(sources))}; written "
             f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC</p>"]
    parts += [_table(t) for t in tables]
    for run, pngs in figures.items():
        parts.append(f"<h2>{escape(run)}</h2>")
        parts += [f'<img alt="{escape(run)} {escape(name)}" '
                  f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                  for name, data in pngs.items()]
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
