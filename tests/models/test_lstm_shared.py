"""The universe-level shared LSTM and its per-stock refinement (spec 000 §6.3-6.4) on real bars."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecaster_contract import check_forecaster
from test_arima_hmm import _read_day

from tzero.errors import ModelError
from tzero.models.base import panel_until
from tzero.models.lstm_refinement import LstmRefinement
from tzero.models.lstm_shared import LstmShared, LstmSharedConfig, daily_ic
from tzero.settings import get_settings
from tzero.training.trainer import TrainConfig

pytestmark = pytest.mark.data

CODES = ("sh600519", "sh601318", "sh600000", "sh600036", "sz000001", "sz000002", "sz000333",
         "sz000858", "sh600276", "sh600900", "sh601012", "sh600030")
T = pd.Timestamp("2021-12-31")


def tiny(seed: int = 42) -> LstmSharedConfig:
    """Two epochs of a 16-unit network on 300 sessions (seconds on a CPU)."""
    return LstmSharedConfig(hidden_size=16, seq_len=30, history=300, holdout_sessions=40,
                            embed_dim=4, train=TrainConfig(lr=2e-3, epochs=2, patience=1,
                                                           augment=False, seed=seed))


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    data_dir = get_settings().data_dir
    if data_dir is None:
        pytest.skip("no shared data dir (set TZERO_DATA_DIR to ../shared/data)")
    paths = [Path(data_dir) / "tdx" / "vipdoc" / s[:2] / "lday" / f"{s}.day" for s in CODES]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"TDX day files missing under {data_dir}")
    df = pd.concat([_read_day(p) for p in paths], ignore_index=True)
    df = df.loc[(df["trade_time"] >= "2020-06-01") & (df["trade_time"] <= "2022-06-30")]
    return df.sort_values(["ts_code", "trade_time"], ignore_index=True)


@pytest.fixture(scope="module")
def members(panel: pd.DataFrame) -> pd.DataFrame:
    """All twelve stocks are members, except 600030.SH before 2021-03 (tests the as-of mask)."""
    days = pd.DatetimeIndex(sorted(panel["trade_time"].unique()))
    m = pd.DataFrame(True, index=days, columns=sorted(panel["ts_code"].unique()))
    m.loc[m.index < "2021-03-01", "600030.SH"] = False
    return m


@pytest.fixture(scope="module")
def shared(panel: pd.DataFrame, members: pd.DataFrame) -> LstmShared:
    return LstmShared(tiny()).fit(panel_until(panel, T), universe=members)


def test_shared_contract_and_metrics(panel: pd.DataFrame, members: pd.DataFrame) -> None:
    out = check_forecaster(lambda: LstmShared(tiny()), panel_until(panel, T), T,
                           fit_kwargs={"universe": members})
    assert out["score"].notna().all()
    assert (out.groupby("ts_code")["score"].nunique() == 1).all()   # one score per stock and date


def test_shared_holdout_and_gate_keys(shared: LstmShared) -> None:
    m = shared.holdout_metrics("CSI_300")
    for k in ("accuracy", "f1", "mse", "naive_zero_mse", "naive_momentum_accuracy", "rank_ic", "ic"):
        assert k in m
    assert m["n_holdout"] > 0 and m["fit_end"] < m["holdout_start"] <= "2021-12-31"
    assert shared.trained_until("600519.SH") < pd.Timestamp(m["holdout_start"])


def test_shared_samples_follow_membership(shared: LstmShared, panel: pd.DataFrame,
                                          members: pd.DataFrame) -> None:
    none = members.copy()
    none.loc[:, "600030.SH"] = False
    b = LstmShared(tiny()).fit(panel_until(panel, T), universe=none)
    assert shared.metrics_["n_train"] > b.metrics_["n_train"]


def test_shared_no_look_ahead(shared: LstmShared, panel: pd.DataFrame) -> None:
    """Changing every bar after t leaves the as-of forecasts at <= t unchanged."""
    t = pd.Timestamp("2021-11-30")
    hist = shared.predict_history(panel, "2021-11-01", t)
    moved = panel.copy()
    after = moved["trade_time"] > t
    moved.loc[after, ["open", "high", "low", "close"]] *= 1.5
    moved.loc[after, "volume"] *= 3
    again = shared.predict_history(moved, "2021-11-01", t)
    pd.testing.assert_frame_equal(hist, again)
    one = shared.predict(panel, t)
    one = one.loc[one["as_of"] == t]          # a stock suspended on t forecasts from its last bar
    pd.testing.assert_frame_equal(one.reset_index(drop=True),
                                  hist.loc[hist["as_of"] == t].reset_index(drop=True),
                                  check_exact=False, rtol=1e-6)


def test_shared_unknown_stock_scores_with_unknown_embedding(shared: LstmShared,
                                                            panel: pd.DataFrame) -> None:
    other = panel.loc[panel["ts_code"] == "600519.SH"].assign(ts_code="600009.SH")
    out = shared.predict(other, T)
    assert set(out["ts_code"]) == {"600009.SH"} and np.isfinite(out["score"]).all()


def test_shared_too_short_raises(panel: pd.DataFrame) -> None:
    short = panel.loc[panel["trade_time"] <= "2020-12-31"]
    with pytest.raises(ModelError, match="sessions of samples"):
        LstmShared(replace(tiny(), holdout_sessions=120, history=None)).fit(short)


def test_daily_ic_hand_computed() -> None:
    s = np.array([1.0, 2, 3, 4, 1, 2, 3, 4])
    y = np.array([1.0, 2, 3, 4, 4, 3, 2, 1])
    d = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    r = daily_ic(s, y, d, min_n=4)
    assert r["ic"] == pytest.approx(0.0) and r["rank_ic"] == pytest.approx(0.0)
    assert r["ic_dates"] == 2


def test_refinement_fits_on_out_of_sample_rows(shared: LstmShared, panel: pd.DataFrame) -> None:
    two = panel.loc[panel["ts_code"].isin(["600519.SH", "000001.SZ"])]
    ref = LstmRefinement().fit(panel_until(two, "2022-06-30"), shared=shared)
    assert set(ref.models_) == {"000001.SZ", "600519.SH"}
    for f in ref.models_.values():
        assert f["shared_until"] == str(shared.trained_until_.date())
        assert f["metrics"]["n"] > 0
    out = ref.predict(two, "2022-06-30")
    assert np.isfinite(out[["mean", "cum_mean", "std", "prob_up", "score"]].to_numpy(float)).all()
    restored = LstmRefinement.from_state(copy.deepcopy(ref.state_dict())).bind(
        {LstmShared.name: shared})
    pd.testing.assert_frame_equal(restored.predict(two, "2022-06-30"), out)


def test_refinement_needs_a_shared_model(panel: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="bind"):
        LstmRefinement().fit(panel.loc[panel["ts_code"] == "600519.SH"])


def test_refinement_explains_with_exact_linear_shap(shared: LstmShared, panel: pd.DataFrame) -> None:
    """The refinement's SHAP contributions are coef × z and sum to its score minus the intercept."""
    two = panel.loc[panel["ts_code"].isin(["600519.SH", "000001.SZ"])]
    ref = LstmRefinement().fit(panel_until(two, "2022-06-30"), shared=shared)
    e = ref.explain(two, "2022-06-30", ["600519.SH"], top=99)["600519.SH"]
    f = ref.models_["600519.SH"]
    total = sum(d["contribution"] for d in e["drivers"])
    assert total == pytest.approx(e["score"] - f["intercept"], abs=1e-5)
    assert e["method"] == "shap.LinearExplainer"
