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
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.errors import CalendarError, DataFormatError
from tzero.market import calendar
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

_CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_ENCODINGS = ("utf-8-sig", "gbk")


# --------------------------------------------------------------------------- I/O


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in _PARQUET_SUFFIXES + _CSV_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _csv_bytes(path: Path) -> bytes:
    """The raw CSV bytes of a plain, gzipped or single-member zip file."""
    suffix = _suffix(path)
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise DataFormatError(
                        f"{path}: zip holds {len(members)} files; expected exactly one CSV"
                    )
                return zf.read(members[0])
        except zipfile.BadZipFile as e:
            raise DataFormatError(f"{path}: not a zip file ({e})") from None
    if suffix == ".csv.gz":
        import gzip

        return gzip.decompress(path.read_bytes())
    return path.read_bytes()


def _decode(path: Path, raw: bytes) -> str:
    for enc in _ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError as e:
            err = e
    line = raw.count(b"\n", 0, err.start) + 1
    raise DataFormatError(
        f"{path}: line {line}: text is neither UTF-8 nor GBK ({err.reason}); "
        "save the file as UTF-8"
    )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table by extension, columns as stored (CSV values as text).

    Args:
        path: ``.csv``/``.txt``/``.csv.gz``/``.zip`` (one CSV inside) or
            ``.parquet``/``.pq``.

    Returns:
        The raw frame; CSV column names are stripped of spaces and ``<>``.

    Raises:
        DataFormatError: missing file, unknown extension, unreadable bytes,
            or a table with no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    suffix = _suffix(path)
    if suffix in _PARQUET_SUFFIXES:
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError on junk
            raise DataFormatError(f"{path}: not a readable Parquet file ({e})") from None
    elif suffix in _CSV_SUFFIXES:
        text = _decode(path, _csv_bytes(path))
        if not text.strip():
            raise DataFormatError(f"{path}: empty file")
        try:
            df = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True,
                             keep_default_na=False, na_values=[""])
        except pd.errors.ParserError as e:
            raise DataFormatError(f"{path}: malformed CSV ({e})") from None
        df.columns = [str(c).strip().strip("<>").strip() for c in df.columns]
    else:
        raise DataFormatError(
            f"{path}: unknown table type {suffix!r}; expected .csv, .csv.gz, .zip or .parquet"
        )
    if df.empty:
        raise DataFormatError(f"{path}: table has no rows")
    return df


def _require(path: Path, df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataFormatError(
            f"{path}: missing column(s) {', '.join(missing)} for a {what} table; "
            f"found {', '.join(map(str, df.columns))}"
        )


def _bad_row(path: Path, mask: np.ndarray, col: str, values: pd.Series) -> DataFormatError:
    i = int(np.flatnonzero(mask)[0])
    return DataFormatError(
        f"{path}: row {i + 1}: cannot parse {col}={values.iloc[i]!r}"
    )


def _numeric(path: Path, df: pd.DataFrame, col: str) -> np.ndarray:
    """Column as float64; a value present but not a number raises, empty stays NaN."""
    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(np.float64, na_value=np.nan)
    out = pd.to_numeric(s, errors="coerce")
    bad = out.isna().to_numpy() & s.notna().to_numpy()
    if bad.any():
        raise _bad_row(path, bad, col, s)
    return out.to_numpy(np.float64, na_value=np.nan)


def _datetimes(path: Path, s: pd.Series, col: str, fmt: str | None = None) -> np.ndarray:
    """Parse a date/time column (unique values parsed once); unparseable or empty raises."""
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        out = s.to_numpy("datetime64[ns]")
        bad = np.isnat(out)
    else:
        codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
        parsed = pd.to_datetime(pd.Series(uniques, dtype=object).str.strip(), format=fmt,
                                errors="coerce")
        table = parsed.to_numpy("datetime64[ns]")
        out = np.where(codes >= 0, table[np.maximum(codes, 0)], np.datetime64("NaT", "ns"))
        bad = np.isnat(out)
    if bad.any():
        raise _bad_row(path, bad, col, s)
    _check_calendar(path, out, col)
    return out


def _check_calendar(path: Path, times: np.ndarray, col: str) -> None:
    """Raise CalendarError naming the file and 1-based data row of the first date outside XSHG.

    Checked here, on the rows in file order, so the row number points into the file
    (later steps sort the frame).
    """
    sess = calendar.all_sessions()
    lo = sess[0].to_datetime64()
    hi = (sess[-1] + pd.Timedelta(days=1)).to_datetime64()
    bad = (times < lo) | (times >= hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CalendarError(
            f"{path}: row {i + 1}: {col} {pd.Timestamp(times[i]).date()} is outside the XSHG "
            f"calendar ({sess[0].date()} .. {sess[-1].date()})"
        )


def _ts_codes(path: Path, s: pd.Series, col: str) -> pd.Categorical:
    """Map a symbol column to ``ts_code`` (each distinct value parsed once).

    Returns a Categorical whose categories are the sorted ``ts_code`` values, so
    the caller can sort by its integer codes instead of by strings.
    """
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    if (codes < 0).any():
        raise _bad_row(path, codes < 0, col, s)
    mapped = []
    for j, u in enumerate(uniques):
        try:
            mapped.append(to_ts_code(str(u)))
        except ValueError as e:
            row = int(np.flatnonzero(codes == j)[0])
            raise DataFormatError(f"{path}: row {row + 1}: {col}: {e}") from None
    cats = np.array(sorted(set(mapped)), dtype=object)
    rank = np.searchsorted(cats, np.array(mapped, dtype=object))
    return pd.Categorical.from_codes(rank[codes], categories=cats)


def _finish(out: pd.DataFrame, codes: pd.Categorical, tcol: str, columns: list[str],
            dedupe: bool = False) -> pd.DataFrame:
    """Sort by (ts_code, time) on integer keys (stable); ``ts_code`` becomes plain str.

    With ``dedupe`` rows repeating an earlier (ts_code, time) key are dropped
    (the last one is kept).
    """
    key_code = np.asarray(codes.codes, dtype=np.int64)
    key_time = out[tcol].to_numpy("datetime64[ns]").view(np.int64)
    order = np.lexsort((key_time, key_code))
    if np.array_equal(order, np.arange(len(order))):
        order = None
    else:
        key_code, key_time = key_code[order], key_time[order]
    if dedupe and len(key_code) > 1:
        last = np.ones(len(key_code), dtype=bool)
        last[:-1] = (key_code[1:] != key_code[:-1]) | (key_time[1:] != key_time[:-1])
        if not last.all():
            order = np.flatnonzero(last) if order is None else order[last]
            key_code = key_code[last]
    data = {"ts_code": np.asarray(codes.categories, dtype=object)[key_code]}
    for c in columns[1:]:
        v = out[c].to_numpy()
        data[c] = v if order is None else v[order]
    return pd.DataFrame(data, columns=columns)


# ------------------------------------------------------------------------ daily


def read_daily_table(path: str | Path) -> pd.DataFrame:
    """Read daily bars from a Tushare ``daily`` table or an already-canonical Bars file.

    Tushare layout: ``ts_code, trade_date (YYYYMMDD), open, high, low, close,
    vol, amount`` with ``vol`` in lots (100 shares) and ``amount`` in thousand
    CNY; they are converted to shares and CNY. A canonical file (columns
    ``ts_code, trade_time, open, high, low, close, volume, amount``) is taken
    as is (units already shares and CNY). Other columns (``pre_close``,
    ``pct_chg`` …) are dropped.

    Args:
        path: CSV or Parquet file.

    Returns:
        Bars frame with daily ``trade_time`` at midnight, sorted by
        ``(ts_code, trade_time)``.

    Raises:
        DataFormatError: empty table, missing columns (named), a row with an
            unparseable symbol, date or number (file and row named).
    """
    path = Path(path)
    df = read_table(path)
    if "trade_time" in df.columns:
        _require(path, df, BARS_COLUMNS, "canonical Bars")
        return _bars_from(path, df, "trade_time", "volume", "amount", 1.0, 1.0, None)
    _require(path, df, ["ts_code", "trade_date", *PRICE_COLUMNS, "vol", "amount"], "Tushare daily")
    s = df["trade_date"]
    fmt = None if pd.api.types.is_datetime64_any_dtype(s) else "%Y%m%d"
    if fmt and pd.api.types.is_numeric_dtype(s):
        df = df.assign(trade_date=s.astype("Int64").astype("string"))
    return _bars_from(path, df, "trade_date", "vol", "amount",
                      TUSHARE_VOL_SHARES, TUSHARE_AMOUNT_CNY, fmt)


def _bars_from(path: Path, df: pd.DataFrame, tcol: str, vcol: str, acol: str,
               vmult: float, amult: float, fmt: str | None) -> pd.DataFrame:
    codes = _ts_codes(path, df["ts_code"], "ts_code")
    out = pd.DataFrame({"trade_time": _datetimes(path, df[tcol], tcol, fmt)})
    for c in PRICE_COLUMNS:
        out[c] = _numeric(path, df, c)
    out["volume"] = _numeric(path, df, vcol) * vmult
    out["amount"] = _numeric(path, df, acol) * amult
    return _finish(out, codes, "trade_time", BARS_COLUMNS)


# ------------------------------------------------------------------- adj factor


def read_adj_factor_table(path: str | Path) -> pd.DataFrame:
    """Read a Tushare ``adj_factor`` table (e.g. ``reference/adj_factor.parquet``).

    Args:
        path: CSV or Parquet with ``ts_code``, ``trade_date`` (``YYYYMMDD``
            text or integer, or a date column) and ``adj_factor``.

    Returns:
        Frame ``ts_code`` (str), ``trade_date`` (datetime64[ns], midnight),
        ``adj_factor`` (float64; float32 sources are rounded to 6 decimals to
        drop float32 noise), sorted by ``(ts_code, trade_date)``. The factor
        is cumulative backward: hfq = raw × factor, qfq = raw × factor /
        latest factor. Rows repeating a (ts_code, trade_date) key are dropped,
        keeping the last (the shared file repeats 1.2M rows exactly, on 706
        codes). Values are not checked here (the source has known
        false drops, e.g. 000001.SZ on 2020-12-31; quality checks flag them).

    Raises:
        DataFormatError: empty table, missing columns, unparseable rows.
    """
    path = Path(path)
    df = read_table(path)
    _require(path, df, ADJ_COLUMNS, "adj_factor")
    s = df["trade_date"]
    fmt = None
    if not pd.api.types.is_datetime64_any_dtype(s):
        fmt = "%Y%m%d"
        if pd.api.types.is_numeric_dtype(s):
            s = s.astype("Int64").astype("string")
    factor = _numeric(path, df, "adj_factor")
    if df["adj_factor"].dtype == np.float32:
        factor = np.round(factor, 6)
    codes = _ts_codes(path, df["ts_code"], "ts_code")
    dates = _datetimes(path, s, "trade_date", fmt).astype("datetime64[D]").astype("datetime64[ns]")
    out = pd.DataFrame({"trade_date": dates, "adj_factor": factor})
    return _finish(out, codes, "trade_date", ADJ_COLUMNS, dedupe=True)


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


def _to_bar_close(path: Path, times: np.ndarray) -> np.ndarray:
    """Normalise 1-minute stamps to the bar close (09:31…11:30, 13:01…15:00).

    A file is taken as open-stamped when it has 09:30 or 13:00 bars and no
    11:30 or 15:00 bars; its stamps move one minute later. Any stamp left
    outside the two sessions raises (e.g. a 09:30 call-auction bar in a
    close-stamped file).
    """
    minute = ((times - times.astype("datetime64[D]")) // np.timedelta64(1, "m")).astype(np.int64)
    opens = np.isin(minute, (_AM_OPEN, _PM_OPEN)).any()
    closes = np.isin(minute, (_AM_CLOSE, _PM_CLOSE)).any()
    if opens and not closes:
        times = times + np.timedelta64(1, "m")
        minute = minute + 1
    inside = ((minute > _AM_OPEN) & (minute <= _AM_CLOSE)) | ((minute > _PM_OPEN) & (minute <= _PM_CLOSE))
    if not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        raise DataFormatError(
            f"{path}: row {i + 1}: stamp {pd.Timestamp(times[i])} is outside the "
            "09:31-11:30 / 13:01-15:00 sessions of bar-close stamps"
        )
    return times


def read_minute_csv(path: str | Path) -> pd.DataFrame:
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

    Returns:
        Bars frame (prices float64 CNY or index points, ``volume`` shares,
        ``amount`` NaN), sorted by ``(ts_code, trade_time)``.

    Raises:
        DataFormatError: unknown header, missing columns, unparseable rows,
            or stamps outside the trading sessions (file and row named).
    """
    path = Path(path)
    df = read_table(path)
    cols = set(df.columns)
    if {"symbol", "dt"} <= cols:
        _require(path, df, _JQ_COLUMNS, "1-minute (symbol,dt,...)")
        codes = _ts_codes(path, df["symbol"], "symbol")
        times = _datetimes(path, df["dt"], "dt", "%Y-%m-%d %H:%M:%S")
        prices = {c: _numeric(path, df, c) for c in PRICE_COLUMNS}
        volume = _numeric(path, df, "vol")
        adjust = "none"
    elif {"Date", "Time"} <= cols:
        _require(path, df, _TDX_TXT_COLUMNS, "1-minute (<Date>, <Time>, ...)")
        codes = pd.Categorical.from_codes(np.zeros(len(df), dtype=np.int64),
                                          categories=[_symbol_from_name(path)])
        day = df["Date"].astype("string").str.strip().str.split(" ").str[0]
        stamp = day + " " + df["Time"].astype("string").str.strip()
        times = _datetimes(path, stamp, "Date/Time", "%Y/%m/%d %H:%M:%S")
        prices = {c: _numeric(path, df, c.capitalize()) for c in PRICE_COLUMNS}
        volume = _numeric(path, df, "Volume")
        adjust = "qfq"
    else:
        raise DataFormatError(
            f"{path}: unknown 1-minute header {list(df.columns)}; expected "
            "'symbol,id,dt,freq,open,close,high,low,vol' or "
            "'<Date>, <Time>, <Open>, <High>, <Low>, <Close>, <Volume>'"
        )
    out = pd.DataFrame({"trade_time": _to_bar_close(path, times),
                        **prices, "volume": volume, "amount": np.nan})
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


def read_trades_table(path: str | Path) -> pd.DataFrame:
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

    Returns:
        Trades frame ``ts_code`` (str), ``trade_time`` (datetime64[ns], naive
        Asia/Shanghai), ``price`` (float64 CNY), ``volume`` (float64 shares),
        ``direction`` (str ``B``/``S``/``N``), sorted by
        ``(ts_code, trade_time)`` with ties in file order.

    Raises:
        DataFormatError: empty table, unknown header, missing columns, an
            unknown direction or an unparseable value (file, row and field named).
    """
    path = Path(path)
    df = read_table(path)
    cols = set(df.columns)
    if "volume_lots" in cols or "symbol" in cols:
        parsed = _tdx_trades(path, df)
    elif {"MDDate", "MDTime"} <= cols:
        parsed = _insight_trades(path, df)
    elif "TradeTime" in cols:
        parsed = _l2_trades(path, df)
    elif "trade_time" in cols:
        parsed = _canonical_trades(path, df)
    else:
        raise DataFormatError(
            f"{path}: unknown trades header {list(df.columns)}; expected TDX snapshots "
            "(symbol,datetime,price,volume_lots,direction), Level-2 (SecurityID,TradeTime,"
            "TradePrice,TradeQty,...), Insight Level-2 (MDDate,MDTime,TradeBSFlag,...) or "
            "canonical (ts_code,trade_time,price,volume,direction)"
        )
    codes, out, keep = parsed
    if keep is not None:
        codes = codes[keep]
        out = out.loc[keep].reset_index(drop=True)
    return _finish(out, pd.Categorical(codes), "trade_time", TRADES_COLUMNS)


def _trades_frame(times: np.ndarray, price: np.ndarray, volume: np.ndarray,
                  direction: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"trade_time": times, "price": price, "volume": volume,
                         "direction": np.asarray(direction, dtype=object)})


def _tdx_trades(path: Path, df: pd.DataFrame):
    _require(path, df, _TDX_TRADE_COLUMNS, "TDX trades")
    codes = _ts_codes(path, df["symbol"], "symbol")
    times = _datetimes(path, df["datetime"], "datetime")
    volume = _numeric(path, df, "volume_lots") * SHARES_PER_LOT
    direction = pd.Series(_numeric(path, df, "direction")).map(TDX_DIRECTION)
    bad = direction.isna().to_numpy()
    if bad.any():
        raise _bad_row(path, bad, "direction (expected 0, 1 or 2)", df["direction"])
    out = _trades_frame(times, _numeric(path, df, "price"), volume, direction.to_numpy())
    return codes, out, None


def _canonical_trades(path: Path, df: pd.DataFrame):
    _require(path, df, TRADES_COLUMNS, "canonical Trades")
    codes = _ts_codes(path, df["ts_code"], "ts_code")
    times = _datetimes(path, df["trade_time"], "trade_time")
    direction = df["direction"].astype("string").str.strip().str.upper()
    bad = ~direction.isin(DIRECTIONS).fillna(False).to_numpy(bool)
    if bad.any():
        raise _bad_row(path, bad, "direction (expected B, S or N)", df["direction"])
    out = _trades_frame(times, _numeric(path, df, "price"), _numeric(path, df, "volume"),
                        direction.to_numpy())
    return codes, out, None


def _l2_trades(path: Path, df: pd.DataFrame):
    """Exchange Level-2 ``tradeData.csv`` (Shanghai flags, Shenzhen order sequence numbers)."""
    _require(path, df, _L2_COLUMNS, "Level-2 trades (tradeData)")
    sec = df["SecurityID"].astype("string").str.strip()
    if "Market" in df.columns:
        sec = sec + "." + df["Market"].astype("string").str.strip().fillna("")
        sec = sec.str.rstrip(".")
    codes = _ts_codes(path, sec, "SecurityID/Market")
    times = _datetimes(path, df["TradeTime"], "TradeTime", "%Y.%m.%dT%H:%M:%S.%f")
    price = np.round(_numeric(path, df, "TradePrice"), L2_PRICE_DECIMALS)
    volume = _numeric(path, df, "TradeQty")
    direction = np.full(len(df), None, dtype=object)
    flag = (df["TradeBSFlag"].astype("string").str.strip().str.upper()
            if "TradeBSFlag" in df.columns else pd.Series(pd.NA, index=df.index, dtype="string"))
    has_flag = flag.notna().to_numpy()
    ok = flag.isin(DIRECTIONS).fillna(False).to_numpy(bool)
    if (has_flag & ~ok).any():
        raise _bad_row(path, has_flag & ~ok, "TradeBSFlag (expected B, S or N)", df["TradeBSFlag"])
    direction[has_flag] = flag[has_flag].to_numpy(dtype=object)
    keep = np.ones(len(df), dtype=bool)
    sz = ~has_flag
    if sz.any():
        keep, direction = _sz_direction(path, df, sz, times, direction)
    return codes, _trades_frame(times, price, volume, direction), keep


def _sz_direction(path: Path, df: pd.DataFrame, sz: np.ndarray, times: np.ndarray,
                  direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shenzhen rows: keep executions, direction from the later (aggressor) order."""
    _require(path, df, ["ExecType", "BidApplSeqNum", "OfferApplSeqNum"], "Shenzhen Level-2 trades")
    exec_type = df["ExecType"].astype("string").str.strip().str.upper()
    known = exec_type.isin([SZ_EXEC_FILL, SZ_EXEC_CANCEL]).fillna(False).to_numpy(bool)
    if (sz & ~known).any():
        raise _bad_row(path, sz & ~known, "ExecType (expected F or 4)", df["ExecType"])
    fill = sz & (exec_type == SZ_EXEC_FILL).fillna(False).to_numpy(bool)
    bid = _numeric(path, df, "BidApplSeqNum")
    offer = _numeric(path, df, "OfferApplSeqNum")
    missing = fill & (np.isnan(bid) | np.isnan(offer))
    if missing.any():
        raise _bad_row(path, missing, "BidApplSeqNum/OfferApplSeqNum", df["BidApplSeqNum"])
    tod = times - times.astype("datetime64[D]")
    auction = (tod < _CONTINUOUS_OPEN) | (tod >= _SZ_CLOSING_CALL)
    direction = direction.copy()
    direction[fill] = np.where(auction[fill], "N", np.where(bid[fill] > offer[fill], "B", "S"))
    return ~sz | fill, direction


def _insight_trades(path: Path, df: pd.DataFrame):
    """Insight-style Shanghai Level-2 ``SHtrans.csv`` (numeric ``TradeBSFlag``)."""
    _require(path, df, _INSIGHT_COLUMNS, "Insight Level-2 trades")
    codes = _ts_codes(path, df["SecurityID"], "SecurityID")
    stamp = (df["MDDate"].astype("string").str.strip() + " "
             + df["MDTime"].astype("string").str.strip())
    times = _datetimes(path, stamp, "MDDate/MDTime", "%Y.%m.%d %H:%M:%S.%f")
    direction = df["TradeBSFlag"].astype("string").str.strip().map(INSIGHT_DIRECTION)
    bad = direction.isna().to_numpy()
    if bad.any():
        raise _bad_row(path, bad, "TradeBSFlag (expected 0, 1 or 2)", df["TradeBSFlag"])
    price = np.round(_numeric(path, df, "TradePrice"), L2_PRICE_DECIMALS)
    out = _trades_frame(times, price, _numeric(path, df, "TradeQty"), direction.to_numpy())
    return codes, out, None
