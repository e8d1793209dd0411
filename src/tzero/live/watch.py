"""The live intraday loop over holdings: ``tzero watch`` (issue 13; spec 000 §2.2–2.3, §5.1).

During each XSHG session, after every ``freq`` bar closes, the loop takes each
holding's new 1-minute bars from a :class:`~tzero.live.sources.BarSource`,
resamples them to ``freq`` (:func:`tzero.data.bars.resample_minutes`), forecasts
the bar with the intraday models fitted once that morning on the ``train_days``
sessions before the day (:func:`tzero.signals.intraday_session.fit_session_models`,
:func:`~tzero.signals.intraday_session.forecast_row`: the walk-forward protocol, never
fitted on the day itself), builds the :class:`~tzero.signals.signal.Signal`
(research-blocked models do not vote), stores one ``LiveSignal`` row per
(holding, bar), hands each signal to paper trading
(:func:`tzero.live.paper.on_signal`) and POSTs the alert webhook when a
holding's T+0 intensity or plan changes.

Bar completeness (never a half bar): a ``freq`` bar closing at ``c`` counts
once ``now >= c`` and either a minute stamped after ``c`` exists (the next
minute has begun) or the session part (morning 11:30, afternoon 15:00) has
ended ``settle_s`` ago (:func:`bar_complete`). Its content is the minutes
stamped ``<= c`` only.

Resilience: a poll the source does not answer sets ``LiveWatch.stale_since``
and is retried with exponential back-off (``backoff_s`` doubling up to
``backoff_max_s``); the first answer clears it. Outside sessions (nights,
weekends, holidays, the lunch break) the loop sleeps until the next bar,
refreshing ``heartbeat_at``. Webhook failures are recorded (``alert_log``,
the summary) and never stop the loop.

Stamps: ``bar_time``/``last_bar_at`` are bar closes (naive Asia/Shanghai, as
in the Bars frame); ``started_at``/``heartbeat_at``/``stale_since``/``created_at``
are naive UTC, as every other app-store stamp (:func:`tzero.registry.versions.now`).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import pandas as pd
from sqlalchemy import select

from tzero.data.appdb import AlertLog, LiveSignal, LiveWatch
from tzero.data.bars import resample_minutes
from tzero.errors import TzeroError
from tzero.live import paper
from tzero.live.sources import BarSource, Clock, ReplayClock, SourceError, WallClock
from tzero.market import calendar
from tzero.market.sessions import AFTERNOON, MORNING, session_stamps
from tzero.registry.monitoring import post_webhook
from tzero.registry.versions import now as utc_now
from tzero.research.t0 import intraday_blocked
from tzero.signals.engine import blocked_by_research
from tzero.signals.intraday import build_intraday_signal
from tzero.signals.intraday_session import SessionModels, fit_session_models, forecast_row
from tzero.signals.signal import Signal

log = logging.getLogger(__name__)

#: Holdings fetched from a live server at once (threads; the client's rate limit still holds).
FETCH_THREADS = 8
#: Wall seconds between heartbeats while the loop sleeps (nights, lunch, between bars).
HEARTBEAT_S = 15.0


class WatchError(TzeroError):
    """A watch cannot start or go on: no minute bars stored, too few train sessions, a
    replay day that is not a session (one line naming the symbol or date)."""


@dataclass
class WatchSummary:
    """What a watch did: counts of signals and paper orders, stale periods, webhook outcomes.

    ``stale_periods``: ``{"since", "until", "seconds", "error"}`` per outage of the
    source (UTC stamps); ``webhooks``: ``{"sent": n, "failed": n}``; ``errors``:
    one line per bar or fit that could not be forecast.
    """

    run_id: str
    mode: str
    freq: str
    symbols: list[str]
    status: str = "running"
    days: list[str] = field(default_factory=list)
    signals: int = 0
    bars_skipped: int = 0
    orders: int = 0
    last_bar_at: str | None = None
    stale_periods: list[dict] = field(default_factory=list)
    webhooks: dict[str, int] = field(default_factory=lambda: {"sent": 0, "failed": 0})
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready dict of the summary."""
        return asdict(self)


@dataclass
class _Holding:
    """Per-symbol state of the loop: the day's models, the bars emitted, the last plan."""

    code: str
    models: SessionModels | None = None
    past: list[pd.DataFrame] = field(default_factory=list)   # freq bars of earlier watch days
    today: pd.DataFrame | None = None                         # freq bars of the day so far
    next_i: int = 0                                          # next stamp of the day to emit
    last: tuple[str, str] | None = None                      # (t0_intensity, plan) last emitted


def part_end(c: pd.Timestamp) -> pd.Timestamp:
    """The end of the session part (11:30 or 15:00) that bar close ``c`` belongs to."""
    day = pd.Timestamp(c).normalize()
    noon = day + pd.Timedelta(minutes=MORNING[1])
    return noon if pd.Timestamp(c) <= noon else day + pd.Timedelta(minutes=AFTERNOON[1])


def bar_complete(c: pd.Timestamp, minutes: pd.DataFrame, now: pd.Timestamp,
                 settle_s: float = 5.0) -> bool:
    """Whether the ``freq`` bar closing at ``c`` is final at ``now`` (never a half bar).

    True once ``now >= c`` and either a minute stamped after ``c`` exists in ``minutes``
    (the next minute has begun) or ``now`` is ``settle_s`` past the end of ``c``'s
    session part (issue 13).
    """
    if now < c:
        return False
    if len(minutes) and pd.Timestamp(minutes["trade_time"].max()) > c:
        return True
    return now >= part_end(c) + pd.Timedelta(seconds=settle_s)


class _Recorder:
    """The app-store writes of one watch: its ``LiveWatch`` row, signals and alerts."""

    def __init__(self, Session_, run_id: str) -> None:
        self.Session_ = Session_
        self.run_id = run_id

    def start(self, mode: str, symbols: list[str], freq: str) -> None:
        t = utc_now()
        with self.Session_() as s, s.begin():
            s.add(LiveWatch(run_id=self.run_id, mode=mode, symbols_json=json.dumps(symbols),
                            freq=freq, status="running", started_at=t, heartbeat_at=t))

    def update(self, **values) -> None:
        """Set columns of the watch row (``heartbeat_at`` is always refreshed)."""
        with self.Session_() as s, s.begin():
            w = s.get(LiveWatch, self.run_id)
            if w is None:
                raise WatchError(f"live_watch row {self.run_id} vanished from the app store")
            w.heartbeat_at = utc_now()
            for k, v in values.items():
                setattr(w, k, v)

    def signals(self, rows: list[tuple[str, pd.Timestamp, str, Signal]]) -> list[int]:
        """Insert one bar's ``LiveSignal`` rows in one transaction; their ids."""
        t = utc_now()
        objs = [LiveSignal(run_id=self.run_id, ts_code=code, bar_time=bar.to_pydatetime(), freq=freq,
                           t0_intensity=sig.t0_intensity, plan=sig.t0_plan,
                           signal_json=json.dumps(sig.to_dict(), allow_nan=False), created_at=t)
                for code, bar, freq, sig in rows]
        with self.Session_() as s, s.begin():
            s.add_all(objs)
            s.flush()
            ids = [int(o.id) for o in objs]
            w = s.get(LiveWatch, self.run_id)
            if w is not None and rows:
                w.last_bar_at = max(r[1] for r in rows).to_pydatetime()
                w.heartbeat_at = t
        return ids

    def alert(self, code: str, bar: pd.Timestamp, message: str, payload: dict,
              status: str, fired: bool) -> None:
        with self.Session_() as s, s.begin():
            s.add(AlertLog(alert_type="t0_change", symbol=code, severity="info", message=message,
                           payload_json=json.dumps(payload, default=str), fired=fired,
                           webhook_status=status, as_of=bar.date(), created_at=utc_now()))


class _LocalForecaster:
    """Fits and forecasts holdings in this process (``workers=1``); keeps the fitted models."""

    def __init__(self) -> None:
        self.models: dict[str, SessionModels] = {}

    def fit(self, day: pd.Timestamp, jobs: list[tuple], kw: dict) -> dict[str, SessionModels]:
        """Fit ``(code, 1-minute history, trades)`` jobs for ``day``.

        Raises:
            WatchError: fewer than ``train_days`` sessions before ``day`` for a holding.
        """
        for code, hist, trades in jobs:
            try:
                self.models[code] = fit_session_models(hist, day, trades=trades, **kw)
            except ValueError as exc:
                raise WatchError(f"{code}: {exc} (--train-days {kw['train_days']})") from exc
        return {code: self.models[code] for code, _, _ in jobs}

    def rows(self, jobs: list[tuple]) -> list[dict]:
        """Forecast rows of ``(code, day freq bars, bar close, trades)`` jobs, in order."""
        return [forecast_row(self.models[code], bars, c, trades) for code, bars, c, trades in jobs]

    def close(self) -> None:
        """Nothing to release."""


def _serve(conn) -> None:
    """A pool worker: runs :class:`_LocalForecaster` calls sent over ``conn`` until ``None``."""
    local = _LocalForecaster()
    while True:
        msg = conn.recv()
        if msg is None:
            return
        op, args = msg
        try:
            out = getattr(local, op)(*args)
            if op == "fit":     # the models stay here; the loop gets their metadata
                out = {c: replace(m, models=dict.fromkeys(m.models)) for c, m in out.items()}
            conn.send(("ok", out))
        except Exception as exc:
            conn.send(("error", exc))


class _PoolForecaster:
    """Holdings spread over ``n`` worker processes (holding ``i`` on worker ``i % n``); each
    worker fits and keeps its holdings' models, so a bar's forecasts run in parallel."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for _ in range(n):
            a, b = ctx.Pipe()
            p = ctx.Process(target=_serve, args=(b,), daemon=True)
            p.start()
            self.conns.append(a)
            self.procs.append(p)
        self.slot: dict[str, int] = {}

    def _call(self, op: str, parts: dict[int, tuple]) -> dict[int, object]:
        for i, args in parts.items():
            self.conns[i].send((op, args))
        res = {}
        for i in parts:
            status, out = self.conns[i].recv()
            if status == "error":
                raise out
            res[i] = out
        return res

    def fit(self, day: pd.Timestamp, jobs: list[tuple], kw: dict) -> dict[str, SessionModels]:
        """:meth:`_LocalForecaster.fit` on the workers (``models`` holds names only)."""
        for code, _, _ in jobs:
            self.slot.setdefault(code, len(self.slot) % len(self.conns))
        parts = {i: (day, [j for j in jobs if self.slot[j[0]] == i], kw) for i in range(len(self.conns))}
        out: dict[str, SessionModels] = {}
        for r in self._call("fit", {i: a for i, a in parts.items() if a[1]}).values():
            out.update(r)  # type: ignore[call-overload]
        return out

    def rows(self, jobs: list[tuple]) -> list[dict]:
        """:meth:`_LocalForecaster.rows` on the workers, results in job order."""
        idx: dict[int, list[int]] = {}
        for k, j in enumerate(jobs):
            idx.setdefault(self.slot[j[0]], []).append(k)
        res = self._call("rows", {i: ([jobs[k] for k in ks],) for i, ks in idx.items()})
        rows: list[dict] = [{} for _ in jobs]
        for i, ks in idx.items():
            for k, r in zip(ks, res[i], strict=True):  # type: ignore[call-overload]
                rows[k] = r
        return rows

    def close(self) -> None:
        """Stop the workers."""
        for c in self.conns:
            c.send(None)
        for p in self.procs:
            p.join(timeout=10)


class _Watch:
    """One run of the loop (see :func:`run_watch`); owns the holdings' state."""

    def __init__(self, settings, Session_, symbols: list[str], freq: str, source: BarSource,
                 clock: Clock, stop: threading.Event, on_progress, train_days: int,
                 fit_kw: dict, poll_s: float, settle_s: float, backoff_s: float,
                 backoff_max_s: float, workers: int = 1) -> None:
        self.settings, self.Session_, self.freq, self.source = settings, Session_, freq, source
        self.clock, self.stop, self.on_progress = clock, stop, on_progress or (lambda e: None)
        self.train_days, self.fit_kw = train_days, fit_kw
        self.poll_s, self.settle_s = poll_s, settle_s
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.holdings = [_Holding(c) for c in symbols]
        self.run_id = uuid.uuid4().hex[:16]
        self.summary = WatchSummary(self.run_id, "live" if source.live else "replay", freq,
                                    list(symbols))
        self.rec = _Recorder(Session_, self.run_id)
        self._stale: dict | None = None
        self._failures = 0
        self.fc: _LocalForecaster | _PoolForecaster = (
            _PoolForecaster(min(workers, len(symbols))) if workers > 1 and len(symbols) > 1
            else _LocalForecaster())

    # ----------------------------------------------------------------- days
    def fit_day(self, day: pd.Timestamp) -> None:
        """Fit every holding's models for ``day`` on the sessions before it (once a day)."""
        blocked = intraday_blocked(blocked_by_research(self.Session_))
        jobs = []
        for h in self.holdings:
            hist = self.source.history(h.code, day, self.train_days)
            if hist.empty:
                raise WatchError(f"{h.code}: no 1-minute bars stored before {day.date()}: ingest a "
                                 "minute history first (`tzero ingest table FILE --kind minute`, "
                                 "`tzero ingest tdx` with minline/ or `tzero ingest api --freq 1m`)")
            start = hist["trade_time"].min().normalize()
            trades = getattr(self.source, "history_trades", lambda *a: None)(h.code, start, day)
            jobs.append((h.code, hist, trades))
        kw = {"freq": self.freq, "train_days": self.train_days, "blocked": blocked, **self.fit_kw}
        fitted = self.fc.fit(day, jobs, kw)
        for h in self.holdings:
            h.models = fitted[h.code]
            if h.today is not None and len(h.today):
                h.past.append(h.today)
            h.today, h.next_i = None, 0
            for m, why in h.models.errors.items():
                self.summary.errors.append(f"{h.code} {day.date()}: {m} not fitted: {why}")
            self.on_progress({"event": "fit", "ts_code": h.code, "day": str(day.date()),
                              "models": sorted(h.models.models), "errors": h.models.errors,
                              "blocked": h.models.blocked})
        self.summary.days.append(str(day.date()))

    def run_day(self, day: pd.Timestamp) -> None:
        """Emit every bar of ``day`` as it completes (returns at the day's end or on stop)."""
        stamps = session_stamps(day, self.freq)
        while not self.stop.is_set():
            pending = [h for h in self.holdings if h.next_i < len(stamps)]
            if not pending:
                return
            due = min(stamps[h.next_i] for h in pending)
            wake = due if due != part_end(due) else due + pd.Timedelta(seconds=self.settle_s)
            self.sleep_until(wake)
            if self.stop.is_set():
                return
            minutes = self.poll(pending, day)
            if minutes is None:
                continue
            if not self.emit(pending, stamps, minutes):
                self.sleep_until(self.clock.now() + pd.Timedelta(seconds=self.poll_s))

    def sleep_until(self, t: pd.Timestamp) -> None:
        """Sleep until ``t`` on the clock, refreshing the heartbeat every :data:`HEARTBEAT_S`."""
        while not self.stop.is_set() and self.clock.now() < t:
            self.clock.sleep_until(t, self.stop, HEARTBEAT_S)
            if self.clock.now() < t:
                self.rec.update()

    # ----------------------------------------------------------------- polls
    def poll(self, pending: list[_Holding], day: pd.Timestamp) -> dict[str, tuple] | None:
        """Every pending holding's minutes (and trades) now; None after a failed poll."""
        now = self.clock.now()

        def one(h: _Holding) -> tuple:
            trades = None
            if h.models is not None and h.models.trades is not None:
                trades = self.source.trades(h.code, day, now)
            return self.source.minute_bars(h.code, day, now), trades

        try:
            if self.source.live and len(pending) > 1:
                # a server answers several holdings at once (the client is thread-safe and
                # keeps its rate limit over all threads); the store replay stays serial
                with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(pending)),
                                        thread_name_prefix="watch-fetch") as pool:
                    got = dict(zip([h.code for h in pending], pool.map(one, pending), strict=True))
            else:
                got = {h.code: one(h) for h in pending}
        except SourceError as exc:
            self.failed(exc)
            return None
        if self._stale is not None:
            self.recovered()
        return got

    def failed(self, exc: SourceError) -> None:
        """Mark the watch stale (first failure) and back off before the next poll."""
        msg = str(exc).splitlines()[0][:300]
        if self._stale is None:
            t = utc_now()
            self._stale = {"since": t, "error": msg}
            self.rec.update(stale_since=t, message=f"data source not answering: {msg}")
            self.on_progress({"event": "stale", "since": str(t), "error": msg})
        else:
            self.rec.update(message=f"data source not answering: {msg}")
        wait = min(self.backoff_max_s, self.backoff_s * 2 ** self._failures)
        self._failures += 1
        self.stop.wait(wait)

    def recovered(self) -> None:
        """The source answers again: clear ``stale_since`` and record the period."""
        assert self._stale is not None
        until = utc_now()
        secs = (until - self._stale["since"]).total_seconds()
        self.summary.stale_periods.append({"since": str(self._stale["since"]), "until": str(until),
                                           "seconds": round(secs, 3), "error": self._stale["error"]})
        self.rec.update(stale_since=None, message=None)
        self.on_progress({"event": "recovered", "stale_s": round(secs, 3)})
        self._stale, self._failures = None, 0

    # ----------------------------------------------------------------- bars
    def emit(self, pending: list[_Holding], stamps: pd.DatetimeIndex, got: dict[str, tuple]) -> bool:
        """Forecast, store and hand on every bar that completed; True when any did."""
        now = self.clock.now()
        jobs: list[tuple[_Holding, pd.Timestamp, pd.DataFrame, pd.DataFrame | None]] = []
        progressed = False
        for h in pending:
            minutes, trades = got[h.code]
            while h.next_i < len(stamps) and bar_complete(stamps[h.next_i], minutes, now, self.settle_s):
                c = stamps[h.next_i]
                h.next_i += 1
                progressed = True
                closed = minutes.loc[minutes["trade_time"] <= c]     # never a minute after c
                day_bars = resample_minutes(closed, self.freq).reset_index(drop=True)
                h.today = day_bars
                if day_bars.empty or pd.Timestamp(day_bars["trade_time"].iloc[-1]) != c:
                    self.summary.bars_skipped += 1                  # no trading in the bar
                    continue
                jobs.append((h, c, day_bars, trades))
        if not jobs:
            return progressed
        fc_rows = self.fc.rows([(h.code, day_bars, c, trades) for h, c, day_bars, trades in jobs])
        rows = []
        for (h, c, day_bars, _), row in zip(jobs, fc_rows, strict=True):
            assert h.models is not None
            try:
                sig = build_intraday_signal(row, self.freq, h.models.horizon,
                                            versions=h.models.versions, blocked=h.models.blocked)
            except ValueError as exc:
                self.summary.errors.append(f"{h.code} {c}: {exc}")
                self.summary.bars_skipped += 1
                continue
            rows.append((h, c, day_bars, row, sig))
        if rows:
            self.store(rows)
        return progressed

    def store(self, rows: list[tuple[_Holding, pd.Timestamp, pd.DataFrame, dict, Signal]]) -> None:
        """Commit the bar's signals, then paper trading, progress and webhooks per holding."""
        ids = self.rec.signals([(h.code, c, self.freq, sig) for h, c, _, _, sig in rows])
        self.summary.signals += len(rows)
        self.summary.last_bar_at = str(max(r[1] for r in rows))
        for (h, c, day_bars, row, sig), sid in zip(rows, ids, strict=True):
            bars = pd.concat([*h.past, day_bars], ignore_index=True) if h.past else day_bars
            orders = paper.on_signal(self.Session_, ts_code=h.code, bars=bars, forecast=row,
                                     signal=sig, signal_id=sid,
                                     model_versions=dict(sig.model_versions), freq=self.freq)
            self.summary.orders += len(orders)
            self.on_progress({"event": "signal", "ts_code": h.code, "bar_time": str(c),
                              "signal_id": sid, "t0_intensity": sig.t0_intensity,
                              "plan": sig.t0_plan, "prob_up": sig.prob_up,
                              "expected_return": sig.expected_return, "orders": len(orders)})
            now = (sig.t0_intensity, sig.t0_plan)
            if h.last is not None and now != h.last:
                self.alert(h, c, h.last, sig)
            h.last = now

    def alert(self, h: _Holding, c: pd.Timestamp, before: tuple[str, str], sig: Signal) -> None:
        """POST the T+0 change to ``settings.alert_webhook`` (if set) and log it; never raises."""
        msg = (f"{h.code} at {c}: T+0 {before[0]}/{before[1]} -> {sig.t0_intensity}/{sig.t0_plan}")
        body = {"alert_type": "t0_change", "run_id": self.run_id, "ts_code": h.code,
                "bar_time": str(c), "before": {"t0_intensity": before[0], "plan": before[1]},
                "after": {"t0_intensity": sig.t0_intensity, "plan": sig.t0_plan},
                "message": msg, "signal": sig.to_dict()}
        url = self.settings.alert_webhook
        status = post_webhook(url, body) if url else "no webhook configured"
        if url:
            ok = status.startswith("sent")
            self.summary.webhooks["sent" if ok else "failed"] += 1
            if not ok:
                self.summary.errors.append(f"webhook {msg}: {status}")
        self.rec.alert(h.code, c, msg, body, status, fired=bool(url))
        self.on_progress({"event": "webhook", "ts_code": h.code, "bar_time": str(c), "status": status})


def next_session(now: pd.Timestamp, done: pd.Timestamp | None = None) -> pd.Timestamp:
    """The session the live loop runs next: today's while it has not closed (15:00) and was
    not run yet (``done``), else the next XSHG session (weekends and holidays skipped)."""
    day = pd.Timestamp(now).normalize()
    closed = now >= day + pd.Timedelta(minutes=AFTERNOON[1])
    if not calendar.is_session(day) or closed or (done is not None and day <= done):
        day = calendar.offset_session(day, 1)
    return day


def run_watch(settings, Session_, symbols: list[str], *, freq: str = "5m", source: BarSource,
              train_days: int = 40, speed: float | None = None, replay_day=None,
              stop: threading.Event | None = None,
              on_progress: Callable[[dict], None] | None = None, poll_s: float = 1.0,
              settle_s: float = 5.0, backoff_s: float = 0.5, backoff_max_s: float = 30.0,
              seed: int = 42, fast: bool = True, configs: dict | None = None,
              max_days: int | None = None, workers: int = 1,
              clock: Clock | None = None) -> WatchSummary:
    """Run the live intraday loop over ``symbols`` until stopped (live) or the day ends (replay).

    Args:
        settings: :class:`tzero.settings.Settings` (``alert_webhook`` is POSTed on changes).
        Session_: app-store session factory (``LiveWatch``, ``LiveSignal``, ``alert_log``).
        symbols: canonical ts_codes held.
        freq: bar frequency of the signals (``5m 15m 30m 60m``).
        source: where bars come from (:mod:`tzero.live.sources`).
        train_days: sessions the models fit on each morning (before the day).
        speed: replay speed-up over wall time (0 = as fast as possible; default 1).
        replay_day: a session: run that one day on a :class:`ReplayClock` starting at its
            09:30 (the source decides what is available; the API source cuts a recorded
            day at the clock). None: the wall clock, every session until ``stop``.
        stop: set it to end the loop (the watch then says ``stopped``).
        on_progress: called with one dict per event (``fit``, ``signal``, ``stale``,
            ``recovered``, ``webhook``).
        poll_s: seconds between polls while a due bar is not complete (clock seconds).
        settle_s: seconds after a session part's end before its last bar counts.
        backoff_s, backoff_max_s: first and largest wall wait after a failed poll.
        seed, fast, configs: model settings (:func:`tzero.signals.intraday.model_configs`).
        max_days: live mode: stop after this many sessions (None: until ``stop``).
        workers: processes the holdings' fits and forecasts are spread over (1: this one);
            each worker keeps its holdings' models for the day.
        clock: the clock to use instead of the one ``replay_day``/``speed`` make (e.g. one
            :class:`ReplayClock` shared with a recorded server that serves what was out then).

    Returns:
        :class:`WatchSummary` (status ``finished``, ``stopped`` or ``failed``).

    Raises:
        WatchError: ``replay_day`` is not a session, no minute bars stored for a symbol,
            or fewer than ``train_days`` sessions before the day (the watch row says failed).
        ValueError: unknown ``freq``.
    """
    session_stamps(pd.Timestamp("2020-01-02"), freq)     # unknown freq -> ValueError
    stop = stop or threading.Event()
    if replay_day is not None:
        day = calendar.parse_day(replay_day, field="--replay", error=WatchError)
        if not calendar.is_session(day):
            raise WatchError(f"--replay {day.date()} is not an XSHG trading session")
        clock = clock or ReplayClock(day + pd.Timedelta(minutes=MORNING[0]),
                                     1.0 if speed is None else speed)
    clock = clock or WallClock()
    fit_kw = {"seed": seed, "fast": fast, "configs": configs}
    w = _Watch(settings, Session_, list(symbols), freq, source, clock, stop, on_progress, train_days,
               fit_kw, poll_s, settle_s, backoff_s, backoff_max_s, workers)
    w.rec.start(w.summary.mode, list(symbols), freq)
    started = time.monotonic()
    try:
        days, done = 0, None
        while not stop.is_set():
            d = next_session(clock.now(), done) if replay_day is None else day
            if replay_day is None:     # fit a few minutes before the open
                w.sleep_until(d + pd.Timedelta(minutes=MORNING[0] - 5))
            if stop.is_set():
                break
            w.fit_day(d)
            w.run_day(d)
            days, done = days + 1, d
            if replay_day is not None or (max_days is not None and days >= max_days):
                break
    except KeyboardInterrupt:
        w.summary.status = "stopped"
        w.rec.update(status="stopped", message="interrupted")
        raise
    except BaseException as exc:
        w.summary.status = "failed"
        w.rec.update(status="failed", message=str(exc).splitlines()[0][:500] if str(exc) else
                     type(exc).__name__)
        raise
    finally:
        w.fc.close()
    w.summary.status = "stopped" if stop.is_set() else "finished"
    w.rec.update(status=w.summary.status,
                 message=f"{w.summary.signals} signals, {w.summary.orders} paper orders in "
                         f"{time.monotonic() - started:.1f} s")
    return w.summary


def watch_rows(Session_, run_id: str) -> list[dict]:
    """The ``LiveSignal`` rows of one watch, in bar order (``id, ts_code, bar_time, t0_intensity,
    plan, signal``)."""
    with Session_() as s:
        rows = s.scalars(select(LiveSignal).where(LiveSignal.run_id == run_id)
                         .order_by(LiveSignal.bar_time, LiveSignal.ts_code)).all()
        return [{"id": r.id, "ts_code": r.ts_code, "bar_time": pd.Timestamp(r.bar_time),
                 "t0_intensity": r.t0_intensity, "plan": r.plan,
                 "signal": json.loads(r.signal_json)} for r in rows]


__all__ = ["WatchError", "WatchSummary", "bar_complete", "next_session", "part_end", "run_watch",
           "watch_rows"]
