"""``--executor local|ray`` on the CLI, run as a subprocess (issue 14 "Done when").

``tzero train --symbols 600519.SH,000858.SZ,600036.SH --executor ray`` gives the same
versions' metrics (and the same fitted bytes: the blob hash ends every version id) as
``--executor local``. The Ray run starts its own local Ray (``--jobs 2`` CPUs) and stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYMBOLS = "600519.SH,000858.SZ,600036.SH"
DAY_FILES = ("sh/lday/sh600519.day", "sz/lday/sz000858.day", "sh/lday/sh600036.day")


def tzero(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("TZERO_DB_URL", "TZERO_EXECUTOR", "TZERO_RAY_ADDRESS", "RAY_ADDRESS")}
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args],
                          env={**base, "TZERO_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1",
                               **env},
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def small_tdx(tdx_dir: Path, tmp_path: Path) -> Path:
    """The three stocks' real ``.day`` files and the real gbbq (qfq factors on ingest)."""
    root = tmp_path / "tdx"
    for rel in (*(Path("vipdoc") / f for f in DAY_FILES), Path("T0002/hq_cache/gbbq")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / rel, root / rel)
    return root


@pytest.mark.data
@pytest.mark.slow
def test_train_on_ray_gives_the_same_versions_as_local(small_tdx: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed: pip install 'tzero[ray]'")
    runs = {}
    for kind in ("local", "ray"):
        home = tmp_path / kind
        r = tzero(home, "ingest", "tdx", str(small_tdx), "--json")
        assert r.returncode == 0, r.stderr
        r = tzero(home, "train", "--symbols", SYMBOLS, "--models", "arima,hmm", "--jobs", "2",
                  "--executor", kind, "--json")
        assert r.returncode == 0, r.stderr
        runs[kind] = json.loads(r.stdout)              # stdout is the JSON alone under Ray too
    local, ray = runs["local"], runs["ray"]
    assert [(x["model"], x["key"]) for x in local] == [(x["model"], x["key"]) for x in ray]
    assert len(local) == 6 and all(x["status"] == "succeeded" for x in local + ray)
    for a, b in zip(local, ray, strict=True):
        assert a["holdout"] == b["holdout"], a["key"]
        assert (a["deployed"], a["reason"]) == (b["deployed"], b["reason"])
        assert a["version_id"].rsplit("-", 1)[1] == b["version_id"].rsplit("-", 1)[1]  # blob sha


@pytest.mark.parametrize(("env", "args", "needle"), [
    ({}, ("--executor", "spark"), "--executor must be one of local, ray, got 'spark'"),
    ({"TZERO_EXECUTOR": "dask"}, (), "TZERO_EXECUTOR must be one of local, ray, got 'dask'"),
])
def test_a_bad_executor_is_one_line_and_exit_2(tmp_path: Path, env, args, needle) -> None:
    r = tzero(tmp_path / "home", "train", "--symbols", "600519.SH", "--models", "arima", *args,
              **env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip() == f"error: {needle}"
