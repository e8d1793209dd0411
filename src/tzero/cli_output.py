"""How the CLI's tables reach stdout: a Rich table, CSV or JSON (``tzero --format``).

Every command prints its tables through one console, :data:`tzero.cli.out`, an
:class:`OutputConsole`. With ``--format table`` (the default) a table is drawn
by Rich — at least :data:`PIPED_WIDTH` columns wide when stdout is not a
terminal, so a piped table is not squeezed to 80 columns and wrapped mid-word.
With ``--format csv`` each table is written as CSV (a ``# title`` line, the
header, one line per row) and with ``--format json`` as one JSON object per
table (``{"title": …, "rows": [{column: cell}, …]}``); cells are the text the
table shows, markup removed. ``--format json`` also turns on every command's own
``--json`` (typed values, not display text), see :func:`tzero.cli.build_command`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "csv", "json")
"""Values of ``tzero --format`` / ``TZERO_FORMAT``."""

PIPED_WIDTH = 200
"""Columns a Rich table may use when stdout is a pipe or file (no terminal width)."""


def _cell(renderable) -> str:
    """The plain text of one table cell (markup and styles dropped)."""
    if isinstance(renderable, Text):
        return renderable.plain
    if isinstance(renderable, str):
        return Text.from_markup(renderable).plain
    return str(renderable)


def table_records(table: Table) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a Rich table as plain strings, in display order.

    Returns:
        The column headers and one list of cell strings per row.
    """
    header = [_cell(c.header) for c in table.columns]
    cols = [[_cell(v) for v in c._cells] for c in table.columns]
    return header, [list(r) for r in zip(*cols, strict=True)] if cols else []


class OutputConsole(Console):
    """A Rich console that writes tables as CSV or JSON when the format says so.

    Args:
        fmt: one of :data:`FORMATS`; changed later with :meth:`set_format`.

    Anything that is not a table (a line of text) prints as usual in every
    format, so a command's notes stay readable; CSV/JSON consumers read the
    table lines.
    """

    def __init__(self, fmt: str = "table", **kw) -> None:
        if not sys.stdout.isatty() and "COLUMNS" not in os.environ and "width" not in kw:
            kw["width"] = PIPED_WIDTH
        super().__init__(**kw)
        self.fmt = fmt

    def set_format(self, fmt: str) -> None:
        """Switch the output format.

        Raises:
            ValueError: ``fmt`` is not one of :data:`FORMATS` (names the option).
        """
        if fmt not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.fmt = fmt

    def print(self, *objects, **kw) -> None:
        """Print like Rich, except that tables follow :attr:`fmt`."""
        if self.fmt == "table" or not any(isinstance(o, Table) for o in objects):
            super().print(*objects, **kw)
            return
        for o in objects:
            if not isinstance(o, Table):
                super().print(o, **kw)
                continue
            header, rows = table_records(o)
            title = _cell(o.title) if o.title else ""
            if self.fmt == "csv":
                buf = io.StringIO()
                if title:
                    buf.write(f"# {title}\n")
                w = csv.writer(buf, lineterminator="\n")
                w.writerow(header)
                w.writerows(rows)
                sys.stdout.write(buf.getvalue())
            else:
                sys.stdout.write(json.dumps({"title": title, "rows": [dict(zip(header, r, strict=True))
                                                                     for r in rows]},
                                            ensure_ascii=False) + "\n")
        sys.stdout.flush()
