"""Train any model of the table and publish it through the one registry and gate.

For every model (local or global) a training run is recorded in
``lstm_training_run`` (the spec-004 table, keyed by ``model_name`` and
``symbol`` = the version key) and in ``model_train_run`` (spec 000 §6.6, with
the config snapshot: universe definition, static-feature fields,
``per_stock_mode``). The fitted model is stored as a candidate version keyed
by ``(model, key)`` — key = ts_code for local models, universe name for global
ones — and the deploy gate of :mod:`tzero.registry.gate` decides, in the same
transaction, whether it becomes current (rule 1: skill over the naive
baselines on a holdout the served model did not train on; rule 2,
head-to-head with the current version, where the model can re-score it on the
same windows). A refused version's blob is dropped; it never serves.

Holdout metrics come from the model when it keeps them (``holdout_metrics``:
the per-stock LSTM, the shared LSTM and the refinement hold out their last
sessions and keep that fit). For other local models (ARIMA, HMM) the same
config is fitted on the data before the holdout and scored on it by
:func:`holdout_metrics`; the served version is then fitted on all the data.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import sessionmaker

from tzero.data.appdb import TrainingFailure, TrainingRun
from tzero.errors import ModelError
from tzero.models.base import Forecaster, LocalForecaster
from tzero.registry import gate, versions
from tzero.training.executor import Executor
from tzero.training.metrics import gate_metrics

#: Holdout sessions of the generic holdout (≈ 3 months, spec 004 §3.4).
HOLDOUT_SESSIONS = 63


@dataclass
class Published:
    """What publishing one model key did."""

    model: str
    key: str
    run_id: int
    status: str                 # succeeded | failed
    version_id: str | None = None
    deployed: bool = False
    reason: str = ""
    holdout: dict = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain data for ``--json``."""
        return dict(self.__dict__)


def _json(obj: Any) -> str:
    from tzero.data.model_runs import json_safe

    return json.dumps(json_safe(obj), default=str, ensure_ascii=False)


def holdout_metrics(model_factory: Callable[[], Forecaster], bars: pd.DataFrame,
                    n_hold: int = HOLDOUT_SESSIONS) -> dict:
    """Direction and return metrics of a local model on one series' last ``n_hold`` sessions.

    The model is fitted on the bars that end ``horizon`` sessions before the
    first holdout session (no label overlap), then asked for its as-of
    forecast at each holdout session t (:meth:`Forecaster.predict_history`,
    data ≤ t only) whose ``horizon`` outcome is known. Metrics as the LSTM
    holdout (spec 002 §4.4): accuracy / F1 of ``prob_up > 0.5`` against the
    sign of the realised cumulative return, MSE / MAE of the step returns,
    and the naive baselines on the same sessions (zero return; momentum =
    sign of the last ``horizon``-session return).

    Args:
        model_factory: Builds the unfitted model (its config decides the horizon).
        bars: One series' daily Bars (qfq), ascending.
        n_hold: Holdout sessions.

    Returns:
        ``accuracy, precision, recall, f1, mse, mae, n`` and ``naive_*``.

    Raises:
        ModelError: too little history for the holdout and a fit.
    """
    bars = bars.reset_index(drop=True)
    probe = model_factory()
    h = probe.horizon
    n = len(bars)
    first = n - h - n_hold                     # first holdout session (outcome known)
    fit_end = first - h
    if fit_end < max(probe.min_history, 30):
        raise ModelError(f"{bars['ts_code'].iloc[0]}: {n} sessions leave no fit before a "
                         f"{n_hold}-session holdout")
    model = probe.fit(bars.iloc[:fit_end])
    times = bars["trade_time"]
    fc = model.predict_history(bars, times.iloc[first], times.iloc[n - h - 1])
    close = bars["close"].to_numpy(float)
    pos = pd.Index(times).get_indexer(pd.DatetimeIndex(fc["as_of"].unique()))
    steps = fc.pivot(index="as_of", columns="step", values="mean").to_numpy(float)  # [N, h]
    p_up = fc.loc[fc["step"] == h, "prob_up"].to_numpy(float)
    actual = np.stack([close[pos + k + 1] / close[pos + k] - 1 for k in range(h)], axis=1)
    cum = close[pos + h] / close[pos] - 1
    past = close[pos] / close[np.maximum(pos - h, 0)] - 1
    return gate_metrics((cum > 0).astype(int), (p_up > 0.5).astype(int), actual, steps, past)


def start_run(Session_: sessionmaker, model_name: str, key: str, training_type: str,
              trigger_type: str, data_start, data_end, config_snapshot: dict) -> tuple[int, int]:
    """Write the ``running`` rows of a training run; returns ``(lstm_training_run id, model_train_run id)``."""
    from tzero.data.model_runs import record_train_run

    with Session_.begin() as s:
        run = TrainingRun(model_name=model_name, symbol=key, training_type=training_type,
                          trigger_type=trigger_type, status="running", created_at=versions.now(),
                          validation_reason=versions.owner_tag(), data_start=data_start,
                          data_end=data_end, params_json=_json(config_snapshot))
        s.add(run)
        s.flush()
        mrun = record_train_run(s, model_name=model_name, model_key=key,
                                config_snapshot=config_snapshot)
        return run.id, mrun


def fail_run(Session_: sessionmaker, run_ids: tuple[int, int], key: str, reason: str,
             seconds: float) -> None:
    """Mark a run failed and record the failure (its own transaction)."""
    from tzero.data.model_runs import finish_train_run

    with Session_.begin() as s:
        r = s.get(TrainingRun, run_ids[0])
        r.status, r.finished_at, r.validation_reason, r.duration_seconds = \
            "failed", versions.now(), reason, seconds
        s.add(TrainingFailure(symbol=key, created_at=versions.now(), error_message=reason))
        finish_train_run(s, run_ids[1], status="failed", error=reason)


def publish(Session_: sessionmaker, model: Forecaster, key: str, run_ids: tuple[int, int], *,
            metrics: dict, data_start, data_end, max_versions: int = versions.MAX_VERSIONS,
            current_metrics: Callable[[Any], tuple[dict | None, str]] | None = None,
            meta: dict | None = None) -> tuple[str, gate.GateDecision]:
    """Store ``model`` as a version of ``(model.name, key)`` and let the gate decide.

    One transaction: the candidate version, the gate's decision (promote and
    prune, or refuse and drop the blob), and the finished training-run rows.

    Args:
        model: The fitted model holding exactly what key ``key`` serves.
        run_ids: From :func:`start_run`.
        metrics: Holdout metrics of the candidate (see :mod:`tzero.registry.gate`).
        current_metrics: ``f(current_row) -> (metrics or None, note)`` re-scoring
            the current version on the candidate's holdout (rule 2); without it,
            rule 1 alone decides and the reason says why.
        meta: Extra metadata stored with the version.

    Returns:
        ``(version_id, decision)``.
    """
    from tzero.data.model_runs import finish_train_run

    with Session_.begin() as s:
        cur_row = versions.current(s, model.name, key)
        row = versions.save_version(s, model, key, {"holdout": metrics, **(meta or {})},
                                    data_start, data_end)
        if cur_row is not None and current_metrics is not None:
            cur, note = current_metrics(cur_row)
        else:
            cur, note = None, ("first version" if cur_row is None else
                               "no head-to-head: this model cannot re-score the current version "
                               "on the same holdout")
        decision = gate.should_deploy(metrics, cur, no_current=note)
        if cur is not None:
            decision = gate.GateDecision(decision.deploy, f"{decision.reason} ({note})")
        if decision.deploy:
            versions.promote(s, row.version_id)
            versions.prune(s, model.name, key, max_versions)
        else:
            versions.refuse(s, row)
        r = s.get(TrainingRun, run_ids[0])
        r.version_id, r.status, r.finished_at = row.version_id, "succeeded", versions.now()
        r.validation_deployed, r.validation_reason = decision.deploy, decision.reason
        r.holdout_metrics_json = _json(metrics)
        finish_train_run(s, run_ids[1], status="succeeded", version_id=row.version_id,
                         metrics={"holdout": metrics, "deployed": decision.deploy,
                                  "reason": decision.reason})
        return row.version_id, decision


def train_and_publish(Session_: sessionmaker, model: Forecaster, panel: pd.DataFrame, *,
                      keys: list[str] | None = None, universe: pd.DataFrame | None = None,
                      universe_name: str | None = None, config_snapshot: dict | None = None,
                      training_type: str = "fast", trigger_type: str = "manual",
                      max_versions: int = versions.MAX_VERSIONS, n_jobs: int = 1,
                      progress: Callable[[str, int, int], None] | Callable[[int, int], None]
                      | None = None,
                      model_factory: Callable[[], Forecaster] | None = None,
                      fit_kwargs: dict | None = None,
                      executor: Executor | None = None) -> list[Published]:
    """Fit ``model`` on ``panel`` and publish one version per key.

    Local models are fitted per series (the one loop, ``n_jobs`` processes)
    and published per ts_code; a series that cannot be fitted is recorded as a
    failed run and the others go on. A global model is fitted once over the
    universe and published under ``universe_name``.

    Args:
        model: An unfitted model (config set).
        panel: qfq daily Bars up to the training date.
        keys: Local models: the ts_codes to train (default: all in ``panel``).
        universe: Global models: membership matrix (sessions × ts_code).
        universe_name: Global models: the version key.
        config_snapshot: Written to ``model_train_run.config_snapshot``.
        model_factory: Builds a fresh model of the same config (the generic
            holdout of local models without their own holdout metrics).
        fit_kwargs: Extra keyword arguments of ``fit`` (e.g. ``static`` features).
        progress: The ``progress`` option of ``fit``: ``(ts_code, done, total)`` for
            local models, ``(epoch, epochs)`` for a global model.
        executor: Local models: where the per-series fits run (None: the local pool
            of ``n_jobs``; :mod:`tzero.training.executor`). Every series' fit is
            back in this process before anything is published, so a series whose
            task failed (after the executor's bounded retries) is a failed run and
            no version of it reaches the registry.

    Raises:
        ModelError: a global model without ``universe_name``.
    """
    snap = {"model": model.name, "scope": model.scope, "config": _config_dict(model),
            **(config_snapshot or {})}
    t0 = time.perf_counter()
    if model.scope == "global":
        if not universe_name:
            raise ModelError(f"{model.name} is a universe model: pass a universe name")
        return [_publish_global(Session_, model, panel, universe, universe_name, snap,
                                training_type, trigger_type, max_versions, t0, progress,
                                fit_kwargs or {})]
    if not isinstance(model, LocalForecaster):
        raise ModelError(f"{model.name} has scope 'local' but is not a LocalForecaster: "
                         "derive it from tzero.models.base.LocalForecaster")
    keys = keys or sorted(panel["ts_code"].unique())
    sub = panel.loc[panel["ts_code"].isin(keys)]
    spans = sub.groupby("ts_code")["trade_time"].agg(["min", "max"])
    ids = {k: start_run(Session_, model.name, k, training_type, trigger_type,
                        _day(spans, k, "min"), _day(spans, k, "max"), snap) for k in keys}
    try:
        model.fit(sub, n_jobs=n_jobs, errors="collect", progress=progress, executor=executor,
                  **(fit_kwargs or {}))
        errors = dict(model.errors_)
    except Exception as exc:  # a crash of the fit fails every run of the batch
        errors = {k: f"{type(exc).__name__}: {exc}" for k in keys}
    secs = (time.perf_counter() - t0) / max(1, len(keys))
    out = []
    for k in keys:
        res = Published(model.name, k, ids[k][0], "failed", seconds=secs)
        if k not in errors:
            try:
                one = model.subset([k])
                metrics = one.holdout_metrics(k) if hasattr(one, "holdout_metrics") else \
                    holdout_metrics(model_factory or (lambda: type(model)(model.config)),
                                    sub.loc[sub["ts_code"] == k])
                vid, dec = publish(Session_, one, k, ids[k], metrics=metrics,
                                   data_start=_day(spans, k, "min"), data_end=_day(spans, k, "max"),
                                   max_versions=max_versions)
                res.status, res.version_id, res.deployed, res.reason, res.holdout = \
                    "succeeded", vid, dec.deploy, dec.reason, metrics
            except Exception as exc:
                errors[k] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        if k in errors:
            res.reason = errors[k].splitlines()[0]
            fail_run(Session_, ids[k], k, errors[k], secs)
        out.append(res)
    return out


def _publish_global(Session_, model, panel, universe, name, snap, training_type, trigger_type,
                    max_versions, t0, progress, fit_kwargs) -> Published:
    start, end = panel["trade_time"].min().date(), panel["trade_time"].max().date()
    ids = start_run(Session_, model.name, name, training_type, trigger_type, start, end, snap)
    res = Published(model.name, name, ids[0], "failed")
    try:
        model.fit(panel, universe=universe, progress=progress, **fit_kwargs)
        metrics = model.holdout_metrics(name)
        vid, dec = publish(Session_, model, name, ids, metrics=metrics, data_start=start,
                           data_end=end, max_versions=max_versions)
        res.status, res.version_id, res.deployed, res.reason, res.holdout = \
            "succeeded", vid, dec.deploy, dec.reason, metrics
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        res.reason = msg.splitlines()[0]
        fail_run(Session_, ids, name, msg, time.perf_counter() - t0)
    res.seconds = time.perf_counter() - t0
    return res


def _day(spans: pd.DataFrame, key: str, col: str):
    return pd.Timestamp(spans.loc[key, col]).date() if key in spans.index else None


def _config_dict(model: Forecaster) -> dict:
    from dataclasses import asdict, is_dataclass

    c = model.config
    return asdict(c) if is_dataclass(c) and not isinstance(c, type) else {}
