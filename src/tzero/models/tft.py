"""The Temporal Fusion Transformer over a universe (Lim et al. 2021; spec 001 方案A).

Network: :class:`tzero.models.nets.tft.TftNet` — variable-selection networks,
static covariate encoders (symbol plus the industry, size, volatility and
liquidity buckets of ``stock_static_features``), an LSTM encoder,
interpretable multi-head attention and quantile outputs (q10 … q90 of the
cumulative return, trained by the pinball loss next to the shared heads).
Its variable importances (``importance``: the weight of each input channel)
and temporal attention are part of its output and of its explanations.
Pipeline, labels, splits and serving: :mod:`tzero.models.global_net`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from torch import nn

from tzero.models.global_net import GlobalNetConfig, GlobalNetForecaster
from tzero.models.nets.tft import TftNet
from tzero.training.trainer import TrainConfig


@dataclass(frozen=True)
class TftConfig(GlobalNetConfig):
    """Configuration of :class:`TftForecaster` (shared fields: :class:`GlobalNetConfig`).

    Attributes:
        hidden_size, nhead: the TFT's width and attention heads.
    """

    hidden_size: int = 64
    nhead: int = 4


class TftForecaster(GlobalNetForecaster):
    """Universe-level TFT with quantile outputs (see the module docstring)."""

    name: ClassVar[str] = "tft"
    probabilistic: ClassVar[bool] = True
    config_cls: ClassVar[type[GlobalNetConfig]] = TftConfig

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> TftConfig:
        """Hidden 64, 4 heads; ``fast``: hidden 16, 400 sessions, at most 3 epochs."""
        if fast:
            return TftConfig(hidden_size=16, history=400, train=TrainConfig(
                lr=2e-3, epochs=3, patience=2, augment=False, reg_loss_type="mse", seed=seed))
        return TftConfig(train=replace(TftConfig().train, seed=seed))

    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        c = self.config
        return TftNet(n_features=n_features, n_symbols=n_symbols, static_levels=static_levels,
                      horizon=c.horizon, hidden_size=c.hidden_size, nhead=c.nhead,
                      dropout=c.dropout, embed_dim=c.embed_dim)
