"""The HTTP service end to end on a small real store: every route, auth, bad input, jobs, restart."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import AUTH, SYM, TOKEN, wait_job  # tests/service/conftest.py
from tzero.data.appdb import ServiceJob
from tzero.market import calendar
from tzero.registry.versions import now
from tzero.service.jobs import RESTART_ERROR
from tzero.signals.direction import direction

# ------------------------------------------------------------------ basics


def test_health_openapi_and_page(make_client) -> None:
    c = make_client()
    h = c.get("/api/health").json()
    assert h["status"] == "ok" and h["db"] == "sqlite" and h["jobs_running"] == 0
    assert isinstance(h["store"], int) and h["store"] > 1000
    paths = c.get("/openapi.json").json()["paths"]
    for p in ("/api/lstm/train", "/api/lstm/predict", "/api/lstm/plot-data", "/api/signals",
              "/api/kline", "/api/health", "/api/jobs/{job_id}"):
        assert p in paths
    assert c.get("/docs").status_code == 200
    for page in ("/", "/lstm"):
        r = c.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]


def test_kline_rows(make_client) -> None:
    c = make_client()
    r = c.get("/api/kline", params={"ts_code": "sh600519", "start": "2023-02-20", "end": "2023-02-24"})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [x["trade_time"] for x in rows] == [f"2023-02-{d}T00:00:00" for d in (20, 21, 22, 23, 24)]
    assert set(rows[0]) == {"ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount"}
    assert rows[0]["ts_code"] == SYM and rows[0]["close"] > 0


def test_training_spec_json_and_markdown(make_client) -> None:
    c = make_client()
    assert c.get("/api/lstm/training-spec").json()["data"]["input"]["sequence_length"] == 60
    r = c.get("/api/lstm/training-spec", params={"format": "md"})
    assert r.headers["content-type"].startswith("text/markdown") and r.text.startswith("# LSTM training")
    assert c.get("/api/lstm/training-spec", params={"format": "xml"}).status_code == 422


def test_signals_without_trained_models_is_404(make_client) -> None:
    r = make_client().get("/api/signals", params={"symbols": "600519.SH,000001.SZ"})
    assert r.status_code == 404 and "tzero demo" in r.json()["detail"]


def test_plot_without_version_is_404(make_client) -> None:
    c = make_client()
    for path in ("/api/lstm/plot", "/api/lstm/plot-data"):
        r = c.get(path, params={"symbol": SYM})
        assert r.status_code == 404 and "no current version" in r.json()["detail"]
        assert "tzero demo" in r.json()["detail"]


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(("path", "params", "status", "words"), [
    ("/api/lstm/predict", {"symbol": "sh60051"}, 400, ["symbol", "sh60051"]),
    ("/api/lstm/predict", {"symbol": "600519.SH", "as_of": "1900-01-01"}, 400, ["as_of", "outside"]),
    ("/api/lstm/predict", {"symbol": "601318.SH"}, 404, ["601318.SH", "ingest"]),
    ("/api/lstm/plot-data", {"symbol": SYM, "years": 7}, 422, []),
    ("/api/lstm/plot-data", {"symbol": "xx"}, 400, ["symbol", "xx"]),
    ("/api/kline", {"ts_code": "abc"}, 400, ["ts_code", "abc"]),
    ("/api/kline", {"ts_code": SYM, "start": "2999-01-01"}, 400, ["start", "outside"]),
    ("/api/kline", {"ts_code": SYM, "start": "yesterday-ish"}, 400, ["start"]),
    ("/api/kline", {"ts_code": SYM, "start": "2023-02-24", "end": "2023-02-20"}, 400, ["after"]),
    ("/api/kline", {"ts_code": SYM, "freq": "2h"}, 422, []),
    ("/api/kline", {"ts_code": SYM, "freq": "1m"}, 404, ["1m"]),
    ("/api/lstm/training-runs", {"symbol": "zz"}, 400, ["symbol"]),
    ("/api/lstm/monitoring", {"as_of": "13/45/2020"}, 400, ["as_of"]),
    ("/api/signals", {"symbols": "600519.SH,bogus"}, 400, ["symbols", "bogus"]),
    ("/api/jobs/nope", {}, 404, ["nope"]),
])
def test_bad_input_is_4xx_naming_the_field(make_client, path, params, status, words) -> None:
    r = make_client().get(path, params=params)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["detail"]


def test_bad_post_bodies(make_client) -> None:
    c = make_client()
    assert c.post("/api/lstm/train", json={}, headers=AUTH).status_code == 422
    r = c.post("/api/lstm/train", json={"symbol": "sh60051"}, headers=AUTH)
    assert r.status_code == 400 and "sh60051" in r.json()["detail"]
    r = c.post("/api/lstm/train", json={"symbol": SYM, "end": "1800-01-01"}, headers=AUTH)
    assert r.status_code == 400 and "end" in r.json()["detail"]
    r = c.post("/api/lstm/update-accuracy", json={"symbol": SYM, "as_of_date": "2100-13-01"}, headers=AUTH)
    assert r.status_code == 400 and "as_of_date" in r.json()["detail"]
    assert c.get("/api/jobs").json() == []   # nothing was queued by a refused request


# ------------------------------------------------------------------- auth
def test_post_routes_refused_without_configured_token(make_client) -> None:
    c = make_client(token=None)
    for path, body in (("/api/lstm/train", {"symbol": SYM}), ("/api/lstm/rollback", {"version_id": "x"}),
                       ("/api/lstm/alerts", {}), ("/api/lstm/check-triggers", {}),
                       ("/api/lstm/update-accuracy", {"symbol": SYM})):
        r = c.post(path, json=body, headers=AUTH)
        assert r.status_code == 403, path
        assert r.json()["detail"] == "set TZERO_API_TOKEN to enable mutating routes"
    assert c.get("/api/lstm/versions").status_code == 200   # GET stays open


def test_bearer_token_checked(app_db, make_client) -> None:
    c = make_client(db_url=app_db.url)
    body = {"version_id": "lstm-nope"}
    assert c.post("/api/lstm/rollback", json=body).status_code == 401
    r = c.post("/api/lstm/rollback", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert c.post("/api/lstm/rollback", json=body, headers={"Authorization": TOKEN}).status_code == 401
    r = c.post("/api/lstm/rollback", json=body, headers=AUTH)
    assert r.status_code == 404 and "lstm-nope" in r.json()["detail"]
    r = c.get("/api/lstm/predict", params={"symbol": SYM, "trigger_train_async": 1})
    assert r.status_code == 401   # starting training needs the token even on a GET


# ----------------------------------------------------------- job restart
def test_job_left_running_is_failed_after_restart(app_db, make_client) -> None:
    c = make_client(db_url=app_db.url)
    with c.app.state.tzero.Session.begin() as s:
        s.add(ServiceJob(id="00000000-0000-4000-8000-000000000001", kind="lstm_train", params_json="{}",
                         state="running", progress_done=0, progress_total=3, created_at=now(),
                         started_at=now()))
        s.add(ServiceJob(id="00000000-0000-4000-8000-000000000002", kind="lstm_train", params_json="{}",
                         state="pending", created_at=now()))
    assert c.get("/api/health").json()["jobs_running"] == 2
    c2 = make_client(db_url=app_db.url)   # a new server on the same store
    for jid in ("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"):
        job = c2.get(f"/api/jobs/{jid}").json()
        assert job["state"] == "failed" and job["error"] == RESTART_ERROR and job["finished_at"]
    assert c2.get("/api/jobs", params={"limit": 5}).json()[0]["state"] == "failed"


# ------------------------------------------------- the lifecycle over HTTP
def _train(c, body: dict) -> dict:
    r = c.post("/api/lstm/train", json=body, headers=AUTH)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["job_id"])
    assert job["state"] == "succeeded", job["error"]
    assert (job["progress_done"], job["progress_total"]) == (1, 1)
    return job


def test_train_predict_versions_rollback(app_db, make_client, always_deploy) -> None:
    c = make_client(db_url=app_db.url)
    first = _train(c, {"symbol": "sh600519", "end": "2023-02-17"})["result"][0]
    assert first["status"] == "succeeded" and first["deployed"] and first["symbol"] == SYM
    second = _train(c, {"symbols": ["600519"], "fast_training": True})["result"][0]
    v = c.get("/api/lstm/versions", params={"symbol": SYM}).json()
    assert [x["version_id"] for x in v["versions"]] == [second["version_id"], first["version_id"]]
    assert v["current"] == {"lstm": {SYM: second["version_id"]}}   # keyed by (model, key)
    assert {x["model"] for x in v["versions"]} == {"lstm"}
    runs = c.get("/api/lstm/training-runs", params={"symbol": SYM, "limit": 10}).json()
    assert [r["version_id"] for r in runs] == [second["version_id"], first["version_id"]]
    assert runs[1]["data_end"] == "2023-02-17"

    p = c.get("/api/lstm/predict", params={"symbol": SYM}).json()
    assert p["source"] == "lstm" and p["model_version_id"] == second["version_id"]
    assert p["predict_date"] == "2023-02-24" and p["prob_down"] == pytest.approx(1 - p["prob_up"])
    assert p["direction"] == direction(p["prob_up"], p["magnitude"]) and p["health"]["healthy"]

    r = c.post("/api/lstm/rollback", json={"version_id": first["version_id"]}, headers=AUTH)
    assert r.json() == {"symbol": SYM, "current": first["version_id"]}
    p = c.get("/api/lstm/predict", params={"symbol": SYM, "use_fallback": 0}).json()
    assert p["model_version_id"] == first["version_id"]


def test_plots_monitoring_alerts_triggers(make_client, always_deploy) -> None:
    c = make_client()
    vid = _train(c, {"symbol": SYM})["result"][0]["version_id"]

    d = c.get("/api/lstm/plot-data", params={"symbol": SYM, "years": 1}).json()
    assert d["version_id"] == vid and d["years"] == 1 and d["model"] == "lstm" and d["horizon"] == 5
    n = len(d["dates"])
    assert 200 < n < 260
    for k in ("direction_pred", "direction_actual", "return_pred", "return_actual", "dates_price",
              "actual_price", "predicted_price"):
        assert len(d[k]) == n, k
    bars = pd.DataFrame(c.get("/api/kline", params={"ts_code": SYM, "start": "2021-06-01"}).json())
    close = pd.Series(bars["close"].to_numpy(), index=pd.to_datetime(bars["trade_time"]).dt.strftime("%Y-%m-%d"))
    for k in (0, n // 2, n - 1):   # same index k: t, t+5, close_t+5, close_t x (1 + r)
        t, t5 = d["dates"][k], d["dates_price"][k]
        assert t5 == f"{calendar.offset_session(t, 5):%Y-%m-%d}"
        assert d["actual_price"][k] == pytest.approx(close[t5])
        assert d["predicted_price"][k] == pytest.approx(close[t] * (1 + d["return_pred"][k]), rel=1e-5)
        assert d["return_actual"][k] == pytest.approx(close[t5] / close[t] - 1, abs=1e-6)
        assert d["direction_actual"][k] == int(close[t5] > close[t])
    assert d["dates_price"][-1] == "2023-02-24"
    pend = d["pending"]   # the last 5 windows: t+5 not in the data yet
    assert pend["dates"] == list(close.index[-5:]) and pend["dates_price"][0] == "2023-02-27"
    assert len(c.get("/api/lstm/plot-data", params={"symbol": SYM, "years": 2}).json()["dates"]) > n

    assert c.get("/api/lstm/plot", params={"symbol": SYM, "generate": 0}).status_code == 404
    r = c.get("/api/lstm/plot", params={"symbol": SYM})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.get("/api/lstm/plot", params={"symbol": SYM, "generate": 0}).content == r.content

    # a prediction logged on 2023-02-16 is scored once 2023-02-23 is known
    c.get("/api/lstm/predict", params={"symbol": SYM, "as_of": "2023-02-16"})
    r = c.post("/api/lstm/update-accuracy", json={"symbol": SYM}, headers=AUTH)
    assert r.json() == {"symbol": SYM, "as_of_date": "2023-02-24", "records_written": 1}
    m = c.get("/api/lstm/monitoring", params={"symbol": SYM}).json()
    assert m["current_version"] == vid and m["accuracy_records"] == 1 and m["as_of"] == "2023-02-24"
    dec = c.get("/api/lstm/performance-decay", params={"threshold": 1.5, "n_recent": 20, "log": 1}).json()
    assert dec["triggered"] is False and dec["n_recent_samples"] == 1

    r = c.post("/api/lstm/alerts", json={"symbols": [SYM], "fire": True}, headers=AUTH)
    assert r.status_code == 200 and isinstance(r.json(), list)
    assert c.get("/api/lstm/alerts").status_code == 200

    r = c.post("/api/lstm/check-triggers", json={"symbol": SYM, "as_of": "2023-02-24"}, headers=AUTH)
    t = r.json()
    assert r.status_code == 200 and t["job_id"] is None
    assert t["triggers"][0]["matched"] == ["weekly"]   # a Friday, with a current version
    r = c.post("/api/lstm/check-triggers", json={"symbol": SYM, "run": True}, headers=AUTH)
    assert r.status_code == 202
    job = wait_job(c, r.json()["job_id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["result"][0]["run"]["training_type"] == "incremental"
    assert (job["progress_done"], job["progress_total"]) == (1, 1)

    r = c.get("/api/lstm/predict", params={"symbol": SYM, "trigger_train_async": 1}, headers=AUTH)
    assert r.status_code == 200 and wait_job(c, r.json()["job_id"])["state"] == "succeeded"
    jobs = c.get("/api/jobs").json()
    assert [j["kind"] for j in jobs][:3] == ["lstm_triggers", "lstm_triggers", "lstm_train"]
    assert json.dumps(jobs)   # plain JSON all the way down
