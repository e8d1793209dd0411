"""Stages 1 and 2 of the three-stage hybrid of spec 001 (三阶段混合架构).

Stage 1 (``CrossSectionalEncoder``, spec 001 "Stage1: 空间特征提取器"): a
Transformer encoder over the set of one session's stocks that learns market
structure and emits per-stock relationship features by the spec's three
extractors ("关系特征提取的三种方案"). Stage 2 (``ResidualBoost``, spec 001
"Stage2: 残差提升", optional) corrects Stage 1's baseline. Stage 3 (the
temporal predictor) is not here: the forecaster reuses the LSTM / TCN / TFT
nets with the relationship features appended as input channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: Stage-1 sizes of spec 001 "推荐配置" (小 / 中 / 大规模).
STAGE1_SIZES: dict[str, dict[str, int]] = {
    "small": dict(d_model=64, nhead=4, num_layers=2, rel_dim=16),
    "medium": dict(d_model=128, nhead=8, num_layers=3, rel_dim=32),
    "large": dict(d_model=256, nhead=8, num_layers=4, rel_dim=64),
}

#: Relationship extractors of spec 001: V1 attention weights, V2 embedding
#: projection, V3 contrastive projection.
EXTRACTORS = ("v1", "v2", "v3")

#: Features of extractor V1: attention to index, to sector, entropy.
V1_DIM = 3


def contrastive_loss(z: torch.Tensor, industry_id: torch.Tensor,
                     temperature: float = 0.1) -> torch.Tensor:
    """Supervised-contrastive (InfoNCE) loss with same-industry stocks as positives.

    Khosla et al. 2020, "Supervised Contrastive Learning" (arXiv 2004.11362),
    the L_out form: for each anchor i with at least one positive,
    ``-1/|P(i)| * sum_{p in P(i)} log(exp(z_i.z_p / tau) / sum_{a != i} exp(z_i.z_a / tau))``,
    averaged over those anchors. Positives are the other stocks of the same
    known industry (id > 0); stocks of unknown industry (id 0) are never
    anchors nor positives but stay in the denominators as negatives.

    Args:
        z: ``[N, r]`` projections, L2-normalised by the caller.
        industry_id: ``[N]`` int64 industry ids, 0 unknown.
        temperature: tau of the softmax.

    Returns:
        Scalar loss; 0 (still attached to ``z``'s graph) when no stock has a
        positive.
    """
    n = z.size(0)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    known = industry_id > 0
    pos = (industry_id[:, None] == industry_id[None, :]) & known[:, None] & ~eye   # [N, N]
    n_pos = pos.sum(dim=1)                                                     # [N]
    anchors = n_pos > 0
    if not bool(anchors.any()):
        return z.sum() * 0.0
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))             # [N, N]
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)                # [N, N]
    per_anchor = -(log_prob.masked_fill(~pos, 0.0)).sum(dim=1) / n_pos.clamp(min=1)   # [N]
    return per_anchor[anchors].mean()


class PreNormEncoderLayer(nn.Module):
    """Pre-norm Transformer encoder layer that returns its attention weights.

    ``x + Dropout(MHA(LN(x)))`` then ``x + Dropout(FF(LN(x)))`` with FF =
    Linear(d, ff) → GELU → Dropout → Linear(ff, d). The attention itself has
    no dropout, so the returned weights are a proper distribution over keys.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, nhead, dropout=0.0, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, dim_feedforward), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(dim_feedforward, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[1, L, d]`` → ``[1, L, d]`` and the weights ``[1, heads, L, L]`` (rows sum 1)."""
        h = self.norm1(x)
        a, w = self.attn(h, h, h, need_weights=True, average_attn_weights=False)  # [1, L, d], [1, heads, L, L]
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norm2(x)))               # [1, L, d]
        return x, w


class CrossSectionalEncoder(nn.Module):
    """Stage 1 of spec 001: a Transformer over one session's stocks plus a market token.

    Each stock's snapshot (that day's features only) is embedded by
    ``Linear(Fs, d)`` plus a learned industry embedding (the "positional
    encoding" of a set of stocks is the identity of its sector; id 0 unknown
    is a zero vector). A learned market token is prepended at index 0 and
    plays the index ("attention to index"). Pre-norm encoder layers (with the
    weights of the last one kept) and a final LayerNorm follow.

    Relationship features (``extractors``, concatenated in the given order):

    - ``"v1"`` (方案1, 3 dims): attention to the market token, summed weight
      on the *other* stocks of the same known industry (0 for an unknown
      industry) and the attention entropy divided by ``log(N + 1)`` (in
      [0, 1], comparable across sessions of different sizes); all from the
      last layer's weights averaged over heads.
    - ``"v2"`` (方案2, ``rel_dim``): ``Linear(d, rel_dim)`` of the embedding.
    - ``"v3"`` (方案3, ``rel_dim``): an L2-normalised ``Linear(d, rel_dim)``
      projection trained by :func:`contrastive_loss` (returned as
      ``aux_loss`` in training mode).

    Attributes:
        cross_sectional: True — one call sees the stocks of one session.
        relationship_dim: R, the width of ``relationship``.
    """

    cross_sectional = True

    def __init__(self, n_features: int, n_industries: int, d_model: int = 64, nhead: int = 4,
                 num_layers: int = 2, rel_dim: int = 16, extractors: tuple[str, ...] = ("v2",),
                 dim_feedforward: int | None = None, dropout: float = 0.1,
                 temperature: float = 0.1) -> None:
        """Build the encoder.

        Args:
            n_features: Fs snapshot features per stock.
            n_industries: industry ids 1..n (0 unknown).
            d_model: width d (divisible by ``nhead``).
            nhead: attention heads.
            num_layers: encoder layers.
            rel_dim: width of the V2 / V3 projections (spec: 16-64).
            extractors: a non-empty subset of ``EXTRACTORS``, in output order.
            dim_feedforward: hidden width of the feed-forward block (default 2d).
            dropout: dropout of the residual branches.
            temperature: tau of the V3 contrastive loss.

        Raises:
            ValueError: unknown or repeated extractor, no layer, or d not divisible by nhead.
        """
        super().__init__()
        bad = [e for e in extractors if e not in EXTRACTORS]
        if not extractors or bad or len(set(extractors)) != len(extractors):
            raise ValueError(f"extractors must be distinct names from {EXTRACTORS}, got {extractors!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1 (the attention comes from the last layer), got {num_layers}")
        if d_model % nhead:
            raise ValueError(f"d_model={d_model} must be divisible by nhead={nhead}")
        self.extractors = tuple(extractors)
        self.temperature = temperature
        self.embed = nn.Linear(n_features, d_model)
        self.industry = nn.Embedding(n_industries + 1, d_model, padding_idx=0)
        self.market_token = nn.Parameter(torch.randn(1, d_model) * 0.02)
        ff = dim_feedforward if dim_feedforward is not None else 2 * d_model
        self.layers = nn.ModuleList([PreNormEncoderLayer(d_model, nhead, ff, dropout)
                                     for _ in range(num_layers)])
        self.norm = nn.LayerNorm(d_model)
        self.fc_baseline = nn.Linear(d_model, 1)
        self.proj = nn.ModuleDict({e: nn.Linear(d_model, rel_dim)    # V2 / V3 heads
                                   for e in self.extractors if e != "v1"})
        self.n_features, self.d_model = n_features, d_model
        self.relationship_dim = sum(V1_DIM if e == "v1" else rel_dim for e in self.extractors)

    def forward(self, snap: torch.Tensor, industry_id: torch.Tensor) -> dict[str, torch.Tensor]:
        """``snap [N, Fs], industry_id [N]`` → dict of Stage-1 outputs.

        Returns:
            ``embedding [N, d]``, ``attention [heads, N+1, N+1]`` (last layer,
            market token at index 0, rows sum 1), ``market [d]``,
            ``baseline [N]`` (rank-style score), ``relationship [N, R]`` and,
            in training mode with ``"v3"``, ``aux_loss`` (scalar).
        """
        tok = self.embed(snap) + self.industry(industry_id)             # [N, Fs] -> [N, d]
        x = torch.cat([self.market_token, tok], dim=0)[None]            # [1, N+1, d]
        w = x.new_zeros(0)
        for layer in self.layers:
            x, w = layer(x)                                             # [1, N+1, d], [1, h, N+1, N+1]
        x = self.norm(x)[0]                                             # [N+1, d]
        emb = x[1:]                                                     # [N, d]
        attn = w[0]                                                     # [heads, N+1, N+1]
        out = {"embedding": emb, "attention": attn, "market": x[0],
               "baseline": self.fc_baseline(emb).squeeze(-1)}          # [N]
        parts = []
        for name in self.extractors:
            if name == "v1":
                parts.append(_attention_features(attn, industry_id))    # [N, 3]
            elif name == "v2":
                parts.append(self.proj[name](emb))                         # [N, rel_dim]
            else:
                z = F.normalize(self.proj[name](emb), dim=-1)              # [N, rel_dim], unit rows
                parts.append(z)
                if self.training:
                    out["aux_loss"] = contrastive_loss(z, industry_id, self.temperature)
        out["relationship"] = torch.cat(parts, dim=-1)                  # [N, R]
        return out


def _attention_features(attn: torch.Tensor, industry_id: torch.Tensor) -> torch.Tensor:
    """V1 features from ``attn [heads, N+1, N+1]``: ``[N, 3]`` (index, sector, entropy)."""
    w = attn.mean(dim=0)[1:]                                            # [N, N+1], stock rows
    to_index = w[:, 0]                                                  # [N]
    n = industry_id.size(0)
    known = industry_id > 0
    eye = torch.eye(n, dtype=torch.bool, device=attn.device)
    peers = (industry_id[:, None] == industry_id[None, :]) & known[:, None] & ~eye   # [N, N]
    to_sector = (w[:, 1:] * peers).sum(dim=1)                           # [N]
    entropy = -(w * torch.log(w.clamp(min=1e-12))).sum(dim=1) / math.log(n + 1)    # [N] in [0, 1]
    return torch.stack([to_index, to_sector, entropy], dim=-1)          # [N, 3]


class ResidualBoost(nn.Module):
    """Stage 2 of spec 001 ("残差提升", optional): predicts Stage 1's baseline residual.

    ``Linear(Fs + d, hidden) → ReLU → Linear(hidden, 1)`` of a stock's
    snapshot and its Stage-1 embedding; the boosted baseline is
    ``baseline + ResidualBoost(snap, embedding)``, trained against the
    residual ``label - baseline`` (baseline detached).
    """

    def __init__(self, n_features: int, d_model: int, hidden: int = 32) -> None:
        """Args: ``n_features`` Fs, ``d_model`` d of Stage 1, ``hidden`` width h."""
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_features + d_model, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, snap: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """``snap [N, Fs], embedding [N, d]`` → residual correction ``[N]`` (baseline's units)."""
        return self.mlp(torch.cat([snap, embedding], dim=-1)).squeeze(-1)   # [N, Fs + d] -> [N]
