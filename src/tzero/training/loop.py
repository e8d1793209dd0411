"""Training of dual-head sequence models (spec 002 §4.1), through the one trainer.

:func:`train_dual_head` builds the dual-head loss, the validation scores and a
shuffled sampler over in-memory arrays, and hands them to
:class:`tzero.training.trainer.Trainer`, which owns the loop.

Improved strategy: AdamW (weight decay 0.01), CosineAnnealingWarmRestarts
(T_0=50, T_mult=2, eta_min=1e-5) stepped per epoch, gradient clipping at
max_norm 1.0, Gaussian-noise + per-sample scale augmentation, and early
stopping with patience 20 on the validation *volatility match*
``1 − |std(pred) − std(actual)| / std(actual)``; the best epoch's weights are
restored. Without the improved strategy: Adam, no scheduler, no augmentation,
early stopping on validation loss.

Loss = weight_cls × CrossEntropy(direction) + weight_reg × regression loss
(:func:`tzero.training.losses.regression_loss`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from tzero.training.datasets import ArrayData
from tzero.training.losses import regression_loss, volatility_match_score
from tzero.training.samplers import ShuffledSampler
from tzero.training.trainer import Batch, TrainConfig, Trainer, TrainResult, pick_device

__all__ = ["TrainConfig", "TrainResult", "pick_device", "predict_batches", "train_dual_head",
           "dual_head_loss", "dual_head_val_metric"]


def predict_batches(module: nn.Module, X: np.ndarray, batch_size: int = 512,
                    device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run a dual-head module in eval mode.

    Args:
        X: ``[N, T, F]`` float32 inputs.

    Returns:
        ``(probs [N, 2], returns [N, H])`` as numpy (returns in the module's units).
    """
    device = device or next(module.parameters()).device
    module.eval()
    probs, rets = [], []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.as_tensor(X[i : i + batch_size], device=device)
            logits, mag = module(xb)
            probs.append(torch.softmax(logits, dim=-1).cpu().numpy())
            rets.append(mag.cpu().numpy())
    if not probs:
        return np.zeros((0, 2), np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(probs), np.concatenate(rets)


def dual_head_loss(cfg: TrainConfig) -> Callable[[tuple[torch.Tensor, torch.Tensor], Batch],
                                                  torch.Tensor]:
    """``weight_cls × CE(logits, y_dir) + weight_reg × reg(returns, y_ret)`` for the trainer.

    Args:
        cfg: ``weight_cls``, ``weight_reg`` and ``reg_loss_type``.

    Returns:
        ``loss(output, batch)``: output ``(logits [B, 2], returns [B, H])``,
        batch with ``y_dir`` ``[B]`` int64 and ``y_ret`` ``[B, H]``.

    Raises:
        ValueError: unknown ``reg_loss_type``.
    """
    ce, reg = nn.CrossEntropyLoss(), regression_loss(cfg.reg_loss_type)

    def loss(out: tuple[torch.Tensor, torch.Tensor], batch: Batch) -> torch.Tensor:
        logits, mag = out
        return (cfg.weight_cls * ce(logits, batch["y_dir"])
                + cfg.weight_reg * reg(mag, batch["y_ret"]))

    return loss


def dual_head_val_metric(improved: bool) -> Callable[[nn.Module, tuple], dict]:
    """Validation scores of a dual-head module on ``(X, y_dir, y_ret)`` numpy arrays.

    Returns:
        ``metric(module, val) -> {"val_cls_loss", "val_vol_match", "score"}``:
        the classification NLL of the softmax probabilities, the volatility
        match of the return head, and the early-stopping score (the volatility
        match when ``improved``, else minus the classification loss).
    """

    def metric(module: nn.Module, val: tuple) -> dict:
        probs, pred = predict_batches(module, val[0])
        vloss = float(nn.functional.nll_loss(torch.log(torch.as_tensor(probs) + 1e-9),
                                             torch.as_tensor(val[1], dtype=torch.long)))
        vol = volatility_match_score(pred, val[2])
        return {"val_cls_loss": vloss, "val_vol_match": vol,
                "score": vol if improved else -vloss}

    return metric


def train_dual_head(module: nn.Module, X: np.ndarray, y_dir: np.ndarray, y_ret: np.ndarray,
                    cfg: TrainConfig, val: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                    on_epoch: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train a dual-head module in place and restore its best epoch.

    Trains on the module's current device, with a :class:`ShuffledSampler`
    that shares the trainer's generator (one ``randperm`` per epoch, then the
    augmentation draws per batch: the draw order of the pre-refactor loop).

    Args:
        module: maps ``[B, T, F]`` to ``(logits [B, 2], returns [B, H])``.
        X: ``[N, T, F]`` float32; y_dir: ``[N]`` 0/1; y_ret: ``[N, H]`` targets
            in the module's return units.
        cfg: hyper-parameters.
        val: ``(X, y_dir, y_ret)`` for early stopping; without it (or when it
            is empty) the epoch with the lowest training loss is restored.
        on_epoch: progress callback ``(epoch, epochs)``.

    Returns:
        :class:`TrainResult`.

    Raises:
        ValueError: no training samples.
    """
    if len(X) == 0:
        raise ValueError("no training samples")
    device = next(module.parameters()).device
    data = ArrayData({"x": torch.as_tensor(X),
                      "y_dir": torch.as_tensor(y_dir, dtype=torch.long),
                      "y_ret": torch.as_tensor(y_ret, dtype=torch.float32)}, device=device)
    trainer = Trainer(cfg, device=device)
    sampler = ShuffledSampler(len(X), cfg.batch_size, generator=trainer.generator)
    if val is not None and not len(val[0]):
        val = None
    return trainer.fit(module, dual_head_loss(cfg), data, sampler, val_data=val,
                       val_metric=dual_head_val_metric(cfg.improved), on_epoch=on_epoch)
