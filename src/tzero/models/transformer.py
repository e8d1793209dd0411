"""The time-series Transformer (TST, spec 000 §3.4) over a universe, MASTER-style.

Network: :class:`tzero.models.nets.transformer.TransformerNet`. From MASTER
(Li et al., AAAI 2024) it takes the two-level attention — intra-stock
attention over each stock's 60 sessions, then inter-stock attention across
the stocks of the session (the batch is one session, so nothing crosses
dates) — and a market-guided gate over the input channels computed from the
cross-section of the session. It differs from MASTER in using the
cross-section's own mean inputs as the market signal (MASTER reads index
features) and in the spec-002 heads plus a rank head. Pipeline, labels,
splits and serving: :mod:`tzero.models.global_net`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from torch import nn

from tzero.models.global_net import GlobalNetConfig, GlobalNetForecaster
from tzero.models.nets.transformer import TransformerNet
from tzero.training.trainer import TrainConfig


@dataclass(frozen=True)
class TransformerConfig(GlobalNetConfig):
    """Configuration of :class:`TransformerForecaster` (shared fields: :class:`GlobalNetConfig`).

    Attributes:
        d_model, nhead, num_layers, dim_feedforward: the temporal encoder
            (seed sizes: d 128–256, 4–8 heads, 4–6 layers).
        inter_stock: attention across the session's stocks (MASTER).
        market_gate, gate_beta: MASTER's market-guided gate over the inputs.
    """

    d_model: int = 128
    nhead: int = 8
    num_layers: int = 4
    dim_feedforward: int = 256
    inter_stock: bool = True
    market_gate: bool = True
    gate_beta: float = 5.0


class TransformerForecaster(GlobalNetForecaster):
    """Universe-level time-series Transformer (see the module docstring)."""

    name: ClassVar[str] = "transformer"
    config_cls: ClassVar[type[GlobalNetConfig]] = TransformerConfig
    cross_sectional: ClassVar[bool] = True

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> TransformerConfig:
        """The seed's size (d 128, 8 heads, 4 layers); ``fast``: d 32, 4 heads, 1 layer,
        400 sessions, at most 3 epochs (CPU minutes on CSI 300)."""
        if fast:
            return TransformerConfig(d_model=32, nhead=4, num_layers=1, dim_feedforward=64,
                                     history=400, train=TrainConfig(
                                         lr=1e-3, epochs=3, patience=2, augment=False,
                                         reg_loss_type="mse", seed=seed))
        return TransformerConfig(train=replace(TransformerConfig().train, seed=seed, lr=5e-4))

    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        c = self.config
        return TransformerNet(n_features=n_features, n_symbols=n_symbols,
                              static_levels=static_levels, horizon=c.horizon, d_model=c.d_model,
                              nhead=c.nhead, num_layers=c.num_layers,
                              dim_feedforward=c.dim_feedforward, dropout=c.dropout,
                              inter_stock=c.inter_stock, market_gate=c.market_gate,
                              gate_beta=c.gate_beta, embed_dim=c.embed_dim)
