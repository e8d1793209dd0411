"""The main job: panel in, the three models trained, one Signal per holding out.

Used by ``tzero demo``, ``tzero train`` and ``tzero predict``. Models see
forward-adjusted (qfq) daily bars read from the market store up to the
prediction date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tzero.data.bars import read_bars
from tzero.data.store import MarketStore
from tzero.errors import ModelError, StoreError
from tzero.features.indicators import signal_indicators
from tzero.market import calendar
from tzero.models.arima import ArimaConfig, ArimaForecaster
from tzero.models.hmm import HmmConfig, HmmForecaster
from tzero.models.lstm import LstmConfig, LstmForecaster
from tzero.registry import local
from tzero.signals.signal import Signal, build_signal

MODEL_NAMES = ("lstm", "arima", "hmm")

# Ten liquid CSI 300 members across sectors (all have full history in the shared data).
DEFAULT_HOLDINGS = ["600519.SH", "601318.SH", "600036.SH", "000858.SZ", "000333.SZ",
                    "300750.SZ", "601012.SH", "600276.SH", "000001.SZ", "600900.SH"]


def load_panel(store: MarketStore, ts_codes: list[str], end=None, start=None) -> pd.DataFrame:
    """qfq daily bars of the symbols up to ``end`` (inclusive).

    Raises:
        StoreError: a symbol with no bars in the store (names it).
    """
    panel = read_bars(store, ts_codes, "1d", "qfq", start=start, end=end)
    missing = sorted(set(ts_codes) - set(panel["ts_code"]))
    if missing:
        raise StoreError(f"no daily bars in the store for {missing}; ingest them first "
                         f"(`tzero ingest tdx DIR`)")
    return panel


def make_model(name: str, fast: bool = True, seed: int = 42, history: int | None = None):
    """A fresh forecaster with the project defaults (``fast``: spec-002 fast CV grid).

    Raises:
        ModelError: unknown model name.
    """
    if name == "lstm":
        from tzero.training.loop import TrainConfig
        return LstmForecaster(LstmConfig(mode="fast" if fast else "full", history=history,
                                         train=TrainConfig(seed=seed)))
    if name == "arima":
        return ArimaForecaster(ArimaConfig())
    if name == "hmm":
        return HmmForecaster(HmmConfig(seed=seed))
    raise ModelError(f"unknown model {name!r}: expected one of {MODEL_NAMES}")


@dataclass
class TrainedSet:
    """Fitted forecasters and their saved version ids."""

    models: dict
    versions: dict[str, str]


def train_models(panel: pd.DataFrame, models_dir: Path, names=MODEL_NAMES, fast: bool = True,
                 seed: int = 42, lstm_history: int | None = None, n_jobs: int = 1,
                 progress: Callable[[str, str, int, int], None] | None = None) -> TrainedSet:
    """Fit each model on the panel, save it as the current version.

    Args:
        progress: ``progress(model, item, done, total)``.
    """
    fitted, versions = {}, {}
    for name in names:
        m = make_model(name, fast=fast, seed=seed, history=lstm_history)
        if name == "lstm":
            cb = (lambda code, d, t: progress("lstm", code, d, t)) if progress else None
            m.fit(panel, progress=cb, n_jobs=n_jobs)
        else:
            m.fit(panel)
            if progress:
                progress(name, "all", 1, 1)
        fitted[name] = m
        versions[name] = local.save_version(models_dir, m)
    return TrainedSet(fitted, versions)


def load_models(models_dir: Path, names=MODEL_NAMES) -> TrainedSet:
    """Load the current version of each model that has one (others are skipped)."""
    fitted, versions = {}, {}
    for name in names:
        if local.current_version(models_dir, name) is None:
            continue
        fitted[name], versions[name] = local.load_version(models_dir, name)
    if not fitted:
        raise ModelError(f"no trained models in {models_dir}; run `tzero demo` first")
    return TrainedSet(fitted, versions)


def _trained_until(model, code: str) -> pd.Timestamp | None:
    """Last session a fitted model saw for a symbol (LSTM, ARIMA, HMM), or None."""
    fitted = getattr(model, "models_", None) or getattr(model, "params_", None) or {}
    f = fitted.get(code)
    for attr in ("trained_until", "last_train_time", "last_time"):
        v = getattr(f, attr, None)
        if v is not None:
            return pd.Timestamp(v)
    return None


def predict_signals(panel: pd.DataFrame, trained: TrainedSet, as_of=None, horizon: int = 5,
                    blocked: dict[str, str] | None = None) -> list[Signal]:
    """One Signal per symbol of the panel as of a session (default: its last session).

    A model that cannot forecast a symbol (not trained on it) is left out of
    that symbol's votes; a symbol no model can forecast raises. A model whose
    training data ends after ``as_of`` is refused (it has seen the outcome).
    Models in ``blocked`` (model → reason, from the research gates,
    :func:`blocked_by_research`) never vote; the signal lists them.

    Raises:
        CalendarError: ``as_of`` outside the calendar. ModelError: no forecast for a
            symbol, or a model trained past ``as_of``.
    """
    as_of = calendar.previous_session(as_of) if as_of is not None else pd.Timestamp(panel["trade_time"].max())
    cut = panel.loc[panel["trade_time"] <= as_of]
    out = []
    for code, bars in cut.groupby("ts_code", sort=True):
        fcs = {}
        for name, m in trained.models.items():
            until = _trained_until(m, code)
            if until is not None and until > pd.Timestamp(bars["trade_time"].iloc[-1]):
                raise ModelError(f"{name} for {code} was trained on data to {until.date()}, after "
                                 f"{pd.Timestamp(bars['trade_time'].iloc[-1]).date()}: predicting then "
                                 "would use the future; train on data up to that date first")
            try:  # one symbol at a time: a model that cannot forecast one keeps its other votes
                fc = m.predict(bars, as_of)
            except ModelError:
                continue
            if not fc.empty:
                fcs[name] = fc
        if not fcs:
            raise ModelError(f"{code}: no trained model covers it; train with --symbols {code}")
        last = signal_indicators(bars.reset_index(drop=True)).iloc[-1]
        ind = {k: float(v) for k, v in last.items() if pd.notna(v)}
        ind["close"] = float(bars["close"].iloc[-1])
        out.append(build_signal(code, pd.Timestamp(bars["trade_time"].iloc[-1]), fcs,
                                {n: trained.versions[n] for n in fcs if n not in (blocked or {})},
                                horizon, ind, blocked=blocked))
    return out


def blocked_by_research(session_factory) -> dict[str, str]:
    """Models the latest research run blocked (every variant they drive failed a gate).

    Reads ``research_variant`` of the app store (written by ``tzero research
    report``); empty when no research was run.

    Raises:
        StoreError: the app store cannot be read.
    """
    from tzero.backtest.gates import blocked_models

    return blocked_models(session_factory)
