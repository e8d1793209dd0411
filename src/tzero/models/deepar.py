"""DeepAR over a universe (Salinas et al. 2020; spec 000 §3.5, §5.1 第二层).

Network: :class:`tzero.models.nets.deepar.DeepArNet` — an LSTM encoder over
each stock's window conditioned on static covariates (symbol and the
``stock_static_features`` buckets), then an autoregressive decoder over the 5
future sessions emitting a Student-t (or Gaussian) likelihood per step,
trained by negative log-likelihood (teacher forcing) next to the shared
direction and rank heads. Forecasts come from ``n_samples`` sample paths:
mean, per-step std, P(up) and the q10 … q90 quantiles of the cumulative
return; the holdout reports the CRPS of the 5-session return.

Its role in the product: rank holdings and candidates by expected return
and risk (``score`` = expected 5-session return; the Signal's
``suggested_position_change`` and ``tzero rank`` read it). Pipeline, labels,
splits and serving: :mod:`tzero.models.global_net`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, cast

import numpy as np
import torch
from torch import nn

from tzero.models.global_net import (
    NET_INPUTS,
    GlobalNetConfig,
    GlobalNetForecaster,
    _batches,
    _infer,
)
from tzero.models.nets.deepar import DeepArNet, crps_from_samples, sample_summary
from tzero.training.datasets import SeriesArrays
from tzero.training.trainer import TrainConfig


@dataclass(frozen=True)
class DeepArConfig(GlobalNetConfig):
    """Configuration of :class:`DeepArForecaster` (shared fields: :class:`GlobalNetConfig`).

    Attributes:
        hidden_size, num_layers: the encoder/decoder LSTMs.
        likelihood: ``studentt`` or ``gaussian``.
        n_samples: sample paths per forecast (seeded by ``train.seed``).
    """

    hidden_size: int = 64
    num_layers: int = 2
    likelihood: str = "studentt"
    n_samples: int = 200
    weight_reg: float = 0.0          # the likelihood trains the returns


class DeepArForecaster(GlobalNetForecaster):
    """Universe-level DeepAR with sample-path forecasts (see the module docstring)."""

    name: ClassVar[str] = "deepar"
    probabilistic: ClassVar[bool] = True
    config_cls: ClassVar[type[GlobalNetConfig]] = DeepArConfig
    train_inputs: ClassVar[tuple[str, ...]] = (*NET_INPUTS, "y_ret")

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> DeepArConfig:
        """Hidden 64 × 2 layers, 200 paths; ``fast``: hidden 16, 100 paths, 500 sessions,
        at most 4 epochs."""
        if fast:
            return DeepArConfig(hidden_size=16, n_samples=100, history=500, train=TrainConfig(
                lr=2e-3, epochs=4, patience=2, augment=False, reg_loss_type="mse", seed=seed))
        return DeepArConfig(train=replace(DeepArConfig().train, seed=seed))

    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        c = self.config
        return DeepArNet(n_features=n_features, n_symbols=n_symbols, static_levels=static_levels,
                         horizon=c.horizon, hidden_size=c.hidden_size, num_layers=c.num_layers,
                         dropout=c.dropout, likelihood=c.likelihood, embed_dim=c.embed_dim)

    def _outputs(self, ds: SeriesArrays) -> dict[str, np.ndarray]:
        """The mean path's outputs plus sample-path summaries (decimal) and the CRPS.

        Paths use common random numbers seeded by ``train.seed`` (the same
        standard draws for every stock), so a stock's forecast does not depend
        on the batch it is in and the same model gives the same forecast.
        """
        out = _infer(self.net_, ds)
        seed = self.config.train.seed
        gen = torch.Generator()
        keys = ("mean", "cum_mean", "std", "prob_up", "q", "crps")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        pos = []
        have_y = "y_ret" in ds.labels
        net = cast(DeepArNet, self.net_)  # built by _build_net above
        self.net_.eval()
        with torch.no_grad():
            for idx in _batches(self.net_, ds, 2048):
                b = ds.batch(idx)
                s = net.sample(b["x"], b["symbol_id"], b["static_id"],
                               self.config.n_samples, generator=gen.manual_seed(seed),
                               common_noise=True)                      # [S, B, H] percent
                summ = sample_summary(s)
                parts["mean"].append((summ["ret_mean"] / 100).numpy())
                parts["cum_mean"].append(summ["cum_mean"].numpy())
                parts["std"].append((s.std(0, correction=0) / 100).numpy())
                parts["prob_up"].append(summ["p_up"].numpy())
                parts["q"].append(summ["cum_quantiles"].numpy())
                if have_y:
                    cum_s = torch.prod(1 + s / 100, dim=-1) - 1                  # [S, B]
                    y = torch.prod(1 + b["y_ret"].to(s.dtype), dim=-1) - 1       # [B]
                    parts["crps"].append(crps_from_samples(cum_s, y).numpy())
                pos.append(idx)
        if not pos:
            return out
        order = np.argsort(np.concatenate(pos), kind="stable")
        for k, v in parts.items():
            if v:
                out[k] = np.concatenate(v).astype(np.float64)[order]
        return out
