"""Issue 12 item 9 over HTTP: ``/api/lstm/predict`` and ``/api/signals`` show one direction.

Both routes serve the same LSTM version for the same symbol and session; the
predict route's ``direction`` and the signal's LSTM vote must be the rule's
(:func:`tzero.signals.direction.direction`) on the very same P(up) and return.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, SYM, TINY, service_settings, wait_job  # tests/service/conftest.py
from tzero.signals.direction import LABELS, direction, direction_label


@pytest.fixture(scope="module")
def adjusted_home(tdx_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TZERO_HOME with the real daily bars and adj factors of :data:`SYM` (qfq reads work)."""
    from tzero.data.ingest import ingest_table, ingest_tdx
    from tzero.data.store import MarketStore
    from tzero.settings import get_settings

    root = tmp_path_factory.mktemp("direction")
    day = tdx_dir / "vipdoc" / "sh" / "lday" / "sh600519.day"
    dst = root / "tdx" / "vipdoc" / "sh" / "lday" / day.name
    dst.parent.mkdir(parents=True)
    shutil.copyfile(day, dst)
    adj = pd.read_parquet(data_dir / "reference" / "adj_factor.parquet",
                          filters=[("ts_code", "==", SYM)])
    adj.to_parquet(root / "adj.parquet", index=False)
    home = root / "home"
    store = MarketStore(get_settings(home=home).store_dir)
    ingest_tdx(store, root / "tdx")
    ingest_table(store, root / "adj.parquet", "adj_factor")
    return home


@pytest.fixture
def client(adjusted_home: Path, tmp_path: Path):
    from tzero.service.app import create_app

    url = f"sqlite:///{tmp_path / 'app.db'}"
    with TestClient(create_app(service_settings(adjusted_home, url), lstm_config=TINY)) as c:
        yield c


def test_predict_and_signals_agree_on_the_direction(client, always_deploy) -> None:
    c = client
    r = c.post("/api/lstm/train", json={"symbol": SYM}, headers=AUTH)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["job_id"])
    assert job["state"] == "succeeded", job["error"]

    p = c.get("/api/lstm/predict", params={"symbol": SYM}).json()
    assert p["source"] == "lstm"
    assert p["direction"] == direction(p["prob_up"], p["magnitude"])
    assert p["direction_label"] == LABELS[p["direction"]]

    sigs = c.get("/api/signals", params={"symbols": SYM, "as_of": p["predict_date"]}).json()
    s = next(x for x in sigs if x["ts_code"] == SYM)
    vote = s["model_votes"]["lstm"]
    assert s["model_versions"]["lstm"] == p["model_version_id"]
    assert vote["prob_up"] == pytest.approx(p["prob_up"], abs=1e-6)
    assert vote["expected_return"] == pytest.approx(p["magnitude"], abs=1e-6)
    assert vote["direction"] == p["direction_label"]                       # one rule, both routes
    assert s["direction"] == direction_label(s["prob_up"], s["expected_return"])


def test_fallback_with_no_information_is_neutral(client) -> None:
    """No LSTM version: the ARIMA (or rule) fallback's direction follows the rule too;
    an exactly-0.5 P(up) is neutral, never "down"."""
    p = client.get("/api/lstm/predict", params={"symbol": SYM}).json()
    # the case: ARIMA (0,0,0) on 600519.SH, P(up) 0.5 and +0.11 % (once shown "down")
    assert (p["source"], p["prob_up"]) == ("arima", 0.5) and p["magnitude"] > 0
    assert (p["direction"], p["direction_label"]) == (0, "neutral")
    assert p["direction"] == direction(p["prob_up"], p["magnitude"])
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictionOut"]
    assert "neutral" in schema["properties"]["direction"]["description"]
