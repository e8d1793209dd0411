"""Samplers for :class:`tzero.training.trainer.Trainer`: index batches per epoch.

A sampler is an iterable; each ``iter()`` is one epoch and yields ``[B]``
int64 arrays of sample indices into a dataset.

- :class:`ShuffledSampler`: a seeded permutation per epoch cut into
  mini-batches (the pattern of the spec-002 loop: a final batch of fewer than
  2 samples is dropped).
- :class:`DateBatchSampler`: one batch = every sample of one session, the
  sessions in a seeded shuffled order per epoch (the pattern of Qlib's
  ``DailyBatchSampler`` in its GATs/HIST code): cross-sectional losses and
  models see the whole universe of a date at once.

Both draw from a :class:`torch.Generator`: their own, seeded with ``seed``
when constructed (so a fresh sampler with the same seed yields the same epochs
in the same order), or a shared one passed as ``generator`` (the trainer's, so
permutations and augmentation noise come from one stream).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

MIN_BATCH = 2
"""Batches smaller than this are dropped by :class:`ShuffledSampler` (a single
sample has no spread for the volatility terms of the spec-002 loss)."""


def _generator(seed: int, generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(int(seed))


class ShuffledSampler:
    """Seeded shuffled mini-batches over ``n`` samples.

    Args:
        n: number of samples.
        batch_size: samples per batch.
        seed: seed of the sampler's own generator (ignored with ``generator``).
        generator: a shared CPU generator to draw from instead.
        min_batch: batches smaller than this (only the last one can be) are dropped.

    Raises:
        ValueError: ``n < 0`` or ``batch_size < 1``.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0,
                 generator: torch.Generator | None = None, min_batch: int = MIN_BATCH) -> None:
        if n < 0 or batch_size < 1:
            raise ValueError(f"need n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}")
        self.n, self.batch_size, self.min_batch = int(n), int(batch_size), int(min_batch)
        self.generator = _generator(seed, generator)

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest >= self.min_batch else 0)

    def __iter__(self) -> Iterator[np.ndarray]:
        """One epoch: ``torch.randperm(n)`` cut into ``batch_size`` slices (``[B]`` int64)."""
        perm = torch.randperm(self.n, generator=self.generator).numpy()
        for i in range(0, self.n, self.batch_size):
            idx = perm[i : i + self.batch_size]
            if len(idx) >= self.min_batch:
                yield idx


class DateBatchSampler:
    """One batch per session: all samples whose window ends on that date.

    Args:
        date_idx: ``[N]`` integer session index of each sample (e.g.
            :meth:`tzero.training.datasets.SeriesArrays.date_idx`).
        seed: seed of the sampler's own generator (ignored with ``generator``).
        shuffle: visit the dates in a seeded random order each epoch (else ascending).
        generator: a shared CPU generator to draw from instead.

    Within a batch the samples are in ascending index order.

    Raises:
        ValueError: ``date_idx`` is not one-dimensional.
    """

    def __init__(self, date_idx: np.ndarray, seed: int = 0, shuffle: bool = True,
                 generator: torch.Generator | None = None) -> None:
        date_idx = np.asarray(date_idx)
        if date_idx.ndim != 1:
            raise ValueError(f"date_idx must be [N], got shape {date_idx.shape}")
        order = np.argsort(date_idx, kind="stable")
        self.dates, starts = np.unique(date_idx[order], return_index=True)
        self._groups = np.split(order.astype(np.int64), starts[1:]) if len(order) else []
        self.shuffle = shuffle
        self.generator = _generator(seed, generator)

    def __len__(self) -> int:
        """Batches (dates) per epoch."""
        return len(self._groups)

    def __iter__(self) -> Iterator[np.ndarray]:
        """One epoch: the samples of each date, dates shuffled when ``shuffle``."""
        if self.shuffle:
            order = torch.randperm(len(self._groups), generator=self.generator).numpy()
        else:
            order = np.arange(len(self._groups))
        for g in order:
            yield self._groups[g]
