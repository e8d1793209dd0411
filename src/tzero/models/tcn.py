"""A temporal convolutional network over a universe (spec 001 方案C; Bai, Kolter, Koltun 2018).

Network: :class:`tzero.models.nets.tcn.TcnNet` — residual blocks of dilated
causal 1-D convolutions whose receptive field covers the whole input window.
Pipeline, labels, splits and serving: :mod:`tzero.models.global_net`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from torch import nn

from tzero.models.global_net import GlobalNetConfig, GlobalNetForecaster
from tzero.models.nets.tcn import TcnNet
from tzero.training.trainer import TrainConfig


@dataclass(frozen=True)
class TcnConfig(GlobalNetConfig):
    """Configuration of :class:`TcnForecaster` (shared fields: :class:`GlobalNetConfig`).

    Attributes:
        channels: convolution channels per level; kernel_size: taps per convolution.
            The number of levels is the least whose receptive field ≥ ``seq_len``.
    """

    channels: int = 64
    kernel_size: int = 3


class TcnForecaster(GlobalNetForecaster):
    """Universe-level TCN (see the module docstring)."""

    name: ClassVar[str] = "tcn"
    config_cls: ClassVar[type[GlobalNetConfig]] = TcnConfig

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> TcnConfig:
        """64 channels; ``fast``: 16 channels, 500 sessions, at most 4 epochs."""
        if fast:
            return TcnConfig(channels=16, history=500, train=TrainConfig(
                lr=2e-3, epochs=4, patience=2, augment=False, reg_loss_type="mse", seed=seed))
        return TcnConfig(train=replace(TcnConfig().train, seed=seed))

    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        c = self.config
        return TcnNet(n_features=n_features, n_symbols=n_symbols, static_levels=static_levels,
                      horizon=c.horizon, seq_len=c.seq_len, channels=c.channels,
                      kernel_size=c.kernel_size, dropout=c.dropout, embed_dim=c.embed_dim)
