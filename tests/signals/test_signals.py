"""Unified Signal and the T+0 intensity policy, on hand-made forecasts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tzero.signals import policy
from tzero.signals.signal import build_signal


def _fc(code: str, step_mean: float, std: float, p_up: float, regime=None, rprob=np.nan, **extra) -> pd.DataFrame:
    rows = []
    for k in range(1, 6):
        cum = (1 + step_mean) ** k - 1
        rows.append({"ts_code": code, "as_of": pd.Timestamp("2023-02-24"), "step": k, "mean": step_mean,
                     "cum_mean": cum, "std": std, "prob_up": p_up, "prob_down": 1 - p_up,
                     "regime": regime, "regime_prob": rprob, **extra})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("regime", "prob", "vol", "expected"), [
    ("bull", 0.9, 0.02, "aggressive"),
    ("bull", 0.5, 0.02, "normal"),
    ("sideways", 0.9, 0.02, "normal"),
    ("bear", 0.9, 0.02, "conservative"),
    ("bear", 0.9, 0.04, "pause"),
    ("bull", 0.9, 0.005, "conservative"),
    ("bull", 0.9, 0.07, "pause"),
    ("sideways", 0.9, 0.04, "conservative"),
    (None, None, 0.02, "normal"),
])
def test_t0_intensity(regime, prob, vol, expected) -> None:
    assert policy.t0_intensity(regime, prob, vol) == expected


def test_plan_follows_deviation_then_forecast() -> None:
    assert policy.t0_plan(0.01, None) == "buy-first"
    assert policy.t0_plan(-0.01, 0.0) == "sell-first"
    assert policy.t0_plan(0.02, 0.05) == "sell-first"   # stretched above equilibrium wins
    assert policy.position_change("normal", "sell-first") == -0.2


def test_build_signal_combines_votes() -> None:
    code = "600519.SH"
    fcs = {
        "lstm": _fc(code, 0.004, 0.02, 0.7),
        "arima": _fc(code, 0.002, 0.02, 0.6, deviation=0.01),
        "hmm": _fc(code, -0.001, 0.02, 0.45, regime="bull", rprob=0.8),
    }
    s = build_signal(code, pd.Timestamp("2023-02-24"), fcs, {"lstm": "v1", "arima": "v2", "hmm": "v3"})
    cums = [(1.004) ** 5 - 1, (1.002) ** 5 - 1, (0.999) ** 5 - 1]
    assert s.expected_return == pytest.approx(np.mean(cums))
    assert s.prob_up == pytest.approx((0.7 + 0.6 + 0.45) / 3)
    assert s.prob_up + s.prob_flat + s.prob_down == pytest.approx(1.0)
    assert s.expected_volatility == pytest.approx(0.02 * np.sqrt(5))
    assert s.regime == "bull" and s.regime_prob == 0.8
    # daily vol 2% within the band and a confident bull -> aggressive, buy first
    assert s.t0_intensity == "aggressive" and s.t0_plan == "buy-first"
    assert s.model_votes["hmm"]["direction"] == "down"
    assert s.confidence == pytest.approx(abs(s.prob_up - s.prob_down) * 2 / 3)
    assert s.model_versions == {"lstm": "v1", "arima": "v2", "hmm": "v3"}
    assert "bull" in s.explanation and f"{s.expected_return:+.2%}" in s.explanation
    d = json.loads(json.dumps(s.to_dict()))
    for key in ("ts_code", "as_of", "horizon", "prob_up", "prob_down", "expected_return",
                "expected_volatility", "regime", "t0_intensity", "confidence", "model_votes",
                "model_versions", "explanation"):
        assert key in d


def test_missing_models_are_left_out_and_none_raises() -> None:
    code = "000001.SZ"
    s = build_signal(code, pd.Timestamp("2023-02-24"), {"arima": _fc(code, 0.0, 0.01, 0.5)}, {"arima": "a"})
    assert list(s.model_votes) == ["arima"] and s.regime is None
    with pytest.raises(ValueError, match="no model"):
        build_signal(code, pd.Timestamp("2023-02-24"), {}, {})
