"""The universe-level shared LSTM of spec 000 §6.3 (``LSTM_SHARED``): one network for every stock.

The data, splits, labels, training and serving are those of every global deep
model (:mod:`tzero.models.global_net`); this module adds the network
(:class:`tzero.models.lstm_nets.SharedLstmNet`): one LSTM over each stock's
window, conditioned after the LSTM by the symbol embedding and the summed
static-field embeddings (spec 000 §6.3: "在 LSTM 输出后作为条件信息使用"),
with the spec-002 dual head plus a rank head.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from torch import nn

from tzero.models.global_net import GlobalNetConfig, GlobalNetForecaster, daily_ic
from tzero.models.lstm_nets import SharedLstmNet
from tzero.training.trainer import TrainConfig


@dataclass(frozen=True)
class LstmSharedConfig(GlobalNetConfig):
    """Configuration of :class:`LstmShared` (shared fields: :class:`GlobalNetConfig`).

    Attributes:
        hidden_size, num_layers: the LSTM.
    """

    hidden_size: int = 64
    num_layers: int = 1


class LstmShared(GlobalNetForecaster):
    """One LSTM over a universe (spec 000 §6.3; pipeline: :mod:`tzero.models.global_net`)."""

    name: ClassVar[str] = "lstm_shared"
    config_cls: ClassVar[type[GlobalNetConfig]] = LstmSharedConfig

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> LstmSharedConfig:
        """Defaults; ``fast``: 32 hidden units, 500 sessions, at most 4 epochs (demo, CI)."""
        if fast:
            return LstmSharedConfig(hidden_size=32, history=500, train=TrainConfig(
                lr=2e-3, epochs=4, patience=2, augment=False, reg_loss_type="mse", seed=seed))
        return LstmSharedConfig(train=replace(LstmSharedConfig().train, seed=seed))

    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        cfg = self.config
        return SharedLstmNet(n_features, n_symbols, static_levels, cfg.hidden_size,
                             cfg.num_layers, cfg.embed_dim, cfg.dropout, cfg.horizon)


__all__ = ["LstmShared", "LstmSharedConfig", "daily_ic"]
