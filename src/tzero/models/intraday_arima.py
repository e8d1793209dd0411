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
from tzero.market import sessions
from tzero.models.arima import _build_arima, _extract, _Fitted, psi_weights
from tzero.models.base import (
    Frequency,
    LocalForecaster,
    Scope,
    check_panel,
    check_state,
    panel_until,
)

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


@dataclass(frozen=True)
class IntradayArimaFit:
    """Fit of one symbol: the ARIMA plain data and its seasonal variance factors.

    Attributes:
        arima: orders, coefficients, ``sigma2`` (the daily model's ``_Fitted``).
        season: minute-of-day of the bar close → variance factor (1.0 = average bar).
    """

    arima: _Fitted
    season: dict[int, float]


class IntradayArima(LocalForecaster):
    """Per-symbol AutoARIMA on intraday bar log returns (spec 000 §3.1, §5.1).

    A :class:`tzero.models.base.LocalForecaster`: the base owns the loop over
    symbols (``fit(bars, n_jobs=..., errors=...)``), this class fits and
    forecasts one symbol. ``predict`` gives the forecast frame (``step`` in
    bars); :meth:`predict_path` the batched one-bar-ahead path of
    :data:`PATH_COLUMNS`.

    Attributes:
        config: the :class:`IntradayArimaConfig`.
        models_: ``{ts_code: IntradayArimaFit}``.
        season_: ``{ts_code: {minute-of-day of the bar close: variance factor}}``
            (the fits' ``season``).
        arimas_: ``{ts_code: statsforecast ARIMA}`` with the fitted coefficients fixed.
    """

    name: ClassVar[str] = "intraday_arima"
    scope: ClassVar[Scope] = "local"
    frequency: ClassVar[Frequency] = "intraday"
    #: Bars needed to fit with the default config (``min_obs`` intraday returns).
    min_history: ClassVar[int] = IntradayArimaConfig.min_obs
    #: Columns of :meth:`predict_path` (:data:`PATH_COLUMNS`).
    path_columns: ClassVar[tuple[str, ...]] = tuple(PATH_COLUMNS)
    #: Whether ``fit``/``predict_path`` take a Trades frame (``trades=``).
    uses_trades: ClassVar[bool] = False

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42, freq: str = "5m"
                       ) -> IntradayArimaConfig:
        """Defaults scaled to the bars per day of ``freq`` (deterministic: no seed, no fast variant).

        The fit window is 20 days of returns, the equilibrium span one day,
        ``min_obs`` at most five days (100 returns).
        """
        per_day = bars_per_day(freq)
        return IntradayArimaConfig(window=20 * per_day, equilibrium_bars=per_day,
                                   min_obs=min(100, 5 * per_day))

    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> IntradayArimaFit:
        """Fit an ARIMA on one symbol's last ``window`` intraday returns (train bars only).

        Raises:
            ModelError: too few returns or AutoARIMA failed.
        """
        cfg = self.config
        y_all = intraday_log_returns(bars)
        if y_all.size < cfg.min_obs:
            raise ModelError(f"{code}: {y_all.size} intraday returns < min_obs={cfg.min_obs}; "
                             "pass more train days")
        y = y_all[-cfg.window:]
        auto = AutoARIMA(max_p=cfg.max_p, max_q=cfg.max_q, seasonal=False)
        try:
            auto.fit(y)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            raise ModelError(f"{code}: AutoARIMA failed on {y.size} returns ({e})") from e
        fitted = _extract(auto.model_, y, bars["trade_time"].iloc[-1])
        arima = _build_arima(fitted, 1)
        resid = y - np.asarray(arima.forward(y=y, h=1, fitted=True)["fitted"], float)
        tod = _bar_of_day(bars["trade_time"].iloc[-y.size:])
        sq = pd.Series(resid**2).groupby(tod).mean()
        return IntradayArimaFit(fitted, {int(k): float(v) for k, v in (sq / sq.mean()).items()})

    def _after_fit(self) -> None:
        self.season_ = {c: f.season for c, f in self.models_.items()}
        self.arimas_ = {c: _build_arima(f.arima, 1) for c, f in self.models_.items()}

    def _series_trained_until(self, fitted: IntradayArimaFit) -> pd.Timestamp:
        return pd.Timestamp(fitted.arima.last_train_time)

    def _fit_of(self, code: str) -> IntradayArimaFit:
        self._check_fitted()
        if code not in self.models_:
            raise ModelError(f"no {self.name} fitted for {code}: fit on bars that include it")
        return self.models_[code]

    def predict_path(self, bars: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        """One-bar-ahead forecasts made at the close of every bar in ``[start, end]``.

        A batched output of its own (not the forecast frame): one Kalman pass
        over the bars gives every bar's forecast at once. The bars are cut at
        ``end`` by :func:`tzero.models.base.panel_until`, the no-look-ahead
        cut of :meth:`Forecaster.predict`, and the filter is causal, so row
        ``t`` uses bars ``<= t`` only: it equals what ``predict`` (step 1)
        would forecast from ``panel_until(bars, t)``, up to the seasonal factor.

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
            module docstring).

        Raises:
            ModelError: not fitted, or a symbol without a model.
        """
        self._check_fitted()
        check_panel(bars)
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        frames = []
        for code, g in panel_until(bars, end).groupby("ts_code", sort=True):
            code = str(code)
            fit = self._fit_of(code)
            g = g.reset_index(drop=True)
            first = int(np.searchsorted(g["trade_time"].to_numpy(), start.to_datetime64()))
            if first >= len(g):
                continue
            lo = max(0, first - self.config.window)
            y = intraday_log_returns(g.iloc[lo:])
            out = self.arimas_[code].forward(y=y, h=1, fitted=True)
            pred = np.r_[np.asarray(out["fitted"], float)[1:], float(np.asarray(out["mean"])[0])]
            frames.append(self._path_rows(code, fit, g, lo, first, pred))
        if not frames:
            return pd.DataFrame(columns=PATH_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def _path_rows(self, code: str, fit: IntradayArimaFit, g: pd.DataFrame, lo: int, first: int,
                   pred: np.ndarray) -> pd.DataFrame:
        times = g["trade_time"].iloc[lo:]
        nxt = np.r_[_bar_of_day(times)[1:], -1]
        season = fit.season
        # next bar of the last bar in a day is the first bar of the next day
        nxt = np.where(nxt < 0, min(season), nxt)
        factor = np.array([season.get(int(m), 1.0) for m in nxt])
        var = fit.arima.sigma2 * factor
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

    def _predict_series(self, code: str, bars: pd.DataFrame, fit: IntradayArimaFit
                        ) -> pd.DataFrame:
        """Forecast ``horizon`` bars after the last bar of one symbol (``step`` in bars).

        Returns:
            ``step`` and the forecast columns (decimal simple returns; ``std``
            uses ``sigma2`` without the seasonal factor beyond step 1) plus
            ``deviation``, the equilibrium z-score at the last bar.
        """
        h = self.config.horizon
        y = intraday_log_returns(bars)[-self.config.window:]
        out = self.arimas_[code].forward(y=y, h=h, level=[_PI_LEVEL])
        f = fit.arima
        m = np.asarray(out["mean"], float)
        psi = psi_weights(f.order, f.seasonal_order, f.coef, 1, h)         # [h]
        s2 = f.sigma2 * np.cumsum(psi**2)                # Var of r_{t+k} forecast error
        cum_var = f.sigma2 * np.cumsum(np.cumsum(psi) ** 2)                 # Var S_k
        cum_m = np.cumsum(m)
        pu = norm.cdf(cum_m / np.sqrt(cum_var))
        dev = equilibrium_deviation(bars["close"], self.config.equilibrium_bars)[-1]
        return pd.DataFrame({
            "step": np.arange(1, h + 1), "mean": np.exp(m + s2 / 2) - 1,
            "cum_mean": np.exp(cum_m + cum_var / 2) - 1,
            "std": np.sqrt(np.expm1(s2)) * np.exp(m + s2 / 2),
            "prob_up": pu, "prob_down": 1 - pu,
            "regime": pd.Series([None] * h, dtype=object), "regime_prob": np.nan,
            "deviation": float(dev),
        })

    def state_dict(self) -> dict:
        """Plain data: config, per-symbol ARIMA fit and seasonal variance factors.

        Raises:
            ModelError: not fitted.
        """
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config),
                "models": {c: f.arima.to_dict() for c, f in self.models_.items()},
                "season": {c: {str(k): v for k, v in f.season.items()}
                           for c, f in self.models_.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output.

        Raises:
            ModelError: not an intraday ARIMA state.
        """
        check_state(cls, state)
        obj = cls(IntradayArimaConfig(**state["config"]))
        obj.models_ = {
            c: IntradayArimaFit(_Fitted.from_dict(d),
                                {int(k): float(v) for k, v in state["season"][c].items()})
            for c, d in state["models"].items()}
        obj.errors_ = {}
        obj._after_fit()
        return obj


def bars_per_day(freq: str) -> int:
    """Bars of one A-share session (:data:`tzero.market.sessions.MINUTES_PER_DAY` minutes) at ``freq``.

    Raises:
        ValueError: unknown frequency (expected one of ``INTRADAY_FREQS``).
    """
    if freq not in sessions.INTRADAY_FREQS:
        raise ValueError(f"unknown intraday frequency {freq!r}: expected one of "
                         f"{list(sessions.INTRADAY_FREQS)}")
    return sessions.MINUTES_PER_DAY // sessions.INTRADAY_FREQS[freq]


__all__ = ["PATH_COLUMNS", "IntradayArima", "IntradayArimaConfig", "IntradayArimaFit",
           "bars_per_day", "equilibrium_deviation", "intraday_log_returns"]
