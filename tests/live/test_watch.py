"""The live intraday loop (issue 13): a replayed real day, bar by bar, against the walk-forward.

One replay of 600009.SH on 2020-04-01 (real 1-minute bars of the shared data,
ingested into a temporary store) is shared by the tests of this module; a
local HTTP receiver on 127.0.0.1 takes the loop's webhook POSTs.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data.appdb import AlertLog, LiveWatch, default_url, open_app_store
from tzero.data.bars import read_bars, resample_minutes
from tzero.data.ingest import ingest_table
from tzero.data.store import MarketStore
from tzero.live.sources import ApiSource, ReplayClock, StoreReplaySource
from tzero.live.watch import bar_complete, next_session, part_end, run_watch, watch_rows
from tzero.market.sessions import session_stamps
from tzero.settings import get_settings
from tzero.signals.intraday import build_intraday_signal, walk_forward_forecasts
from tzero.signals.intraday_session import fit_session_models, forecast_row

DAY = pd.Timestamp("2020-04-01")
CODE = "600009.SH"
MINUTE_CSV = "intraday/SSE.600009Q_m1.csv"


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        bodies: list[dict] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                n = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def home(data_dir: Path, tmp_path_factory) -> Path:
    """A TZERO_HOME with the real 600009.SH minute bars ingested (the done condition's store)."""
    h = tmp_path_factory.mktemp("watch_home")
    ingest_table(MarketStore(get_settings(home=h).store_dir), data_dir / MINUTE_CSV, "minute")
    return h


@pytest.fixture(scope="module")
def replay(home: Path):
    """One replay of 2020-04-01 at speed 0, webhooks POSTed to a local receiver."""
    hook = Receiver()
    settings = get_settings(home=home).with_overrides(alert_webhook=hook.url)
    _, Session_ = open_app_store(default_url(home))
    events: list[dict] = []
    try:
        summ = run_watch(settings, Session_, [CODE], freq="5m",
                         source=StoreReplaySource(MarketStore(settings.store_dir)),
                         train_days=40, speed=0, replay_day=DAY, on_progress=events.append)
    finally:
        hook.close()
    return {"summary": summ, "rows": watch_rows(Session_, summ.run_id), "events": events,
            "hook": hook, "Session": Session_, "store": MarketStore(settings.store_dir)}


@pytest.mark.data
def test_replay_emits_one_signal_per_bar(replay) -> None:
    summ, rows = replay["summary"], replay["rows"]
    assert summ.status == "finished" and summ.errors == [] and summ.stale_periods == []
    assert summ.signals == 48 == len(rows)
    assert [r["bar_time"] for r in rows] == list(session_stamps(DAY, "5m"))
    assert rows[0]["bar_time"] == DAY + pd.Timedelta("09:35:00")
    for r in rows:
        s = r["signal"]
        assert s["ts_code"] == CODE and s["horizon_unit"] == "bar:5m"
        assert s["as_of"] == str(r["bar_time"]) and s["t0_plan"] == r["plan"]
        assert s["t0_intensity"] == r["t0_intensity"]
        assert 0 <= s["prob_up"] <= 1 and np.isfinite(s["expected_return"])
        assert set(s["model_versions"]) == {"intraday_arima", "intraday_hmm", "intraday_lstm"}
    with replay["Session"]() as s:
        w = s.get(LiveWatch, summ.run_id)
        assert w is not None and w.status == "finished" and w.mode == "replay"
        assert w.last_bar_at == DAY + pd.Timedelta("15:00:00") and w.stale_since is None
        assert json.loads(w.symbols_json) == [CODE]


@pytest.mark.data
def test_replay_equals_walk_forward(replay) -> None:
    """Each stored signal is the walk-forward's for that bar: one window, train = the 40
    sessions before the day, test = the day (same fits, same paths)."""
    bars = read_bars(replay["store"], [CODE], "1m", "none")
    days = bars["trade_time"].dt.normalize().unique()
    start = days[days < DAY][-40]
    wf = walk_forward_forecasts(bars, freq="5m", train_days=40, test_days=1, start=start, end=DAY)
    assert wf.attrs["windows"][0]["test_start"] == str(DAY.date()) and len(wf) == 48
    for (_, f), r in zip(wf.iterrows(), replay["rows"], strict=True):
        want = build_intraday_signal(f, "5m", 6).to_dict()
        got = r["signal"]
        assert got["as_of"] == want["as_of"]
        assert (got["t0_intensity"], got["t0_plan"], got["regime"]) == \
            (want["t0_intensity"], want["t0_plan"], want["regime"])
        for k in ("prob_up", "prob_down", "expected_return", "expected_volatility", "regime_prob"):
            assert got[k] == pytest.approx(want[k], abs=2e-6), k


@pytest.mark.data
def test_no_look_ahead(replay) -> None:
    """Changing every bar after t changes no forecast at t (fit or path)."""
    bars = read_bars(replay["store"], [CODE], "1m", "none")
    fitted = fit_session_models(bars, DAY, freq="5m", train_days=40)
    day5 = resample_minutes(bars[bars["trade_time"].dt.normalize() == DAY], "5m").reset_index(drop=True)
    t = day5["trade_time"].iloc[14]
    changed = day5.copy()
    late = changed["trade_time"] > t
    changed.loc[late, ["open", "high", "low", "close"]] *= 0.8
    changed.loc[late, ["volume", "amount"]] *= 3
    a, b = forecast_row(fitted, day5, t), forecast_row(fitted, changed, t)
    assert a == b
    stored = next(r for r in replay["rows"] if r["bar_time"] == t)["signal"]
    assert stored["prob_up"] == pytest.approx(build_intraday_signal(a, "5m", 6).prob_up, abs=1e-6)
    # and the future of the day is not what the fit saw: a later bar moves
    t2 = day5["trade_time"].iloc[30]
    assert forecast_row(fitted, day5, t2)["close"] != forecast_row(fitted, changed, t2)["close"]


@pytest.mark.data
def test_bar_completeness_rules(replay) -> None:
    """Never a half bar: the 10:00 bar counts once its close passed and the 10:01 minute
    began; the morning's last bar once the part ended (settle) — on the real minutes."""
    src = StoreReplaySource(replay["store"])
    c = DAY + pd.Timedelta("10:00:00")
    at = src.minute_bars(CODE, DAY, c - pd.Timedelta(seconds=30))      # 10:00 in progress
    assert at["trade_time"].max() == c and not bar_complete(c, at, c - pd.Timedelta(seconds=30))
    m = src.minute_bars(CODE, DAY, c)                                   # 10:01 has begun
    assert m["trade_time"].max() == c + pd.Timedelta(minutes=1) and bar_complete(c, m, c)
    noon = DAY + pd.Timedelta("11:30:00")
    m = src.minute_bars(CODE, DAY, noon)
    assert part_end(noon) == noon and m["trade_time"].max() == noon
    assert not bar_complete(noon, m, noon, settle_s=5)
    assert bar_complete(noon, m, noon + pd.Timedelta(seconds=5), settle_s=5)


@pytest.mark.data
def test_webhook_fires_on_each_change(replay) -> None:
    rows, bodies = replay["rows"], replay["hook"].bodies
    changes = [(a, b) for a, b in zip(rows, rows[1:], strict=False)
               if (a["t0_intensity"], a["plan"]) != (b["t0_intensity"], b["plan"])]
    assert changes, "the real day has T+0 changes"
    assert len(bodies) == len(changes) == replay["summary"].webhooks["sent"]
    for body, (a, b) in zip(bodies, changes, strict=True):
        assert body["ts_code"] == CODE and body["bar_time"] == str(b["bar_time"])
        assert body["before"] == {"t0_intensity": a["t0_intensity"], "plan": a["plan"]}
        assert body["after"] == {"t0_intensity": b["t0_intensity"], "plan": b["plan"]}
    with replay["Session"]() as s:
        logged = s.query(AlertLog).filter(AlertLog.alert_type == "t0_change").all()
        assert len(logged) == len(changes) and all(a.webhook_status == "sent 204" for a in logged)


@pytest.mark.data
@pytest.mark.slow
def test_worker_processes_give_the_same_signals(replay, home: Path) -> None:
    """workers=2: two holdings (the real bars, and the same bars under a second, test-only
    label) fitted and forecast in two processes give the one-process signals."""
    store = replay["store"]
    twin = "900001.SH"
    bars = read_bars(store, [CODE], "1m", "none")
    store.write({"bars_1m": bars.assign(ts_code=twin)})
    _, Session_ = open_app_store(default_url(home))
    stop = threading.Event()
    seen: list[dict] = []

    def progress(e: dict) -> None:
        if e["event"] == "signal":
            seen.append(e)
            if len(seen) >= 2 * 6:
                stop.set()

    summ = run_watch(get_settings(home=home), Session_, [CODE, twin], source=StoreReplaySource(store),
                     speed=0, replay_day=DAY, stop=stop, on_progress=progress, workers=2)
    assert summ.status == "stopped" and summ.signals == 12
    one = {r["bar_time"]: r["signal"] for r in replay["rows"]}
    for r in watch_rows(Session_, summ.run_id):
        want = one[r["bar_time"]]
        assert r["signal"]["prob_up"] == pytest.approx(want["prob_up"], abs=1e-9)
        assert (r["t0_intensity"], r["plan"]) == (want["t0_intensity"], want["t0_plan"])


#: The live tests' bar frequency (fewer polls of the server than 5m; same loop).
LIVE_FREQ = "15m"


@pytest.fixture(scope="module")
def live(replay, home: Path, data_dir: Path):
    """Live mode against the local TDX API server (tests/support), on a replay clock the
    server shares (it serves only the minutes closed by then); the server answers 503 to
    three polls after the 10th signal; the webhook points at a closed port."""
    from support.tdx_api_server import TdxApiServer
    from tzero.data.tdx_api import TdxApiClient, fetch_session_bars

    clock = ReplayClock(DAY + pd.Timedelta("09:30:00"), speed=0)
    srv = TdxApiServer(data_dir).start()
    srv.set_now(clock.now)
    client = TdxApiClient(srv.url, retries=0, max_rps=0, timeout=10)
    settings = get_settings(home=home).with_overrides(alert_webhook="http://127.0.0.1:9/closed")
    _, Session_ = open_app_store(default_url(home))
    seen: dict[str, object] = {}
    n = [0]

    def progress(e: dict) -> None:
        if e["event"] == "signal":
            n[0] += 1
            if n[0] == 10:
                srv.faults.fail_5xx["/api/kline"] = 3      # the server goes away for 3 polls
        elif e["event"] in ("stale", "recovered"):
            with Session_() as s:
                w = s.get(LiveWatch, seen.setdefault("run_id", _newest_watch(s)))
                seen[e["event"]] = (w.stale_since, w.message, n[0])

    try:
        summ = run_watch(settings, Session_, [CODE], freq=LIVE_FREQ,
                         source=ApiSource(client, replay["store"]),
                         replay_day=DAY, clock=clock, on_progress=progress, poll_s=60,
                         backoff_s=0.01)
        srv.set_now(None)
        day_minutes = fetch_session_bars(client, CODE, DAY, "1m")
    finally:
        client.close()
        srv.stop()
    return {"summary": summ, "rows": watch_rows(Session_, summ.run_id), "seen": seen,
            "log": srv.log, "day_minutes": day_minutes, "Session": Session_}


def _newest_watch(s) -> str:
    return s.query(LiveWatch).order_by(LiveWatch.started_at.desc()).first().run_id


@pytest.mark.data
def test_live_emits_per_bar_through_the_api(live) -> None:
    summ, rows = live["summary"], live["rows"]
    assert summ.mode == "live" and summ.status == "finished"
    assert [r["bar_time"] for r in rows] == list(session_stamps(DAY, LIVE_FREQ))
    assert all(r["signal"]["horizon_unit"] == "bar:15m" for r in rows)
    assert any(route == "/api/kline" for _, route, _ in live["log"])
    with live["Session"]() as s:
        w = s.get(LiveWatch, summ.run_id)
        assert w.mode == "live" and w.stale_since is None and w.status == "finished"


@pytest.mark.data
def test_live_survives_the_server_going_away(live) -> None:
    summ, seen = live["summary"], live["seen"]
    since, message, at = seen["stale"]
    assert since is not None and "503" in message and at == 10
    cleared, msg, at2 = seen["recovered"]
    assert cleared is None and msg is None and at2 == 10
    assert len(summ.stale_periods) == 1 and summ.stale_periods[0]["seconds"] >= 0
    assert summ.signals == 16                                   # nothing lost to the outage


@pytest.mark.data
def test_live_never_stores_a_half_bar(live, replay) -> None:
    """Each live signal is the forecast from the complete bar: recomputed from the whole
    day's minutes (fetched after the close) with the same fit, at a sample of bars."""
    bars = read_bars(replay["store"], [CODE], "1m", "none")
    fitted = fit_session_models(bars, DAY, freq=LIVE_FREQ, train_days=40)
    day15 = resample_minutes(live["day_minutes"], LIVE_FREQ).reset_index(drop=True)
    by_bar = {r["bar_time"]: r["signal"] for r in live["rows"]}
    assert len(day15) == len(by_bar) == 16
    for t in day15["trade_time"]:
        want = build_intraday_signal(forecast_row(fitted, day15, t), LIVE_FREQ, fitted.horizon)
        assert by_bar[t]["prob_up"] == pytest.approx(want.prob_up, abs=1e-6), t
        assert by_bar[t]["t0_plan"] == want.t0_plan


@pytest.mark.data
def test_webhook_failures_do_not_stop_the_loop(live) -> None:
    summ = live["summary"]
    rows = live["rows"]
    changes = sum((a["t0_intensity"], a["plan"]) != (b["t0_intensity"], b["plan"])
                  for a, b in zip(rows, rows[1:], strict=False))
    assert changes > 0 and summ.webhooks == {"sent": 0, "failed": changes}
    assert sum("webhook" in e for e in summ.errors) == changes and summ.signals == 16


@pytest.mark.data
def test_wall_clock_mode_waits_for_the_next_session(replay, home: Path) -> None:
    """Without a replay day the loop runs sessions as the clock reaches them: started on
    Friday 2020-04-03 after the close, it sleeps over the weekend and the Qingming holiday
    (Monday 04-06) and watches Tuesday 2020-04-07 (30m bars), refitting on the 40 sessions
    before it."""
    assert next_session(pd.Timestamp("2020-04-03 15:10")) == pd.Timestamp("2020-04-07")
    assert next_session(pd.Timestamp("2020-04-01 10:00")) == DAY
    assert next_session(pd.Timestamp("2020-04-01 10:00"), done=DAY) == pd.Timestamp("2020-04-02")
    clock = ReplayClock(pd.Timestamp("2020-04-03 15:10"), speed=0)
    _, Session_ = open_app_store(default_url(home))
    summ = run_watch(get_settings(home=home), Session_, [CODE], freq="30m",
                     source=StoreReplaySource(replay["store"]), clock=clock, max_days=1)
    assert summ.days == ["2020-04-07"] and summ.signals == 8 and summ.status == "finished"
    rows = watch_rows(Session_, summ.run_id)
    assert [r["bar_time"] for r in rows] == list(session_stamps(pd.Timestamp("2020-04-07"), "30m"))
    assert clock.now() >= pd.Timestamp("2020-04-07 15:00")
