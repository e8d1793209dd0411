"""End to end on the real data: demo → signals JSON and report; predict; evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tzero.settings import get_settings

pytestmark = [pytest.mark.data, pytest.mark.slow]

SIGNAL_FIELDS = {"ts_code", "as_of", "horizon", "prob_up", "prob_down", "expected_return",
                 "expected_volatility", "regime", "t0_intensity", "confidence", "model_votes",
                 "model_versions", "explanation"}


def _tzero(home: Path, *args: str, timeout: int = 600,
           env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TZERO_HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    if get_settings().tdx_dir is None:
        pytest.skip("shared data absent: ../shared/data/tdx not found and TZERO_TDX_DIR unset")
    home = tmp_path_factory.mktemp("home")
    r = _tzero(home, "demo", "--symbols", "600519.SH", "--symbols", "sz000001", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    signals = json.loads(r.stdout)
    assert [s["ts_code"] for s in signals] == ["000001.SZ", "600519.SH"]
    return home


def _versions(home: Path) -> list[dict]:
    r = _tzero(home, "versions", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_demo_signals_name_registry_versions(demo_home: Path) -> None:
    """One serving path: every vote names a current, gate-deployed version `tzero versions` lists."""
    signals = json.loads((demo_home / "reports" / "demo" / "signals.json").read_text())
    rows = _versions(demo_home)
    by_id = {r["version_id"]: r for r in rows}
    current = {(r["model"], r["symbol"]) for r in rows if r["current"]}
    assert ("lstm_shared", "CSI_300") in {(r["model"], r["symbol"]) for r in rows}
    assert {r["model"] for r in rows} == {"lstm_shared", "lstm_refinement", "arima", "hmm"}
    for s in signals:
        assert SIGNAL_FIELDS <= set(s)
        assert s["as_of"] == "2023-02-24"
        assert set(s["model_votes"]) == set(s["model_versions"])
        for model, vid in s["model_versions"].items():
            row = by_id[vid]
            assert row["model"] == model and row["current"] and row["status"] == "deployed"
        # every current version that serves this stock voted; refused ones never do
        serving = {m for m, k in current if k in (s["ts_code"], "CSI_300")}
        assert set(s["model_votes"]) == serving
        assert s["t0_intensity"] in {"aggressive", "normal", "conservative", "pause"}
        assert 0 <= s["prob_up"] <= 1 and s["expected_volatility"] > 0
    refused = [r for r in rows if r["status"] == "refused"]
    assert all(not r["kept"] for r in refused)
    # spec 000 §6.6: the runs and the served signals are recorded, with the config snapshot
    import sqlite3
    db = sqlite3.connect(demo_home / "tzero.db")
    snap = json.loads(db.execute("SELECT config_snapshot FROM model_train_run WHERE "
                                 "model_name = 'lstm_shared' ORDER BY id LIMIT 1").fetchone()[0])
    assert snap["universe"]["universe_name"] == "CSI_300" and snap["static_feature_fields"]
    assert {r[0] for r in db.execute("SELECT per_stock FROM (SELECT json_extract(config_snapshot, "
                                     "'$.per_stock_mode') AS per_stock FROM model_train_run "
                                     "WHERE model_name = 'lstm_refinement')")} == {"REFINEMENT"}
    voted = {v for s in signals for v in s["model_versions"].values()}
    served = {r[0] for r in db.execute("SELECT version_id FROM model_inference_run")}
    assert voted <= served
    assert db.execute("SELECT COUNT(*) FROM quant_unified_signal").fetchone()[0] >= len(signals)
    db.close()
    html = (demo_home / "reports" / "demo" / "report.html").read_text()
    assert "lstm_shared CSI_300" in html and "http://" not in html and "https://" not in html


def test_demo_reuses_fresh_versions_of_every_model(demo_home: Path) -> None:
    """A second demo the same day trains nothing (`--reuse`, the default): the shared
    model and every per-stock model of the holding keep their versions."""
    def ids() -> list[tuple[str, str, str]]:
        return sorted((x["model"], x["symbol"], x["version_id"]) for x in _versions(demo_home))

    before = ids()
    assert {m for m, _, _ in before} >= {"lstm_shared", "lstm_refinement", "arima", "hmm"}
    r = _tzero(demo_home, "demo", "--symbols", "600519.SH")
    assert r.returncode == 0, r.stderr[-3000:]
    assert ids() == before
    assert "reused 4 version(s)" in " ".join(r.stdout.split()), r.stdout[-2000:]


def test_predict_matches_demo_and_as_of(demo_home: Path) -> None:
    r = _tzero(demo_home, "predict", "600519.SH", "000001", "--json")
    assert r.returncode == 0, r.stderr
    live = {s["ts_code"]: s for s in json.loads(r.stdout)}
    demo = {s["ts_code"]: s for s in json.loads((demo_home / "reports" / "demo" / "signals.json").read_text())}
    assert live["600519.SH"]["expected_return"] == demo["600519.SH"]["expected_return"]
    assert live["600519.SH"]["model_versions"] == demo["600519.SH"]["model_versions"]
    # the models were trained on data to 2023-02-24: predicting as of an earlier day is refused
    r = _tzero(demo_home, "predict", "600519.SH", "--as-of", "2023-01-20", "--json")
    assert r.returncode == 2 and "would use the future" in r.stderr
    r = _tzero(demo_home, "predict", "600519.SH", "--as-of", "1800-01-01")
    assert r.returncode == 2 and "outside the XSHG calendar" in r.stderr


def test_evaluate_reports_baselines(demo_home: Path) -> None:
    r = _tzero(demo_home, "evaluate", "--model", "hmm", "--symbols", "600519.SH", "--symbols", "000001.SZ",
               "--start", "2023-01-03", "--end", "2023-02-10", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["n"] > 20 and res["fit_end"] < "2023-01-03"
    for block in (res["metrics"], res["baselines"]["momentum"]):
        assert {"accuracy", "f1", "mse", "mae", "ic", "rank_ic"} <= set(block)
    assert res["baselines"]["zero"]["mse"] > 0


def test_train_and_evaluate_a_universe_model(demo_home: Path) -> None:
    """`tzero train --universe … --model lstm_shared --fast`, then `tzero evaluate --universe …`."""
    r = _tzero(demo_home, "train", "--universe", "CORE_UNIVERSE", "--model", "lstm_shared",
               "--fast", "--json")
    assert r.returncode in (0, 1), r.stderr[-2000:]        # 1: the run failed and says why
    run = json.loads(r.stdout)[0]
    assert run["model"] == "lstm_shared" and run["key"] == "CORE_UNIVERSE"
    assert run["status"] == "succeeded", run["reason"]
    keys = {(x["model"], x["symbol"]) for x in _versions(demo_home)}
    assert ("lstm_shared", "CORE_UNIVERSE") in keys and ("lstm_shared", "CSI_300") in keys

    r = _tzero(demo_home, "evaluate", "--universe", "CORE_UNIVERSE", "--model", "lstm_shared",
               "--start", "2022-11-01", "--end", "2023-02-24", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["settings"]["fit_end"] < "2022-11-01"
    for block in (res["metrics"], *res["baselines"].values()):
        assert {"ic", "icir", "rank_ic", "rank_icir", "topk_excess_annual", "n_dates"} <= set(block)
    assert set(res["baselines"]) == {"momentum", "reversal", "linear"}
    assert res["metrics"]["n_dates"] > 50
    assert "NaN" not in r.stdout and "Infinity" not in r.stdout
    r = _tzero(demo_home, "evaluate", "--universe", "NO_SUCH", "--model", "lstm_shared")
    assert r.returncode == 2 and "NO_SUCH" in r.stderr and "Traceback" not in r.stderr


def test_explain_endpoint_names_the_drivers_of_served_forecasts(demo_home: Path) -> None:
    """`GET /api/signals/600519.SH/explain`: SHAP drivers of the served shared LSTM (and any
    served refinement) with the version ids that voted; each is stored with its run."""
    import dataclasses
    import sqlite3

    from fastapi.testclient import TestClient

    from tzero.service.app import create_app

    settings = dataclasses.replace(get_settings(home=demo_home), api_token=None)
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/signals/600519.SH/explain")
        assert r.status_code == 200, r.text
        body = r.json()
        sig = c.get("/api/signals", params={"symbols": "600519.SH"}).json()[0]
    assert body["ts_code"] == "600519.SH" and body["as_of"] == "2023-02-24"
    by_model = {e["model"]: e for e in body["explanations"]}
    assert "lstm_shared" in by_model, body
    shared = by_model["lstm_shared"]
    assert shared["method"] == "shap.GradientExplainer" and shared["drivers"]
    assert shared["version_id"] == sig["model_versions"]["lstm_shared"]
    assert all(d["text"] and abs(d["contribution"]) > 0 for d in shared["drivers"])
    assert "lstm_shared:" in body["text"]
    db = sqlite3.connect(demo_home / "tzero.db")
    stored = db.execute("SELECT model_name, version_id, explanation_json FROM model_inference_run "
                        "WHERE explanation_json IS NOT NULL").fetchall()
    assert {(m, v) for m, v, _ in stored} >= {(e["model"], e["version_id"])
                                              for e in body["explanations"]}


def test_train_evaluate_and_rank_a_probabilistic_family_model(demo_home: Path) -> None:
    """DeepAR (a family model on the core): train on a universe through the gate, evaluate it
    out of sample next to the baselines, rank the universe with weights when it was deployed."""
    core = {"TZERO_UNIVERSE": "CORE_UNIVERSE"}
    r = _tzero(demo_home, "train", "--universe", "CORE_UNIVERSE", "--model", "deepar", "--fast",
               "--json", env=core)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    run = json.loads(r.stdout)[0]
    assert run["model"] == "deepar" and run["status"] == "succeeded", run["reason"]
    r = _tzero(demo_home, "evaluate", "--universe", "CORE_UNIVERSE", "--model", "deepar",
               "--start", "2022-11-01", "--end", "2023-02-24", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["metrics"]["n_dates"] > 50 and "NaN" not in r.stdout
    r = _tzero(demo_home, "rank", "--model", "deepar", "--symbols", "600519.SH", "--json", env=core)
    if not run["deployed"]:
        assert r.returncode == 2 and "deepar" in r.stderr and "Traceback" not in r.stderr
        return
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout)
    assert len(rows) == 10 and [x["rank"] for x in rows] == list(range(1, 11))
    assert 0 < sum(x["weight"] for x in rows) <= 1 + 1e-9
    assert [x["ts_code"] for x in rows if x["held"]] == ["600519.SH"]
    r = _tzero(demo_home, "rank", "--model", "arima")
    assert r.returncode == 2 and "does not rank" in r.stderr



def test_compare_after_demo_blocks_what_fails_every_family(demo_home: Path) -> None:
    """`tzero compare --json` on the demo store: every asked model and baseline with metrics
    and a verdict; a served model blocked in every family it was judged in stops voting."""
    import dataclasses

    from fastapi.testclient import TestClient

    from tzero.service.app import create_app

    r = _tzero(demo_home, "compare", "--universe", "CORE_UNIVERSE", "--models", "arima,hmm",
               "--start", "2022-09-01", "--sample", "10", "--json", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert "NaN" not in r.stdout and "Infinity" not in r.stdout
    rows = {x["name"]: x for x in res["rows"]}
    assert list(rows) == ["arima", "hmm", "zero", "momentum", "reversal", "linear", "technical"]
    for x in rows.values():
        assert {"rank_ic", "direction_accuracy", "mse"} <= set(x["metrics"])
        assert x["verdict"]["status"] in {"kept", "watch", "blocked"} and x["verdict"]["reasons"]
    settings = dataclasses.replace(get_settings(home=demo_home), api_token=None)
    with TestClient(create_app(settings)) as c:
        runs = c.get("/api/research/runs").json()
        assert runs[0]["run_id"] == res["run_id"]
        got = c.get("/api/research/compare", params={"run": res["run_id"]}).json()
        assert [x["name"] for x in got["rows"]] == list(rows)
        sig = c.get("/api/signals", params={"symbols": "600519.SH"}).json()[0]
        stock = c.get("/api/research/compare/stock",
                      params={"run": res["run_id"], "ts_code": "600519.SH"}).json()
        assert {m["name"] for m in stock["models"]} >= {"arima", "hmm"}
        assert c.get("/api/research/compare", params={"run": "nope"}).status_code == 400
    for name in ("arima", "hmm"):
        fails = {rows[name]["verdict"]["status"],
                 (rows[name].get("timing") or rows[name])["verdict"]["status"]} == {"blocked"}
        assert (name in sig["blocked_models"]) == fails, (name, sig["blocked_models"])
        assert (name in sig["model_votes"]) != fails
