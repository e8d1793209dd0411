"""README "Add a model", worked example: a drift forecaster in one module.

The model: each step's return is the mean of the stock's last ``window`` daily
simple returns; ``std`` their standard deviation; ``prob_up`` the normal
approximation of the cumulative return. It fits one series; the base class
owns the loop over stocks, the no-look-ahead cut, save and load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from scipy.stats import norm

from tzero.errors import ModelError
from tzero.models.base import LocalForecaster, check_state


@dataclass(frozen=True)
class DriftConfig:
    """``window`` sessions of returns; ``horizon`` sessions ahead."""

    window: int = 20
    horizon: int = 5


class DriftForecaster(LocalForecaster):
    """Mean and std of the last ``window`` daily returns, per stock."""

    name: ClassVar[str] = "drift_example"
    min_history: ClassVar[int] = 21

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> DriftConfig:
        """The default config (nothing to seed)."""
        return DriftConfig()

    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> dict:
        """Fit one stock: nothing to estimate but the data range it saw."""
        if len(bars) <= self.config.window:
            raise ModelError(f"{code}: {len(bars)} sessions, need > {self.config.window}")
        return {"trained_until": str(pd.Timestamp(bars["trade_time"].iloc[-1]).date())}

    def _series_trained_until(self, fitted: dict) -> pd.Timestamp:
        return pd.Timestamp(fitted["trained_until"])

    def _predict_series(self, code: str, bars: pd.DataFrame, fitted: dict) -> pd.DataFrame:
        """The drift forecast from the last ``window`` returns up to as_of."""
        r = bars["close"].pct_change().to_numpy()[-self.config.window:]
        if len(r) < self.config.window or not np.isfinite(r).all():
            raise ModelError(f"{code}: fewer than {self.config.window} returns up to as_of")
        h = np.arange(1, self.config.horizon + 1)
        m, s = float(r.mean()), float(r.std())
        cum = (1 + m) ** h - 1
        pu = norm.sf(0, loc=cum, scale=max(s, 1e-9) * np.sqrt(h))
        return pd.DataFrame({"step": h, "mean": m, "cum_mean": cum, "std": s, "prob_up": pu,
                             "prob_down": 1 - pu, "regime": pd.Series([None] * len(h), dtype=object),
                             "regime_prob": np.nan})

    def state_dict(self) -> dict:
        """Plain data: config and the per-stock fit."""
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config), "models": dict(self.models_)}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild from :meth:`state_dict`."""
        check_state(cls, state)
        obj = cls(DriftConfig(**state["config"]))
        obj.models_, obj.errors_ = dict(state["models"]), {}
        return obj
