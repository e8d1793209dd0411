"""Regression losses of spec 002 §4.3 for the 5-step return head.

Targets and predictions are ``[B, H]`` returns in percent (see
:data:`tzero.models.lstm.RETURN_SCALE`).

- ``mse``: ``nn.MSELoss`` (tends to over-smooth the forecast).
- ``huber``: ``nn.HuberLoss(delta=1.0)``.
- ``volatility``: MSE + 0.2 × relu(0.7 − std(pred)/std(target)) — penalises a
  forecast whose spread is below 70% of the target's.
- ``full``: MSE + 0.35 × overall volatility match + 0.15 × per-step volatility
  match + 0.1 × direction agreement + 0.1 × within-sequence direction
  + 0.05 × quantile (pinball) loss.

Term definitions (the spec names them; these are the exact formulas):
volatility match = |std(pred) − std(target)| / (std(target) + ε);
per-step match = mean over steps of the same on each column;
direction agreement = (1 − mean(tanh(pred) · sign(target))) / 2;
within-sequence direction = the same on first differences along the horizon;
quantile = mean pinball loss of the point forecast at q ∈ {0.1, 0.5, 0.9}.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

EPS = 1e-6
FULL_WEIGHTS = {"vol": 0.35, "step_vol": 0.15, "direction": 0.1, "seq_direction": 0.1, "quantile": 0.05}
VOL_MIN_RATIO = 0.7
VOL_PENALTY = 0.2
QUANTILES = (0.1, 0.5, 0.9)
LOSS_KINDS = ("mse", "huber", "volatility", "full")


def _vol_match(pred: torch.Tensor, target: torch.Tensor, dim=None) -> torch.Tensor:
    sp = pred.std(dim=dim, unbiased=False) if dim is not None else pred.std(unbiased=False)
    st = target.std(dim=dim, unbiased=False) if dim is not None else target.std(unbiased=False)
    return ((sp - st).abs() / (st + EPS)).mean()


def _direction(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (1.0 - (torch.tanh(pred) * torch.sign(target)).mean()) / 2.0


def _pinball(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    err = target - pred
    return torch.stack([torch.maximum(q * err, (q - 1) * err).mean() for q in QUANTILES]).mean()


def volatility_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE plus a penalty when the forecast's spread is below 70% of the target's."""
    ratio = pred.std(unbiased=False) / (target.std(unbiased=False) + EPS)
    return nn.functional.mse_loss(pred, target) + VOL_PENALTY * torch.relu(VOL_MIN_RATIO - ratio)


def full_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The improved loss of spec 002 §4.3 (see module docstring for each term)."""
    w = FULL_WEIGHTS
    loss = nn.functional.mse_loss(pred, target)
    loss = loss + w["vol"] * _vol_match(pred, target)
    loss = loss + w["step_vol"] * _vol_match(pred, target, dim=0)
    loss = loss + w["direction"] * _direction(pred, target)
    if pred.shape[1] > 1:
        loss = loss + w["seq_direction"] * _direction(pred.diff(dim=1), target.diff(dim=1))
    return loss + w["quantile"] * _pinball(pred, target)


def regression_loss(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function for ``kind`` in :data:`LOSS_KINDS`.

    Raises:
        ValueError: unknown kind.
    """
    if kind == "mse":
        return nn.MSELoss()
    if kind == "huber":
        return nn.HuberLoss(delta=1.0)
    if kind == "volatility":
        return volatility_loss
    if kind == "full":
        return full_loss
    raise ValueError(f"reg_loss_type must be one of {LOSS_KINDS}, got {kind!r}")


def volatility_match_score(pred, target) -> float:
    """Early-stopping metric of spec 002: 1 − |std(pred) − std(actual)| / std(actual)."""
    sp, st = float(pred.std()), float(target.std())
    return 1.0 - abs(sp - st) / (st + EPS)


def pinball(pred: torch.Tensor, target: torch.Tensor, quantiles: Sequence[float]) -> torch.Tensor:
    """Mean pinball (quantile) loss: ``pred [B, H, Q]`` at levels ``quantiles`` (``Q``) against
    ``target [B, H]`` (Koenker & Bassett 1978)."""
    q = torch.as_tensor(quantiles, dtype=pred.dtype, device=pred.device)   # [Q]
    diff = target.unsqueeze(-1) - pred                                     # [B, H, Q]
    return torch.maximum(q * diff, (q - 1) * diff).mean()
