"""Time-series Transformer of spec 000 §3.4, after MASTER (Li et al., AAAI 2024).

Source: T. Li, Z. Liu, Y. Shen, X. Wang, H. Chen, S. Huang, "MASTER:
Market-Guided Stock Transformer for Stock Price Forecasting", AAAI 2024.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tzero.models.nets import summed_condition


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """Fixed sine/cosine positional encoding (Vaswani et al. 2017, §3.5).

    Args:
        max_len: number of positions.
        d_model: width; odd widths drop the last cosine column.

    Returns:
        ``[max_len, d_model]`` float32.
    """
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)            # [L, 1]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32)
                    * (-math.log(10000.0) / d_model))                       # [ceil(d/2)]
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe


class MarketGate(nn.Module):
    """MASTER's market-guided feature gating, with the market read off the cross-section.

    ``alpha = F * softmax((W m + b) / beta)`` over the F input channels, where
    ``m [F]`` is the batch-mean of the last-step inputs (the batch is one
    session, so ``m`` describes that session's market). The inputs are
    multiplied by ``alpha``; a uniform gate is all ones.
    """

    def __init__(self, n_features: int, beta: float = 5.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError(f"gate_beta must be > 0, got {beta}")
        self.n_features = n_features
        self.beta = beta
        self.proj = nn.Linear(n_features, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, F]`` → gate ``[F]`` (non-negative, sums to F)."""
        market = x[:, -1].mean(dim=0)                                       # [B, T, F] -> [F]
        return self.n_features * torch.softmax(self.proj(market) / self.beta, dim=-1)  # [F]


class TemporalAttentionPool(nn.Module):
    """MASTER's temporal aggregation: the last step queries the whole window.

    ``lambda_t = softmax_t(h_t . W h_T)``, ``e = sum_t lambda_t h_t`` (MASTER
    eq. for the final temporal aggregation; no scaling, as in the paper).
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.query = nn.Linear(d_model, d_model, bias=False)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, T, d]`` → pooled ``[B, d]`` and weights ``[B, T]`` (rows sum 1)."""
        q = self.query(h[:, -1])                                            # [B, d]
        w = torch.softmax(torch.einsum("btd,bd->bt", h, q), dim=-1)         # [B, T]
        return torch.einsum("bt,btd->bd", w, h), w                          # [B, d], [B, T]


class TransformerNet(nn.Module):
    """Universe-level time-series Transformer (spec 000 §3.4), learning from MASTER.

    Pipeline: optional market gate on the inputs → Linear(F, d) + positional
    encoding → ``num_layers`` pre-norm intra-stock TransformerEncoder layers over
    each stock's window → temporal attention pooling (query = last step) →
    + symbol / static-field conditioning → optional inter-stock multi-head
    attention across the batch's stocks (residual + LayerNorm) → ReLU MLP →
    heads ``logits``, ``ret``, ``score``.

    Taken from MASTER: the split of intra-stock (temporal) and inter-stock
    (cross-sectional) attention; the final temporal aggregation whose query is
    the last step's state; market-guided feature gating
    ``alpha = F * softmax_beta(W m + b)`` with temperature ``beta`` (``gate_beta``).

    Differs from MASTER:

    - the market vector ``m`` is the batch-mean of the last-step inputs (the
      batch is one session's stocks), not a separate set of index features;
    - the intra-stock part is a stack of standard pre-norm encoder layers
      (MASTER uses one attention layer per aggregation step);
    - inter-stock attention runs once, on the pooled per-stock vectors, not at
      every time step before the temporal pooling, so ``attn_stock`` is a single
      ``[B, B]`` map; its attention weights are not dropped out (dropout acts
      on its output), so their rows always sum to 1;
    - symbol and static-field embeddings (not in MASTER) condition the pooled
      vector, and the heads are the dual head + rank head of the net contract
      (:mod:`tzero.models.nets`) instead of a single return regressor.

    ``cross_sectional = True``: with ``inter_stock`` or ``market_gate`` a
    sample's output depends on the other stocks of its batch, so the trainer
    must feed one session per batch. With both off the net is per-sample.

    Args:
        n_features: F input channels.
        n_symbols: symbol ids 1..n; 0 (unseen) is a zero embedding.
        static_levels: per static field, its number of categories (ids 1..n, 0 unknown).
        horizon: H return steps.
        d_model: width d.
        nhead: attention heads (intra- and inter-stock); must divide ``d_model``.
        num_layers: intra-stock encoder layers.
        dim_feedforward: encoder feed-forward width.
        dropout: dropout rate everywhere.
        inter_stock: add the inter-stock attention.
        market_gate: add the market-guided feature gate.
        gate_beta: gate softmax temperature (MASTER's beta).
        pos_encoding: ``"sinusoidal"`` (fixed) or ``"learned"``.
        max_len: longest window T the positional encoding covers.
        embed_dim: width of the symbol / static embeddings.

    Raises:
        ValueError: ``d_model`` not divisible by ``nhead``, unknown ``pos_encoding``
            or ``gate_beta <= 0``.
    """

    cross_sectional = True

    def __init__(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...],
                 horizon: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 128, dropout: float = 0.1, inter_stock: bool = True,
                 market_gate: bool = False, gate_beta: float = 5.0,
                 pos_encoding: str = "sinusoidal", max_len: int = 512,
                 embed_dim: int = 8) -> None:
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.max_len = max_len
        self.gate = MarketGate(n_features, gate_beta) if market_gate else None
        self.input_proj = nn.Linear(n_features, d_model)
        if pos_encoding == "sinusoidal":
            self.register_buffer("pos", sinusoidal_encoding(max_len, d_model), persistent=False)
        elif pos_encoding == "learned":
            self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        else:
            raise ValueError(f"pos_encoding must be 'sinusoidal' or 'learned', got {pos_encoding!r}")
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                           batch_first=True, norm_first=True)
        # pre-norm layers leave the last output un-normalised: a final LayerNorm
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.pool = TemporalAttentionPool(d_model)
        # id 0 (a stock or category unseen in training) is a fixed zero vector
        self.symbol = nn.Embedding(n_symbols + 1, embed_dim, padding_idx=0)
        self.static = nn.ModuleList([nn.Embedding(n + 1, embed_dim, padding_idx=0)
                                     for n in static_levels])
        # no bias: an unseen stock with unknown statics adds exactly nothing
        self.cond_proj = nn.Linear(embed_dim, d_model, bias=False)
        self.stock_attn: nn.MultiheadAttention | None
        if inter_stock:
            self.stock_attn = nn.MultiheadAttention(d_model, nhead, dropout=0.0, batch_first=True)
            self.stock_norm = nn.LayerNorm(d_model)
        else:
            self.stock_attn = None
        self.body = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Dropout(dropout))
        self.fc_direction = nn.Linear(d_model, 2)
        self.fc_magnitude = nn.Linear(d_model, horizon)
        self.fc_score = nn.Linear(d_model, 1)

    def condition(self, symbol_id: torch.Tensor, static_id: torch.Tensor) -> torch.Tensor:
        """Symbol embedding + summed static-field embeddings: ``[B], [B, S]`` → ``[B, E]``."""
        return summed_condition(self.symbol, self.static, symbol_id, static_id)

    def forward(self, x: torch.Tensor, symbol_id: torch.Tensor,
                static_id: torch.Tensor) -> dict[str, torch.Tensor]:
        """Forecast one session's stocks.

        Args:
            x: ``[B, T, F]`` float32 windows, ``T <= max_len``.
            symbol_id: ``[B]`` int64 (0 = unseen).
            static_id: ``[B, S]`` int64 (0 = unknown).

        Returns:
            ``logits [B, 2]``, ``ret [B, H]``, ``score [B]``, ``attn_time [B, T]``;
            ``attn_stock [B, B]`` with ``inter_stock``; ``importance [B, F]``
            (the gate / F, the same row for every stock) with ``market_gate``.

        Raises:
            ValueError: the window is longer than ``max_len``.
        """
        b, t, _ = x.shape
        if t > self.max_len:
            raise ValueError(f"window of {t} steps exceeds max_len={self.max_len}: "
                             "build the net with a larger max_len")
        out: dict[str, torch.Tensor] = {}
        if self.gate is not None:
            gate = self.gate(x)                                             # [B, T, F] -> [F]
            x = x * gate                                                    # [B, T, F]
            out["importance"] = (gate / gate.shape[0]).expand(b, -1)        # [B, F]
        h = self.input_proj(x) + self.pos[:t]                               # [B, T, F] -> [B, T, d]
        h = self.encoder(self.drop(h))                                      # [B, T, d]
        z, attn_time = self.pool(h)                                         # [B, d], [B, T]
        z = z + self.cond_proj(self.condition(symbol_id, static_id))        # [B, E] -> [B, d]
        if self.stock_attn is not None:
            s = z.unsqueeze(0)                                              # [1, B, d]
            mixed, w = self.stock_attn(s, s, s, need_weights=True,
                                       average_attn_weights=True)           # [1, B, d], [1, B, B]
            z = self.stock_norm(z + self.drop(mixed.squeeze(0)))            # [B, d]
            out["attn_stock"] = w.squeeze(0)                                # [B, B]
        z = self.body(z)                                                    # [B, d]
        out["logits"] = self.fc_direction(z)                                # [B, 2]
        out["ret"] = self.fc_magnitude(z)                                   # [B, H]
        out["score"] = self.fc_score(z).squeeze(-1)                         # [B]
        out["attn_time"] = attn_time
        return out
