"""Tests of tzero.training.trainer: the one loop for any module (CPU, a few steps)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tzero.training.datasets import ArrayData
from tzero.training.loop import train_dual_head
from tzero.training.samplers import ShuffledSampler
from tzero.training.trainer import TrainConfig, Trainer, augment, pick_device

CFG = TrainConfig(lr=0.05, epochs=6, batch_size=16, patience=2, seed=3, augment=False)


def _regression(n: int = 64, seed: int = 0) -> ArrayData:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4, 3)).astype(np.float32)
    y = (x[:, -1, :] @ np.array([1.0, -2.0, 0.5], np.float32)).astype(np.float32)
    return ArrayData({"x": x, "y": y})


class _Last(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, -1]).squeeze(-1)        # [B, T, F] -> [B]


def _mse(out: torch.Tensor, batch: dict) -> torch.Tensor:
    return nn.functional.mse_loss(out, batch["y"])


def _fit(cfg=CFG, **kw):
    torch.manual_seed(0)
    net = _Last()
    data = kw.pop("data", None) or _regression()
    trainer = Trainer(cfg, device="cpu", checkpoint=kw.pop("checkpoint", None))
    sampler = ShuffledSampler(len(data), cfg.batch_size, seed=cfg.seed)
    res = trainer.fit(net, _mse, data, sampler, **kw)
    return net, res


def test_fit_learns_and_records_history() -> None:
    net, res = _fit()
    assert res.epochs_run == 6 and len(res.history) == 6
    assert res.samples_seen == 6 * 64
    losses = [r["train_loss"] for r in res.history]
    assert losses[-1] < losses[0] / 2
    assert all(r["score"] == -r["train_loss"] for r in res.history)
    assert res.best_epoch == int(np.argmin(losses))


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, _ = _fit()
    b, _ = _fit()
    c, _ = _fit(replace(CFG, seed=4))
    torch.testing.assert_close(a.state_dict(), b.state_dict(), rtol=0, atol=0)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_early_stopping_restores_best_and_checkpoints(tmp_path: Path) -> None:
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.9])
    seen: list[dict] = []

    def metric(module: nn.Module, val) -> dict:
        assert not module.training and not torch.is_grad_enabled()
        seen.append({k: v.clone() for k, v in module.state_dict().items()})
        return {"score": next(scores), "extra": 1.0}

    ckpt = tmp_path / "ck" / "best.pt"
    epochs: list[tuple[int, int]] = []
    net, res = _fit(val_data=object(), val_metric=metric, checkpoint=ckpt,
                    on_epoch=lambda e, n: epochs.append((e, n)))
    assert res.epochs_run == 4 and res.best_epoch == 1 and res.best_score == 0.5
    assert epochs == [(1, 6), (2, 6), (3, 6), (4, 6)]
    assert res.history[1]["extra"] == 1.0 and list(res.history[1])[-1] == "score"
    torch.testing.assert_close(net.state_dict(), seen[1])
    torch.testing.assert_close(torch.load(ckpt), seen[1])
    assert [p.name for p in ckpt.parent.iterdir()] == ["best.pt"]


def test_float_metric_and_bad_mapping() -> None:
    _, res = _fit(val_data=1, val_metric=lambda m, v: 0.25)
    assert res.best_epoch == 0 and res.epochs_run == 3
    with pytest.raises(ValueError, match="score"):
        _fit(val_data=1, val_metric=lambda m, v: {"loss": 1.0})


def test_empty_training_set_raises() -> None:
    with pytest.raises(ValueError, match="no training samples"):
        Trainer(CFG, device="cpu").fit(_Last(), _mse, ArrayData({"x": np.zeros((0, 2, 3))}),
                                       ShuffledSampler(0, 4))


def test_several_inputs_reach_the_module() -> None:
    class WithId(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(4, 3)
            self.fc = nn.Linear(3, 1)

        def forward(self, x: torch.Tensor, sid: torch.Tensor) -> torch.Tensor:
            return self.fc(x[:, -1] + self.emb(sid)).squeeze(-1)   # [B, T, F], [B] -> [B]

    data = _regression()
    data = ArrayData({**data.tensors, "sid": torch.arange(64) % 4})
    net = WithId()
    before = net.emb.weight.detach().clone()
    Trainer(CFG, device="cpu").fit(net, _mse, data, ShuffledSampler(64, 16), inputs=("x", "sid"))
    assert not torch.equal(before, net.emb.weight)


def test_augment_draws_noise_then_scale_from_the_generator() -> None:
    cfg = TrainConfig(noise_std=0.1, scale_low=0.5, scale_high=0.6)
    x = torch.ones(3, 4, 2)
    g = torch.Generator().manual_seed(1)
    out = augment(x, cfg, g)
    g2 = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g2) * 0.1
    scale = torch.empty(3, 1, 1).uniform_(0.5, 0.6, generator=g2)
    torch.testing.assert_close(out, (x + noise) * scale)
    assert augment(torch.ones(5, 2), cfg, g).shape == (5, 2)


def test_device_is_chosen_once() -> None:
    assert Trainer(CFG).device == pick_device()
    assert Trainer(CFG, device="cpu").device.type == "cpu"


def test_train_dual_head_treats_an_empty_validation_set_as_none() -> None:
    from tzero.models.lstm_nets import build_net

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5, 3)).astype(np.float32)
    yr = rng.standard_normal((20, 2)).astype(np.float32)
    yd = (yr.sum(1) > 0).astype(np.int64)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=1)
    empty = (X[:0], yd[:0], yr[:0])
    runs = []
    for val in (None, empty):
        torch.manual_seed(0)
        net = build_net("basic", 3, 4, 2)
        runs.append((train_dual_head(net, X, yd, yr, cfg, val), net))
    assert runs[0][0].history == runs[1][0].history
    with pytest.raises(ValueError, match="no training samples"):
        train_dual_head(build_net("basic", 3, 4, 2), X[:0], yd[:0], yr[:0], cfg)
