"""`tzero universe …` and `tzero static-features build`.

In-process through Typer's ``CliRunner`` (fast); the exit code 2 of an unknown
name is checked on the real entry point (``python -m tzero.cli``), since
``tzero.cli.main`` is what turns the error into one line and exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tzero.market.symbols import tdx_name

#: Real daily files for the store the commands read (two large caps, a tiny-amount stock).
CODES = ("600519.SH", "000001.SZ", "000005.SZ")


def _run(home: Path, *args: str):
    """Invoke the Typer app in-process on ``home`` (SQLite app store there)."""
    from tzero import cli_universe  # noqa: F401  (registers the commands)
    from tzero.cli import app

    r = CliRunner().invoke(app, list(args), env={"TZERO_HOME": str(home), "TZERO_DB_URL": None,
                                                 "COLUMNS": "200", "NO_COLOR": "1"})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def _tzero(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TZERO_DB_URL"}
    env.update(TZERO_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def home(tdx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TZERO_HOME whose market store holds :data:`CODES` (real bars, no adj factors)."""
    from tzero.data.ingest import ingest_tdx
    from tzero.data.store import MarketStore

    root = tmp_path_factory.mktemp("cli_univ")
    for code in CODES:
        rel = Path(code[-2:].lower()) / "lday" / f"{tdx_name(code)}.day"
        (root / "tdx" / "vipdoc" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / "vipdoc" / rel, root / "tdx" / "vipdoc" / rel)
    ingest_tdx(MarketStore(root / "home" / "market"), root / "tdx")
    return root / "home"


@pytest.mark.data
def test_list_show_and_unknown_name(home: Path) -> None:
    r = _run(home, "universe", "list", "--json")
    assert r.exit_code == 0, r.output
    assert [u["name"] for u in json.loads(r.stdout)] == ["ALL_EQ_CLEAN", "CORE_UNIVERSE", "CSI_300"]
    r = _run(home, "universe", "show", "CORE_UNIVERSE", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["config"]["ts_codes"][0] == "600519.SH"
    p = _tzero(home, "universe", "members", "CSI_500", "--as-of", "2023-02-24")
    assert p.returncode == 2
    err = " ".join(p.stderr.split())
    assert "unknown universe 'CSI_500'" in err and "ALL_EQ_CLEAN, CORE_UNIVERSE, CSI_300" in err
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.data
def test_members_carried_forward_and_clean(home: Path) -> None:
    r = _run(home, "universe", "members", "CSI_300", "--as-of", "2023-03-01")
    assert r.exit_code == 0, r.output
    assert "membership file ends 2023-02-24; carried forward" in r.stdout
    assert "CSI_300 on 2023-03-01:" in r.stdout and "600519.SH" in r.stdout
    r = _run(home, "universe", "members", "ALL_EQ_CLEAN", "--json")   # last stored session
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["as_of"] == "2023-02-24" and got["carried_from"] is None
    assert got["ts_codes"] == ["000001.SZ", "600519.SH"] and got["count"] == 2


@pytest.mark.data
def test_static_features_build_writes_and_reports_empty(home: Path) -> None:
    r = _run(home, "static-features", "build", "--start", "2022-11-01", "--end", "2022-12-31",
             "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["rows_written"] == 6 and got["dates"] == ["2022-11-30", "2022-12-30"]
    r = _run(home, "static-features", "build", "--start", "2023-02-01")
    assert r.exit_code == 0, r.output
    assert "nothing written" in r.stdout
