"""Saved model versions under ``TZERO_HOME/models``, written atomically.

Layout::

    models/<name>/<version>.pkl      the forecaster's state_dict() (pickle)
    models/<name>/current.json       {"version": ..., "saved_at": ..., "symbols": [...]}

A version id is ``<name>-<UTC timestamp>-<first 8 hex of the blob's SHA-256>``,
so a prediction names exactly the bytes that produced it. The blob is written
to a temp file and renamed before ``current.json`` is replaced (``os.replace``),
so ``current.json`` never points at a missing or half-written blob.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tzero.errors import ModelError
from tzero.models.arima import ArimaForecaster
from tzero.models.hmm import HmmForecaster
from tzero.models.lstm import LstmForecaster

MODEL_CLASSES = {"lstm": LstmForecaster, "arima": ArimaForecaster, "hmm": HmmForecaster}


def save_version(models_dir: Path, model, *, promote: bool = True, meta: dict | None = None) -> str:
    """Save a fitted forecaster as a new version; make it current when ``promote``.

    Returns:
        The version id.
    """
    blob = pickle.dumps(model.state_dict(), protocol=pickle.HIGHEST_PROTOCOL)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    version = f"{model.name}-{stamp}-{hashlib.sha256(blob).hexdigest()[:8]}"
    d = Path(models_dir) / model.name
    d.mkdir(parents=True, exist_ok=True)
    _atomic_write(d / f"{version}.pkl", blob)
    if promote:
        cur = {"version": version, "saved_at": datetime.now(UTC).isoformat(),
               "symbols": sorted(getattr(model, "models_", None) or getattr(model, "params_", None) or []),
               **(meta or {})}
        _atomic_write(d / "current.json", json.dumps(cur, indent=1, default=str).encode())
    return version


def current_version(models_dir: Path, name: str) -> str | None:
    """The current version id of a model, or None when none was saved."""
    p = Path(models_dir) / name / "current.json"
    if not p.is_file():
        return None
    return json.loads(p.read_text())["version"]


def load_version(models_dir: Path, name: str, version: str | None = None):
    """Load a saved forecaster (the current version when ``version`` is None).

    Raises:
        ModelError: unknown model name, nothing saved, or an unreadable blob.
    """
    if name not in MODEL_CLASSES:
        raise ModelError(f"unknown model {name!r}: expected one of {sorted(MODEL_CLASSES)}")
    version = version or current_version(models_dir, name)
    if version is None:
        raise ModelError(f"no trained {name} model in {models_dir}; run `tzero demo` or `tzero train` first")
    p = Path(models_dir) / name / f"{version}.pkl"
    try:
        state = pickle.loads(p.read_bytes())
        return MODEL_CLASSES[name].from_state(state), version
    except FileNotFoundError as exc:
        raise ModelError(f"{p}: model version file is missing") from exc
    except Exception as exc:  # corrupt blob: any unpickling/rebuild error
        raise ModelError(f"{p}: cannot load model version ({exc})") from exc


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
