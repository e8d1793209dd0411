"""Per-stock refinement of the shared LSTM (spec 000 §6.4, ``LSTM_REFINEMENT``).

For each stock a light, interpretable model maps ``y_shared`` — the shared
LSTM's ranking score, 5-session expected return and P(up) at t — plus its
recent statistics (mean and std of the score over ``stats_window`` sessions)
and the stock's own factors (5- and 20-session momentum, 20-session
volatility of daily returns, 5/20-session volume ratio), all known at the
close of t, to ``y_final``: the 5-session return from the close of t
(ridge regression, the expected return) and its sign (logistic regression,
P(up)). Both are scikit-learn models on standardised inputs.

Training rows are the sessions *after* the shared model's training data
(``trained_until``), where ``y_shared`` is out of sample — fitting on the
shared model's in-sample scores would teach the refinement to trust them too
much. The last ``holdout_sessions`` of those rows (after a gap of ``horizon``)
are held out for the deploy gate; the model kept is the one fitted without them.

The shared model is not stored in a refinement's state: the serving path binds
the current ``lstm_shared`` version (the model table's ``requires``) with
:meth:`LstmRefinement.bind` before predicting, and every forecast names both
versions. ``per_stock_mode`` (``REFINEMENT`` / ``FULL_LSTM``, spec 000 §6.5)
is recorded in the training run's config snapshot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression, Ridge

from tzero.errors import ModelError
from tzero.models.base import Forecaster, Frequency, LocalForecaster, Scope, check_state
from tzero.models.lstm_shared import LstmShared
from tzero.training.metrics import gate_metrics

FACTORS = ("score", "shared_return", "shared_prob_up", "score_mean", "score_std",
           "mom_5", "mom_20", "vol_20", "volume_ratio")


@dataclass(frozen=True)
class LstmRefinementConfig:
    """Configuration of :class:`LstmRefinement`.

    Attributes:
        horizon: sessions of the refined return (5, as the shared model).
        stats_window: sessions of the score's rolling mean / std.
        alpha: ridge penalty (inputs standardised); C = 1 / alpha for the logistic.
        holdout_sessions: last labelled sessions held out for the gate.
        min_samples: fewest training rows a stock needs.
        per_stock_mode: ``REFINEMENT`` (spec 000 §6.5), recorded with the run.
    """

    horizon: int = 5
    stats_window: int = 20
    alpha: float = 10.0
    holdout_sessions: int = 30
    min_samples: int = 40
    per_stock_mode: str = "REFINEMENT"


class LstmRefinement(LocalForecaster):
    """Ridge / logistic refinement of ``y_shared`` per stock (see module docstring).

    Fitted attributes: ``models_`` (ts_code → dict of coefficients, scaler,
    calibration, holdout metrics); ``requires_versions_`` (model name →
    registry version id it was fitted on, set by the registry; the serving path
    refuses it once that version is no longer current). Bound attribute:
    ``shared_`` (the :class:`LstmShared` it refines; required to fit and predict).
    """

    name: ClassVar[str] = "lstm_refinement"
    scope: ClassVar[Scope] = "local"
    explains: ClassVar[bool] = True
    frequency: ClassVar[Frequency] = "daily"
    min_history: ClassVar[int] = 61

    #: Set by the registry (or :meth:`from_state`); absent on a fresh model.
    requires_versions_: dict[str, str]

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> LstmRefinementConfig:
        """Defaults (deterministic; no fast variant)."""
        return LstmRefinementConfig()

    def bind(self, deps: dict[str, Forecaster]) -> Self:
        """Attach the shared model this refinement reads (``{LstmShared.name: model}``).

        Raises:
            ModelError: no fitted shared model among ``deps``.
        """
        shared = deps.get(LstmShared.name)
        if not isinstance(shared, LstmShared):
            raise ModelError(f"{self.name} needs a fitted {LstmShared.name}: train it first")
        self.shared_ = shared
        return self

    def _shared(self) -> LstmShared:
        shared = getattr(self, "shared_", None)
        if shared is None:
            raise ModelError(f"{self.name}: no {LstmShared.name} bound; call bind() first")
        return shared

    def _fit(self, panel: pd.DataFrame, *, universe=None, shared: LstmShared | None = None,
             n_jobs: int = 1, **kw: Any) -> None:
        if shared is not None:
            self.bind({LstmShared.name: shared})
        self._shared()
        # the bound shared model lives in this process only: fit the stocks here (cheap),
        # whatever executor the caller chose
        kw.pop("executor", None)
        super()._fit(panel, universe=universe, n_jobs=1, **kw)

    # ---------------------------------------------------------------- inputs
    def _inputs(self, bars: pd.DataFrame, start: pd.Timestamp | None) -> pd.DataFrame:
        """``[T', len(FACTORS)]`` inputs at each session ≥ ``start`` (data ≤ t only)."""
        cfg = self.config
        shared = self._shared()
        times = pd.DatetimeIndex(bars["trade_time"])
        first = times[0] if start is None else start
        lo = max(0, times.searchsorted(first) - cfg.stats_window)
        fc = shared.predict_history(bars, times[lo], times[-1])
        fc = fc.loc[fc["step"] == shared.horizon].set_index("as_of")
        if fc.empty:
            raise ModelError(f"{bars['ts_code'].iloc[0]}: the shared model has no window to score")
        close = pd.Series(bars["close"].to_numpy(float), index=times)
        vol = pd.Series(bars["volume"].to_numpy(float), index=times)
        r = close.pct_change()
        x = pd.DataFrame(index=fc.index)
        x["score"] = fc["score"]
        x["shared_return"] = fc["cum_mean"]
        x["shared_prob_up"] = fc["prob_up"]
        x["score_mean"] = x["score"].rolling(cfg.stats_window, min_periods=5).mean()
        x["score_std"] = x["score"].rolling(cfg.stats_window, min_periods=5).std()
        x["mom_5"] = (close / close.shift(5) - 1).reindex(x.index)
        x["mom_20"] = (close / close.shift(20) - 1).reindex(x.index)
        x["vol_20"] = r.rolling(20).std().reindex(x.index)
        x["volume_ratio"] = (vol.rolling(5).mean() / vol.rolling(20).mean()).reindex(x.index)
        return x.loc[x.index >= first].replace([np.inf, -np.inf], np.nan)

    # ------------------------------------------------------------------ fit
    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> dict:
        """Fit one stock's ridge and logistic on the shared model's out-of-sample period.

        Raises:
            ModelError: too few out-of-sample rows for training and holdout.
        """
        cfg = self.config
        until = self._shared().trained_until(code)
        start = None if until is None else until + pd.Timedelta(days=1)
        x = self._inputs(bars, start)
        close = pd.Series(bars["close"].to_numpy(float), index=pd.DatetimeIndex(bars["trade_time"]))
        y = (close.shift(-cfg.horizon) / close - 1).reindex(x.index)
        ok = x.notna().all(axis=1) & y.notna()
        x, y = x.loc[ok], y.loc[ok]
        n_fit = len(x) - cfg.holdout_sessions - cfg.horizon
        if n_fit < cfg.min_samples:
            raise ModelError(f"{code}: {len(x)} sessions after the shared model's training data "
                             f"({until.date() if until is not None else '-'}); the refinement needs "
                             f"{cfg.min_samples + cfg.holdout_sessions + cfg.horizon}")
        X = x.to_numpy(float)
        mu, sd = X[:n_fit].mean(axis=0), X[:n_fit].std(axis=0) + 1e-12
        Z = (X - mu) / sd
        ridge = Ridge(alpha=cfg.alpha).fit(Z[:n_fit], y.to_numpy()[:n_fit])
        up = (y.to_numpy() > 0).astype(int)
        if up[:n_fit].min() == up[:n_fit].max():
            raise ModelError(f"{code}: every training row has the same direction; no logistic fit")
        logit = LogisticRegression(C=1.0 / cfg.alpha).fit(Z[:n_fit], up[:n_fit])
        fitted = {"mu": mu.tolist(), "sd": sd.tolist(), "coef": ridge.coef_.tolist(),
                  "intercept": float(ridge.intercept_), "logit_coef": logit.coef_[0].tolist(),
                  "logit_intercept": float(logit.intercept_[0]),
                  "resid_std": float(np.std(ridge.predict(Z[:n_fit]) - y.to_numpy()[:n_fit])),
                  "trained_until": str(x.index[n_fit - 1 + cfg.horizon].date()),
                  "shared_until": str(until.date()) if until is not None else ""}
        hold = slice(n_fit + cfg.horizon, len(x))
        fitted["metrics"] = _metrics(Z[hold], y.to_numpy()[hold], x["mom_5"].to_numpy()[hold], fitted)
        return fitted

    def _series_trained_until(self, fitted: dict) -> pd.Timestamp:
        return pd.Timestamp(fitted["trained_until"])

    def holdout_metrics(self, key: str) -> dict:
        """The stock's holdout metrics (gate input)."""
        return dict(self.models_[key]["metrics"])

    # -------------------------------------------------------------- predict
    def _predict_series(self, code: str, bars: pd.DataFrame, f: dict) -> pd.DataFrame:
        """``y_final`` at the last session: the refined 5-session return and P(up).

        Raises:
            ModelError: no shared score or a factor undefined at ``as_of``.
        """
        h = self.config.horizon
        times = pd.DatetimeIndex(bars["trade_time"])
        x = self._inputs(bars, times[-1]).iloc[-1:]
        if x.empty or x.isna().any(axis=None) or x.index[0] != times[-1]:
            raise ModelError(f"{code}: refinement inputs undefined at {times[-1].date()}")
        z = (x.to_numpy(float)[0] - np.asarray(f["mu"])) / np.asarray(f["sd"])
        y = float(z @ np.asarray(f["coef"]) + f["intercept"])
        p_up = float(1 / (1 + np.exp(-(z @ np.asarray(f["logit_coef"]) + f["logit_intercept"]))))
        step = (1 + max(y, -0.99)) ** (1 / h) - 1
        cum = (1 + step) ** np.arange(1, h + 1) - 1
        sd = f["resid_std"] * np.sqrt(np.arange(1, h + 1) / h)
        pu = norm.sf(0, loc=cum, scale=np.maximum(sd, 1e-6))
        pu[-1] = p_up
        return pd.DataFrame({"step": np.arange(1, h + 1), "mean": step, "cum_mean": cum,
                             "std": f["resid_std"] / np.sqrt(h), "prob_up": pu, "prob_down": 1 - pu,
                             "regime": pd.Series([None] * h, dtype=object), "regime_prob": np.nan,
                             "score": y})

    def explain(self, panel: pd.DataFrame, as_of, codes: list[str] | None = None,
                top: int = 5) -> dict[str, dict]:
        """Exact SHAP values (``shap.LinearExplainer``) of each stock's refined return.

        The ridge is linear in the standardised factors, so a factor's
        contribution is ``coef × z`` against the training mean (z = 0);
        decimal return units.

        Raises:
            ModelError: not fitted, no shared model bound, or no stock can be explained.
        """
        from tzero.models import explain as xp
        from tzero.models.base import panel_until

        self._check_fitted()
        res = {}
        for code, bars in panel_until(panel, as_of).groupby("ts_code", sort=True):
            f = self.models_.get(str(code))
            if f is None or (codes is not None and code not in codes):
                continue
            times = pd.DatetimeIndex(bars["trade_time"])
            x = self._inputs(bars.reset_index(drop=True), times[-1]).iloc[-1:]
            if x.empty or x.isna().any(axis=None):
                continue
            z = (x.to_numpy(float) - np.asarray(f["mu"])) / np.asarray(f["sd"])
            vals = xp.linear_shap(np.asarray(f["coef"]), z, np.zeros((1, z.shape[1])))[0]
            y = float(z[0] @ np.asarray(f["coef"]) + f["intercept"])
            res[str(code)] = {"model": self.name, "method": "shap.LinearExplainer",
                              "target": "refined 5-session return", "score": y,
                              "drivers": xp.drivers(vals, list(x.columns),
                                                    "refined 5-session return", top)}
        if not res:
            raise ModelError(f"{self.name}: no fitted stock of {codes} can be explained at {as_of}")
        return res

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Plain data: config and per stock coefficients, scaler, calibration, metrics."""
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config),
                "models": {c: dict(f) for c, f in self.models_.items()},
                "requires_versions": dict(getattr(self, "requires_versions_", {}))}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild from :meth:`state_dict` output (bind a shared model before predicting).

        Raises:
            ModelError: not a refinement state.
        """
        check_state(cls, state)
        obj = cls(LstmRefinementConfig(**state["config"]))
        obj.models_ = {c: dict(f) for c, f in state["models"].items()}
        obj.errors_ = {}
        obj.requires_versions_ = dict(state.get("requires_versions", {}))
        return obj

    def subset(self, keys: list[str]) -> Self:
        """As :meth:`LocalForecaster.subset`, keeping the bound shared model."""
        one = super().subset(keys)
        if hasattr(self, "shared_"):
            one.shared_ = self.shared_
        one.requires_versions_ = dict(getattr(self, "requires_versions_", {}))
        return one


def _metrics(Z: np.ndarray, y: np.ndarray, mom: np.ndarray, f: dict) -> dict:
    """Holdout gate metrics on cumulative returns: P(up) > 0.5, the ridge's return, momentum."""
    if len(y) == 0:
        return {"n": 0}
    pred = Z @ np.asarray(f["coef"]) + f["intercept"]
    p = 1 / (1 + np.exp(-(Z @ np.asarray(f["logit_coef"]) + f["logit_intercept"])))
    return gate_metrics((y > 0).astype(int), (p > 0.5).astype(int), y, pred, mom)
