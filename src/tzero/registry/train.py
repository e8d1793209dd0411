"""``tzero train`` for any model of the table: data in, fit, gate, registry (one path).

- local models (``arima``, ``hmm``, ``lstm``, ``lstm_refinement``): qfq daily
  bars of the symbols; one version per ts_code.
- global models (``lstm_shared``): every stock of the universe *as of each
  date* (``model_universe_config``), its static features
  (``stock_static_features``, built here for the range when missing); one
  version keyed by the universe name.
- models that ``require`` others (the refinement) are bound to the current
  versions of those first.

Every run records its universe definition, static-feature fields and
``per_stock_mode`` in ``model_train_run.config_snapshot``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import sessionmaker

from tzero.data.bars import read_bars
from tzero.data.store import MarketStore
from tzero.errors import ModelError, StoreError
from tzero.models import table
from tzero.registry import versions
from tzero.registry.publish import Published, train_and_publish
from tzero.training.executor import Executor

#: Sessions of history read before a global model's first sample (windows, features).
WARMUP_SESSIONS = 130


@dataclass
class UniverseData:
    """A universe's qfq panel, membership matrix and static features over a range."""

    name: str
    panel: pd.DataFrame
    members: pd.DataFrame
    static: pd.DataFrame | None
    definition: dict
    notes: list[str]


def load_universe(Session_: sessionmaker, store: MarketStore, name: str, start=None, end=None,
                  data_dir: Path | None = None, tdx_dir: Path | None = None,
                  with_static: bool = True) -> UniverseData:
    """qfq bars of every stock that is a member of ``name`` on some session of ``[start, end]``.

    The panel starts :data:`WARMUP_SESSIONS` before ``start`` (history for the
    first windows); ``members`` is True where a stock is a member on that date.

    Raises:
        TzeroError: unknown universe (the message lists the known ones).
        StoreError: no bars in the range.
    """
    from tzero.data.universes import get_universe, members_matrix

    with Session_() as s:
        spec = get_universe(s, name)
    all_days = store_sessions(store)
    lo = pd.Timestamp(start) if start else all_days[0]
    hi = pd.Timestamp(end) if end else all_days[-1]
    days = all_days[(all_days >= lo) & (all_days <= hi)]
    if len(days) == 0:
        raise StoreError(f"no stored sessions between {lo.date()} and {hi.date()}")
    res = members_matrix(spec, days, store=store, data_dir=data_dir)
    m = res.matrix.loc[:, res.matrix.any(axis=0)]
    if m.shape[1] == 0:
        raise StoreError(f"universe {name} has no member with bars in {lo.date()}..{hi.date()}")
    first = all_days[max(0, all_days.searchsorted(days[0]) - WARMUP_SESSIONS)]
    panel = read_bars(store, sorted(m.columns), "1d", "qfq", start=first, end=days[-1])
    notes = list(res.notes)
    if res.carried_from is not None:
        notes.append(f"membership file ends {res.carried_from}; carried forward")
    static = _static(Session_, store, sorted(m.columns), days, tdx_dir) if with_static else None
    return UniverseData(name, panel, m, static, {"universe_name": spec.name,
                                                 "description": spec.description,
                                                 "config": spec.config}, notes)


def store_sessions(store: MarketStore) -> pd.DatetimeIndex:
    """The stored sessions (dates of the CSI 300, else the SSE composite, index bars).

    Raises:
        StoreError: no index bars in the store.
    """
    idx = store.query("bars_1d", "ts_code = ?", ["000300.SH"])
    if idx.empty:
        idx = store.query("bars_1d", "ts_code = ?", ["000001.SH"])
    if idx.empty:
        raise StoreError("no index bars (000300.SH / 000001.SH) in the store to date the sessions; "
                         "ingest the TDX folder first (`tzero ingest tdx DIR`)")
    return pd.DatetimeIndex(sorted(pd.to_datetime(idx["trade_time"]).unique()))


def _static_range(Session_: sessionmaker, codes: list[str], start, end) -> pd.DataFrame:
    from sqlalchemy import select

    from tzero.data.appdb import StaticFeatures
    from tzero.data.static_features import STATIC_COLUMNS

    q = select(*(getattr(StaticFeatures, c) for c in STATIC_COLUMNS)).where(
        StaticFeatures.as_of_date >= pd.Timestamp(start).date(),
        StaticFeatures.as_of_date <= pd.Timestamp(end).date())
    with Session_() as s:
        rows = s.execute(q).all()
    df = pd.DataFrame([tuple(r) for r in rows], columns=STATIC_COLUMNS)
    return df.loc[df["ts_code"].isin(codes)].reset_index(drop=True)


def _static(Session_, store, codes, days, tdx_dir) -> pd.DataFrame | None:
    """Static features of ``codes`` at every month end in ``days`` (built and stored when missing).

    Without a TDX folder (industry, shares) none are built and the model
    trains without static covariates (its config snapshot says so).
    """
    from tzero.data import static_features as sf

    month_ends = pd.DatetimeIndex(pd.Series(days).groupby(days.to_period("M")).max().to_numpy())
    have = _static_range(Session_, codes, month_ends[0], month_ends[-1])
    done = pd.DatetimeIndex(pd.to_datetime(have["as_of_date"]).unique()) if len(have) else pd.DatetimeIndex([])
    missing = month_ends.difference(done)
    if len(missing) and tdx_dir is not None and Path(tdx_dir).is_dir():
        built = sf.build_static_features(store, Path(tdx_dir), list(missing))
        if len(built):
            with Session_.begin() as s:
                sf.write_static_features(s, built)
            have = _static_range(Session_, codes, month_ends[0], month_ends[-1])
    if not len(have):
        return None
    have["as_of_date"] = pd.to_datetime(have["as_of_date"])
    return have


def train_model(Session_: sessionmaker, store: MarketStore, name: str, *, symbols: list[str] | None = None,
                universe: str = "CSI_300", fast: bool = True, seed: int = 42, start=None, end=None,
                history: int | None = None, n_jobs: int = 1, max_versions: int = versions.MAX_VERSIONS,
                data_dir: Path | None = None, tdx_dir: Path | None = None,
                progress: Callable[[str, int, int], None] | None = None,
                executor: Executor | None = None, unmet: str = "raise") -> list[Published]:
    """Train model ``name`` and publish it through the gate (see the module docstring).

    Args:
        symbols: local models: the ts_codes (required).
        universe: global models: the universe to train on; models that
            require a global one read its current version under this key.
        fast: the quick config. start, end: the training data range.
        n_jobs, executor: local models: where the per-stock fits run (None: the
            local pool of ``n_jobs`` processes; :mod:`tzero.training.executor`).
        unmet: a required model without a current version: ``raise`` (ModelError) or
            ``record`` (each stock gets a failed run saying so, as a failed fit would:
            what ``tzero train`` does when it trains several models and the gate
            refused the one this model needs).

    Raises:
        ModelError: unknown model, no symbols for a local model, or a required
            model without a current version.
    """
    spec = table.get_spec(name)
    model = spec.make(fast=fast, seed=seed, history=history)
    snap: dict = {"fast": fast, "seed": seed, "data_range": [str(start), str(end)]}
    if spec.scope == "global":
        data = load_universe(Session_, store, universe, start, end, data_dir, tdx_dir)
        snap.update(universe=data.definition, universe_notes=data.notes,
                    static_feature_fields=list(getattr(model.config, "static_fields", ())),
                    static_rows=0 if data.static is None else len(data.static),
                    n_stocks=int(data.members.shape[1]))
        on_epoch: Callable[[int, int], None] | None = (
            (lambda e, n: progress(universe, e, n)) if progress else None)
        return train_and_publish(Session_, model, data.panel, universe=data.members,
                                 fit_kwargs={"static": data.static},
                                 universe_name=universe, config_snapshot=snap,
                                 training_type="fast" if fast else "full",
                                 max_versions=max_versions,
                                 progress=on_epoch)
    if not symbols:
        raise ModelError(f"{name} is fitted per stock: pass --symbols")
    panel = read_bars(store, symbols, "1d", "qfq", start=start, end=end)
    missing = sorted(set(symbols) - set(panel["ts_code"]))
    if missing:
        raise StoreError(f"no daily bars in the store for {missing}; ingest them first")
    if spec.requires:
        deps = {}
        with Session_() as s:
            for req in spec.requires:
                row = versions.current(s, req, universe)
                if row is None:
                    why = (f"{name} needs a current {req} version for {universe}: run "
                           f"`tzero train --universe {universe} --model {req}` first")
                    if unmet == "record":
                        return _unmet(Session_, name, list(symbols), why, snap, fast, panel)
                    raise ModelError(why)
                deps[req] = versions.load_model(row)
                snap[f"{req}_version"] = row.version_id
        model.bind(deps)  # type: ignore[attr-defined]
        # provenance: the versions it is fitted on (serving refuses it once they are replaced)
        model.requires_versions_ = {r: snap[f"{r}_version"] for r in spec.requires}  # type: ignore[attr-defined]
    if hasattr(model.config, "per_stock_mode"):
        snap["per_stock_mode"] = model.config.per_stock_mode
    return train_and_publish(Session_, model, panel, keys=list(symbols), config_snapshot=snap,
                             training_type="fast" if fast else "full", max_versions=max_versions,
                             n_jobs=n_jobs, progress=progress, executor=executor)


def _unmet(Session_: sessionmaker, name: str, keys: list[str], why: str, snap: dict, fast: bool,
           panel: pd.DataFrame) -> list[Published]:
    """A failed training run per stock for a model whose required model has no current
    version (nothing is fitted or published)."""
    from tzero.registry.publish import fail_run, start_run

    out = []
    for key in keys:
        t = panel.loc[panel["ts_code"] == key, "trade_time"]
        ids = start_run(Session_, name, key, "fast" if fast else "full", "manual",
                        t.min().date() if len(t) else None, t.max().date() if len(t) else None, snap)
        fail_run(Session_, ids, key, why, 0.0)
        out.append(Published(model=name, key=key, run_id=ids[0], status="failed", reason=why))
    return out
