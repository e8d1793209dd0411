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
