"""Meta-labelling of a primary model's entries with LightGBM (AFML §3.6, ch. 7).

The *primary* model decides the side and the candidates: here a top-k book's
entries (:func:`topk_entries`). The *meta* model learns, from features known
at each decision date, the probability that the trade hits its profit
barrier first (target of :func:`tzero.features.labels.triple_barrier_labels`
``barrier == "pt"``), and so which entries to skip (:func:`meta_filter`).

Its evidence is honest twice over (:func:`tzero.training.purged.purged_kfold`):

* ``prob_oof``: purged, embargoed K-fold out-of-fold probabilities — the
  AFML yardstick of whether the features carry information (``auc``);
* ``prob_fwd``: walk-forward probabilities, each block scored by a model fit
  only on events settled before it; ``take`` compares them with that fold's
  threshold, the base rate of its own training events ("trade when the meta
  model rates the event above the average"), chosen without the test block.
  Only ``prob_fwd``/``take`` may drive a backtest.

Pipeline: scores → :func:`topk_entries` → ``triple_barrier_labels`` →
:func:`event_features` → :func:`meta_label` → :func:`meta_filter` → a top-k
book on the filtered scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score

from tzero.backtest.xs_eval import fallback_features
from tzero.training.purged import purged_kfold

__all__ = ["DEFAULT_PARAMS", "MIN_EVENTS", "MetaResult", "event_features", "meta_filter",
           "meta_label", "topk_entries"]

MIN_EVENTS = 100
"""Fewest labelled events :func:`meta_label` accepts."""
DEFAULT_PARAMS: dict = {"n_estimators": 200, "num_leaves": 15, "learning_rate": 0.05,
                        "min_child_samples": 50, "subsample": 0.8, "subsample_freq": 1,
                        "colsample_bytree": 0.8, "deterministic": True, "force_col_wise": True,
                        "n_jobs": 1, "verbose": -1}
"""A small, deterministic LightGBM (``random_state`` comes from ``seed``)."""


@dataclass
class MetaResult:
    """What :func:`meta_label` learnt and how well it did out of sample.

    Attributes:
        events: the input events (same index and order) plus ``target`` (int
            0/1, profit barrier first), ``prob_oof`` (purged K-fold
            out-of-fold P(target = 1); NaN if its fold was omitted),
            ``prob_fwd`` (walk-forward P, NaN on the first block) and ``take``
            (bool, ``prob_fwd ≥`` its fold's threshold; False where NaN).
        auc: ROC AUC of ``prob_oof`` vs target (NaN with one class).
        auc_forward: ROC AUC of ``prob_fwd`` where defined.
        base_rate: mean target.
        n_events: events used.
        thresholds: per walk-forward fold, the base rate of its training events.
        importance: LightGBM gain importance of a model fit on all events, sums to 1.
        features: the feature columns, in model order.
        notes: caveats met on the way (omitted folds, one-class training sets).
    """

    events: pd.DataFrame
    auc: float
    auc_forward: float
    base_rate: float
    n_events: int
    thresholds: list[float] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _check_wide(frame: pd.DataFrame, name: str) -> None:
    """Raise ``ValueError`` unless ``frame`` has a sorted, unique DatetimeIndex."""
    if not isinstance(frame.index, pd.DatetimeIndex) or not frame.index.is_monotonic_increasing \
            or not frame.index.is_unique:
        raise ValueError(f"{name} must be wide [session × ts_code] with a sorted, unique "
                         "DatetimeIndex: use .sort_index() and drop duplicate dates")


def topk_entries(scores: pd.DataFrame, topk: int) -> pd.DataFrame:
    """The primary events of a top-k book: the sessions a stock *enters* the top k.

    A stock enters on session t when its score ranks among the ``topk``
    highest that session (ties broken by column order) and did not on the
    previous session. Every top-k stock of the first session is an entry.

    Args:
        scores: ``[session × ts_code]`` scores, higher = better; NaN = not scored.
        topk: book size (≥ 1).

    Returns:
        ``ts_code, trade_date`` rows sorted by ``trade_date, ts_code``.

    Raises:
        ValueError: ``topk`` < 1 or ``scores`` without a sorted DatetimeIndex.
    """
    _check_wide(scores, "scores")
    if topk < 1:
        raise ValueError(f"topk must be at least 1, got {topk}")
    top = scores.rank(axis=1, ascending=False, method="first") <= topk   # NaN → False
    entry = top & ~top.shift(1, fill_value=False).astype(bool)
    d, c = np.nonzero(entry.to_numpy())
    out = pd.DataFrame({"ts_code": scores.columns[c], "trade_date": scores.index[d]})
    return out.sort_values(["trade_date", "ts_code"], kind="stable").reset_index(drop=True)


def event_features(close: pd.DataFrame, events: pd.DataFrame, *,
                   scores: pd.DataFrame | None = None,
                   volume: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features of each event known at its decision date t (data ≤ t only).

    ``ret_1 … ret_60``, ``vol_20`` and, with ``volume``, ``volume_ratio_5``
    of :func:`tzero.backtest.xs_eval.fallback_features` (NaN on a suspended
    day or a short history); with ``scores`` also ``score`` (the primary's
    score at t) and ``score_pct`` (its cross-sectional percentile rank that
    session, in (0, 1], 1 = best).

    Args:
        close: hfq closes ``[session × ts_code]``, CNY.
        events: ``ts_code, trade_date`` rows (other columns kept).
        scores: the primary's ``[session × ts_code]`` scores (optional).
        volume: volumes ``[session × ts_code]``, shares (optional).

    Returns:
        The events (same index and order) with the feature columns added
        (an existing column of the same name is replaced); an event whose
        code has no column in ``close`` (or ``scores``) gets NaN features.

    Raises:
        ValueError: ``events`` without ``ts_code``/``trade_date``, or a wide
            frame without a sorted DatetimeIndex.
    """
    missing = {"ts_code", "trade_date"} - set(events.columns)
    if missing:
        raise ValueError(f"events is missing column(s) {sorted(missing)}")
    _check_wide(close, "close")
    codes = pd.Index(events["ts_code"].unique()).intersection(close.columns)
    vol = None if volume is None else volume.reindex(columns=codes)
    feats = fallback_features(close[codes], vol).rename(columns={"trade_time": "trade_date"})
    cols = [c for c in feats.columns if c not in ("ts_code", "trade_date")]
    key = pd.MultiIndex.from_arrays([events["ts_code"].to_numpy(),
                                     pd.DatetimeIndex(pd.to_datetime(events["trade_date"]))])
    out = events.drop(columns=[c for c in [*cols, "score", "score_pct"] if c in events.columns])
    table = feats.set_index(["ts_code", "trade_date"])[cols].reindex(key)
    out[cols] = table.to_numpy()
    if scores is not None:
        _check_wide(scores, "scores")
        for name, wide in (("score", scores), ("score_pct", scores.rank(axis=1, pct=True))):
            out[name] = wide.stack(future_stack=True).swaplevel().reindex(key).to_numpy()
    return out


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC over the finite probabilities; NaN with fewer than two classes."""
    ok = np.isfinite(p)
    if len(np.unique(y[ok])) < 2:
        return float("nan")
    return float(roc_auc_score(y[ok], p[ok]))


def _fit_predict(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                 params: dict, notes: list[str]) -> np.ndarray:
    """P(y = 1) on ``test`` of a model fit on ``train``; a one-class fold predicts its class."""
    if len(np.unique(y[train])) < 2:
        notes.append(f"a training fold of {train.size} events had one class: "
                     f"predicted {y[train][0]} for its {test.size} test events")
        return np.full(test.size, float(y[train][0]))
    model = LGBMClassifier(**params).fit(x[train], y[train])
    # dense input: predict_proba returns an [n, 2] ndarray (typed loosely by lightgbm)
    return np.asarray(model.predict_proba(x[test]))[:, 1]


def _check_events(events: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The binary target of ``events``; raise ``ValueError`` on bad input (see :func:`meta_label`)."""
    if not features:
        raise ValueError("features is empty: name at least one feature column")
    missing = [c for c in ("trade_date", "t1", "barrier", *features) if c not in events.columns]
    if missing:
        raise ValueError(f"events is missing column(s) {missing}: label them with "
                         "triple_barrier_labels and add features with event_features")
    if len(events) < MIN_EVENTS:
        raise ValueError(f"too few events for a meta model: {len(events)} < {MIN_EVENTS}; "
                         "use more sessions, stocks or a larger topk")
    y = (events["barrier"].to_numpy() == "pt").astype(int)
    if y.min() == y.max():
        raise ValueError(f"the target has a single class (all {'' if y[0] else 'not '}"
                         "profit-take): widen or narrow the barriers")
    return y


def meta_label(events: pd.DataFrame, features: list[str], *, n_splits: int = 5,
               embargo: int = 5, sessions: pd.DatetimeIndex | None = None, seed: int = 42,
               params: dict | None = None) -> MetaResult:
    """Fit the meta model: P(profit barrier first | features at t), out of fold and forward.

    Events are ordered by ``trade_date`` (stable) for the folds of
    :func:`tzero.training.purged.purged_kfold` (``t0 = trade_date``,
    ``t1``); purged K-fold gives ``prob_oof``, walk-forward ``prob_fwd``
    and ``take``; see the module docstring and :class:`MetaResult`.

    Args:
        events: :func:`tzero.features.labels.triple_barrier_labels` output
            (``trade_date, t1, barrier``) with the ``features`` columns
            (NaN allowed: LightGBM routes missing values).
        features: feature column names.
        n_splits: folds of both CV schemes.
        embargo: sessions (calendar days without ``sessions``) embargoed after
            each test block.
        sessions: the session calendar of the embargo, e.g. ``close.index``.
        seed: LightGBM ``random_state``.
        params: LightGBM parameters overriding :data:`DEFAULT_PARAMS`.

    Returns:
        :class:`MetaResult`.

    Raises:
        ValueError: missing columns, no features, fewer than
            :data:`MIN_EVENTS` events, or a target with a single class.
    """
    y_in = _check_events(events, features)
    prm = {**DEFAULT_PARAMS, "random_state": seed, **(params or {})}
    order = np.argsort(pd.to_datetime(events["trade_date"]).to_numpy(), kind="stable")
    ev = events.iloc[order]
    y, x = y_in[order], ev[features].to_numpy(dtype=float)
    t0, t1 = ev["trade_date"].to_numpy(), ev["t1"].to_numpy()
    notes: list[str] = []
    oof, fwd = np.full(len(ev), np.nan), np.full(len(ev), np.nan)
    take = np.zeros(len(ev), dtype=bool)
    for tr, te in purged_kfold(t0, t1, n_splits=n_splits, embargo=embargo, sessions=sessions):
        oof[te] = _fit_predict(x, y, tr, te, prm, notes)
    thresholds = []
    fwd_folds = purged_kfold(t0, t1, forward=True, n_splits=n_splits, embargo=embargo,
                             sessions=sessions)
    for tr, te in fwd_folds:
        fwd[te] = _fit_predict(x, y, tr, te, prm, notes)
        thresholds.append(float(y[tr].mean()))
        take[te] = fwd[te] >= thresholds[-1]
    notes.append(f"walk-forward: {len(fwd_folds)} of {n_splits} blocks scored; "
                 f"{int(np.isnan(fwd).sum())} events (the first block) have no prob_fwd")
    if np.isnan(oof).any():
        notes.append(f"{int(np.isnan(oof).sum())} events have no prob_oof (fold omitted: "
                     "no training event left after purging)")
    gain = LGBMClassifier(**prm).fit(x, y).booster_.feature_importance(importance_type="gain")
    total = float(gain.sum())
    importance = {f: (float(g) / total if total > 0 else 0.0)
                  for f, g in zip(features, gain, strict=True)}
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    out = events.copy()
    out["target"], out["prob_oof"], out["prob_fwd"], out["take"] = (
        y[back], oof[back], fwd[back], take[back])
    return MetaResult(events=out, auc=_auc(y, oof), auc_forward=_auc(y, fwd),
                      base_rate=float(y.mean()), n_events=len(ev), thresholds=thresholds,
                      importance=importance, features=list(features), notes=notes)


def meta_filter(scores: pd.DataFrame, result: MetaResult) -> pd.DataFrame:
    """The scores with every entry the meta model rejects blanked on its decision date.

    For each event of ``result.events`` with a finite ``prob_fwd`` and
    ``take == False``, the score of ``(trade_date, ts_code)`` becomes NaN, so a
    top-k book does not buy it that session (it may still enter on a later
    one). Events without ``prob_fwd`` (the first walk-forward block: no model
    trained before them) are left as they are, and so are events whose date
    or code is not in ``scores``. Only the walk-forward decision is used: the
    out-of-fold ``prob_oof`` saw later events and would leak into a backtest.

    Args:
        scores: the primary's ``[session × ts_code]`` scores.
        result: :func:`meta_label` output on entries of these scores.

    Returns:
        A filtered copy of ``scores``.
    """
    out = scores.copy()
    ev = result.events
    drop = ev[np.isfinite(ev["prob_fwd"].to_numpy(dtype=float)) & ~ev["take"].astype(bool)]
    rows = out.index.get_indexer(pd.DatetimeIndex(pd.to_datetime(drop["trade_date"])))
    cols = out.columns.get_indexer(drop["ts_code"])
    ok = (rows >= 0) & (cols >= 0)
    values = out.to_numpy(dtype=float, copy=True)
    values[rows[ok], cols[ok]] = np.nan
    return pd.DataFrame(values, index=out.index, columns=out.columns)
