"""The one check every forecaster passes (STYLE.md "Tests"; DESIGN.md "Models").

Import from a test module in this folder::

    from forecaster_contract import check_forecaster

It fits, predicts, checks the forecast frame of :mod:`tzero.models.base`,
checks the forecast does not move when every bar after ``as_of`` changes,
saves with ``state_dict``, restores with ``from_state`` and checks the restored
model predicts exactly the same frame.

Daily and intraday models alike: ``as_of`` of each row is the series' last bar
``<= as_of`` (a session, or a bar-close stamp), ``step`` counts sessions or
bars (``frequency``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tzero.models.base import FORECAST_COLUMNS, QUANTILE_COLUMNS, Forecaster, panel_until

#: Regime labels of the daily models (intraday state models pass their own).
REGIMES = {None, "bull", "bear", "sideways"}
CAPABILITIES = {"scope": {"local", "global"}, "frequency": {"daily", "intraday"}}
_PLAIN = (str, bytes, int, float, bool, type(None), np.ndarray, np.generic)


def assert_plain(obj: Any, path: str = "state") -> None:
    """Assert ``obj`` is plain data: dict/list/tuple of numbers, str, bytes, arrays."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str | int), f"{path}: key {k!r} is not str/int"
            assert_plain(v, f"{path}[{k!r}]")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            assert_plain(v, f"{path}[{i}]")
    else:
        assert isinstance(obj, _PLAIN), f"{path} is {type(obj).__name__}, not plain data"


def check_forecast_frame(out: pd.DataFrame, panel: pd.DataFrame, as_of: Any, horizon: int,
                         regimes: set | None = None) -> None:
    """Assert ``out`` follows the forecast frame contract for ``panel`` cut at ``as_of``.

    ``regimes``: the allowed ``regime`` labels (default :data:`REGIMES`).
    """
    regimes = REGIMES if regimes is None else regimes
    missing = set(FORECAST_COLUMNS) - set(out.columns)
    assert not missing, f"forecast lacks columns {sorted(missing)}"
    seen = panel_until(panel, as_of)
    codes = sorted(seen["ts_code"].unique())
    assert sorted(out["ts_code"].unique()) == codes
    assert len(out) == len(codes) * horizon, "expected one row per (ts_code, step)"
    last = seen.groupby("ts_code")["trade_time"].max()
    for code, g in out.groupby("ts_code"):
        assert g["step"].tolist() == list(range(1, horizon + 1)), f"{code}: steps not 1..h"
        assert (g["as_of"] == last[code]).all(), f"{code}: as_of is not its last bar <= as_of"
    num = out[["mean", "cum_mean", "std", "prob_up", "prob_down"]].to_numpy(float)
    assert np.isfinite(num).all(), "non-finite forecast values"
    assert (out["std"] >= 0).all()
    assert (out["cum_mean"] > -1).all() and (out["mean"] > -1).all(), "simple returns > -100 %"
    for col in ("prob_up", "prob_down"):
        assert out[col].between(0, 1).all(), f"{col} outside [0, 1]"
    assert (out["prob_up"] + out["prob_down"] <= 1 + 1e-12).all()
    assert set(out["regime"]) <= regimes, f"unknown regimes {set(out['regime']) - regimes}"
    rp = out["regime_prob"].to_numpy(float)
    has_regime = out["regime"].notna().to_numpy()
    assert np.isnan(rp[~has_regime]).all(), "regime_prob must be NaN when regime is None"
    assert ((rp[has_regime] >= 0) & (rp[has_regime] <= 1)).all()


def _perturb_after(panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """``panel`` with every bar after ``as_of`` changed (prices × 1.3, volume × 3)."""
    p = panel.copy()
    late = p["trade_time"] > pd.Timestamp(as_of)
    p.loc[late, ["open", "high", "low", "close"]] *= 1.3
    p.loc[late, [c for c in ("volume", "amount") if c in p.columns]] *= 3
    return p


def check_forecaster(model_factory: Callable[[], Forecaster], panel: pd.DataFrame,
                     as_of: Any, *, regimes: set | None = None,
                     fit_kwargs: dict | None = None) -> pd.DataFrame:
    """Fit, predict, save, load, predict again; assert the contract and equal output.

    Args:
        model_factory: Builds an unfitted forecaster (config only).
        panel: Bars frame (daily, or intraday for ``frequency == "intraday"``
            models) to fit and predict on.
        as_of: Forecast date or bar-close stamp (need not be a bar's stamp).
        regimes: Allowed ``regime`` labels (default :data:`REGIMES`).
        fit_kwargs: Extra arguments of ``fit`` (e.g. ``universe`` for global models).

    Returns:
        The forecast frame of the fitted model, for further checks.
    """
    model = model_factory()
    cls = type(model)
    assert isinstance(model, Forecaster), "does not derive from tzero.models.base.Forecaster"
    assert isinstance(cls.name, str) and model.name
    for cap, allowed in CAPABILITIES.items():
        assert getattr(cls, cap) in allowed, f"{cap}={getattr(cls, cap)!r}: expected {allowed}"
    assert isinstance(cls.min_history, int) and cls.min_history >= 1
    assert isinstance(cls.probabilistic, bool) and isinstance(cls.ranking, bool)
    assert type(cls.default_config(fast=True, seed=1)) is type(model.config)
    assert model.fit(panel, **(fit_kwargs or {})) is model, "fit must return self"
    out = model.predict(panel, as_of)
    check_forecast_frame(out, panel, as_of, model.horizon, regimes)
    # no look-ahead: bars after as_of do not move the forecast
    pd.testing.assert_frame_equal(model.predict(_perturb_after(panel, as_of), as_of), out,
                                  check_exact=True)

    state = model.state_dict()
    assert_plain(state)
    restored = type(model).from_state(copy.deepcopy(state))
    assert restored.horizon == model.horizon
    again = restored.predict(panel, as_of)
    pd.testing.assert_frame_equal(again, out, check_exact=True)
    pd.testing.assert_frame_equal(model.predict(panel, as_of), out, check_exact=True)
    if cls.ranking:
        assert "score" in out.columns and np.isfinite(out["score"].to_numpy(float)).all()
    if cls.probabilistic:
        assert set(QUANTILE_COLUMNS) <= set(out.columns), "probabilistic models emit q10..q90"
    return out
