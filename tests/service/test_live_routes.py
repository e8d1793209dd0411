"""The live board's routes (issue 13): server-sent events while a real replay runs.

One module fixture opens ``/api/live/stream`` on the real service (uvicorn on
127.0.0.1), then replays 600009.SH on 2020-04-01 in another thread, as ``tzero
watch --replay`` would in another process, with a paper run open; the stream's
events are recorded as they arrive.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.live_server import REPLAY_CODE, minute_home, serve, start_replay

pytestmark = [pytest.mark.data, pytest.mark.timeout(300)]


def _events(resp: httpx.Response, sink: list[dict], stop: threading.Event) -> None:
    """Parse a text/event-stream into ``{"id", "event", "data"}`` dicts (comments as ping)."""
    try:
        _parse(resp, sink, stop)
    except (httpx.HTTPError, ValueError):  # the test closed the response under the reader
        if not stop.is_set():
            raise


def _parse(resp: httpx.Response, sink: list[dict], stop: threading.Event) -> None:
    cur: dict = {}
    for line in resp.iter_lines():
        if stop.is_set():
            return
        if line.startswith(":"):
            sink.append({"event": "ping"})
        elif line.startswith("id: "):
            cur["id"] = int(line[4:])
        elif line.startswith("event: "):
            cur["event"] = line[7:]
        elif line.startswith("data: "):
            cur["data"] = json.loads(line[6:])
        elif line == "" and cur:
            sink.append(cur)
            cur = {}


@pytest.fixture(scope="module")
def live(data_dir: Path, tmp_path_factory):
    home = minute_home(data_dir, tmp_path_factory.mktemp("live_routes"))
    with serve(home) as base, httpx.Client(base_url=base, timeout=30) as client:
        empty = client.get("/api/live/board").json()
        seen: list[dict] = []
        stop = threading.Event()
        with client.stream("GET", "/api/live/stream", params={"poll_ms": 100},
                           timeout=httpx.Timeout(30, read=120)) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            reader = threading.Thread(target=_events, args=(resp, seen, stop), daemon=True)
            reader.start()
            th, out = start_replay(home)
            th.join(240)
            assert "summary" in out, out.get("error")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:   # the last poll of the stream
                w = [e for e in seen if e.get("event") == "watch"]
                if w and w[-1]["data"]["status"] == "finished" and \
                        sum(e.get("event") == "signal" for e in seen) >= 48:
                    break
                time.sleep(0.2)
            stop.set()
        yield {"base": base, "client": client, "empty": empty, "events": list(seen), "out": out}


def test_board_is_empty_before_any_watch(live) -> None:
    assert live["empty"] == {"watch": None, "holdings": [], "signals": 0, "last_id": 0}
    first = live["events"][0]
    assert first["event"] == "board" and first["data"]["watch"] is None


def test_every_signal_is_pushed_once_in_order(live) -> None:
    sig = [e for e in live["events"] if e["event"] == "signal"]
    assert len(sig) == 48
    ids = [e["id"] for e in sig]
    assert ids == sorted(ids) and len(set(ids)) == 48 and all(e["data"]["id"] == e["id"] for e in sig)
    bars = [e["data"]["bar_time"][11:16] for e in sig]
    assert bars[0] == "09:35" and bars[-1] == "15:00" and "13:05" in bars
    assert {e["data"]["ts_code"] for e in sig} == {REPLAY_CODE}
    assert all(e["data"]["t0_intensity"] and e["data"]["plan"] for e in sig)
    run = live["out"]["summary"].run_id
    assert {e["data"]["run_id"] for e in sig} == {run}


def test_watch_status_and_paper_updates_are_pushed(live) -> None:
    ev = live["events"]
    watch = [e["data"] for e in ev if e["event"] == "watch"]
    assert watch[0]["status"] == "running" and watch[-1]["status"] == "finished"
    assert watch[-1]["last_bar_at"].endswith("15:00:00") and watch[-1]["stale_since"] is None
    paper = [e["data"] for e in ev if e["event"] == "paper"]
    assert paper and paper[-1]["runs"][0]["run_id"] == live["out"]["paper_run"]
    assert paper[-1]["runs"][0]["orders"] > 0


def test_board_and_paper_routes_after_the_replay(live) -> None:
    c = live["client"]
    b = c.get("/api/live/board").json()
    assert b["signals"] == 48 and [h["ts_code"] for h in b["holdings"]] == [REPLAY_CODE]
    h = b["holdings"][0]
    assert h["bar_time"] == "2020-04-01 15:00:00" and h["id"] == b["last_id"]
    assert h["n_signals"] == 48
    assert b["watch"]["status"] == "finished"
    runs = c.get("/api/paper/runs").json()
    assert runs[0]["run_id"] == live["out"]["paper_run"] and runs[0]["status"] == "running"
    rep = c.get("/api/paper/report", params={"run": runs[0]["run_id"]}).json()
    assert rep["orders"]["filled"] >= 1 and rep["last_bar"] == "2020-04-01 15:00:00"
    st = c.get("/api/paper/status").json()
    assert st["samples_needed"] == 2 and st["gate"][0]["ready"] is False
    r = c.get("/api/paper/report", params={"run": "paper-nope"})
    assert r.status_code == 400 and "no paper run 'paper-nope'" in r.json()["detail"]


def test_a_reconnect_gets_only_what_it_missed(live) -> None:
    """EventSource's Last-Event-ID: after the 40th signal, exactly the last 8 arrive."""
    sig = [e for e in live["events"] if e["event"] == "signal"]
    seen: list[dict] = []
    stop = threading.Event()
    with live["client"].stream("GET", "/api/live/stream", params={"poll_ms": 100},
                               headers={"Last-Event-ID": str(sig[39]["id"])}) as resp:
        th = threading.Thread(target=_events, args=(resp, seen, stop), daemon=True)
        th.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sum(e["event"] == "signal" for e in seen) < 8:
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
    got = [e for e in seen if e["event"] == "signal"]
    assert [e["id"] for e in got] == [e["id"] for e in sig[40:]]
    assert not any(e["event"] == "board" for e in seen)
