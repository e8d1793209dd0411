"""Technical indicators: thin wrappers over TA-Lib, plus the Chinese KDJ and 量比.

Every function takes 1-D array-likes (numpy arrays or pandas Series) of equal
length ``T``, ordered oldest first, and returns ``float64`` numpy arrays of
length ``T``. Rows without enough history are ``NaN``. Every output at row
``t`` depends only on rows ``<= t`` (TA-Lib is causal; the two hand-written
indicators are checked by ``tests/features/test_features.py``).

Units: prices in CNY (forward-adjusted), volume in shares, amount in CNY.
Oscillators (RSI, KDJ, MFI, Aroon) are on TA-Lib's 0..100 scale.

Where a Chinese trading-software convention differs from TA-Lib's, the
docstring says which one is used:

* BOLL: TA-Lib ``BBANDS`` uses the population standard deviation (ddof=0);
  software whose ``STD`` is the sample estimate (ddof=1) draws bands wider by
  ``sqrt(n/(n-1))`` (about 2.6 % for n=20). This module uses ddof=0.
* MACD: TA-Lib's histogram is ``DIF - DEA``; Chinese software often plots
  ``2*(DIF - DEA)``. This module returns TA-Lib's (unscaled) value.
* KDJ: the Chinese recursive form (not TA-Lib ``STOCH``), see :func:`kdj`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from tzero.errors import DataFormatError

#: Starting value of K and D in the Chinese recursive KDJ (通达信/同花顺 convention).
KDJ_SEED = 50.0
#: RSV used when the n-day high equals the n-day low (zero range): neutral 50.
KDJ_FLAT_RSV = 50.0

BARS_COLUMNS = ("open", "high", "low", "close", "volume")


def _f64(x) -> np.ndarray:
    """Contiguous float64 copy/view of a 1-D array-like (TA-Lib requires it)."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if a.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {a.shape}; pass one column")
    return a


def ma(close, n: int) -> np.ndarray:
    """Simple moving average ``MA(C, n)``.

    Args:
        close: closing prices, shape ``[T]``, CNY.
        n: window length in sessions.

    Returns:
        ``[T]`` float64, CNY; first ``n-1`` rows NaN. Source: TA-Lib ``SMA``.
    """
    return talib.SMA(_f64(close), timeperiod=n)


def boll(close, n: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands ``BOLL(n, k)``.

    ``mid = MA(C, n)``, ``upper/lower = mid ± k * std(C, n)`` with the
    population standard deviation (ddof=0) over the last ``n`` closes.

    Args:
        close: closing prices, shape ``[T]``, CNY.
        n: window length in sessions.
        k: band width in standard deviations.

    Returns:
        ``(upper, mid, lower)``, each ``[T]`` float64 in CNY; first ``n-1`` rows
        NaN. Source: TA-Lib ``BBANDS`` (matype=0, SMA).
    """
    upper, mid, lower = talib.BBANDS(_f64(close), timeperiod=n, nbdevup=k, nbdevdn=k,
                                     matype=talib.MA_Type.SMA)
    return upper, mid, lower


def kdj(high, low, close, n: int = 9, m1: int = 3, m2: int = 3
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chinese stochastic oscillator KDJ(n, m1, m2), recursive form.

    Formula (通达信/同花顺 ``KDJ`` formula; the Chinese ``SMA(X, N, 1)`` is the
    recursive mean ``Y = (X + (N-1) * Y') / N``)::

        RSV_t = (C_t - LLV(L, n)_t) / (HHV(H, n)_t - LLV(L, n)_t) * 100
        K_t   = (m1-1)/m1 * K_{t-1} + 1/m1 * RSV_t        # m1=3: 2/3 K' + 1/3 RSV
        D_t   = (m2-1)/m2 * D_{t-1} + 1/m2 * K_t
        J_t   = 3 K_t - 2 D_t

    ``K`` and ``D`` start from ``K_{t0-1} = D_{t0-1} = 50`` (:data:`KDJ_SEED`),
    where ``t0 = n-1`` is the first row with a full ``n``-day window. When the
    window's high equals its low the RSV is :data:`KDJ_FLAT_RSV` (50). This is
    not TA-Lib ``STOCH``, whose slowing is a plain moving average.

    Args:
        high: daily highs, shape ``[T]``, CNY.
        low: daily lows, shape ``[T]``, CNY.
        close: daily closes, shape ``[T]``, CNY.
        n: RSV window in sessions.
        m1: smoothing of K (weight of today's RSV is ``1/m1``).
        m2: smoothing of D (weight of today's K is ``1/m2``).

    Returns:
        ``(k, d, j)``, each ``[T]`` float64 on a 0..100 scale (J may leave it);
        the first ``n-1`` rows are NaN.
    """
    h, lo, c = _f64(high), _f64(low), _f64(close)
    hh = talib.MAX(h, timeperiod=n)
    ll = talib.MIN(lo, timeperiod=n)
    rng = hh - ll
    with np.errstate(invalid="ignore", divide="ignore"):
        rsv = np.where(rng > 0, (c - ll) / rng * 100.0, KDJ_FLAT_RSV)
    rsv[np.isnan(rng)] = np.nan
    k_out = np.full(c.shape, np.nan)
    d_out = np.full(c.shape, np.nan)
    k_prev = d_prev = KDJ_SEED
    a1, a2 = 1.0 / m1, 1.0 / m2
    for t in range(c.shape[0]):
        x = rsv[t]
        if np.isnan(x):
            continue
        k_prev = (1.0 - a1) * k_prev + a1 * x
        d_prev = (1.0 - a2) * d_prev + a2 * k_prev
        k_out[t] = k_prev
        d_out[t] = d_prev
    return k_out, d_out, 3.0 * k_out - 2.0 * d_out


def volume_ratio(volume, n: int = 5) -> np.ndarray:
    """量比 on daily bars: today's volume over the mean of the previous ``n`` sessions.

    ``VR_t = V_t / mean(V_{t-n}, ..., V_{t-1})`` — today is excluded from the
    mean. (Intraday 量比 normalises by elapsed minutes; on daily bars the
    whole session has elapsed, so the ratio reduces to this.)

    Args:
        volume: daily volume, shape ``[T]``, shares.
        n: number of previous sessions averaged.

    Returns:
        ``[T]`` float64, dimensionless; the first ``n`` rows are NaN, and rows
        whose previous-``n`` mean is 0 are NaN.
    """
    v = pd.Series(_f64(volume))
    base = v.shift(1).rolling(n, min_periods=n).mean()
    out = (v / base.where(base > 0)).to_numpy(dtype=np.float64)
    return out


def rsi(close, n: int = 14) -> np.ndarray:
    """Relative strength index ``RSI(n)`` with Wilder smoothing.

    Args:
        close: closing prices, shape ``[T]``, CNY.
        n: period in sessions.

    Returns:
        ``[T]`` float64 on 0..100; first ``n`` rows NaN. Source: TA-Lib ``RSI``
        (Wilder 1978).
    """
    return talib.RSI(_f64(close), timeperiod=n)


def macd(close, fast: int = 12, slow: int = 26, signal: int = 9
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD(fast, slow, signal): DIF, DEA and histogram.

    ``macd = EMA(C, fast) - EMA(C, slow)`` (DIF), ``signal = EMA(macd, signal)``
    (DEA), ``hist = macd - signal`` (TA-Lib convention; Chinese software often
    shows ``2 * hist``).

    Args:
        close: closing prices, shape ``[T]``, CNY.
        fast: fast EMA period.
        slow: slow EMA period.
        signal: signal EMA period.

    Returns:
        ``(macd, signal, hist)``, each ``[T]`` float64 in CNY; the first
        ``slow + signal - 2`` rows are NaN. Source: TA-Lib ``MACD``.
    """
    m, s, h = talib.MACD(_f64(close), fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return m, s, h


def mfi(high, low, close, volume, n: int = 14) -> np.ndarray:
    """Money flow index ``MFI(n)`` (volume-weighted RSI of the typical price).

    Args:
        high: daily highs, shape ``[T]``, CNY.
        low: daily lows, shape ``[T]``, CNY.
        close: daily closes, shape ``[T]``, CNY.
        volume: daily volume, shape ``[T]``, shares.
        n: period in sessions.

    Returns:
        ``[T]`` float64 on 0..100; first ``n`` rows NaN. Source: TA-Lib ``MFI``.
    """
    return talib.MFI(_f64(high), _f64(low), _f64(close), _f64(volume), timeperiod=n)


def aroon_up(high, low, n: int = 20) -> np.ndarray:
    """Aroon up ``100 * (n - sessions since the n-day high) / n``.

    Args:
        high: daily highs, shape ``[T]``, CNY.
        low: daily lows, shape ``[T]``, CNY.
        n: period in sessions.

    Returns:
        ``[T]`` float64 on 0..100; first ``n`` rows NaN. Source: TA-Lib
        ``AROON`` (second output).
    """
    _down, up = talib.AROON(_f64(high), _f64(low), timeperiod=n)
    return up


def obv(close, volume) -> np.ndarray:
    """On-balance volume: running sum of volume signed by the close-to-close move.

    Args:
        close: daily closes, shape ``[T]``, CNY.
        volume: daily volume, shape ``[T]``, shares.

    Returns:
        ``[T]`` float64 in shares, starting at ``volume[0]``; no NaN rows.
        Source: TA-Lib ``OBV`` (Granville 1963).
    """
    return talib.OBV(_f64(close), _f64(volume))


def atr(high, low, close, n: int = 14) -> np.ndarray:
    """Average true range ``ATR(n)`` with Wilder smoothing.

    Args:
        high: daily highs, shape ``[T]``, CNY.
        low: daily lows, shape ``[T]``, CNY.
        close: daily closes, shape ``[T]``, CNY.
        n: period in sessions.

    Returns:
        ``[T]`` float64 in CNY; first ``n`` rows NaN. Source: TA-Lib ``ATR``.
    """
    return talib.ATR(_f64(high), _f64(low), _f64(close), timeperiod=n)


def check_bars(bars: pd.DataFrame, where: str) -> None:
    """Validate a one-symbol daily Bars frame at a public entry point.

    Args:
        bars: frame with at least ``open, high, low, close, volume`` and,
            when present, ``trade_time`` sorted ascending and one ``ts_code``.
        where: caller name for the error message.

    Raises:
        DataFormatError: a missing column, unsorted ``trade_time`` or several
            symbols in one frame.
    """
    missing = [c for c in BARS_COLUMNS if c not in bars.columns]
    if missing:
        raise DataFormatError(
            f"{where}: Bars frame lacks columns {missing}; expected "
            "ts_code, trade_time, open, high, low, close, volume, amount")
    if "ts_code" in bars.columns and bars["ts_code"].nunique(dropna=True) > 1:
        raise DataFormatError(
            f"{where}: Bars frame holds several symbols; pass one ts_code at a time "
            "(e.g. bars.groupby('ts_code'))")
    if "trade_time" in bars.columns and not bars["trade_time"].is_monotonic_increasing:
        raise DataFormatError(
            f"{where}: trade_time is not sorted ascending; call "
            "bars.sort_values('trade_time') first")


def signal_indicators(bars: pd.DataFrame) -> pd.DataFrame:
    """Indicator columns used by the signal layer for one symbol's daily bars.

    Columns (all float64): ``ma5, ma10, ma20, ma60`` (CNY); ``boll_upper,
    boll_mid, boll_lower`` (BOLL(20, 2), CNY); ``kdj_k, kdj_d, kdj_j``
    (KDJ(9, 3, 3)); ``volume_ratio`` (量比, n=5); ``rsi14``; ``macd,
    macd_signal, macd_hist`` (MACD(12, 26, 9), CNY).

    Args:
        bars: one symbol's daily Bars frame sorted by ``trade_time``.

    Returns:
        DataFrame with the columns above and the index of ``bars``; rows
        before enough history are NaN. Row ``t`` uses rows ``<= t`` only.

    Raises:
        DataFormatError: see :func:`check_bars`.
    """
    check_bars(bars, "signal_indicators")
    o = {c: _f64(bars[c]) for c in ("high", "low", "close", "volume")}
    c = o["close"]
    cols: dict[str, np.ndarray] = {f"ma{n}": ma(c, n) for n in (5, 10, 20, 60)}
    cols["boll_upper"], cols["boll_mid"], cols["boll_lower"] = boll(c, 20, 2.0)
    cols["kdj_k"], cols["kdj_d"], cols["kdj_j"] = kdj(o["high"], o["low"], c)
    cols["volume_ratio"] = volume_ratio(o["volume"], 5)
    cols["rsi14"] = rsi(c, 14)
    cols["macd"], cols["macd_signal"], cols["macd_hist"] = macd(c)
    return pd.DataFrame(cols, index=bars.index)
