"""FinMamba over a universe (Hu et al. 2025, arXiv 2502.06707).

Network: :class:`tzero.models.nets.finmamba.FinMambaNet` — a market-aware
graph of the session's stocks (positive correlations of their window
returns, masked by industry, pruned to the top-k edges per stock, mixed with
a dense attention graph by a learned gate) passes messages between stocks at
every time step, then multi-level Mamba blocks (selective state-space; the
pure-PyTorch ``mambapy`` implementation, so it runs on CPU and on CUDA) read
each stock's sequence at full and half resolution. A batch is one session
(``cross_sectional``). Pipeline, labels, splits and serving:
:mod:`tzero.models.global_net`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from torch import nn

from tzero.features.cross_section import ALPHA_CHANNELS
from tzero.models.global_net import GlobalNetConfig, GlobalNetForecaster
from tzero.models.nets.finmamba import FinMambaNet
from tzero.training.trainer import TrainConfig

#: The input channel whose first differences are the daily log returns of the graph.
RETURN_CHANNEL = ALPHA_CHANNELS.index("log_close")


@dataclass(frozen=True)
class FinMambaConfig(GlobalNetConfig):
    """Configuration of :class:`FinMambaForecaster` (shared fields: :class:`GlobalNetConfig`).

    Attributes:
        d_model, n_layers, d_state, expand_factor: the Mamba blocks.
        levels: sequence resolutions (1 = full only, 2 = full and half).
        top_k: graph edges kept per stock; cross_industry_topk: strongest
            cross-industry edges also kept (0 = industry-masked only).
    """

    d_model: int = 64
    n_layers: int = 2
    d_state: int = 16
    expand_factor: int = 2
    levels: int = 2
    top_k: int = 10
    cross_industry_topk: int = 0


class FinMambaForecaster(GlobalNetForecaster):
    """Universe-level FinMamba (see the module docstring)."""

    name: ClassVar[str] = "finmamba"
    config_cls: ClassVar[type[GlobalNetConfig]] = FinMambaConfig
    cross_sectional: ClassVar[bool] = True

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> FinMambaConfig:
        """d 64, 2 layers; ``fast``: d 16, 1 layer, 1 level, 400 sessions, at most 2 epochs."""
        if fast:
            return FinMambaConfig(d_model=16, n_layers=1, levels=1, history=400,
                                  train=TrainConfig(lr=2e-3, epochs=2, patience=2, augment=False,
                                                    reg_loss_type="mse", seed=seed))
        return FinMambaConfig(train=replace(FinMambaConfig().train, seed=seed))

    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        c = self.config
        return FinMambaNet(n_features, n_symbols, static_levels, c.horizon,
                           return_channel=RETURN_CHANNEL, d_model=c.d_model, n_layers=c.n_layers,
                           d_state=c.d_state, expand_factor=c.expand_factor, levels=c.levels,
                           top_k=c.top_k, industry_field=0,
                           cross_industry_topk=c.cross_industry_topk, embed_dim=c.embed_dim,
                           dropout=c.dropout)
