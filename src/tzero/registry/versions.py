"""Model versions in the app store: save, load, promote, retain, roll back.

A version is one key's fitted forecaster (key = a ts_code for local models,
a universe name for global ones, DESIGN.md "Registry"): its ``state_dict()`` pickled into
``lstm_model_version.model_blob`` with the SHA-256 of the bytes, and metadata
(features, seq_len, params, holdout metrics) as JSON. Promotion writes
``lstm_current_version`` in the same transaction that checks the blob, so the
current version never points at a missing or corrupt blob; a process killed
mid-training leaves only a ``running`` training run (the version is written with
the gate's decision, in one transaction), which :func:`recover_interrupted`
marks as failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import socket
from datetime import UTC, date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tzero.data.appdb import CurrentVersion, ModelVersion, TrainingRun
from tzero.errors import ModelError

MAX_VERSIONS = 1   # spec 004 §3.5: keep only the newest version besides the current one


def now() -> datetime:
    """UTC now, naive (stored as UTC in every database)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _json(obj) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


def save_version(session: Session, model, symbol: str, metadata: dict,
                 data_start: date | None, data_end: date | None) -> ModelVersion:
    """Store a fitted forecaster as a ``candidate`` version (not current).

    Returns:
        The new :class:`ModelVersion` row (flushed, not committed).
    """
    blob = pickle.dumps(model.state_dict(), protocol=pickle.HIGHEST_PROTOCOL)
    sha = hashlib.sha256(blob).hexdigest()
    t = now()
    vid = f"{model.name}-{symbol}-{t:%Y%m%dT%H%M%S%f}-{sha[:8]}"
    row = ModelVersion(version_id=vid, model_name=model.name, symbol=symbol, training_time=t,
                       data_start=data_start, data_end=data_end, status="candidate",
                       metadata_json=_json(metadata), model_blob=blob, blob_sha256=sha)
    session.add(row)
    session.flush()
    return row


_LOADED: dict[tuple[str, str], object] = {}
_LOADED_MAX = 64


def load_model(row: ModelVersion):
    """Rebuild the forecaster of a version, checking the blob's hash.

    Loaded models are cached by the blob's SHA-256 (the bytes, not the id, so a
    changed blob is never served from the cache). Callers must not mutate the
    returned model; copy it first (``copy.deepcopy``) to fine-tune.

    Raises:
        ModelError: no blob (refused or pruned), hash mismatch, or unpicklable bytes.
    """
    from tzero.models.table import model_class
    if row.model_blob is None:
        raise ModelError(f"version {row.version_id} has no model blob (status {row.status})")
    if hashlib.sha256(row.model_blob).hexdigest() != row.blob_sha256:
        raise ModelError(f"version {row.version_id}: model blob is corrupt (SHA-256 mismatch)")
    key = (row.model_name, row.blob_sha256)
    if key in _LOADED:
        return _LOADED[key]
    try:
        model = model_class(row.model_name).from_state(pickle.loads(row.model_blob))
    except Exception as exc:
        raise ModelError(f"version {row.version_id}: cannot load model blob ({exc})") from exc
    if len(_LOADED) >= _LOADED_MAX:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = model
    return model


def current(session: Session, model_name: str, symbol: str) -> ModelVersion | None:
    """The serving version of a model for a symbol, or None."""
    cur = session.get(CurrentVersion, (model_name, symbol))
    return session.get(ModelVersion, cur.version_id) if cur else None


def promote(session: Session, version_id: str) -> ModelVersion:
    """Make a version current for its symbol (blob verified first); retire the old one.

    Raises:
        ModelError: unknown version or a missing/corrupt blob.
    """
    row = session.get(ModelVersion, version_id)
    if row is None:
        raise ModelError(f"unknown version {version_id!r}; see `tzero versions`")
    load_model(row)  # refuses a missing or corrupt blob before anything changes
    old = session.get(CurrentVersion, (row.model_name, row.symbol))
    if old is not None and old.version_id != version_id:
        session.execute(update(ModelVersion).where(ModelVersion.version_id == old.version_id)
                        .values(status="retired"))
        old.version_id, old.updated_at = version_id, now()
    elif old is None:
        session.add(CurrentVersion(model_name=row.model_name, symbol=row.symbol,
                                   version_id=version_id, updated_at=now()))
    row.status = "deployed"
    session.flush()
    return row


def refuse(session: Session, row: ModelVersion) -> None:
    """Mark a candidate refused and drop its blob (spec 004 §3.4: the new version is deleted)."""
    row.status, row.model_blob = "refused", None
    session.flush()


def prune(session: Session, model_name: str, symbol: str, max_versions: int = MAX_VERSIONS) -> list[str]:
    """Drop blobs of retired versions beyond the newest ``max_versions`` (never the current).

    Rows stay (their training runs reference them); only blobs go, so a pruned
    version can no longer be rolled back to.

    Returns:
        Version ids whose blobs were dropped.
    """
    cur = current(session, model_name, symbol)
    rows = session.scalars(select(ModelVersion).where(
        ModelVersion.model_name == model_name, ModelVersion.symbol == symbol,
        ModelVersion.status == "retired", ModelVersion.model_blob.is_not(None))
        .order_by(ModelVersion.training_time.desc())).all()
    dropped = [r.version_id for r in rows[max_versions:] if not cur or r.version_id != cur.version_id]
    if dropped:
        session.execute(update(ModelVersion).where(ModelVersion.version_id.in_(dropped))
                        .values(model_blob=None, status="pruned"))
    return dropped


def rollback(session: Session, version_id: str) -> ModelVersion:
    """Serve a kept earlier version again (same checks as :func:`promote`)."""
    return promote(session, version_id)


def list_versions(session: Session, model_name: str | None = None, symbol: str | None = None) -> list[dict]:
    """Versions newest first (of every model, or of ``model_name``), with status, data
    range, holdout metrics and whether kept. ``symbol`` is the version key: a
    ts_code, or a universe name for global models."""
    q = select(ModelVersion)
    if model_name:
        q = q.where(ModelVersion.model_name == model_name)
    if symbol:
        q = q.where(ModelVersion.symbol == symbol)
    out = []
    for r in session.scalars(q.order_by(ModelVersion.training_time.desc())):
        meta = json.loads(r.metadata_json or "{}")
        cur = session.get(CurrentVersion, (r.model_name, r.symbol))
        out.append({"version_id": r.version_id, "model": r.model_name, "symbol": r.symbol,
                    "status": r.status,
                    "current": bool(cur and cur.version_id == r.version_id),
                    "training_time": r.training_time.isoformat(), "data_end": str(r.data_end),
                    "kept": r.model_blob is not None, "holdout": meta.get("holdout", {})})
    return out


def owner_tag() -> str:
    """``running on <host> pid <pid>``: written on a run while it trains (see :func:`recover_interrupted`)."""
    return f"running on {socket.gethostname()} pid {os.getpid()}"


def _owner_alive(tag: str | None, created_at: datetime | None, stale_hours: float) -> bool:
    m = re.fullmatch(r"running on (\S+) pid (\d+)", tag or "")
    if m and m.group(1) == socket.gethostname():
        try:
            os.kill(int(m.group(2)), 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    # another host (or no tag): only a run older than ``stale_hours`` counts as dead
    return created_at is not None and (now() - created_at).total_seconds() < stale_hours * 3600


def recover_interrupted(session: Session, stale_hours: float = 24.0) -> int:
    """Mark training runs whose process died mid-way as failed.

    A run is written ``running`` with its owner (host and pid) before fitting;
    its version row is written only together with the gate's decision, so a
    killed run never leaves a version or a current pointer behind. A ``running``
    run whose process no longer exists on this host (or, from another host,
    older than ``stale_hours``) is marked failed, so monitoring counts it and
    nothing waits on it. Runs of live processes are left alone.

    Returns:
        The number of runs marked failed.
    """
    runs = session.scalars(select(TrainingRun).where(TrainingRun.status == "running")).all()
    n = 0
    for r in runs:
        if _owner_alive(r.validation_reason, r.created_at, stale_hours):
            continue
        r.status, r.finished_at = "failed", now()
        r.validation_reason = f"interrupted: the training process ended mid-run ({r.validation_reason or 'no owner'})"
        n += 1
    session.flush()
    return n
