"""Conversions of TDX HTTP API answers to the Bars and Trades frames of DESIGN.md.

Units (``specs/README.md``, which wins over the reference's JSON examples; the
server's code decides): prices are integers in 厘 (1 CNY = 1000 厘), ``Amount``
in 厘 (the server stores 元 × 1000), ``Volume`` in 手 (100 shares) on every
route. So ``price = 厘 / 1000``, ``amount = 厘 / 1000``, ``volume = 手 × 100``
rounded to whole shares (a share count is an integer; a server that sends 手
with decimals keeps odd lots).

Stamps (``Time``): daily/weekly/monthly bars take the date as written
(``2024-11-03T00:00:00Z`` is the session of 2024-11-03). Intraday stamps with an
explicit offset (``+08:00``) are converted to Asia/Shanghai wall time; a ``Z``
suffix is read as Shanghai wall time, as the reference writes it (its
``/api/trade`` example prints ``14:59:58Z``, a time inside the session only as
Shanghai wall time). Minute bars keep TDX's stamp, the bar **close** (09:31 …
11:30, 13:01 … 15:00), the same stamps ``tzero ingest tdx`` stores from
``.lc1``/``.lc5`` files (:func:`tzero.data.tdx.read_lc`: 571 = 09:31).

Every converted bar is checked (:func:`check_bars`) before anyone sees it:
the store's row rules (:func:`tzero.data.validation.row_reasons`: finite,
positive, OHLC consistent, on a session, inside the trading minutes, no
conflicting duplicate) and the turnover rule (:data:`VWAP_TOL`): a unit
mix-up (厘 read as 分, 手 as shares) moves ``amount / volume`` out of
``[low, high]`` by a factor of 10 or more and becomes a :class:`TdxApiError`
naming the route and the bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tzero.data import tdx, validation
from tzero.data.tables import TDX_DIRECTION
from tzero.errors import TzeroError

BARS_COLUMNS = ["ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount"]
TRADES_COLUMNS = ["ts_code", "trade_time", "price", "volume", "direction"]
#: 厘 per CNY: prices and amounts are integers in 厘.
LI_PER_CNY = 1000.0
#: Shares per 手 (lot).
SHARES_PER_LOT = 100.0
#: Relative tolerance of ``amount / volume`` around ``[low, high]``. Measured on
#: the shared TDX folder: daily BJ stock bars reach 1.42 × high (block trades in
#: the turnover, e.g. 430510.BJ); the smallest unit mix-up (厘 vs 分) is × 10.
VWAP_TOL = 0.5
#: A bar's volume may be rounded to whole lots by the source (STAR 1-minute bars of
#: 100-200 shares carry the turnover of up to 2.6 × that): the band widens by one lot.
VWAP_LOT_SLACK = SHARES_PER_LOT


class TdxApiError(TzeroError):
    """A TDX HTTP API call that failed or answered something that cannot be used.

    One line: the route, its parameters and what went wrong (the server's
    ``message`` when it answered ``code != 0``).

    Attributes:
        route: e.g. ``/api/kline-all/tdx``.
        params: the query parameters (or JSON body) sent.
        message: the server's message, or what the client found wrong.
        kind: ``unreachable`` (connection error or timeout after the retries),
            ``http`` (a 4xx/5xx status), ``malformed`` (no JSON, or JSON without
            the expected fields), ``server`` (``code != 0``), ``bad bar`` (a
            converted bar failed the sanity checks), ``fallback`` (the server
            answered for another date).
    """

    def __init__(self, route: str, params: dict | None, message: str, kind: str = "server") -> None:
        self.route, self.params, self.message, self.kind = route, dict(params or {}), message, kind
        shown = "&".join(f"{k}={v}" for k, v in self.params.items())
        super().__init__(f"TDX API {route}{'?' + shown if shown else ''}: {message}")


def rows_of(data: object, route: str, params: dict | None) -> list[dict]:
    """The bar/trade list of a ``data`` object: ``List`` (``/api/kline``) or ``list`` (``/api/kline-all/*``).

    Raises:
        TdxApiError: ``data`` is not an object holding a list of objects (kind ``malformed``).
    """
    if isinstance(data, dict):
        rows = data.get("List", data.get("list"))
        if rows is None and not ({"List", "list"} & set(data)):
            raise TdxApiError(route, params, f"answer has no List/list field (keys {sorted(data)[:8]})",
                              "malformed")
        rows = rows or []
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
            return rows
    raise TdxApiError(route, params, f"answer is not a list of records ({type(data).__name__})",
                      "malformed")


def _column(rows: Sequence[dict], key: str, route: str, params: dict | None) -> np.ndarray:
    try:
        return np.array([r[key] for r in rows], dtype=np.float64)
    except KeyError:
        raise TdxApiError(route, params, f"a record lacks field {key!r}", "malformed") from None
    except (TypeError, ValueError):
        raise TdxApiError(route, params, f"field {key!r} holds a value that is not a number",
                          "malformed") from None


def parse_times(values: Sequence[str], *, daily: bool, route: str, params: dict | None) -> np.ndarray:
    """API ``Time`` strings → naive Asia/Shanghai ``datetime64[ns]`` (module docstring).

    Args:
        values: ISO 8601 stamps (``2024-11-03T00:00:00Z``, ``2024-11-08T14:58:00+08:00``).
        daily: take the date part only (midnight of the session).

    Raises:
        TdxApiError: a stamp that does not parse (kind ``malformed``).
    """
    s = pd.Series(list(values), dtype="string")
    try:
        if daily:
            return pd.to_datetime(s.str.slice(0, 10), format="%Y-%m-%d").to_numpy("datetime64[ns]")
        wall = s.str.endswith("Z").fillna(False).to_numpy(bool)
        out = np.empty(len(s), dtype="datetime64[ns]")
        if wall.any():
            out[wall] = pd.to_datetime(s[wall].str.slice(0, 19), format="%Y-%m-%dT%H:%M:%S").to_numpy()
        if (~wall).any():
            t = pd.to_datetime(s[~wall], format="ISO8601", utc=True)
            out[~wall] = t.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).to_numpy()
        return out
    except (ValueError, TypeError) as exc:
        raise TdxApiError(route, params, f"unreadable Time value ({exc})", "malformed") from None


def bars_from_rows(rows: Sequence[dict], ts_code: str, *, daily: bool, route: str,
                   params: dict | None) -> pd.DataFrame:
    """Convert API kline records (any order) to a checked Bars frame, sorted ascending.

    Args:
        rows: records with ``Time, Open, High, Low, Close`` (厘), ``Volume`` (手),
            ``Amount`` (厘).
        ts_code: the symbol they are of.
        daily: daily/weekly/monthly bars (stamped at midnight of the date).
        route, params: named in errors.

    Returns:
        Bars frame: prices float64 CNY, ``volume`` float64 shares, ``amount``
        float64 CNY, ``trade_time`` naive Asia/Shanghai (bar close).

    Raises:
        TdxApiError: a missing field or unreadable value (``malformed``), or a
            bar failing :func:`check_bars` (``bad bar``).
    """
    if not rows:
        return empty_bars()
    times = parse_times([r.get("Time", "") for r in rows], daily=daily, route=route, params=params)
    cols = {k.lower(): _column(rows, k, route, params) / LI_PER_CNY
            for k in ("Open", "High", "Low", "Close", "Amount")}
    cols["volume"] = np.round(_column(rows, "Volume", route, params) * SHARES_PER_LOT)
    df = pd.DataFrame({"ts_code": ts_code, "trade_time": times,
                       **{c: cols[c] for c in BARS_COLUMNS[2:]}})
    df = df.sort_values("trade_time", kind="stable").reset_index(drop=True)
    return check_bars(df, daily=daily, route=route, params=params)


def empty_bars() -> pd.DataFrame:
    """A Bars frame with no rows and the contract's dtypes."""
    return pd.DataFrame({"ts_code": pd.Series(dtype=object),
                         "trade_time": pd.Series(dtype="datetime64[ns]"),
                         **{c: pd.Series(dtype=np.float64) for c in BARS_COLUMNS[2:]}})


def _bar_name(df: pd.DataFrame, i: int) -> str:
    r = df.iloc[i]
    return (f"bar {r['ts_code']} {pd.Timestamp(r['trade_time'])} (open {r['open']:g} high {r['high']:g} "
            f"low {r['low']:g} close {r['close']:g} CNY, volume {r['volume']:g} shares, "
            f"amount {r['amount']:g} CNY)")


def vwap_violations(df: pd.DataFrame) -> np.ndarray:
    """Rows whose ``amount / volume`` lies outside ``[low, high]`` widened by :data:`VWAP_TOL`.

    The band also widens by :data:`VWAP_LOT_SLACK` shares of volume (a source
    that rounds a small bar's volume to lots); a bar of volume 0 may carry the
    turnover of at most one lot. Index bars are exempt (their ``amount / volume``
    is CNY per share, not index points).

    Returns:
        Boolean mask of the rows at fault.
    """
    if df.empty or tdx.is_index(str(df["ts_code"].iat[0])):
        return np.zeros(len(df), dtype=bool)
    v = df["volume"].to_numpy(np.float64)
    a = df["amount"].to_numpy(np.float64)
    lo = df["low"].to_numpy(np.float64)
    hi = df["high"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = hi * (1 + VWAP_TOL) * (v + VWAP_LOT_SLACK)
        lower = lo * (1 - VWAP_TOL) * np.maximum(v - VWAP_LOT_SLACK, 0.0)
    return (a > upper) | (a < lower)


def check_bars(df: pd.DataFrame, *, daily: bool, route: str, params: dict | None) -> pd.DataFrame:
    """Refuse a converted answer holding any bar that cannot be stored.

    Rules: the store's row rules (:func:`tzero.data.validation.row_reasons`,
    the same ``tzero ingest tdx`` applies) and :func:`vwap_violations`.
    Identical repeated bars are collapsed.

    Returns:
        ``df`` without identical repeats.

    Raises:
        TdxApiError: kind ``bad bar``, naming the route, the first bar at fault
            and the rule it broke.
    """
    if df.empty:
        return df
    reasons, repeat = validation.row_reasons(df, daily=daily)
    bad = np.flatnonzero(reasons != "")
    if len(bad):
        i = int(bad[0])
        raise TdxApiError(route, params, f"{_bar_name(df, i)}: {reasons[i]} ({len(bad)} bar(s) at "
                                         "fault); nothing was stored", "bad bar")
    vw = np.flatnonzero(vwap_violations(df))
    if len(vw):
        i = int(vw[0])
        raise TdxApiError(route, params, f"{_bar_name(df, i)}: amount/volume is outside "
                                         f"[low, high] ±{VWAP_TOL:.0%} ({len(vw)} bar(s)): a unit "
                                         "mix-up (厘/分, 手/shares)?; nothing was stored", "bad bar")
    if repeat.any():
        df = df.loc[~repeat].reset_index(drop=True)
    return df


def trades_from_rows(rows: Sequence[dict], ts_code: str, *, route: str,
                     params: dict | None) -> pd.DataFrame:
    """Convert API trade records to a Trades frame in time order (ties in the server's order).

    ``Status`` 0/1/2 → ``B``/``S``/``N`` (:data:`tzero.data.tables.TDX_DIRECTION`),
    ``Price`` 厘 → CNY, ``Volume`` 手 → shares. A list written newest first
    (``/api/trade``'s example) is reversed before the stable sort, so ties keep
    the order they were printed in.

    Returns:
        Trades frame ``ts_code, trade_time, price (CNY), volume (shares), direction``
        plus ``seq`` (0, 1, … among trades of the same stamp, the store's key).

    Raises:
        TdxApiError: missing or unreadable fields, an unknown ``Status``
            (``malformed``), or a trade failing the store's trade rules (``bad bar``).
    """
    if not rows:
        return pd.DataFrame({"ts_code": pd.Series(dtype=object),
                             "trade_time": pd.Series(dtype="datetime64[ns]"),
                             "price": pd.Series(dtype=np.float64), "volume": pd.Series(dtype=np.float64),
                             "direction": pd.Series(dtype=object), "seq": pd.Series(dtype=np.int64)})
    times = parse_times([r.get("Time", "") for r in rows], daily=False, route=route, params=params)
    status = _column(rows, "Status", route, params)
    direction = pd.Series(status).map(TDX_DIRECTION)
    if direction.isna().any():
        bad = status[direction.isna().to_numpy()][0]
        raise TdxApiError(route, params, f"unknown trade Status {bad:g} (expected 0, 1 or 2)",
                          "malformed")
    df = pd.DataFrame({"ts_code": ts_code, "trade_time": times,
                       "price": _column(rows, "Price", route, params) / LI_PER_CNY,
                       "volume": np.round(_column(rows, "Volume", route, params) * SHARES_PER_LOT),
                       "direction": direction.to_numpy(dtype=object)})
    if len(df) > 1 and df["trade_time"].iat[0] > df["trade_time"].iat[-1]:
        df = df.iloc[::-1]
    df = df.sort_values("trade_time", kind="stable").reset_index(drop=True)
    checked = validation.check_trades(df, source=route, extra_columns=())
    if checked.n_bad:
        raise TdxApiError(route, params, f"{checked.problems[0].detail} ({checked.n_bad} trade(s) "
                                         "at fault); nothing was stored", "bad bar")
    df["seq"] = df.groupby("trade_time").cumcount().astype(np.int64)
    return df


def minute_line_from(data: object, ts_code: str, *, route: str, params: dict | None
                     ) -> tuple[pd.Timestamp | None, pd.DataFrame]:
    """``/api/minute``'s ``data`` → (the date the data is of, frame of the minute line).

    The stamps are built from ``data.date`` (the day the server actually
    answered for), never from the asked date.

    Returns:
        ``(date, frame)``: ``date`` None when ``List`` is empty; the frame has
        ``ts_code, trade_time`` (bar close, naive Shanghai), ``price`` (CNY),
        ``volume`` (shares).

    Raises:
        TdxApiError: no ``date`` with a non-empty list, unreadable fields (``malformed``).
    """
    rows = rows_of(data, route, params)
    if not rows:
        return None, pd.DataFrame({"ts_code": pd.Series(dtype=object),
                                   "trade_time": pd.Series(dtype="datetime64[ns]"),
                                   "price": pd.Series(dtype=np.float64),
                                   "volume": pd.Series(dtype=np.float64)})
    raw_date = data.get("date") if isinstance(data, dict) else None
    try:
        day = pd.Timestamp(str(raw_date)).normalize()
    except ValueError:
        raise TdxApiError(route, params, f"answer has no usable date ({raw_date!r})", "malformed") from None
    try:
        hm = pd.to_timedelta([f"{r['Time']}:00" for r in rows])
    except (KeyError, ValueError):
        raise TdxApiError(route, params, "a record's Time is not HH:MM", "malformed") from None
    frame = pd.DataFrame({"ts_code": ts_code, "trade_time": (day + hm).to_numpy("datetime64[ns]"),
                          "price": _column(rows, "Price", route, params) / LI_PER_CNY,
                          "volume": np.round(_column(rows, "Number", route, params) * SHARES_PER_LOT)})
    return day, frame


def within_span(df: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None
                        ) -> pd.DataFrame:
    """Rows of ``df`` with ``start <= trade_time`` and ``trade_time`` before the day after ``end``."""
    keep = np.ones(len(df), dtype=bool)
    t = df["trade_time"]
    if start is not None:
        keep &= (t >= pd.Timestamp(start).normalize()).to_numpy()
    if end is not None:
        keep &= (t < pd.Timestamp(end).normalize() + pd.Timedelta(days=1)).to_numpy()
    return df if keep.all() else df.loc[keep].reset_index(drop=True)


__all__ = ["TdxApiError", "VWAP_TOL", "bars_from_rows", "check_bars", "empty_bars",
           "minute_line_from", "parse_times", "rows_of", "trades_from_rows", "vwap_violations"]
