"""Readers for tabular market data (Tushare-style tables, vendor minute CSVs, trade lists).

Tables are CSV (``.csv``, ``.txt``, ``.csv.gz``, ``.zip`` holding one CSV; UTF-8,
UTF-8 with BOM or GBK) or Parquet (``.parquet``, ``.pq``), chosen by extension.
Every reader returns one of the frames of DESIGN.md "Data contracts":

* **Bars** ``ts_code, trade_time, open, high, low, close, volume, amount``
  (prices CNY, ``volume`` shares, ``amount`` CNY, ``trade_time`` naive
  Asia/Shanghai at the bar close, daily bars at midnight), sorted by
  ``(ts_code, trade_time)``.
* **Trades** ``ts_code, trade_time, price, volume, direction`` (shares;
  ``B``/``S``/``N``), sorted by ``(ts_code, trade_time)``, ties in file order.
* **AdjFactor** ``ts_code, trade_date, adj_factor`` (Tushare convention:
  hfq = raw × factor, qfq = raw × factor / latest factor).

Row errors name the file and the 1-based data row (the CSV line is row + 1).
With ``records=True`` (ingest) a reader keeps going past a value that does not
parse: the row gets NaN/NaT, a note in a ``problem`` column, and the provenance
columns ``source`` and ``record`` (the data row), for
:mod:`tzero.data.validation` to refuse or skip; conflicting repeats are kept
for it to see. The I/O and column parsers live in :mod:`tzero.data.table_io`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.data.table_io import RowFaults, fail, provenance, read_table
from tzero.data.table_io import parse_datetimes as _datetimes
from tzero.data.table_io import parse_numeric as _numeric
from tzero.data.table_io import parse_ts_codes as _ts_codes
from tzero.data.table_io import require_columns as _require
from tzero.data.table_io import sort_rows as _finish
from tzero.errors import DataFormatError
from tzero.market.symbols import to_ts_code

BARS_COLUMNS = ["ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount"]
TRADES_COLUMNS = ["ts_code", "trade_time", "price", "volume", "direction"]
ADJ_COLUMNS = ["ts_code", "trade_date", "adj_factor"]
PRICE_COLUMNS = ["open", "high", "low", "close"]

#: Tushare ``daily``: ``vol`` in lots (手, 100 shares), ``amount`` in thousand CNY.
TUSHARE_VOL_SHARES = 100.0
TUSHARE_AMOUNT_CNY = 1000.0
#: TDX trade snapshots: ``volume_lots`` in lots of 100 shares.
SHARES_PER_LOT = 100.0
#: TDX trade direction code → canonical letter.
TDX_DIRECTION = {0: "B", 1: "S", 2: "N"}
DIRECTIONS = ("B", "S", "N")

# ------------------------------------------------------------------------ daily


def read_daily_table(path: str | Path, *, records: bool = False) -> pd.DataFrame:
    """Read daily bars from a Tushare ``daily`` table or an already-canonical Bars file.

    Tushare layout: ``ts_code, trade_date (YYYYMMDD), open, high, low, close,
    vol, amount`` with ``vol`` in lots (100 shares) and ``amount`` in thousand
    CNY; they are converted to shares and CNY. A canonical file (columns
    ``ts_code, trade_time, open, high, low, close, volume, amount``) is taken
    as is (units already shares and CNY). Other columns (``pre_close``,
    ``pct_chg`` …) are dropped.

    Args:
        path: CSV or Parquet file.
        records: for ingest: note unparseable values per row instead of
            raising, and add the provenance columns (module docstring).

    Returns:
        Bars frame with daily ``trade_time`` at midnight, sorted by
        ``(ts_code, trade_time)``.

    Raises:
        DataFormatError: empty table, missing columns (named), or (without
            ``records``) a row with an unparseable symbol, date or number
            (file and row named). CalendarError: (without ``records``) a date
            outside the XSHG calendar.
    """
    path = Path(path)
    df = read_table(path)
    faults = RowFaults(len(df)) if records else None
    if "trade_time" in df.columns:
        _require(path, df, BARS_COLUMNS, "canonical Bars")
        return _bars_from(path, df, "trade_time", "volume", "amount", 1.0, 1.0, None, faults)
    _require(path, df, ["ts_code", "trade_date", *PRICE_COLUMNS, "vol", "amount"], "Tushare daily")
    s = df["trade_date"]
    fmt = None if pd.api.types.is_datetime64_any_dtype(s) else "%Y%m%d"
    if fmt and pd.api.types.is_numeric_dtype(s):
        df = df.assign(trade_date=s.astype("Int64").astype("string"))
    return _bars_from(path, df, "trade_date", "vol", "amount",
                      TUSHARE_VOL_SHARES, TUSHARE_AMOUNT_CNY, fmt, faults)


def _bars_from(path: Path, df: pd.DataFrame, tcol: str, vcol: str, acol: str,
               vmult: float, amult: float, fmt: str | None, faults: RowFaults | None) -> pd.DataFrame:
    codes = _ts_codes(path, df["ts_code"], "ts_code", faults)
    out = pd.DataFrame({"trade_time": _datetimes(path, df[tcol], tcol, fmt, faults)})
    for c in PRICE_COLUMNS:
        out[c] = _numeric(path, df, c, faults)
    out["volume"] = _numeric(path, df, vcol, faults) * vmult
    out["amount"] = _numeric(path, df, acol, faults) * amult
    for k, v in provenance(path, faults, len(df)).items():
        out[k] = v
    return _finish(out, codes, "trade_time", BARS_COLUMNS)


# ------------------------------------------------------------------- adj factor


def read_adj_factor_table(path: str | Path, *, records: bool = False) -> pd.DataFrame:
    """Read a Tushare ``adj_factor`` table (e.g. ``reference/adj_factor.parquet``).

    Args:
        path: CSV or Parquet with ``ts_code``, ``trade_date`` (``YYYYMMDD``
            text or integer, or a date column) and ``adj_factor``.
        records: for ingest: unparseable values noted, provenance columns
            added, and repeated keys all kept (validation collapses identical
            repeats and refuses conflicting ones).

    Returns:
        Frame ``ts_code`` (str), ``trade_date`` (datetime64[ns], midnight),
        ``adj_factor`` (float64; float32 sources are rounded to 6 decimals to
        drop float32 noise), sorted by ``(ts_code, trade_date)``. The factor
        is cumulative backward: hfq = raw × factor, qfq = raw × factor /
        latest factor. Without ``records``, rows repeating a (ts_code,
        trade_date) key are dropped, keeping the last (the shared file repeats
        1.2M rows exactly, on 706 codes). Values are not checked here (the
        source has known false drops, e.g. 000001.SZ on 2020-12-31; quality
        checks flag them).

    Raises:
        DataFormatError: empty table, missing columns, or (without ``records``)
            unparseable rows.
    """
    path = Path(path)
    df = read_table(path)
    faults = RowFaults(len(df)) if records else None
    _require(path, df, ADJ_COLUMNS, "adj_factor")
    s = df["trade_date"]
    fmt = None
    if not pd.api.types.is_datetime64_any_dtype(s):
        fmt = "%Y%m%d"
        if pd.api.types.is_numeric_dtype(s):
            s = s.astype("Int64").astype("string")
    factor = _numeric(path, df, "adj_factor", faults)
    if df["adj_factor"].dtype == np.float32:
        factor = np.round(factor, 6)
    codes = _ts_codes(path, df["ts_code"], "ts_code", faults)
    dates = _datetimes(path, s, "trade_date", fmt, faults)
    dates = dates.astype("datetime64[D]").astype("datetime64[ns]")
    out = pd.DataFrame({"trade_date": dates, "adj_factor": factor,
                        **provenance(path, faults, len(df))})
    return _finish(out, codes, "trade_date", ADJ_COLUMNS, dedupe=not records)


# ----------------------------------------------------------------- minute CSVs

_JQ_COLUMNS = ["symbol", "dt", "open", "close", "high", "low", "vol"]
_TDX_TXT_COLUMNS = ["Date", "Time", "Open", "High", "Low", "Close", "Volume"]
_FILE_SYMBOL = re.compile(r"(?<![A-Z])(SSE|SZSE|SHSE|SH|SZ|BJ)[._#]?(\d{6})", re.IGNORECASE)
_EXCHANGE_ALIAS = {"SSE": "SH", "SHSE": "SH", "SZSE": "SZ"}
_AM_OPEN, _AM_CLOSE, _PM_OPEN, _PM_CLOSE = 9 * 60 + 30, 11 * 60 + 30, 13 * 60, 15 * 60


def _symbol_from_name(path: Path) -> str:
    m = _FILE_SYMBOL.search(path.name)
    if not m:
        raise DataFormatError(
            f"{path}: cannot tell the symbol from the file name; name it like SSE.600009_m1.csv"
        )
    ex = m.group(1).upper()
    return to_ts_code(f"{m.group(2)}.{_EXCHANGE_ALIAS.get(ex, ex)}")


def _to_bar_close(path: Path, times: np.ndarray, check: bool = True) -> np.ndarray:
    """Normalise 1-minute stamps to the bar close (09:31…11:30, 13:01…15:00).

    A file is taken as open-stamped when it has 09:30 or 13:00 bars and no
    11:30 or 15:00 bars; its stamps move one minute later. Any stamp left
    outside the two sessions raises (e.g. a 09:30 call-auction bar in a
    close-stamped file) unless ``check`` is False (ingest: validation refuses
    such rows). NaT stays NaT.
    """
    valid = ~np.isnat(times)
    safe = np.where(valid, times, times[valid][0] if valid.any() else np.datetime64(0, "ns"))
    minute = ((safe - safe.astype("datetime64[D]")) // np.timedelta64(1, "m")).astype(np.int64)
    opens = np.isin(minute[valid], (_AM_OPEN, _PM_OPEN)).any()
    closes = np.isin(minute[valid], (_AM_CLOSE, _PM_CLOSE)).any()
    if opens and not closes:
        times = times + np.timedelta64(1, "m")
        minute = minute + 1
    inside = ((minute > _AM_OPEN) & (minute <= _AM_CLOSE)) | ((minute > _PM_OPEN) & (minute <= _PM_CLOSE))
    if check and not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        raise DataFormatError(
            f"{path}: row {i + 1}: stamp {pd.Timestamp(times[i])} is outside the "
            "09:31-11:30 / 13:01-15:00 sessions of bar-close stamps"
        )
    return times


def read_minute_csv(path: str | Path, *, records: bool = False) -> pd.DataFrame:
    """Read a vendor 1-minute bar CSV; the format is detected from its header.

    Formats:
        * JoinQuant-style (``000001.XSHG_1min.zip``): ``symbol,id,dt,freq,open,
          close,high,low,vol`` (note the column order). ``symbol`` like
          ``000001.XSHG`` → ``000001.SH``. ``dt`` is already the bar close
          (09:31…11:30, 13:01…15:00). ``vol`` is shares: on the SSE Composite
          the daily sum equals ``sh000001.day`` volume × 100 exactly.
        * TDX text export (``SSE.600009Q_m1.csv``, GBK): ``<Date>, <Time>,
          <Open>, <High>, <Low>, <Close>, <Volume>``, dates like ``2020/1/2
          星期四``, times ``09:31:00`` at the bar close; the symbol comes from the
          file name (``SSE.600009`` → ``600009.SH``). Prices are
          forward-adjusted (``df.attrs["adjust"] = "qfq"``); ``Volume`` is
          shares (daily sums equal ``sh600009.day``). Some days have 239 bars
          (14:58 missing); missing minutes are not filled.

    Open-stamped files (09:30…14:59) are shifted to close stamps. Neither
    format carries turnover, so ``amount`` is NaN (not estimated: close ×
    volume would be a guess for the minute).

    Args:
        path: ``.csv``, ``.csv.gz`` or ``.zip`` (one CSV).
        records: for ingest: unparseable values and stamps outside the
            sessions are left to validation, provenance columns added.

    Returns:
        Bars frame (prices float64 CNY or index points, ``volume`` shares,
        ``amount`` NaN), sorted by ``(ts_code, trade_time)``.

    Raises:
        DataFormatError: unknown header, missing columns, or (without
            ``records``) unparseable rows or stamps outside the trading
            sessions (file and row named).
    """
    path = Path(path)
    df = read_table(path)
    faults = RowFaults(len(df)) if records else None
    cols = set(df.columns)
    if {"symbol", "dt"} <= cols:
        _require(path, df, _JQ_COLUMNS, "1-minute (symbol,dt,...)")
        codes = _ts_codes(path, df["symbol"], "symbol", faults)
        times = _datetimes(path, df["dt"], "dt", "%Y-%m-%d %H:%M:%S", faults)
        prices = {c: _numeric(path, df, c, faults) for c in PRICE_COLUMNS}
        volume = _numeric(path, df, "vol", faults)
        adjust = "none"
    elif {"Date", "Time"} <= cols:
        _require(path, df, _TDX_TXT_COLUMNS, "1-minute (<Date>, <Time>, ...)")
        codes = pd.Categorical.from_codes(np.zeros(len(df), dtype=np.int64),
                                          categories=[_symbol_from_name(path)])
        day = df["Date"].astype("string").str.strip().str.split(" ").str[0]
        stamp = day + " " + df["Time"].astype("string").str.strip()
        times = _datetimes(path, stamp, "Date/Time", "%Y/%m/%d %H:%M:%S", faults)
        prices = {c: _numeric(path, df, c.capitalize(), faults) for c in PRICE_COLUMNS}
        volume = _numeric(path, df, "Volume", faults)
        adjust = "qfq"
    else:
        raise DataFormatError(
            f"{path}: unknown 1-minute header {list(df.columns)}; expected "
            "'symbol,id,dt,freq,open,close,high,low,vol' or "
            "'<Date>, <Time>, <Open>, <High>, <Low>, <Close>, <Volume>'"
        )
    out = pd.DataFrame({"trade_time": _to_bar_close(path, times, check=not records),
                        **prices, "volume": volume, "amount": np.nan,
                        **provenance(path, faults, len(df))})
    out = _finish(out, codes, "trade_time", BARS_COLUMNS)
    out.attrs["adjust"] = adjust
    return out


# ----------------------------------------------------------------------- trades

#: Level-2 trade prices carry float noise (``7.400000000000001``); A-share ticks
#: are 0.01 CNY (0.001 for funds), so prices are rounded to this many decimals.
L2_PRICE_DECIMALS = 4
#: SZSE ``ExecType``: ``F`` is an execution, ``4`` a cancel (dropped).
SZ_EXEC_FILL, SZ_EXEC_CANCEL = "F", "4"
#: Insight-style Shanghai ``TradeBSFlag`` codes (checked on the shared 2023-07-11 file:
#: every ``1`` row has ``TradeBuyNo > TradeSellNo``, i.e. the buy order came later and
#: was the aggressor; every ``2`` row the opposite; ``0`` are call-auction prints).
INSIGHT_DIRECTION = {"1": "B", "2": "S", "0": "N"}
#: Continuous trading runs 09:30-14:57 on SZSE; prints before 09:30 (opening call,
#: stamped 09:25) and from 14:57 (closing call, stamped 15:00) have no aggressor.
_CONTINUOUS_OPEN = np.timedelta64(9 * 60 + 30, "m")
_SZ_CLOSING_CALL = np.timedelta64(14 * 60 + 57, "m")
_TDX_TRADE_COLUMNS = ["symbol", "datetime", "price", "volume_lots", "direction"]
_L2_COLUMNS = ["SecurityID", "TradeTime", "TradePrice", "TradeQty"]
_INSIGHT_COLUMNS = ["SecurityID", "MDDate", "MDTime", "TradeBSFlag", "TradePrice", "TradeQty"]


def read_trades_table(path: str | Path, *, records: bool = False) -> pd.DataFrame:
    """Read trade-by-trade records; the format is detected from the header.

    Formats:
        * TDX trade snapshots (``trades/tdx_trades_2019.parquet``): ``symbol``
          (``SH600000``), ``datetime``, ``price`` (CNY), ``volume_lots`` (lots;
          ×100 → shares), ``direction`` (0 buy → ``B``, 1 sell → ``S``, 2
          neutral → ``N``).
        * Exchange Level-2 trades (``sh600000_20230201_l2_trades.zip``,
          ``tradeData.csv``): ``SecurityID`` (6 digits), ``Market`` (``SH``/``SZ``),
          ``TradeTime`` (``2023.02.01T09:25:00.320``), ``TradePrice`` (CNY),
          ``TradeQty`` (shares). Shanghai rows carry ``TradeBSFlag`` ``B``/``S``/``N``.
          Shenzhen rows have no flag: cancels (``ExecType`` ``4``, price 0) are
          dropped, executions (``F``) get ``B`` when ``BidApplSeqNum >
          OfferApplSeqNum`` (the later order, the aggressor, was the bid) else
          ``S``; prints of the opening (09:25) and closing (14:57-15:00) call
          auctions get ``N`` (an auction has no aggressor, as Shanghai flags them).
        * Insight-style Shanghai Level-2 (``sh_5stocks_20230711_trades.zip``,
          ``SHtrans.csv``): ``SecurityID`` (``605580.SH``), ``MDDate``
          (``2023.07.11``), ``MDTime`` (``09:25:00.180``), ``TradeBSFlag``
          (``1`` buy, ``2`` sell, ``0`` auction → ``N``, see
          :data:`INSIGHT_DIRECTION`), ``TradePrice``, ``TradeQty`` (shares).
        * Canonical: ``ts_code, trade_time, price, volume (shares), direction
          (B/S/N)``.

    Call-auction prints (09:25) are kept with their own stamp; bar builders
    (:func:`tzero.features.intraday.trade_flow`) fold them into the first bar
    (09:31 for 1-minute bars), as vendors do. Level-2 prices are rounded to
    :data:`L2_PRICE_DECIMALS` decimals (float noise in the source).

    Args:
        path: CSV (plain, ``.csv.gz`` or a ``.zip`` holding one CSV; UTF-8 or GBK)
            or Parquet file.
        records: for ingest: unparseable values and unknown codes noted per
            row instead of raised, provenance columns added (module docstring).

    Returns:
        Trades frame ``ts_code`` (str), ``trade_time`` (datetime64[ns], naive
        Asia/Shanghai), ``price`` (float64 CNY), ``volume`` (float64 shares),
        ``direction`` (str ``B``/``S``/``N``), sorted by
        ``(ts_code, trade_time)`` with ties in file order.

    Raises:
        DataFormatError: empty table, unknown header, missing columns, or
            (without ``records``) an unknown direction or an unparseable value
            (file, row and field named).
    """
    path = Path(path)
    df = read_table(path)
    faults = RowFaults(len(df)) if records else None
    cols = set(df.columns)
    if "volume_lots" in cols or "symbol" in cols:
        parsed = _tdx_trades(path, df, faults)
    elif {"MDDate", "MDTime"} <= cols:
        parsed = _insight_trades(path, df, faults)
    elif "TradeTime" in cols:
        parsed = _l2_trades(path, df, faults)
    elif "trade_time" in cols:
        parsed = _canonical_trades(path, df, faults)
    else:
        raise DataFormatError(
            f"{path}: unknown trades header {list(df.columns)}; expected TDX snapshots "
            "(symbol,datetime,price,volume_lots,direction), Level-2 (SecurityID,TradeTime,"
            "TradePrice,TradeQty,...), Insight Level-2 (MDDate,MDTime,TradeBSFlag,...) or "
            "canonical (ts_code,trade_time,price,volume,direction)"
        )
    codes, out, keep = parsed
    for k, v in provenance(path, faults, len(df)).items():
        out[k] = v
    if keep is not None:
        codes = codes[keep]
        out = out.loc[keep].reset_index(drop=True)
    return _finish(out, pd.Categorical(codes), "trade_time", TRADES_COLUMNS)


def _trades_frame(times: np.ndarray, price: np.ndarray, volume: np.ndarray,
                  direction: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"trade_time": times, "price": price, "volume": volume,
                         "direction": np.asarray(direction, dtype=object)})


def _tdx_trades(path: Path, df: pd.DataFrame, faults: RowFaults | None):
    _require(path, df, _TDX_TRADE_COLUMNS, "TDX trades")
    codes = _ts_codes(path, df["symbol"], "symbol", faults)
    times = _datetimes(path, df["datetime"], "datetime", faults=faults)
    volume = _numeric(path, df, "volume_lots", faults) * SHARES_PER_LOT
    direction = pd.Series(_numeric(path, df, "direction", faults)).map(TDX_DIRECTION)
    bad = direction.isna().to_numpy()
    if bad.any():
        fail(path, bad, "direction (expected 0, 1 or 2)", df["direction"], faults)
    out = _trades_frame(times, _numeric(path, df, "price", faults), volume, direction.to_numpy())
    return codes, out, None


def _canonical_trades(path: Path, df: pd.DataFrame, faults: RowFaults | None):
    _require(path, df, TRADES_COLUMNS, "canonical Trades")
    codes = _ts_codes(path, df["ts_code"], "ts_code", faults)
    times = _datetimes(path, df["trade_time"], "trade_time", faults=faults)
    direction = df["direction"].astype("string").str.strip().str.upper()
    bad = ~direction.isin(DIRECTIONS).fillna(False).to_numpy(bool)
    if bad.any():
        fail(path, bad, "direction (expected B, S or N)", df["direction"], faults)
    out = _trades_frame(times, _numeric(path, df, "price", faults), _numeric(path, df, "volume", faults),
                        direction.to_numpy())
    return codes, out, None


def _l2_trades(path: Path, df: pd.DataFrame, faults: RowFaults | None):
    """Exchange Level-2 ``tradeData.csv`` (Shanghai flags, Shenzhen order sequence numbers)."""
    _require(path, df, _L2_COLUMNS, "Level-2 trades (tradeData)")
    sec = df["SecurityID"].astype("string").str.strip()
    if "Market" in df.columns:
        sec = sec + "." + df["Market"].astype("string").str.strip().fillna("")
        sec = sec.str.rstrip(".")
    codes = _ts_codes(path, sec, "SecurityID/Market", faults)
    times = _datetimes(path, df["TradeTime"], "TradeTime", "%Y.%m.%dT%H:%M:%S.%f", faults=faults)
    price = np.round(_numeric(path, df, "TradePrice", faults), L2_PRICE_DECIMALS)
    volume = _numeric(path, df, "TradeQty", faults)
    direction = np.full(len(df), None, dtype=object)
    flag = (df["TradeBSFlag"].astype("string").str.strip().str.upper()
            if "TradeBSFlag" in df.columns else pd.Series(pd.NA, index=df.index, dtype="string"))
    has_flag = flag.notna().to_numpy()
    ok = flag.isin(DIRECTIONS).fillna(False).to_numpy(bool)
    if (has_flag & ~ok).any():
        fail(path, has_flag & ~ok, "TradeBSFlag (expected B, S or N)", df["TradeBSFlag"], faults)
    direction[has_flag] = flag[has_flag].to_numpy(dtype=object)
    keep = np.ones(len(df), dtype=bool)
    sz = ~has_flag
    if sz.any():
        keep, direction = _sz_direction(path, df, sz, times, direction, faults)
    return codes, _trades_frame(times, price, volume, direction), keep


def _sz_direction(path: Path, df: pd.DataFrame, sz: np.ndarray, times: np.ndarray,
                  direction: np.ndarray, faults: RowFaults | None) -> tuple[np.ndarray, np.ndarray]:
    """Shenzhen rows: keep executions, direction from the later (aggressor) order.

    With ``faults``, rows of an unknown ``ExecType`` are kept (noted, no direction).
    """
    _require(path, df, ["ExecType", "BidApplSeqNum", "OfferApplSeqNum"], "Shenzhen Level-2 trades")
    exec_type = df["ExecType"].astype("string").str.strip().str.upper()
    known = exec_type.isin([SZ_EXEC_FILL, SZ_EXEC_CANCEL]).fillna(False).to_numpy(bool)
    if (sz & ~known).any():
        fail(path, sz & ~known, "ExecType (expected F or 4)", df["ExecType"], faults)
    fill = sz & (exec_type == SZ_EXEC_FILL).fillna(False).to_numpy(bool)
    bid = _numeric(path, df, "BidApplSeqNum", faults)
    offer = _numeric(path, df, "OfferApplSeqNum", faults)
    missing = fill & (np.isnan(bid) | np.isnan(offer))
    if missing.any():
        fail(path, missing, "BidApplSeqNum/OfferApplSeqNum", df["BidApplSeqNum"], faults)
    tod = times - times.astype("datetime64[D]")
    auction = (tod < _CONTINUOUS_OPEN) | (tod >= _SZ_CLOSING_CALL)
    direction = direction.copy()
    direction[fill] = np.where(auction[fill], "N", np.where(bid[fill] > offer[fill], "B", "S"))
    direction[missing] = None
    return ~sz | fill | (sz & ~known), direction


def _insight_trades(path: Path, df: pd.DataFrame, faults: RowFaults | None):
    """Insight-style Shanghai Level-2 ``SHtrans.csv`` (numeric ``TradeBSFlag``)."""
    _require(path, df, _INSIGHT_COLUMNS, "Insight Level-2 trades")
    codes = _ts_codes(path, df["SecurityID"], "SecurityID", faults)
    stamp = (df["MDDate"].astype("string").str.strip() + " "
             + df["MDTime"].astype("string").str.strip())
    times = _datetimes(path, stamp, "MDDate/MDTime", "%Y.%m.%d %H:%M:%S.%f", faults=faults)
    direction = df["TradeBSFlag"].astype("string").str.strip().map(INSIGHT_DIRECTION)
    bad = direction.isna().to_numpy()
    if bad.any():
        fail(path, bad, "TradeBSFlag (expected 0, 1 or 2)", df["TradeBSFlag"], faults)
    price = np.round(_numeric(path, df, "TradePrice", faults), L2_PRICE_DECIMALS)
    out = _trades_frame(times, price, _numeric(path, df, "TradeQty", faults), direction.to_numpy())
    return codes, out, None
