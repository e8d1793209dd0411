"""LSTM: networks, the forecaster contract, and no look-ahead (real 600519.SH bars)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from forecaster_contract import check_forecaster

from tzero.errors import ModelError
from tzero.models.lstm import LstmConfig, LstmForecaster
from tzero.models.lstm_nets import LSTMDualHead, LSTMDualHeadEnhanced, build_net
from tzero.settings import get_settings
from tzero.training.loop import TrainConfig

pytestmark = pytest.mark.data

TINY = LstmConfig(model_type="enhanced", cv=False, history=420, holdout_sessions=20,
                  params={"lr": 1e-3, "hidden_size": 8, "epochs": 2, "batch_size": 64},
                  train=TrainConfig(seed=7))


def _panel() -> pd.DataFrame:
    tdx = get_settings().tdx_dir
    if tdx is None:
        pytest.skip("shared data absent: set TZERO_DATA_DIR or place ../shared/data beside the checkout")
    from tzero.data.tdx import read_day
    return read_day(Path(tdx) / "vipdoc" / "sh" / "lday" / "sh600519.day")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


def test_nets_shapes() -> None:
    x = torch.randn(4, 60, 21)
    for net in (LSTMDualHead(21, 16), LSTMDualHeadEnhanced(21, 16)):
        logits, mag = net(x)
        assert logits.shape == (4, 2) and mag.shape == (4, 5)
    assert build_net("basic", 21, 16, 5).lstm.num_layers == 1
    enh = build_net("enhanced", 21, 16, 5)
    assert enh.lstm.num_layers == 3 and enh.lstm.bidirectional
    with pytest.raises(ValueError):
        build_net("gru", 21, 16, 5)


def test_contract(panel: pd.DataFrame) -> None:
    as_of = panel["trade_time"].iloc[-1]
    out = check_forecaster(lambda: LstmForecaster(TINY), panel, as_of)
    assert out["as_of"].iloc[0] == as_of


def test_no_look_ahead(panel: pd.DataFrame) -> None:
    cut = pd.Timestamp("2021-06-30")
    train = panel.loc[panel["trade_time"] <= cut]
    model = LstmForecaster(TINY).fit(train)
    before = model.predict(panel, cut)
    future = panel.copy()
    later = future["trade_time"] > cut
    future.loc[later, ["open", "high", "low", "close"]] *= 2.0
    future.loc[later, "volume"] *= 3.0
    pd.testing.assert_frame_equal(model.predict(future, cut), before, check_exact=True)
    # the corruption does reach a later forecast, so the test can fail
    d = future.loc[later, "trade_time"].iloc[30]
    assert not np.allclose(model.predict(future, d)["mean"], model.predict(panel, d)["mean"])


def test_fit_is_reproducible(panel: pd.DataFrame) -> None:
    small = panel.iloc[-420:]
    a = LstmForecaster(TINY).fit(small).predict(small, small["trade_time"].iloc[-1])
    b = LstmForecaster(TINY).fit(small).predict(small, small["trade_time"].iloc[-1])
    pd.testing.assert_frame_equal(a, b)


def test_holdout_metrics_and_baselines(panel: pd.DataFrame) -> None:
    m = LstmForecaster(TINY).fit(panel.iloc[-420:]).models_["600519.SH"]
    for k in ("accuracy", "f1", "mse", "mae", "rmse", "direction_accuracy",
              "naive_zero_mse", "naive_momentum_accuracy"):
        assert np.isfinite(m.metrics[k]), k
    assert m.metrics["n"] == 20 == len(m.holdout)
    # the holdout is after every training window (gap = horizon)
    assert m.holdout["trade_time"].min() > pd.Timestamp(panel["trade_time"].iloc[-420 + 150])


def test_cv_fast_grid_runs(panel: pd.DataFrame) -> None:
    cfg = replace(TINY, cv=True, mode="fast")
    import tzero.training.cv as cvmod
    old = dict(cvmod.FAST_PARAM_GRID)
    cvmod.FAST_PARAM_GRID.update({"epochs": [1], "hidden_size": [8]})
    try:
        m = LstmForecaster(cfg).fit(panel.iloc[-420:]).models_["600519.SH"]
    finally:
        cvmod.FAST_PARAM_GRID.clear()
        cvmod.FAST_PARAM_GRID.update(old)
    assert len(m.stats["cv"]) == 1 and "score" in m.stats["cv"][0]
    assert m.params["hidden_size"] == 8


def test_too_short_raises(panel: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="600519.SH"):
        LstmForecaster(TINY).fit(panel.iloc[:60])


def test_parallel_fit_matches_serial(panel: pd.DataFrame) -> None:
    """n_jobs=2 trains each symbol in its own process; the numbers match the serial fit."""
    two = pd.concat([panel.iloc[-420:], panel.iloc[-420:].assign(ts_code="600520.SH")])
    as_of = two["trade_time"].max()
    serial = LstmForecaster(TINY).fit(two).predict(two, as_of)
    parallel = LstmForecaster(TINY).fit(two, n_jobs=2).predict(two, as_of)
    assert set(parallel["ts_code"]) == {"600519.SH", "600520.SH"}
    pd.testing.assert_frame_equal(parallel, serial, check_exact=False, atol=1e-4, rtol=1e-3)


def test_explain_shap_drivers(panel: pd.DataFrame) -> None:
    """SHAP drivers name spec-002 features; the days are the window's last sessions ≤ as_of."""
    from tzero.features.lstm_features import FEATURE_NAMES

    cut = pd.Timestamp("2021-06-30")
    model = LstmForecaster(TINY).fit(panel.loc[panel["trade_time"] <= cut])
    code = str(panel["ts_code"].iloc[0])
    e = model.explain(panel, cut, [code])[code]
    assert e["method"] == "shap.GradientExplainer" and e["drivers"]
    assert {d["feature"] for d in e["drivers"]} <= set(FEATURE_NAMES)
    assert all(d["date"] <= "2021-06-30" for d in e["days"])
    assert model.explain(panel, cut, [code]) == {code: e}       # seeded
