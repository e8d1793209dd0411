"""Intraday micro-structure features: trade-flow aggregates and bar-only proxies (spec 000 §3.2).

Spec 000 §3.2 lets the HMM filter the intraday regime from micro-structure
(buy/sell dominance, liquidity); §4.2.3 feeds the intraday LSTM with price,
volume and trade features of 5–30 minute bars. Two builders, both pure and
causal (a feature stamped ``t`` uses data with time ``<= t`` only):

* :func:`trade_flow` — when trade-by-trade records with a direction exist
  (Trades frame of DESIGN.md): per bar the number of trades, their density,
  buy/sell (外盘/内盘) volume, order-flow imbalance, the share of large trades,
  realised volatility of trade prices and the VWAP.
* :func:`bar_microstructure` — for the (far more common) series that only have
  bars: log return, range, relative volume against the same minute-of-day on
  previous days, Amihud illiquidity and a close-location signed-volume proxy of
  buy/sell dominance.

Bar stamps follow :mod:`tzero.market.sessions`: the bar close, 09:31…11:30 and
13:01…15:00 for 1-minute bars, no bar spanning lunch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tzero.market import sessions

#: Default large-order threshold (CNY per trade), as ``Settings.large_order_cny``.
LARGE_ORDER_CNY = 200_000.0
#: Bars the signed-volume flow imbalance of :func:`bar_microstructure` sums over.
FLOW_WINDOW = 12
TRADE_FLOW_COLUMNS = [
    "ts_code", "trade_time", "n_trades", "trade_density", "volume", "amount", "buy_volume",
    "sell_volume", "ofi", "active_buy_ratio", "large_share", "realized_vol", "vwap",
]
BAR_FEATURE_COLUMNS = [
    "ts_code", "trade_time", "ret", "range", "rel_volume", "illiquidity", "clv",
    "signed_volume", "flow_imbalance",
]
_NOON, _CLOSE = 11 * 60 + 30, 15 * 60


def trade_minute_close(times: pd.Series | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The 1-minute bar-close stamp each trade belongs to.

    A trade at ``hh:mm:ss.f`` falls in the minute bar closing at ``hh:mm+1``;
    prints stamped exactly in the closing minute of a half-day (``11:30:xx``,
    ``15:00:xx``, e.g. the Shenzhen closing call at 15:00:00) stay in that bar.
    The 09:25 opening call maps to 09:26, which
    :func:`tzero.market.sessions.bar_close_for` folds into the first bar (09:31),
    as vendors build bars.

    Args:
        times: trade stamps (naive Asia/Shanghai).

    Returns:
        One-minute bar-close stamps, same length.
    """
    t = pd.DatetimeIndex(times)
    floor = t.floor("min")
    m = (floor.hour * 60 + floor.minute).to_numpy()
    at_end = (m == _NOON) | (m == _CLOSE)
    return pd.DatetimeIndex(np.where(at_end, floor, floor + pd.Timedelta(minutes=1)))


def trade_flow(trades: pd.DataFrame, freq: str = "1m",
               large_order_cny: float = LARGE_ORDER_CNY) -> pd.DataFrame:
    """Aggregate trade-by-trade records into per-bar order-flow features.

    Args:
        trades: Trades frame ``ts_code, trade_time, price (CNY), volume (shares),
            direction (B/S/N)``, sorted by ``(ts_code, trade_time)``.
        freq: bar frequency ``1m 5m 15m 30m 60m``.
        large_order_cny: a trade of at least this much turnover (price × volume,
            CNY) counts as large (the usual 大单 cut is 200,000 CNY; per trade,
            since trades do not show the parent order).

    Returns:
        One row per ``(ts_code, bar close)`` that has trades (bars without
        trades are absent), columns :data:`TRADE_FLOW_COLUMNS`:
        ``n_trades``; ``trade_density`` (trades per minute of the bar);
        ``volume`` (shares) and ``amount`` (CNY); ``buy_volume`` /
        ``sell_volume`` (shares of ``B`` / ``S`` trades: 外盘 / 内盘; ``N``
        counts in neither); ``ofi`` = (buy − sell) / (buy + sell) in [−1, 1],
        NaN when both are 0 (order-flow imbalance by volume, cf. Chordia &
        Subrahmanyam 2004); ``active_buy_ratio`` = buy / sell (内外盘比), NaN
        when sell is 0; ``large_share`` (share of the bar's volume in large
        trades, [0, 1]); ``realized_vol`` = sqrt(Σ r²) of log returns between
        consecutive trades within the bar (decimal, 0 with one trade);
        ``vwap`` (CNY).

    Raises:
        ValueError: missing columns, or a trade outside the trading sessions.
    """
    missing = {"ts_code", "trade_time", "price", "volume", "direction"} - set(trades.columns)
    if missing:
        raise ValueError(f"trades lack columns {sorted(missing)}; expected the Trades frame")
    minutes = sessions.INTRADAY_FREQS.get(freq)
    if minutes is None:
        raise ValueError(f"unknown intraday frequency {freq!r}: expected one of "
                         f"{list(sessions.INTRADAY_FREQS)}")
    t = trades.reset_index(drop=True)
    price = t["price"].to_numpy(float)
    vol = t["volume"].to_numpy(float)
    d = t["direction"].to_numpy(object)
    amount = price * vol
    logp = np.log(price)
    bar = sessions.bar_close_for(trade_minute_close(t["trade_time"]), freq)
    code = t["ts_code"].to_numpy(object)
    same = np.r_[False, (code[1:] == code[:-1]) & (bar[1:] == bar[:-1])]
    r2 = np.where(same, np.r_[0.0, np.diff(logp)] ** 2, 0.0)
    frame = pd.DataFrame({
        "ts_code": code, "trade_time": bar, "n": 1.0, "volume": vol, "amount": amount,
        "buy": np.where(d == "B", vol, 0.0), "sell": np.where(d == "S", vol, 0.0),
        "large": np.where(amount >= large_order_cny, vol, 0.0), "r2": r2,
    })
    g = frame.groupby(["ts_code", "trade_time"], sort=True).sum()
    tot = g["buy"] + g["sell"]
    out = pd.DataFrame({
        "n_trades": g["n"].astype(np.int64),
        "trade_density": g["n"] / minutes,
        "volume": g["volume"], "amount": g["amount"],
        "buy_volume": g["buy"], "sell_volume": g["sell"],
        "ofi": (g["buy"] - g["sell"]) / tot.where(tot > 0),
        "active_buy_ratio": g["buy"] / g["sell"].where(g["sell"] > 0),
        "large_share": g["large"] / g["volume"].where(g["volume"] > 0),
        "realized_vol": np.sqrt(g["r2"]),
        "vwap": g["amount"] / g["volume"].where(g["volume"] > 0),
    })
    return out.reset_index()[TRADE_FLOW_COLUMNS]


def bar_microstructure(bars: pd.DataFrame, lookback_days: int = 20,
                       flow_window: int = FLOW_WINDOW) -> pd.DataFrame:
    """Bar-only micro-structure features (no trades needed), causal.

    Args:
        bars: intraday Bars frame ``ts_code, trade_time, open, high, low, close,
            volume, amount`` sorted by ``(ts_code, trade_time)``, one frequency.
        lookback_days: previous days whose same-minute volume is averaged for
            ``rel_volume`` (days before the bar's day only).
        flow_window: bars summed by ``flow_imbalance``.

    Returns:
        Frame :data:`BAR_FEATURE_COLUMNS`, one row per bar, same order:
        ``ret`` log(close / previous close) of the same symbol (decimal; the
        first bar of a day measures from the bar's own open, so the overnight
        gap is left out; the very first bar is NaN); ``range`` (high − low) /
        close; ``rel_volume`` volume / mean volume of the same bar-of-day over
        the previous ``lookback_days`` days (NaN on the first day);
        ``illiquidity`` Amihud (2002) |ret| per million CNY of ``amount``, or per
        million shares of ``volume`` when ``amount`` is NaN (NaN on zero
        volume); ``clv`` close-location value ((close − low) − (high − close)) /
        (high − low) in [−1, 1], 0 when high = low; ``signed_volume`` clv ×
        volume (shares, > 0 buy-dominated); ``flow_imbalance`` Σ signed_volume /
        Σ volume over the last ``flow_window`` bars of the symbol, in [−1, 1]
        (a bar-level proxy of the order-flow imbalance of :func:`trade_flow`).

    Raises:
        ValueError: missing columns or ``lookback_days < 1``.
    """
    need = {"ts_code", "trade_time", "open", "high", "low", "close", "volume"}
    missing = need - set(bars.columns)
    if missing:
        raise ValueError(f"bars lack columns {sorted(missing)}; expected the Bars frame")
    if lookback_days < 1 or flow_window < 1:
        raise ValueError("lookback_days and flow_window must be >= 1")
    b = bars.reset_index(drop=True)
    code = b["ts_code"].astype(str)
    t = pd.DatetimeIndex(b["trade_time"])
    day = t.normalize()
    close, high, low = (b[c].to_numpy(float) for c in ("close", "high", "low"))
    vol = b["volume"].to_numpy(float)
    prev = b.groupby(code, sort=False)["close"].shift().to_numpy(float)
    new_day = np.r_[True, (code.to_numpy()[1:] != code.to_numpy()[:-1]) | (day[1:] != day[:-1])]
    base = np.where(new_day, b["open"].to_numpy(float), prev)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.log(close / base)
        rng = (high - low) / close
        clv = np.where(high > low, ((close - low) - (high - close)) / (high - low), 0.0)
    amount = b["amount"].to_numpy(float) if "amount" in b.columns else np.full(len(b), np.nan)
    denom = np.where(np.isnan(amount), vol, amount) / 1e6
    illiq = np.abs(ret) / np.where(denom > 0, denom, np.nan)
    tod = pd.Series(t - day, index=b.index)
    # grouped rolling windows (cythonised, no Python call per group; the same numbers as a
    # per-group shift().rolling())
    keys = [code.rename("_code"), tod.rename("_tod")]
    prev_vol = b["volume"].groupby(keys, sort=False).shift()
    past = _grouped_rolling(prev_vol, keys, lookback_days, "mean")
    rel = vol / past.where(past > 0).to_numpy(float)
    sv = pd.Series(clv * vol, index=b.index)
    num = _grouped_rolling(sv, [keys[0]], flow_window, "sum")
    den = _grouped_rolling(b["volume"], [keys[0]], flow_window, "sum")
    flow = (num / den.where(den > 0)).to_numpy(float)
    return pd.DataFrame({
        "ts_code": code.to_numpy(object), "trade_time": t, "ret": ret, "range": rng,
        "rel_volume": rel, "illiquidity": illiq, "clv": clv, "signed_volume": clv * vol,
        "flow_imbalance": flow,
    }, columns=BAR_FEATURE_COLUMNS)


def _grouped_rolling(x: pd.Series, keys: list[pd.Series], window: int, how: str) -> pd.Series:
    """``x.groupby(keys).rolling(window, min_periods=1).<how>()`` back in ``x``'s row order."""
    r = getattr(x.groupby(keys, sort=False).rolling(window, min_periods=1), how)()
    return r.reset_index(level=list(range(len(keys))), drop=True).reindex(x.index)


def day_fraction(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Position of each bar-close stamp within the 240-minute session, in (0, 1].

    09:31 → 1/240, 11:30 → 0.5, 15:00 → 1. Used as a time-of-day feature
    (intraday volume and volatility follow a U shape).
    """
    idx = sessions.minute_index(times)
    return (idx + 1) / sessions.MINUTES_PER_DAY


__all__ = [
    "BAR_FEATURE_COLUMNS", "FLOW_WINDOW", "LARGE_ORDER_CNY", "TRADE_FLOW_COLUMNS",
    "bar_microstructure", "day_fraction", "trade_flow", "trade_minute_close",
]
