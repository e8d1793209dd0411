"""Tables on stdout follow `tzero --format table|csv|json`, and a piped table is not squeezed."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.table import Table

from tzero.cli_output import OutputConsole, table_records
from tzero.models import table as model_table


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TZERO_FORMAT")}
    e.update(TZERO_HOME=str(home), NO_COLOR="1", **env)
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=e,
                          capture_output=True, text=True, timeout=120)


def test_table_records_are_the_plain_cells() -> None:
    t = Table(title="t")
    t.add_column("a")
    t.add_column("[bold]b[/bold]")
    t.add_row("[red]1.00%[/red]", "x, y")
    assert table_records(t) == (["a", "b"], [["1.00%", "x, y"]])


def test_console_writes_csv_and_json(capsys) -> None:
    t = Table(title="demo")
    for c in ("ts_code", "E(r)"):
        t.add_column(c)
    t.add_row("600519.SH", "+0.12%")
    con = OutputConsole()
    con.set_format("csv")
    con.print(t)
    assert capsys.readouterr().out == "# demo\nts_code,E(r)\n600519.SH,+0.12%\n"
    con.set_format("json")
    con.print(t)
    assert json.loads(capsys.readouterr().out) == {"title": "demo", "rows": [{"ts_code": "600519.SH",
                                                                               "E(r)": "+0.12%"}]}


def test_format_csv_and_json_from_the_command_line(tmp_path: Path) -> None:
    names = [s.name for s in model_table.specs()]
    r = run(tmp_path, "--format", "csv", "models")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# models")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    assert [x["name"] for x in rows] == names
    r = run(tmp_path, "models", TZERO_FORMAT="csv")            # the environment variable
    assert r.returncode == 0 and r.stdout.startswith("# models")
    r = run(tmp_path, "--format", "json", "models")            # turns on the command's --json
    assert r.returncode == 0 and [x["name"] for x in json.loads(r.stdout)] == names
    r = run(tmp_path, "--format", "xml", "models")
    assert r.returncode == 2 and "--format must be one of table, csv, json" in r.stderr


def test_piped_table_is_not_wrapped_to_80_columns(tmp_path: Path) -> None:
    r = run(tmp_path, "models")
    assert r.returncode == 0, r.stderr
    first = model_table.specs()[0]
    assert any(first.description in line for line in r.stdout.splitlines())
