"""Lifecycle CLI: the generated spec, an unreachable database, versions and rollback errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tzero.training import cv


def _tzero(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "TZERO_DB_URL"}
    e.update(TZERO_HOME=str(home), **env)
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=e, capture_output=True,
                          text=True, timeout=120)


def test_spec_is_generated_from_the_code(tmp_path: Path) -> None:
    r = _tzero(tmp_path, "spec", "--format", "json")
    assert r.returncode == 0, r.stderr
    spec = json.loads(r.stdout)
    assert spec["data"]["input"]["sequence_length"] == 60
    assert spec["data"]["features"]["count_total"] == 21
    assert spec["training"]["cross_validation"]["default_param_grid"] == cv.DEFAULT_PARAM_GRID
    assert spec["validation"]["min_f1_improvement"] == 0.05
    md = _tzero(tmp_path, "spec", "--format", "md").stdout
    assert md.startswith("# LSTM training") and "量价背离" in md


def test_unreachable_database_fails_loudly(tmp_path: Path) -> None:
    r = _tzero(tmp_path, "versions", "--json", TZERO_DB_URL="postgresql+psycopg://nobody:secret@127.0.0.1:1/x")
    assert r.returncode == 2
    assert "database unreachable" in r.stderr and "secret" not in r.stderr


def test_versions_empty_and_unknown_rollback(tmp_path: Path) -> None:
    r = _tzero(tmp_path, "versions", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    r = _tzero(tmp_path, "rollback", "lstm-nope")
    assert r.returncode == 2 and "unknown version" in r.stderr


def test_training_killed_midway_leaves_nothing_half_written(tmp_path: Path, make_tdx) -> None:
    """SIGKILL a real `tzero train-lstm` mid-fit; the next run starts clean."""
    import signal
    import sqlite3
    import time

    home = tmp_path / "home"
    tdx = make_tdx("tdx", lc1=False, gbbq=True)   # adj_factor from gbbq: qfq training reads work
    assert _tzero(home, "ingest", "tdx", str(tdx), "--json").returncode == 0
    e = {k: v for k, v in os.environ.items() if k != "TZERO_DB_URL"}
    e["TZERO_HOME"] = str(home)
    proc = subprocess.Popen([sys.executable, "-m", "tzero", "train-lstm", "--symbols", "600519.SH",
                             "--mode", "fast", "--jobs", "1"], env=e,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = home / "tzero.db"
    deadline = time.time() + 90
    running = 0
    while time.time() < deadline and not running:
        time.sleep(0.5)
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    running = c.execute("select count(*) from lstm_training_run where status='running'").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    assert running == 1, "training never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with sqlite3.connect(db) as c:
        assert c.execute("select count(*) from lstm_model_version").fetchone()[0] == 0
        assert c.execute("select count(*) from lstm_current_version").fetchone()[0] == 0
    from tzero.data.appdb import open_app_store
    from tzero.registry import versions
    _, S = open_app_store(f"sqlite:///{db}")
    with S.begin() as s:
        assert versions.recover_interrupted(s) == 1
    with sqlite3.connect(db) as c:
        assert c.execute("select status from lstm_training_run").fetchall() == [("failed",)]


def test_schedule_runs_after_the_close_in_shanghai() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import pytest

    from tzero.cli_lifecycle import build_scheduler
    from tzero.errors import TzeroError
    job = build_scheduler(lambda: None, "15:30").get_job("tzero-after-close")
    tz = ZoneInfo("Asia/Shanghai")
    nxt = job.trigger.get_next_fire_time(None, datetime(2023, 2, 24, 16, 0, tzinfo=tz))  # Friday after close
    assert nxt == datetime(2023, 2, 27, 15, 30, tzinfo=tz)                               # Monday 15:30
    with pytest.raises(TzeroError, match="HH:MM"):
        build_scheduler(lambda: None, "3pm")
