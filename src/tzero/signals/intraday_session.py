"""The intraday models of one symbol fitted once per session day and run bar by bar (issue 13).

The live loop (:mod:`tzero.live.watch`) fits :class:`SessionModels` before the
day's first bar (:func:`fit_session_models`, on the ``train_days`` sessions
before it, as a walk-forward window of :func:`tzero.signals.intraday.walk_forward_forecasts`
would) and then forecasts each bar from the bars up to its close
(:func:`forecast_row`): the same rows as the walk-forward, bar for bar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from tzero.backtest.walkforward import Window
from tzero.data.bars import resample_minutes
from tzero.errors import ModelError
from tzero.signals.intraday import (
    _SPECS,
    FORECAST_COLUMNS,
    MODELS,
    NAME_PREFIX,
    _forecast_columns,
    _forecast_path,
    _PathModel,
    model_configs,
    signal_horizon,
)

log = logging.getLogger(__name__)

@dataclass
class SessionModels:
    """The intraday models of one symbol fitted for one session day (the live loop, issue 13).

    Made by :func:`fit_session_models` before the day's first bar; :func:`forecast_row`
    then forecasts every bar of the day from them without refitting.

    Attributes:
        ts_code: the symbol. day: the session forecast (midnight).
        freq: model bar frequency.
        history: the ``freq`` bars of the ``train_days`` sessions before ``day`` (the models'
            fit data, and the history every path starts from, as in a walk-forward window).
        models: model key (:data:`MODELS`) → fitted model; blocked and failed ones absent.
        errors: model key → why its fit failed (its columns stay NaN, as in
            :func:`walk_forward_forecasts`).
        blocked: model → reason from the research gates (they neither fit nor vote).
        horizon: bars the signal is about (:func:`signal_horizon`).
        versions: model key → a version label naming the fit (train days and seed).
        trades: the Trades frame of the train days when the HMM uses trade flow, else None.
    """

    ts_code: str
    day: pd.Timestamp
    freq: str
    history: pd.DataFrame
    models: dict[str, Any]
    errors: dict[str, str]
    blocked: dict[str, str]
    horizon: int
    versions: dict[str, str]
    trades: pd.DataFrame | None = None


def fit_session_models(bars: pd.DataFrame, day, *, freq: str = "5m", train_days: int = 40,
                       blocked: dict[str, str] | None = None, seed: int = 42, fast: bool = True,
                       configs: dict | None = None,
                       trades: pd.DataFrame | None = None) -> SessionModels:
    """Fit one symbol's intraday models once for a session day, on the sessions before it.

    The protocol of one walk-forward window whose test part is ``day``
    (:func:`walk_forward_forecasts`, :func:`latest_intraday_signal`): the models fit on
    the ``train_days`` sessions with bars before ``day`` — never on ``day`` itself, never
    after it. Bars of ``day`` or later in ``bars`` are ignored.

    Args:
        bars: one symbol's intraday Bars (1-minute or ``freq``), unadjusted CNY.
        day: the session to forecast (date or stamp).
        freq: model bar frequency. train_days: sessions the models fit on.
        blocked: model → reason from the research gates: not fitted, never vote.
        seed, fast, configs: as in :func:`walk_forward_forecasts`.
        trades: optional Trades frame (the HMM then uses trade-flow OFI); only its rows of
            the train days are used.

    Returns:
        :class:`SessionModels`.

    Raises:
        ValueError: several symbols, or fewer than ``train_days`` sessions of bars before ``day``.
    """
    if bars["ts_code"].nunique() != 1:
        raise ValueError("fit_session_models takes one symbol's bars")
    d = pd.Timestamp(day).normalize()
    b = bars.loc[bars["trade_time"] < d]
    b = resample_minutes(b, freq).reset_index(drop=True) if freq != "1m" else b.reset_index(drop=True)
    days = pd.DatetimeIndex(b["trade_time"]).normalize()
    before = days.unique()
    if len(before) < train_days:
        raise ValueError(f"{len(before)} sessions of {freq} bars before {d.date()}; the intraday "
                         f"models need {train_days}")
    train = b.loc[days >= before[-train_days]].reset_index(drop=True)
    w = Window(0, before[-train_days], before[-1], d, d)
    tr = None
    if trades is not None and len(trades):
        tr = trades[w.train_mask(trades["trade_time"]).to_numpy()]
        tr = tr if len(tr) else None
    cfgs = {**model_configs(fast, seed, freq), **(configs or {})}
    blocked = {m: why for m, why in (blocked or {}).items()}
    fitted: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in MODELS:
        if name in blocked:
            continue
        model = cast(_PathModel, _SPECS[name].cls(cfgs[name]))
        try:
            if getattr(model, "uses_trades", False) and tr is not None:
                model.fit(train, trades=tr, freq=freq)
            else:
                model.fit(train)
        except (ModelError, ValueError) as e:
            errors[name] = str(e)
            log.warning("%s %s: %s not fitted: %s", train["ts_code"].iloc[0], d.date(), name, e)
            continue
        fitted[name] = model
    label = f"fit {before[-train_days].date()}..{before[-1].date()} seed {seed}"
    return SessionModels(ts_code=str(b["ts_code"].iloc[0]), day=d, freq=freq, history=train,
                         models=fitted, errors=errors, blocked=blocked,
                         horizon=signal_horizon(cfgs),
                         versions={NAME_PREFIX + m: label for m in fitted}, trades=tr)


def forecast_row(fitted: SessionModels, day_bars: pd.DataFrame, as_of,
                 trades: pd.DataFrame | None = None) -> dict:
    """The forecast row at one bar of the day from models fitted by :func:`fit_session_models`.

    Each model's path runs over the train bars plus the day's bars up to ``as_of``'s close
    (bars after it are cut before any model sees them) from the day's first bar, and the
    row at ``as_of`` is read: what :func:`walk_forward_forecasts` gives for that bar in the
    window whose train days are ``fitted.history``'s. The path is extended to the next
    scheduled bar stamp of the session (:func:`tzero.market.sessions.session_stamps`) by a
    placeholder bar carrying ``as_of``'s close and no volume, so a forecast that depends on
    the next bar's time of day (ARIMA's seasonal variance) sees the stamp the schedule
    gives, as in the walk-forward path; the paths are causal, so the placeholder never
    enters a number at ``as_of``.

    Args:
        fitted: the day's models.
        day_bars: the symbol's ``freq`` bars of ``fitted.day`` (at least up to ``as_of``).
        as_of: a bar-close stamp of that day.
        trades: the day's Trades so far, when the HMM was fitted with trades.

    Returns:
        Dict of :data:`FORECAST_COLUMNS` (``window`` 0); columns of blocked or failed
        models are NaN.

    Raises:
        ValueError: no bar of the day at ``as_of``.
    """
    from tzero.market.sessions import session_stamps

    t = pd.Timestamp(as_of)
    today = day_bars.loc[(day_bars["trade_time"] >= fitted.day) & (day_bars["trade_time"] <= t)]
    if today.empty or pd.Timestamp(today["trade_time"].iloc[-1]) != t:
        raise ValueError(f"{fitted.ts_code}: no {fitted.freq} bar at {t}")
    hist = pd.concat([fitted.history, today], ignore_index=True)
    stamps = session_stamps(fitted.day, fitted.freq)
    later = stamps[stamps > t]
    end = t
    if len(later):
        end = later[0]
        last = hist.iloc[[-1]].assign(trade_time=end, open=hist["close"].iloc[-1],
                                      high=hist["close"].iloc[-1], low=hist["close"].iloc[-1],
                                      volume=0.0, amount=0.0)
        hist = pd.concat([hist, last], ignore_index=True)
    tr = None
    if fitted.trades is not None:
        tr = fitted.trades if trades is None else pd.concat([fitted.trades,
                                                            trades[trades["trade_time"] <= t]],
                                                           ignore_index=True)
    row: dict = {"ts_code": fitted.ts_code, "trade_time": t, "window": 0,
                 "close": float(today["close"].iloc[-1])}
    for name in MODELS:
        cols = _forecast_columns(name)
        model = fitted.models.get(name)
        if model is None:
            row.update(dict.fromkeys(cols, np.nan))
            continue
        kw = {"trades": tr, "freq": fitted.freq} if getattr(model, "uses_trades", False) \
            and tr is not None else {}
        path = _forecast_path(name, model.predict_path(hist, fitted.day, end, **kw))
        at = path.loc[path["trade_time"] == t]
        for col in cols:
            row[col] = at[col].iloc[0] if len(at) else np.nan
    return {c: row.get(c, np.nan) for c in FORECAST_COLUMNS}


__all__ = ["SessionModels", "fit_session_models", "forecast_row"]
