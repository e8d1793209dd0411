"""Purged and embargoed K-fold splits of events with overlapping labels (AFML ch. 7).

An event's label is only known at its settle date ``t1`` (e.g. the touch date
of :func:`tzero.features.labels.triple_barrier_labels`), so it spans
``[t0, t1]``. Plain K-fold trains on events whose labels overlap the test
block in time, i.e. on the test block's own future returns; this module
removes them (AFML §7.4.1 *purging*, snippet 7.1 ``getTrainTimes``) and,
after the test block, also the events starting within ``embargo`` sessions
of its end (§7.4.2 *embargo*, snippet 7.2: serial correlation of features
and returns leaks the test block into the events just after it).

Conventions:

* Test folds are ``n_splits`` contiguous blocks of events in ``t0`` order
  (:func:`numpy.array_split` of the positions; block sizes differ by ≤ 1).
  The block's span is ``[min t0, max t1]`` over its events.
* Overlap is on closed intervals: an event settling on the first test day
  or starting on the block's last settle day is purged.
* The embargo counts sessions of ``sessions`` when given (``embargo`` rows
  after the last session ≤ the block's end; past the last session, every
  later event is embargoed), otherwise calendar days.
* ``forward=True`` (walk-forward): training only on events settled strictly
  before the test block's first ``t0``. The first block has none and is
  omitted, so the list holds at most ``n_splits − 1`` folds.
* In both modes a fold whose training set is empty is omitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["purged_kfold"]


def _as_times(x, name: str) -> pd.DatetimeIndex:
    """Timestamps of ``x`` as a DatetimeIndex; raise ``ValueError`` naming ``name`` on NaT."""
    out = pd.DatetimeIndex(pd.to_datetime(np.asarray(x)))
    if out.hasnans:
        raise ValueError(f"{name} has missing timestamps (NaT): drop those events first")
    return out


def _embargo_end(end: pd.Timestamp, embargo: int, sessions: pd.DatetimeIndex | None) -> pd.Timestamp:
    """Last start date embargoed after a test block ending at ``end``."""
    if embargo == 0:
        return end
    if sessions is None:
        return end + pd.Timedelta(days=embargo)
    pos = int(sessions.searchsorted(end, side="right")) - 1 + embargo
    return sessions[pos] if pos < len(sessions) else pd.Timestamp.max


def _check(t0: pd.DatetimeIndex, t1: pd.DatetimeIndex, n_splits: int, embargo: int,
           sessions: pd.DatetimeIndex | None) -> None:
    """Raise ``ValueError`` on bad arguments of :func:`purged_kfold`."""
    if len(t0) != len(t1):
        raise ValueError(f"t0 and t1 must have one entry per event: got {len(t0)} and {len(t1)}")
    if not t0.is_monotonic_increasing:
        raise ValueError("t0 must be sorted ascending: sort the events by their start date")
    if (t1 < t0).any():
        raise ValueError("t1 must not precede t0: an event settles on or after its start")
    if not 2 <= n_splits <= len(t0):
        raise ValueError(f"n_splits must be between 2 and the number of events ({len(t0)}), "
                         f"got {n_splits}")
    if embargo < 0:
        raise ValueError(f"embargo must be ≥ 0 sessions, got {embargo}")
    if sessions is not None and not sessions.is_monotonic_increasing:
        raise ValueError("sessions must be sorted ascending")


def purged_kfold(t0, t1, *, n_splits: int = 5, embargo: int = 0,
                 sessions: pd.DatetimeIndex | None = None,
                 forward: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test positions of purged (and embargoed) K-fold or walk-forward CV (AFML §7.4).

    See the module docstring for blocks, overlap, embargo units and omitted folds.

    Args:
        t0: ``[E]`` event start (decision) dates, sorted ascending; anything
            :func:`pandas.to_datetime` reads.
        t1: ``[E]`` event end (label settle) dates, ``t1 ≥ t0``.
        n_splits: test blocks (2 … E).
        embargo: sessions (or calendar days without ``sessions``) after a test
            block's last ``t1`` whose starting events are left out of training.
        sessions: the session calendar the embargo is counted on.
        forward: walk-forward: train only on events settled before the block.

    Returns:
        ``[(train_idx, test_idx), …]`` int64 position arrays in block order;
        folds with no training event are omitted.

    Raises:
        ValueError: lengths differ, ``t0`` unsorted, ``t1 < t0``, NaT,
            ``n_splits`` outside 2 … E, ``embargo`` < 0 or unsorted ``sessions``.
    """
    t0i, t1i = _as_times(t0, "t0"), _as_times(t1, "t1")
    if sessions is not None:
        sessions = pd.DatetimeIndex(sessions)
    _check(t0i, t1i, n_splits, embargo, sessions)
    a, b = t0i.to_numpy(), t1i.to_numpy()
    folds = []
    for test in np.array_split(np.arange(len(a), dtype=np.int64), n_splits):
        start, end = a[test].min(), b[test].max()
        before = b < start
        if forward:
            keep = before
        else:
            stop = np.datetime64(_embargo_end(pd.Timestamp(end), embargo, sessions))
            keep = before | (a > max(end, stop))
        train = np.flatnonzero(keep).astype(np.int64)
        if train.size:
            folds.append((train, test))
    return folds
