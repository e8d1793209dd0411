"""A typed client of the TDX HTTP API server (spec 000 §2.2; ``specs/tdx_api_reference.md``).

:class:`TdxApiClient` has one method per route of issue 13; each returns the
answer's ``data`` as the server sent it (raw JSON: prices in 厘, volumes in 手).
:func:`fetch_bars`, :func:`fetch_session_bars`, :func:`fetch_trades` and
:func:`fetch_minute_line` convert to the Bars/Trades frames of DESIGN.md
(CNY, shares; :mod:`tzero.data.tdx_api_convert` holds the rules and the
per-bar sanity checks).

Transport policy: every call waits for the rate limit (``max_rps``), uses
``timeout`` (``long_timeout`` for full histories: ``/api/kline-all/*``,
``/api/index/all``, ``/api/trade-history/full``, ``/api/minute-trade-all``) and
retries up to ``retries`` times with exponential back-off (``backoff_s`` × 2^k)
on a connection error, a timeout or a 5xx status — never on a 4xx status, a
malformed answer or ``code != 0`` (the server's answer is then final). What
fails raises :class:`TdxApiError` (a :class:`~tzero.errors.TzeroError`: the CLI
prints its one line and exits 2).
"""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any, TypeAlias

import httpx
import pandas as pd

from tzero.data import tdx
from tzero.data.tdx_api_convert import (
    TdxApiError,
    bars_from_rows,
    empty_bars,
    minute_line_from,
    rows_of,
    trades_from_rows,
    within_span,
)
from tzero.market.symbols import to_ts_code

#: Our frequencies → the API's kline ``type``.
KLINE_TYPES = {"1m": "minute1", "5m": "minute5", "15m": "minute15", "30m": "minute30",
               "60m": "hour", "1d": "day", "1w": "week", "1M": "month"}
#: Frequencies whose bars are stamped at midnight of the date.
DAILY_FREQS = ("1d", "1w", "1M")
#: ``/api/kline-all/ths`` (前复权) serves only these.
THS_FREQS = ("1d", "1w", "1M")
#: Routes that return whole histories and get ``long_timeout``.
LONG_ROUTES = ("/api/kline-all/tdx", "/api/kline-all/ths", "/api/index/all",
               "/api/trade-history/full", "/api/minute-trade-all")
#: Most codes one ``/api/batch-quote`` takes (reference §8).
BATCH_QUOTE_MAX = 50

DateLike: TypeAlias = "date | str | pd.Timestamp"


def api_code(ts_code: str) -> str:
    """The ``code`` parameter for a symbol: 6 digits for stocks/funds, ``sh000300`` for indices.

    Raises:
        SymbolError: not a symbol :func:`~tzero.market.symbols.to_ts_code` accepts.
    """
    c = to_ts_code(ts_code)
    code, ex = c.split(".")
    return f"{ex.lower()}{code}" if tdx.is_index(c) else code


def _yyyymmdd(day: DateLike | None) -> str | None:
    return None if day is None else pd.Timestamp(day).strftime("%Y%m%d")


class _RateLimit:
    """At most ``max_rps`` calls per second over all threads (a minimum spacing)."""

    def __init__(self, max_rps: float) -> None:
        self.gap = 1.0 / max_rps if max_rps and max_rps > 0 else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.gap:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.gap
        if at > now:
            time.sleep(at - now)


class TdxApiClient:
    """HTTP client of one TDX API server; a context manager (``close()`` on exit).

    Args:
        base_url: e.g. ``http://127.0.0.1:8080``.
        timeout: seconds per request (connect and read).
        long_timeout: seconds for the full-history routes (:data:`LONG_ROUTES`).
        retries: further attempts after a connection error, timeout or 5xx.
        backoff_s: first back-off; doubles after each failed attempt.
        max_rps: most requests per second (0: no limit). The reference advises
            spacing calls; a local server takes many more.

    Raises:
        ValueError: an empty ``base_url`` or one without ``http://``/``https://``.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, long_timeout: float = 120.0,
                 retries: int = 3, backoff_s: float = 0.2, max_rps: float = 20.0) -> None:
        base = (base_url or "").strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"TDX API URL {base_url!r} must start with http:// or https:// "
                             "(e.g. http://127.0.0.1:8080)")
        self.base_url = base
        self.timeout, self.long_timeout = timeout, long_timeout
        self.retries, self.backoff_s = max(0, int(retries)), backoff_s
        self._limit = _RateLimit(max_rps)
        self._http = httpx.Client(base_url=base, timeout=timeout, trust_env=False)
        self.requests = 0
        """Requests sent (attempts included), for summaries and tests."""

    def __enter__(self) -> TdxApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # ------------------------------------------------------------------ transport
    def request(self, method: str, route: str, params: dict | None = None, *,
                body: Any = None, envelope: bool = True) -> Any:
        """Send one call with the module's retry policy and return ``data``.

        Args:
            method: ``GET`` or ``POST``.
            route: e.g. ``/api/kline``.
            params: query parameters (None values are left out).
            body: JSON body of a POST.
            envelope: the answer is ``{code, message, data}`` (all but ``/api/health``).

        Returns:
            ``data`` of the answer (the whole JSON when not ``envelope``).

        Raises:
            TdxApiError: unreachable or timed out after the retries, a 4xx/5xx
                status, an answer that is not JSON or not an envelope, or
                ``code != 0`` (with the server's ``message``).
        """
        q = {k: v for k, v in (params or {}).items() if v is not None}
        shown = q if body is None else {**q, **(body if isinstance(body, dict) else {"body": body})}
        timeout = self.long_timeout if route in LONG_ROUTES else self.timeout
        resp = self._send(method, route, q, body, timeout, shown)
        try:
            payload = resp.json()
        except ValueError:
            text = resp.text[:60].replace("\n", " ")
            raise TdxApiError(route, shown, f"answer is not JSON (starts {text!r})", "malformed") from None
        if not envelope:
            return payload
        if not isinstance(payload, dict) or "code" not in payload:
            raise TdxApiError(route, shown, "answer is not a {code, message, data} object",
                              "malformed")
        if payload["code"] != 0:
            raise TdxApiError(route, shown, f"server answered code {payload['code']}: "
                                            f"{payload.get('message') or 'no message'}", "server")
        return payload.get("data")

    def _send(self, method: str, route: str, q: dict, body: Any, timeout: float,
              shown: dict) -> httpx.Response:
        """One request with retries on connection errors, timeouts and 5xx (module docstring)."""
        attempt = 0
        while True:
            self._limit.wait()
            self.requests += 1
            problem: str
            try:
                resp = self._http.request(method, route, params=q, json=body, timeout=timeout)
            except httpx.TimeoutException:
                problem = f"no answer within {timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"cannot reach {self.base_url} ({type(exc).__name__}: {exc})"
            else:
                if resp.status_code < 400:
                    return resp
                if resp.status_code < 500:
                    raise TdxApiError(route, shown, f"HTTP {resp.status_code} "
                                                    f"{resp.text[:80].strip()!r}", "http")
                problem = f"HTTP {resp.status_code}"
            if attempt >= self.retries:
                kind = "http" if problem.startswith("HTTP") else "unreachable"
                tries = f" after {attempt + 1} attempt(s)"
                raise TdxApiError(route, shown, problem + tries, kind)
            time.sleep(self.backoff_s * (2 ** attempt))
            attempt += 1

    def _get(self, route: str, **params: Any) -> Any:
        return self.request("GET", route, params)

    # --------------------------------------------------------------------- routes
    def health(self) -> dict:
        """``GET /api/health``: ``{"status": "healthy", "time": …}`` (no envelope)."""
        return self.request("GET", "/api/health", envelope=False)

    def quote(self, codes: str | list[str]) -> list[dict]:
        """``GET /api/quote``: five-level quotes of one or more codes (prices 厘, volume 手)."""
        return self._get("/api/quote", code=codes if isinstance(codes, str) else ",".join(codes))

    def batch_quote(self, codes: list[str]) -> list[dict]:
        """``POST /api/batch-quote``: quotes of up to :data:`BATCH_QUOTE_MAX` codes.

        Raises:
            ValueError: more than :data:`BATCH_QUOTE_MAX` codes.
        """
        if len(codes) > BATCH_QUOTE_MAX:
            raise ValueError(f"/api/batch-quote takes at most {BATCH_QUOTE_MAX} codes, got {len(codes)}")
        return self.request("POST", "/api/batch-quote", body={"codes": list(codes)})

    def kline(self, code: str, type: str = "day") -> dict:
        """``GET /api/kline``: ``{Count, List}`` newest first; day/week/month 前复权, minutes raw."""
        return self._get("/api/kline", code=code, type=type)

    def kline_all_tdx(self, code: str, type: str = "day", limit: int | None = None) -> dict:
        """``GET /api/kline-all/tdx``: raw (unadjusted) history ``{count, list, meta}``, oldest first."""
        return self._get("/api/kline-all/tdx", code=code, type=type, limit=limit)

    def kline_all_ths(self, code: str, type: str = "day", limit: int | None = None) -> dict:
        """``GET /api/kline-all/ths``: 同花顺 前复权 history (day/week/month), oldest first."""
        return self._get("/api/kline-all/ths", code=code, type=type, limit=limit)

    def kline_history(self, code: str, type: str = "day", limit: int = 100) -> dict:
        """``GET /api/kline-history``: the latest ``limit`` (≤ 800) bars."""
        return self._get("/api/kline-history", code=code, type=type, limit=limit)

    def index(self, code: str, type: str = "day") -> dict:
        """``GET /api/index``: index bars ``{Count, List}`` newest first (code like ``sh000300``)."""
        return self._get("/api/index", code=code, type=type)

    def index_all(self, code: str, type: str = "day", limit: int | None = None) -> dict:
        """``GET /api/index/all``: an index's whole history, oldest first."""
        return self._get("/api/index/all", code=code, type=type, limit=limit)

    def minute(self, code: str, date: DateLike | None = None) -> dict:
        """``GET /api/minute``: the minute line ``{date, Count, List}``; may fall back to an earlier day."""
        return self._get("/api/minute", code=code, date=_yyyymmdd(date))

    def trade(self, code: str, date: DateLike | None = None) -> dict:
        """``GET /api/trade``: up to 1,800 (today) / 2,000 (history) trades ``{Count, List}``."""
        return self._get("/api/trade", code=code, date=_yyyymmdd(date))

    def trade_history(self, code: str, date: DateLike, start: int = 0, count: int = 2000) -> dict:
        """``GET /api/trade-history``: one page (≤ 2,000) of a past day's trades from cursor ``start``."""
        return self._get("/api/trade-history", code=code, date=_yyyymmdd(date), start=start,
                         count=count)

    def minute_trade_all(self, code: str, date: DateLike | None = None) -> dict:
        """``GET /api/minute-trade-all``: every trade of one day (today when ``date`` is None)."""
        return self._get("/api/minute-trade-all", code=code, date=_yyyymmdd(date))

    def trade_history_full(self, code: str, before: DateLike | None = None,
                           limit: int | None = None) -> dict:
        """``GET /api/trade-history/full``: trades since listing, up to ``before``, the latest ``limit``."""
        return self._get("/api/trade-history/full", code=code, before=_yyyymmdd(before), limit=limit)

    def codes(self, exchange: str = "all") -> dict:
        """``GET /api/codes``: ``{total, exchanges, codes: [{code, name, exchange}]}``."""
        return self._get("/api/codes", exchange=exchange)

    def stock_codes(self, limit: int | None = None, prefix: bool = True) -> dict:
        """``GET /api/stock-codes``: ``{count, list}`` of codes (``sh600000`` with ``prefix``)."""
        return self._get("/api/stock-codes", limit=limit, prefix=str(prefix).lower())

    def etf_codes(self, limit: int | None = None, prefix: bool = True) -> dict:
        """``GET /api/etf-codes``: ``{count, list}`` of ETF codes."""
        return self._get("/api/etf-codes", limit=limit, prefix=str(prefix).lower())

    def index_codes(self, limit: int | None = None, prefix: bool = True) -> dict:
        """``GET /api/index-codes``: ``{count, source, list, items}`` of index codes."""
        return self._get("/api/index-codes", limit=limit, prefix=str(prefix).lower())

    def workday(self, date: DateLike | None = None, count: int = 1) -> dict:
        """``GET /api/workday``: ``{date, is_workday, next, previous}`` (``count`` 1..30 each side)."""
        return self._get("/api/workday", date=_yyyymmdd(date), count=count)

    def workday_range(self, start: DateLike, end: DateLike) -> dict:
        """``GET /api/workday/range``: the trading days between ``start`` and ``end``."""
        return self._get("/api/workday/range", start=_yyyymmdd(start), end=_yyyymmdd(end))

    def pull_kline(self, **body: Any) -> dict:
        """``POST /api/tasks/pull-kline`` (fields of reference §12): ``{task_id}``."""
        return self.request("POST", "/api/tasks/pull-kline", body=body)

    def pull_trade(self, **body: Any) -> dict:
        """``POST /api/tasks/pull-trade`` (fields of reference §13): ``{task_id}``."""
        return self.request("POST", "/api/tasks/pull-trade", body=body)

    def tasks(self) -> Any:
        """``GET /api/tasks``: every task and its status."""
        return self._get("/api/tasks")

    def task(self, task_id: str) -> dict:
        """``GET /api/tasks/{id}``: one task ``{id, type, status, started_at, …}``."""
        return self._get(f"/api/tasks/{task_id}")

    def cancel_task(self, task_id: str) -> Any:
        """``POST /api/tasks/{id}/cancel``."""
        return self.request("POST", f"/api/tasks/{task_id}/cancel")


# ------------------------------------------------------------------ high level
def _check_freq(freq: str, adjust: str) -> None:
    if freq not in KLINE_TYPES:
        raise ValueError(f"unknown frequency {freq!r}: expected one of {', '.join(KLINE_TYPES)}")
    if adjust not in ("none", "qfq"):
        raise ValueError(f"adjust {adjust!r} is not served by the TDX API: expected none or qfq "
                         "(hfq: read stored bars with an adj_factor)")
    if adjust == "qfq" and freq not in THS_FREQS:
        raise ValueError(f"/api/kline-all/ths serves 前复权 bars of {', '.join(THS_FREQS)} only, "
                         f"not {freq}")


def fetch_bars(client: TdxApiClient, ts_code: str, freq: str, *, adjust: str = "none",
               start: DateLike | None = None, end: DateLike | None = None,
               limit: int | None = None) -> pd.DataFrame:
    """Bars of one symbol from the full-history routes, converted and checked.

    Routes: ``adjust="none"`` → ``/api/kline-all/tdx`` (``/api/index/all`` for
    indices); ``adjust="qfq"`` → ``/api/kline-all/ths`` (day/week/month only).

    Args:
        client: the API client.
        ts_code: any form :func:`~tzero.market.symbols.to_ts_code` accepts.
        freq: ``1m 5m 15m 30m 60m 1d 1w 1M``.
        adjust: ``none`` (as stored) or ``qfq``.
        start, end: first/last date kept (inclusive; None: all).
        limit: ask the server for only the latest ``limit`` bars (incremental ingest).

    Returns:
        Bars frame of DESIGN.md: ``ts_code, trade_time`` (naive Asia/Shanghai,
        bar close; daily bars at the date), ``open high low close`` (CNY),
        ``volume`` (shares), ``amount`` (CNY), sorted ascending;
        ``attrs["route"]`` names the route.

    Raises:
        ValueError: unknown ``freq``/``adjust`` or a pair the API does not serve.
        TdxApiError: the call failed, or a bar failed the sanity checks
            (:func:`tzero.data.tdx_api_convert.check_bars`: route and bar named).
    """
    _check_freq(freq, adjust)
    code = to_ts_code(ts_code)
    kind = KLINE_TYPES[freq]
    if adjust == "qfq":
        route, data = "/api/kline-all/ths", client.kline_all_ths(api_code(code), kind, limit)
    elif tdx.is_index(code):
        route, data = "/api/index/all", client.index_all(api_code(code), kind, limit)
    else:
        route, data = "/api/kline-all/tdx", client.kline_all_tdx(api_code(code), kind, limit)
    params = {"code": api_code(code), "type": kind, **({"limit": limit} if limit else {})}
    bars = bars_from_rows(rows_of(data, route, params), code, daily=freq in DAILY_FREQS,
                          route=route, params=params)
    bars = within_span(bars, pd.Timestamp(start) if start else None, pd.Timestamp(end) if end else None)
    bars.attrs["route"] = route
    return bars


def fetch_session_bars(client: TdxApiClient, ts_code: str, day: DateLike,
                       freq: str = "1m") -> pd.DataFrame:
    """The intraday bars of one session that the server has now (the live loop's poll).

    One ``/api/kline`` call (``/api/index`` for indices) of the frequency's
    type: the server's latest bars, newest first, reversed here; only bars of
    ``day`` are kept. Minute bars are raw (unadjusted) on this route.

    Args:
        client: the API client.
        ts_code: the symbol.
        day: the session date.
        freq: ``1m 5m 15m 30m 60m``.

    Returns:
        Bars frame of ``day`` (bar-close stamps), ascending; empty (with the
        Bars columns) when the server has no bar of that day yet.

    Raises:
        ValueError: a daily frequency or an unknown one.
        TdxApiError: the call failed or a bar failed the sanity checks.
    """
    if freq not in KLINE_TYPES or freq in DAILY_FREQS:
        raise ValueError(f"fetch_session_bars takes an intraday frequency (1m 5m 15m 30m 60m), "
                         f"not {freq!r}")
    code = to_ts_code(ts_code)
    kind = KLINE_TYPES[freq]
    route = "/api/index" if tdx.is_index(code) else "/api/kline"
    data = client.index(api_code(code), kind) if route == "/api/index" else client.kline(api_code(code), kind)
    params = {"code": api_code(code), "type": kind}
    d = pd.Timestamp(day).normalize()
    rows = [r for r in rows_of(data, route, params) if str(r.get("Time", ""))[:10] == d.strftime("%Y-%m-%d")]
    if not rows:
        return empty_bars()
    bars = bars_from_rows(rows, code, daily=False, route=route, params=params)
    bars.attrs["route"] = route
    return bars


def fetch_trades(client: TdxApiClient, ts_code: str, day: DateLike) -> pd.DataFrame:
    """All trades of one session (``/api/minute-trade-all?date=``), as the store's Trades rows.

    Returns:
        ``ts_code, trade_time`` (naive Shanghai), ``price`` (CNY), ``volume``
        (shares), ``direction`` (``B``/``S``/``N`` from Status 0/1/2), ``seq``;
        time order; empty when the server lists none.

    Raises:
        TdxApiError: the call failed, a trade failed the store's rules, or the
            server answered trades of another day (kind ``fallback``; never
            stored under the asked day).
    """
    code = to_ts_code(ts_code)
    d = pd.Timestamp(day).normalize()
    route = "/api/minute-trade-all"
    params = {"code": api_code(code), "date": d.strftime("%Y%m%d")}
    data = client.minute_trade_all(api_code(code), d)
    trades = trades_from_rows(rows_of(data, route, params), code, route=route, params=params)
    other = trades["trade_time"].dt.normalize() != d
    if other.any():
        raise TdxApiError(route, params, f"answered trades of {trades['trade_time'][other].iloc[0].date()}, "
                                         f"not of the asked {d.date()}", "fallback")
    return trades


class MinuteLine:
    """What ``/api/minute`` answered: the day it is of, and whether that is the asked day.

    Attributes:
        asked: the date asked for (None: today).
        date: the date the data is of (``data.date``), None when the list is empty.
        fallback: True when the server answered for another day than ``asked``.
        frame: ``ts_code, trade_time, price (CNY), volume (shares)``, stamped on ``date``.
    """

    def __init__(self, asked: pd.Timestamp | None, served: pd.Timestamp | None,
                 frame: pd.DataFrame) -> None:
        self.asked, self.date, self.frame = asked, served, frame
        self.fallback = served is not None and asked is not None and served != asked

    def __repr__(self) -> str:
        return (f"MinuteLine(asked={self.asked}, date={self.date}, fallback={self.fallback}, "
                f"rows={len(self.frame)})")


def fetch_minute_line(client: TdxApiClient, ts_code: str, day: DateLike | None = None) -> MinuteLine:
    """The minute line (price and volume per minute) of ``day`` via ``/api/minute``.

    The server falls back to the latest earlier day with data when ``day`` has
    none and says so in ``data.date``: the result's ``fallback`` is then True
    and its rows are stamped on the day they are of, never on the asked one.

    Raises:
        TdxApiError: the call failed or the answer is malformed.
    """
    code = to_ts_code(ts_code)
    asked = pd.Timestamp(day).normalize() if day is not None else None
    params = {"code": api_code(code), **({"date": _yyyymmdd(asked)} if asked is not None else {})}
    data = client.minute(api_code(code), asked)
    served, frame = minute_line_from(data, code, route="/api/minute", params=params)
    return MinuteLine(asked, served, frame)


__all__ = ["BATCH_QUOTE_MAX", "DAILY_FREQS", "KLINE_TYPES", "LONG_ROUTES", "THS_FREQS", "MinuteLine",
           "TdxApiClient", "TdxApiError", "api_code", "fetch_bars", "fetch_minute_line",
           "fetch_session_bars", "fetch_trades"]
