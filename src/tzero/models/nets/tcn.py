"""Temporal convolutional network of spec 001 方案C (Bai, Kolter & Koltun 2018).

Source: S. Bai, J. Z. Kolter, V. Koltun, "An Empirical Evaluation of Generic
Convolutional and Recurrent Networks for Sequence Modeling", arXiv:1803.01271.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from tzero.models.nets import summed_condition


def tcn_receptive_field(kernel_size: int, levels: int) -> int:
    """Receptive field of ``levels`` residual blocks of two convs, dilations 1, 2, 4, ….

    ``1 + 2 * (k - 1) * (2**L - 1)`` steps (Bai et al. 2018, §3.2).
    """
    return 1 + 2 * (kernel_size - 1) * (2 ** levels - 1)


def tcn_levels(seq_len: int, kernel_size: int) -> int:
    """Fewest levels (at least 1) whose receptive field covers ``seq_len`` steps.

    Raises:
        ValueError: ``kernel_size < 2`` (the field never grows) or ``seq_len < 1``.
    """
    if kernel_size < 2:
        raise ValueError(f"kernel_size must be >= 2 for the receptive field to grow, got {kernel_size}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    levels = 1
    while tcn_receptive_field(kernel_size, levels) < seq_len:
        levels += 1
    return levels


class CausalConv1d(nn.Module):
    """Conv1d padded on the left only, so output step t sees inputs ``<= t``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 weight_norm: bool) -> None:
        super().__init__()
        self.left = (kernel_size - 1) * dilation
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        nn.init.normal_(conv.weight, 0.0, 0.01)   # Bai et al.: N(0, 0.01)
        self.conv = _weight_norm(conv) if weight_norm else conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, T]`` → ``[B, C_out, T]``."""
        return self.conv(F.pad(x, (self.left, 0)))                          # [B, C, T + left] -> [B, C', T]


class TemporalBlock(nn.Module):
    """Residual block: (causal dilated conv → ReLU → dropout) × 2, + (1×1 conv) residual, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 dropout: float, weight_norm: bool) -> None:
        super().__init__()
        self.net = nn.Sequential(
            CausalConv1d(in_channels, out_channels, kernel_size, dilation, weight_norm),
            nn.ReLU(), nn.Dropout(dropout),
            CausalConv1d(out_channels, out_channels, kernel_size, dilation, weight_norm),
            nn.ReLU(), nn.Dropout(dropout),
        )
        self.downsample = (nn.Conv1d(in_channels, out_channels, 1)
                           if in_channels != out_channels else None)
        if self.downsample is not None:
            nn.init.normal_(self.downsample.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, T]`` → ``[B, C_out, T]``."""
        res = x if self.downsample is None else self.downsample(x)          # [B, C_out, T]
        return torch.relu(self.net(x) + res)                                # [B, C_out, T]


class TcnNet(nn.Module):
    """Universe-level TCN (spec 001 方案C; Bai, Kolter & Koltun 2018).

    ``levels`` residual blocks of dilated causal convolutions (dilation
    ``2**i`` at level i, ``channels`` each), with ``levels`` the fewest that make
    the receptive field ``1 + 2 (k - 1) (2**L - 1)`` cover ``seq_len``. The last
    step's output, plus the projected symbol / summed static-field embeddings,
    goes through a ReLU MLP to the heads ``logits``, ``ret`` and ``score``.
    Per-sample: ``cross_sectional = False``.

    Args:
        n_features: F input channels.
        n_symbols: symbol ids 1..n; 0 (unseen) is a zero embedding.
        static_levels: per static field, its number of categories (ids 1..n, 0 unknown).
        horizon: H return steps.
        seq_len: window length T the receptive field must cover.
        channels: channels of every level.
        kernel_size: k, at least 2.
        dropout: dropout rate.
        weight_norm: weight-normalise the dilated convs (as in the paper).
        embed_dim: width of the symbol / static embeddings.

    Attributes:
        levels: number of residual blocks.
        receptive_field: input steps the last output sees (``>= seq_len``).

    Raises:
        ValueError: ``kernel_size < 2`` or ``seq_len < 1``.
    """

    cross_sectional = False

    def __init__(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...],
                 horizon: int, seq_len: int = 60, channels: int = 32, kernel_size: int = 3,
                 dropout: float = 0.1, weight_norm: bool = True, embed_dim: int = 8) -> None:
        super().__init__()
        self.levels = tcn_levels(seq_len, kernel_size)
        self.receptive_field = tcn_receptive_field(kernel_size, self.levels)
        self.tcn = nn.Sequential(*[
            TemporalBlock(n_features if i == 0 else channels, channels, kernel_size, 2 ** i,
                          dropout, weight_norm)
            for i in range(self.levels)
        ])
        # id 0 (a stock or category unseen in training) is a fixed zero vector
        self.symbol = nn.Embedding(n_symbols + 1, embed_dim, padding_idx=0)
        self.static = nn.ModuleList([nn.Embedding(n + 1, embed_dim, padding_idx=0)
                                     for n in static_levels])
        # no bias: an unseen stock with unknown statics adds exactly nothing
        self.cond_proj = nn.Linear(embed_dim, channels, bias=False)
        self.body = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Dropout(dropout))
        self.fc_direction = nn.Linear(channels, 2)
        self.fc_magnitude = nn.Linear(channels, horizon)
        self.fc_score = nn.Linear(channels, 1)

    def temporal(self, x: torch.Tensor) -> torch.Tensor:
        """Causal conv features: ``[B, T, F]`` → ``[B, T, C]``; step t sees only ``x[:, :t + 1]``."""
        return self.tcn(x.transpose(1, 2)).transpose(1, 2)                  # [B, F, T] -> [B, C, T] -> [B, T, C]

    def condition(self, symbol_id: torch.Tensor, static_id: torch.Tensor) -> torch.Tensor:
        """Symbol embedding + summed static-field embeddings: ``[B], [B, S]`` → ``[B, E]``."""
        return summed_condition(self.symbol, self.static, symbol_id, static_id)

    def forward(self, x: torch.Tensor, symbol_id: torch.Tensor,
                static_id: torch.Tensor) -> dict[str, torch.Tensor]:
        """Forecast each stock from its own window.

        Args:
            x: ``[B, T, F]`` float32 windows.
            symbol_id: ``[B]`` int64 (0 = unseen).
            static_id: ``[B, S]`` int64 (0 = unknown).

        Returns:
            ``logits [B, 2]``, ``ret [B, H]`` (percent), ``score [B]``.
        """
        h = self.temporal(x)[:, -1]                                         # [B, T, F] -> [B, C]
        h = h + self.cond_proj(self.condition(symbol_id, static_id))        # [B, E] -> [B, C]
        h = self.body(h)                                                    # [B, C]
        return {
            "logits": self.fc_direction(h),                                 # [B, 2]
            "ret": self.fc_magnitude(h),                                    # [B, H]
            "score": self.fc_score(h).squeeze(-1),                          # [B]
        }
