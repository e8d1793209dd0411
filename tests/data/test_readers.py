"""Readers of TDX files and tables: real values from ../shared/data, bad inputs from tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data.tables import (
    read_adj_factor_table,
    read_daily_table,
    read_minute_csv,
    read_trades_table,
)
from tzero.data.tdx import (
    BARS_COLUMNS,
    DAY_DTYPE,
    read_day,
    read_export_txt,
    read_lc,
    read_vipdoc_day,
    scan_vipdoc,
)
from tzero.data.tdx_ref import read_base_dbf, read_industry
from tzero.errors import DataFormatError
from tzero.settings import get_settings

FLOATS = ["open", "high", "low", "close", "volume", "amount"]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    d = get_settings().data_dir
    if d is None:
        pytest.skip("shared data absent: set TZERO_DATA_DIR to the shared/data folder")
    return d


@pytest.fixture(scope="module")
def tdx(data_dir: Path) -> Path:
    return data_dir / "tdx"


def assert_bars(df: pd.DataFrame) -> None:
    assert list(df.columns) == BARS_COLUMNS
    assert df["trade_time"].dtype == "datetime64[ns]"
    for c in FLOATS:
        assert df[c].dtype == np.float64, c
    assert df["ts_code"].map(type).eq(str).all()
    assert not df.duplicated(["ts_code", "trade_time"]).any()
    keys = df[["ts_code", "trade_time"]]
    assert keys.equals(keys.sort_values(["ts_code", "trade_time"]).reset_index(drop=True))


# ----------------------------------------------------------------- real data


@pytest.mark.data
def test_read_day_600519_last_bar(tdx: Path) -> None:
    df = read_day(tdx / "vipdoc/sh/lday/sh600519.day")
    assert_bars(df)
    last = df.iloc[-1]
    assert last["ts_code"] == "600519.SH"
    assert last["trade_time"] == pd.Timestamp("2023-02-24")
    assert last["close"] == pytest.approx(1788.00)
    # A-share volume is shares: amount / (volume * close) ≈ 1
    assert last["amount"] / (last["volume"] * last["close"]) == pytest.approx(1.0, abs=0.02)


@pytest.mark.data
def test_read_day_etf_three_decimals_and_index_lots(tdx: Path) -> None:
    etf = read_day(tdx / "vipdoc/sh/lday/sh510300.day").iloc[-1]
    assert etf["close"] == pytest.approx(4.060)
    assert etf["amount"] / (etf["volume"] * etf["close"]) == pytest.approx(1.0, abs=0.02)
    idx = read_day(tdx / "vipdoc/sh/lday/sh000001.day").iloc[-1]
    assert idx["close"] == pytest.approx(3267.16)
    # lots ×100 → shares; average traded price per share is a plausible 5..50 CNY
    assert 5 < idx["amount"] / idx["volume"] < 50


@pytest.mark.data
def test_read_vipdoc_day_selected_and_scan(tdx: Path) -> None:
    paths = scan_vipdoc(tdx)
    assert len(paths) == 5208
    df = read_vipdoc_day(tdx, ["sz000001", "600519.SH", "510300"])
    assert_bars(df)
    assert df["ts_code"].unique().tolist() == ["000001.SZ", "510300.SH", "600519.SH"]
    one = read_day(tdx / "vipdoc/sh/lday/sh600519.day")
    got = df[df["ts_code"] == "600519.SH"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, one)


@pytest.mark.data
def test_read_vipdoc_day_equals_per_file_reads(tdx: Path) -> None:
    """The fast folder reader gives exactly the per-file reader's bars (stock, ETF, index)."""
    codes = ["600519.SH", "510300.SH", "000300.SH", "399006.SZ"]
    many = read_vipdoc_day(tdx, codes).reset_index(drop=True)
    files = ["sh/lday/sh000300.day", "sh/lday/sh510300.day", "sh/lday/sh600519.day", "sz/lday/sz399006.day"]
    one = pd.concat([read_day(tdx / "vipdoc" / f) for f in files], ignore_index=True)
    one = one.sort_values(["ts_code", "trade_time"], ignore_index=True)
    pd.testing.assert_frame_equal(many, one, check_exact=True)


def test_read_lc1_full_days_and_lc5(tdx: Path) -> None:
    df = read_lc(tdx / "vipdoc/sh/minline/sh688001.lc1")
    assert_bars(df)
    assert len(df) == 2880
    day = df[df["trade_time"].dt.normalize() == pd.Timestamp("2021-04-23")]
    stamps = day["trade_time"].dt.strftime("%H:%M")
    assert len(day) == 240
    assert stamps.iloc[[0, 119, 120, 239]].tolist() == ["09:31", "11:30", "13:01", "15:00"]
    assert day["open"].iloc[0] == 36.71  # float32 noise rounded away
    five = read_lc(tdx / "vipdoc/sh/fzline/sh688001.lc5")
    assert len(five) == 144
    assert five["trade_time"].dt.strftime("%H:%M").iloc[[0, 47]].tolist() == ["09:35", "15:00"]
    # the 5-minute volume is the sum of the 1-minute volumes over the same window
    window = df[(df["trade_time"] > "2021-06-01 09:30") & (df["trade_time"] <= "2021-06-01 09:35")]
    assert window["volume"].sum() == five["volume"].iloc[0]


@pytest.mark.data
def test_read_export_txt_keeps_negative_qfq(tdx: Path) -> None:
    df = read_export_txt(tdx / "T0002/export/SH#601006.txt")
    assert_bars(df)
    assert df.attrs["adjust"] == "qfq"
    first = df.iloc[0]
    assert (first["ts_code"], first["trade_time"]) == ("601006.SH", pd.Timestamp("2006-08-01"))
    assert first["close"] == pytest.approx(-0.32)
    assert df.iloc[-1]["trade_time"] == pd.Timestamp("2021-09-23")


@pytest.mark.data
def test_read_industry_600519(tdx: Path) -> None:
    df = read_industry(tdx)
    assert len(df) == 4906
    row = df.set_index("ts_code").loc["600519.SH"]
    assert row["tdx_industry_code"] == "T030501"
    assert row["industry_name"] == "白酒"
    assert row["research_industry_code"] == "X210205"


@pytest.mark.data
def test_read_base_dbf_shares(tdx: Path) -> None:
    df = read_base_dbf(tdx / "T0002/hq_cache/base.dbf")
    assert len(df) == 5250
    row = df.set_index("ts_code").loc["600519.SH"]
    assert row["total_shares"] == pytest.approx(1_256_197_800)  # 万股 ×10,000
    assert row["float_shares"] <= row["total_shares"]
    assert row["list_date"] == pd.Timestamp("2001-08-27")
    assert df.set_index("ts_code").loc["000001.SZ", "total_shares"] == pytest.approx(19_405_918_700)


@pytest.mark.data
def test_read_minute_csv_index_zip(data_dir: Path) -> None:
    df = read_minute_csv(data_dir / "intraday/000001.XSHG_1min.zip")
    assert_bars(df)
    assert len(df) == 239_550
    assert df["ts_code"].unique().tolist() == ["000001.SH"]
    assert df["amount"].isna().all()
    day = df[df["trade_time"].dt.normalize() == pd.Timestamp("2018-06-01")]
    assert len(day) == 240
    assert day["trade_time"].dt.strftime("%H:%M").iloc[[0, 119, 120, 239]].tolist() == [
        "09:31", "11:30", "13:01", "15:00"]
    # vol is shares: the day's sum equals sh000001.day volume (lots ×100)
    daily = read_day(get_settings().tdx_dir / "vipdoc/sh/lday/sh000001.day").set_index("trade_time")
    assert day["volume"].sum() == pytest.approx(daily.loc["2018-06-01", "volume"], rel=1e-6)


@pytest.mark.data
def test_read_minute_csv_gbk_tdx_text(data_dir: Path) -> None:
    df = read_minute_csv(data_dir / "intraday/SSE.600009Q_m1.csv")
    assert_bars(df)
    assert len(df) == 15_353
    assert df.attrs["adjust"] == "qfq"
    first = df.iloc[0]
    assert (first["ts_code"], first["trade_time"], first["open"]) == (
        "600009.SH", pd.Timestamp("2020-01-02 09:31"), 78.78)
    assert df["trade_time"].max() == pd.Timestamp("2020-04-10 10:27")


@pytest.mark.data
def test_read_trades_table_tdx(data_dir: Path) -> None:
    df = read_trades_table(data_dir / "trades/tdx_trades_2019.parquet")
    assert list(df.columns) == ["ts_code", "trade_time", "price", "volume", "direction"]
    assert len(df) == 34_100
    assert set(df["direction"]) == {"B", "S", "N"}
    first = df[df["ts_code"] == "600000.SH"].iloc[0]
    assert (first["trade_time"], first["price"], first["volume"], first["direction"]) == (
        pd.Timestamp("2019-02-01 09:25:02"), 10.82, 536_800.0, "N")


@pytest.mark.data
def test_read_adj_factor_slice(data_dir: Path, tmp_path: Path) -> None:
    raw = pd.read_parquet(data_dir / "reference/adj_factor.parquet",
                          filters=[("ts_code", "in", ["600519.SH", "000001.SZ"])])
    p = tmp_path / "adj.parquet"
    raw.to_parquet(p)
    df = read_adj_factor_table(p)
    assert list(df.columns) == ["ts_code", "trade_date", "adj_factor"]
    assert df["trade_date"].dtype == "datetime64[ns]"
    assert df["adj_factor"].dtype == np.float64
    assert not df.duplicated(["ts_code", "trade_date"]).any()
    last = df[df["ts_code"] == "600519.SH"].iloc[-1]
    assert last["trade_date"] == pd.Timestamp("2023-02-24")
    assert last["adj_factor"] == pytest.approx(6.78563)


# ------------------------------------------------------------ hand-made cases


def test_read_daily_table_tushare_units(tmp_path: Path) -> None:
    p = tmp_path / "daily.csv"
    p.write_text(
        "ts_code,trade_date,open,high,low,close,pre_close,vol,amount\n"
        "600519.SH,20230224,1810.11,1812.0,1786.0,1788.0,1818.0,24634.61,4415621.6\n"
        "sh600519,20230223,1840.0,1845.0,1815.0,1818.0,1840.0,21880.97,3983991.0\n"
    )
    df = read_daily_table(p)
    assert_bars(df)
    assert df["trade_time"].tolist() == [pd.Timestamp("2023-02-23"), pd.Timestamp("2023-02-24")]
    assert df["volume"].iloc[1] == pytest.approx(2_463_461.0)  # lots ×100
    assert df["amount"].iloc[1] == pytest.approx(4_415_621_600.0)  # thousand CNY ×1000
    canonical = tmp_path / "bars.parquet"
    df.to_parquet(canonical)
    pd.testing.assert_frame_equal(read_daily_table(canonical), df)


def test_read_trades_canonical_csv(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("ts_code,trade_time,price,volume,direction\n"
                 "000001.SZ,2023-02-01 09:30:01,13.1,200,b\n"
                 "000001.SZ,2023-02-01 09:30:00,13.0,100,S\n")
    df = read_trades_table(p)
    assert df["direction"].tolist() == ["S", "B"]
    assert df["volume"].tolist() == [100.0, 200.0]


def test_minute_csv_open_stamps_shift_to_close(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("symbol,id,dt,freq,open,close,high,low,vol\n"
                 "600000.XSHG,0,2020-01-02 09:30:00,F1,1,1,1,1,100\n"
                 "600000.XSHG,1,2020-01-02 13:00:00,F1,1,1,1,1,100\n")
    df = read_minute_csv(p)
    assert df["trade_time"].dt.strftime("%H:%M").tolist() == ["09:31", "13:01"]


def _day_bytes(n: int) -> bytes:
    rec = np.zeros(n, dtype=DAY_DTYPE)
    rec["date"] = 20230224
    rec["open"] = rec["high"] = rec["low"] = rec["close"] = 1000
    return rec.tobytes()


def test_day_size_not_multiple_of_32(tmp_path: Path) -> None:
    p = tmp_path / "sh600000.day"
    p.write_bytes(_day_bytes(2) + b"\x00" * 5)
    with pytest.raises(DataFormatError, match=r"sh600000\.day: size 69 bytes is not a multiple of 32"):
        read_day(p)
    lc = tmp_path / "sh600000.lc1"
    lc.write_bytes(b"\x00" * 40)
    with pytest.raises(DataFormatError, match="not a multiple of 32"):
        read_lc(lc)


def test_day_empty_file_and_bad_name(tmp_path: Path) -> None:
    p = tmp_path / "sz000001.day"
    p.write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"sz000001\.day: empty file"):
        read_day(p)
    q = tmp_path / "readme.day"
    q.write_bytes(_day_bytes(1))
    with pytest.raises(DataFormatError, match="does not name a security"):
        read_day(q)


def test_day_invalid_date(tmp_path: Path) -> None:
    rec = np.frombuffer(_day_bytes(2), dtype=DAY_DTYPE).copy()
    rec["date"][1] = 20230230
    p = tmp_path / "sh600000.day"
    p.write_bytes(rec.tobytes())
    with pytest.raises(DataFormatError, match="record 2 has an invalid date 20230230"):
        read_day(p)


def test_vipdoc_skip_bad_file(tmp_path: Path) -> None:
    lday = tmp_path / "vipdoc/sh/lday"
    lday.mkdir(parents=True)
    (lday / "sh600000.day").write_bytes(_day_bytes(3))
    (lday / "sh600004.day").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty file"):
        read_vipdoc_day(tmp_path)
    with pytest.warns(UserWarning, match="sh600004"):
        df = read_vipdoc_day(tmp_path, on_error="skip")
    assert df["ts_code"].unique().tolist() == ["600000.SH"]
    assert df["close"].iloc[0] == 10.0


def test_export_txt_invalid_gbk_names_line(tmp_path: Path) -> None:
    p = tmp_path / "SH#601003.txt"
    good = "601003 柳钢股份 日线 前复权\n日期\t开盘\t最高\t最低\t收盘\t成交量\t成交额\n".encode("gbk")
    p.write_bytes(good + b"2021/09/22,7.40,7.52,7.29,7.44,1,2\n\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"SH#601003\.txt: line 4: bytes are not valid GBK"):
        read_export_txt(p)


def test_export_txt_bad_row_names_line(tmp_path: Path) -> None:
    p = tmp_path / "SH#601003.txt"
    text = ("601003 柳钢股份 日线 前复权\n日期\t开盘\t最高\t最低\t收盘\t成交量\t成交额\n"
            "2021/09/22,7.40,7.52,7.29,7.44,1,2\n2021/09/23,7.57,x,7.35,7.48,1,2\n数据来源:通达信\n")
    p.write_bytes(text.encode("gbk"))
    with pytest.raises(DataFormatError, match="line 4: cannot parse"):
        read_export_txt(p)


def test_table_missing_column(tmp_path: Path) -> None:
    p = tmp_path / "daily.csv"
    p.write_text("ts_code,trade_date,open,high,low,close\n600519.SH,20230224,1,1,1,1\n")
    with pytest.raises(DataFormatError, match=r"daily\.csv: missing column\(s\) vol, amount"):
        read_daily_table(p)
    a = tmp_path / "adj.csv"
    a.write_text("ts_code,adj_factor\n600519.SH,1.0\n")
    with pytest.raises(DataFormatError, match="missing column.*trade_date"):
        read_adj_factor_table(a)


def test_table_bad_row_and_empty(tmp_path: Path) -> None:
    p = tmp_path / "daily.csv"
    p.write_text("ts_code,trade_date,open,high,low,close,vol,amount\n"
                 "600519.SH,20230223,1,1,1,1,1,1\n"
                 "600519.SH,20230224,1,abc,1,1,1,1\n")
    with pytest.raises(DataFormatError, match=r"daily\.csv: row 2: cannot parse high='abc'"):
        read_daily_table(p)
    q = tmp_path / "bad_date.csv"
    q.write_text("ts_code,trade_date,open,high,low,close,vol,amount\n600519.SH,2023-99-01,1,1,1,1,1,1\n")
    with pytest.raises(DataFormatError, match="row 1: cannot parse trade_date"):
        read_daily_table(q)
    e = tmp_path / "empty.csv"
    e.write_text("ts_code,trade_date,open,high,low,close,vol,amount\n")
    with pytest.raises(DataFormatError, match="no rows"):
        read_daily_table(e)
    t = tmp_path / "trades.csv"
    t.write_text("symbol,datetime,price,volume_lots,direction\nSH600000,2019-02-01 09:30:00,10,1,7\n")
    with pytest.raises(DataFormatError, match="row 1: cannot parse direction"):
        read_trades_table(t)


def test_minute_csv_unknown_header_and_outside_session(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="unknown 1-minute header"):
        read_minute_csv(p)
    q = tmp_path / "n.csv"
    q.write_text("symbol,id,dt,freq,open,close,high,low,vol\n"
                 "600000.XSHG,0,2020-01-02 12:00:00,F1,1,1,1,1,100\n"
                 "600000.XSHG,1,2020-01-02 15:00:00,F1,1,1,1,1,100\n")
    with pytest.raises(DataFormatError, match="row 1: stamp 2020-01-02 12:00:00 is outside"):
        read_minute_csv(q)
