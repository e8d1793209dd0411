"""Training modes of spec 004 §3.2 with their records: full, fast, incremental.

Every run writes a ``lstm_training_run`` row first (``running``), then either
finishes it (``succeeded`` with the gate's decision and reason) or, on any
exception, marks it ``failed`` and writes ``lstm_training_failure`` — in its
own transaction, so a failure is never lost with the rolled-back work.

- ``full``: CV on the default grid (5 folds), holdout, gate.
- ``fast``: CV on the fast grid (3 folds), holdout, gate.
- ``incremental``: fine-tune the current version on ~6 recent months, saved
  as a new version and made current directly (spec 004 §3.2: no CV, no holdout).
"""

from __future__ import annotations

import copy
import json
import time
import traceback
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tzero.data.appdb import TrainingFailure, TrainingRun
from tzero.errors import ModelError
from tzero.models.lstm import LstmConfig, LstmForecaster
from tzero.registry import gate, versions
from tzero.training.loop import TrainConfig

LSTM = LstmForecaster.name   # the spec-004 lifecycle manages the per-stock LSTM

TRAINING_TYPES = ("full", "fast", "incremental")


@dataclass
class TrainOutcome:
    """What one training run did."""

    symbol: str
    run_id: int
    status: str                 # succeeded | failed
    training_type: str
    trigger_type: str
    version_id: str | None = None
    deployed: bool = False
    reason: str = ""
    holdout: dict | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain-data form for ``--json`` and the replay timeline."""
        return dict(self.__dict__)


def lstm_config(training_type: str, seed: int = 42, history: int | None = None) -> LstmConfig:
    """The LSTM configuration of a training type (``full`` or ``fast``)."""
    return LstmConfig(mode="full" if training_type == "full" else "fast", history=history,
                      train=TrainConfig(seed=seed))


def _start_runs(Session_: sessionmaker, panel: pd.DataFrame, symbols: list[str], training_type: str,
                trigger_type: str) -> dict[str, int]:
    with Session_.begin() as s:
        ids = {}
        for sym in symbols:
            bars = panel.loc[panel["ts_code"] == sym]
            run = TrainingRun(model_name=LSTM, symbol=sym, training_type=training_type,
                              trigger_type=trigger_type,
                              status="running", created_at=versions.now(),
                              validation_reason=versions.owner_tag(),
                              data_start=run_data_start(bars), data_end=run_data_end(bars))
            s.add(run)
            s.flush()
            ids[sym] = run.id
        return ids


def _fail(Session_: sessionmaker, run_id: int, symbol: str, reason: str, seconds: float) -> None:
    with Session_.begin() as s:
        r = s.get(TrainingRun, run_id)
        r.status, r.finished_at, r.validation_reason, r.duration_seconds = \
            "failed", versions.now(), reason, seconds
        s.add(TrainingFailure(symbol=symbol, created_at=versions.now(), error_message=reason))


def _fit_batch(Session_: sessionmaker, panel: pd.DataFrame, symbols: list[str], training_type: str,
               seed: int, history: int | None, n_jobs: int,
               config: LstmConfig | None = None) -> tuple[dict, dict]:
    """Fitted single-symbol forecasters and per-symbol errors."""
    models, errors = {}, {}
    if training_type == "incremental":
        for sym in symbols:
            try:
                with Session_() as s:
                    row = versions.current(s, LSTM, sym)
                if row is None:
                    raise ModelError("incremental training needs a current version; run a full training first")
                m = copy.deepcopy(versions.load_model(row))  # the cached one keeps serving
                models[sym] = m.fine_tune(panel.loc[panel["ts_code"] == sym])
            except ModelError as exc:
                errors[sym] = str(exc)
        return models, errors
    sub = panel.loc[panel["ts_code"].isin(symbols)]
    cfg = config or lstm_config(training_type, seed, history)
    fc = LstmForecaster(cfg).fit(sub, n_jobs=n_jobs, errors="collect")
    for sym in symbols:
        if sym in fc.models_:
            one = LstmForecaster(fc.config)
            one.models_ = {sym: fc.models_[sym]}
            models[sym] = one
        else:
            errors[sym] = fc.errors_.get(sym, "no model fitted")
    return models, errors


MIN_COMPARABLE_WINDOWS = 10


def _current_on_same_holdout(cur_row, m, bars: pd.DataFrame) -> tuple[dict | None, str]:
    """The serving version's metrics on those candidate holdout windows it never saw.

    A window ending at t is unseen by the current version only when its labels
    (t+1 … t+5) all lie after the current version's training data, i.e.
    ``t >= data_end``; scoring it on earlier windows would compare the
    candidate out of sample with the current version in sample. With fewer
    than :data:`MIN_COMPARABLE_WINDOWS` such windows the comparison is skipped
    (rule 1 alone decides) and the reason says so.

    Returns:
        ``(metrics or None, note for the gate's reason)``.
    """
    if cur_row is None:
        return None, ""
    times = pd.to_datetime(m.holdout["trade_time"])
    unseen = times[times >= pd.Timestamp(cur_row.data_end)] if cur_row.data_end else times
    if len(unseen) < MIN_COMPARABLE_WINDOWS:
        return None, (f"no head-to-head: current version trained on data to {cur_row.data_end} "
                      f"leaves only {len(unseen)} holdout windows it has not seen")
    try:
        return versions.load_model(cur_row).score_windows(bars, unseen), \
            f"compared on {len(unseen)} windows unseen by both"
    except Exception as exc:
        return None, f"no head-to-head: current version could not be re-scored ({exc})"


def _record(Session_: sessionmaker, model: LstmForecaster, sym: str, run_id: int, out: TrainOutcome,
            max_versions: int, seconds: float, bars: pd.DataFrame) -> None:
    m = model.models_[sym]
    with Session_.begin() as s:
        cur_row = versions.current(s, LSTM, sym)
        meta = {"params": m.params, "holdout": m.metrics, "training_type": out.training_type,
                "stats": {k: v for k, v in m.stats.items() if k != "cv"},
                "seq_len": model.config.seq_len, "model_type": model.config.model_type}
        r = s.get(TrainingRun, run_id)
        row = versions.save_version(s, model, sym, meta, r.data_start, r.data_end)
        if out.training_type == "incremental":
            decision = gate.GateDecision(True, "incremental: replaces the current version (spec 004 §3.2)")
        else:
            seen = bars.iloc[-model.config.history:] if model.config.history else bars  # what the candidate saw
            cur_metrics, note = _current_on_same_holdout(cur_row, m, seen)
            if cur_metrics is not None:   # head-to-head on shared unseen windows
                decision = gate.should_deploy(m.metrics, cur_metrics)
                decision = gate.GateDecision(decision.deploy, f"{decision.reason} ({note})")
            else:
                decision = gate.should_deploy(m.metrics, None, no_current=note or "first version")
        if decision.deploy:
            versions.promote(s, row.version_id)
            versions.prune(s, LSTM, sym, max_versions)
        else:
            versions.refuse(s, row)
        r.version_id, r.status, r.finished_at = row.version_id, "succeeded", versions.now()
        r.validation_deployed, r.validation_reason = decision.deploy, decision.reason
        r.params_json = json.dumps(m.params)
        r.holdout_metrics_json = json.dumps(m.metrics, default=float)
        r.metrics_json = json.dumps({"cv": m.stats.get("cv", [])}, default=float)
        r.duration_seconds = seconds
    out.version_id, out.holdout = row.version_id, m.metrics
    out.status, out.deployed, out.reason = "succeeded", decision.deploy, decision.reason


def train_batch(Session_: sessionmaker, panel: pd.DataFrame, symbols: list[str], training_type: str = "fast",
                trigger_type: str = "manual", seed: int = 42, history: int | None = None, n_jobs: int = 1,
                max_versions: int = versions.MAX_VERSIONS,
                config: LstmConfig | None = None) -> list[TrainOutcome]:
    """Train several symbols' LSTMs on ``panel`` (qfq daily bars up to the training date).

    Full/fast fits run in ``n_jobs`` processes; each symbol then gets its own
    version, gate decision and training-run record. A symbol that fails is
    recorded in ``lstm_training_run`` (failed) and ``lstm_training_failure``;
    the others go on. ``config`` replaces the LSTM configuration of
    ``training_type`` (used by tests and by replays that trade depth for time).

    Raises:
        ValueError: unknown training type.
    """
    if training_type not in TRAINING_TYPES:
        raise ValueError(f"training_type must be one of {TRAINING_TYPES}, got {training_type!r}")
    t0 = time.perf_counter()
    run_ids = _start_runs(Session_, panel, symbols, training_type, trigger_type)
    try:
        models, errors = _fit_batch(Session_, panel, symbols, training_type, seed, history, n_jobs, config)
    except Exception as exc:  # a crash of the fit itself fails every run of the batch
        models, errors = {}, {sym: f"{type(exc).__name__}: {exc}" for sym in symbols}
    secs = (time.perf_counter() - t0) / max(1, len(symbols))
    outs = []
    for sym in symbols:
        out = TrainOutcome(sym, run_ids[sym], "failed", training_type, trigger_type, seconds=secs)
        if sym in models:
            try:
                _record(Session_, models[sym], sym, run_ids[sym], out, max_versions, secs,
                        panel.loc[panel["ts_code"] == sym])
            except Exception as exc:
                errors[sym] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        if sym in errors:
            out.reason = errors[sym].splitlines()[0]
            _fail(Session_, run_ids[sym], sym, errors[sym], secs)
        outs.append(out)
    return outs


def train_symbol(Session_: sessionmaker, panel: pd.DataFrame, symbol: str, training_type: str = "fast",
                 trigger_type: str = "manual", seed: int = 42, history: int | None = None,
                 max_versions: int = versions.MAX_VERSIONS) -> TrainOutcome:
    """Train one symbol (see :func:`train_batch`)."""
    return train_batch(Session_, panel, [symbol], training_type, trigger_type, seed, history, 1,
                       max_versions)[0]


def run_data_start(bars: pd.DataFrame):
    """First session of the training data (a date), or None."""
    return bars["trade_time"].min().date() if len(bars) else None


def run_data_end(bars: pd.DataFrame):
    """Last session of the training data (a date), or None."""
    return bars["trade_time"].max().date() if len(bars) else None


def training_runs(session: Session, symbol: str | None = None, limit: int = 50) -> list[dict]:
    """Recent training runs, newest first (for ``tzero versions --runs`` and the API)."""
    q = select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)
    if symbol:
        q = q.where(TrainingRun.symbol == symbol)
    return [{"id": r.id, "model": r.model_name, "symbol": r.symbol, "version_id": r.version_id,
             "status": r.status,
             "training_type": r.training_type, "trigger_type": r.trigger_type,
             "deployed": r.validation_deployed, "reason": r.validation_reason,
             "data_end": str(r.data_end), "created_at": r.created_at.isoformat(),
             "duration_seconds": r.duration_seconds} for r in session.scalars(q)]
