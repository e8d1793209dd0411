"""Every universe-level deep model of the table passes the same checks on real bars.

One parametrised test per model (the table's ``scope == "global"`` rows): the
shared forecaster check (fit, predict, no look-ahead, save, load, same
output), the gate's holdout keys, ``predict_history`` equal to ``predict`` at
each session, and a fresh model with the same seed giving the same numbers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from forecaster_contract import check_forecaster
from test_lstm_shared import T, members, panel  # noqa: F401  (fixtures)

from tzero.models import table
from tzero.models.base import QUANTILE_COLUMNS, panel_until
from tzero.models.global_net import GlobalNetForecaster

pytestmark = pytest.mark.data

#: models fitted by the contract test, reused by the explanation test (same config)
_FITTED: dict = {}
GLOBAL = [s.name for s in table.specs(scope="global", frequency="daily")
          if issubclass(s.cls, GlobalNetForecaster)]


@pytest.fixture(autouse=True)
def one_thread():
    """Small nets run faster on one thread (and do not fight other jobs for the cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(name: str, seed: int = 42):
    """The fast config cut to seconds: 300 sessions, 30-session windows, one epoch."""
    c = table.get_spec(name).config(fast=True, seed=seed)
    extra = {f.name: 1 for f in dataclasses.fields(c) if f.name in ("stage1_epochs",)}
    return dataclasses.replace(c, history=300, seq_len=30, holdout_sessions=40, embed_dim=4,
                               train=dataclasses.replace(c.train, epochs=1, patience=1), **extra)


def test_every_family_is_in_the_table() -> None:
    assert {"lstm_shared", "transformer", "tcn", "tft", "deepar", "finmamba",
            "hybrid"} <= set(GLOBAL)


@pytest.mark.parametrize("name", GLOBAL)
def test_global_model_contract(name: str, panel: pd.DataFrame,  # noqa: F811
                               members: pd.DataFrame) -> None:  # noqa: F811
    cls = table.model_class(name)
    seen = panel_until(panel, T)
    made = []

    def make():
        made.append(cls(tiny(name)))
        return made[-1]

    out = check_forecaster(make, seen, T, fit_kwargs={"universe": members})
    assert out["score"].notna().all()
    if cls.probabilistic:
        q = out[QUANTILE_COLUMNS].to_numpy(float)
        assert np.isfinite(q).all() and (np.diff(q, axis=1) >= -1e-9).all()
    model = _FITTED[name] = made[0]
    m = model.holdout_metrics("CSI_300")
    for k in ("accuracy", "f1", "mse", "naive_zero_mse", "rank_ic", "n_holdout", "n_params"):
        assert k in m, k
    if cls.probabilistic:
        assert m["crps"] is not None and m["crps"] > 0
    assert model.trained_until("600519.SH") < pd.Timestamp(m["holdout_start"])
    # the batched history path gives predict's numbers at each session
    hist = model.predict_history(panel, "2022-03-01", "2022-03-03")
    one = model.predict(panel, "2022-03-02")
    got = hist.loc[hist["as_of"] == one["as_of"].iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[one.columns], one.reset_index(drop=True), rtol=1e-5)
    # seeded: a second fit gives the same forecast
    again = cls(tiny(name)).fit(seen, universe=members).predict(seen, T)
    pd.testing.assert_frame_equal(again, model.predict(seen, T))


@pytest.mark.parametrize("stage3,stage2", [("tcn", True), ("tft", False)])
def test_hybrid_stages(stage3: str, stage2: bool, panel: pd.DataFrame,  # noqa: F811
                       members: pd.DataFrame) -> None:  # noqa: F811
    """Stage 3 variants and the residual boost fit, save and load; a daily update reuses
    Stage 1 (its weights do not move) and the cached relationships of earlier sessions."""
    cls = table.model_class("hybrid")
    cfg = dataclasses.replace(tiny("hybrid"), stage3=stage3, stage2=stage2,
                              extractors=("v1", "v2", "v3"))
    seen = panel_until(panel, T)
    model = cls(cfg).fit(seen, universe=members)
    assert (model.boost_ is not None) == stage2
    w = {k: v.clone() for k, v in model.stage1_.state_dict().items()}
    first = model.predict(seen, T)
    n_cached = len(model.rel_cache_)
    nxt = panel_until(panel, "2022-01-05")
    model.predict(nxt, "2022-01-05")
    assert len(model.rel_cache_) == n_cached + 2       # two new sessions scored, none again
    assert all(torch.equal(w[k], v) for k, v in model.stage1_.state_dict().items())
    restored = cls.from_state(model.state_dict())
    pd.testing.assert_frame_equal(restored.predict(seen, T), first)


@pytest.mark.parametrize("name", GLOBAL)
def test_global_model_explains(name: str, panel: pd.DataFrame,  # noqa: F811
                               members: pd.DataFrame) -> None:  # noqa: F811
    """Every global model names the drivers of a served forecast: SHAP per channel and
    session (additive: they sum to the score minus the background's), or attention."""
    cls = table.model_class(name)
    model = _FITTED.get(name) or cls(tiny(name)).fit(panel_until(panel, T), universe=members)
    got = model.explain(panel, "2022-03-02", ["600519.SH"])
    e = got["600519.SH"]
    assert e["model"] == name and np.isfinite(e["score"])
    if e["method"].startswith("shap"):
        assert e["drivers"] and all(np.isfinite(d["contribution"]) for d in e["drivers"])
        assert {d["feature"] for d in e["drivers"]} <= set(model._channel_names(99))
        assert len(e["days"]) == 5 and all(d["date"] <= "2022-03-02" for d in e["days"])
    if cls.cross_sectional:
        assert e["stocks"] and "600519.SH" not in {s["ts_code"] for s in e["stocks"]}
    again = model.explain(panel, "2022-03-02", ["600519.SH"])
    assert again == got                                    # seeded: the same explanation


def test_cross_sectional_model_is_served_on_the_cross_section(panel: pd.DataFrame,  # noqa: F811
                                                              members: pd.DataFrame) -> None:  # noqa: F811
    """A cross-sectional model votes with the forecast it makes on the whole session (the one
    the gate judged), not on one stock alone; a per-stock call would differ."""
    from tzero.signals.engine import ServedSet, predict_signals

    name = "transformer"
    model = _FITTED.get(name) or table.model_class(name)(tiny(name)).fit(
        panel_until(panel, T), universe=members)
    served = ServedSet({name: {"CSI_300": model}}, {name: {"CSI_300": "v-xs"}}, "CSI_300")
    day = pd.Timestamp("2022-03-02")
    holding = panel.loc[panel["ts_code"] == "600519.SH"]
    sig = predict_signals(holding, served, day, cross_section=panel)[0]
    whole = model.predict(panel, day)
    want = whole.loc[(whole["ts_code"] == "600519.SH") & (whole["step"] == 5), "cum_mean"].iloc[0]
    alone = model.predict(holding, day)
    assert sig.model_versions == {name: "v-xs"}
    assert sig.model_votes[name]["expected_return"] == pytest.approx(want, abs=1e-6)
    assert alone["cum_mean"].iloc[-1] != pytest.approx(want, abs=1e-9)


def test_ranking_model_ranks_the_universe_in_the_signal(panel: pd.DataFrame,  # noqa: F811
                                                        members: pd.DataFrame) -> None:  # noqa: F811
    """The table's ranking model (DeepAR) gives each signal its rank and weight in the
    universe, and scales the T+0 share by the stock's forecast-risk percentile."""
    from tzero.signals import policy
    from tzero.signals.engine import ServedSet, predict_signals

    name = next(s.name for s in table.specs() if s.ranks)
    model = _FITTED.get(name) or table.model_class(name)(tiny(name)).fit(
        panel_until(panel, T), universe=members)
    served = ServedSet({name: {"CSI_300": model}}, {name: {"CSI_300": "v-rank"}}, "CSI_300")
    day = pd.Timestamp("2022-03-02")
    holding = panel.loc[panel["ts_code"] == "600519.SH"]
    sig = predict_signals(holding, served, day, cross_section=panel)[0]
    r = sig.ranking
    assert r["model"] == name and r["version_id"] == "v-rank" and r["of"] == 12
    assert 1 <= r["rank"] <= 12 and 0 < r["risk_percentile"] <= 1 and r["weight"] >= 0
    base = policy.position_change(sig.t0_intensity, sig.t0_plan)
    assert sig.suggested_position_change == pytest.approx(
        policy.ranked_position_change(base, r["risk_percentile"]))
    plain = predict_signals(holding, served, day)[0]           # no cross-section: no ranking
    assert plain.ranking == {}
    blocked = predict_signals(holding, served, day, cross_section=panel,
                              blocked={name: "test"})[0]
    assert blocked.ranking == {}
