"""Tests of tzero.training.samplers: coverage per epoch, reproducibility, one date per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tzero.training.samplers import DateBatchSampler, ShuffledSampler


def _epochs(sampler, n: int = 3) -> list[list[np.ndarray]]:
    return [list(sampler) for _ in range(n)]


def test_shuffled_visits_every_sample_once_per_epoch() -> None:
    s = ShuffledSampler(50, 16, seed=1)
    assert len(s) == 4
    for ep in _epochs(s):
        assert [len(b) for b in ep] == [16, 16, 16, 2]
        allidx = np.concatenate(ep)
        assert allidx.dtype == np.int64
        np.testing.assert_array_equal(np.sort(allidx), np.arange(50))


def test_shuffled_drops_a_final_single_sample() -> None:
    s = ShuffledSampler(33, 16, seed=1)
    assert len(s) == 2
    for ep in _epochs(s):
        assert [len(b) for b in ep] == [16, 16]
        assert len(np.unique(np.concatenate(ep))) == 32


def test_shuffled_is_reproducible_and_reshuffles() -> None:
    a, b = _epochs(ShuffledSampler(40, 8, seed=7)), _epochs(ShuffledSampler(40, 8, seed=7))
    for ea, eb in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.concatenate(ea), np.concatenate(eb))
    assert not np.array_equal(np.concatenate(a[0]), np.concatenate(a[1]))
    other = np.concatenate(list(ShuffledSampler(40, 8, seed=8)))
    assert not np.array_equal(np.concatenate(a[0]), other)


def test_shuffled_with_a_shared_generator_matches_randperm() -> None:
    g = torch.Generator().manual_seed(5)
    got = np.concatenate(list(ShuffledSampler(20, 6, generator=g)))
    want = torch.randperm(20, generator=torch.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError):
        ShuffledSampler(10, 0)


def test_date_batches_hold_one_date_and_cover_every_sample() -> None:
    rng = np.random.default_rng(0)
    date_idx = rng.integers(0, 12, 300)
    s = DateBatchSampler(date_idx, seed=3)
    assert len(s) == len(np.unique(date_idx))
    orders = []
    for ep in _epochs(s):
        for b in ep:
            assert len(np.unique(date_idx[b])) == 1
            assert (np.diff(b) > 0).all()
        np.testing.assert_array_equal(np.sort(np.concatenate(ep)), np.arange(300))
        orders.append([int(date_idx[b[0]]) for b in ep])
    assert orders[0] != orders[1]                       # reshuffled each epoch
    fresh = _epochs(DateBatchSampler(date_idx, seed=3))
    again = [[int(date_idx[b[0]]) for b in ep] for ep in fresh]
    assert again == orders


def test_date_batches_in_order_without_shuffle() -> None:
    date_idx = np.array([2, 0, 2, 1, 0])
    s = DateBatchSampler(date_idx, shuffle=False)
    assert [b.tolist() for b in s] == [[1, 4], [3], [0, 2]]
    assert list(DateBatchSampler(np.zeros(0, np.int64))) == []
    with pytest.raises(ValueError, match=r"\[N\]"):
        DateBatchSampler(np.zeros((2, 2)))
