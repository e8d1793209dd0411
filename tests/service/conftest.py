"""Service fixtures: a small real market store (shared, read-only) and apps over fresh app stores."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tzero.models.lstm import LstmConfig
from tzero.registry import gate
from tzero.settings import Settings, get_settings
from tzero.training.loop import TrainConfig

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SYM = "600519.SH"
#: A few seconds per symbol: no CV, 2 epochs, 8 hidden units.
TINY = LstmConfig(cv=False, history=400, holdout_sessions=30, train=TrainConfig(seed=3),
                  params={"lr": 1e-3, "hidden_size": 8, "epochs": 2, "batch_size": 64})
DAY_FILES = ("sh/lday/sh600519.day", "sz/lday/sz000001.day", "sh/lday/sh000300.day")
GBBQ_FILE = "T0002/hq_cache/gbbq"


@pytest.fixture(scope="session")
def market_home(tdx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TZERO_HOME whose market store holds three real symbols' daily bars.

    As a TDX-only user has it: adj factors come from the real ``T0002/hq_cache/gbbq``
    (no Tushare table), so the stocks' qfq reads work.
    """
    from tzero.data.ingest import ingest_tdx
    from tzero.data.store import MarketStore

    root = tmp_path_factory.mktemp("svc")
    for rel in (*(f"vipdoc/{r}" for r in DAY_FILES), GBBQ_FILE):
        dst = root / "tdx" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / rel, dst)
    home = root / "home"
    ingest_tdx(MarketStore(get_settings(home=home).store_dir), root / "tdx")
    return home


def service_settings(home: Path, db_url: str, token: str | None = TOKEN) -> Settings:
    """Settings on ``home``'s store and the app store at ``db_url``; ``token`` None: none configured."""
    return dataclasses.replace(get_settings(home=home), db_url=db_url, api_token=token)


@pytest.fixture
def make_client(market_home: Path, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """``make_client(db_url=None, token=TOKEN, lstm_config=TINY) -> TestClient`` (entered; closed at teardown)."""
    from tzero.service.app import create_app

    clients: list[TestClient] = []

    def build(db_url: str | None = None, token: str | None = TOKEN,
              lstm_config: LstmConfig | None = TINY) -> TestClient:
        url = db_url or f"sqlite:///{tmp_path / 'app.db'}"
        c = TestClient(create_app(service_settings(market_home, url, token), lstm_config=lstm_config))
        c.__enter__()
        clients.append(c)
        return c

    yield build
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def always_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy gate says yes (a 2-epoch LSTM rarely beats the naive baselines)."""
    monkeypatch.setattr(gate, "should_deploy", lambda *_a, **_k: gate.GateDecision(True, "test: forced"))


def wait_job(client: TestClient, job_id: str, timeout: float = 120.0) -> dict:
    """Poll ``GET /api/jobs/{job_id}`` until it is done; return the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


@pytest.fixture
def outage(app_db, tmp_path: Path) -> Iterator:
    """An :class:`outage.Outage` on each of the three databases (``app_db``'s backends).

    The app is built on ``outage.url``; ``outage.down(engine)`` takes the
    database away for real and ``outage.up()`` brings it back.
    """
    from outage import Outage

    o = Outage(app_db.backend, app_db.url, tmp_path)
    yield o
    o.close()


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``check()`` every 50 ms until it is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not reached after {timeout} s")
