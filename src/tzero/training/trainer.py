"""The one trainer for every network (DESIGN.md "Models": one trainer).

A model hands :class:`Trainer` a pure ``nn.Module``, a loss, a dataset, a
sampler and optionally a validation set and metric; the trainer owns the rest:

- **device**: chosen once (:func:`pick_device`: ``cuda`` when available), or
  given; the module is moved there and every batch follows it.
- **seeds**: ``torch.manual_seed(seed)`` (dropout, anything on the global RNG)
  and one seeded CPU :class:`torch.Generator` (:attr:`Trainer.generator`) for
  the augmentation noise, which a sampler may share so that its permutations
  and the noise come from one reproducible stream (:func:`train_dual_head`
  does, to keep the draws of the pre-refactor loop).
- **optimiser and scheduler** (spec 002 §4.1): with ``improved``, AdamW
  (weight decay 0.01) and CosineAnnealingWarmRestarts (T_0 = 50, T_mult = 2,
  eta_min = 1e-5) stepped once per epoch; without it, Adam and no scheduler.
- **gradient clipping** at ``grad_clip`` (L2 norm of all gradients).
- **augmentation** (``improved`` and ``augment``): Gaussian noise of std
  ``noise_std`` plus one uniform scale in ``[scale_low, scale_high]`` per
  sample, applied to ``batch["x"]``.
- **early stopping** with ``patience`` epochs on the validation metric (higher
  is better); without validation data every epoch runs and the score is minus
  the training loss.
- **best weights** restored at the end; with ``checkpoint`` they are also
  saved (``torch.save`` of the ``state_dict``, atomically: temp file + rename)
  each time the score improves.
- **history**: one dict per epoch (``epoch``, ``train_loss``, the validation
  entries, ``score``).

Per-epoch draw order, kept from the pre-refactor loop: the sampler's
permutation first, then per batch the noise and the scales.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

Batch = dict[str, torch.Tensor]
"""One mini-batch: tensors keyed by name (``x`` [B, L, F] and the labels)."""

IMPROVEMENT_EPS = 1e-6
"""A score must beat the best by more than this to count as an improvement."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (spec 002 §4.1 defaults).

    Attributes:
        lr: initial learning rate. epochs: maximum epochs. batch_size: samples per step.
        weight_decay, grad_clip, patience, min_lr, t_0, t_mult: improved-strategy knobs.
        augment, noise_std, scale_low, scale_high: augmentation of inputs.
        reg_loss_type: ``mse|huber|volatility|full``. weight_cls, weight_reg: loss weights.
        improved: use the improved strategy. seed: torch/numpy seed.
    """

    lr: float = 1e-3
    epochs: int = 60
    batch_size: int = 32
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    patience: int = 20
    min_lr: float = 1e-5
    t_0: int = 50
    t_mult: int = 2
    augment: bool = True
    noise_std: float = 0.01
    scale_low: float = 0.98
    scale_high: float = 1.02
    reg_loss_type: str = "full"
    weight_cls: float = 1.0
    weight_reg: float = 1.0
    improved: bool = True
    seed: int = 42


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`: per-epoch history and the best epoch.

    Attributes:
        best_epoch: 0-based epoch whose weights were restored (−1: none improved).
        best_score: its score (validation metric, or minus the training loss).
        epochs_run: epochs trained (fewer than ``epochs`` after early stopping).
        samples_seen: samples in all training batches of all epochs.
        history: one dict per epoch (``epoch``, ``train_loss``, validation entries, ``score``).
    """

    best_epoch: int
    best_score: float
    epochs_run: int
    samples_seen: int
    history: list[dict] = field(default_factory=list)


class TrainData(Protocol):
    """What the trainer needs of a dataset: a size and batches by sample index."""

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray) -> Batch:
        """Tensors of the samples at ``indices`` (``[B]`` int64)."""
        ...


class Sampler(Protocol):
    """An iterable of index batches; each ``iter()`` is one epoch."""

    def __iter__(self) -> Iterator[np.ndarray]: ...


LossFn = Callable[[Any, Batch], torch.Tensor]
"""``loss_fn(module_output, batch) -> scalar tensor``."""
ValMetric = Callable[[nn.Module, Any], "float | Mapping[str, float]"]
"""``val_metric(module, val_data)``: a score (higher is better) or a mapping with ``score``."""


def pick_device() -> torch.device:
    """``cuda`` when available, else CPU (DESIGN.md: device chosen once)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Noise plus a per-sample scale: ``(x + N(0, noise_std)) × U(scale_low, scale_high)``.

    Both are drawn on the CPU generator ``gen`` (seeded, device-independent:
    the same draws on CPU and GPU), noise first, then the scales, and moved to
    ``x``'s device.

    Args:
        x: ``[B, ...]`` float inputs.
        cfg: ``noise_std``, ``scale_low``, ``scale_high``.
        gen: the trainer's CPU generator.

    Returns:
        A new tensor shaped like ``x``.
    """
    noise = (torch.randn(x.shape, generator=gen) * cfg.noise_std).to(x.device)
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    scale = torch.empty(shape).uniform_(cfg.scale_low, cfg.scale_high, generator=gen)
    return (x + noise) * scale.to(x.device)


def _atomic_save(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _as_scores(value: float | Mapping[str, float]) -> dict[str, float]:
    if isinstance(value, Mapping):
        if "score" not in value:
            raise ValueError("a val_metric returning a mapping must include 'score' "
                             f"(higher is better); got keys {sorted(value)}")
        return {k: float(v) for k, v in value.items()}
    return {"score": float(value)}


class Trainer:
    """Trains any ``nn.Module`` on a dataset and a sampler (see module docstring).

    Args:
        config: :class:`TrainConfig` (optimiser, scheduler, clipping, augmentation,
            patience, epochs, seed).
        device: where to train; default :func:`pick_device` (``cuda`` if available).
        checkpoint: file the best ``state_dict`` is saved to at each improvement.

    Attributes:
        generator: the seeded CPU generator (re-seeded at the start of each
            :meth:`fit`); pass it to a sampler to share one random stream.
    """

    def __init__(self, config: TrainConfig, device: torch.device | str | None = None,
                 checkpoint: str | Path | None = None) -> None:
        self.config = config
        self.device = torch.device(device) if device is not None else pick_device()
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.generator = torch.Generator().manual_seed(config.seed)

    def _optimiser(self, module: nn.Module):
        cfg = self.config
        if cfg.improved:
            opt: torch.optim.Optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.lr,
                                                           weight_decay=cfg.weight_decay)
            sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                opt, T_0=cfg.t_0, T_mult=cfg.t_mult, eta_min=cfg.min_lr)
            return opt, sched
        return torch.optim.Adam(module.parameters(), lr=cfg.lr), None

    def _to_device(self, batch: Batch) -> Batch:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _run_epoch(self, module: nn.Module, loss_fn: LossFn, data: TrainData, sampler: Sampler,
                   opt: torch.optim.Optimizer, inputs: Sequence[str]) -> tuple[float, int]:
        """One pass over the sampler's batches; returns (sum of sample losses, samples)."""
        cfg = self.config
        module.train()
        total, seen = 0.0, 0
        for idx in sampler:
            batch = self._to_device(data.batch(idx))
            if cfg.improved and cfg.augment:
                batch["x"] = augment(batch["x"], cfg, self.generator)
            out = module(*(batch[k] for k in inputs))
            loss = loss_fn(out, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        return total, seen

    def _validate(self, module: nn.Module, val_data: Any, val_metric: ValMetric | None) -> dict:
        if val_data is None or val_metric is None:
            return {}
        module.eval()
        with torch.no_grad():
            return _as_scores(val_metric(module, val_data))

    def fit(self, module: nn.Module, loss_fn: LossFn, train_data: TrainData, sampler: Sampler,
            val_data: Any = None, val_metric: ValMetric | None = None,
            on_epoch: Callable[[int, int], None] | None = None, *,
            inputs: Sequence[str] = ("x",)) -> TrainResult:
        """Train ``module`` in place and restore its best epoch.

        Args:
            module: a pure ``nn.Module`` called as ``module(*(batch[k] for k in inputs))``.
            loss_fn: ``loss_fn(module_output, batch) -> scalar tensor`` (mean over the batch).
            train_data: ``len()`` and ``batch(indices) -> dict[str, Tensor]``.
            sampler: yields ``[B]`` int64 index arrays; one ``iter()`` per epoch.
            val_data: anything ``val_metric`` reads; with it (and ``val_metric``)
                the score is the metric and early stopping applies.
            val_metric: ``val_metric(module, val_data)`` called in eval mode under
                ``no_grad``; a float (higher is better) or a mapping holding
                ``score`` (its other entries go into the history).
            on_epoch: progress callback ``(epochs done, max epochs)``.
            inputs: batch keys passed positionally to the module.

        Returns:
            :class:`TrainResult`. ``train_loss`` in the history is the sum of
            batch losses × batch sizes over ``len(train_data)``.

        Raises:
            ValueError: an empty training set, or a metric mapping without ``score``.
        """
        cfg = self.config
        if len(train_data) == 0:
            raise ValueError("no training samples")
        torch.manual_seed(cfg.seed)
        self.generator.manual_seed(cfg.seed)
        module.to(self.device)
        opt, sched = self._optimiser(module)
        early_stop = val_data is not None and val_metric is not None
        res = TrainResult(best_epoch=-1, best_score=-np.inf, epochs_run=0, samples_seen=0)
        best_state, stale = None, 0
        for epoch in range(cfg.epochs):
            total, seen = self._run_epoch(module, loss_fn, train_data, sampler, opt, inputs)
            res.samples_seen += seen
            if sched is not None:
                sched.step()
            row: dict = {"epoch": epoch, "train_loss": total / len(train_data)}
            scores = self._validate(module, val_data, val_metric)
            score = scores.pop("score", -row["train_loss"])
            row.update(scores)
            row["score"] = score
            res.history.append(row)
            res.epochs_run = epoch + 1
            if on_epoch:
                on_epoch(epoch + 1, cfg.epochs)
            if score > res.best_score + IMPROVEMENT_EPS:
                res.best_score, res.best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
                if self.checkpoint is not None:
                    _atomic_save(best_state, self.checkpoint)
            else:
                stale += 1
                if early_stop and stale >= cfg.patience:
                    break
        if best_state is not None:
            module.load_state_dict(best_state)
        return res
