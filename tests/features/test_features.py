"""Tests of tzero.features: leakage, hand-computed values, spec order."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from tzero.errors import DataFormatError
from tzero.features.indicators import kdj, signal_indicators, volume_ratio
from tzero.features.lstm_features import (
    BASE_FEATURES,
    FEATURE_DESCRIPTIONS,
    FEATURE_NAMES,
    FORECAST_DAYS,
    MIN_TRADING_DAYS,
    SEQ_LEN,
    VOLATILITY_FEATURES,
    WARMUP_ROWS,
    feature_matrix,
    lstm_features,
)
from tzero.settings import get_settings

SPEC_ORDER = [
    "close_norm", "volume_norm", "rsi", "macd_hist", "bb_position", "volatility",
    "obv_norm", "mfi", "aroon_up",
    "日收益率", "收益率绝对值", "收益率符号", "日内振幅", "开盘缺口", "历史波动率_5日",
    "历史波动率_20日", "波动率比", "大涨标记", "大跌标记", "成交量变化率", "量价背离",
]


def _day_file() -> Path | None:
    d = get_settings().data_dir
    if d is None:
        return None
    p = d / "tdx" / "vipdoc" / "sh" / "lday" / "sh600519.day"
    return p if p.is_file() else None


def _read_day(p: Path) -> pd.DataFrame:
    a = np.fromfile(p, dtype="<u4").reshape(-1, 8)
    return pd.DataFrame({
        "ts_code": "600519.SH",
        "trade_time": pd.to_datetime(a[:, 0].astype(str), format="%Y%m%d"),
        "open": a[:, 1] / 100.0, "high": a[:, 2] / 100.0,
        "low": a[:, 3] / 100.0, "close": a[:, 4] / 100.0,
        "volume": a[:, 6].astype(np.float64),
        "amount": np.ascontiguousarray(a[:, 5]).view("<f4").astype(np.float64),
    })


@pytest.fixture(scope="module")
def real_bars() -> pd.DataFrame:
    p = _day_file()
    if p is None:
        pytest.skip("shared data absent: no <data_dir>/tdx/vipdoc/sh/lday/sh600519.day "
                    "(set TZERO_DATA_DIR to the shared data root)")
    return _read_day(p)


def _synthetic_bars(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 20.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * (1 + rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    volume = rng.integers(1_000, 100_000, n).astype(np.float64) * 100
    volume[[i for i in (50, 51, 200) if i < n]] = 0.0  # zero-volume days exercise the guards
    return pd.DataFrame({
        "ts_code": "000001.SZ",
        "trade_time": pd.bdate_range("2020-01-01", periods=n),
        "open": open_, "high": high, "low": low, "close": close,
        "volume": volume, "amount": volume * close,
    })


def _perturb_after(bars: pd.DataFrame, t: int) -> pd.DataFrame:
    """Copy of ``bars`` with every row after position ``t`` changed."""
    b = bars.copy()
    after = np.arange(len(b)) > t
    for c in ("open", "high", "low", "close"):
        b.loc[after, c] = b.loc[after, c] * 1.5
    b.loc[after, "volume"] = b.loc[after, "volume"] * 3 + 7
    b.loc[after, "amount"] = b.loc[after, "amount"] * 4.5
    return b


def _assert_no_lookahead(fn, bars: pd.DataFrame, ts: list[int]) -> None:
    base = fn(bars).to_numpy()
    for t in ts:
        moved = fn(_perturb_after(bars, t)).to_numpy()
        np.testing.assert_array_equal(moved[: t + 1], base[: t + 1],
                                      err_msg=f"{fn.__name__} row <= {t} saw the future")
        # the perturbation must be visible after t, or the test proves nothing
        assert not np.allclose(moved[t + 1:], base[t + 1:], equal_nan=True)


# -- (a) leakage ----------------------------------------------------------------

@pytest.mark.parametrize("fn", [lstm_features, signal_indicators])
def test_no_lookahead_synthetic(fn):
    _assert_no_lookahead(fn, _synthetic_bars(), [30, 70, 95, 150, 300])


@pytest.mark.data
@pytest.mark.parametrize("fn", [lstm_features, signal_indicators])
def test_no_lookahead_real(fn, real_bars):
    n = len(real_bars)
    _assert_no_lookahead(fn, real_bars, [60, WARMUP_ROWS, 500, n // 2, n - 10])


# -- (b) hand-computed values ----------------------------------------------------

def _tiny() -> pd.DataFrame:
    return pd.DataFrame({
        "ts_code": "600000.SH",
        "trade_time": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04",
                                      "2024-01-05", "2024-01-08"]),
        "open": [10.0, 10.5, 11.0, 9.9, 9.9],
        "high": [10.2, 11.2, 11.0, 10.0, 10.89],
        "low": [9.8, 10.4, 9.8, 9.8, 9.9],
        "close": [10.0, 11.0, 9.9, 9.9, 10.89],
        "volume": [100.0, 200.0, 300.0, 0.0, 50.0],
        "amount": [1000.0, 2200.0, 2970.0, 0.0, 544.5],
    }, index=[10, 11, 12, 13, 14])


def test_daily_return_family_by_hand():
    f = lstm_features(_tiny())
    assert list(f.index) == [10, 11, 12, 13, 14]
    nan = np.nan
    r = [nan, 0.1, -0.1, 0.0, 0.1]  # 11/10-1, 9.9/11-1, 9.9/9.9-1, 10.89/9.9-1
    close = dict(rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(f["日收益率"], r, **close)
    np.testing.assert_allclose(f["收益率绝对值"], np.abs(r), **close)
    np.testing.assert_allclose(f["收益率符号"], [nan, 1, -1, 0, 1], **close)
    np.testing.assert_allclose(f["日内振幅"], [nan, 0.8 / 10, 1.2 / 11, 0.2 / 9.9, 0.99 / 9.9],
                               **close)
    np.testing.assert_allclose(f["开盘缺口"], [nan, 0.05, 0.0, 0.0, 0.0], **close)
    np.testing.assert_array_equal(f["大涨标记"], [nan, 1, 0, 0, 1])
    np.testing.assert_array_equal(f["大跌标记"], [nan, 0, 1, 0, 0])
    # 200/100-1, 300/200-1, 0/300-1, and 50 after a zero-volume day -> upper clip 5
    np.testing.assert_allclose(f["成交量变化率"], [nan, 1.0, 0.5, -1.0, 5.0], **close)
    # signs (r, dV): (+,+) (-,+) (0,-) (+,+) -> only row 2 diverges
    np.testing.assert_array_equal(f["量价背离"], [nan, 0, 1, 0, 0])
    # too little history: the windowed features are NaN, never filled
    assert f[["close_norm", "macd_hist", "历史波动率_5日", "volatility"]].isna().all().all()


def test_kdj_by_hand():
    # n=3, m1=m2=3; worked with fractions: K = 2/3 K' + 1/3 RSV, D = 2/3 D' + 1/3 K, K'=D'=50
    h = [10, 11, 12, 11, 10, 10, 10, 13, 12, 14]
    lo = [8, 9, 10, 9, 8, 10, 10, 10, 10, 11]
    c = [9, 10, 11, 10, 9, 10, 10, 12, 11, 13]
    k, d, j = kdj(h, lo, c, n=3)
    # t=2: RSV=(11-8)/(12-8)*100=75, K=2/3*50+25=175/3, D=2/3*50+175/9=475/9
    exp_k = [175 / 3, 50, 125 / 3, 50, 200 / 3, 200 / 3, 500 / 9, 1675 / 27]
    exp_d = [475 / 9, 1400 / 27, 3925 / 81, 11900 / 243, 40000 / 729, 128600 / 2187,
             378700 / 6561, 1164425 / 19683]
    assert np.isnan(k[:2]).all() and np.isnan(d[:2]).all() and np.isnan(j[:2]).all()
    np.testing.assert_allclose(k[2:], exp_k, rtol=1e-12)
    np.testing.assert_allclose(d[2:], exp_d, rtol=1e-12)
    np.testing.assert_allclose(j[2:], 3 * np.array(exp_k) - 2 * np.array(exp_d), rtol=1e-12)


def test_kdj_flat_window_is_neutral():
    k, d, j = kdj([5.0] * 12, [5.0] * 12, [5.0] * 12)
    np.testing.assert_allclose(k[8:], 50.0)
    np.testing.assert_allclose(d[8:], 50.0)
    np.testing.assert_allclose(j[8:], 50.0)


def test_volume_ratio_by_hand():
    v = [100, 200, 300, 400, 500, 600, 0, 900]
    vr = volume_ratio(v, n=5)
    assert np.isnan(vr[:5]).all()
    # 600/mean(100..500)=2; 0/mean(200..600)=0; 900/mean(300,400,500,600,0)=900/360
    np.testing.assert_allclose(vr[5:], [2.0, 0.0, 2.5])
    assert np.isnan(volume_ratio([0, 0, 0, 0, 0, 0, 10], n=5)[5:]).all()  # zero base


def test_bb_position_by_hand():
    b = _synthetic_bars(30, seed=3)
    f = lstm_features(b)
    t = 25
    window = b["close"].to_numpy()[t - 19: t + 1]
    mid, sd = statistics.fmean(window), statistics.pstdev(window)
    expected = (window[-1] - mid) / (4 * sd)  # (upper-lower) = 2*2*sd
    assert f["bb_position"].iloc[t] == pytest.approx(expected, rel=1e-9)
    assert np.isnan(f["bb_position"].iloc[18])


@pytest.mark.data
def test_windowed_features_by_formula(real_bars):
    f = lstm_features(real_bars)
    c, v = real_bars["close"].to_numpy(), real_bars["volume"].to_numpy()
    r = c[1:] / c[:-1] - 1  # r[i] is the return of row i+1
    for t in (WARMUP_ROWS, 700, len(c) - 1):
        w = c[t - SEQ_LEN + 1: t + 1]
        assert f["close_norm"].iloc[t] == pytest.approx((c[t] - w.min()) / (w.max() - w.min()))
        wv = v[t - SEQ_LEN + 1: t + 1]
        assert f["volume_norm"].iloc[t] == pytest.approx((v[t] - wv.min()) / (wv.max() - wv.min()))
        hv5 = statistics.stdev(r[t - 5: t])
        hv20 = statistics.stdev(r[t - 20: t])
        assert f["历史波动率_5日"].iloc[t] == pytest.approx(hv5, rel=1e-9)
        assert f["历史波动率_20日"].iloc[t] == pytest.approx(hv20, rel=1e-9)
        assert f["波动率比"].iloc[t] == pytest.approx(min(hv5 / hv20, 5.0), rel=1e-9)
        assert f["volatility"].iloc[t] == pytest.approx(
            min(hv20 * np.sqrt(252), 2.0) / 2, rel=1e-9)
        _m, _s, hist = talib.MACD(c, 12, 26, 9)
        hw = hist[t - SEQ_LEN + 1: t + 1]
        bound = 3 * statistics.stdev(hw)
        clipped = np.clip(hw, -bound, bound)
        assert f["macd_hist"].iloc[t] == pytest.approx(clipped[-1] / np.abs(clipped).max(),
                                                       rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(f["rsi"], talib.RSI(c, 14) / 100, equal_nan=True)
    assert f[BASE_FEATURES].iloc[WARMUP_ROWS:].abs().max().max() <= 1.0 + 1e-12


# -- (c) shape, order, validity ----------------------------------------------------

def test_names_and_constants_follow_spec():
    assert FEATURE_NAMES == SPEC_ORDER == BASE_FEATURES + VOLATILITY_FEATURES
    assert len(FEATURE_NAMES) == 21 and len(BASE_FEATURES) == 9
    assert list(FEATURE_DESCRIPTIONS) == FEATURE_NAMES
    assert (SEQ_LEN, FORECAST_DAYS, MIN_TRADING_DAYS) == (60, 5, 65)


def test_frame_and_matrix_shapes():
    b = _synthetic_bars(300)
    b.index = b.index + 1000
    f = lstm_features(b)
    assert list(f.columns) == SPEC_ORDER
    assert f.index.equals(b.index)
    x, valid = feature_matrix(b)
    assert x.shape == (300, 21) and x.dtype == np.float32
    assert valid.dtype == bool and valid.shape == (300,)
    assert not valid[:WARMUP_ROWS].any() and valid[WARMUP_ROWS:].all()
    s = signal_indicators(b)
    assert list(s.columns) == [
        "ma5", "ma10", "ma20", "ma60", "boll_upper", "boll_mid", "boll_lower",
        "kdj_k", "kdj_d", "kdj_j", "volume_ratio", "rsi14", "macd", "macd_signal", "macd_hist"]
    assert s.index.equals(b.index) and s.iloc[100:].notna().all().all()


def test_bad_input_says_how_to_fix():
    b = _synthetic_bars(50)
    with pytest.raises(DataFormatError, match="sort_values"):
        lstm_features(b.iloc[::-1])
    with pytest.raises(DataFormatError, match="one ts_code"):
        two = b.copy()
        two.loc[two.index[-1], "ts_code"] = "600000.SH"
        lstm_features(two)
    with pytest.raises(DataFormatError, match="lacks columns"):
        signal_indicators(b.drop(columns="volume"))
