"""Static (slow) cross-sectional features of every stock, month by month (spec 000 §6.2).

One row per ``(ts_code, as_of_date)`` of table ``stock_static_features``,
built on the last session of each month (:func:`month_ends`) for every stock
code (SH 60/68, SZ 00/30, BJ 43/83/87/92) with a daily bar in the 60 sessions
up to that date:

* ``industry`` / ``sub_industry`` — TDX industry from ``tdxhy.cfg`` named by
  ``tdxzs3.cfg`` (:func:`tzero.data.tdx_ref.read_industry`): ``industry`` the
  name of the first level ``Txxxx`` (煤炭, 银行, 酿酒 for a 白酒 stock …),
  ``sub_industry`` the name of the stock's own finer code ``Txxxxxx`` (the
  same name when the stock sits on a first-level leaf). The classification is
  a **~2022 snapshot**, applied to every date: it is *not* point-in-time.
* ``size_bucket`` — quintile ``S1`` (smallest) .. ``S5`` of float market cap
  (CNY) = unadjusted close on the date (last bar on or before it) × float A
  shares from ``base.dbf`` (:func:`tzero.data.tdx_ref.read_base_dbf`). The
  share counts are a **single 2020-10 snapshot**, so the cap is *not*
  point-in-time either (issues, buy-backs and bonus shares since then are
  missing).
* ``volatility_bucket`` — quintile ``V1`` (calmest) .. ``V5`` of the standard
  deviation (ddof 1) of daily close-to-close returns (decimal) of the bars in
  the last 60 sessions; returns are of backward-adjusted (hfq) closes when the
  store holds ``adj_factor``, else of raw closes. At least
  :data:`MIN_RETURNS` returns are needed.
* ``liquidity_bucket`` — quintile ``L1`` (least liquid) .. ``L5`` of the mean
  daily amount (CNY) of the bars in the last 20 sessions.

Quintiles are taken across the stocks of that date that have the number
(rank-based, ties by code order), so each bucket holds a fifth of them; a
stock without the number gets NULL. ``extra_json`` holds the raw numbers:
``float_mcap_cny``, ``vol_60``, ``amount_20_cny``, ``close_cny``,
``float_shares``, ``tdx_industry_code``, ``research_industry_code`` and
``returns_adjusted``.

No look-ahead: the row of date *d* uses bars up to *d* only (changing later
bars leaves it unchanged); the two snapshots above are the documented
exceptions.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from tzero.data.appdb import StaticFeatures
from tzero.data.bars import FACTOR_DATASETS, factor_sources
from tzero.data.store import MarketStore
from tzero.data.tdx_ref import _hq_cache, _zs3_names, read_base_dbf, read_industry
from tzero.data.universes import STOCK_CODE_RE
from tzero.errors import StoreError
from tzero.market import calendar

#: Columns of ``stock_static_features`` (less the surrogate id), in table order.
STATIC_COLUMNS = ["ts_code", "as_of_date", "industry", "sub_industry", "size_bucket",
                  "volatility_bucket", "liquidity_bucket", "extra_json"]
VOL_WINDOW = 60        # sessions of returns behind volatility_bucket
AMOUNT_WINDOW = 20     # sessions of amount behind liquidity_bucket
MIN_RETURNS = 30       # fewest returns in VOL_WINDOW for a volatility number
N_BUCKETS = 5
#: First-level TDX industry code length: ``T0101`` of ``T010101``.
LEVEL1_CODE_LEN = 5
_CHUNK = 500           # ts_codes per DELETE ... IN (...) statement
FACTOR_LOOKBACK_DAYS = 40  # calendar days searched back for the factor in force on the first day


def month_ends(start, end) -> pd.DatetimeIndex:
    """The last XSHG session of each month that has one in ``[start, end]``.

    A month cut by ``end`` yields its last session on or before ``end`` only
    when that is the month's true last session (so a partial month is left
    out).

    Raises:
        CalendarError: a bound outside the calendar or ``start > end``.
    """
    s = calendar.sessions(start, end)
    if s.empty:
        return s
    last = pd.Series(s, index=s).groupby(s.to_period("M")).max()
    cal = calendar.all_sessions()
    nxt = cal.searchsorted(pd.DatetimeIndex(last.to_numpy()), side="right")
    full = [i >= len(cal) or cal[i].to_period("M") != d.to_period("M")
            for i, d in zip(nxt, last, strict=True)]
    return pd.DatetimeIndex(last.to_numpy()[np.asarray(full, bool)])


def _industry(tdx_dir: Path) -> pd.DataFrame:
    """``ts_code, industry, sub_industry, tdx_industry_code, research_industry_code``."""
    ind = read_industry(tdx_dir)
    zs3 = _hq_cache(tdx_dir) / "tdxzs3.cfg"
    names = _zs3_names(zs3) if zs3.is_file() else {}
    code = ind["tdx_industry_code"]
    return pd.DataFrame({
        "ts_code": ind["ts_code"],
        "industry": [names.get(c[:LEVEL1_CODE_LEN]) if isinstance(c, str) else None for c in code],
        "sub_industry": ind["industry_name"],
        "tdx_industry_code": code,
        "research_industry_code": ind["research_industry_code"],
    }).set_index("ts_code")


def _float_shares(tdx_dir: Path) -> pd.Series:
    base = read_base_dbf(_hq_cache(tdx_dir) / "base.dbf")
    s = base.set_index("ts_code")["float_shares"]
    return s.where(s > 0)


def _bars(store: MarketStore, grid: pd.DatetimeIndex) -> tuple[pd.DataFrame, bool]:
    """Stock bars on the sessions of ``grid`` and whether their returns are adjusted.

    Columns ``ts_code, trade_time, close`` (raw CNY), ``amount`` (CNY),
    ``ret`` (decimal return from the code's previous bar on the grid, NaN for
    its first) and ``prev_time`` (that bar's time, NaT for the first).

    Returns are of backward-adjusted closes when a factor is stored (Tushare's
    ``adj_factor``, else the one derived from gbbq, as :func:`tzero.data.bars.read_adj_factor`): the
    raw close ratio × the product of the day-to-day factor steps since the
    previous bar, each step below 1 (a source defect, see
    :func:`tzero.data.bars.repair_falling_factors`) set to 1 — the returns of
    ``read_bars(adjust="hfq")``. Only factors up to each bar are used, and a
    return does not depend on where ``grid`` starts.
    """
    if not store.has("bars_1d"):
        raise StoreError("the market store holds no daily bars; run `tzero ingest tdx` first")
    start, end = grid[0], grid[-1] + pd.Timedelta(days=1)
    bars = store.query("bars_1d", "trade_time >= ? AND trade_time < ? AND regexp_matches(ts_code, ?)",
                       [start.to_pydatetime(), end.to_pydatetime(), STOCK_CODE_RE],
                       columns="ts_code, trade_time, close, amount")
    adjusted = any(store.has(ds) for ds in FACTOR_DATASETS)
    if bars.empty:
        return bars.assign(ret=[], prev_time=[]), adjusted
    codes = pd.Index(sorted(bars["ts_code"].unique()))
    c = codes.get_indexer(bars["ts_code"])
    r = grid.get_indexer(pd.DatetimeIndex(bars["trade_time"]).normalize())
    px = bars["close"].to_numpy(float)
    same = np.r_[False, c[1:] == c[:-1]]                   # bars come sorted by (code, time)
    ratio = np.where(same, px / np.r_[np.nan, px[:-1]], np.nan)
    if adjusted:
        ratio = ratio * _steps_since_previous(_factor_steps(store, grid, codes), r, c, same)
    bars["ret"] = ratio - 1.0
    bars["prev_time"] = pd.Series(np.r_[np.datetime64("NaT"), bars["trade_time"].to_numpy()[:-1]]
                                  ).where(same)
    return bars, adjusted


def _steps_since_previous(step: np.ndarray, r: np.ndarray, c: np.ndarray,
                          same: np.ndarray) -> np.ndarray:
    """Product of ``step[p+1 .. r, c]`` per bar, ``p`` the row of the code's previous bar."""
    prev_r = np.r_[-1, r[:-1]]
    out = np.where(same, step[r, c], 1.0)
    for i in np.flatnonzero(same & (r - prev_r > 1)):       # after a suspension: a few rows
        out[i] = np.prod(step[prev_r[i] + 1:r[i] + 1, c[i]])
    return out


def _factor_steps(store: MarketStore, grid: pd.DatetimeIndex, codes: pd.Index) -> np.ndarray:
    """``[session × code]`` repaired factor step ``f_t / f_{t-1}`` (falls and gaps → 1)."""
    look = grid[0] - pd.Timedelta(days=FACTOR_LOOKBACK_DAYS)  # the factor in force on grid[0]
    src = factor_sources(store, list(codes))      # Tushare's factor, else the one from gbbq
    adj = pd.concat([store.query(ds, "trade_date >= ? AND trade_date <= ? AND ts_code IN (SELECT unnest(?))",
                                 [look.to_pydatetime(), grid[-1].to_pydatetime(),
                                  [c for c in codes if src.get(c) == ds]],
                                 columns="ts_code, trade_date, adj_factor")
                     for ds in FACTOR_DATASETS if store.has(ds)], ignore_index=True)
    f = adj.pivot(index="trade_date", columns="ts_code", values="adj_factor")
    f.index = pd.DatetimeIndex(f.index).normalize()
    f = f.reindex(f.index.union(grid)).ffill().reindex(index=grid, columns=codes)
    step = (f / f.shift(1)).to_numpy()
    return np.where(np.isnan(step) | (step < 1.0), 1.0, step)


def _wide(bars: pd.DataFrame, grid: pd.DatetimeIndex, codes: pd.Index,
          values: np.ndarray) -> np.ndarray:
    """``[session × code]`` float matrix of one value per bar; NaN where no bar."""
    m = np.full((len(grid), len(codes)), np.nan)
    r = grid.get_indexer(pd.DatetimeIndex(bars["trade_time"]).normalize())
    ok = r >= 0
    m[r[ok], codes.get_indexer(bars["ts_code"])[ok]] = values[ok]
    return m


def _trailing(x: np.ndarray, row: int, window: int) -> np.ndarray:
    return x[max(row - window + 1, 0):row + 1]


def buckets(values: pd.Series, prefix: str, n: int = N_BUCKETS) -> pd.Series:
    """Rank-based quantile labels ``{prefix}1`` (lowest) .. ``{prefix}{n}``; NaN → None.

    Args:
        values: one number per stock (index ts_code), NaN where unknown.
        prefix: ``S``, ``V`` or ``L``.
        n: number of buckets.

    Returns:
        Labels aligned to ``values`` (object dtype).
    """
    ok = values.dropna()
    out = pd.Series([None] * len(values), index=values.index, dtype=object)
    if ok.empty:
        return out
    rank = ok.rank(method="first").to_numpy()                 # 1 .. len(ok)
    idx = np.floor((rank - 1) * n / len(ok)).astype(int) + 1
    out.loc[ok.index] = [f"{prefix}{i}" for i in idx]
    return out


def _one_date(day: pd.Timestamp, row: int, codes: pd.Index, mats: dict[str, np.ndarray],
              static: pd.DataFrame, adjusted: bool) -> pd.DataFrame:
    """Rows of one date from the bars of the sessions up to grid row ``row`` only."""
    close_w = _trailing(mats["close"], row, VOL_WINDOW)
    seen = ~np.isnan(close_w).all(axis=0)
    if not seen.any():
        return pd.DataFrame(columns=STATIC_COLUMNS)
    # a return counts when its previous bar is inside the window too, so a row
    # never depends on which other dates were built in the same call
    ret_w = np.where(_trailing(mats["prev"], row, VOL_WINDOW) >= row - VOL_WINDOW,
                     _trailing(mats["ret"], row, VOL_WINDOW), np.nan)
    n_ret = (~np.isnan(ret_w)).sum(axis=0)
    with warnings.catch_warnings():                      # all-NaN columns give NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        vol = np.where(n_ret >= MIN_RETURNS, np.nanstd(ret_w, axis=0, ddof=1), np.nan)
        amount = np.nanmean(_trailing(mats["amount"], row, AMOUNT_WINDOW), axis=0)
    close = pd.DataFrame(close_w).ffill().to_numpy()[-1]     # last close on or before the date
    f = pd.DataFrame({"close_cny": close, "vol_60": vol, "amount_20_cny": amount},
                     index=codes)[seen]
    f = f.join(static)
    f["float_mcap_cny"] = f["close_cny"] * f["float_shares"]
    f["size_bucket"] = buckets(f["float_mcap_cny"], "S")
    f["volatility_bucket"] = buckets(f["vol_60"], "V")
    f["liquidity_bucket"] = buckets(f["amount_20_cny"], "L")
    keys = ["float_mcap_cny", "vol_60", "amount_20_cny", "close_cny", "float_shares",
            "tdx_industry_code", "research_industry_code"]
    raw = f[keys].astype(object).where(f[keys].notna(), None).assign(returns_adjusted=adjusted)
    extra = [json.dumps(r, ensure_ascii=False, allow_nan=False, sort_keys=True)
             for r in raw.to_dict("records")]
    out = f.assign(extra_json=extra, as_of_date=day.date()).rename_axis("ts_code").reset_index()
    out = out.astype({"industry": object, "sub_industry": object})
    return out.where(out.notna(), None)[STATIC_COLUMNS]


def build_static_features(store: MarketStore, tdx_dir: Path, as_of_dates,
                          progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Static features of every stock on each date (see the module docstring for each column).

    Args:
        store: the market store (daily bars; ``adj_factor`` when ingested).
        tdx_dir: the TDX client folder holding ``T0002/hq_cache`` (``tdxhy.cfg``,
            ``tdxzs3.cfg``, ``base.dbf``), e.g. ``Settings.tdx_dir``.
        as_of_dates: dates (usually :func:`month_ends`); a non-session date is
            built on the last session before it.
        progress: called ``(done, total)`` after reading the bars (step 1),
            building the wide matrices (step 2) and each date (steps 3 …).

    Returns:
        Frame of :data:`STATIC_COLUMNS` (``as_of_date`` a ``datetime.date``;
        missing values None), sorted by ``(as_of_date, ts_code)``; empty when
        no stock has bars near the dates.

    Raises:
        StoreError: the store holds no daily bars.
        DataFormatError: a TDX reference file is missing or malformed.
        CalendarError: a date outside the XSHG calendar.
    """
    days = pd.DatetimeIndex(sorted({calendar.previous_session(d) for d in as_of_dates}))
    if days.empty:
        return pd.DataFrame(columns=STATIC_COLUMNS)
    cal = calendar.all_sessions()
    pos = cal.searchsorted(days, side="left")
    lo = max(int(pos.min()) - VOL_WINDOW, 0)            # one more session for the first return
    grid = cal[lo:int(pos.max()) + 1]
    total = len(days) + 2
    tick = progress or (lambda done, n: None)
    tick(0, total)
    bars, adjusted = _bars(store, grid)
    tick(1, total)
    if bars.empty:
        return pd.DataFrame(columns=STATIC_COLUMNS)
    codes = pd.Index(sorted(bars["ts_code"].unique()))
    prev = grid.get_indexer(pd.DatetimeIndex(bars["prev_time"]).normalize()).astype(float)
    mats = {c: _wide(bars, grid, codes, bars[c].to_numpy(float)) for c in ("close", "amount", "ret")}
    mats["prev"] = _wide(bars, grid, codes, np.where(prev >= 0, prev, np.nan))
    static = _industry(tdx_dir).reindex(codes)
    static["float_shares"] = _float_shares(tdx_dir).reindex(codes)
    tick(2, total)
    frames = []
    for i, (d, p) in enumerate(zip(days, pos, strict=True)):
        frames.append(_one_date(d, int(p - lo), codes, mats, static, adjusted))
        tick(3 + i, total)
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=STATIC_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def write_static_features(session: Session, frame: pd.DataFrame) -> int:
    """Upsert rows into ``stock_static_features``: replace each ``(ts_code, as_of_date)``.

    The rows already stored for the frame's keys are deleted and the frame
    inserted in the caller's transaction, so ``with Session.begin() as s:
    write_static_features(s, frame)`` is atomic: readers see all of it or none.

    Args:
        session: an app-store session.
        frame: rows of :func:`build_static_features` (columns :data:`STATIC_COLUMNS`).

    Returns:
        Rows written.

    Raises:
        ValueError: missing columns or a repeated ``(ts_code, as_of_date)``.
    """
    missing = [c for c in STATIC_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"static features frame lacks {missing}; build it with "
                         "build_static_features")
    if frame.empty:
        return 0
    f = frame[STATIC_COLUMNS].copy()
    f["as_of_date"] = pd.to_datetime(f["as_of_date"]).dt.date
    if f.duplicated(["ts_code", "as_of_date"]).any():
        raise ValueError("static features frame repeats a (ts_code, as_of_date) key")
    for day, g in f.groupby("as_of_date"):
        codes = g["ts_code"].tolist()
        for i in range(0, len(codes), _CHUNK):
            session.execute(delete(StaticFeatures).where(
                StaticFeatures.as_of_date == day, StaticFeatures.ts_code.in_(codes[i:i + _CHUNK])))
    rows = f.astype(object).where(f.notna(), None).to_dict("records")
    session.execute(insert(StaticFeatures), rows)
    session.flush()
    return len(rows)


def read_static_features(session: Session, ts_codes: list[str] | None, as_of) -> pd.DataFrame:
    """For each code, its latest stored row with ``as_of_date <= as_of``.

    Args:
        session: an app-store session.
        ts_codes: codes to read; None reads every code.
        as_of: date-like.

    Returns:
        Frame of :data:`STATIC_COLUMNS` sorted by ``ts_code``; codes with no row
        on or before ``as_of`` are absent.
    """
    day = pd.Timestamp(as_of).date()
    per_code = select(StaticFeatures.ts_code, func.max(StaticFeatures.as_of_date).label("d")) \
        .where(StaticFeatures.as_of_date <= day)
    if ts_codes is not None:
        per_code = per_code.where(StaticFeatures.ts_code.in_(list(ts_codes)))
    latest = per_code.group_by(StaticFeatures.ts_code).subquery()
    q = select(*(getattr(StaticFeatures, c) for c in STATIC_COLUMNS)).join(
        latest, (StaticFeatures.ts_code == latest.c.ts_code)
        & (StaticFeatures.as_of_date == latest.c.d)).order_by(StaticFeatures.ts_code)
    rows = session.execute(q).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=STATIC_COLUMNS)
