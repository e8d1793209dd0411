"""Run and signal logs of every model (spec 000 §6.6): train runs, inference runs, signals.

Writes the app-store tables of migration 0004: ``model_train_run`` (one row per
training attempt of any model, keyed by ``(model_name, model_key)`` where the
key is a ``ts_code`` for local models and a universe name for global ones),
``model_inference_run`` (one batch of forecasts from one version) and
``quant_unified_signal`` (each served unified signal, whole, with the model
versions behind it).

Every JSON column is strict JSON (:func:`json_safe`): NaN and ±inf become
``null`` so each database reads it back. The functions add and flush rows in
the caller's session; the caller commits (one transaction per unit of work).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy.orm import Session

from tzero.data.appdb import ModelInferenceRun, ModelTrainRun, UnifiedSignal
from tzero.errors import TzeroError

#: Values of ``model_train_run.status``.
TRAIN_STATUSES = ("running", "succeeded", "failed")


class RunNotFoundError(TzeroError):
    """A ``model_train_run`` id that is not in the app store."""


def _now() -> datetime:
    """Naive UTC now, as every app-store stamp."""
    return datetime.now(UTC).replace(tzinfo=None)


def json_safe(v):
    """A copy of ``v`` that strict JSON accepts.

    NaN/±inf → ``None``; numpy scalars → Python scalars; dates and timestamps →
    ISO text; mapping keys → ``str``; tuples, lists and sets → lists (nested).
    """
    if hasattr(v, "item") and not isinstance(v, str | bytes):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp | datetime | date):
        return None if pd.isna(v) else v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [json_safe(x) for x in v]
    return v


def to_json(obj) -> str:
    """Strict JSON text of ``obj`` (via :func:`json_safe`; UTF-8 kept, keys sorted)."""
    return json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False, sort_keys=True,
                      default=str)


def _check_status(status: str) -> None:
    if status not in TRAIN_STATUSES:
        raise ValueError(f"status must be one of {TRAIN_STATUSES}, got {status!r}")


def record_train_run(session: Session, *, model_name: str, model_key: str,
                     config_snapshot: dict, status: str = "running") -> int:
    """Add a ``model_train_run`` row for a training that starts now.

    Args:
        session: an app-store session (the caller commits).
        model_name: the model's table name (``lstm_shared``, ``tft`` …), ≤ 32 chars.
        model_key: a ``ts_code`` or a universe name (``ALL_EQ_CLEAN``), ≤ 32 chars.
        config_snapshot: the config, seed, universe definition and data range
            used (spec 000 §6.1: kept for A/B comparison); stored as JSON.
        status: ``running`` (default), ``succeeded`` or ``failed``.

    Returns:
        The new row's id.

    Raises:
        ValueError: an unknown status.
    """
    _check_status(status)
    row = ModelTrainRun(model_name=model_name, model_key=model_key, status=status,
                        config_snapshot=to_json(config_snapshot), started_at=_now())
    session.add(row)
    session.flush()
    return row.id


def finish_train_run(session: Session, run_id: int, *, status: str, version_id: str | None = None,
                     metrics: dict | None = None, error: str | None = None) -> None:
    """Close a training run: its outcome, the version it produced and its metrics.

    Args:
        session: an app-store session (the caller commits).
        run_id: id returned by :func:`record_train_run`.
        status: ``succeeded`` or ``failed`` (``running`` is accepted for a
            checkpoint without closing).
        version_id: the registry version trained (≤ 120 chars), if any.
        metrics: validation/holdout metrics; stored as strict JSON.
        error: the error text of a failed run.

    Raises:
        RunNotFoundError: no run with that id.
        ValueError: an unknown status.
    """
    _check_status(status)
    row = session.get(ModelTrainRun, run_id)
    if row is None:
        raise RunNotFoundError(f"no model_train_run with id {run_id}; "
                               "record_train_run returns the id to pass here")
    row.status = status
    row.version_id = version_id if version_id is not None else row.version_id
    if metrics is not None:
        row.metrics_json = to_json(metrics)
    row.error = error
    row.finished_at = None if status == "running" else _now()
    session.flush()


def record_inference_run(session: Session, *, model_name: str, model_key: str, version_id: str,
                         as_of, n_rows: int, config: dict | None = None,
                         explanation: dict | None = None) -> int:
    """Add a ``model_inference_run`` row: one batch of forecasts from one version.

    Args:
        session: an app-store session (the caller commits).
        model_name: the model's table name.
        model_key: a ``ts_code`` or a universe name.
        version_id: the version that produced the forecasts.
        as_of: forecast date (date-like; the time of day is dropped).
        n_rows: forecast rows produced.
        config: inference options (universe, horizon …), stored as JSON when given.
        explanation: the drivers of the forecasts (:mod:`tzero.models.explain`),
            stored as JSON (``explanation_json``) when given.

    Returns:
        The new row's id.
    """
    row = ModelInferenceRun(model_name=model_name, model_key=model_key, version_id=version_id,
                            as_of=pd.Timestamp(as_of).date(), n_rows=int(n_rows),
                            created_at=_now(), config_json=None if config is None else to_json(config),
                            explanation_json=None if explanation is None else to_json(explanation))
    session.add(row)
    session.flush()
    return row.id


def record_unified_signals(session: Session, signals: list[dict],
                           inference_run_id: int | None) -> int:
    """Store served unified signals in ``quant_unified_signal``, one row each.

    Args:
        session: an app-store session (the caller commits).
        signals: ``Signal.to_dict()`` dicts; ``ts_code``, ``as_of`` (date or
            ``YYYY-MM-DD[ HH:MM]`` text; the date is stored) and ``horizon`` are
            read from each, the whole dict goes to ``signal_json`` and its
            ``model_versions`` (model → version id; ``{}`` when absent) to
            ``model_versions_json``.
        inference_run_id: the ``model_inference_run`` that served them, if any.

    Returns:
        Rows written.

    Raises:
        ValueError: a dict without ``ts_code``, ``as_of`` or ``horizon``.
    """
    now = _now()
    rows = []
    for i, sig in enumerate(signals):
        missing = [k for k in ("ts_code", "as_of", "horizon") if sig.get(k) is None]
        if missing:
            raise ValueError(f"signal {i}: missing {', '.join(missing)} (pass Signal.to_dict())")
        rows.append(UnifiedSignal(ts_code=sig["ts_code"], as_of=pd.Timestamp(sig["as_of"]).date(),
                                  horizon=int(sig["horizon"]), signal_json=to_json(sig),
                                  model_versions_json=to_json(sig.get("model_versions") or {}),
                                  inference_run_id=inference_run_id, created_at=now))
    session.add_all(rows)
    session.flush()
    return len(rows)
