"""Trades readers on the three real trade files of ``shared/data/trades`` and on broken inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data.tables import TRADES_COLUMNS, read_table, read_trades_table
from tzero.errors import DataFormatError

L2_ZIP = "trades/sh600000_20230201_l2_trades.zip"
SH5_ZIP = "trades/sh_5stocks_20230711_trades.zip"
TDX_PQ = "trades/tdx_trades_2019.parquet"


@pytest.fixture(scope="module")
def l2(data_dir: Path) -> pd.DataFrame:
    """The Level-2 zip read once for the module."""
    return read_trades_table(data_dir / L2_ZIP)


@pytest.fixture(scope="module")
def l2_raw(data_dir: Path) -> pd.DataFrame:
    """The Level-2 zip's CSV as stored (text columns)."""
    return read_table(data_dir / L2_ZIP)


def _check_frame(df: pd.DataFrame) -> None:
    assert list(df.columns) == TRADES_COLUMNS
    assert df["trade_time"].dtype == "datetime64[ns]"
    assert set(df["direction"]) <= {"B", "S", "N"}
    assert (df["price"] > 0).all() and (df["volume"] >= 0).all()    # TDX snapshots hold 0 lots
    key = df[["ts_code", "trade_time"]]
    assert key.equals(key.sort_values(["ts_code", "trade_time"], kind="stable"))


@pytest.mark.data
def test_l2_zip_shanghai_and_shenzhen(l2: pd.DataFrame) -> None:
    df = l2
    _check_frame(df)
    counts = df["ts_code"].value_counts()
    assert counts["600000.SH"] == 14_872                 # data README
    assert counts["000001.SZ"] == 166_811 - 32_996       # rows minus ExecType=4 cancels
    sh = df[df["ts_code"] == "600000.SH"]["direction"].value_counts()
    assert (sh["B"], sh["S"], sh["N"]) == (6_685, 7_887, 300)
    for code in ("600000.SH", "000001.SZ"):
        d = df[df["ts_code"] == code]["direction"]
        assert 0.3 < (d == "B").mean() < 0.7 and (d == "N").mean() < 0.05
    # 09:25 opening call kept, flagged N on both exchanges
    auction = df[df["trade_time"].dt.strftime("%H:%M") == "09:25"]
    assert set(auction["ts_code"]) == {"600000.SH", "000001.SZ"}
    assert (auction["direction"] == "N").all()
    assert df.loc[df["ts_code"] == "600000.SH", "price"].iloc[0] == 7.40   # float noise rounded


@pytest.mark.data
def test_l2_shenzhen_direction_follows_later_order(l2: pd.DataFrame, l2_raw: pd.DataFrame) -> None:
    raw = l2_raw[(l2_raw["SecurityID"] == "000001") & (l2_raw["ExecType"] == "F")]
    t = raw["TradeTime"].str[11:16]
    cont = raw[(t >= "09:30") & (t < "14:57")]
    want = np.where(cont["BidApplSeqNum"].astype(int) > cont["OfferApplSeqNum"].astype(int),
                    "B", "S")
    sz = l2[l2["ts_code"] == "000001.SZ"]
    hm = sz["trade_time"].dt.strftime("%H:%M")
    got = sz[(hm >= "09:30") & (hm < "14:57")]["direction"].to_numpy()
    assert len(got) == len(want)
    assert (got == want).all()          # same file order within equal stamps


@pytest.mark.data
def test_insight_5stocks(data_dir: Path) -> None:
    df = read_trades_table(data_dir / SH5_ZIP)
    _check_frame(df)
    assert len(df) == 109_616
    assert sorted(df["ts_code"].unique()) == ["600536.SH", "600761.SH", "600961.SH",
                                               "601825.SH", "605580.SH"]
    raw = read_table(data_dir / SH5_ZIP)
    buy_later = raw["TradeBuyNo"].astype(int) > raw["TradeSellNo"].astype(int)
    assert (buy_later[raw["TradeBSFlag"] == "1"]).all()        # 1 = buy aggressor
    assert not (buy_later[raw["TradeBSFlag"] == "2"]).any()    # 2 = sell aggressor
    assert (df["direction"] == "B").sum() == (raw["TradeBSFlag"] == "1").sum()
    assert df["trade_time"].min() == pd.Timestamp("2023-07-11 09:25:00.010")


@pytest.mark.data
def test_tdx_parquet_still_read(data_dir: Path) -> None:
    df = read_trades_table(data_dir / TDX_PQ)
    _check_frame(df)
    assert len(df) == 34_100


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


L2_HEAD = ("ChannelNo,ApplSeqNum,BidApplSeqNum,OfferApplSeqNum,SecurityID,TradePrice,TradeQty,"
           "ExecType,TradeTime,TradeBSFlag,Market\n")


def test_l2_small_hand_case(tmp_path: Path) -> None:
    p = _write(tmp_path, L2_HEAD
               + "1,1,5,3,000001,,100,4,2023.02.01T09:31:00.000,,SZ\n"      # cancel: dropped
               + "1,2,7,3,000001,10.0,200,F,2023.02.01T09:31:00.100,,SZ\n"  # bid later: B
               + "1,3,7,9,000001,10.01,300,F,2023.02.01T09:31:01.000,,SZ\n"  # offer later: S
               + "1,4,1,2,000001,10.0,400,F,2023.02.01T15:00:00.000,,SZ\n"  # closing call: N
               + "5,5,1,2,600000,7.400000000000001,100,,2023.02.01T09:25:00.320,N,SH\n")
    df = read_trades_table(p)
    assert df["ts_code"].tolist() == ["000001.SZ"] * 3 + ["600000.SH"]
    assert df["direction"].tolist() == ["B", "S", "N", "N"]
    assert df["volume"].tolist() == [200, 300, 400, 100]
    assert df["price"].iloc[-1] == 7.4


@pytest.mark.parametrize(("body", "needle"), [
    ("1,1,5,3,000001,10,100,X,2023.02.01T09:31:00.000,,SZ\n", "row 1: cannot parse ExecType"),
    ("1,1,5,3,600000,10,100,,2023.02.01T09:31:00.000,Q,SH\n", "row 1: cannot parse TradeBSFlag"),
    ("1,1,5,3,600000,10,100,,2023-02-01 9h,B,SH\n", "row 1: cannot parse TradeTime"),
    ("1,1,5,3,600000,abc,100,,2023.02.01T09:31:00.000,B,SH\n", "row 1: cannot parse TradePrice"),
])
def test_l2_bad_rows_name_file_row_field(tmp_path: Path, body: str, needle: str) -> None:
    p = _write(tmp_path, L2_HEAD + body)
    with pytest.raises(DataFormatError, match=needle):
        read_trades_table(p)


def test_insight_bad_flag(tmp_path: Path) -> None:
    p = _write(tmp_path, "MDDate,MDTime,SecurityID,TradeBSFlag,TradePrice,TradeQty\n"
               "2023.07.11,09:31:00.000,605580.SH,1,14.5,100\n"
               "2023.07.11,09:31:00.000,605580.SH,7,14.5,100\n")
    with pytest.raises(DataFormatError, match=r"t.csv: row 2: cannot parse TradeBSFlag"):
        read_trades_table(p)


def test_unknown_trades_header(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="unknown trades header"):
        read_trades_table(p)


def test_canonical_round_trip(tmp_path: Path) -> None:
    p = _write(tmp_path, "ts_code,trade_time,price,volume,direction\n"
               "600000.SH,2023-02-01 09:31:05,7.4,100,b\n")
    df = read_trades_table(p)
    want = ["600000.SH", pd.Timestamp("2023-02-01 09:31:05"), 7.4, 100.0, "B"]
    assert df.iloc[0].tolist() == want
