"""As-of forecast paths of the daily models over a window's sessions (:mod:`tzero.research.daily`).

Each path gives, at every asked session t, what the fitted model's ``predict(bars, t)``
gives for the :data:`HORIZON`-session return (``prob_up``), computed in one pass over
the window (data ≤ t only at t), plus the naive momentum baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tzero.models.lstm import LstmForecaster

#: Forecast horizon in sessions (the label horizon of the daily models).
HORIZON = 5


def fit_lstm(bars: pd.DataFrame, lstm_config, seed: int) -> LstmForecaster:
    """The fast LSTM (or ``lstm_config``) fitted on one window's bars."""
    cfg = lstm_config if lstm_config is not None else LstmForecaster.default_config(True, seed)
    return LstmForecaster(cfg).fit(bars)


def lstm_path(model, bars: pd.DataFrame) -> pd.Series:
    """``prob_up`` at every session of ``bars`` (window ending there; data ≤ t only)."""
    pw = model.predict_windows(bars)
    return pd.Series(pw["prob_up"].to_numpy(float), index=pd.DatetimeIndex(pw["trade_time"]))


def arima_path(model, code: str, bars: pd.DataFrame, when: pd.DatetimeIndex) -> pd.Series:
    """ARIMA ``prob_up`` of the 5-session return at each ``when`` session.

    Equals ``model.predict(bars, t)`` (step :data:`HORIZON`) for each t: the same
    fixed model filtered over the last ``window`` log returns up to t.
    """
    cfg = model.config
    t_idx = pd.DatetimeIndex(bars["trade_time"])
    y_all = np.diff(np.log(bars["close"].to_numpy(float)))
    pos = t_idx.get_indexer(when)
    out = np.full(len(when), np.nan)
    for k, i in enumerate(pos):
        if i < cfg.min_obs:           # predict needs min_obs returns up to t
            continue
        y = y_all[:i][-cfg.window:]
        out[k] = float(model.forecast_returns(code, y)["prob_up"].iloc[HORIZON - 1])
    return pd.Series(out, index=when)


def hmm_path(model, code: str, bars: pd.DataFrame, when: pd.DatetimeIndex) -> pd.Series:
    """HMM ``prob_up`` of the 5-session return at each ``when`` session.

    One forward filter over the features of ``bars`` (causal: row t uses
    observations ≤ t). It equals ``model.predict(bars, t)`` while ``bars``
    holds at most ``window`` observations (the caller passes fewer).
    """
    from tzero.models.hmm import filtered_state_probs, forecast_from_probs, hmm_features

    cfg = model.config
    close, vol = bars["close"].to_numpy(float), bars["volume"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):   # the rows hmm_features keeps
        r = pd.Series(np.log(close)).diff()
        v = pd.Series(vol, dtype=float)
        x3 = np.column_stack([r, r.rolling(cfg.vol_window).std(),
                              np.log(v / v.shift(1).rolling(cfg.volume_window).mean())])
    keep = np.isfinite(x3).all(axis=1)
    x = hmm_features(close, vol, cfg.vol_window, cfg.volume_window)
    p = model.models_[code]
    probs = filtered_state_probs(p, x)
    row = np.cumsum(keep) - 1                        # feature row of each bar (valid up to t)
    t_idx = pd.DatetimeIndex(bars["trade_time"])
    out = np.full(len(when), np.nan)
    for k, i in enumerate(t_idx.get_indexer(when)):
        if i < 0 or row[i] + 1 < cfg.min_obs:
            continue
        out[k] = float(forecast_from_probs(p, probs[row[i]], HORIZON)["prob_up"].iloc[-1])
    return pd.Series(out, index=when)


def momentum_path(bars: pd.DataFrame) -> pd.Series:
    """The last 5-session return (decimal) at every session (close_t / close_{t−5} − 1)."""
    c = bars["close"].astype(float)
    return pd.Series((c / c.shift(HORIZON) - 1).to_numpy(), index=pd.DatetimeIndex(bars["trade_time"]))
