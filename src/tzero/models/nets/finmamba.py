"""FinMamba: a market-aware stock graph followed by a multi-level Mamba.

Source: Hu et al. 2025, "FinMamba: Market-Aware Graph Enhanced Multi-Level
Mamba for Stock Movement Prediction" (arXiv 2502.06707). The paper's
Market-Aware Graph (MAG) joins short-term return correlations with an
industry prior, prunes the edges and refines them with a market-level signal;
its Multi-Level Mamba (MLM) runs selective state-space blocks on the sequence
at several time scales. This module keeps that structure in pure PyTorch
(``mambapy``) and follows the net contract of :mod:`tzero.models.nets`.

Notes on ``mambapy`` (1.2.0): its parallel scan (``mambapy.pscan``) is
written for power-of-two lengths, but ``PScan.forward``/``backward`` pad the
time axis on the *right* (after the last step) to the next power of two and
slice the padding off again. The scan is causal, so steps appended after the
end never touch earlier states and the result is exact for any length (T = 60
matches the sequential scan to float precision; ``tests`` check it). No
left-padding is done here: zero-padding in front would not be neutral
(the depthwise conv has a bias), and it is not needed.
"""

from __future__ import annotations

import math

import torch
from mambapy.mamba import Mamba, MambaConfig
from torch import nn
from torch.nn import functional as F

from tzero.models.nets import summed_condition

#: Added to a norm before dividing (Pearson correlation of flat return series).
_CORR_EPS = 1e-8


def return_correlation(level: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the stocks' return series over the window.

    Args:
        level: ``[B, T]`` per-row log price level (any per-row offset, e.g.
            relative to the window end); returns are its first differences
            along T (log returns, decimal).

    Returns:
        ``[B, B]`` correlation in [-1, 1]; 0 for a flat series or when
        ``T < 3`` (fewer than two returns).
    """
    if level.size(1) < 3:
        return level.new_zeros(level.size(0), level.size(0))
    r = level[:, 1:] - level[:, :-1]                            # [B, T] -> [B, T-1]
    r = r - r.mean(dim=1, keepdim=True)                         # [B, T-1]
    r = r / (r.norm(dim=1, keepdim=True) + _CORR_EPS)           # unit norm rows
    return r @ r.T                                              # [B, B]


def industry_correlation_graph(corr: torch.Tensor, industry: torch.Tensor, top_k: int,
                               cross_industry_topk: int = 0) -> torch.Tensor:
    """The MAG's prior-masked correlation graph, pruned, with self loops, row-normalised.

    Edge weights are the positive part of the correlation (negative
    correlation is no edge: messages are weighted averages). Candidate edges
    join two stocks of the same known industry (id > 0; id 0 = unknown has no
    industry edges); with ``cross_industry_topk = c > 0`` each stock also keeps
    its ``c`` strongest edges to other stocks outside its industry. Each row
    then keeps its ``top_k`` strongest candidates, a self loop of weight 1 is
    added (a correlation never exceeds 1) and rows are divided by their sums.

    Args:
        corr: ``[B, B]`` return correlation (:func:`return_correlation`).
        industry: ``[B]`` int64 industry ids, 0 unknown.
        top_k: edges kept per stock (besides the self loop); fewer when
            ``B - 1 < top_k``.
        cross_industry_topk: strongest cross-industry edges also kept per
            stock; 0 disables them.

    Returns:
        ``[B, B]`` non-negative adjacency, rows sum to 1; zero between two
        stocks of different known industries when ``cross_industry_topk = 0``.
    """
    n = corr.size(0)
    eye = torch.eye(n, dtype=torch.bool, device=corr.device)
    w = corr.clamp(min=0.0).masked_fill(eye, 0.0)               # [B, B], no self edge
    known = industry > 0
    same = (industry[:, None] == industry[None, :]) & known[:, None] & known[None, :]
    cand = w * same                                             # [B, B] industry edges
    if cross_industry_topk > 0 and n > 1:
        cross = w.masked_fill(same | eye, 0.0)                  # [B, B] other-industry edges
        cand = cand + _keep_topk(cross, min(cross_industry_topk, n - 1))
    if n > 1:
        cand = _keep_topk(cand, min(top_k, n - 1))              # [B, B] pruned
    adj = cand + eye.to(cand.dtype)                             # + self loop
    return adj / adj.sum(dim=1, keepdim=True)                   # rows sum to 1


def _keep_topk(w: torch.Tensor, k: int) -> torch.Tensor:
    """Zero all but the ``k`` largest entries of each row of ``w`` ``[B, B]``."""
    if k <= 0:
        return torch.zeros_like(w)
    idx = w.topk(k, dim=1).indices                              # [B, k]
    keep = torch.zeros_like(w, dtype=torch.bool).scatter_(1, idx, True)
    return w * keep


class FinMambaNet(nn.Module):
    """FinMamba (arXiv 2502.06707) for one session's cross-section of stocks.

    Steps, with ``d = d_model``:

    1. Input projection ``Linear(F, d)`` of every step: ``[B, T, F] -> [B, T, d]``.
    2. Market-aware graph ``A [B, B]`` over the batch's stocks: the industry-
       masked, top-k pruned correlation graph of
       :func:`industry_correlation_graph` (returns from input channel
       ``return_channel``; industry from ``static_id[:, industry_field]``),
       mixed with a dense scaled dot-product attention graph over the
       stocks' time-averaged embeddings through a learnable scalar gate
       ``g = sigmoid(gate)``: ``A = g * A_corr + (1 - g) * A_attn``. The gate
       stands in for the paper's market-level refinement of the edges
       (dense attention may replace the graph library: no sparse kernels are
       used). ``dense_attention=False`` keeps only ``A_corr``.
    3. ``graph_steps`` message-passing steps along the stock axis at every
       time step, ``H <- LayerNorm(H + Dropout(GELU(Linear(A @ H))))``,
       ``[B, T, d] -> [B, T, d]``.
    4. Multi-level Mamba: level ``l`` (0..levels-1) runs its own
       ``mambapy`` Mamba stack on the sequence average-pooled by ``2**l``
       (buckets aligned to the window end; the oldest step is repeated in
       front when T is not a multiple), and the last states of the levels are
       fused by ``Linear(levels * d, d)``.
    5. The fused state and the symbol + summed static-field embeddings
       (``embed_dim``) → ``Linear(d + embed_dim, d)`` + ReLU + Dropout → heads.

    The correlation graph is a function of the inputs only and carries no
    gradient; the attention graph and the gate are learned. The paper's
    auxiliary ranking loss is not built in: the forecaster trains ``score``.

    Attributes:
        cross_sectional: True — a batch must be the stocks of one session.
    """

    cross_sectional = True

    def __init__(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...],
                 horizon: int = 5, *, return_channel: int, d_model: int = 32,
                 n_layers: int = 2, d_state: int = 16, expand_factor: int = 2,
                 d_conv: int = 4, levels: int = 2, top_k: int = 10, industry_field: int = 0,
                 cross_industry_topk: int = 0, dense_attention: bool = True,
                 graph_steps: int = 1, embed_dim: int = 8, dropout: float = 0.1) -> None:
        """Build the net.

        Args:
            n_features: F input channels per row.
            n_symbols: symbol ids 1..n (0 = unseen, a zero vector).
            static_levels: categories per static field (ids 1..n, 0 unknown).
            horizon: H step returns predicted.
            return_channel: index of the channel holding a per-row log price
                level (relative to the window end); returns are its diffs.
            d_model: width d of embeddings and Mamba blocks.
            n_layers: Mamba residual blocks per level.
            d_state: SSM state size N.
            expand_factor: Mamba inner width factor E (inner = E * d).
            d_conv: Mamba depthwise conv kernel length.
            levels: time scales (1 = the sequence only, 2 = plus 2x pooled, ...).
            top_k: correlation edges kept per stock.
            industry_field: static field holding the industry id.
            cross_industry_topk: strongest cross-industry edges kept per stock
                (0 = edges only inside an industry).
            dense_attention: mix in the learned attention graph through the gate.
            graph_steps: message-passing steps (1 or 2 in the paper's spirit).
            embed_dim: size of the symbol / static embeddings.
            dropout: dropout rate of the graph residual and the body.

        Raises:
            ValueError: a size or index out of range.
        """
        super().__init__()
        if not 0 <= return_channel < n_features:
            raise ValueError(f"return_channel={return_channel} is outside the "
                             f"{n_features} input channels: pass the index of the log-price channel")
        if static_levels and not 0 <= industry_field < len(static_levels):
            raise ValueError(f"industry_field={industry_field} is outside the "
                             f"{len(static_levels)} static fields: pass the industry field's index")
        if levels < 1 or graph_steps < 0 or top_k < 0 or cross_industry_topk < 0:
            raise ValueError("levels must be >= 1 and graph_steps, top_k, cross_industry_topk >= 0, "
                             f"got {levels}, {graph_steps}, {top_k}, {cross_industry_topk}")
        self.return_channel = return_channel
        self.industry_field = industry_field if static_levels else None
        self.top_k = top_k
        self.cross_industry_topk = cross_industry_topk
        self.levels = levels
        self.dense_attention = dense_attention

        self.proj = nn.Linear(n_features, d_model)
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.gate = nn.Parameter(torch.zeros(()))               # sigmoid(0) = 0.5 at init
        self.message = nn.ModuleList([nn.Linear(d_model, d_model) for _ in range(graph_steps)])
        self.message_norm = nn.ModuleList([nn.LayerNorm(d_model) for _ in range(graph_steps)])
        cfg = MambaConfig(d_model=d_model, n_layers=n_layers, d_state=d_state,
                          expand_factor=expand_factor, d_conv=d_conv)
        self.mamba = nn.ModuleList([Mamba(cfg) for _ in range(levels)])
        self.fuse = nn.Linear(levels * d_model, d_model)
        # id 0 (a stock or category unseen in training) is a fixed zero vector
        self.symbol = nn.Embedding(n_symbols + 1, embed_dim, padding_idx=0)
        self.static = nn.ModuleList([nn.Embedding(n + 1, embed_dim, padding_idx=0)
                                     for n in static_levels])
        self.drop = nn.Dropout(dropout)
        self.body = nn.Sequential(nn.Linear(d_model + embed_dim, d_model), nn.ReLU(),
                                  nn.Dropout(dropout))
        self.fc_direction = nn.Linear(d_model, 2)
        self.fc_magnitude = nn.Linear(d_model, horizon)
        self.fc_score = nn.Linear(d_model, 1)

    def adjacency(self, x: torch.Tensor, h: torch.Tensor, static_id: torch.Tensor) -> torch.Tensor:
        """The market-aware graph: ``x [B, T, F], h [B, T, d], static_id [B, S]`` → ``[B, B]``."""
        with torch.no_grad():
            corr = return_correlation(x[:, :, self.return_channel].float())   # [B, B]
            if self.industry_field is None:
                industry = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
            else:
                industry = static_id[:, self.industry_field]                   # [B]
            adj = industry_correlation_graph(corr, industry, self.top_k,
                                             self.cross_industry_topk).to(h.dtype)
        if not self.dense_attention:
            return adj
        e = h.mean(dim=1)                                                      # [B, T, d] -> [B, d]
        att = self.query(e) @ self.key(e).T / math.sqrt(e.size(-1))            # [B, B]
        g = torch.sigmoid(self.gate)
        return g * adj + (1.0 - g) * torch.softmax(att, dim=-1)               # [B, B], rows sum 1

    def forward(self, x: torch.Tensor, symbol_id: torch.Tensor, static_id: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """``x [B, T, F], symbol_id [B], static_id [B, S]`` → dict of the contract.

        Returns:
            ``logits [B, 2]``, ``ret [B, H]`` (percent), ``score [B]`` and
            ``attn_stock [B, B]`` (the adjacency used; rows sum to 1).
        """
        h = self.proj(x)                                        # [B, T, F] -> [B, T, d]
        adj = self.adjacency(x, h, static_id)                   # [B, B]
        for lin, norm in zip(self.message, self.message_norm, strict=True):
            m = torch.einsum("ij,jtd->itd", adj, h)             # [B, T, d] mixed over stocks
            h = norm(h + self.drop(F.gelu(lin(m))))             # [B, T, d]
        last = []
        for level, mamba in enumerate(self.mamba):
            seq = _pool_to_end(h, 2 ** level)                   # [B, T, d] -> [B, ceil(T/2^l), d]
            last.append(mamba(seq)[:, -1])                      # [B, d]
        z = self.fuse(torch.cat(last, dim=-1))                  # [B, levels*d] -> [B, d]
        cond = summed_condition(self.symbol, self.static, symbol_id, static_id)   # [B, E]
        z = self.body(torch.cat([z, cond], dim=-1))             # [B, d + E] -> [B, d]
        return {"logits": self.fc_direction(z),                 # [B, 2]
                "ret": self.fc_magnitude(z),                    # [B, H]
                "score": self.fc_score(z).squeeze(-1),          # [B]
                "attn_stock": adj}                              # [B, B]


def _pool_to_end(h: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool ``[B, T, d]`` by ``factor`` along T, buckets aligned to the last step.

    When T is not a multiple of ``factor`` the oldest step is repeated in
    front (causal: no bucket mixes in a later step than its own last one).
    """
    if factor == 1:
        return h
    pad = (-h.size(1)) % factor
    if pad:
        h = torch.cat([h[:, :1].expand(-1, pad, -1), h], dim=1)   # [B, T + pad, d]
    return F.avg_pool1d(h.transpose(1, 2), factor, factor).transpose(1, 2)   # [B, T', d]
