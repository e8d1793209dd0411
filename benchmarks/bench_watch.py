"""Live-loop latency: from a 5-minute bar's close to every holding's signal committed.

Data: only 600009.SH has 40+ sessions of real 1-minute bars in the shared data
(``intraday/SSE.600009Q_m1.csv``, 2020-01-02 .. 2020-04-10), so the 50
holdings are the SAME real bars written under 50 labels (``600009.SH`` and
``900001.SH`` … ``900049.SH``, codes used only inside the benchmark's temporary
store). Each label gets its own models, fitted on its own bars (identical
numbers, separate work), so the per-bar cost is that of 50 real holdings.

Measured (2020-04-01 replayed at speed 0, so no waiting is timed):

* ``loop``: per bar, the wall time from the poll that finds the bar closed
  (all 50 holdings' minutes read from the source) to the last holding's
  ``LiveSignal`` row committed and handed to paper trading: the time of one
  pass of the loop, bar to bar;
* ``bare``: the model calls alone for the same bar
  (:func:`tzero.signals.intraday_session.forecast_row` for 50 holdings: the three
  models' ``predict_path``), the floor the loop's bookkeeping sits on;
* ``fit``: the morning fit of the 50 holdings (before the open, not per bar).

Source (``--source``): ``api`` (default) the local TDX HTTP API test server
(``tests/support/tdx_api_server.py``) on the loop's replay clock, serving the
minutes closed by then; each holding is its own HTTP request for 600009.SH's
minutes, relabelled; ``store`` the market-store replay. Latency is timed from
the start of the poll that found the bar closed to the last signal committed
(the wasted poll before the next minute exists is not counted).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_watch.py [--holdings 50] [--bars 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.data.appdb import default_url, open_app_store
from tzero.data.bars import read_bars, resample_minutes
from tzero.data.ingest import ingest_table
from tzero.data.store import MarketStore
from tzero.live.sources import StoreReplaySource
from tzero.live.watch import run_watch
from tzero.settings import get_settings
from tzero.signals.intraday_session import fit_session_models, forecast_row

DAY = pd.Timestamp("2020-04-01")
CODE = "600009.SH"


def labels(n: int) -> list[str]:
    """The benchmark's holding labels: the real code, then 900001.SH … (benchmark-only)."""
    return [CODE] + [f"9{k:05d}.SH" for k in range(1, n)]


def build_store(home: Path, data_dir: Path, codes: list[str]) -> MarketStore:
    """Ingest the real minute CSV, then write its bars again under every other label."""
    settings = get_settings(home=home)
    store = MarketStore(settings.store_dir)
    ingest_table(store, data_dir / "intraday" / "SSE.600009Q_m1.csv", "minute")
    bars = read_bars(store, [CODE], "1m", "none")
    copies = [bars.assign(ts_code=c) for c in codes[1:]]
    if copies:
        store.write({"bars_1m": pd.concat(copies, ignore_index=True)})
    return store


class _Timed:
    """Wraps a source: per poll (one replay-clock time), the wall time its first fetch
    started and the wall seconds from then to its last fetch's end (the live loop fetches
    holdings on several threads, so per-fetch times would overlap)."""

    def __init__(self, inner, first: str) -> None:
        self.inner, self.first = inner, first
        self.name, self.live = inner.name, inner.live
        self._span: dict[object, list[float]] = {}  # clock time -> [start, end]
        self._lock = threading.Lock()

    @property
    def polls(self) -> list[list[float]]:
        """``[start, seconds fetching]`` per poll, in time order."""
        return sorted([a, b - a] for a, b in self._span.values())

    def history(self, *a):
        return self.inner.history(*a)

    def history_trades(self, *a):
        return self.inner.history_trades(*a)

    def trades(self, *a):
        return self.inner.trades(*a)

    def minute_bars(self, code: str, day, now):
        t0 = time.perf_counter()
        out = self.inner.minute_bars(code, day, now)
        t1 = time.perf_counter()
        with self._lock:
            span = self._span.setdefault(now, [t0, t1])
            span[0], span[1] = min(span[0], t0), max(span[1], t1)
        return out


class _Relabel:
    """The API source for the 50 labels: each holding's poll is its own real HTTP request for
    600009.SH's minutes (the only long minute series the test server has), relabelled."""

    def __init__(self, api) -> None:
        self.api, self.name, self.live = api, api.name, api.live

    def history(self, *a):
        return self.api.history(*a)

    def history_trades(self, *a):
        return None

    def trades(self, *a):
        return None

    def minute_bars(self, code: str, day, now):
        return self.api.minute_bars(CODE, day, now).assign(ts_code=code)


def _api_source(store, data_dir: Path, clock):
    """The local TDX API test server (tests/support) sharing the replay clock, and its client."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.tdx_api_server import TdxApiServer
    from tzero.data.tdx_api import TdxApiClient
    from tzero.live.sources import ApiSource

    srv = TdxApiServer(data_dir).start()
    srv.set_now(clock.now)
    client = TdxApiClient(srv.url, max_rps=0)
    return _Relabel(ApiSource(client, store)), (srv, client)


def main() -> None:
    from tzero.live.sources import ReplayClock

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdings", type=int, default=50)
    ap.add_argument("--bars", type=int, default=4, help="bars of the day timed (from 09:35)")
    ap.add_argument("--source", choices=("store", "api"), default="api")
    ap.add_argument("--workers", type=int, default=1, help="run_watch(workers=): processes")
    args = ap.parse_args()
    data_dir = get_settings().data_dir
    if data_dir is None or not (data_dir / "intraday" / "SSE.600009Q_m1.csv").is_file():
        raise SystemExit("shared data absent: set TZERO_DATA_DIR")
    codes = labels(args.holdings)
    print(f"holdings: {len(codes)} labels of the SAME real 600009.SH 1-minute bars "
          f"(only series with 40+ sessions of minutes in the shared data); day {DAY.date()}, 5m bars")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = build_store(home, data_dir, codes)
        settings = get_settings(home=home).with_overrides(alert_webhook=None)
        _, Session_ = open_app_store(default_url(home))
        clock = ReplayClock(DAY + pd.Timedelta("09:30:00"), speed=0)
        held = None
        if args.source == "api":
            inner, held = _api_source(store, data_dir, clock)
        else:
            inner = StoreReplaySource(store)
        source = _Timed(inner, codes[0])
        stop = threading.Event()
        marks: list[tuple[str, str, float]] = []
        fit_t: list[float] = []

        def progress(e: dict) -> None:
            now = time.perf_counter()
            if e["event"] == "fit":
                fit_t.append(now)
            elif e["event"] == "signal":
                marks.append((e["bar_time"], e["ts_code"], now))
                if sum(1 for m in marks if m[1] == codes[-1]) >= args.bars:
                    stop.set()

        load0 = os.getloadavg()
        t0 = time.perf_counter()
        run_watch(settings, Session_, codes, freq="5m", source=source, train_days=40,
                  replay_day=DAY, clock=clock, stop=stop, on_progress=progress,
                  workers=args.workers, poll_s=60)
        if held is not None:
            held[1].close()
            held[0].stop()
        fit_s = fit_t[-1] - t0
        frame = pd.DataFrame(marks, columns=["bar", "code", "t"])
        first, ends = frame.groupby("bar")["t"].min(), frame.groupby("bar")["t"].max()
        polls = np.array(source.polls)
        lat, fetch = [], []
        for b in ends.index:        # the poll that found the bar closed: the last one before it
            k = int(np.searchsorted(polls[:, 0], first[b])) - 1
            lat.append(ends[b] - polls[k, 0])
            fetch.append(polls[k, 1])
        lat_a, fetch_a = np.array(lat), np.array(fetch)
        # bare: the model calls alone, one bar, every holding (one symbol's fit reused)
        bars = read_bars(store, [CODE], "1m", "none")
        fitted = fit_session_models(bars, DAY, freq="5m", train_days=40)
        day5 = resample_minutes(bars[bars["trade_time"].dt.normalize() == DAY], "5m").reset_index(drop=True)
        bare = []
        for t in day5["trade_time"].iloc[:args.bars]:
            b0 = time.perf_counter()
            for _ in codes:
                forecast_row(fitted, day5, t)
            bare.append(time.perf_counter() - b0)
        load1 = os.getloadavg()
    n = len(codes)
    print(f"fit of {n} holdings before the open: {fit_s:.1f} s ({fit_s / n:.2f} s each)")
    print(f"bar close (data on the source) -> {n} signals committed, {args.workers} process(es): "
          f"median {np.median(lat_a):.2f} s, max {np.max(lat_a):.2f} s over {len(lat_a)} bars "
          "(target <= 2 s)")
    print(f"  of which fetching the {n} holdings' minutes ({source.name}): median "
          f"{np.median(fetch_a):.2f} s; forecasts + store + paper: {np.median(lat_a - fetch_a):.2f} s")
    print(f"bare model calls in one process (forecast_row x {n}): median {np.median(bare):.2f} s, "
          f"max {np.max(bare):.2f} s ({np.median(bare) / n * 1000:.0f} ms a holding)")
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
