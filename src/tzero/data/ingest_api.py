"""Ingest from a TDX HTTP API server (issue 13; spec 000 §2.2): ``tzero ingest api``.

Policy, the same as :func:`tzero.data.ingest.ingest_tdx`'s:

* **unadjusted**: bars come from ``/api/kline-all/tdx`` (``/api/index/all`` for
  indices), raw prices; DESIGN.md stores bars unadjusted and applies
  ``qfq``/``hfq`` on read from ``adj_factor``. ``adjust="qfq"`` is refused
  (:data:`QFQ_REFUSED` says why and what to do instead).
* **incremental**: for each symbol and frequency the store's last stored
  ``trade_time`` is read first; a series already holding the last session up
  to ``end`` (or today) is not asked at all, the others are asked only for the
  bars after it (the route's ``limit``: sessions since then × bars per
  session, plus one session of overlap; the full history when the overlap is
  not reached, or when ``end`` lies in the past).
* **idempotent**: only bars after the stored ones are written; a second run
  writes 0 rows (and the store's keyed merge makes a re-written bar a no-op).
* **atomic**: every answer is read and checked first (the client refuses an
  answer holding any bar that breaks the store's rules or the turnover check,
  naming route and bar); then one :meth:`MarketStore.write`. A failed call or a
  bad bar anywhere refuses the whole ingest and leaves the store unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tzero.data.ingest import STEP_WRITE, IngestSummary, Steps
from tzero.data.store import MarketStore
from tzero.data.tdx_api import TdxApiClient, TdxApiError, fetch_bars, fetch_trades
from tzero.errors import TzeroError
from tzero.market import calendar
from tzero.market.symbols import to_ts_code, to_ts_codes

#: Frequencies the store keeps (:data:`tzero.data.store.DATASETS`) → dataset.
API_DATASETS = {"1d": "bars_1d", "1m": "bars_1m", "5m": "bars_5m"}
#: Bars per full session (DESIGN.md: the 240-minute session).
BARS_PER_SESSION = {"1d": 1, "1m": 240, "5m": 48}
#: Stamp of a session's last bar, as an offset from midnight (daily bars sit at midnight).
LAST_BAR = {"1d": pd.Timedelta(0), "1m": pd.Timedelta("15:00:00"), "5m": pd.Timedelta("15:00:00")}
STEP_ASK = "asking the TDX API"
STEP_TRADES = "asking trades"
QFQ_REFUSED = ("--adjust qfq is not stored: the market store keeps unadjusted bars and applies qfq/hfq "
               "on read from adj_factor (DESIGN.md 'Data contracts'); ingest with --adjust none (the "
               "default) and read with `tzero kline --adjust qfq` (factors: `tzero ingest table --kind "
               "adj_factor FILE` or a TDX folder's gbbq via `tzero ingest tdx`)")


def parse_freqs(freqs: str | Sequence[str]) -> list[str]:
    """``"1d,1m"`` or ``["1d", "5m"]`` → frequencies the store keeps, order kept.

    Raises:
        TzeroError: an empty list or a frequency the store has no dataset for.
    """
    items = [f.strip() for f in (freqs.split(",") if isinstance(freqs, str) else freqs) if f.strip()]
    bad = [f for f in items if f not in API_DATASETS]
    if not items or bad:
        raise TzeroError(f"--freq {','.join(bad) or '(empty)'}: the store keeps "
                         f"{', '.join(API_DATASETS)} bars (15m/30m/60m/1w/1M are built from them on read)")
    return list(dict.fromkeys(items))


def last_stored(store: MarketStore, dataset: str, symbols: Sequence[str]) -> dict[str, pd.Timestamp]:
    """The newest stored ``trade_time`` per symbol of ``dataset`` (symbols without bars are absent).

    One grouped query; the Parquet and the PostgreSQL store both answer it.
    """
    if not symbols or not store.has(dataset):
        return {}
    df = store.query(dataset, "ts_code IN (SELECT unnest(?)) GROUP BY ts_code", [list(symbols)],
                     columns="ts_code, MAX(trade_time) AS t", order_by="ts_code")
    return {str(c): pd.Timestamp(t) for c, t in zip(df["ts_code"], df["t"], strict=True) if pd.notna(t)}


def _span_end(end: pd.Timestamp | None) -> pd.Timestamp:
    """The last session asked for: ``end``'s, or today's (Asia/Shanghai) once 15:00 has passed."""
    if end is not None:
        return calendar.previous_session(end)
    now = pd.Timestamp.now(tz="Asia/Shanghai").tz_localize(None)
    day = calendar.previous_session(now.normalize())
    if day == now.normalize() and now.hour < 15:  # today's session is not over yet
        day = calendar.offset_session(day, -1)
    return day


def _plan(last: pd.Timestamp | None, freq: str, end: pd.Timestamp | None) -> tuple[bool, int | None]:
    """(ask at all, ``limit`` for the route: None = the whole history) for one series.

    Not asked: the store already holds the last bar of the last session up to
    ``end`` (or today). Asked with a ``limit``: the sessions since the last
    stored one × bars per session, plus one session of overlap (the newest
    bars: only without a past ``end``).
    """
    if last is None:
        return True, None
    try:
        final = _span_end(end)
        if last >= final + LAST_BAR[freq]:
            return False, None
        missing = len(calendar.sessions(last.normalize(), final))
    except TzeroError:  # a date outside the calendar: ask for everything, keep what is new
        return True, None
    return True, None if end is not None else (missing + 1) * BARS_PER_SESSION[freq]


def _new_bars(client: TdxApiClient, code: str, freq: str, last: pd.Timestamp | None,
              start: pd.Timestamp | None, end: pd.Timestamp | None, limit: int | None) -> pd.DataFrame:
    """The bars of one series after ``last`` within ``[start, end]`` (refetched whole if ``limit`` fell short)."""
    bars = fetch_bars(client, code, freq, start=start, end=end, limit=limit)
    if limit is not None and last is not None and len(bars) >= limit and bars["trade_time"].iat[0] > last:
        bars = fetch_bars(client, code, freq, start=start, end=end)  # the gap is longer than asked
    if last is not None:
        bars = bars.loc[bars["trade_time"] > last]
    return bars.reset_index(drop=True)


def _trade_days(code: str, last: pd.Timestamp | None, start: pd.Timestamp | None,
                end: pd.Timestamp | None, daily: pd.DataFrame | None) -> pd.DatetimeIndex:
    """Sessions whose trades the store lacks: after the last stored trade (or from ``start``)
    to ``end``; only days with a daily bar when the symbol's daily bars are known.

    Raises:
        TzeroError: neither ``start`` nor stored trades say where to begin.
    """
    if last is None and start is None:
        raise TzeroError(f"--trades: the store holds no trades of {code}; pass --start D (the first "
                         "session to ask trades for)")
    first = max(x for x in (start, None if last is None else last.normalize() + pd.Timedelta(days=1))
                if x is not None)
    final = _span_end(end)
    if first > final:
        return pd.DatetimeIndex([])
    days = calendar.sessions(first, final)
    if daily is not None and len(daily):
        days = days[days.isin(pd.DatetimeIndex(daily["trade_time"]).normalize())]
    return days


def ingest_api(store: MarketStore, client: TdxApiClient, symbols: Sequence[str] | None = None,
               freqs: str | Sequence[str] = ("1d",), *, adjust: str = "none",
               start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
               trades: bool = False, steps: Steps | None = None) -> IngestSummary:
    """Ingest bars (and optionally trades) of ``symbols`` from a TDX API server (module docstring).

    Args:
        store: target store (Parquet or PostgreSQL).
        client: a client of the server (its ``base_url`` names the summary's source).
        symbols: any forms :func:`~tzero.market.symbols.to_ts_codes` accepts;
            ``None`` (or empty): the symbols the store already holds for each
            frequency (an update); ``["all"]``: every code of ``/api/codes``.
        freqs: ``1d``, ``1m``, ``5m`` (comma-separated or a list).
        adjust: ``none`` (the only value stored: :data:`QFQ_REFUSED`).
        start, end: first/last session kept (inclusive; None: the whole history / up to today).
        trades: also ingest each session's trades (``/api/minute-trade-all``)
            into ``trades``, for the sessions after the last stored trade (or from ``start``).
        steps: ``steps(step, done, total)`` per step (:data:`tzero.data.ingest.Steps`).

    Returns:
        The summary: per dataset the store's write result; ``files`` counts the
        HTTP requests sent; ``notes`` say how many series were already up to date.

    Raises:
        TzeroError: ``adjust`` other than ``none``, an unknown frequency, no
            symbols to ingest, a bad ``start``/``end``.
        TdxApiError: the server cannot be reached, a call failed or answered a
            bar that cannot be stored (route and bar named); nothing is written.
    """
    if adjust != "none":
        raise TzeroError(QFQ_REFUSED if adjust == "qfq" else f"--adjust {adjust!r}: expected none")
    fl = parse_freqs(freqs)
    a = calendar.to_date(start, field="--start") if start is not None else None
    b = calendar.to_date(end, field="--end") if end is not None else None
    if a is not None and b is not None and a > b:
        raise TzeroError(f"--start {a.date()} is after --end {b.date()}")
    client.health()  # unreachable: one TdxApiError line before any work
    codes = _symbols(store, client, symbols, fl)
    summary = IngestSummary(client.base_url)
    frames: dict[str, pd.DataFrame] = {}
    series = [(f, c) for f in fl for c in codes[f]]
    total, done, fresh = len(series), 0, 0
    _step(steps, STEP_ASK, 0, total)
    for f in fl:
        ds = API_DATASETS[f]
        last = last_stored(store, ds, codes[f])
        parts = []
        for c in codes[f]:
            ask, limit = _plan(last.get(c), f, b)
            new = _new_bars(client, c, f, last.get(c), a, b, limit) if ask else None
            if new is not None and len(new):
                parts.append(new)
            elif new is None:
                fresh += 1
            done += 1
            _step(steps, STEP_ASK, done, total)
        if parts:
            frames[ds] = pd.concat(parts, ignore_index=True)
    if trades:
        frames["trades"] = _ingest_trades(store, client, sorted({c for f in fl for c in codes[f]}),
                                          a, b, frames.get("bars_1d"), steps)
    out = {k: v for k, v in frames.items() if len(v)}
    summary.files = client.requests
    summary.notes.append(f"{total} series asked of {client.base_url}: {fresh} already up to date (no "
                         f"request), {client.requests} request(s); bars stored unadjusted")
    _step(steps, STEP_WRITE, 0, None)
    for w in store.write(out) if out else []:
        summary.written[w.dataset] = w
    for ds in (API_DATASETS[f] for f in fl):
        summary.written.setdefault(ds, _nothing(ds))
    if trades:
        summary.written.setdefault("trades", _nothing("trades"))
    _step(steps, STEP_WRITE, 1, 1)
    return summary


def _ingest_trades(store: MarketStore, client: TdxApiClient, codes: list[str], start: pd.Timestamp | None,
                   end: pd.Timestamp | None, daily: pd.DataFrame | None, steps: Steps | None) -> pd.DataFrame:
    """Trades of the sessions the store lacks, per symbol (``/api/minute-trade-all`` per day)."""
    last = last_stored(store, "trades", codes)
    stored_daily = store.query("bars_1d", "ts_code IN (SELECT unnest(?))", [codes],
                               columns="ts_code, trade_time") if store.has("bars_1d") else None
    known = pd.concat([x for x in (stored_daily, daily) if x is not None and len(x)], ignore_index=True) \
        if any(x is not None and len(x) for x in (stored_daily, daily)) else None
    plan = {c: _trade_days(c, last.get(c), start, end,
                           None if known is None else known.loc[known["ts_code"] == c]) for c in codes}
    total, done, parts = sum(len(v) for v in plan.values()), 0, []
    _step(steps, STEP_TRADES, 0, total)
    for c, days in plan.items():
        for d in days:
            t = fetch_trades(client, c, d)
            if len(t):
                parts.append(t[["ts_code", "trade_time", "seq", "price", "volume", "direction"]])
            done += 1
            _step(steps, STEP_TRADES, done, total)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _symbols(store: MarketStore, client: TdxApiClient, symbols: Sequence[str] | None,
             freqs: list[str]) -> dict[str, list[str]]:
    """The symbols to ingest per frequency (see :func:`ingest_api`'s ``symbols``)."""
    if symbols and [s.strip().lower() for s in symbols] == ["all"]:
        listed = client.codes().get("codes") or []
        try:
            every = sorted({to_ts_code(f"{r['exchange']}{r['code']}") for r in listed})
        except (KeyError, TypeError, TzeroError) as exc:
            raise TdxApiError("/api/codes", {}, f"a listed code cannot be read ({exc})", "malformed") from None
        return dict.fromkeys(freqs, every)
    if symbols:
        codes = to_ts_codes(symbols)
        return dict.fromkeys(freqs, codes)
    have = {f: store.symbols(API_DATASETS[f]) if store.has(API_DATASETS[f]) else [] for f in freqs}
    if not any(have.values()):
        raise TzeroError("no symbols to ingest: the store holds none yet; pass --symbols 600519.SH,... "
                         "(or --symbols all for every code the server lists)")
    return have


def _nothing(dataset: str):
    from tzero.data.store import WriteResult
    return WriteResult(dataset, 0, 0, 0, 0)


def _step(steps: Steps | None, name: str, done: int, total: int | None) -> None:
    if steps:
        steps(name, done, total)


__all__ = ["API_DATASETS", "QFQ_REFUSED", "ingest_api", "last_stored", "parse_freqs"]
