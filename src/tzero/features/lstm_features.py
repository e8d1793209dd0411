"""The 21 LSTM input features of spec 002 §2 (9 base + 12 volatility), causal.

Source: ``shared/specs/002_3be2e9444b98cfe4.txt`` §1 (SEQ_LEN, FORECAST_DAYS,
MIN_TRADING_DAYS) and §2 (feature names, order and the base definitions). The
spec only names the 12 volatility features; their exact definitions are ours
and are written out in :data:`FEATURE_DESCRIPTIONS`.

No look-ahead: every feature at row ``t`` depends only on rows ``<= t``. All
normalisations use trailing windows ending at ``t`` (never the whole series),
TA-Lib and pandas rolling functions are causal, and nothing is back-filled.
Rows before enough history are NaN; with the definitions below the first
fully valid row is :data:`WARMUP_ROWS` (= 92, set by ``macd_hist``: 33 rows of
MACD warm-up plus a 60-row scaling window). A 60-step input sequence therefore
needs ``WARMUP_ROWS + SEQ_LEN`` = 152 sessions, more than the spec's
``MIN_TRADING_DAYS`` (65), which is kept as the spec's value.

Returns are decimal (0.01 = 1 %), computed on forward-adjusted closes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tzero.features.indicators import _f64, boll, check_bars, macd, mfi, obv, rsi
from tzero.features.indicators import aroon_up as _aroon_up

SEQ_LEN = 60
"""Input sequence length in sessions (spec 002 §1); also the min-max window."""
FORECAST_DAYS = 5
"""Forecast horizon in sessions (spec 002 §1)."""
MIN_TRADING_DAYS = 65
"""Spec 002 §1 minimum number of sessions (see the module note on warm-up)."""

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
MACD_CLIP_SIGMAS = 3.0
"""``macd_hist`` is clipped to ± this many trailing standard deviations."""
BOLL_PERIOD, BOLL_K = 20, 2.0
VOL_WINDOW = 20
"""Window of the annualised ``volatility`` feature, in sessions."""
TRADING_DAYS_PER_YEAR = 252
VOLATILITY_CAP = 2.0
"""Annualised volatility is clipped to [0, VOLATILITY_CAP] then divided by it."""
MFI_PERIOD = 14
AROON_PERIOD = 20
HV_SHORT, HV_LONG = 5, 20
VOL_RATIO_MAX = 5.0
"""``波动率比`` is clipped to [0, VOL_RATIO_MAX]."""
BIG_MOVE_THRESHOLD = 0.05
"""|daily return| above 5 % marks a big move: half the 10 % main-board price
limit (SSE/SZSE main board since 1996-12-16; 20 % on STAR/ChiNext, 30 % on BSE,
where 5 % is a smaller share of the limit but kept for one comparable flag)."""
VOLUME_CHANGE_MIN, VOLUME_CHANGE_MAX = -1.0, 5.0
"""``成交量变化率`` is clipped to this range (−100 % .. +500 %)."""
_EPS = 1e-12
"""Spreads at or below this are treated as zero (guards rolling-sum rounding)."""

BASE_FEATURES: list[str] = [
    "close_norm", "volume_norm", "rsi", "macd_hist", "bb_position",
    "volatility", "obv_norm", "mfi", "aroon_up",
]
VOLATILITY_FEATURES: list[str] = [
    "日收益率", "收益率绝对值", "收益率符号", "日内振幅", "开盘缺口",
    "历史波动率_5日", "历史波动率_20日", "波动率比", "大涨标记", "大跌标记",
    "成交量变化率", "量价背离",
]
FEATURE_NAMES: list[str] = BASE_FEATURES + VOLATILITY_FEATURES
"""The 21 feature columns in spec 002 §2 order."""

WARMUP_ROWS = (MACD_SLOW + MACD_SIGNAL - 2) + (SEQ_LEN - 1)
"""Index of the first row where all 21 features are defined (given clean input)."""

FEATURE_DESCRIPTIONS: dict[str, str] = {
    "close_norm": "收盘价在 SEQ_LEN 内 min-max 归一化: (C_t - min(C_{t-59..t})) / "
                  "(max - min) over the trailing 60 sessions; 0.5 when max == min.",
    "volume_norm": "成交量在 SEQ_LEN 内 min-max 归一化: (V_t - min(V_{t-59..t})) / "
                   "(max - min) over the trailing 60 sessions; 0.5 when max == min.",
    "rsi": "RSI(14)，归一化到 [0,1]: TA-Lib RSI(C, 14) / 100.",
    "macd_hist": "MACD(12,26,9) 柱，裁剪后按最大值缩放: h = TA-Lib MACD hist (DIF-DEA); "
                 "b_t = 3 * std(h_{t-59..t}, ddof=1); m_t = max|h_{t-59..t}|; "
                 "value = clip(h_t, -b_t, b_t) / min(b_t, m_t), i.e. every h in the "
                 "trailing 60-window clipped to ±b_t, then divided by the largest |clipped| "
                 "value in that window; in [-1, 1]; 0 when the window is flat.",
    "bb_position": "(close-mid)/(upper-lower)，布林带位置: BOLL(20, 2) from TA-Lib BBANDS "
                   "(SMA mid, population std); 0 when upper == lower.",
    "volatility": "20 日滚动波动率(年化)，裁剪到 [0,2]/2: "
                  "clip(std(r_{t-19..t}, ddof=1) * sqrt(252), 0, 2) / 2, r = C_t/C_{t-1} - 1.",
    "obv_norm": "OBV 在 SEQ_LEN 内 min-max 归一化: TA-Lib OBV(C, V), then (OBV_t - min) / "
                "(max - min) over the trailing 60 sessions; 0.5 when max == min.",
    "mfi": "MFI(14)，归一化到 [0,1]: TA-Lib MFI(H, L, C, V, 14) / 100.",
    "aroon_up": "Aroon(20) up，归一化到 [0,1]: TA-Lib AROON(H, L, 20) up / 100.",
    "日收益率": "r_t = C_t / C_{t-1} - 1 (decimal).",
    "收益率绝对值": "|r_t|.",
    "收益率符号": "sign(r_t) in {-1, 0, 1}.",
    "日内振幅": "(H_t - L_t) / C_{t-1}.",
    "开盘缺口": "O_t / C_{t-1} - 1.",
    "历史波动率_5日": "std(r_{t-4..t}, ddof=1), daily (not annualised).",
    "历史波动率_20日": "std(r_{t-19..t}, ddof=1), daily (not annualised).",
    "波动率比": "clip(hv5_t / hv20_t, 0, 5); 1.0 when hv20_t == 0 (then hv5_t == 0 too).",
    "大涨标记": "1.0 if r_t > 0.05 else 0.0 (5 % = half the 10 % main-board limit).",
    "大跌标记": "1.0 if r_t < -0.05 else 0.0.",
    "成交量变化率": "clip(V_t / V_{t-1} - 1, -1, 5); when V_{t-1} == 0: 0 if V_t == 0 else 5.",
    "量价背离": "1.0 if sign(r_t) * sign(V_t - V_{t-1}) == -1 (price and volume move in "
                "opposite directions, both non-zero) else 0.0.",
}


def _rolling_minmax(x: np.ndarray, n: int) -> np.ndarray:
    """Trailing-window min-max scaling ``(x_t - min) / (max - min)`` over ``n`` rows.

    Args:
        x: ``[T]`` float64.
        n: window length; the first ``n-1`` rows are NaN.

    Returns:
        ``[T]`` float64 in [0, 1]; 0.5 where the window is flat.
    """
    s = pd.Series(x)
    r = s.rolling(n, min_periods=n)
    lo, hi = r.min().to_numpy(), r.max().to_numpy()
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(span > _EPS * np.maximum(np.abs(hi), 1.0), (x - lo) / span, 0.5)
    out[np.isnan(span) | np.isnan(x)] = np.nan
    return out


def _scaled_macd_hist(close: np.ndarray) -> np.ndarray:
    """``macd_hist`` feature: clip to ±3σ and scale by the max, all in the trailing window.

    Args:
        close: ``[T]`` closes, CNY.

    Returns:
        ``[T]`` float64 in [-1, 1]; see ``FEATURE_DESCRIPTIONS['macd_hist']``.
    """
    _m, _s, h = macd(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)
    hs = pd.Series(h)
    bound = MACD_CLIP_SIGMAS * hs.rolling(SEQ_LEN, min_periods=SEQ_LEN).std().to_numpy()
    peak = hs.abs().rolling(SEQ_LEN, min_periods=SEQ_LEN).max().to_numpy()
    scale = np.minimum(bound, peak)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(scale > _EPS, np.clip(h, -bound, bound) / scale, 0.0)
    out[np.isnan(scale) | np.isnan(h)] = np.nan
    return out


def _base_features(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                   v: np.ndarray, r: pd.Series) -> dict[str, np.ndarray]:
    """The 9 base features (spec 002 §2.1/§2.3) as ``{name: [T] float64}``."""
    upper, mid, lower = boll(c, BOLL_PERIOD, BOLL_K)
    width = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        bb = np.where(width > _EPS, (c - mid) / width, 0.0)
    bb[np.isnan(width)] = np.nan
    vol = r.rolling(VOL_WINDOW, min_periods=VOL_WINDOW).std().to_numpy()
    vol = np.clip(vol * np.sqrt(TRADING_DAYS_PER_YEAR), 0.0, VOLATILITY_CAP) / VOLATILITY_CAP
    return {
        "close_norm": _rolling_minmax(c, SEQ_LEN),
        "volume_norm": _rolling_minmax(v, SEQ_LEN),
        "rsi": rsi(c, RSI_PERIOD) / 100.0,
        "macd_hist": _scaled_macd_hist(c),
        "bb_position": bb,
        "volatility": vol,
        "obv_norm": _rolling_minmax(obv(c, v), SEQ_LEN),
        "mfi": mfi(h, lo, c, v, MFI_PERIOD) / 100.0,
        "aroon_up": _aroon_up(h, lo, AROON_PERIOD) / 100.0,
    }


def _nan_where(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x[missing] = np.nan
    return x


def _volatility_features(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                         v: np.ndarray, r: pd.Series) -> dict[str, np.ndarray]:
    """The 12 volatility features (spec 002 §2.2) as ``{name: [T] float64}``."""
    prev_c = np.concatenate([[np.nan], c[:-1]])
    prev_v = np.concatenate([[np.nan], v[:-1]])
    ra = r.to_numpy()
    r_nan = np.isnan(ra)
    hv5 = r.rolling(HV_SHORT, min_periods=HV_SHORT).std().to_numpy()
    hv20 = r.rolling(HV_LONG, min_periods=HV_LONG).std().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(hv20 > _EPS, hv5 / hv20, 1.0)
        vchg = np.where(prev_v > 0, v / prev_v - 1.0,
                        np.where(v > 0, VOLUME_CHANGE_MAX, 0.0))
    ratio = _nan_where(np.clip(ratio, 0.0, VOL_RATIO_MAX), np.isnan(hv20) | np.isnan(hv5))
    vchg = _nan_where(np.clip(vchg, VOLUME_CHANGE_MIN, VOLUME_CHANGE_MAX),
                      np.isnan(prev_v) | np.isnan(v))
    dv_sign = np.sign(v - prev_v)
    return {
        "日收益率": ra,
        "收益率绝对值": np.abs(ra),
        "收益率符号": np.sign(ra),
        "日内振幅": (h - lo) / prev_c,
        "开盘缺口": o / prev_c - 1.0,
        "历史波动率_5日": hv5,
        "历史波动率_20日": hv20,
        "波动率比": ratio,
        "大涨标记": _nan_where(ra > BIG_MOVE_THRESHOLD, r_nan),
        "大跌标记": _nan_where(ra < -BIG_MOVE_THRESHOLD, r_nan),
        "成交量变化率": vchg,
        "量价背离": _nan_where(np.sign(ra) * dv_sign == -1.0, r_nan | np.isnan(dv_sign)),
    }


def lstm_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Compute the 21 spec-002 LSTM features for one symbol's daily bars.

    Args:
        bars: one symbol's daily Bars frame (``open, high, low, close`` in CNY,
            forward-adjusted; ``volume`` in shares), sorted by ``trade_time``.

    Returns:
        DataFrame ``[T, 21]`` of float64 with columns :data:`FEATURE_NAMES` (in
        spec order) and the index of ``bars``. Rows without enough history are
        NaN (all rows from :data:`WARMUP_ROWS` on are defined for clean input).
        Row ``t`` depends only on rows ``<= t``. Definitions:
        :data:`FEATURE_DESCRIPTIONS`.

    Raises:
        DataFormatError: missing columns, unsorted ``trade_time`` or several
            symbols (see :func:`tzero.features.indicators.check_bars`).
    """
    check_bars(bars, "lstm_features")
    o, h, lo, c, v = (_f64(bars[k]) for k in ("open", "high", "low", "close", "volume"))
    r = pd.Series(c).pct_change(fill_method=None)
    cols = _base_features(o, h, lo, c, v, r)
    cols.update(_volatility_features(o, h, lo, c, v, r))
    return pd.DataFrame({k: cols[k] for k in FEATURE_NAMES}, index=bars.index)


def feature_matrix(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The LSTM features as a model-ready array plus a row-validity mask.

    Args:
        bars: one symbol's daily Bars frame, as for :func:`lstm_features`.

    Returns:
        ``(X, valid)``: ``X`` is ``[T, 21]`` float32 in :data:`FEATURE_NAMES`
        order (NaN where undefined); ``valid`` is ``[T]`` bool, True where all
        21 features are finite.

    Raises:
        DataFormatError: as :func:`lstm_features`.
    """
    x = lstm_features(bars).to_numpy(dtype=np.float32)
    valid = np.isfinite(x).all(axis=1)
    return x, valid
