"""Intraday walk-forward forecasts (no test data in any fit) and intraday signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data.tdx import read_lc
from tzero.models.intraday_lstm import IntradayLstmConfig
from tzero.signals.intraday import (
    FORECAST_COLUMNS,
    build_intraday_signal,
    intraday_plan,
    walk_forward_forecasts,
)
from tzero.signals.signal import Signal

FAST = {"lstm": IntradayLstmConfig.fast(seq_len=24, epochs=2, val_days=2)}


@pytest.fixture(scope="module")
def lc1(data_dir: Path) -> pd.DataFrame:
    """12 days of real 1-minute bars of 688001.SH."""
    return read_lc(data_dir / "tdx/vipdoc/sh/minline/sh688001.lc1")


@pytest.fixture(scope="module")
def forecasts(lc1: pd.DataFrame) -> pd.DataFrame:
    return walk_forward_forecasts(lc1, freq="5m", train_days=8, test_days=2, configs=FAST)


@pytest.mark.data
def test_walk_forward_shape(lc1: pd.DataFrame, forecasts: pd.DataFrame) -> None:
    f = forecasts
    assert list(f.columns) == FORECAST_COLUMNS
    assert f.attrs["errors"] == []
    wins = f.attrs["windows"]
    assert [w["index"] for w in wins] == [0, 1]
    days = lc1["trade_time"].dt.normalize().unique()
    assert len(f) == 48 * (len(days) - 8)                   # every OOS bar exactly once
    assert not f[["ts_code", "trade_time"]].duplicated().any()
    for w in wins:                                          # test days after the train days
        part = f[f["window"] == w["index"]]
        first = part["trade_time"].min()
        assert first >= pd.Timestamp(w["test_start"]) > pd.Timestamp(w["train_end"])
    num = f[["arima_mean", "arima_std", "arima_prob_up", "hmm_prob", "lstm_prob_up", "lstm_mean"]]
    assert np.isfinite(num.to_numpy(float)).all()


@pytest.mark.data
def test_walk_forward_never_sees_the_future(lc1: pd.DataFrame, forecasts: pd.DataFrame) -> None:
    """Change every bar after a time t inside the first test part: no forecast at <= t moves
    (neither through a fit nor through a path)."""
    cut = forecasts["trade_time"].iloc[60]
    changed = lc1.copy()
    late = changed["trade_time"] > cut
    changed.loc[late, ["open", "high", "low", "close"]] *= 0.8
    changed.loc[late, ["volume", "amount"]] *= 3
    again = walk_forward_forecasts(changed, freq="5m", train_days=8, test_days=2, configs=FAST)
    a = forecasts[forecasts["trade_time"] <= cut]
    b = again[again["trade_time"] <= cut]
    pd.testing.assert_frame_equal(a, b)
    assert not forecasts[forecasts["trade_time"] > cut]["close"].equals(
        again[again["trade_time"] > cut]["close"])


@pytest.mark.data
def test_walk_forward_windows_on_a_process_pool_give_the_same_frame(
        lc1: pd.DataFrame, forecasts: pd.DataFrame) -> None:
    """One executor task per window (issue 14): a 2-process pool gives the serial frame,
    windows in order; ARIMA and HMM bit for bit, the LSTM (one torch thread in a worker)
    to float rounding."""
    from tzero.training.executor import LocalExecutor

    with LocalExecutor(2) as ex:
        pooled = walk_forward_forecasts(lc1, freq="5m", train_days=8, test_days=2, configs=FAST,
                                        executor=ex)
    assert pooled.attrs["windows"] == forecasts.attrs["windows"]
    assert pooled.attrs["errors"] == forecasts.attrs["errors"]
    assert list(pooled.columns) == list(forecasts.columns)
    lstm = [c for c in forecasts.columns if c.startswith("lstm_")]
    pd.testing.assert_frame_equal(pooled.drop(columns=lstm), forecasts.drop(columns=lstm),
                                  check_exact=True)
    pd.testing.assert_frame_equal(pooled[lstm], forecasts[lstm], rtol=1e-5, atol=1e-6)


@pytest.mark.data
def test_walk_forward_subset_and_errors(lc1: pd.DataFrame) -> None:
    f = walk_forward_forecasts(lc1, freq="15m", train_days=8, test_days=4, models=("arima",))
    assert list(f.columns) == ["ts_code", "trade_time", "window", "close", "arima_mean",
                               "arima_std", "arima_prob_up", "arima_dev"]
    with pytest.raises(ValueError, match="unknown intraday model"):
        walk_forward_forecasts(lc1, models=("garch",))
    with pytest.raises(ValueError, match="too few"):
        walk_forward_forecasts(lc1, train_days=20, test_days=5)


@pytest.mark.data
def test_build_intraday_signal_from_row(forecasts: pd.DataFrame) -> None:
    row = forecasts.iloc[-1]
    s = build_intraday_signal(row, "5m", 6, versions={"lstm": "v1"})
    assert s.horizon_unit == "bar:5m" and s.horizon == 6
    assert s.as_of == str(row["trade_time"])
    assert s.regime == row["hmm_state"] and s.t0_intensity == row["hmm_intensity"]
    assert s.prob_up == pytest.approx((row["arima_prob_up"] + row["lstm_prob_up"]) / 2)
    assert set(s.model_votes) == {"arima", "lstm", "hmm"}
    assert "5m bars" in s.explanation and s.to_dict()["horizon_unit"] == "bar:5m"


def test_build_intraday_signal_hand_row() -> None:
    row = {"ts_code": "600000.SH", "trade_time": pd.Timestamp("2023-02-01 10:00"),
           "arima_mean": 0.001, "arima_std": 0.002, "arima_prob_up": 0.7, "arima_dev": 2.5,
           "hmm_state": "liquid-buy", "hmm_prob": 0.9, "hmm_intensity": "aggressive",
           "lstm_prob_up": 0.6, "lstm_mean": 0.004}
    s = build_intraday_signal(row, "5m", 4)
    assert s.expected_return == pytest.approx(((1.001**4 - 1) + 0.004) / 2)
    assert s.expected_volatility == pytest.approx(0.004)
    assert s.t0_plan == "sell-first"                        # stretched 2.5σ above equilibrium
    assert s.suggested_position_change == pytest.approx(-0.3)
    assert "stretched_above_equilibrium" in s.risk_labels
    with pytest.raises(ValueError, match="no ARIMA or LSTM"):
        build_intraday_signal({"ts_code": "600000.SH", "trade_time": "2023-02-01 10:00"}, "5m", 4)


def test_plan_and_signal_default_unit() -> None:
    assert intraday_plan(0.01, -3.0) == "buy-first"
    assert intraday_plan(-0.01, 0.5) == "sell-first"
    assert Signal.__dataclass_fields__["horizon_unit"].default == "session"
