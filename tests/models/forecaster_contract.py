"""The one check every forecaster passes (STYLE.md "Tests"; DESIGN.md "Models").

Import from a test module in this folder::

    from forecaster_contract import check_forecaster

It fits, predicts, checks the forecast frame of :mod:`tzero.models.base`,
saves with ``state_dict``, restores with ``from_state`` and checks the restored
model predicts exactly the same frame.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tzero.models.base import FORECAST_COLUMNS, Forecaster, panel_until

REGIMES = {None, "bull", "bear", "sideways"}
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


def check_forecast_frame(out: pd.DataFrame, panel: pd.DataFrame, as_of: Any, horizon: int) -> None:
    """Assert ``out`` follows the forecast frame contract for ``panel`` cut at ``as_of``."""
    missing = set(FORECAST_COLUMNS) - set(out.columns)
    assert not missing, f"forecast lacks columns {sorted(missing)}"
    seen = panel_until(panel, as_of)
    codes = sorted(seen["ts_code"].unique())
    assert sorted(out["ts_code"].unique()) == codes
    assert len(out) == len(codes) * horizon, "expected one row per (ts_code, step)"
    last = seen.groupby("ts_code")["trade_time"].max()
    for code, g in out.groupby("ts_code"):
        assert g["step"].tolist() == list(range(1, horizon + 1)), f"{code}: steps not 1..h"
        assert (g["as_of"] == last[code]).all(), f"{code}: as_of is not its last session <= as_of"
    num = out[["mean", "cum_mean", "std", "prob_up", "prob_down"]].to_numpy(float)
    assert np.isfinite(num).all(), "non-finite forecast values"
    assert (out["std"] >= 0).all()
    assert (out["cum_mean"] > -1).all() and (out["mean"] > -1).all(), "simple returns > -100 %"
    for col in ("prob_up", "prob_down"):
        assert out[col].between(0, 1).all(), f"{col} outside [0, 1]"
    assert (out["prob_up"] + out["prob_down"] <= 1 + 1e-12).all()
    assert set(out["regime"]) <= REGIMES, f"unknown regimes {set(out['regime']) - REGIMES}"
    rp = out["regime_prob"].to_numpy(float)
    has_regime = out["regime"].notna().to_numpy()
    assert np.isnan(rp[~has_regime]).all(), "regime_prob must be NaN when regime is None"
    assert ((rp[has_regime] >= 0) & (rp[has_regime] <= 1)).all()


def check_forecaster(model_factory: Callable[[], Forecaster], panel: pd.DataFrame,
                     as_of: Any) -> pd.DataFrame:
    """Fit, predict, save, load, predict again; assert the contract and equal output.

    Args:
        model_factory: Builds an unfitted forecaster (config only).
        panel: Daily Bars frame to fit and predict on.
        as_of: Forecast date.

    Returns:
        The forecast frame of the fitted model, for further checks.
    """
    model = model_factory()
    assert isinstance(model, Forecaster), "does not implement the Forecaster protocol"
    assert isinstance(type(model).name, str) and model.name
    assert model.fit(panel) is model, "fit must return self"
    out = model.predict(panel, as_of)
    check_forecast_frame(out, panel, as_of, model.horizon)

    state = model.state_dict()
    assert_plain(state)
    restored = type(model).from_state(copy.deepcopy(state))
    assert restored.horizon == model.horizon
    again = restored.predict(panel, as_of)
    pd.testing.assert_frame_equal(again, out, check_exact=True)
    pd.testing.assert_frame_equal(model.predict(panel, as_of), out, check_exact=True)
    return out
