"""The real tzero service in a background uvicorn on 127.0.0.1, and a replayed watch to feed it.

Used by the live board's route tests and browser test (issue 13): the service
and ``tzero watch`` are separate writers/readers of one app store, as in use.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from tzero.settings import get_settings

REPLAY_DAY = pd.Timestamp("2020-04-01")
REPLAY_CODE = "600009.SH"
MINUTE_CSV = "intraday/SSE.600009Q_m1.csv"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def minute_home(data_dir: Path, home: Path) -> Path:
    """``home`` with the real 600009.SH minute bars ingested (40+ sessions before 2020-04-01)."""
    from tzero.data.ingest import ingest_table
    from tzero.data.store import MarketStore

    ingest_table(MarketStore(get_settings(home=home).store_dir), data_dir / MINUTE_CSV, "minute")
    return home


@contextmanager
def serve(home: Path) -> Iterator[str]:
    """The service (no API token) on ``home``; yields its base URL, stops it on exit.

    Raises:
        RuntimeError: uvicorn did not start within 20 s.
    """
    import uvicorn

    from tzero.service.app import create_app

    settings = dataclasses.replace(get_settings(home=home), api_token=None)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="on"))
    th = threading.Thread(target=srv.run, name="uvicorn-live", daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not th.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(10)


def start_replay(home: Path, *, paper_rule: str | None = "arima-z2.0",
                 speed: float = 0.0) -> tuple[threading.Thread, dict]:
    """Replay 2020-04-01 for 600009.SH in a thread (as `tzero watch --replay` does), after
    starting a paper run of ``paper_rule``; returns the thread and a dict that gets
    ``summary`` (or ``error``) when it ends."""
    from tzero.data.appdb import open_app_store
    from tzero.data.store import MarketStore
    from tzero.live.paper import start_run
    from tzero.live.sources import StoreReplaySource
    from tzero.live.watch import run_watch

    settings = get_settings(home=home)
    _, Session_ = open_app_store(settings.app_db_url)
    out: dict = {}
    if paper_rule:
        out["paper_run"] = start_run(Session_, name="live-test", symbols=[REPLAY_CODE],
                                     rule=paper_rule)

    def go() -> None:
        try:
            out["summary"] = run_watch(settings, Session_, [REPLAY_CODE], freq="5m",
                                       source=StoreReplaySource(MarketStore(settings.store_dir)),
                                       train_days=40, speed=speed, replay_day=REPLAY_DAY)
        except Exception as exc:  # noqa: BLE001 (reported to the test)
            out["error"] = repr(exc)

    th = threading.Thread(target=go, name="replay", daemon=True)
    th.start()
    return th, out
