"""Fail = block (spec 003 §3): a model the research gates blocked never reaches a served signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tzero.backtest.gates import Verdict, save_verdicts
from tzero.registry import flow
from tzero.signals.engine import blocked_by_research
from tzero.signals.signal import build_signal

CODE = "600519.SH"


def _fc(code: str, step_mean: float, std: float, p_up: float) -> pd.DataFrame:
    """Five-step forecast rows of one model (FORECAST_COLUMNS)."""
    return pd.DataFrame([{"ts_code": code, "as_of": pd.Timestamp("2023-02-24"), "step": k,
                          "mean": step_mean, "cum_mean": (1 + step_mean) ** k - 1, "std": std,
                          "prob_up": p_up, "prob_down": 1 - p_up, "regime": None,
                          "regime_prob": np.nan} for k in range(1, 6)])


def _verdicts(model_status: dict[str, list[str]]) -> list[dict]:
    rows = []
    for model, statuses in model_status.items():
        for i, st in enumerate(statuses):
            reasons = ["OOS return -2.0%/yr after costs <= 0.0%"] if st == "blocked" else ["ok"]
            rows.append({"strategy": "t0", "variant": f"{model}-{i}", "model": model,
                         "params": {}, "verdict": Verdict(st, reasons),
                         "oos_metrics": {"sharpe": -0.5 + i, "n_trades": 40}, "n_trials": 4})
    return rows


def test_blocked_model_does_not_vote_and_is_listed() -> None:
    fcs = {"lstm": _fc(CODE, 0.004, 0.01, 0.7), "arima": _fc(CODE, -0.001, 0.01, 0.4)}
    s = build_signal(CODE, pd.Timestamp("2023-02-24"), fcs, {"lstm": "v1", "arima": "v2"},
                     blocked={"lstm": "all 2 t0 variants blocked"})
    assert set(s.model_votes) == {"arima"}
    assert s.blocked_models == {"lstm": "all 2 t0 variants blocked"}
    assert s.prob_up == 0.4 and s.expected_return < 0        # arima's numbers alone
    assert "Blocked" in s.explanation and "lstm" in s.explanation
    assert s.to_dict()["blocked_models"] == {"lstm": "all 2 t0 variants blocked"}


def test_every_model_blocked_serves_no_forecast() -> None:
    fcs = {"lstm": _fc(CODE, 0.004, 0.01, 0.7)}
    s = build_signal(CODE, pd.Timestamp("2023-02-24"), fcs, {"lstm": "v1"},
                     blocked={"lstm": "why", "hmm": "not forecasting here"})
    assert s.model_votes == {} and np.isnan(s.prob_up)
    assert s.t0_intensity == "pause" and s.t0_plan == "hold" and s.suggested_position_change == 0
    assert s.blocked_models == {"lstm": "why"}                # only models that forecast are listed
    assert s.to_dict()["prob_up"] is None


def test_latest_run_decides_what_is_blocked(app_db) -> None:
    S = app_db.Session
    assert blocked_by_research(S) == {}
    save_verdicts(S, "r1", _verdicts({"lstm": ["blocked", "blocked"], "arima": ["blocked", "kept"]}))
    blocked = blocked_by_research(S)
    assert set(blocked) == {"lstm"} and "2" in blocked["lstm"] and "r1" in blocked["lstm"]
    save_verdicts(S, "r2", _verdicts({"lstm": ["watch", "blocked"], "arima": ["blocked", "blocked"]}))
    assert set(blocked_by_research(S)) == {"arima"}


def test_prediction_flow_skips_blocked_sources(app_db) -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    days = pd.bdate_range("2021-01-04", periods=300)
    panel = pd.DataFrame({"ts_code": CODE, "trade_time": days, "open": close, "high": close,
                          "low": close, "close": close, "volume": 1e6, "amount": close * 1e6})
    with app_db.Session.begin() as s:
        p = flow.predict_with_fallback(s, panel, CODE, days[-1], blocked={"lstm": "r1: blocked"},
                                       log=False)
        assert p.source == "arima"
        assert any("blocked by research" in e for e in p.health["fallback_errors"])
        p = flow.predict_with_fallback(s, panel, CODE, days[-1], log=False,
                                       blocked={"lstm": "r1", "arima": "r1"})
        assert p.source == "technical"


@pytest.mark.data
def test_latest_intraday_signal_fits_before_the_day_and_drops_blocked_models(tdx_dir) -> None:
    from tzero.data.tdx import read_lc
    from tzero.signals.intraday import latest_intraday_signal

    bars = read_lc(tdx_dir / "vipdoc" / "sh" / "minline" / "sh688001.lc1")
    last_day = bars["trade_time"].dt.normalize().max()
    as_of = last_day + pd.Timedelta(hours=10, minutes=30)
    s = latest_intraday_signal(bars, freq="5m", train_days=6, as_of=as_of,
                               blocked={"lstm": "r1: all t0 variants blocked"})
    assert s.horizon_unit == "bar:5m" and s.as_of == str(as_of)
    assert "lstm" not in s.model_votes and s.blocked_models == {"lstm": "r1: all t0 variants blocked"}
    assert set(s.model_votes) == {"arima", "hmm"} and 0 <= s.prob_up <= 1
    # the future after as_of cannot move it: drop every later bar and ask again
    cut = latest_intraday_signal(bars.loc[bars["trade_time"] <= as_of], freq="5m", train_days=6,
                                 as_of=as_of, blocked={"lstm": "r1: all t0 variants blocked"})
    assert cut.to_dict() == s.to_dict()
    none = latest_intraday_signal(bars, freq="5m", train_days=6, as_of=as_of,
                                  blocked={"lstm": "x", "arima": "y"})
    assert none.t0_intensity == "pause" and np.isnan(none.prob_up) and set(none.blocked_models) == {"lstm", "arima"}
    plan = latest_intraday_signal(bars, freq="5m", train_days=6, as_of=as_of,
                                  blocked={"lstm": "x", "combined": "t0 rule blocked"})
    assert plan.t0_intensity == "pause" and plan.t0_plan == "hold" and "arima" in plan.model_votes
    assert plan.blocked_models == {"lstm": "x", "combined": "t0 rule blocked"}
    assert "t0_plan_blocked" in plan.risk_labels and "no T+0 advice" in plan.explanation
    with pytest.raises(ValueError, match="need 40"):
        latest_intraday_signal(bars, freq="5m", train_days=40)
