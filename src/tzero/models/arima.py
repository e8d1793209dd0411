"""ARIMA baseline on daily log returns, one model per ``ts_code`` (spec 000 §3.1).

Spec 000 §3.1 uses ARIMA as the statistical baseline of the daily price path:
the expected return and variance of the next bar, and how far the current
price sits from its "recent equilibrium" (近期均衡水平), which guides T+0
trading.

Model: ``r_t = log(close_t / close_{t-1})`` follows an ARIMA(p, d, q) (with
seasonal terms when ``season_length > 1``) chosen by statsforecast's
``AutoARIMA`` (Hyndman-Khandakar stepwise search on AICc, KPSS test for ``d``;
https://nixtlaverse.nixtla.io/statsforecast/src/core/models.html#autoarima).

Fit and predict:

- ``fit`` runs ``AutoARIMA`` on each symbol's last ``window`` returns and keeps
  the chosen orders, coefficients and innovation variance ``sigma2`` as plain
  data.
- ``predict(panel, as_of)`` rebuilds a statsforecast ``ARIMA`` whose
  coefficients are all *fixed* to the fitted values and calls its documented
  ``forward(y, h, level=...)`` ("apply fitted ARIMA model to a new time
  series") on the symbol's last ``window`` returns with ``trade_time <=
  as_of``. ``forward`` re-runs the Kalman filter of the fixed model over the new
  series and forecasts from its end, with no optimisation, so predict is
  deterministic and uses nothing after ``as_of``. The same rebuild serves
  ``from_state``, so a restored model predicts the very same numbers.

Conversion from log to simple returns (the forecast frame is in simple
returns, :mod:`tzero.models.base`): with ``r ~ N(m, s^2)`` the simple return
``R = exp(r) - 1`` is log-normal, ``E[R] = exp(m + s^2/2) - 1`` and
``sd[R] = sqrt(exp(s^2) - 1) * exp(m + s^2/2)``. ``mean``/``std`` apply this
to each step's marginal forecast ``(m_k, s_k^2)``; ``cum_mean`` applies it to
the cumulative log return ``S_k = r_1 + ... + r_k`` whose mean is the sum of
the step means and whose variance is ``sigma2 * sum_{j<k} (psi_0 + ... +
psi_j)^2`` from the model's psi (MA-infinity) weights. ``prob_up =
Phi(E[S_k] / sd[S_k])``, ``prob_down = 1 - prob_up`` (normal approximation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self, cast

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsforecast.models import ARIMA, AutoARIMA

from tzero.errors import ModelError
from tzero.models.base import Frequency, LocalForecaster, Scope, check_state

#: Two-sided level (percent) of the interval ``forward`` returns; the step std
#: is backed out as ``(hi - mean) / z`` with ``z = Phi^-1(0.5 + level/200)``.
_PI_LEVEL = 95


@dataclass(frozen=True)
class ArimaConfig:
    """Settings of :class:`ArimaForecaster`.

    Attributes:
        horizon: Steps (sessions) ahead to forecast, >= 1.
        season_length: Season of the return series in sessions; 1 = none.
        window: Most recent daily returns used to fit and to filter at
            predict time (sessions, ~2 years by default).
        equilibrium_window: Sessions averaged into the "recent equilibrium"
            close of ``deviation`` (spec 000 §3.1).
        min_obs: Fewest returns a symbol needs; fewer raises ``ModelError``.
        max_p: Largest AR order AutoARIMA may pick.
        max_q: Largest MA order AutoARIMA may pick.
        ic: Information criterion of the search: ``aicc``, ``aic`` or ``bic``.
    """

    horizon: int = 5
    season_length: int = 1
    window: int = 500
    equilibrium_window: int = 20
    min_obs: int = 60
    max_p: int = 5
    max_q: int = 5
    ic: str = "aicc"

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.season_length < 1 or self.equilibrium_window < 1:
            raise ValueError("horizon, season_length and equilibrium_window must be >= 1")
        if self.min_obs < 10 or self.window < self.min_obs:
            raise ValueError(f"need 10 <= min_obs <= window, got min_obs={self.min_obs}, "
                             f"window={self.window}")
        if self.ic not in {"aicc", "aic", "bic"}:
            raise ValueError(f"ic={self.ic!r}: expected 'aicc', 'aic' or 'bic'")


def _int_triple(values: Any) -> tuple[int, int, int]:
    """A stored ``(p, d, q)``-style order as a tuple of ints (as saved by ``to_dict``)."""
    return cast(tuple[int, int, int], tuple(int(v) for v in values))


@dataclass(frozen=True)
class _Fitted:
    """Plain-data fit of one symbol; everything ``from_state`` needs."""

    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int]
    coef: dict[str, float]
    sigma2: float
    include_mean: bool
    include_drift: bool
    train_y: tuple[float, ...]
    last_train_time: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["order"], d["seasonal_order"] = list(self.order), list(self.seasonal_order)
        d["train_y"] = list(self.train_y)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> _Fitted:
        return cls(
            order=_int_triple(d["order"]),
            seasonal_order=_int_triple(d["seasonal_order"]),
            coef={str(k): float(v) for k, v in d["coef"].items()},
            sigma2=float(d["sigma2"]),
            include_mean=bool(d["include_mean"]),
            include_drift=bool(d["include_drift"]),
            train_y=tuple(float(v) for v in d["train_y"]),
            last_train_time=str(d["last_train_time"]),
        )


class ArimaForecaster(LocalForecaster):
    """Per-symbol AutoARIMA on daily log returns (spec 000 §3.1).

    Output: the frame of :data:`tzero.models.base.FORECAST_COLUMNS` (decimal
    simple returns; ``regime=None``, ``regime_prob=NaN``) plus

    - ``deviation``: ``log(close_as_of / equilibrium)``, equilibrium = mean close
      of the last ``equilibrium_window`` sessions up to ``as_of`` (spec 000
      §3.1 "偏离程度"); same value on every step of a symbol,
    - ``sigma2``: variance of the next session's log return (the model's
      innovation variance).

    Predictions are free of look-ahead when the model was fitted on data up to
    ``as_of``; ``predict`` itself reads only rows with ``trade_time <= as_of``.

    Attributes:
        config: The :class:`ArimaConfig`.
        models_: ``{ts_code: fitted plain data}`` after ``fit``.
    """

    name: ClassVar[str] = "arima"
    scope: ClassVar[Scope] = "local"
    frequency: ClassVar[Frequency] = "daily"
    min_history: ClassVar[int] = 61

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> ArimaConfig:
        """The default :class:`ArimaConfig` (deterministic: no seed, no fast variant)."""
        return ArimaConfig()

    # ------------------------------------------------------------------ fit
    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> _Fitted:
        """Choose and fit an ARIMA on one symbol's last ``window`` log returns.

        Raises:
            ModelError: fewer than ``min_obs`` returns, a non-positive close,
                or AutoARIMA fails on it.
        """
        cfg = self.config
        y = _log_returns(code, bars["close"].to_numpy(float), cfg.min_obs)[-cfg.window:]
        auto = AutoARIMA(season_length=cfg.season_length, max_p=cfg.max_p,
                         max_q=cfg.max_q, ic=cfg.ic)
        try:
            auto.fit(y)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            raise ModelError(f"{code}: AutoARIMA failed on {y.size} returns ({e}); "
                             "check the bars for long flat or broken stretches") from e
        return _extract(auto.model_, y, bars["trade_time"].iloc[-1])

    def _after_fit(self) -> None:
        self.arimas_ = {code: _build_arima(f, self.config.season_length)
                        for code, f in self.models_.items()}

    def _series_trained_until(self, fitted: _Fitted) -> pd.Timestamp:
        return pd.Timestamp(fitted.last_train_time)

    # -------------------------------------------------------------- predict
    def _predict_series(self, code: str, bars: pd.DataFrame, fitted: _Fitted) -> pd.DataFrame:
        """Step and cumulative forecast of one symbol from its closes up to ``as_of``.

        Raises:
            ModelError: fewer than ``min_obs`` returns up to ``as_of``.
        """
        cfg = self.config
        close = bars["close"].to_numpy(float)
        fc = self.forecast_returns(code, _log_returns(code, close, cfg.min_obs)[-cfg.window:])
        eq = close[-cfg.equilibrium_window:].mean()
        fc["deviation"] = float(np.log(close[-1] / eq))
        fc["sigma2"] = fitted.sigma2
        return fc

    def forecast_returns(self, code: str, y: np.ndarray) -> pd.DataFrame:
        """Step and cumulative forecast of the fixed model of ``code`` filtered over ``y``.

        Args:
            code: A fitted ts_code.
            y: ``[n]`` daily log returns ending at the forecast origin (decimal).

        Returns:
            ``horizon`` rows: ``step, mean, cum_mean, std, prob_up, prob_down,
            regime, regime_prob`` (simple returns, decimal).

        Raises:
            ModelError: ``code`` is not fitted.
        """
        self._check_fitted()
        if code not in self.arimas_:
            raise ModelError(f"no ARIMA fitted for {code}: fit on a panel that includes it")
        h = self.config.horizon
        out = self.arimas_[code].forward(y=y, h=h, level=[_PI_LEVEL])
        m = np.asarray(out["mean"], float)                                  # [h] log
        z = norm.ppf(0.5 + _PI_LEVEL / 200)
        s = (np.asarray(out[f"hi-{_PI_LEVEL}"], float) - m) / z             # [h] log sd
        fitted = self.models_[code]
        psi = psi_weights(fitted.order, fitted.seasonal_order, fitted.coef,
                          self.config.season_length, h)
        cum_var = fitted.sigma2 * np.cumsum(np.cumsum(psi) ** 2)            # Var S_k
        cum_m = np.cumsum(m)
        cum_sd = np.sqrt(cum_var)
        prob_up = norm.cdf(cum_m / cum_sd)
        return pd.DataFrame({
            "step": np.arange(1, h + 1),
            "mean": np.exp(m + s**2 / 2) - 1,
            "cum_mean": np.exp(cum_m + cum_var / 2) - 1,
            "std": np.sqrt(np.expm1(s**2)) * np.exp(m + s**2 / 2),
            "prob_up": prob_up,
            "prob_down": 1.0 - prob_up,
            "regime": pd.Series([None] * h, dtype=object),
            "regime_prob": np.nan,
        })

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Plain data of the fit: config and, per ts_code, orders, coefficients,
        ``sigma2`` and the training returns (lists, floats, str).

        Raises:
            ModelError: called before ``fit``.
        """
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config),
                "models": {code: f.to_dict() for code, f in self.models_.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted forecaster from :meth:`state_dict` output.

        Raises:
            ModelError: the state is not an ARIMA state.
        """
        check_state(cls, state)
        obj = cls(ArimaConfig(**state["config"]))
        obj.models_ = {code: _Fitted.from_dict(d) for code, d in state["models"].items()}
        obj.errors_ = {}
        obj._after_fit()
        return obj


# ---------------------------------------------------------------------- helpers
def _log_returns(code: str, close: np.ndarray, min_obs: int) -> np.ndarray:
    """Daily log returns of one symbol's closes ``[n] -> [n-1]``; checks length and sign."""
    if np.any(~np.isfinite(close)) or np.any(close <= 0):
        raise ModelError(f"{code}: closes must be finite and > 0 to take log returns; "
                         "clean or drop the bad bars")
    y = np.diff(np.log(close))
    if y.size < min_obs:
        raise ModelError(f"{code} has {y.size} daily returns, fewer than min_obs={min_obs}: "
                         "pass a longer history or lower min_obs")
    return y


def _extract(model: dict, y: np.ndarray, last_time: Any) -> _Fitted:
    """Plain data of a statsforecast ``model_`` dict (``arma`` = p, q, P, Q, m, d, D)."""
    arma = [int(v) for v in model["arma"]]
    coef = {str(k): float(v) for k, v in model["coef"].items()}
    return _Fitted(
        order=(arma[0], arma[5], arma[1]),
        seasonal_order=(arma[2], arma[6], arma[3]),
        coef=coef,
        sigma2=float(model["sigma2"]),
        include_mean="intercept" in coef,
        include_drift="drift" in coef,
        train_y=tuple(float(v) for v in y),
        last_train_time=str(pd.Timestamp(last_time).date()),
    )


def _build_arima(f: _Fitted, season_length: int) -> ARIMA:
    """statsforecast ``ARIMA`` with every coefficient fixed to ``f.coef``.

    Fitting with all coefficients fixed does no optimisation; ``sigma2`` is set
    to the AutoARIMA estimate so intervals match the original fit.
    """
    model = ARIMA(order=f.order, season_length=season_length, seasonal_order=f.seasonal_order,
                  include_mean=f.include_mean, include_drift=f.include_drift,
                  fixed=dict(f.coef))
    model.fit(np.asarray(f.train_y, float))
    model.model_["sigma2"] = f.sigma2
    return model


def psi_weights(order: tuple[int, int, int], seasonal_order: tuple[int, int, int],
                coef: dict[str, float], season_length: int, n: int) -> np.ndarray:
    """First ``n`` psi weights (MA-infinity form) of a fitted ARIMA.

    ``r_t = sum_j psi_j e_{t-j}`` with ``psi_0 = 1``, from
    ``theta(B) Theta(B^m) / (phi(B) Phi(B^m) (1-B)^d (1-B^m)^D)``
    (Box & Jenkins; Hyndman & Athanasopoulos, FPP3 §9). The h-step forecast
    variance is ``sigma2 * sum_{j<h} psi_j^2``.

    Args:
        order: ``(p, d, q)``.
        seasonal_order: ``(P, D, Q)``.
        coef: Coefficients by statsforecast name (``ar1.., ma1.., sar1..,
            sma1..``); missing names count as 0.
        season_length: Season ``m`` in sessions.
        n: Number of weights.

    Returns:
        ``[n]`` float array.
    """
    (p, d, q), (sp, sd, sq) = order, seasonal_order
    m = season_length

    def poly(prefix: str, k: int, lag: int, sign: float) -> np.ndarray:
        c = np.zeros(k * lag + 1)
        c[0] = 1.0
        for i in range(1, k + 1):
            c[i * lag] = sign * coef.get(f"{prefix}{i}", 0.0)
        return c

    ar = np.convolve(poly("ar", p, 1, -1.0), poly("sar", sp, m, -1.0))
    for _ in range(d):
        ar = np.convolve(ar, [1.0, -1.0])
    for _ in range(sd):
        ar = np.convolve(ar, np.r_[1.0, np.zeros(m - 1), -1.0])
    ma = np.convolve(poly("ma", q, 1, 1.0), poly("sma", sq, m, 1.0))
    psi = np.zeros(n)
    for j in range(n):
        acc = ma[j] if j < ma.size else 0.0
        for i in range(1, min(j, ar.size - 1) + 1):
            acc -= ar[i] * psi[j - i]
        psi[j] = acc
    return psi


__all__ = ["ArimaConfig", "ArimaForecaster", "psi_weights"]
