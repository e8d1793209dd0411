"""Purged/embargoed K-fold: no overlap, the embargo by hand, walk-forward, and the leak it stops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from tzero.training.purged import purged_kfold

SESSIONS = pd.bdate_range("2022-01-03", periods=400)


def _events(n: int = 200, hold: int = 10, seed: int = 0) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """One event a session, each settling 1..hold sessions later."""
    rng = np.random.default_rng(seed)
    pos = np.arange(n)
    return SESSIONS[pos], SESSIONS[pos + rng.integers(1, hold + 1, size=n)]


@pytest.mark.parametrize("embargo", [0, 3])
def test_no_training_event_overlaps_its_test_block(embargo) -> None:
    t0, t1 = _events()
    folds = purged_kfold(t0, t1, n_splits=5, embargo=embargo, sessions=SESSIONS)
    assert len(folds) == 5
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(tested, np.arange(len(t0)))                 # every event tested once
    for tr, te in folds:
        lo, hi = t0[te].min(), t1[te].max()
        assert not ((t0[tr] <= hi) & (t1[tr] >= lo)).any()
        assert np.intersect1d(tr, te).size == 0
        assert tr.dtype == np.int64 and te.dtype == np.int64


def test_embargo_removes_the_next_sessions_by_hand() -> None:
    """Ten one-session events (t0 = s_i, t1 = s_{i+1}); blocks {0,1} {2,3} {4,5} {6,7} {8,9}.

    Test block {2,3} spans [s2, s4]. Purged: event 1 (t1 = s2) and event 4
    (t0 = s4). Embargo 2 sessions after s4 → s6: events 5 and 6 go too.
    """
    t0, t1 = SESSIONS[:10], SESSIONS[1:11]
    folds = purged_kfold(t0, t1, n_splits=5, embargo=2, sessions=SESSIONS)
    tr, te = folds[1]
    assert te.tolist() == [2, 3]
    assert tr.tolist() == [0, 7, 8, 9]
    tr0, _ = purged_kfold(t0, t1, n_splits=5, embargo=0, sessions=SESSIONS)[1]
    assert tr0.tolist() == [0, 5, 6, 7, 8, 9]


def test_embargo_in_calendar_days_without_sessions() -> None:
    """s4 = Fri 2022-01-07; 3 calendar days → Mon 01-10 (s5) embargoed, Tue 01-11 (s6) kept."""
    t0, t1 = SESSIONS[:10], SESSIONS[1:11]
    tr, _ = purged_kfold(t0, t1, n_splits=5, embargo=3)[1]
    assert tr.tolist() == [0, 6, 7, 8, 9]


def test_embargo_past_the_calendar_end_drops_everything_after() -> None:
    t0, t1 = SESSIONS[:10], SESSIONS[1:11]
    folds = purged_kfold(t0, t1, n_splits=5, embargo=50, sessions=SESSIONS[:12])
    by_block = {int(te[0]): tr.tolist() for tr, te in folds}
    assert 0 not in by_block                           # no event left to train on: omitted
    assert by_block[2] == [0] and by_block[8] == [0, 1, 2, 3, 4, 5, 6]


def test_forward_never_trains_on_later_events() -> None:
    t0, t1 = _events()
    folds = purged_kfold(t0, t1, n_splits=5, embargo=5, sessions=SESSIONS, forward=True)
    assert len(folds) == 4                                             # the first block omitted
    blocks = np.array_split(np.arange(len(t0)), 5)
    for (tr, te), block in zip(folds, blocks[1:], strict=True):
        assert np.array_equal(te, block)
        assert (t1[tr] < t0[te].min()).all()
        assert tr.max() < te.min()


def test_rejects_bad_inputs() -> None:
    t0, t1 = _events(20)
    with pytest.raises(ValueError, match="sorted"):
        purged_kfold(t0[::-1], t1[::-1])
    with pytest.raises(ValueError, match="one entry per event"):
        purged_kfold(t0, t1[:-1])
    with pytest.raises(ValueError, match="precede"):
        purged_kfold(t0, t0 - pd.Timedelta(days=1))
    with pytest.raises(ValueError, match="n_splits"):
        purged_kfold(t0, t1, n_splits=1)
    with pytest.raises(ValueError, match="embargo"):
        purged_kfold(t0, t1, embargo=-1)


def test_plain_kfold_leaks_where_purging_does_not() -> None:
    """Overlapping 20-session labels of pure noise: a 1-nearest-time 'model' memorises them.

    The label of event i is the sum of noise over sessions i..i+19, and its one
    feature is its own time. Neighbours in time share 19 of 20 noise terms, so
    a model fit on neighbours predicts the test label — but only because the
    training labels contain the test period. Plain (shuffled) K-fold shows a
    strong out-of-sample fit; purged K-fold shows none.
    """
    rng = np.random.default_rng(7)
    n, hold = 380, 20
    noise = rng.normal(size=n + hold)
    y = np.convolve(noise, np.ones(hold), mode="valid")[:n]           # y_i = Σ noise[i : i+20]
    x = np.arange(n, dtype=float)[:, None]
    t0, t1 = SESSIONS[:n], SESSIONS[hold - 1: n + hold - 1]

    def oos_r2(folds) -> float:
        pred = np.full(n, np.nan)
        for tr, te in folds:
            near = tr[np.abs(x[tr, 0][None, :] - x[te, 0][:, None]).argmin(axis=1)]
            pred[te] = y[near]                                         # 1-NN in time
        ok = np.isfinite(pred)
        return 1 - np.sum((y[ok] - pred[ok]) ** 2) / np.sum((y[ok] - y[ok].mean()) ** 2)

    plain = list(KFold(5, shuffle=True, random_state=0).split(x))
    purged = purged_kfold(t0, t1, n_splits=5, embargo=hold, sessions=SESSIONS)
    for tr, te in plain:                                               # the leak exists
        lo, hi = t0[te].min(), t1[te].max()
        assert ((t0[tr] <= hi) & (t1[tr] >= lo)).any()
    assert oos_r2(plain) > 0.8
    assert oos_r2(purged) < 0.3
