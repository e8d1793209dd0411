"""``tzero watch`` end to end (issue 13's done condition) and its one-line usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MINUTE_CSV = "intraday/SSE.600009Q_m1.csv"


def _tzero(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TZERO_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("TZERO_TDX_API_URL", None)
    env.pop("TZERO_ALERT_WEBHOOK", None)
    return subprocess.run([sys.executable, "-m", "tzero", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def home(data_dir: Path, tmp_path_factory) -> Path:
    """A TZERO_HOME after `tzero ingest table SSE.600009Q_m1.csv --kind minute`."""
    h = tmp_path_factory.mktemp("watch_cli")
    r = _tzero(h, "ingest", "table", str(data_dir / MINUTE_CSV), "--kind", "minute", "--json")
    assert r.returncode == 0, r.stderr
    return h


@pytest.mark.data
def test_replay_with_a_paper_run(home: Path) -> None:
    """`tzero watch --replay 2020-04-01 --symbols 600009.SH --speed 0`: 48 signals, and the
    paper run started before records its orders."""
    from tzero.data.appdb import LiveSignal, PaperOrder, default_url, open_app_store
    from tzero.live.paper import start_run

    _, Session_ = open_app_store(default_url(home))
    # `combined` places no order on 2020-04-01 (its HMM filter says pause most of the day);
    # the ARIMA anchor at 2 sigma trades 6 bars of it
    run_id = start_run(Session_, name="watch-test", symbols=["600009.SH"], rule="arima-z2.0")
    r = _tzero(home, "watch", "--replay", "2020-04-01", "--symbols", "600009.SH", "--speed", "0",
               "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    summ = json.loads(r.stdout)
    assert summ["status"] == "finished" and summ["signals"] == 48 and summ["days"] == ["2020-04-01"]
    with Session_() as s:
        sig = s.query(LiveSignal).filter(LiveSignal.run_id == summ["run_id"]).all()
        orders = s.query(PaperOrder).filter(PaperOrder.run_id == run_id).all()
    assert len(sig) == 48
    assert {str(x.bar_time)[11:16] for x in sig} >= {"09:35", "11:30", "13:05", "15:00"}
    from_signals = [o for o in orders if o.signal_id is not None]
    assert summ["orders"] == len(from_signals) > 0
    assert {o.signal_id for o in from_signals} <= {x.id for x in sig}
    assert {o.status for o in orders} <= {"filled", "rejected", "pending"}
    # `tzero paper`: the run's report, then its stop (a sample for the gate), then the status
    r = _tzero(home, "paper", "report", run_id)
    assert r.returncode == 0 and f"paper run {run_id} (arima-z2.0, running)" in r.stdout, r.stderr
    r = _tzero(home, "paper", "stop", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["run_id"] == run_id and rep["status"] == "stopped"
    assert rep["orders"]["pending"] == 0 and sum(rep["orders"].values()) == len(orders)
    assert rep["first_bar"] == "2020-04-01 09:35:00" and rep["last_bar"] == "2020-04-01 15:00:00"
    r = _tzero(home, "paper", "status", "--json")
    st = json.loads(r.stdout)
    assert [x["run_id"] for x in st["runs"]] == [run_id]
    assert st["gate"][0]["rule"] == "arima-z2.0" and st["gate"][0]["ready"] is False


@pytest.mark.data
@pytest.mark.parametrize(("args", "needle"), [
    (["stop"], "no running paper run"),
    (["report", "paper-nope"], "no paper run 'paper-nope'"),
    (["start", "--symbols", "600009.SH", "--rule", "bogus"], "unknown paper rule 'bogus'"),
    (["start", "--symbols", "sh60x"], "sh60x"),
    (["start", "--symbols", "600009.SH", "--base-value", "-5"], "base_value_cny must be a positive"),
])
def test_paper_usage_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    r = _tzero(tmp_path, "paper", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in r.stderr


@pytest.mark.data
def test_holdings_file_and_a_line_per_bar(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ts_code,shares\n600009.SH,100\nsh60x,5\n", encoding="utf-8")
    r = _tzero(home, "watch", "--replay", "2020-04-01", "--holdings", str(bad))
    assert r.returncode == 2 and "row 3: ts_code" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    good = tmp_path / "held.csv"
    good.write_text("ts_code,shares\nsh600009,1000\n", encoding="utf-8")
    r = _tzero(home, "watch", "--replay", "2020-04-01", "--holdings", str(good), "--freq", "60m")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    bars = [ln for ln in lines if ln.startswith("2020-04-01 ") and "T+0" in ln]
    assert [ln[11:16] for ln in bars] == ["10:30", "11:30", "14:00", "15:00"]
    assert all(" 600009.SH " in ln for ln in bars)
    assert lines[-1].startswith("watch ") and "4 signals" in lines[-1]


@pytest.mark.data
@pytest.mark.parametrize(("args", "needle"), [
    (["--replay", "2020-04-04", "--symbols", "600009.SH"], "--replay 2020-04-04 is not an XSHG"),
    (["--replay", "2020-04-01", "--symbols", "600000.SH"], "600000.SH: no 1-minute bars stored"),
    (["--replay", "2020-02-03", "--symbols", "600009.SH"], "need 40"),
    (["--symbols", "600009.SH"], "no TDX API server"),
    (["--replay", "2020-04-01"], "no holdings"),
])
def test_usage_errors_are_one_line(home: Path, args: list[str], needle: str) -> None:
    r = _tzero(home, "watch", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in r.stderr
