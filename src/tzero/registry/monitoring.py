"""Accuracy back-fill, monitoring status, decay detection and alerts (spec 004 §3.9–§3.13).

- Back-fill (§3.9): a prediction made on session t is scored once the close of
  t+5 sessions is known: actual 5-session return, direction, absolute error.
- Decay (§3.11): the mean error of the last ``n_recent`` (20) records exceeds
  ``threshold`` (1.5) × the mean error of all earlier records.
- Alerts (§3.12): ``performance_decay``, ``no_recent_training`` (more than
  ``max_days_without_training`` = 30 days since the last successful run),
  ``low_accuracy`` (direction accuracy of the last 20 records < 0.5),
  ``consecutive_high_error`` (the last 5 errors all > 2 × the historical mean),
  ``training_failure_count`` (≥ 3 failures in 30 days); and, beyond the spec,
  ``model_unhealthy`` when the current version's blob is missing or corrupt
  (predictions then come from the fallback). Fired alerts are
  written to ``alert_log`` and POSTed as JSON to the webhook
  (``TZERO_ALERT_WEBHOOK``); an alert of the same type and symbol is not
  re-fired within ``REFIRE_DAYS`` days.

All dates are the replayed or real "today" (``as_of``): nothing reads the clock
to decide what is recent, so a replay behaves as it would have live.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tzero.data.appdb import AccuracyRecord, AlertLog, PredictionLog, TrainingFailure, TrainingRun
from tzero.market import calendar
from tzero.models.lstm import LstmForecaster
from tzero.registry import versions

LSTM = LstmForecaster.name   # the spec-004 lifecycle manages the per-stock LSTM

HORIZON = 5
DECAY_N_RECENT = 20
DECAY_THRESHOLD = 1.5
MAX_DAYS_WITHOUT_TRAINING = 30
MIN_DIRECTION_ACCURACY = 0.5
CONSECUTIVE_N = 5
CONSECUTIVE_FACTOR = 2.0
FAILURE_COUNT = 3
FAILURE_WINDOW_DAYS = 30
REFIRE_DAYS = 5
ALERT_TYPES = ("performance_decay", "no_recent_training", "low_accuracy",
               "consecutive_high_error", "training_failure_count", "model_unhealthy")


def update_accuracy(session: Session, panel: pd.DataFrame, symbol: str, as_of) -> int:
    """Score every logged prediction of ``symbol`` whose t+5 close is known by ``as_of``.

    Args:
        panel: qfq daily bars of the symbol (only rows ≤ as_of are used).

    Returns:
        Records written.
    """
    as_of = pd.Timestamp(as_of)
    bars = panel.loc[(panel["ts_code"] == symbol) & (panel["trade_time"] <= as_of)]
    closes = pd.Series(bars["close"].to_numpy(), index=pd.DatetimeIndex(bars["trade_time"]))
    done = select(AccuracyRecord.predict_date).where(AccuracyRecord.symbol == symbol)
    pending = session.scalars(select(PredictionLog).where(
        PredictionLog.symbol == symbol, PredictionLog.predict_date.not_in(done))
        .order_by(PredictionLog.predict_date)).all()
    n = 0
    for p in pending:
        t = pd.Timestamp(p.predict_date)
        target = calendar.offset_session(t, HORIZON)
        if target > as_of or t not in closes.index or target not in closes.index:
            continue
        actual = float(closes[target] / closes[t] - 1)
        session.add(AccuracyRecord(
            symbol=symbol, predict_date=p.predict_date, actual_date=target.date(),
            pred_direction=p.direction, actual_direction=int(actual > 0),
            pred_magnitude=p.magnitude, actual_magnitude=actual,
            error_magnitude=abs(p.magnitude - actual), direction_correct=p.direction == int(actual > 0),
            model_version_id=p.model_version_id, source=p.source, created_at=versions.now()))
        n += 1
    session.flush()
    return n


def _errors(session: Session, symbol: str | None) -> list[AccuracyRecord]:
    q = select(AccuracyRecord).order_by(AccuracyRecord.predict_date)
    if symbol:
        q = q.where(AccuracyRecord.symbol == symbol)
    return list(session.scalars(q))


def detect_performance_decay(session: Session, symbol: str | None = None, n_recent: int = DECAY_N_RECENT,
                             threshold: float = DECAY_THRESHOLD) -> dict:
    """Spec 004 §3.11: recent mean error vs historical mean error × threshold."""
    recs = _errors(session, symbol)
    recent, hist = recs[-n_recent:], recs[:-n_recent]
    out = {"symbol": symbol, "triggered": False, "n_recent_samples": len(recent),
           "n_historical_samples": len(hist), "threshold": threshold,
           "recent_avg_error": None, "historical_avg_error": None}
    if len(recent) < n_recent or len(hist) < n_recent:
        out["reason"] = f"needs {n_recent} recent and {n_recent} historical records"
        return out
    r = float(np.mean([a.error_magnitude for a in recent]))
    h = float(np.mean([a.error_magnitude for a in hist]))
    out.update(recent_avg_error=r, historical_avg_error=h, triggered=bool(r > threshold * h))
    return out


def monitoring_status(session: Session, symbol: str | None = None, as_of=None) -> dict:
    """Spec 004 §3.10: version, last training, data range, errors, accuracy, failures, decay."""
    as_of = pd.Timestamp(as_of).date() if as_of is not None else date.today()
    q = select(TrainingRun).where(TrainingRun.status == "succeeded")
    if symbol:
        q = q.where(TrainingRun.symbol == symbol)
    last = session.scalars(q.order_by(TrainingRun.id.desc()).limit(1)).first()
    cur = versions.current(session, LSTM, symbol) if symbol else None
    recs = _errors(session, symbol)
    errs = np.array([a.error_magnitude for a in recs])
    week = select(func.count()).select_from(PredictionLog).where(
        PredictionLog.predict_date > as_of - timedelta(days=7), PredictionLog.predict_date <= as_of)
    fq = select(func.count()).select_from(TrainingFailure)
    if symbol:
        week = week.where(PredictionLog.symbol == symbol)
        fq = fq.where(TrainingFailure.symbol == symbol)
    return {
        "symbol": symbol, "as_of": str(as_of),
        "current_version": cur.version_id if cur else None,
        "last_training": last.finished_at.isoformat() if last and last.finished_at else None,
        "last_training_data_end": str(last.data_end) if last else None,
        "validation": json.loads(last.holdout_metrics_json) if last and last.holdout_metrics_json else None,
        "predictions_last_7_days": session.scalar(week),
        "accuracy_records": len(recs),
        "mae": float(errs.mean()) if len(errs) else None,
        "rmse": float(np.sqrt((errs**2).mean())) if len(errs) else None,
        "direction_accuracy": float(np.mean([a.direction_correct for a in recs])) if recs else None,
        "training_failures": session.scalar(fq),
        "performance_decay": detect_performance_decay(session, symbol),
    }


@dataclass
class Alert:
    """An alert condition found by :func:`check_alerts`."""

    alert_type: str
    symbol: str | None
    severity: str
    message: str
    payload: dict


def _days_since_training(session: Session, symbol: str, as_of: date) -> int | None:
    last = session.scalars(select(TrainingRun).where(
        TrainingRun.symbol == symbol, TrainingRun.status == "succeeded")
        .order_by(TrainingRun.id.desc()).limit(1)).first()
    if last is None or last.data_end is None:
        return None
    return (as_of - last.data_end).days


def check_alerts(session: Session, symbols: list[str], as_of) -> list[Alert]:
    """The alerts of spec 004 §3.12 that hold for each symbol as of a date."""
    as_of = pd.Timestamp(as_of).date()
    out: list[Alert] = []
    for sym in symbols:
        cur = versions.current(session, LSTM, sym)
        if cur is not None:
            try:
                versions.load_model(cur)
            except Exception as exc:
                out.append(Alert("model_unhealthy", sym, "critical",
                                 f"{sym}: current version cannot be served ({exc}); fallback in use",
                                 {"version_id": cur.version_id}))
        d = detect_performance_decay(session, sym)
        if d["triggered"]:
            out.append(Alert("performance_decay", sym, "warning",
                             f"{sym}: recent error {d['recent_avg_error']:.4f} > {DECAY_THRESHOLD} x "
                             f"historical {d['historical_avg_error']:.4f}", d))
        days = _days_since_training(session, sym, as_of)
        if days is not None and days > MAX_DAYS_WITHOUT_TRAINING:
            out.append(Alert("no_recent_training", sym, "warning",
                             f"{sym}: last training data ends {days} days before {as_of}", {"days": days}))
        recs = _errors(session, sym)
        recent = recs[-DECAY_N_RECENT:]
        if len(recent) >= DECAY_N_RECENT:
            acc = float(np.mean([a.direction_correct for a in recent]))
            if acc < MIN_DIRECTION_ACCURACY:
                out.append(Alert("low_accuracy", sym, "warning",
                                 f"{sym}: direction accuracy {acc:.0%} over the last {len(recent)} "
                                 f"scored predictions < {MIN_DIRECTION_ACCURACY:.0%}", {"accuracy": acc}))
        if len(recs) > CONSECUTIVE_N * 2:
            hist = np.mean([a.error_magnitude for a in recs[:-CONSECUTIVE_N]])
            last = [a.error_magnitude for a in recs[-CONSECUTIVE_N:]]
            if all(e > CONSECUTIVE_FACTOR * hist for e in last):
                out.append(Alert("consecutive_high_error", sym, "critical",
                                 f"{sym}: last {CONSECUTIVE_N} errors all > {CONSECUTIVE_FACTOR} x "
                                 f"historical mean {hist:.4f}", {"errors": last}))
        since = as_of - timedelta(days=FAILURE_WINDOW_DAYS)
        # counted on the training data's date, not the wall clock, so a replay sees what live would
        n_fail = session.scalar(select(func.count()).select_from(TrainingRun).where(
            TrainingRun.symbol == sym, TrainingRun.status == "failed", TrainingRun.data_end > since)) or 0
        if n_fail >= FAILURE_COUNT:
            out.append(Alert("training_failure_count", sym, "critical",
                             f"{sym}: {n_fail} failed training runs in {FAILURE_WINDOW_DAYS} days",
                             {"failures": n_fail}))
    return out


def fire_alerts(session: Session, alerts: list[Alert], as_of, webhook_url: str | None) -> list[dict]:
    """Log each alert (unless the same one fired within ``REFIRE_DAYS``) and POST it to the webhook.

    Returns:
        The alerts written, with the webhook outcome (``sent 200``, ``failed: …``
        or ``no webhook configured``).
    """
    as_of = pd.Timestamp(as_of).date()
    fired = []
    for a in alerts:
        recent = session.scalars(select(AlertLog).where(
            AlertLog.alert_type == a.alert_type, AlertLog.symbol == a.symbol,
            AlertLog.as_of > as_of - timedelta(days=REFIRE_DAYS)).limit(1)).first()
        if recent is not None:
            continue
        body = {"alert_type": a.alert_type, "symbol": a.symbol, "severity": a.severity,
                "message": a.message, "as_of": str(as_of), "payload": a.payload}
        status = post_webhook(webhook_url, body) if webhook_url else "no webhook configured"
        session.add(AlertLog(alert_type=a.alert_type, symbol=a.symbol, severity=a.severity,
                             message=a.message, payload_json=json.dumps(a.payload, default=float),
                             fired=True, webhook_status=status, as_of=as_of, created_at=versions.now()))
        fired.append({**body, "webhook_status": status})
    session.flush()
    return fired


def post_webhook(url: str, body: dict, timeout: float = 5.0) -> str:
    """POST ``body`` as JSON; return ``sent <status>`` or ``failed: <error>`` (never raises)."""
    req = urllib.request.Request(url, data=json.dumps(body, default=float).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return f"sent {resp.status}"
    except Exception as exc:
        return f"failed: {exc}"[:80]


def alert_log(session: Session, limit: int = 100) -> list[dict]:
    """Logged alerts, newest first."""
    rows = session.scalars(select(AlertLog).order_by(AlertLog.id.desc()).limit(limit))
    return [{"id": r.id, "alert_type": r.alert_type, "symbol": r.symbol, "severity": r.severity,
             "message": r.message, "as_of": str(r.as_of), "webhook_status": r.webhook_status}
            for r in rows]
