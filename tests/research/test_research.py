"""The research run: signal → action rules, the T+0 family on real minute bars, storage, report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.research import t0 as research_t0
from tzero.research.t0 import T0Variant, t0_actions

pytestmark = pytest.mark.slow  # long real-data runs: `make test`, not `make test-fast`


def _bars(closes: list[float], day: str = "2023-03-01") -> pd.DataFrame:
    t = pd.date_range(f"{day} 09:35", periods=len(closes), freq="5min")
    c = np.asarray(closes, float)
    return pd.DataFrame({"ts_code": "600000.SH", "trade_time": t, "open": [c[0]] + list(c[:-1]),
                         "high": c, "low": c, "close": c, "volume": 1e5, "amount": c * 1e5})


def test_actions_follow_each_rule() -> None:
    bars = _bars([10.0, 10.06, 10.02, 9.94, 10.0])
    fc = pd.DataFrame({"lstm_prob_up": [0.5, 0.40, 0.62, np.nan, 0.5],
                       "arima_dev": [0.0, 2.5, -2.1, 0.0, 1.0],
                       "hmm_state": ["liquid-sell", "illiquid-buy", "liquid-buy", None, "liquid-sell"],
                       "hmm_intensity": ["normal", "normal", "pause", "normal", "conservative"]})
    # naive: day open is 10.00 (first bar's open); sell above +0.5%, buy below −0.5%
    assert t0_actions(fc, bars, T0Variant("n", "naive", {"x": 0.005})).tolist() == [0, -1, 0, 1, 0]
    assert t0_actions(fc, bars, T0Variant("l", "lstm", {"margin": 0.05})).tolist() == [0, -1, 1, 0, 0]
    assert t0_actions(fc, bars, T0Variant("a", "arima", {"z": 2.0})).tolist() == [0, -1, 1, 0, 0]
    assert t0_actions(fc, bars, T0Variant("h", "hmm", {})).tolist() == [-1, 0, 1, 0, -1]
    # combined: bar 1 agrees (LSTM down, price above equilibrium); bar 2 would buy but the
    # HMM says pause; bar 4 is conservative (margin doubled) and the LSTM is neutral
    assert t0_actions(fc, bars, T0Variant("c", "combined", {"margin": 0.05, "z": 0.5})).tolist() \
        == [0, -1, 0, 0, 0]
    with pytest.raises(ValueError, match="unknown T\\+0 variant rule"):
        t0_actions(fc, bars, T0Variant("x", "nope", {}))
    with pytest.raises(ValueError, match="aligned"):
        t0_actions(fc.iloc[:3], bars, T0Variant("l", "lstm", {"margin": 0.05}))


def test_window_sizes() -> None:
    assert research_t0.window_sizes(1000) == (60, 20)
    assert research_t0.window_sizes(65) == (40, 8)
    assert research_t0.window_sizes(12) == (6, 2)


@pytest.fixture(scope="module")
def star_series(tdx_dir: Path) -> research_t0.IntradaySeries:
    from tzero.data.tdx import read_lc
    path = tdx_dir / "vipdoc" / "sh" / "minline" / "sh688001.lc1"
    return research_t0.IntradaySeries("688001.SH", "688001.SH", read_lc(path), str(path))


@pytest.mark.data
def test_t0_family_is_out_of_sample_judged_stored_and_reported(star_series, tmp_path: Path,
                                                                 monkeypatch) -> None:
    from tzero.data.appdb import open_app_store
    from tzero.research import run as research
    from tzero.research.report import render_html, run_to_dict
    from tzero.settings import get_settings
    from tzero.signals.engine import blocked_by_research

    settings = dataclasses.replace(get_settings(home=tmp_path), db_url=None)
    rows, skipped = research.run_t0_family(settings, series=[star_series])
    assert skipped == [] and len(rows) == len(research_t0.T0_VARIANTS)
    fc = next((tmp_path / "research" / "forecasts").glob("688001.SH-5m-*.parquet"))
    oos = pd.read_parquet(fc).query("sample == 'oos'")
    first_test = pd.Timestamp(oos["trade_time"].min()).normalize()
    for r in rows:
        m = r["oos_metrics"]
        assert m["n_trials"] == len(rows)
        assert r["equity"].empty or r["equity"].index.min() >= first_test   # OOS days only
        assert m["round_trips"] <= 2 * m["n_days"]                           # ≤ round_trips/day
    # 12 days of minute bars cannot carry 30 round trips: every variant is blocked, stored,
    # and then keeps its model out of the served signals
    monkeypatch.setattr(research, "run_t0_family", lambda s, progress=None, executor=None: (rows, []))
    run = research.run_research(settings, strategies=("t0",))
    assert {r["verdict"].status for r in run.rows} == {"blocked"}
    assert all(any("OOS trades" in x for x in r["verdict"].reasons) for r in run.rows)
    engine, Session = open_app_store(settings.app_db_url)
    blocked = blocked_by_research(Session)
    engine.dispose()
    assert {"naive", "intraday_hmm", "intraday_lstm", "intraday_arima", "intraday_combined"} \
        <= set(blocked)
    # intraday verdicts never block the daily forecasters of the same family
    assert not {"lstm", "arima", "hmm"} & set(blocked)
    assert set(research_t0.intraday_blocked(blocked)) == {"hmm", "lstm", "arima", "combined"}
    data = run_to_dict(run)
    json.dumps(data, allow_nan=False)
    page = render_html(data)
    assert page.count("<tr class='blocked'>") == len(rows) and "688001.SH" in page
    out = research.write_outputs(run, tmp_path / "report")
    assert out["html"].read_text(encoding="utf-8") == page


@pytest.mark.data
def test_backtest_cli_t0_on_stored_minute_bars(make_tdx, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TZERO_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"}

    def tzero(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    assert tzero("ingest", "tdx", str(make_tdx(lc1=True))).returncode == 0
    r = tzero("backtest", "--strategy", "t0", "--symbols", "sh688001", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["variant"] for x in rows] == [v.name for v in research_t0.T0_VARIANTS]
    assert all(x["status"] == "blocked" and x["oos_metrics"]["n_trials"] == len(rows) for x in rows)
    r = tzero("backtest", "--strategy", "t0", "--symbols", "600519.SH")
    assert r.returncode == 2 and "no 1-minute bars for 600519.SH" in " ".join(r.stderr.split())
    r = tzero("backtest", "--strategy", "swing")
    assert r.returncode == 2 and "t0 or topk" in r.stderr
