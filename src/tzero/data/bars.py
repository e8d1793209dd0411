"""Reading bars out of the market store: adjustment (qfq/hfq) and resampling.

- Prices are stored unadjusted. ``adjust="hfq"`` multiplies by the cumulative
  backward ``adj_factor`` (Tushare convention: hfq = raw × factor);
  ``adjust="qfq"`` by ``factor / anchor`` where the anchor is the latest factor
  on or before ``end`` — the qfq series a user would have seen on ``end``,
  so a later corporate action never changes an earlier query's result.
  Dates without a factor use the last factor before them. Volume and amount
  are never adjusted.
- Factors come from the ``adj_factor`` dataset (Tushare's, ``tzero ingest table
  --kind adj_factor``) or, for a symbol it lacks, from ``adj_factor_gbbq``
  (derived from a TDX folder's ``T0002/hq_cache/gbbq`` by ``tzero ingest tdx``,
  :mod:`tzero.data.gbbq`); one source per symbol, never mixed.
- A stock with no factor in either source cannot be adjusted:
  :func:`read_bars` raises :class:`~tzero.errors.StoreError` saying how to get
  one, rather than return raw prices as adjusted ones. Indices have no
  corporate actions and funds/ETFs have no Tushare factor, so both are exempt:
  without a factor they read unadjusted under any ``adjust``.
- Intraday bars of 5/15/30/60 minutes are built from 1-minute bars by grouping
  within half-day sessions (:func:`tzero.market.sessions.bar_close_for`), so no
  bar spans the lunch break; native 5-minute TDX bars are used when no 1-minute
  bars cover the request.
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
import pandas as pd

from tzero.data.store import MarketStore
from tzero.errors import StoreError
from tzero.market import calendar, sessions
from tzero.market.symbols import board_of

Freq = Literal["1d", "1m", "5m", "15m", "30m", "60m"]
Adjust = Literal["none", "qfq", "hfq"]
FREQS = ("1d", "1m", "5m", "15m", "30m", "60m")
ADJUSTS = ("none", "qfq", "hfq")
KLINE_COLUMNS = ["ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount"]
#: Factor datasets in order of precedence: Tushare's, then the one derived from TDX's gbbq.
FACTOR_DATASETS = ("adj_factor", "adj_factor_gbbq")
#: Boards read unadjusted when they have no factor (no corporate actions / no Tushare factor).
FACTOR_EXEMPT_BOARDS = ("index", "fund")


def _read_raw(store: MarketStore, dataset: str, ts_codes: list[str],
              start: pd.Timestamp, end_excl: pd.Timestamp) -> pd.DataFrame:
    return store.query(dataset, "ts_code IN (SELECT unnest(?)) AND trade_time >= ? AND trade_time < ?",
                       [ts_codes, start.to_pydatetime(), end_excl.to_pydatetime()])


def factor_sources(store: MarketStore, ts_codes: list[str]) -> dict[str, str]:
    """The factor dataset each symbol is adjusted with (see :data:`FACTOR_DATASETS`).

    Returns:
        ``ts_code`` → ``"adj_factor"`` or ``"adj_factor_gbbq"``, for the symbols
        that have any stored factor (on any date); others are absent.
    """
    out: dict[str, str] = {}
    for ds in FACTOR_DATASETS:
        rest = [c for c in ts_codes if c not in out]
        if not rest or not store.has(ds):
            continue
        found = store.query(ds, "ts_code IN (SELECT unnest(?))", [rest],
                            columns="DISTINCT ts_code", order_by="ts_code")
        out.update(dict.fromkeys(found["ts_code"], ds))
    return out


def read_adj_factor(store: MarketStore, ts_codes: list[str], end: pd.Timestamp | None = None,
                    sources: dict[str, str] | None = None) -> pd.DataFrame:
    """Adj factors of the symbols up to ``end`` (all dates when None), each from its source.

    Args:
        store: the market store.
        ts_codes: canonical codes.
        end: last date read (None: all).
        sources: :func:`factor_sources` of ``ts_codes`` when already known.

    Returns:
        ``ts_code, trade_date, adj_factor`` rows (Tushare convention, hfq = raw ×
        factor), from :func:`factor_sources`' dataset per symbol; empty when none.
    """
    src = factor_sources(store, ts_codes) if sources is None else sources
    frames = []
    for ds in FACTOR_DATASETS:
        codes = [c for c in ts_codes if src.get(c) == ds]
        if not codes:
            continue
        if end is None:
            frames.append(store.query(ds, "ts_code IN (SELECT unnest(?))", [codes]))
        else:
            frames.append(store.query(ds, "ts_code IN (SELECT unnest(?)) AND trade_date <= ?",
                                      [codes, end.to_pydatetime()]))
    if not frames:
        return pd.DataFrame(columns=["ts_code", "trade_date", "adj_factor"])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def missing_factor_error(ts_codes: list[str]) -> StoreError:
    """The error for an adjusted read of stocks that have no adj_factor in any source."""
    shown = ", ".join(ts_codes[:5]) + (f" (+{len(ts_codes) - 5} more)" if len(ts_codes) > 5 else "")
    return StoreError(f"no adj_factor for {shown}: run `tzero ingest tdx` on a folder with "
                      "T0002/hq_cache/gbbq or `tzero ingest table adj_factor.parquet --kind adj_factor` "
                      "(or read unadjusted with adjust=none)")


def check_factors(ts_codes: list[str], sources: dict[str, str]) -> None:
    """Raise unless every stock among ``ts_codes`` has a factor source (indices, funds exempt).

    Args:
        ts_codes: the symbols an adjusted read returns bars of.
        sources: :func:`factor_sources` of (at least) those symbols.

    Raises:
        StoreError: :func:`missing_factor_error` naming the stocks without one.
    """
    missing = [c for c in ts_codes if c not in sources and board_of(c) not in FACTOR_EXEMPT_BOARDS]
    if missing:
        raise missing_factor_error(missing)


def repair_falling_factors(adj: pd.DataFrame) -> pd.DataFrame:
    """Make each symbol's cumulative backward factor non-decreasing.

    A split, bonus issue or dividend only ever raises a backward factor, so a
    fall is a source defect (``tzero check`` lists them; e.g. 000001.SZ on
    2020-12-31 in the shared data) that would put a false jump into adjusted
    prices. Each fall is treated as "no corporate action that day": the step
    ratio ``f_t / f_{t-1}`` is set to 1 and later factors are rebuilt from the
    step ratios, so every genuine later change keeps its size.

    Returns:
        A copy sorted by ``(ts_code, trade_date)`` with repaired ``adj_factor``.
    """
    a = adj.sort_values(["ts_code", "trade_date"]).reset_index(drop=True)
    if a.empty:
        return a
    f = a["adj_factor"].to_numpy(dtype=float)
    prev = a.groupby("ts_code")["adj_factor"].shift().to_numpy(dtype=float)
    step = np.where(np.isnan(prev), f, f / np.where(np.isnan(prev), 1.0, prev))
    if not (step[~np.isnan(prev)] < 1).any():
        return a
    step = np.where(~np.isnan(prev) & (step < 1), 1.0, step)
    a["adj_factor"] = pd.Series(step).groupby(a["ts_code"]).cumprod().to_numpy()
    return a


def apply_adjust(bars: pd.DataFrame, adj: pd.DataFrame, adjust: Adjust, end: pd.Timestamp,
                 keep_falls: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Adjust the OHLC columns of a Bars frame (see module docstring for the rule).

    Args:
        bars: Bars frame sorted by ``(ts_code, trade_time)``.
        adj: ``ts_code, trade_date, adj_factor`` rows (only dates ≤ end are used).
        adjust: ``none``, ``qfq`` or ``hfq``.
        end: the query's end; the qfq anchor is the last factor on or before it.
            Falling factors are repaired first (:func:`repair_falling_factors`),
            except those of ``keep_falls``.
        keep_falls: symbols whose falls are genuine (factors derived from gbbq,
            where a fall is a reverse split, 扩缩股 < 1).

    Raises:
        ValueError: unknown ``adjust``.
    """
    if adjust not in ADJUSTS:
        raise ValueError(f"adjust must be one of {ADJUSTS}, got {adjust!r}")
    if adjust == "none" or bars.empty or adj.empty:
        return bars
    adj = adj.loc[pd.DatetimeIndex(adj["trade_date"]) <= end]
    kept = adj["ts_code"].isin(keep_falls).to_numpy()
    adj = pd.concat([repair_falling_factors(adj.loc[~kept]), adj.loc[kept]], ignore_index=True)
    adj = adj.sort_values("trade_date")
    out = bars.copy()
    out["_d"] = pd.DatetimeIndex(out["trade_time"]).normalize()
    out = out.sort_values("_d", kind="stable")
    merged = pd.merge_asof(out, adj.rename(columns={"trade_date": "_d"}), on="_d", by="ts_code",
                           direction="backward")
    first = adj.groupby("ts_code")["adj_factor"].first()
    f = merged["adj_factor"].fillna(merged["ts_code"].map(first)).fillna(1.0)
    if adjust == "qfq":
        anchor = adj.groupby("ts_code")["adj_factor"].last()
        f = f / merged["ts_code"].map(anchor).fillna(1.0)
    for c in ("open", "high", "low", "close"):
        merged[c] = merged[c] * f.to_numpy()
    merged = merged.drop(columns=["_d", "adj_factor"]).sort_values(["ts_code", "trade_time"])
    return merged.reset_index(drop=True)


def resample_minutes(bars: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Aggregate 1-minute bars to ``freq`` within half-day sessions.

    open = first, high = max, low = min, close = last, volume/amount = sum.

    Raises:
        ValueError: a stamp outside the sessions, or an unknown frequency.
    """
    if freq == "1m" or bars.empty:
        return bars
    b = bars.assign(_bin=sessions.bar_close_for(bars["trade_time"], freq))
    g = b.groupby(["ts_code", "_bin"], sort=True)
    out = g.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                close=("close", "last"), volume=("volume", "sum"),
                amount=("amount", lambda s: s.sum(min_count=1)))
    out = out.reset_index().rename(columns={"_bin": "trade_time"})
    return out[KLINE_COLUMNS]


def read_bars(store: MarketStore, ts_codes: list[str], freq: str = "1d", adjust: str = "qfq",
              start=None, end=None) -> pd.DataFrame:
    """Bars of the symbols between two dates, adjusted and at the requested frequency.

    Args:
        store: the market store.
        ts_codes: canonical codes (see :func:`tzero.market.symbols.to_ts_codes`).
        freq: ``1d 1m 5m 15m 30m 60m``.
        adjust: ``none``, ``qfq`` or ``hfq``.
        start, end: inclusive dates (whole days); default: all stored data.

    Returns:
        Bars frame with :data:`KLINE_COLUMNS`, sorted; volume in shares, amount in CNY.

    Raises:
        ValueError: unknown freq/adjust. CalendarError: a date outside the calendar.
        StoreError: the store holds no bars of that frequency; or ``adjust`` is
            ``qfq``/``hfq`` and a stock among the bars has no adj_factor in any
            source (indices and funds are exempt; see the module docstring).
    """
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {FREQS}, got {freq!r}")
    if adjust not in ADJUSTS:
        raise ValueError(f"adjust must be one of {ADJUSTS}, got {adjust!r}")
    s = calendar.to_date(start, field="start") if start is not None else pd.Timestamp("1990-01-01")
    e = calendar.to_date(end, field="end") if end is not None else pd.Timestamp("2100-01-01")
    if s > e:
        raise ValueError(f"start {s.date()} is after end {e.date()}")
    e_excl = e + pd.Timedelta(days=1)
    if freq == "1d":
        dataset = "bars_1d"
        raw = _read_raw(store, dataset, ts_codes, s, e_excl)
    else:
        raw = _read_raw(store, "bars_1m", ts_codes, s, e_excl) if store.has("bars_1m") else None
        dataset = "bars_1m"
        if (raw is None or raw.empty) and freq == "5m" and store.has("bars_5m"):
            dataset = "bars_5m"
            raw = _read_raw(store, dataset, ts_codes, s, e_excl)
        elif raw is not None and not raw.empty:
            raw = resample_minutes(raw, freq)
    if raw is None or not store.has(dataset):
        raise StoreError(f"the market store holds no {freq} bars; run `tzero ingest` first")
    if raw.empty:
        return raw[KLINE_COLUMNS] if set(KLINE_COLUMNS) <= set(raw.columns) else pd.DataFrame(columns=KLINE_COLUMNS)
    adj, src = pd.DataFrame(), {}
    if adjust != "none":
        src = factor_sources(store, ts_codes)
        check_factors(sorted(pd.unique(raw["ts_code"])), src)
        adj = read_adj_factor(store, ts_codes, e, sources=src)
    anchor_end = min(e, pd.Timestamp(raw["trade_time"].max()).normalize())
    out = apply_adjust(raw, adj, cast(Adjust, adjust), anchor_end if end is None else e,
                       keep_falls=frozenset(c for c, ds in src.items() if ds == FACTOR_DATASETS[1]))
    return out[KLINE_COLUMNS].reset_index(drop=True)
