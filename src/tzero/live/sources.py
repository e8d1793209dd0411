"""Bar sources and clocks of the live intraday loop (issue 13).

A source hands the loop one symbol's 1-minute bars of a session *as they are
available at a given time*, and the train history before the day:

* :class:`StoreReplaySource` replays a stored day from the market store, bar by
  bar (``tzero watch --replay DATE``);
* :class:`ApiSource` asks a TDX HTTP API server
  (:func:`tzero.data.tdx_api.fetch_session_bars`) for the session so far.

Both read the train history from the market store (ingest it first: ``tzero
ingest tdx|table|api``). A minute bar is stamped with its close (DESIGN.md
"Bars"); a source may also return the minute *in progress* (stamped up to 60 s
after ``now``, as a TDX server shows it). The loop never reads a bar stamped
after ``now``; the in-progress minute only tells it that the minute before is
final (:func:`tzero.live.watch.bar_complete`).

Clocks give the loop its time: :class:`WallClock` (Asia/Shanghai wall time) or
:class:`ReplayClock` (a virtual time that starts at a session's open and runs
``speed`` times faster than the wall; ``speed=0`` jumps straight to each
wake-up time).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import pandas as pd

from tzero.data.bars import read_bars
from tzero.data.store import MarketStore
from tzero.errors import TzeroError
from tzero.market import calendar

#: The exchange's wall-clock zone; every stamp here is naive in it.
TZ = ZoneInfo("Asia/Shanghai")
#: How far past ``now`` a source's newest minute may be stamped (the minute in progress).
IN_PROGRESS = pd.Timedelta(seconds=60)
#: Calendar sessions read back per train day wanted (suspensions leave days without bars).
_HISTORY_SPAN = 3


class SourceError(TzeroError):
    """The bar source did not answer (network, HTTP 5xx, malformed data): the loop marks
    the watch stale and retries with back-off."""


class Clock(Protocol):
    """What the loop needs of a clock: the time now and a way to wait for a time."""

    def now(self) -> pd.Timestamp:
        """The current time (naive Asia/Shanghai)."""
        ...

    def sleep_until(self, t: pd.Timestamp, stop: threading.Event, max_wall_s: float) -> None:
        """Wait until ``t``, at most ``max_wall_s`` wall seconds; return early when ``stop`` is set."""
        ...


class WallClock:
    """The exchange's wall clock (naive Asia/Shanghai)."""

    def now(self) -> pd.Timestamp:
        """Wall time now in Asia/Shanghai, naive."""
        return pd.Timestamp(datetime.now(TZ).replace(tzinfo=None))

    def sleep_until(self, t: pd.Timestamp, stop: threading.Event, max_wall_s: float) -> None:
        """Block until ``t`` (at most ``max_wall_s`` seconds) or until ``stop`` is set."""
        wait = (pd.Timestamp(t) - self.now()).total_seconds()
        if wait > 0:
            stop.wait(min(wait, max_wall_s))


class ReplayClock:
    """A virtual clock for replays: starts at ``start`` and runs ``speed`` × wall time.

    ``speed=0`` runs as fast as possible: time stands still except that each
    :meth:`sleep_until` jumps straight to its target.

    Raises:
        ValueError: a negative speed.
    """

    def __init__(self, start: pd.Timestamp, speed: float = 0.0) -> None:
        if speed < 0:
            raise ValueError(f"--speed must be >= 0 (0 = as fast as possible), got {speed}")
        self.speed = float(speed)
        self._virtual = pd.Timestamp(start)
        self._wall = time.monotonic()

    def now(self) -> pd.Timestamp:
        """The virtual time now."""
        if self.speed == 0:
            return self._virtual
        return self._virtual + pd.Timedelta(seconds=(time.monotonic() - self._wall) * self.speed)

    def sleep_until(self, t: pd.Timestamp, stop: threading.Event, max_wall_s: float) -> None:
        """Jump (speed 0) or wait ``(t - now) / speed`` wall seconds (at most ``max_wall_s``)."""
        t = pd.Timestamp(t)
        if self.speed == 0:
            self._virtual = max(self._virtual, t)
            return
        wait = (t - self.now()).total_seconds() / self.speed
        if wait > 0:
            stop.wait(min(wait, max_wall_s))


class BarSource(Protocol):
    """Where the loop gets bars. ``live`` says whether it is a live feed (the watch's mode)."""

    name: str
    live: bool

    def history(self, ts_code: str, day: pd.Timestamp, train_days: int) -> pd.DataFrame:
        """1-minute Bars of (at least) the ``train_days`` sessions with bars before ``day``."""
        ...

    def minute_bars(self, ts_code: str, day: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame:
        """The day's 1-minute Bars available at ``now`` (stamped ``<= now +`` :data:`IN_PROGRESS`).

        Raises:
            SourceError: the source did not answer.
        """
        ...

    def trades(self, ts_code: str, day: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame | None:
        """The day's Trades up to ``now``, or None when the source has none.

        Raises:
            SourceError: the source did not answer.
        """
        ...


class _StoreHistory:
    """The train history of both sources: unadjusted 1-minute bars from the market store."""

    def __init__(self, store: MarketStore) -> None:
        self.store = store

    def history(self, ts_code: str, day: pd.Timestamp, train_days: int) -> pd.DataFrame:
        """1-minute Bars before ``day``: the last ``3 × train_days`` calendar sessions, or all
        stored bars before ``day`` when those hold fewer than ``train_days`` sessions of bars.

        Raises:
            StoreError: the store holds no 1-minute bars.
        """
        d = pd.Timestamp(day).normalize()
        end = calendar.offset_session(d, -1) if calendar.is_session(d) else calendar.previous_session(d)
        first = calendar.all_sessions()[0]
        try:
            start = calendar.offset_session(end, -(_HISTORY_SPAN * train_days))
        except TzeroError:
            start = first
        bars = read_bars(self.store, [ts_code], "1m", "none", start, end)
        if bars["trade_time"].dt.normalize().nunique() < train_days and start > first:
            bars = read_bars(self.store, [ts_code], "1m", "none", None, end)
        return bars

    def history_trades(self, ts_code: str, start: pd.Timestamp, day: pd.Timestamp) -> pd.DataFrame | None:
        """Stored Trades of ``[start, day)``, or None when the store holds none for them."""
        if not self.store.has("trades"):
            return None
        t = self.store.query("trades", "ts_code = ? AND trade_time >= ? AND trade_time < ?",
                             [ts_code, pd.Timestamp(start).to_pydatetime(),
                              pd.Timestamp(day).normalize().to_pydatetime()])
        return t if len(t) else None


class StoreReplaySource(_StoreHistory):
    """A stored day replayed bar by bar: at ``now`` the minutes stamped ``<= now + 60 s``.

    Args:
        store: the market store holding the day's 1-minute bars (and the history).
    """

    name = "store replay"
    live = False

    def __init__(self, store: MarketStore) -> None:
        super().__init__(store)
        self._days: dict[tuple[str, pd.Timestamp], pd.DataFrame] = {}

    def _day(self, ts_code: str, day: pd.Timestamp) -> pd.DataFrame:
        key = (ts_code, pd.Timestamp(day).normalize())
        if key not in self._days:
            self._days[key] = read_bars(self.store, [ts_code], "1m", "none", key[1], key[1])
        return self._days[key]

    def minute_bars(self, ts_code: str, day: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame:
        """The stored minutes of ``day`` stamped ``<= now +`` :data:`IN_PROGRESS`."""
        b = self._day(ts_code, day)
        return b.loc[b["trade_time"] <= pd.Timestamp(now) + IN_PROGRESS].reset_index(drop=True)

    def trades(self, ts_code: str, day: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame | None:
        """The stored Trades of ``day`` up to ``now`` (None when the store holds none)."""
        d = pd.Timestamp(day).normalize()
        t = self.history_trades(ts_code, d, d + pd.Timedelta(days=1))
        return None if t is None else t.loc[t["trade_time"] <= pd.Timestamp(now)]


class ApiSource(_StoreHistory):
    """A TDX HTTP API server as the live feed (:mod:`tzero.data.tdx_api`).

    Args:
        client: a :class:`tzero.data.tdx_api.TdxApiClient` (its own retries stay short;
            the loop retries a failed poll with back-off).
        store: the market store the train history is read from.
    """

    name = "tdx api"
    live = True

    def __init__(self, client, store: MarketStore) -> None:
        super().__init__(store)
        self.client = client

    def minute_bars(self, ts_code: str, day: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame:
        """``fetch_session_bars`` of the day, cut at ``now +`` :data:`IN_PROGRESS` (a no-op on a
        live server; a replay clock against a recorded server sees only what was out then).

        Raises:
            SourceError: the server did not answer or answered badly (one line, with the route).
        """
        from tzero.data.tdx_api import fetch_session_bars

        d = pd.Timestamp(day).normalize()
        try:
            b = fetch_session_bars(self.client, ts_code, d.date(), "1m")
        except (TzeroError, OSError) as exc:
            raise SourceError(f"{self.name}: {ts_code} {d.date()}: {exc}") from exc
        except Exception as exc:  # httpx transport errors the client did not wrap
            if type(exc).__module__.split(".")[0] in ("httpx", "httpcore"):
                raise SourceError(f"{self.name}: {ts_code} {d.date()}: {exc}") from exc
            raise
        if b.empty:
            return b
        keep = (b["trade_time"].dt.normalize() == d) & (b["trade_time"] <= pd.Timestamp(now) + IN_PROGRESS)
        return b.loc[keep].reset_index(drop=True)

    def trades(self, ts_code: str, day: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame | None:
        """``fetch_trades`` of the day up to ``now`` (None when the server lists none).

        Raises:
            SourceError: the server did not answer.
        """
        from tzero.data.tdx_api import fetch_trades

        try:
            t = fetch_trades(self.client, ts_code, pd.Timestamp(day).date())
        except (TzeroError, OSError) as exc:
            raise SourceError(f"{self.name}: trades {ts_code}: {exc}") from exc
        return t.loc[t["trade_time"] <= pd.Timestamp(now)] if len(t) else None


__all__ = ["IN_PROGRESS", "ApiSource", "BarSource", "Clock", "ReplayClock", "SourceError",
           "StoreReplaySource", "WallClock"]
