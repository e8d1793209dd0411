"""Meta-labels in the comparison: should a model's top-k entries be filtered? (spec 003 §3)

For a model with a ranking, the primary events are its entries into the
gate book's top-k (:func:`tzero.research.meta.topk_entries`, members only),
each labelled by the triple barrier (:func:`tzero.features.labels.triple_barrier_labels`:
profit-take and stop-loss at ±1 × the 20-session volatility × √10, time
barrier 10 sessions, entry at t+1's close). A LightGBM meta model learns from
features known at t (the primary's score and percentile, past returns,
volatility, volume ratio) whether the profit barrier comes first:

- its out-of-fold AUC (purged, embargoed K-fold, AFML ch. 7) against the
  base rate says whether it knows anything;
- its walk-forward probabilities (fitted on earlier events only) filter the
  book: an entry rated below its fold's base rate is not bought that day;
- the filtered book is judged by the same gates as every row.
"""

from __future__ import annotations

import pandas as pd

from tzero.features.labels import triple_barrier_labels
from tzero.research.meta import event_features, meta_filter, meta_label, topk_entries
from tzero.research.yardstick import Book, measure

PT_SL = (1.0, 1.0)
MAX_HOLD = 10
EMBARGO = 5
FEATURE_SKIP = {"ts_code", "trade_date", "t_entry", "t1", "ret", "width", "barrier", "label",
                "target"}


def meta_book(scores: pd.DataFrame, *, book: Book, close: pd.DataFrame,
              volume: pd.DataFrame | None, members: pd.DataFrame, seed: int = 42,
              **measure_kw) -> tuple[dict, dict]:
    """Meta-label one model's entries, filter its book, measure the filtered book.

    Args:
        scores: the model's ``[session × ts_code]`` scores over the evaluated sessions.
        book: the gate book (its ``topk`` defines the entries).
        close, volume: hfq closes and volumes ``[session × ts_code]`` (whole history).
        members: bool members on the evaluated sessions.
        seed: LightGBM's random state.
        **measure_kw: the rest of :func:`tzero.research.yardstick.measure`'s arguments.

    Returns:
        ``(summary, series)``: ``summary`` = ``auc, auc_forward, base_rate,
        n_events, n_taken, importance`` (top features), ``metrics`` (the
        filtered book, :func:`measure`'s keys) and ``notes``; ``series`` as
        :func:`measure`'s (its ``gate`` is the filtered book).

    Raises:
        ValueError: too few events or a single class (from :func:`meta_label`).
    """
    s = scores.reindex(index=members.index, columns=members.columns).where(members.to_numpy(bool))
    events = topk_entries(s, book.topk)
    lab = triple_barrier_labels(close, events, pt=PT_SL[0], sl=PT_SL[1], max_hold=MAX_HOLD)
    feats = event_features(close, lab, scores=s, volume=volume)
    cols = [c for c in feats.columns if c not in FEATURE_SKIP]
    res = meta_label(feats, cols, embargo=EMBARGO, sessions=close.index, seed=seed)
    filtered = meta_filter(s, res)
    m, ser = measure(filtered, members=members, books=(book,), close=close, **measure_kw)
    top = dict(sorted(res.importance.items(), key=lambda kv: -kv[1])[:6])
    return ({"auc": res.auc, "auc_forward": res.auc_forward, "base_rate": res.base_rate,
             "n_events": res.n_events, "n_taken": int(res.events["take"].sum()),
             "importance": top, "metrics": m, "notes": list(res.notes)}, ser)
