"""Tables as text: rich for people at a terminal, markdown for documents, csv and json
(raw values, stable column names) for other tools."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import sys
from dataclasses import dataclass


@dataclass
class TextTable:
    title: str
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def points(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f}"


def number(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"


def spread(mean: float | None, std: float | None, show) -> str:
    """mean ± sample std, each in `show`'s format (None: "-"); the std is left out for a single run."""
    return show(mean) if std is None else f"{show(mean)} ± {show(std).lstrip('+')}"


def rich_text(tables: list[TextTable]) -> str:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # A terminal gets its width; piped output (a file, a test, CI logs) the width a wide
    # sweep table needs instead of rich's 80 columns, which would wrap every cell.
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 400
    console = Console(width=width, record=True, file=io.StringIO(), highlight=False)
    for t in tables:
        table = Table(*map(escape, t.headers), title=escape(t.title),
                      caption=escape(t.caption) or None, box=box.SIMPLE_HEAD,
                      title_justify="left", caption_justify="left",
                      show_header=any(t.headers))
        for row in t.rows:  # cells are data, not markup: "[fog@4]" must print as it is
            table.add_row(*map(escape, row))
        console.print(table)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown(tables: list[TextTable]) -> str:
    out = []
    for t in tables:
        out += [f"### {t.title}", "", _md_row(t.headers), "|" + "---|" * len(t.headers)]
        out += map(_md_row, t.rows)
        out += ["", t.caption, ""] if t.caption else [""]
    return "\n".join(out)


def _plain(value):
    return value.isoformat() if isinstance(value, dt.datetime) else value


def csv_text(rows: list[dict], columns) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: "" if row.get(c) is None else _plain(row[c]) for c in columns}
                     for row in rows)
    return buffer.getvalue()


def json_text(rows: list[dict], columns) -> str:
    return json.dumps([{c: _plain(row.get(c)) for c in columns} for row in rows], indent=1) + "\n"
