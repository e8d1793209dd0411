"""The `tzero` CLI run as a subprocess (`python -m tzero.cli`): exit codes, messages, outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def tzero(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TZERO_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def one_line(text: str) -> str:
    """stderr with rich's wrapping undone, so long paths match."""
    return " ".join(text.split())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_python_dash_m_runs(home: Path) -> None:
    r = tzero(home, "--help")
    assert r.returncode == 0, r.stderr
    assert "ingest" in r.stdout and "kline" in r.stdout


def test_kline_unknown_symbol_exits_2_with_accepted_forms(home: Path) -> None:
    r = tzero(home, "kline", "UNKNOWN")
    assert r.returncode == 2
    err = one_line(r.stderr)
    assert "'UNKNOWN'" in err and "600519.SH" in err and "sh600519" in err
    assert "Traceback" not in r.stderr


def test_ingest_table_empty_file_fails(home: Path, tmp_path: Path) -> None:
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    r = tzero(home, "ingest", "table", str(p), "--kind", "daily")
    assert r.returncode != 0
    assert "empty.csv" in one_line(r.stderr) and "empty" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (home / "market" / "manifest.json").exists()


@pytest.mark.data
def test_ingest_tdx_bad_day_fails_and_writes_nothing(make_tdx, home: Path) -> None:
    root = make_tdx(lc1=False)
    bad = root / "vipdoc" / "sz" / "lday" / "sz000002.day"
    bad.write_bytes(b"\0" * 100)
    r = tzero(home, "ingest", "tdx", str(root))
    assert r.returncode != 0
    err = one_line(r.stderr)
    assert "sz000002.day" in err and "not a multiple of 32" in err
    assert "Traceback" not in r.stderr
    assert not (home / "market" / "manifest.json").exists()
    # with a store already present, the failed ingest leaves its manifest unchanged
    bad.unlink()
    assert tzero(home, "ingest", "tdx", str(root), "--json").returncode == 0
    manifest = (home / "market" / "manifest.json").read_bytes()
    bad.write_bytes(b"\0" * 100)
    r = tzero(home, "ingest", "tdx", str(root))
    assert r.returncode != 0 and "sz000002.day" in one_line(r.stderr)
    assert (home / "market" / "manifest.json").read_bytes() == manifest


@pytest.mark.data
def test_ingest_kline_and_check_end_to_end(make_tdx, adj_slice_file: Path, home: Path) -> None:
    root = make_tdx()
    r = tzero(home, "ingest", "tdx", str(root), "--json")
    assert r.returncode == 0, r.stderr
    summ = json.loads(r.stdout)
    assert summ["datasets"]["bars_1d"]["rows_written"] == 3 * 58144 // 32
    assert summ["datasets"]["bars_1m"]["rows_written"] == 2880

    r = tzero(home, "kline", "600519", "--start", "2023-02-20", "--end", "2023-02-24")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "ts_code,trade_time,open,high,low,close,volume,amount"
    assert len(lines) == 1 + 5
    assert lines[-1].startswith("600519.SH,2023-02-24,")

    r = tzero(home, "kline", "sh688001", "--freq", "60m", "--start", "2021-06-03", "--end", "2021-06-03")
    assert r.returncode == 0, r.stderr
    stamps = [ln.split(",")[1] for ln in r.stdout.splitlines()[1:]]
    assert [s[-8:-3] for s in stamps] == ["10:30", "11:30", "14:00", "15:00"]

    r = tzero(home, "kline", "600519", "--start", "1800-01-01")
    assert r.returncode != 0
    assert "1800-01-01" in one_line(r.stderr) and "Traceback" not in r.stderr

    r = tzero(home, "ingest", "table", str(adj_slice_file), "--kind", "adj_factor", "--json")
    assert r.returncode == 0, r.stderr
    r = tzero(home, "check", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    falls = [(f["ts_code"], f["trade_time"]) for f in rep["findings"]["adj_factor_falls"]]
    assert ("000001.SZ", "2020-12-31") in falls
    assert rep["symbols"] == 3


def test_database_error_mid_command_is_one_line_exit_2(home: Path) -> None:
    import sqlite3

    assert tzero(home, "versions", "--json").returncode == 0          # creates and migrates
    with sqlite3.connect(home / "tzero.db") as c:                      # the store breaks under us
        c.execute("DROP TABLE lstm_model_version")
    r = tzero(home, "versions", "--json")
    assert r.returncode == 2, r.stderr
    err = one_line(r.stderr)
    assert "app store failed mid-command" in err and "lstm_model_version" in err
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (("compare", "--models", "no_such_model"), "no_such_model"),
    (("compare", "--models", "intraday_lstm"), "intraday"),
    (("compare", "--refit", "weekly", "--models", "arima"), "refit"),
])
def test_compare_usage_errors_exit_2_in_one_line(home: Path, args, needle: str) -> None:
    r = tzero(home, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in one_line(r.stderr) and "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "code", "needle"), [
    (("kline",), 2, "Missing argument 'ts_code'"),
    (("kline", "600519", "--frq", "5m"), 2, "--freq"),       # the close match is suggested
    (("frobnicate",), 2, "No such command 'frobnicate'"),
    ((), 0, None),                                             # bare `tzero`: the help
])
def test_usage_errors_are_one_line_without_traceback(home: Path, args, code: int,
                                                     needle: str | None) -> None:
    r = tzero(home, *args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    if needle is None:
        assert "Usage" in r.stdout and r.stderr == ""
    else:
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_check_strict_exits_non_zero_when_it_finds_problems(home: Path, make_tdx,
                                                           adj_slice_file: Path) -> None:
    """`tzero check --strict` exits 1 on findings (the code of `typer.Exit(1)`, which main()
    used to drop), 0 on a clean store; without --strict it reports and exits 0."""
    r = tzero(home, "ingest", "tdx", str(make_tdx(lc1=False)))
    assert r.returncode == 0, r.stderr
    clean = tzero(home, "check", "--strict", "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["counts"] == {}, clean.stdout
    # the real source defect: 000001.SZ's factor falls on 2020-12-31 (shared data README)
    r = tzero(home, "ingest", "table", str(adj_slice_file), "--kind", "adj_factor")
    assert r.returncode == 0, r.stderr
    loose = tzero(home, "check", "--json")
    assert loose.returncode == 0 and json.loads(loose.stdout)["counts"], loose.stdout
    strict = tzero(home, "check", "--strict", "--json")
    assert strict.returncode == 1, strict.stderr


def test_symbol_lists_take_every_form_users_type() -> None:
    from tzero.cli import expand_list_options

    want = ["check", "--symbols", "600519.SH", "--symbols", "000001.SZ", "--json"]
    assert expand_list_options(["check", "--symbols", "600519.SH", "000001.SZ", "--json"]) == want
    assert expand_list_options(want) == want                        # repeated: unchanged
    comma = ["check", "--symbols", "600519.SH,000001.SZ", "--json"]
    assert expand_list_options(comma) == comma                      # commas: split later
    # a token that is not a symbol (a date, an option) ends the list
    got = expand_list_options(["evaluate", "--symbols", "sh600519", "sz000001", "2023-01-03"])
    assert got == ["evaluate", "--symbols", "sh600519", "--symbols", "sz000001", "2023-01-03"]


def test_check_accepts_space_separated_symbols(home: Path, make_tdx) -> None:
    r = tzero(home, "ingest", "tdx", str(make_tdx(lc1=False)))
    assert r.returncode == 0, r.stderr
    for form in (("600519.SH", "000001.SZ"), ("600519.SH,000001.SZ",),
                 ("600519.SH", "--symbols", "000001.SZ")):
        r = tzero(home, "check", "--symbols", *form, "--json")
        assert r.returncode == 0, (form, r.stderr)
        assert json.loads(r.stdout)["symbols"] == 2, form


@pytest.mark.parametrize(("url", "needle"), [
    ("not-a-url:foo", "is not a database URL"),
    ("oracle://u:secret@h/db", "backend 'oracle' is not supported"),
    ("mysql+mysqldb://u:secret@127.0.0.1/db", "driver is not installed"),
])
def test_bad_db_url_is_one_line_exit_2(home: Path, url: str, needle: str) -> None:
    """A bad TZERO_DB_URL names the variable and the accepted forms, hides the password."""
    env = {**os.environ, "TZERO_HOME": str(home), "TZERO_DB_URL": url, "NO_COLOR": "1"}
    r = subprocess.run([sys.executable, "-m", "tzero.cli", "versions"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr and "TZERO_DB_URL" in r.stderr and "secret" not in r.stderr
    assert "postgresql+psycopg://" in r.stderr


def test_error_lines_are_not_wrapped_at_80_columns(home: Path) -> None:
    """Errors go to stderr as one plain line whatever COLUMNS says (no Rich wrapping)."""
    env = {**os.environ, "TZERO_HOME": str(home), "COLUMNS": "40", "TZERO_DB_URL": "not-a-url:x" * 10}
    r = subprocess.run([sys.executable, "-m", "tzero.cli", "versions"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error: TZERO_DB_URL") and "\x1b[" not in r.stderr


@pytest.mark.data
def test_kline_that_matches_nothing_says_so(home: Path, make_tdx) -> None:
    r = tzero(home, "ingest", "tdx", str(make_tdx(lc1=False)))
    assert r.returncode == 0, r.stderr
    for sym, shown in (("999999.SH", "999999.SH"), ("600591", "600591.SH")):   # not in the store
        r = tzero(home, "kline", sym)
        assert r.returncode == 2, (sym, r.stdout, r.stderr)
        assert shown in r.stderr and "no 1d bars of" in r.stderr and r.stdout == ""
    # a known symbol, a range without sessions (a weekend): exit 2 unless --allow-empty
    args = ("kline", "600519.SH", "--start", "2023-02-18", "--end", "2023-02-19")
    r = tzero(home, *args)
    assert r.returncode == 2 and "no 1d bars for 600519.SH between 2023-02-18 and 2023-02-19" in r.stderr
    r = tzero(home, *args, "--allow-empty")
    assert r.returncode == 0 and r.stdout.splitlines() == ["ts_code,trade_time,open,high,low,close,volume,amount"]
    r = tzero(home, *args, "--allow-empty", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    # the documented rule for a bare 000xxx: the Shenzhen stock, with a note on stderr
    r = tzero(home, "kline", "000001", "--start", "2023-02-20", "--end", "2023-02-24")
    assert r.returncode == 0 and r.stdout.splitlines()[1].startswith("000001.SZ,")
    assert "000001.SH for the SSE index" in r.stderr


@pytest.mark.data
def test_monitor_prints_a_table_as_of_the_last_stored_session(home: Path, make_tdx) -> None:
    """`tzero monitor` is a table (not a Python dict) or JSON, as of the store's last session."""
    r = tzero(home, "ingest", "tdx", str(make_tdx(lc1=False)))
    assert r.returncode == 0, r.stderr
    r = tzero(home, "monitor")
    assert r.returncode == 0, r.stderr
    assert "as of 2023-02-24" in r.stdout and "predictions last 7 days" in r.stdout
    assert "{'" not in r.stdout and "None" not in r.stdout
    r = tzero(home, "monitor", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["as_of"] == "2023-02-24"
    r = tzero(home, "rollback", "no-such-version")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_monitor_on_an_empty_store_says_so(home: Path) -> None:
    r = tzero(home, "monitor")
    assert r.returncode == 2 and "holds no daily bars" in r.stderr
