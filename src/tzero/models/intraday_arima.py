"""Intraday ARIMA anchor: next-bar mean/variance, deviation from equilibrium (spec 000 §3.1, §5.1).

Spec 000 §5.1 layers the intraday models: the HMM filters, the LSTM times and
ARIMA anchors the equilibrium. This model works on the log returns of 5, 15 or
30-minute bars (whatever frequency the bars passed in have):

* returns are *intraday*: ``r_t = log(close_t / close_{t-1})`` within a day, and
  the first bar of a day measures from its own open, so the overnight gap
  (a different variance) stays out of the series;
* ``fit`` runs statsforecast ``AutoARIMA`` (stepwise AICc search) on each
  symbol's last ``window`` returns of the train data and keeps orders,
  coefficients and ``sigma2`` as plain data (the daily model's helpers
  :func:`tzero.models.arima._extract` / ``_build_arima``);
* the intraday volatility U shape is kept as a *seasonal variance factor*
  per bar-of-day: mean squared one-step residual at that bar-of-day over the
  train data divided by the overall mean (1.0 = average bar);
* ``predict_path`` applies the fixed fitted model to new data without refitting:
  one call of statsforecast ``ARIMA.forward(y, h=1, fitted=True)`` over the
  returns from ``window`` bars before ``start`` to ``end`` gives the Kalman
  one-step predictions, so the forecast made at bar ``t`` (of ``r_{t+1}``) uses
  returns ``<= t`` only. Walk-forward refits happen per window (in
  :func:`tzero.signals.intraday.walk_forward_forecasts`), not inside the path;
* the equilibrium is the EWMA of the close with span ``equilibrium_bars``
  (default one day of 5-minute bars); ``deviation`` = log(close / EWMA) divided
  by the EW standard deviation of that log gap over the same span: a z-score,
  > 0 means the price is stretched above its recent equilibrium (expect
  reversion down; 倒T, sell first), < 0 below it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsforecast.models import AutoARIMA

from tzero.errors import ModelError
from tzero.models.arima import _build_arima, _extract, _Fitted, psi_weights
from tzero.models.base import check_panel, check_state, panel_until

PATH_COLUMNS = ["ts_code", "trade_time", "close", "mean", "std", "prob_up", "deviation"]
_PI_LEVEL = 95


@dataclass(frozen=True)
class IntradayArimaConfig:
    """Settings of :class:`IntradayArima`.

    Attributes:
        horizon: bars ahead ``predict`` forecasts (``predict_path`` is one bar).
        window: most recent intraday returns (bars) used to fit and to start the
            filter of a path (960 = 20 days of 5-minute bars).
        equilibrium_bars: EWMA span (bars) of the equilibrium level.
        min_obs: fewest returns a symbol needs.
        max_p, max_q: largest AR / MA orders of the search.
    """

    horizon: int = 1
    window: int = 960
    equilibrium_bars: int = 48
    min_obs: int = 100
    max_p: int = 3
    max_q: int = 3

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.equilibrium_bars < 2 or self.min_obs < 20:
            raise ValueError("need horizon >= 1, equilibrium_bars >= 2, min_obs >= 20")
        if self.window < self.min_obs:
            raise ValueError(f"window={self.window} < min_obs={self.min_obs}")


def intraday_log_returns(bars: pd.DataFrame) -> np.ndarray:
    """Intraday log returns of one symbol's bars ``[n] -> [n]``, overnight gap left out.

    ``r_t = log(close_t / close_{t-1})``; the first bar of each day uses
    ``log(close / open)`` of that bar.

    Raises:
        ModelError: a non-positive or missing price.
    """
    close = bars["close"].to_numpy(float)
    opn = bars["open"].to_numpy(float)
    if np.any(~np.isfinite(close)) or np.any(close <= 0) or np.any(opn <= 0):
        raise ModelError("bars need finite prices > 0 to take log returns; drop the bad bars")
    day = pd.DatetimeIndex(bars["trade_time"]).normalize()
    first = np.r_[True, day[1:] != day[:-1]]
    base = np.where(first, opn, np.r_[np.nan, close[:-1]])
    return np.log(close / base)


def equilibrium_deviation(close: pd.Series, span: int) -> np.ndarray:
    """Causal z-score of log(close / EWMA(close, span)) by its EW standard deviation.

    Args:
        close: closes of one symbol in time order.
        span: EWMA span in bars.

    Returns:
        ``[n]`` deviation (NaN for the first bars, where the std is undefined).
    """
    gap = np.log(close / close.ewm(span=span, adjust=False).mean())
    sd = gap.ewm(span=span, adjust=False).std()
    return (gap / sd.where(sd > 0)).to_numpy(float)


def _bar_of_day(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    t = pd.DatetimeIndex(times)
    return (t.hour * 60 + t.minute).to_numpy(np.int64)


class IntradayArima:
    """Per-symbol AutoARIMA on intraday bar log returns (spec 000 §3.1, §5.1).

    Attributes:
        config: the :class:`IntradayArimaConfig`.
        models_: ``{ts_code: fitted plain data}``.
        season_: ``{ts_code: {minute-of-day of the bar close: variance factor}}``.
    """

    name: ClassVar[str] = "intraday_arima"

    def __init__(self, config: IntradayArimaConfig | None = None) -> None:
        self.config = config or IntradayArimaConfig()

    @property
    def horizon(self) -> int:
        """Forecast horizon in bars."""
        return self.config.horizon

    def fit(self, bars: pd.DataFrame) -> Self:
        """Fit one ARIMA per symbol on its last ``window`` intraday returns.

        Args:
            bars: intraday Bars frame (one frequency), sorted by
                ``(ts_code, trade_time)``; the train data only.

        Returns:
            self.

        Raises:
            ValueError: missing Bars columns.
            ModelError: too few returns or AutoARIMA failed.
        """
        check_panel(bars)
        cfg = self.config
        self.models_: dict[str, _Fitted] = {}
        self.season_: dict[str, dict[int, float]] = {}
        for code, g in bars.groupby("ts_code", sort=True):
            y_all = intraday_log_returns(g)
            if y_all.size < cfg.min_obs:
                raise ModelError(f"{code}: {y_all.size} intraday returns < min_obs={cfg.min_obs}; "
                                 "pass more train days")
            y = y_all[-cfg.window:]
            auto = AutoARIMA(max_p=cfg.max_p, max_q=cfg.max_q, seasonal=False)
            try:
                auto.fit(y)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
                raise ModelError(f"{code}: AutoARIMA failed on {y.size} returns ({e})") from e
            fitted = _extract(auto.model_, y, g["trade_time"].iloc[-1])
            self.models_[str(code)] = fitted
            arima = _build_arima(fitted, 1)
            resid = y - np.asarray(arima.forward(y=y, h=1, fitted=True)["fitted"], float)
            tod = _bar_of_day(g["trade_time"].iloc[-y.size:])
            sq = pd.Series(resid**2).groupby(tod).mean()
            self.season_[str(code)] = {int(k): float(v) for k, v in (sq / sq.mean()).items()}
        self._rebuild()
        return self

    def _rebuild(self) -> None:
        self.arimas_ = {c: _build_arima(f, 1) for c, f in self.models_.items()}

    def _check(self, code: str) -> None:
        if not hasattr(self, "models_"):
            raise ModelError("IntradayArima is not fitted: call fit(bars) or from_state()")
        if code not in self.models_:
            raise ModelError(f"no intraday ARIMA fitted for {code}: fit on bars that include it")

    def predict_path(self, bars: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        """One-bar-ahead forecasts made at the close of every bar in ``[start, end]``.

        Args:
            bars: intraday Bars (same frequency as the fit) including history
                before ``start`` (``window`` bars are used to start the filter).
            start, end: inclusive timestamps of the bars to forecast from.

        Returns:
            Frame :data:`PATH_COLUMNS`, one row per bar in ``[start, end]``:
            ``close`` (the bar's close), ``mean`` expected simple return of the
            *next* bar (decimal), ``std`` its standard deviation (decimal,
            seasonal by the next bar's time of day; across the lunch break and
            overnight the next bar is the next session bar), ``prob_up`` =
            Phi(mean_log / sd_log), ``deviation`` (equilibrium z-score, see the
            module docstring). Row ``t`` uses bars ``<= t`` only.

        Raises:
            ModelError: not fitted, or a symbol without a model.
        """
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        frames = []
        for code, g in panel_until(bars, end).groupby("ts_code", sort=True):
            code = str(code)
            self._check(code)
            g = g.reset_index(drop=True)
            first = int(np.searchsorted(g["trade_time"].to_numpy(), start.to_datetime64()))
            if first >= len(g):
                continue
            lo = max(0, first - self.config.window)
            y = intraday_log_returns(g.iloc[lo:])
            out = self.arimas_[code].forward(y=y, h=1, fitted=True)
            pred = np.r_[np.asarray(out["fitted"], float)[1:], float(np.asarray(out["mean"])[0])]
            frames.append(self._path_rows(code, g, lo, first, pred))
        if not frames:
            return pd.DataFrame(columns=PATH_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def _path_rows(self, code: str, g: pd.DataFrame, lo: int, first: int,
                   pred: np.ndarray) -> pd.DataFrame:
        f = self.models_[code]
        times = g["trade_time"].iloc[lo:]
        nxt = np.r_[_bar_of_day(times)[1:], -1]
        season = self.season_[code]
        # next bar of the last bar in a day is the first bar of the next day
        nxt = np.where(nxt < 0, min(season), nxt)
        factor = np.array([season.get(int(m), 1.0) for m in nxt])
        var = f.sigma2 * factor
        dev = equilibrium_deviation(g["close"].iloc[:], self.config.equilibrium_bars)[lo:]
        k = first - lo
        m, v = pred[k:], var[k:]
        return pd.DataFrame({
            "ts_code": code, "trade_time": times.to_numpy()[k:],
            "close": g["close"].to_numpy(float)[first:],
            "mean": np.exp(m + v / 2) - 1,
            "std": np.sqrt(np.expm1(v)) * np.exp(m + v / 2),
            "prob_up": norm.cdf(m / np.sqrt(v)),
            "deviation": dev[k:],
        }, columns=PATH_COLUMNS)

    def predict(self, bars: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        """Forecast ``horizon`` bars after ``as_of`` (Forecaster protocol, ``step`` in bars).

        Returns:
            One row per ``(ts_code, step)`` with
            :data:`tzero.models.base.FORECAST_COLUMNS` plus ``deviation``
            (decimal simple returns; ``std`` uses ``sigma2`` without the
            seasonal factor beyond step 1).

        Raises:
            ModelError: not fitted or a symbol without a model.
        """
        check_panel(bars)
        h = self.config.horizon
        frames = []
        for code, g in panel_until(bars, as_of).groupby("ts_code", sort=True):
            code = str(code)
            self._check(code)
            path = self.predict_path(g, g["trade_time"].iloc[-1], g["trade_time"].iloc[-1])
            y = intraday_log_returns(g)[-self.config.window:]
            out = self.arimas_[code].forward(y=y, h=h, level=[_PI_LEVEL])
            f = self.models_[code]
            m = np.asarray(out["mean"], float)
            psi = psi_weights(f.order, f.seasonal_order, f.coef, 1, h)         # [h]
            s2 = f.sigma2 * np.cumsum(psi**2)                # Var of r_{t+k} forecast error
            cum_var = f.sigma2 * np.cumsum(np.cumsum(psi) ** 2)                 # Var S_k
            cum_m = np.cumsum(m)
            pu = norm.cdf(cum_m / np.sqrt(cum_var))
            frames.append(pd.DataFrame({
                "ts_code": code, "as_of": pd.Timestamp(g["trade_time"].iloc[-1]),
                "step": np.arange(1, h + 1), "mean": np.exp(m + s2 / 2) - 1,
                "cum_mean": np.exp(cum_m + cum_var / 2) - 1,
                "std": np.sqrt(np.expm1(s2)) * np.exp(m + s2 / 2),
                "prob_up": pu, "prob_down": 1 - pu,
                "regime": pd.Series([None] * h, dtype=object), "regime_prob": np.nan,
                "deviation": float(path["deviation"].iloc[-1]),
            }))
        if not frames:
            raise ModelError(f"bars have no rows on or before {as_of}")
        return pd.concat(frames, ignore_index=True)

    def state_dict(self) -> dict:
        """Plain data: config, per-symbol ARIMA fit and seasonal variance factors.

        Raises:
            ModelError: not fitted.
        """
        if not hasattr(self, "models_"):
            raise ModelError("IntradayArima is not fitted: call fit(bars) first")
        return {"name": self.name, "config": asdict(self.config),
                "models": {c: f.to_dict() for c, f in self.models_.items()},
                "season": {c: {str(k): v for k, v in s.items()} for c, s in self.season_.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output.

        Raises:
            ModelError: not an intraday ARIMA state.
        """
        check_state(cls, state)
        obj = cls(IntradayArimaConfig(**state["config"]))
        obj.models_ = {c: _Fitted.from_dict(d) for c, d in state["models"].items()}
        obj.season_ = {c: {int(k): float(v) for k, v in s.items()}
                       for c, s in state["season"].items()}
        obj._rebuild()
        return obj


__all__ = ["PATH_COLUMNS", "IntradayArima", "IntradayArimaConfig", "equilibrium_deviation",
           "intraday_log_returns"]
