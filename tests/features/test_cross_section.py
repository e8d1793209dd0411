"""Tests of tzero.features.cross_section: scale-free windows, VWAP, labels, scaling, leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tzero.features.cross_section import (
    ALPHA_CHANNELS,
    RANK_TO_UNIT_STD,
    RobustScaler,
    ScalerParams,
    alpha_inputs,
    alpha_rows,
    input_rows,
    per_date_normalise,
    tradeable_return,
    vwap,
)
from tzero.features.lstm_features import WARMUP_ROWS
from tzero.settings import get_settings


def _bars(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 20.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * (1 + rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.001, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.001, 0.02, n))
    volume = rng.integers(1_000, 100_000, n).astype(np.float64) * 100
    mid = (high + low + close) / 3
    return pd.DataFrame({
        "ts_code": "000001.SZ",
        "trade_time": pd.bdate_range("2021-01-04", periods=n),
        "open": open_, "high": high, "low": low, "close": close,
        "volume": volume, "amount": volume * (0.6 * mid + 0.4 * close),
    })


def test_alpha_rows_are_logs_and_vwap_is_amount_over_volume() -> None:
    b = _bars(20)
    r = alpha_rows(b)
    assert r.shape == (20, len(ALPHA_CHANNELS))
    np.testing.assert_allclose(r[:, 3], np.log(b["close"]))
    np.testing.assert_allclose(np.exp(r[:, 4]), b["amount"] / b["volume"])
    np.testing.assert_allclose(r[:, 5], np.log1p(b["volume"]))


def test_vwap_falls_back_to_typical_price_without_amount() -> None:
    b = _bars(10)
    typical = (b["high"] + b["low"] + b["close"]) / 3
    np.testing.assert_allclose(vwap(b.drop(columns="amount")), typical)
    b.loc[[2, 5], "amount"] = np.nan
    b.loc[7, "volume"] = 0.0          # no trade: amount / volume undefined
    b.loc[8, "amount"] *= 100          # volume in lots, amount in CNY: outside the range
    v = vwap(b)
    for i in (2, 5, 7, 8):
        assert v[i] == pytest.approx(typical[i])
    assert v[0] == pytest.approx(b["amount"][0] / b["volume"][0])


def test_vwap_price_factor_adjusts_unadjusted_amount() -> None:
    b = _bars(10)
    qfq = b.copy()
    for k in ("open", "high", "low", "close"):
        qfq[k] = b[k] * 0.5                       # a 2:1 split after these rows
    factor = np.full(10, 0.5)
    np.testing.assert_allclose(vwap(qfq, factor), vwap(b) * 0.5)
    typical = (qfq["high"] + qfq["low"] + qfq["close"]) / 3
    np.testing.assert_allclose(vwap(qfq), typical)   # without the factor: range check falls back


def test_zero_volume_gives_finite_rows() -> None:
    b = _bars(30)
    b.loc[[3, 4], "volume"] = 0.0
    b.loc[[3, 4], "amount"] = 0.0
    r = alpha_rows(b)
    assert np.isfinite(r).all()
    assert r[3, 5] == 0.0
    w = alpha_inputs(b, window=5)
    assert np.isfinite(w[4:]).all()


def test_non_positive_prices_are_nan() -> None:
    b = _bars(10)
    b.loc[4, "low"] = -1.0
    r = alpha_rows(b)
    assert np.isnan(r[4, 2]) and np.isfinite(r[5]).all()


def test_alpha_inputs_are_ratios_to_the_last_close_and_volume() -> None:
    b = _bars(80)
    L = 10
    w = alpha_inputs(b, window=L)
    assert w.shape == (80, L, 6)
    assert np.isnan(w[: L - 1]).all() and np.isfinite(w[L - 1 :]).all()
    t = 50
    rows = b.iloc[t - L + 1 : t + 1]
    c_t, v_t = b["close"][t], b["volume"][t]
    np.testing.assert_allclose(np.exp(w[t, :, 0]), rows["open"] / c_t, rtol=1e-12)
    np.testing.assert_allclose(np.exp(w[t, :, 3]), rows["close"] / c_t, rtol=1e-12)
    np.testing.assert_allclose(np.exp(w[t, :, 4]), vwap(b)[t - L + 1 : t + 1] / c_t, rtol=1e-12)
    np.testing.assert_allclose(w[t, :, 5], np.log1p(rows["volume"]) - np.log1p(v_t))
    assert w[t, -1, 3] == 0.0 and w[t, -1, 5] == 0.0


def test_scale_free_windows_do_not_depend_on_the_price_level() -> None:
    b = _bars(60)
    b2 = b.copy()
    for k in ("open", "high", "low", "close"):
        b2[k] *= 3.0
    b2["amount"] *= 3.0
    b2["volume"] *= 1.0
    np.testing.assert_allclose(alpha_inputs(b, 20)[19:], alpha_inputs(b2, 20)[19:], atol=1e-12)


def test_input_rows_with_lstm_features() -> None:
    b = _bars(200)
    ir = input_rows(b, lstm_features=True)
    assert ir.rows.shape == (200, 27) and ir.rows.dtype == np.float32
    assert len(ir.names) == 27 and ir.names[:6] == ALPHA_CHANNELS
    assert np.isfinite(ir.rows[WARMUP_ROWS:]).all()
    assert input_rows(b).rows.shape == (200, 6)


@pytest.mark.parametrize("t", [60, 120, 198])
def test_inputs_at_or_before_t_ignore_later_bars(t: int) -> None:
    b = _bars(200)
    changed = b.copy()
    after = changed.index > t
    for k in ("open", "high", "low", "close", "amount"):
        changed.loc[after, k] = changed.loc[after, k] * 1.7
    changed.loc[after, "volume"] = changed.loc[after, "volume"] * 0.2
    a, a2 = input_rows(b, lstm_features=True).rows, input_rows(changed, lstm_features=True).rows
    np.testing.assert_array_equal(a[: t + 1], a2[: t + 1])
    w, w2 = alpha_inputs(b, 30), alpha_inputs(changed, 30)
    np.testing.assert_array_equal(w[: t + 1], w2[: t + 1])


def test_tradeable_return_is_next_to_following_close() -> None:
    close = np.array([10.0, 11.0, 12.1, 10.89, 10.0])
    r = tradeable_return(close)
    np.testing.assert_allclose(r[:3], [0.1, -0.1, 10.0 / 10.89 - 1])
    assert np.isnan(r[3:]).all()
    assert np.isnan(tradeable_return(np.array([1.0, 2.0]))).all()


@pytest.mark.parametrize("t", [5, 50, 96])
def test_tradeable_label_at_t_changes_only_through_later_rows(t: int) -> None:
    close = _bars(100)["close"].to_numpy()
    base = tradeable_return(close)
    past = close.copy()
    past[: t + 1] *= 1.5                      # rows <= t: the label at t must not move
    assert tradeable_return(past)[t] == base[t]
    fut = close.copy()
    fut[t + 2] *= 1.1                         # row t + 2: it must
    assert tradeable_return(fut)[t] != base[t]
    far = close.copy()
    far[t + 3 :] *= 0.5                       # beyond the horizon: no change
    assert tradeable_return(far)[t] == base[t]


def test_per_date_rank_and_zscore() -> None:
    y = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 7.0, 4.0])
    d = np.array([0, 0, 0, 1, 1, 1, 2])
    r = per_date_normalise(y, d, "rank")
    np.testing.assert_allclose(r[:3], (np.array([0.5, 1.5, 2.5]) / 3 - 0.5) * RANK_TO_UNIT_STD)
    assert np.isnan(r[3])
    np.testing.assert_allclose(r[4:6], [(0.5 / 2 - 0.5) * RANK_TO_UNIT_STD,
                                        (1.5 / 2 - 0.5) * RANK_TO_UNIT_STD])
    assert r[6] == 0.0
    z = per_date_normalise(y, d, "zscore")
    np.testing.assert_allclose(z[:3], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    np.testing.assert_allclose(z[4:6], [-1.0, 1.0])
    assert z[6] == 0.0 and np.isnan(z[3])
    two = per_date_normalise(np.stack([y, -y], axis=1), d, "rank")
    np.testing.assert_allclose(two[:, 0], r, equal_nan=True)
    np.testing.assert_allclose(two[:3, 1], -r[:3])
    with pytest.raises(ValueError, match="method"):
        per_date_normalise(y, d, "minmax")


def test_robust_scaler_median_mad_clip_and_roundtrip() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(3.0, 2.0, 4001), np.zeros(4001)])
    x[::500, 1] = 1.0                                # a mostly-zero flag: MAD 0 → std
    x[0, 0] = 1e6                                    # an outlier
    p = RobustScaler(clip=5.0).fit(x)
    assert p.center[0] == pytest.approx(3.0, abs=0.1)
    assert p.scale[0] == pytest.approx(2.0, rel=0.05)
    assert p.scale[1] == pytest.approx(np.std(x[:, 1]))
    z = p.transform(x.astype(np.float32))
    assert z.dtype == np.float32 and z[0, 0] == 5.0 and np.abs(z).max() <= 5.0
    q = ScalerParams.from_dict(p.to_dict())
    np.testing.assert_array_equal(q.transform(x), p.transform(x))
    nan_in = p.transform(np.array([[np.nan, 0.0]]))
    assert np.isnan(nan_in[0, 0])
    with pytest.raises(ValueError, match="no finite"):
        RobustScaler().fit(np.full((3, 1), np.nan))


def test_real_bars_use_the_real_vwap() -> None:
    d = get_settings().data_dir
    p = d / "tdx" / "vipdoc" / "sh" / "lday" / "sh600519.day" if d is not None else None
    if p is None or not p.is_file():
        pytest.skip("shared data absent: set TZERO_DATA_DIR to the shared data root")
    a = np.fromfile(p, dtype="<u4").reshape(-1, 8)[-300:]
    b = pd.DataFrame({
        "ts_code": "600519.SH",
        "trade_time": pd.to_datetime(a[:, 0].astype(str), format="%Y%m%d"),
        "open": a[:, 1] / 100.0, "high": a[:, 2] / 100.0,
        "low": a[:, 3] / 100.0, "close": a[:, 4] / 100.0,
        "volume": a[:, 6].astype(np.float64),
        "amount": np.ascontiguousarray(a[:, 5]).view("<f4").astype(np.float64),
    })
    v = vwap(b)
    raw = b["amount"] / b["volume"]
    assert (np.isclose(v, raw)).mean() > 0.99        # unadjusted bars: amount / volume is in range
    w = alpha_inputs(b, 60)
    assert np.isfinite(w[59:]).all()
    assert np.abs(w[59:, :, :5]).max() < 1.0          # prices within e^±1 of the last close


def test_snapshot_rows_no_look_ahead() -> None:
    """Changing rows after t leaves every snapshot at or before t unchanged."""
    from tzero.features.cross_section import SNAPSHOT_NAMES, snapshot_rows

    rng = np.random.default_rng(0)
    rows = np.cumsum(rng.normal(0, 0.01, (80, 6)), axis=0).astype(np.float32)
    offsets = np.array([0, 50, 80])
    base = snapshot_rows(rows, offsets)
    assert base.shape == (80, len(SNAPSHOT_NAMES)) and np.isfinite(base).all()
    changed = rows.copy()
    changed[30:50] += 1.0          # the future of series 0 after row 29
    after = snapshot_rows(changed, offsets)
    np.testing.assert_array_equal(after[:30], base[:30])
    np.testing.assert_array_equal(after[50:], base[50:])     # the other series untouched
    np.testing.assert_allclose(base[1:50, 0], np.diff(rows[:50, 3]), rtol=1e-5, atol=1e-7)
