"""Prediction flow (spec 004 §3.7) with fallback LSTM → ARIMA → technical rules (§3.8).

1. Health check of the symbol's current LSTM version: it exists, its blob
   loads and matches its SHA-256, and its training data ends on or before the
   prediction date (never after: that would be look-ahead) and at most
   ``MAX_DAYS_WITHOUT_TRAINING`` days before it.
2. Predict with the first source that works; each prediction is written to
   ``lstm_prediction_log`` with its ``source`` and the ``model_version_id`` of
   the exact blob that produced it (read in the same transaction), so a
   version promoted meanwhile never gets credit for it.

Technical rules (§3.8): score = +1 when RSI(14) < 30 (oversold), −1 when > 70,
plus the sign of the MACD(12,26,9) histogram; direction = score > 0;
magnitude = sign(score) × 0.5 × σ₂₀ × √5 (σ₂₀ the 20-session std of daily
returns); ``prob_up = 0.5 + 0.1 × score``. Every source's direction is
``prob_up > 0.5``, the rule the deploy gate and ``tzero evaluate`` score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from tzero.data.appdb import PredictionLog
from tzero.errors import ModelError
from tzero.features.indicators import macd, rsi
from tzero.models.arima import ArimaConfig, ArimaForecaster
from tzero.models.base import Forecaster
from tzero.models.lstm import LstmForecaster
from tzero.registry import versions
from tzero.registry.monitoring import MAX_DAYS_WITHOUT_TRAINING

HORIZON = 5
SOURCES = (LstmForecaster.name, ArimaForecaster.name, "technical")


@dataclass
class Prediction:
    """One served prediction (what ``lstm_prediction_log`` stores)."""

    symbol: str
    predict_date: str
    direction: int
    magnitude: float
    prob_up: float
    source: str
    model_version_id: str | None
    health: dict

    def as_dict(self) -> dict:
        """Plain-data form."""
        return dict(self.__dict__)


def health_check(session: Session, symbol: str, as_of) -> tuple[dict, Forecaster | None, str | None]:
    """Spec 004 §3.7 step 2: ``(report, loaded model or None, version id or None)``."""
    row = versions.current(session, LstmForecaster.name, symbol)
    if row is None:
        return {"healthy": False, "reason": "no current version"}, None, None
    try:
        model = versions.load_model(row)
    except ModelError as exc:
        return {"healthy": False, "reason": str(exc), "version_id": row.version_id}, None, row.version_id
    age = (pd.Timestamp(as_of).date() - row.data_end).days if row.data_end else None
    if age is not None and age < 0:  # it has seen the outcome: serving it would be look-ahead
        return ({"healthy": False, "reason": f"version trained on data to {row.data_end}, after "
                 f"{pd.Timestamp(as_of).date()}", "version_id": row.version_id}, None, row.version_id)
    if age is not None and age > MAX_DAYS_WITHOUT_TRAINING:
        return ({"healthy": False, "reason": f"trained on data ending {age} days ago "
                 f"(> {MAX_DAYS_WITHOUT_TRAINING})", "version_id": row.version_id}, model, row.version_id)
    return {"healthy": True, "version_id": row.version_id, "data_end": str(row.data_end)}, model, row.version_id


TECHNICAL_MIN_SESSIONS = 35
"""Fewest sessions the RSI(14)/MACD(12, 26, 9) rules need."""


def technical_history(close) -> pd.DataFrame:
    """The §3.8 RSI/MACD rule at every session of one series (row t uses closes ≤ t only).

    ``score = [RSI14 < 30] − [RSI14 > 70] + sign(MACD histogram)``; the
    5-session return is ``sign(score) × 0.5 × σ₂₀ × √5`` (σ₂₀ = std, ddof=1,
    of the last 20 daily returns) and ``prob_up = clip(0.5 + 0.1 × score)``.
    Every term is scale-free, so qfq and hfq closes give the same rule.

    Args:
        close: ``[T]`` closes, oldest first (CNY).

    Returns:
        ``direction`` (1 when ``prob_up > 0.5``), ``expected_return``
        (decimal), ``prob_up``, ``score``; NaN before session
        :data:`TECHNICAL_MIN_SESSIONS`.
    """
    c = np.asarray(close, float)
    r = rsi(c, 14)
    hist = macd(c)[2]
    score = np.where(r < 30, 1.0, np.where(r > 70, -1.0, 0.0)) + np.sign(hist)
    rets = pd.Series(c).pct_change()
    sigma = rets.rolling(20, min_periods=20).std(ddof=1).to_numpy()
    mag = np.sign(score) * 0.5 * sigma * np.sqrt(HORIZON)
    p_up = np.clip(0.5 + 0.1 * score, 0.0, 1.0)
    bad = (np.arange(len(c)) < TECHNICAL_MIN_SESSIONS - 1) | ~np.isfinite(r) | ~np.isfinite(hist)
    out = pd.DataFrame({"score": score, "expected_return": mag, "prob_up": p_up})
    out[bad] = np.nan
    out.insert(0, "direction", (out["prob_up"] > 0.5).astype(float).where(~bad))
    return out


def technical_forecast(bars: pd.DataFrame) -> tuple[int, float, float]:
    """The §3.8 rule forecast from daily bars: ``(direction, 5-session return, prob_up)``
    (the last row of :func:`technical_history`).

    Raises:
        ModelError: fewer than :data:`TECHNICAL_MIN_SESSIONS` sessions.
    """
    close = bars["close"].to_numpy(float)
    if len(close) < TECHNICAL_MIN_SESSIONS:
        raise ModelError(f"{len(close)} sessions are too few for the RSI/MACD rules "
                         f"(need {TECHNICAL_MIN_SESSIONS})")
    last = technical_history(close).iloc[-1]
    return int(last["direction"]), float(last["expected_return"]), float(last["prob_up"])


def _from_forecast(fc: pd.DataFrame) -> tuple[int, float, float]:
    """``(direction, 5-session return, prob_up)``; direction is ``prob_up > 0.5`` everywhere
    (the deploy gate, ``tzero evaluate`` and the accuracy back-fill use the same rule)."""
    last = fc.loc[fc["step"] == HORIZON].iloc[0]
    return int(last["prob_up"] > 0.5), float(last["cum_mean"]), float(last["prob_up"])


def predict_with_fallback(session: Session, panel: pd.DataFrame, symbol: str, as_of,
                          use_fallback: bool = True, log: bool = True,
                          blocked: dict[str, str] | None = None) -> Prediction:
    """Serve one symbol's 5-session forecast as of a session and log it.

    Args:
        panel: qfq daily bars (rows after ``as_of`` are ignored).
        use_fallback: try ARIMA then the technical rules when the LSTM is
            unhealthy or fails; without it an unhealthy LSTM raises.
        blocked: model → reason from the research gates
            (:func:`tzero.backtest.gates.blocked_models`); a blocked ``lstm`` or
            ``arima`` source is skipped like an unhealthy one (spec 003 §3
            "fail = block"), the reason kept in ``health["fallback_errors"]``.

    Raises:
        ModelError: no source could forecast (or the LSTM failed without fallback).
    """
    as_of = pd.Timestamp(as_of)
    bars = panel.loc[(panel["ts_code"] == symbol) & (panel["trade_time"] <= as_of)].reset_index(drop=True)
    if bars.empty:
        raise ModelError(f"{symbol}: no bars on or before {as_of.date()}")
    day = pd.Timestamp(bars["trade_time"].iloc[-1])
    health, model, vid = health_check(session, symbol, day)
    blocked = blocked or {}
    lstm, arima = LstmForecaster.name, ArimaForecaster.name    # the spec-004 fallback chain
    errors = [f"{m}: blocked by research ({blocked[m]})" for m in (lstm, arima) if m in blocked]
    result = None
    if health["healthy"] and lstm not in blocked:
        assert model is not None  # health_check reports healthy only with a loaded model
        try:
            result = (*_from_forecast(model.predict(bars, day)), lstm, vid)
        except ModelError as exc:
            errors.append(f"{lstm}: {exc}")
    elif lstm not in blocked:
        errors.append(f"{lstm}: {health['reason']}")
    if result is None and not use_fallback:
        raise ModelError(f"{symbol}: LSTM unavailable ({'; '.join(errors)}); pass use_fallback")
    if result is None and arima not in blocked:
        try:
            fallback, arima_vid = _fallback_arima(session, symbol, bars, day)
            result = (*_from_forecast(fallback.predict(bars, day)), arima, arima_vid)
        except ModelError as exc:
            errors.append(f"{arima}: {exc}")
    if result is None:
        result = (*technical_forecast(bars), "technical", None)
    direction, mag, p_up, source, version = result
    pred = Prediction(symbol, str(day.date()), direction, mag, p_up, source, version,
                      {**health, "fallback_errors": errors})
    if log:
        log_prediction(session, pred)
    return pred


_ARIMA: dict[tuple[str, str], ArimaForecaster] = {}


def _fallback_arima(session: Session, symbol: str, bars: pd.DataFrame,
                    day: pd.Timestamp) -> tuple[ArimaForecaster, str | None]:
    """The fallback ARIMA of a symbol and its version id.

    The registry's current ARIMA version of the symbol when there is one whose
    data ends on or before ``day`` (what the gate promoted is what serves);
    otherwise a fit refitted on the first use in each calendar month (no
    version id): it uses bars up to that first day only, and later days of the
    month re-apply the fitted orders to their own data (``predict``), so
    nothing after a day is ever used for it.
    """
    row = versions.current(session, ArimaForecaster.name, symbol)
    if row is not None and row.data_end is not None and row.data_end <= day.date():
        try:
            return versions.load_model(row), row.version_id
        except ModelError:
            pass              # a corrupt blob: fall through to the monthly refit
    key = (symbol, f"{day:%Y-%m}")
    model = _ARIMA.get(key)
    if model is None or not _same_history(model.models_[symbol], bars):
        model = ArimaForecaster(ArimaConfig()).fit(bars)
        _ARIMA[key] = model
    return model, None


def _same_history(fitted, bars: pd.DataFrame) -> bool:
    """True when ``bars`` hold the very closes the cached fit was trained on (same last return)."""
    t = pd.Timestamp(fitted.last_train_time)
    c = bars.loc[bars["trade_time"] <= t, "close"].to_numpy(float)
    if len(c) < 2 or pd.Timestamp(bars["trade_time"].iloc[-1]) < t:
        return False
    return bool(np.isclose(np.log(c[-1] / c[-2]), fitted.train_y[-1], rtol=0, atol=1e-12))


def log_prediction(session: Session, p: Prediction) -> None:
    """Insert or replace the day's prediction of a symbol in ``lstm_prediction_log``."""
    d = pd.Timestamp(p.predict_date).date()
    row = session.scalars(select(PredictionLog).where(PredictionLog.symbol == p.symbol,
                                                      PredictionLog.predict_date == d)).first()
    if row is None:
        row = PredictionLog(symbol=p.symbol, predict_date=d)
        session.add(row)
    row.direction, row.magnitude, row.prob_up = p.direction, p.magnitude, p.prob_up
    row.source, row.model_version_id, row.created_at = p.source, p.model_version_id, versions.now()
    session.flush()
