"""Intraday feature builders: hand-computed cases, real trades/bars, and leakage tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data.bars import resample_minutes
from tzero.data.tables import read_trades_table
from tzero.data.tdx import read_lc
from tzero.features.intraday import (
    BAR_FEATURE_COLUMNS,
    TRADE_FLOW_COLUMNS,
    bar_microstructure,
    day_fraction,
    trade_flow,
    trade_minute_close,
)
from tzero.market.sessions import session_stamps


def _trades(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["trade_time", "price", "volume", "direction"])
    df.insert(0, "ts_code", "600000.SH")
    df["trade_time"] = pd.to_datetime(df["trade_time"])
    return df


def test_trade_minute_close_folds_auction_and_session_ends() -> None:
    t = pd.to_datetime(["2023-02-01 09:25:00.300", "2023-02-01 09:30:59.000",
                        "2023-02-01 11:29:10.000", "2023-02-01 11:30:00.000",
                        "2023-02-01 13:00:01.000", "2023-02-01 15:00:00.000"])
    got = trade_minute_close(t).strftime("%H:%M").tolist()
    assert got == ["09:26", "09:31", "11:30", "11:30", "13:01", "15:00"]


def test_trade_flow_hand_computed() -> None:
    tr = _trades([
        ("2023-02-01 09:25:00", 10.0, 30_000, "N"),    # auction 300,000 CNY: large, folded in
        ("2023-02-01 09:30:10", 10.1, 1_000, "B"),
        ("2023-02-01 09:34:00", 10.0, 3_000, "S"),
        ("2023-02-01 09:36:00", 10.0, 500, "B"),       # next 5m bar, no sells
    ])
    out = trade_flow(tr, "5m", large_order_cny=200_000)
    assert list(out.columns) == TRADE_FLOW_COLUMNS
    assert out["trade_time"].dt.strftime("%H:%M").tolist() == ["09:35", "09:40"]
    a, b = out.iloc[0], out.iloc[1]
    assert a["n_trades"] == 3 and a["trade_density"] == pytest.approx(3 / 5)
    assert (a["buy_volume"], a["sell_volume"], a["volume"]) == (1_000, 3_000, 34_000)
    assert a["ofi"] == pytest.approx((1_000 - 3_000) / 4_000)
    assert a["active_buy_ratio"] == pytest.approx(1 / 3)
    assert a["large_share"] == pytest.approx(30_000 / 34_000)
    rv = math.sqrt(math.log(10.1 / 10.0) ** 2 + math.log(10.0 / 10.1) ** 2)
    assert a["realized_vol"] == pytest.approx(rv)
    assert a["vwap"] == pytest.approx((300_000 + 10_100 + 30_000) / 34_000)
    assert b["ofi"] == 1.0 and np.isnan(b["active_buy_ratio"]) and b["realized_vol"] == 0.0


def test_trade_flow_rejects_bad_input() -> None:
    tr = _trades([("2023-02-01 09:31:00", 10.0, 100, "B")])
    with pytest.raises(ValueError, match="unknown intraday frequency"):
        trade_flow(tr, "7m")
    with pytest.raises(ValueError, match="lack columns"):
        trade_flow(tr.drop(columns="direction"))
    with pytest.raises(ValueError, match="outside"):
        trade_flow(_trades([("2023-02-01 12:10:00", 10.0, 100, "B")]))


@pytest.fixture(scope="module")
def l2_trades(data_dir: Path) -> pd.DataFrame:
    return read_trades_table(data_dir / "trades/sh600000_20230201_l2_trades.zip")


@pytest.mark.data
def test_trade_flow_real_l2(l2_trades: pd.DataFrame) -> None:
    out = trade_flow(l2_trades, "5m")
    assert out.groupby("ts_code")["n_trades"].sum().to_dict() == {"000001.SZ": 133_815,
                                                                   "600000.SH": 14_872}
    stamps = set(session_stamps(pd.Timestamp("2023-02-01"), "5m"))
    assert set(out["trade_time"]) <= stamps
    assert out["ofi"].between(-1, 1).all() and out["large_share"].between(0, 1).all()
    total = l2_trades.groupby("ts_code")["volume"].sum()
    assert np.allclose(out.groupby("ts_code")["volume"].sum(), total)


def _assert_no_leak(build, data: pd.DataFrame, cut: pd.Timestamp, cols: list[str],
                    time_col: str = "trade_time") -> None:
    """Change every number after ``cut``; features stamped <= cut must not move."""
    before = build(data)
    changed = data.copy()
    late = changed[time_col] > cut
    for c in ("open", "high", "low", "close", "price"):
        if c in changed:
            changed.loc[late, c] = changed.loc[late, c] * 1.37
    for c in ("volume", "amount"):
        if c in changed:
            changed.loc[late, c] = changed.loc[late, c] * 5 + 100
    if "direction" in changed:
        changed.loc[late, "direction"] = "B"
    after = build(changed)
    a = before[before["trade_time"] <= cut].reset_index(drop=True)
    b = after[after["trade_time"] <= cut].reset_index(drop=True)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a[cols], b[cols])


@pytest.mark.data
def test_trade_flow_no_leak(l2_trades: pd.DataFrame) -> None:
    cut = pd.Timestamp("2023-02-01 10:30:00")
    cols = TRADE_FLOW_COLUMNS
    _assert_no_leak(lambda t: trade_flow(t, "5m"), l2_trades, cut, cols)
    _assert_no_leak(lambda t: trade_flow(t, "1m"), l2_trades, cut, cols)


@pytest.fixture(scope="module")
def lc1(data_dir: Path) -> pd.DataFrame:
    return read_lc(data_dir / "tdx/vipdoc/sh/minline/sh688001.lc1")


@pytest.mark.data
def test_bar_microstructure_real_and_no_leak(lc1: pd.DataFrame) -> None:
    bars = resample_minutes(lc1, "5m").reset_index(drop=True)
    f = bar_microstructure(bars, lookback_days=3)
    assert list(f.columns) == BAR_FEATURE_COLUMNS and len(f) == len(bars)
    day = f["trade_time"].dt.normalize()
    assert f.loc[day == day.min(), "rel_volume"].isna().all()       # no previous day yet
    assert f.loc[day > day.min(), "rel_volume"].notna().mean() > 0.9
    assert f["clv"].between(-1, 1).all() and f["flow_imbalance"].dropna().between(-1, 1).all()
    for cut in (bars["trade_time"].iloc[100], bars["trade_time"].iloc[300]):
        _assert_no_leak(lambda b: bar_microstructure(b, lookback_days=3), bars, cut,
                        BAR_FEATURE_COLUMNS)


def test_bar_microstructure_hand_computed() -> None:
    t = pd.to_datetime(["2023-02-01 09:35", "2023-02-01 09:40", "2023-02-02 09:35",
                        "2023-02-02 09:40"])
    bars = pd.DataFrame({"ts_code": "600000.SH", "trade_time": t,
                         "open": [10.0, 10.0, 10.5, 10.4], "high": [10.2, 10.1, 10.6, 10.4],
                         "low": [9.9, 9.9, 10.3, 10.2], "close": [10.0, 10.1, 10.4, 10.3],
                         "volume": [1000.0, 500.0, 2000.0, 0.0], "amount": np.nan})
    f = bar_microstructure(bars, lookback_days=20, flow_window=2)
    assert f["ret"].tolist() == pytest.approx([0.0, math.log(10.1 / 10.0), math.log(10.4 / 10.5),
                                               math.log(10.3 / 10.4)])   # overnight gap left out
    assert f["rel_volume"].iloc[2] == pytest.approx(2.0) and f["rel_volume"].iloc[3] == 0.0
    assert f["clv"].iloc[0] == pytest.approx((0.1 - 0.2) / 0.3)
    assert f["illiquidity"].iloc[1] == pytest.approx(math.log(1.01) / (500 / 1e6))
    assert np.isnan(f["illiquidity"].iloc[3])                            # zero volume
    sv = f["signed_volume"].to_numpy()
    assert f["flow_imbalance"].iloc[1] == pytest.approx((sv[0] + sv[1]) / 1500)


def test_day_fraction() -> None:
    t = pd.to_datetime(["2023-02-01 09:31", "2023-02-01 11:30", "2023-02-01 15:00"])
    assert day_fraction(t).tolist() == pytest.approx([1 / 240, 0.5, 1.0])
