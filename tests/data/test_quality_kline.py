"""Store checks (quality) on hand-made and real frames; read_bars adjustment and resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data import quality
from tzero.data.bars import read_bars
from tzero.data.ingest import ingest_tdx
from tzero.data.store import MarketStore
from tzero.data.tables import read_adj_factor_table


def bars(code: str, dates: list[str], close: list[float], **cols) -> pd.DataFrame:
    c = np.asarray(close, dtype=float)
    data = {"ts_code": code, "trade_time": pd.DatetimeIndex(dates), "open": c, "high": c + 0.5,
            "low": c - 0.5, "close": c, "volume": 1000.0, "amount": c * 1000.0}
    data.update(cols)
    return pd.DataFrame(data)


def adj(code: str, dates: list[str], factors: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"ts_code": code, "trade_date": pd.DatetimeIndex(dates),
                         "adj_factor": np.asarray(factors, dtype=float)})


# ------------------------------------------------------------------- quality


@pytest.mark.data
def test_check_adj_factor_flags_real_000001_drop(adj_slice_file: Path) -> None:
    a = read_adj_factor_table(adj_slice_file)
    found = quality.check_adj_factor(a[a["ts_code"] == "000001.SZ"])
    assert [(f.check, f.ts_code, f.trade_time) for f in found] == [
        ("adj_factor_falls", "000001.SZ", "2020-12-31")]
    assert "119.96" in found[0].detail and "99.7874" in found[0].detail


def test_check_adj_factor_rising_is_clean() -> None:
    assert quality.check_adj_factor(adj("600519.SH", ["2023-02-22", "2023-02-23"], [1.0, 1.2])) == []
    assert quality.check_adj_factor(pd.DataFrame()) == []


def test_check_ohlc() -> None:
    b = bars("600519.SH", ["2023-02-22", "2023-02-23", "2023-02-24"], [10.0, 10.0, 10.0])
    b.loc[1, "high"] = 9.0       # high below close
    b.loc[2, "open"] = 0.0       # non-positive price
    found = quality.check_ohlc(b)
    assert [(f.check, f.trade_time) for f in found] == [("ohlc", "2023-02-23"), ("ohlc", "2023-02-24")]
    assert quality.check_ohlc(b.loc[[0]]) == []


def test_check_duplicates() -> None:
    b = bars("600519.SH", ["2023-02-22", "2023-02-23", "2023-02-23"], [10.0, 10.0, 10.5])
    found = quality.check_duplicates(b)
    assert len(found) == 1 and found[0].trade_time.startswith("2023-02-23")
    assert quality.check_duplicates(b.drop_duplicates("trade_time")) == []


def test_check_gaps_three_session_hole() -> None:
    # 2023-01-18, 19, 20 are missing; the Spring Festival days after are not sessions
    b = bars("600519.SH", ["2023-01-16", "2023-01-17", "2023-01-30", "2023-01-31"], [10.0] * 4)
    found = quality.check_gaps(b)
    assert [(f.ts_code, f.trade_time, f.detail) for f in found] == [
        ("600519.SH", "2023-01-18", "3 session(s) without a bar")]
    # the holiday alone is no gap
    assert quality.check_gaps(bars("600519.SH", ["2023-01-20", "2023-01-30"], [10.0, 10.0])) == []


def test_check_moves_flags_30pct_unless_adj_factor_changes() -> None:
    b = bars("600519.SH", ["2023-02-22", "2023-02-23", "2023-02-24"], [10.0, 13.0, 13.1])
    found = quality.check_moves(b, pd.DataFrame())
    assert [(f.check, f.trade_time) for f in found] == [("move", "2023-02-23")]
    assert "+30.0%" in found[0].detail
    # an adj_factor change on the same day explains the jump (ex-date)
    assert quality.check_moves(b, adj("600519.SH", ["2023-02-22", "2023-02-23"], [1.0, 1.3])) == []
    # a change on another day does not
    other = adj("600519.SH", ["2023-02-22", "2023-02-24"], [1.0, 1.3])
    assert [f.trade_time for f in quality.check_moves(b, other)] == ["2023-02-23"]
    # a 10% move is within limits
    assert quality.check_moves(bars("X", ["2023-02-22", "2023-02-23"], [10.0, 11.0]), pd.DataFrame()) == []


def test_check_moves_uses_the_tick_rounded_limit_and_names_context() -> None:
    days = ["2023-02-22", "2023-02-23"]
    # 3.33 * 1.2 = 3.996 -> limit price 4.00: +20.12% at the limit is not an error
    assert quality.check_moves(bars("300001.SZ", days, [3.33, 4.00]), pd.DataFrame()) == []
    # 3.37 * 1.2 = 4.044 -> limit 4.04: a close of 4.05 is past it
    assert len(quality.check_moves(bars("300001.SZ", days, [3.37, 4.05]), pd.DataFrame())) == 1
    # a jump after a suspension says so
    gap = bars("600000.SH", ["2023-02-20", "2023-02-21", "2023-02-24"], [10.0, 10.0, 14.0])
    (f,) = quality.check_moves(gap, pd.DataFrame())
    assert "after 2 missing session(s)" in f.detail


def test_validate_bars_reasons() -> None:
    b = bars("600519.SH", ["2023-02-20", "2023-02-21", "2023-02-22", "2023-02-25"], [10.0] * 4)
    b.loc[1, "low"] = 10.2       # low above open/close
    b.loc[2, "volume"] = -1.0
    v = quality.validate_bars(b, "t.csv", daily=True)
    assert v.reasons() == {"low above open/close": 1, "negative volume": 1, "not a session": 1}
    assert v.accepted["trade_time"].tolist() == [pd.Timestamp("2023-02-20")]


# --------------------------------------------------------------------- bars

DATES = ["2023-02-22", "2023-02-23", "2023-02-24"]
RAW = bars("600519.SH", DATES, [10.0, 10.0, 5.0])   # a 2-for-1 split on 2023-02-24
FACTORS = adj("600519.SH", DATES, [1.0, 1.0, 2.0])


@pytest.fixture
def split_store(tmp_path: Path) -> MarketStore:
    st = MarketStore(tmp_path / "m")
    st.write({"bars_1d": RAW, "adj_factor": FACTORS})
    return st


def test_hfq_and_qfq_hand_checked(split_store: MarketStore) -> None:
    none = read_bars(split_store, ["600519.SH"], "1d", "none")
    assert none["close"].tolist() == [10.0, 10.0, 5.0]
    hfq = read_bars(split_store, ["600519.SH"], "1d", "hfq")
    assert hfq["close"].tolist() == [10.0, 10.0, 10.0]          # raw × factor
    assert hfq["high"].tolist() == [10.5, 10.5, 11.0]
    qfq = read_bars(split_store, ["600519.SH"], "1d", "qfq")
    assert qfq["close"].tolist() == [5.0, 5.0, 5.0]             # raw × factor / 2.0
    assert qfq["low"].tolist() == [4.75, 4.75, 4.5]
    assert qfq["volume"].tolist() == none["volume"].tolist()    # volume never adjusted
    assert list(qfq.columns) == ["ts_code", "trade_time", "open", "high", "low", "close",
                                 "volume", "amount"]


def test_qfq_anchor_is_factor_at_end(split_store: MarketStore) -> None:
    q = read_bars(split_store, ["600519.SH"], "1d", "qfq", end="2023-02-23")
    assert q["close"].tolist() == [10.0, 10.0]   # anchor 1.0: the split is not yet known


def test_qfq_no_look_ahead(tmp_path: Path) -> None:
    known = MarketStore(tmp_path / "a")
    known.write({"bars_1d": RAW.iloc[:2], "adj_factor": FACTORS.iloc[:2].assign(adj_factor=[1.0, 1.5])})
    later = MarketStore(tmp_path / "b")
    later.write({"bars_1d": RAW, "adj_factor": FACTORS.assign(adj_factor=[1.0, 1.5, 3.0])})
    for adjust in ("qfq", "hfq", "none"):
        a = read_bars(known, ["600519.SH"], "1d", adjust, end="2023-02-23")
        b = read_bars(later, ["600519.SH"], "1d", adjust, end="2023-02-23")
        pd.testing.assert_frame_equal(a, b)
    a = read_bars(known, ["600519.SH"], "1d", "qfq", end="2023-02-23")
    assert a["close"].tolist() == [pytest.approx(10 / 1.5), 10.0]


def test_missing_factor_dates_carry_last_factor(tmp_path: Path) -> None:
    st = MarketStore(tmp_path / "m")
    st.write({"bars_1d": RAW, "adj_factor": adj("600519.SH", ["2023-02-22"], [2.0])})
    assert read_bars(st, ["600519.SH"], "1d", "hfq")["close"].tolist() == [20.0, 20.0, 10.0]


@pytest.fixture
def lc1_store(make_tdx, tmp_path: Path) -> MarketStore:
    st = MarketStore(tmp_path / "m")
    ingest_tdx(st, make_tdx())
    return st


@pytest.mark.data
def test_resample_real_lc1_to_5m_and_60m(lc1_store: MarketStore) -> None:
    m1 = read_bars(lc1_store, ["688001.SH"], "1m", "none")
    days = m1["trade_time"].dt.normalize()
    assert len(m1) == 2880 and days.nunique() == 12 and days.value_counts().eq(240).all()

    m5 = read_bars(lc1_store, ["688001.SH"], "5m", "none")
    d5 = m5["trade_time"].dt.normalize()
    assert d5.value_counts().eq(48).all() and len(m5) == 48 * 12

    m60 = read_bars(lc1_store, ["688001.SH"], "60m", "none")
    assert len(m60) == 4 * 12
    for _, g in m60.groupby(m60["trade_time"].dt.normalize()):
        assert list(g["trade_time"].dt.strftime("%H:%M")) == ["10:30", "11:30", "14:00", "15:00"]

    for out in (m5, m60):
        day_out = out.groupby(out["trade_time"].dt.normalize())
        day_in = m1.groupby(days)
        pd.testing.assert_series_equal(day_out["volume"].sum(), day_in["volume"].sum())
        np.testing.assert_allclose(day_out["amount"].sum(), day_in["amount"].sum(), rtol=1e-12)
        np.testing.assert_allclose(day_out["high"].max(), day_in["high"].max())
        np.testing.assert_allclose(day_out["low"].min(), day_in["low"].min())

    # first 5m bar of the first day, by hand from its five 1m bars
    first5 = m1.iloc[:5]
    row = m5.iloc[0]
    assert row["trade_time"].strftime("%H:%M") == "09:35"
    assert (row["open"], row["close"]) == (first5["open"].iloc[0], first5["close"].iloc[-1])
    assert (row["high"], row["low"]) == (first5["high"].max(), first5["low"].min())
    # the 11:30 60m bar holds 10:31..11:30, the 14:00 bar 13:01..14:00 (none spans lunch)
    d0 = m1[days == days.iloc[0]]
    t = d0["trade_time"].dt.strftime("%H:%M")
    am2 = d0[(t > "10:30") & (t <= "11:30")]
    pm1 = d0[(t > "13:00") & (t <= "14:00")]
    assert len(am2) == len(pm1) == 60
    assert m60.iloc[1]["volume"] == am2["volume"].sum()
    assert m60.iloc[2]["volume"] == pm1["volume"].sum()
    assert m60.iloc[2]["open"] == pm1["open"].iloc[0]


@pytest.mark.data
def test_read_bars_date_window(lc1_store: MarketStore) -> None:
    d = read_bars(lc1_store, ["600519.SH"], "1d", "none", start="2023-02-20", end="2023-02-24")
    assert d["trade_time"].dt.strftime("%Y-%m-%d").tolist() == [
        "2023-02-20", "2023-02-21", "2023-02-22", "2023-02-23", "2023-02-24"]


def test_falling_adj_factor_is_repaired_before_adjusting(adj_slice) -> None:
    """000001.SZ's factor falls on 2020-12-31 in the source: qfq must not show a false -16% day."""
    from tzero.data.bars import apply_adjust, repair_falling_factors
    a = adj_slice.loc[adj_slice["ts_code"] == "000001.SZ"].drop_duplicates(["ts_code", "trade_date"])
    a = a.assign(trade_date=pd.to_datetime(a["trade_date"], format="%Y%m%d"))
    fixed = repair_falling_factors(a)
    assert (fixed.groupby("ts_code")["adj_factor"].diff().dropna() >= 0).all()
    d0, d1 = pd.Timestamp("2020-12-30"), pd.Timestamp("2020-12-31")
    raw = bars("000001.SZ", ["2020-12-30", "2020-12-31"], [19.0, 19.14])
    q = apply_adjust(raw, a, "qfq", pd.Timestamp("2023-02-24"))
    r = q["close"].iloc[1] / q["close"].iloc[0] - 1
    assert r == pytest.approx(19.14 / 19.0 - 1, abs=1e-9)
    # genuine later changes keep their size
    later = fixed.loc[fixed["trade_date"] > d1, "adj_factor"].to_numpy()
    orig = a.sort_values("trade_date")
    orig_later = orig.loc[orig["trade_date"] > d1, "adj_factor"].to_numpy()
    np.testing.assert_allclose(later[1:] / later[:-1], orig_later[1:] / orig_later[:-1])
    assert d0 < d1


def test_validate_rejects_bad_stamps() -> None:
    b = bars("600519.SH", ["2023-02-20", "2023-02-21"], [10.0, 10.0])
    b.loc[1, "trade_time"] = pd.Timestamp("2023-02-21 15:00")
    v = quality.validate_bars(b, "d.csv", daily=True)
    assert v.reasons() == {"daily bar not stamped at midnight": 1}
    m = bars("600519.SH", ["2023-02-20", "2023-02-20"], [10.0, 10.0])
    m["trade_time"] = [pd.Timestamp("2023-02-20 09:31"), pd.Timestamp("2023-02-20 12:00")]
    v = quality.validate_bars(m, "m.csv", daily=False)
    assert v.reasons() == {"minute bar outside the trading sessions": 1}
