"""Market store idempotency, upsert, atomicity and locking; ingest of real TDX files and bad inputs.

The ``store`` fixture runs each backend-neutral test on both market stores
(issue 14): the Parquet/DuckDB one and PostgreSQL (:mod:`tzero.data.store_pg`,
a fresh schema per test in a database created for the session and dropped
after it; a down server skips, or fails with ``CI`` set, as ``app_db`` does).
Tests of Parquet internals (files, manifest, fcntl lock) use ``MarketStore``.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tzero.data.store as store_mod
from tzero.data.ingest import ingest_table, ingest_tdx
from tzero.data.store import DATASETS, MarketStore
from tzero.data.store_pg import PgMarketStore
from tzero.data.tdx import DAY_DTYPE, read_day, read_lc
from tzero.errors import DataFormatError, StoreError

AnyStore = MarketStore | PgMarketStore


def bars(code: str, dates: list[str], close: list[float]) -> pd.DataFrame:
    c = np.asarray(close, dtype=float)
    return pd.DataFrame({
        "ts_code": code, "trade_time": pd.DatetimeIndex(dates),
        "open": c, "high": c + 0.5, "low": c - 0.5, "close": c,
        "volume": 1000.0, "amount": c * 1000.0,
    })


def snapshot(st: AnyStore | Path) -> dict[str, bytes]:
    """The whole stored state: Parquet: every file with its bytes; PostgreSQL: the
    version, the partitions and every dataset's rows as CSV ({} before a first write)."""
    if isinstance(st, PgMarketStore):
        if st.version() == 0:
            return {}
        out = {"manifest": repr(st.manifest()).encode()}
        out.update({d: st.query(d).to_csv(index=False).encode() for d in DATASETS if st.has(d)})
        return out
    root = st.root if isinstance(st, MarketStore) else st
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(params=["parquet", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> AnyStore:
    """A fresh, empty market store on each backend."""
    if request.param == "parquet":
        return MarketStore(tmp_path / "m")
    return request.getfixturevalue("pg_store")


BARS_A = bars("600519.SH", ["2022-12-29", "2022-12-30", "2023-01-03"], [10.0, 11.0, 12.0])
ADJ_A = pd.DataFrame({"ts_code": "600519.SH",
                      "trade_date": pd.DatetimeIndex(["2022-12-29", "2023-01-03"]),
                      "adj_factor": [1.0, 1.5]})


# --------------------------------------------------------------------- store


def test_write_then_query_roundtrip(store: AnyStore) -> None:
    st = store
    assert st.query("bars_1d").empty
    res = st.write({"bars_1d": BARS_A})
    assert res[0].rows_written == 3 and res[0].partitions_changed == 2  # 2022 and 2023
    got = st.query("bars_1d")
    pd.testing.assert_frame_equal(got, BARS_A, check_dtype=False)
    assert st.manifest()["version"] == 1
    assert st.symbols() == ["600519.SH"]


def test_first_bar_per_stock_reads_the_same_on_both_stores(store: AnyStore) -> None:
    """The universe's listing-date bound (first stored bar per stock) goes through
    ``query``, so the PostgreSQL store answers it too; indexes are left out."""
    from tzero.data.universes import _first_bars

    assert _first_bars(store).empty
    idx = bars("000300.SH", ["2022-12-30", "2023-01-03"], [3900.0, 3950.0])
    store.write({"bars_1d": pd.concat([BARS_A, idx], ignore_index=True)})
    got = _first_bars(store)
    assert got.to_dict() == {"600519.SH": pd.Timestamp(BARS_A["trade_time"].min()).normalize()}


def test_write_same_frame_twice_is_idempotent(store: AnyStore) -> None:
    st = store
    st.write({"bars_1d": BARS_A, "adj_factor": ADJ_A})
    before = snapshot(st)
    res = st.write({"bars_1d": BARS_A.copy(), "adj_factor": ADJ_A.copy()})
    assert [r.rows_written for r in res] == [0, 0]
    assert [r.rows_unchanged for r in res] == [3, 2]
    assert snapshot(st) == before
    assert st.manifest()["version"] == 1


def test_upsert_replaces_changed_row_only(store: AnyStore) -> None:
    st = store
    st.write({"bars_1d": BARS_A})
    changed = BARS_A.copy()
    changed.loc[2, ["close", "high"]] = [12.3, 12.8]
    old_parts = st.manifest()["datasets"]["bars_1d"]
    res = st.write({"bars_1d": changed})[0]
    assert (res.rows_written, res.rows_unchanged, res.partitions_changed) == (1, 2, 1)
    man = st.manifest()
    assert man["version"] == 2
    first = min(old_parts)  # 2022 (Parquet, yearly) or 2022-12 (PostgreSQL, monthly)
    assert man["datasets"]["bars_1d"][first] == old_parts[first]  # untouched partition kept
    got = st.query("bars_1d")
    assert len(got) == 3
    assert got["close"].tolist() == [10.0, 11.0, 12.3]


def test_crash_mid_write_leaves_previous_state(tmp_path: Path, monkeypatch) -> None:
    st = MarketStore(tmp_path / "m")
    st.write({"bars_1d": BARS_A, "adj_factor": ADJ_A})
    man_before = st.manifest_path.read_bytes()
    q_before = {d: st.query(d) for d in ("bars_1d", "adj_factor")}
    files_before = snapshot(st.root)

    real = store_mod._atomic_write_parquet
    calls = {"n": 0}

    def crash_on_second(path, frame):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk died")
        real(path, frame)

    monkeypatch.setattr(store_mod, "_atomic_write_parquet", crash_on_second)
    new_bars = pd.concat([BARS_A.assign(close=BARS_A["close"] + 1, high=BARS_A["high"] + 1),
                          bars("000001.SZ", ["2023-01-04"], [9.0])])
    new_adj = ADJ_A.assign(adj_factor=[2.0, 3.0])
    with pytest.raises(OSError, match="disk died"):
        st.write({"bars_1d": new_bars, "adj_factor": new_adj})
    assert calls["n"] == 2  # the first partition was written, then the crash

    assert st.manifest_path.read_bytes() == man_before
    for d, before in q_before.items():
        pd.testing.assert_frame_equal(st.query(d), before)
    # every referenced file existed before; the file written before the crash is gone
    referenced = {rel for parts in st.manifest()["datasets"].values() for rel in parts.values()}
    assert referenced <= set(files_before)
    assert snapshot(st.root) == files_before

    # the store is still writable afterwards and the lock was released
    monkeypatch.setattr(store_mod, "_atomic_write_parquet", real)
    st.write({"bars_1d": new_bars})
    assert len(st.query("bars_1d")) == 4


def test_crash_in_manifest_replace_leaves_previous_state(tmp_path: Path, monkeypatch) -> None:
    st = MarketStore(tmp_path / "m")
    st.write({"bars_1d": BARS_A})
    before = snapshot(st.root)

    def boom(path, text):
        raise OSError("crash before rename")

    monkeypatch.setattr(store_mod, "_atomic_write_text", boom)
    with pytest.raises(OSError):
        st.write({"bars_1d": bars("000001.SZ", ["2023-01-04"], [9.0])})
    assert snapshot(st.root) == before


def test_second_writer_while_locked_raises(tmp_path: Path) -> None:
    st = MarketStore(tmp_path / "m")
    st.write({"bars_1d": BARS_A})
    before = snapshot(st.root)
    with open(st.root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StoreError, match="another tzero process is writing"):
            st.write({"bars_1d": bars("000001.SZ", ["2023-01-04"], [9.0])})
        assert len(st.query("bars_1d")) == 3  # readers never take the lock
        fcntl.flock(fh, fcntl.LOCK_UN)
    assert snapshot(st.root) == before


def test_unknown_dataset_raises(store: AnyStore) -> None:
    with pytest.raises(StoreError, match="unknown dataset 'bars_2d'"):
        store.write({"bars_2d": BARS_A})


def test_corrupt_manifest_raises_store_error(tmp_path: Path) -> None:
    st = MarketStore(tmp_path / "m")
    st.write({"bars_1d": BARS_A})
    st.manifest_path.write_text("{not json")
    with pytest.raises(StoreError, match="corrupt manifest"):
        st.query("bars_1d")


# ------------------------------------------------------------- TDX ingest


@pytest.mark.data
def test_ingest_small_tdx_folder_rows_equal_files(store: AnyStore, make_tdx, tmp_path: Path) -> None:
    root = make_tdx()
    st = store
    summ = ingest_tdx(st, root)
    day_files = sorted(root.glob("vipdoc/*/lday/*.day"))
    assert len(day_files) == 3
    expected_1d = pd.concat([read_day(f) for f in day_files])
    expected_1d = expected_1d.sort_values(["ts_code", "trade_time"]).reset_index(drop=True)
    got_1d = st.query("bars_1d")
    assert summ.written["bars_1d"].rows_written == len(expected_1d) == 3 * 58144 // 32
    pd.testing.assert_frame_equal(got_1d, expected_1d, check_dtype=False)
    expected_1m = read_lc(root / "vipdoc" / "sh" / "minline" / "sh688001.lc1")
    got_1m = st.query("bars_1m")
    assert len(got_1m) == len(expected_1m) == 2880
    pd.testing.assert_frame_equal(got_1m, expected_1m.reset_index(drop=True), check_dtype=False)
    assert st.symbols() == ["000001.SZ", "000300.SH", "600519.SH"]
    assert summ.as_dict()["datasets"]["bars_1d"]["rows_rejected"] == 0

    before = snapshot(st)
    again = ingest_tdx(st, root)
    assert {k: w.rows_written for k, w in again.written.items()} == {"bars_1d": 0, "bars_1m": 0}
    assert snapshot(st) == before


def _assert_bad_tdx_leaves_store(st: AnyStore, root: Path, bad: Path, match: str) -> None:
    before = snapshot(st)
    with pytest.raises(DataFormatError, match=match) as exc:
        ingest_tdx(st, root)
    assert str(bad) in str(exc.value)
    assert snapshot(st) == before


@pytest.mark.data
def test_truncated_day_among_good_files_raises_and_writes_nothing(store: AnyStore, make_tdx, tmp_path: Path) -> None:
    root = make_tdx()
    st = store
    bad = root / "vipdoc" / "sh" / "lday" / "sh600000.day"
    bad.write_bytes((root / "vipdoc" / "sh" / "lday" / "sh600519.day").read_bytes()[:32 * 10 + 7])
    _assert_bad_tdx_leaves_store(st, root, bad, "not a multiple of 32")  # fresh store: nothing
    assert snapshot(st) == {}
    bad.unlink()
    ingest_tdx(st, root)
    bad.write_bytes(b"\0" * 33)
    _assert_bad_tdx_leaves_store(st, root, bad, "not a multiple of 32")  # existing store: same


@pytest.mark.data
def test_empty_day_file_raises_and_writes_nothing(store: AnyStore, make_tdx, tmp_path: Path) -> None:
    root = make_tdx(lc1=False)
    st = store
    ingest_tdx(st, root)
    bad = root / "vipdoc" / "sz" / "lday" / "sz000002.day"
    bad.write_bytes(b"")
    _assert_bad_tdx_leaves_store(st, root, bad, "empty file")


@pytest.mark.data
def test_day_record_outside_calendar_names_file(store: AnyStore, make_tdx, tmp_path: Path) -> None:
    root = make_tdx(lc1=False)
    st = store
    f = root / "vipdoc" / "sz" / "lday" / "sz000001.day"
    rec = np.fromfile(f, dtype=DAY_DTYPE)
    rec["date"][5] = 19000102
    rec.tofile(f)
    with pytest.raises(DataFormatError, match="record 6: date 1900-01-02 is outside the XSHG") as exc:
        ingest_tdx(st, root)
    assert f"{f}:record 6" in str(exc.value)
    assert snapshot(st) == {}


def test_folder_without_vipdoc_raises(store: AnyStore, tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no vipdoc"):
        ingest_tdx(store, tmp_path)


# ----------------------------------------------------------- table ingest

DAILY_HEADER = "ts_code,trade_date,open,high,low,close,pre_close,change,pct_chg,vol,amount\n"


def daily_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(DAILY_HEADER + "".join(r + "\n" for r in rows))
    return path


def test_daily_table_ingest_converts_units(store: AnyStore, tmp_path: Path) -> None:
    st = store
    p = daily_csv(tmp_path / "d.csv", [
        "600519.SH,20230224,1800,1820,1790,1810,1800,10,0.55,12345,2234567.8",
        "600519.SH,20230223,1790,1805,1780,1800,1790,10,0.56,10000,1800000",
    ])
    summ = ingest_table(st, p, "daily")
    assert summ.written["bars_1d"].rows_written == 2
    got = st.query("bars_1d")
    assert got["trade_time"].tolist() == [pd.Timestamp("2023-02-23"), pd.Timestamp("2023-02-24")]
    assert got["volume"].tolist() == [1_000_000.0, 1_234_500.0]  # lots × 100
    assert got["amount"].tolist() == [1_800_000_000.0, 2_234_567_800.0]  # thousand CNY × 1000
    assert ingest_table(st, p, "daily").written["bars_1d"].rows_written == 0


def test_high_below_low_row_refuses_file_or_is_skipped(store: AnyStore, tmp_path: Path) -> None:
    st = store
    p = daily_csv(tmp_path / "d.csv", [
        "600519.SH,20230222,10,11,9,10.5,10,0,0,1,1",
        "600519.SH,20230223,10,9,11,10,10,0,0,1,1",   # high < low
        "600519.SH,20230224,10,11,9,10,10,0,0,1,1",
    ])
    with pytest.raises(DataFormatError, match=r"d\.csv:row 2: high 9 is below max\(open, close, low\) 11"):
        ingest_table(st, p, "daily")
    assert snapshot(st) == {}
    summ = ingest_table(st, p, "daily", skip_bad_rows=True).as_dict()["datasets"]["bars_1d"]
    assert summ["rows_written"] == 2
    assert summ["rows_rejected"] == 1
    assert summ["rejected_reasons"] == {"high below open/close/low": 1}
    stored = st.query("bars_1d")["trade_time"].dt.strftime("%Y-%m-%d").tolist()
    assert stored == ["2023-02-22", "2023-02-24"]


def test_daily_date_outside_calendar_names_row_and_writes_nothing(store: AnyStore, tmp_path: Path) -> None:
    st = store
    ingest_table(st, daily_csv(tmp_path / "ok.csv", ["600519.SH,20230224,10,11,9,10,10,0,0,1,1"]),
                 "daily")
    before = snapshot(st)
    p = daily_csv(tmp_path / "old.csv", [
        "600519.SH,20230222,10,11,9,10,10,0,0,1,1",
        "600519.SH,20230223,10,11,9,10,10,0,0,1,1",
        "600519.SH,18990101,10,11,9,10,10,0,0,1,1",
    ])
    with pytest.raises(DataFormatError, match="1899-01-01") as exc:
        ingest_table(st, p, "daily")
    msg = str(exc.value)
    assert "old.csv" in msg and "row 3" in msg
    assert snapshot(st) == before


def test_csv_with_bytes_neither_utf8_nor_gbk_raises_naming_line(store: AnyStore, tmp_path: Path) -> None:
    st = store
    ingest_table(st, daily_csv(tmp_path / "ok.csv", ["600519.SH,20230224,10,11,9,10,10,0,0,1,1"]),
                 "daily")
    before = snapshot(st)
    p = tmp_path / "bad.csv"
    # 0xFF is neither a UTF-8 byte nor a GBK lead byte
    p.write_bytes(DAILY_HEADER.encode() + b"600519.SH,20230223,10,11,9,10,10,0,0,1,1\n"
                  + b"600519.SH,2023022\xff,10,11,9,10,10,0,0,1,1\n")
    with pytest.raises(DataFormatError, match=r"bad\.csv: line 3: text is neither UTF-8 nor GBK"):
        ingest_table(st, p, "daily")
    assert snapshot(st) == before


@pytest.mark.data
def test_corrupt_gbk_minute_csv_raises_naming_line(store: AnyStore, data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "intraday" / "SSE.600009Q_m1.csv"
    if not src.is_file():
        pytest.skip(f"shared data absent: {src}")
    lines = src.read_bytes().splitlines(keepends=True)[:6]
    good = tmp_path / "SSE.600009Q_m1.csv"
    good.write_bytes(b"".join(lines))
    st = store
    assert ingest_table(st, good, "minute").written["bars_1m"].rows_written == 5
    before = snapshot(st)
    # "2020/1/2 星期四": bytes 0..11 end with the GBK lead byte of 期; cut the line there
    bad = tmp_path / "SSE.600009Q_bad_m1.csv"
    bad.write_bytes(b"".join(lines[:4]) + lines[4][:12] + b"\n" + lines[5])
    with pytest.raises(DataFormatError, match="line 5: text is neither UTF-8 nor GBK") as exc:
        ingest_table(st, bad, "minute")
    assert bad.name in str(exc.value)
    assert snapshot(st) == before


def test_empty_table_raises(store: AnyStore, tmp_path: Path) -> None:
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    st = store
    with pytest.raises(DataFormatError, match="empty.csv: empty file"):
        ingest_table(st, p, "daily")
    header_only = tmp_path / "header.csv"
    header_only.write_text(DAILY_HEADER)
    with pytest.raises(DataFormatError, match="header.csv"):
        ingest_table(st, header_only, "daily")
    assert snapshot(st) == {}


def test_unknown_kind_raises(store: AnyStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--kind"):
        ingest_table(store, tmp_path / "x.csv", "weekly")


@pytest.mark.data
def test_adj_factor_slice_ingest(store: AnyStore, adj_slice: pd.DataFrame, adj_slice_file: Path, tmp_path: Path) -> None:
    st = store
    summ = ingest_table(st, adj_slice_file, "adj_factor")
    unique = adj_slice.drop_duplicates(["ts_code", "trade_date"])
    w = summ.written["adj_factor"]
    assert w.rows_written == len(unique)  # the source repeats rows; they are stored once
    got = st.query("adj_factor")
    assert sorted(got["ts_code"].unique()) == ["000001.SZ", "000300.SH", "600519.SH"]
    row = got[(got["ts_code"] == "000001.SZ") & (got["trade_date"] == pd.Timestamp("2020-12-31"))]
    assert row["adj_factor"].round(6).tolist() == [99.787354]
    assert ingest_table(st, adj_slice_file, "adj_factor").written["adj_factor"].rows_written == 0


def test_adj_factor_bad_values_rejected(store: AnyStore, tmp_path: Path) -> None:
    p = tmp_path / "adj.csv"
    p.write_text("ts_code,trade_date,adj_factor\n600519.SH,20230223,1.5\n"
                 "600519.SH,20230224,0\n000001.SZ,20230224,-1\n")
    st = store
    with pytest.raises(DataFormatError, match=r"adj\.csv:row 2: field 'adj_factor' is 0"):
        ingest_table(st, p, "adj_factor")
    assert snapshot(st) == {}
    summ = ingest_table(st, p, "adj_factor", skip_bad_rows=True).as_dict()["datasets"]["adj_factor"]
    assert (summ["rows_written"], summ["rows_rejected"]) == (1, 2)
    assert len(st.query("adj_factor")) == 1



def test_replaced_partition_file_outlives_its_retirement(tmp_path) -> None:
    """A reader holding the old manifest can still open a file retired by a new write."""
    import os
    import time

    from tzero.data import store as store_mod
    st = MarketStore(tmp_path / "m")
    f1 = pd.DataFrame({"ts_code": ["A.SH"], "trade_date": [pd.Timestamp("2023-01-03")], "adj_factor": [1.0]})
    st.write({"adj_factor": f1})
    old = st.files("adj_factor")[0]
    past = time.time() - 3600
    os.utime(old, (past, past))   # written long ago
    st.write({"adj_factor": f1.assign(adj_factor=2.0)})
    assert old.exists(), "a just-retired file must survive the grace period"
    assert time.time() - old.stat().st_mtime < store_mod.GC_GRACE_SECONDS
