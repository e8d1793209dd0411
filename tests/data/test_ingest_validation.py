"""Issue 12 items 13-15, 6 and 8 (ingest): no bad value is ever stored.

Small TDX folders are built from hand-made ``.day``/``.lc1`` records (5 sessions,
2023-02-20 .. 02-24) so every case is worked out on paper; CSVs are Tushare
``daily`` tables. Each case checks the default (the whole input refused, the
store unchanged, the file and its own record/row named) and ``skip_bad_rows``
(the good rows written, the bad ones reported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data import ingest as ingest_mod
from tzero.data import validation
from tzero.data.ingest import ingest_table, ingest_tdx
from tzero.data.store import MarketStore
from tzero.data.tdx import DAY_DTYPE, LC_DTYPE, LC_YEAR_BASE, read_vipdoc_day, scan_vipdoc
from tzero.data.validation import BadRowsError
from tzero.errors import DataFormatError

SESSIONS = [20230220, 20230221, 20230222, 20230223, 20230224]


def day_records(n: int = 5, close_fen: int = 1000) -> np.ndarray:
    """``n`` consistent daily records on the sessions of 2023-02-20.. (open=close, high/low ±0.10)."""
    rec = np.zeros(n, dtype=DAY_DTYPE)
    rec["date"] = SESSIONS[:n]
    rec["open"] = rec["close"] = close_fen
    rec["high"], rec["low"] = close_fen + 10, close_fen - 10
    rec["volume"] = 1000
    rec["amount"] = close_fen / 100 * 1000
    return rec


def tdx_folder(root: Path, files: dict[str, np.ndarray]) -> Path:
    """A TDX folder with ``vipdoc/<market>/lday/<name>`` holding the given records."""
    for name, rec in files.items():
        p = root / "vipdoc" / name[:2] / "lday" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rec.tobytes())
    return root


def good_folder(root: Path) -> Path:
    return tdx_folder(root, {"sh600000.day": day_records(), "sz000001.day": day_records(close_fen=1500)})


def snapshot(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


HEADER = "ts_code,trade_date,open,high,low,close,pre_close,change,pct_chg,vol,amount\n"
GOOD_ROWS = ["600519.SH,20230222,10,11,9,10.5,10,0,0,1,1", "600519.SH,20230224,10,11,9,10,10,0,0,1,1"]


def daily_csv(path: Path, bad: str) -> Path:
    """Tushare daily table: good row, ``bad`` (data row 2), good row."""
    path.write_text(HEADER + GOOD_ROWS[0] + "\n" + bad + "\n" + GOOD_ROWS[1] + "\n")
    return path


def refused(fn, *args, **kw) -> str:
    with pytest.raises(BadRowsError) as exc:
        fn(*args, **kw)
    return str(exc.value)


# ------------------------------------------------------------- item 13: values


@pytest.mark.parametrize("value, shown", [(np.inf, "inf"), (np.nan, "NaN (missing)"),
                                          (-5.0, "-5 (must be >= 0)"),
                                          (2**50, "1.125899907e+15 (above the plausible bound 1e+13 CNY)")])
def test_day_amount_nonfinite_or_absurd_refused_naming_file_and_record(tmp_path: Path, value, shown) -> None:
    root = good_folder(tmp_path / "tdx")
    st = MarketStore(tmp_path / "m")
    ingest_tdx(st, root)
    before = snapshot(st.root)
    rec = day_records(close_fen=1500)
    rec["amount"][3] = value
    bad = root / "vipdoc/sz/lday/sz000001.day"
    bad.write_bytes(rec.tobytes())
    msg = refused(ingest_tdx, st, root)
    assert f"{bad}:record 4: field 'amount' is {shown}" in msg
    assert snapshot(st.root) == before


def test_day_price_beyond_bound_refused(tmp_path: Path) -> None:
    rec = day_records()
    rec["high"][1] = 0xFFFFFFFF  # a corrupt integer: 42,949,672.95 CNY
    root = tdx_folder(tmp_path / "tdx", {"sh600000.day": rec})
    st = MarketStore(tmp_path / "m")
    msg = refused(ingest_tdx, st, root)
    assert f"{root / 'vipdoc/sh/lday/sh600000.day'}:record 2: field 'high' is 42949672.95 " \
           f"(above the plausible bound {validation.MAX_PRICE:,.0f} CNY)" in msg
    assert snapshot(st.root) == {}


def lc1_bytes(prices: list[float]) -> bytes:
    rec = np.zeros(len(prices), dtype=LC_DTYPE)
    rec["date"] = (2023 - LC_YEAR_BASE) * 2048 + 2 * 100 + 24
    rec["minute"] = 571 + np.arange(len(prices))  # 09:31, 09:32, ...
    for k in ("open", "high", "low", "close"):
        rec[k] = prices
    rec["volume"], rec["amount"] = 100, 1000.0
    return rec.tobytes()


def test_lc1_nan_and_inf_prices_refused(tmp_path: Path) -> None:
    root = tmp_path / "tdx"
    p = root / "vipdoc/sh/minline/sh600000.lc1"
    p.parent.mkdir(parents=True)
    p.write_bytes(lc1_bytes([10.0, float("nan"), float("inf"), 10.0]))
    st = MarketStore(tmp_path / "m")
    msg = refused(ingest_tdx, st, root)
    assert f"{p}:record 2: field 'open' is NaN (missing)" in msg
    assert f"{p}:record 3: field 'open' is inf" in msg
    assert snapshot(st.root) == {}
    summ = ingest_tdx(st, root, skip_bad_rows=True).as_dict()["datasets"]["bars_1m"]
    assert (summ["rows_written"], summ["rows_rejected"]) == (2, 2)
    assert np.isfinite(st.query("bars_1m")[["open", "high", "low", "close"]].to_numpy()).all()


def test_csv_high_inf_refused_not_stored(tmp_path: Path) -> None:
    """The issue's case: ``high=inf`` was stored and later broke /api/lstm/predict."""
    p = daily_csv(tmp_path / "d.csv", "600519.SH,20230223,10,inf,9,10,10,0,0,1,1")
    st = MarketStore(tmp_path / "m")
    assert f"{p}:row 2: field 'high' is inf" in refused(ingest_table, st, p, "daily")
    assert snapshot(st.root) == {}


def test_csv_volume_beyond_bound_refused(tmp_path: Path) -> None:
    p = daily_csv(tmp_path / "d.csv", "600519.SH,20230223,10,11,9,10,10,0,0,1e15,1")
    msg = refused(ingest_table, MarketStore(tmp_path / "m"), p, "daily")
    assert f"{p}:row 2: field 'volume' is 1e+17 (above the plausible bound 1e+12 shares)" in msg


def test_trades_nonfinite_price_refused(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("ts_code,trade_time,price,volume,direction\n"
                 "600519.SH,2023-02-24 09:31:00,10.0,100,B\n"
                 "600519.SH,2023-02-24 09:31:01,inf,100,S\n"
                 "600519.SH,2023-02-24 09:31:02,10.0,0,S\n"      # an odd lot rounded to 0: kept
                 "600519.SH,2023-02-24 09:31:03,10.0,-100,S\n")
    st = MarketStore(tmp_path / "m")
    msg = refused(ingest_table, st, p, "trades")
    assert f"{p}:row 2: field 'price' is inf" in msg
    assert f"{p}:row 4: field 'volume' is -100 (must be >= 0)" in msg
    summ = ingest_table(st, p, "trades", skip_bad_rows=True).as_dict()["datasets"]["trades"]
    assert (summ["rows_written"], summ["rows_rejected"]) == (2, 2)


# --------------------------------------------------------- item 14: the policy


@pytest.mark.parametrize("row, detail", [
    ("600519.SH,20230223,-10,11,9,10,10,0,0,1,1", "field 'open' is -10 (prices must be > 0)"),
    ("600519.SH,20230223,10,11,9,,10,0,0,1,1", "field 'close' is NaN (missing)"),
    ("600519.SH,20230223,10,11,9,nan,10,0,0,1,1", "field 'close' is 'nan', which does not parse"),
    ("600519.SH,20230223,10,11,9,10,10,0,0,-5,1", "field 'volume' is -500 (must be >= 0)"),
    ("600519.SH,20230225,10,11,9,10,10,0,0,1,1", "date 2023-02-25 (Saturday) is not an XSHG session"),
    ("600519.SH,20230223,10,11,9,abc,10,0,0,1,1", "field 'close' is 'abc', which does not parse"),
    ("600519.SH,20230230,10,11,9,10,10,0,0,1,1", "field 'trade_date' is '20230230', which does not parse"),
])
def test_bad_csv_row_refuses_file_or_is_skipped(tmp_path: Path, row: str, detail: str) -> None:
    st = MarketStore(tmp_path / "m")
    ok = tmp_path / "ok.csv"
    ok.write_text(HEADER + "000001.SZ,20230224,10,11,9,10,10,0,0,1,1\n")
    ingest_table(st, ok, "daily")
    before = snapshot(st.root)
    p = daily_csv(tmp_path / "d.csv", row)
    msg = refused(ingest_table, st, p, "daily")
    assert f"{p}:row 2: {detail}" in msg and "nothing was written" in msg and "--skip-bad-rows" in msg
    assert snapshot(st.root) == before
    summ = ingest_table(st, p, "daily", skip_bad_rows=True).as_dict()["datasets"]["bars_1d"]
    assert (summ["rows_in"], summ["rows_written"], summ["rows_rejected"]) == (3, 2, 1)
    assert summ["bad_rows"] == [f"{p}:row 2: {detail}"]
    stored = st.query("bars_1d", "ts_code = ?", ["600519.SH"])["trade_time"]
    assert stored.dt.strftime("%Y-%m-%d").tolist() == ["2023-02-22", "2023-02-24"]


def test_day_same_date_twice_with_other_prices_is_refused_not_last_wins(tmp_path: Path) -> None:
    root = good_folder(tmp_path / "tdx")
    st = MarketStore(tmp_path / "m")
    ingest_tdx(st, root)
    before = snapshot(st.root)
    rec = day_records()
    again = rec[3:4].copy()
    again["close"] = again["open"] = 1005  # 2023-02-23 again, 10.05 instead of 10.00
    f = root / "vipdoc/sh/lday/sh600000.day"
    f.write_bytes(np.concatenate([rec, again]).tobytes())
    msg = refused(ingest_tdx, st, root)
    assert f"{f}:record 4: 600000.SH 2023-02-23 also at record 6 with different values" in msg
    assert f"{f}:record 6: 600000.SH 2023-02-23 also at record 4 with different values" in msg
    assert snapshot(st.root) == before
    summ = ingest_tdx(st, root, skip_bad_rows=True).as_dict()["datasets"]["bars_1d"]
    assert summ["rejected_reasons"] == {"conflicting duplicate": 2}
    stored = st.query("bars_1d", "ts_code = ? AND trade_time = ?", ["600000.SH", pd.Timestamp("2023-02-23")])
    assert stored["close"].tolist() == [10.0]  # the stored bar kept, not overwritten


def test_identical_repeated_records_are_collapsed(tmp_path: Path) -> None:
    rec = day_records()
    root = tdx_folder(tmp_path / "tdx", {"sh600000.day": np.concatenate([rec, rec[2:3]])})
    st = MarketStore(tmp_path / "m")
    summ = ingest_tdx(st, root).as_dict()["datasets"]["bars_1d"]
    assert (summ["rows_written"], summ["rows_rejected"]) == (5, 0)
    assert st.query("bars_1d")["trade_time"].is_unique


def test_adj_factor_date_with_two_factors_refused(tmp_path: Path) -> None:
    p = tmp_path / "adj.csv"
    p.write_text("ts_code,trade_date,adj_factor\n600519.SH,20230223,1.5\n600519.SH,20230224,1.5\n"
                 "600519.SH,20230224,1.6\n600519.SH,20230223,1.5\n")
    st = MarketStore(tmp_path / "m")
    msg = refused(ingest_table, st, p, "adj_factor")
    assert f"{p}:row 2: 600519.SH 2023-02-24 also at row 3 with adj_factor 1.6" in msg
    assert snapshot(st.root) == {}
    summ = ingest_table(st, p, "adj_factor", skip_bad_rows=True).as_dict()["datasets"]["adj_factor"]
    assert (summ["rows_written"], summ["rows_rejected"]) == (1, 2)  # 02-23 twice alike: kept once


def test_refusal_lists_first_five_rows_then_counts_the_rest(tmp_path: Path) -> None:
    rows = [f"600519.SH,2023022{d},10,11,9,-1,10,0,0,1,1" for d in range(0, 5)]
    rows += [f"000001.SZ,2023022{d},10,11,9,-1,10,0,0,1,1" for d in range(0, 3)]
    p = tmp_path / "d.csv"
    p.write_text(HEADER + "\n".join(rows) + "\n")
    msg = refused(ingest_table, MarketStore(tmp_path / "m"), p, "daily")
    lines = msg.splitlines()
    assert lines[0].startswith("8 bad row(s) in d.csv; nothing was written")
    assert lines[1:6] == [f"{p}:row {i}: field 'close' is -1 (prices must be > 0)" for i in range(1, 6)]
    assert lines[6:] == ["and 3 more"]


# ------------------------------------------------- item 15: file and own record


def test_folder_bad_date_names_its_file_and_own_record(tmp_path: Path) -> None:
    rec = day_records()
    rec["date"][2] = 20230230
    root = tdx_folder(tmp_path / "tdx", {"sh600000.day": day_records(), "sz000002.day": rec,
                                         "sz000001.day": day_records()})
    bad = root / "vipdoc/sz/lday/sz000002.day"
    with pytest.raises(DataFormatError) as exc:
        read_vipdoc_day(root)
    assert str(exc.value) == f"{bad}: record 3 has an invalid date 20230230"
    st = MarketStore(tmp_path / "m")
    msg = refused(ingest_tdx, st, root)
    assert f"{bad}:record 3: field 'date' is 20230230, not a YYYYMMDD date" in msg
    summ = ingest_tdx(st, root, skip_bad_rows=True).as_dict()["datasets"]["bars_1d"]
    assert (summ["rows_written"], summ["rows_rejected"]) == (14, 1)


def test_day_file_not_named_for_a_market_code_is_reported(tmp_path: Path) -> None:
    root = good_folder(tmp_path / "tdx")
    foo = root / "vipdoc/sh/lday/foo.day"
    foo.write_bytes(day_records().tobytes())
    st = MarketStore(tmp_path / "m")
    with pytest.raises(DataFormatError, match="name no security") as exc:
        ingest_tdx(st, root)
    assert str(foo) in str(exc.value)
    assert snapshot(st.root) == {}
    assert foo not in scan_vipdoc(root)  # the lenient scan (other callers) still leaves it out


# ------------------------------------------------ item 8: progress covers the work


def test_progress_steps_cover_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple] = []
    real_write = MarketStore.write

    def write(self, frames):
        events.append(("write",))
        return real_write(self, frames)

    monkeypatch.setattr(MarketStore, "write", write)
    root = good_folder(tmp_path / "tdx")
    ingest_tdx(MarketStore(tmp_path / "m"), root, lambda d, t: events.append(("progress", d, t)),
               steps=lambda s, d, t: events.append(("step", s, d, t)))
    w = events.index(("write",))
    progress = [e for e in events if e[0] == "progress"]
    assert progress[-1] == ("progress", 4, 4) and events.index(progress[-1]) > w  # 2 files + check + write
    assert all(e[1] < e[2] for e in progress if events.index(e) < w)
    steps = [e for e in events if e[0] == "step"]
    names = list(dict.fromkeys(e[1] for e in steps))
    assert names == [ingest_mod.STEP_READ_TDX, f"{ingest_mod.STEP_CHECK} (10)", ingest_mod.STEP_WRITE]
    assert ("step", ingest_mod.STEP_WRITE, 0, None) in events[:w]
    assert events[w + 1:] [-1] == ("step", ingest_mod.STEP_WRITE, 1, 1)

    events.clear()
    p = daily_csv(tmp_path / "d.csv", "600519.SH,20230223,10,11,9,10,10,0,0,1,1")
    ingest_table(MarketStore(tmp_path / "m2"), p, "daily",
                 steps=lambda s, d, t: events.append(("step", s, d, t)))
    assert events[-1] == ("step", ingest_mod.STEP_WRITE, 1, 1) and events[-2] == ("write",)


# -------------------------------------------------------------- the CLI (items 6, 13, 14)


def tzero(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = {**os.environ, "TZERO_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1", **env}
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=e,
                          capture_output=True, text=True, timeout=120)


def test_cli_missing_tdx_dir_names_real_ways_and_draws_no_bar(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = tzero(home, "ingest", "tdx", str(tmp_path / "no" / "such"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'no' / 'such'} does not exist: pass the TDX client folder (the one "
        "holding vipdoc/) as `tzero ingest tdx DIR` or set TZERO_TDX_DIR"]
    assert "--tdx-dir" not in r.stderr and "━" not in r.stderr
    r = tzero(home, "ingest", "table", str(tmp_path / "none.csv"), "--kind", "daily")
    assert (r.returncode, r.stderr) == (2, f"error: {tmp_path / 'none.csv'}: no such file\n")
    assert "[DIR]" in tzero(home, "ingest", "tdx", "--help").stdout   # the argument it names
    r = tzero(home, "ingest", "tdx", "--json", TZERO_TDX_DIR=str(good_folder(tmp_path / "tdx")))
    assert r.returncode == 0, r.stderr                                # and the variable it names
    assert json.loads(r.stdout)["datasets"]["bars_1d"]["rows_written"] == 10


def test_cli_bad_row_exits_2_store_unchanged_and_skip_flag_writes_the_rest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = good_folder(tmp_path / "tdx")
    assert tzero(home, "ingest", "tdx", str(root)).returncode == 0
    manifest = (home / "market" / "manifest.json").read_bytes()
    rec = day_records()
    rec["amount"][0] = np.inf
    f = root / "vipdoc/sh/lday/sh600000.day"
    f.write_bytes(rec.tobytes())
    r = tzero(home, "ingest", "tdx", str(root))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{f}:record 1: field 'amount' is inf" in r.stderr.splitlines()
    assert (home / "market" / "manifest.json").read_bytes() == manifest
    r = tzero(home, "ingest", "tdx", str(root), "--skip-bad-rows")
    assert r.returncode == 0, r.stderr
    assert f"  {f}:record 1: field 'amount' is inf" in r.stdout.splitlines()
    assert "writing the store" in r.stderr

    p = daily_csv(tmp_path / "d.csv", "600519.SH,20230223,10,inf,9,10,10,0,0,1,1")
    r = tzero(home, "ingest", "table", str(p), "--kind", "daily")
    assert r.returncode == 2 and f"{p}:row 2: field 'high' is inf" in r.stderr.splitlines()
    r = tzero(home, "ingest", "table", str(p), "--kind", "daily", "--skip-bad-rows", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)["datasets"]["bars_1d"]
    assert (d["rows_written"], d["rows_rejected"], d["bad_rows"]) == (2, 1, [f"{p}:row 2: field 'high' is inf"])
