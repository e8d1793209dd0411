"""Temporal Fusion Transformer, encoder-only, as a pure ``nn.Module``.

Source: B. Lim, S. Ö. Arık, N. Loeff, T. Pfister, "Temporal Fusion Transformers
for interpretable multi-horizon time series forecasting", International
Journal of Forecasting 37(4), 2021 (arXiv:1912.09363). Section numbers below
refer to that paper.

This variant sees only a window of past observations (no known future
inputs), so the sequence-to-sequence layer is the LSTM *encoder* alone and the
attention runs causally over the window's own positions. The forecast for all
H steps is read from the **last position** of the temporal fusion decoder
(§4.5), whose attention query is the most recent session; H learned query
positions are not used. The net follows the contract of
:mod:`tzero.models.nets`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tzero.models.nets import QUANTILES, static_embeddings


class GatedLinearUnit(nn.Module):
    """GLU of §4.1: ``GLU(γ) = σ(W4 γ + b4) ⊙ (W5 γ + b5)``, ``[..., d_in] → [..., d_out]``."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, 2 * d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_in]`` → ``[..., d_out]``."""
        return F.glu(self.fc(x), dim=-1)            # [..., 2 d_out] -> [..., d_out]


class GateAddNorm(nn.Module):
    """Gated skip connection of §4.1/§4.5: ``LayerNorm(skip + GLU(Dropout(x)))``."""

    def __init__(self, d_in: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.glu = GatedLinearUnit(d_in, d_out)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x [..., d_in]``, ``skip [..., d_out]`` → ``[..., d_out]``."""
        return self.norm(skip + self.glu(self.drop(x)))


class GatedResidualNetwork(nn.Module):
    """GRN of §4.1 (eqs. 2-4) with an optional context vector.

    ``η2 = ELU(W2 a + W3 c + b2)``, ``η1 = W1 η2 + b1``,
    ``GRN(a, c) = LayerNorm(skip(a) + GLU(η1))``; ``skip`` is a linear map
    when ``d_in != d_out``, else the identity. The context must broadcast
    against ``a`` (e.g. ``[B, 1, d_context]`` for ``a [B, T, d_in]``).
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float,
                 d_context: int | None = None) -> None:
        super().__init__()
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.fc_input = nn.Linear(d_in, d_hidden)
        self.fc_context = nn.Linear(d_context, d_hidden, bias=False) if d_context else None
        self.fc_hidden = nn.Linear(d_hidden, d_hidden)
        self.gate = GateAddNorm(d_hidden, d_out, dropout)

    def forward(self, a: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """``a [..., d_in]``, optional ``c [..., d_context]`` → ``[..., d_out]``."""
        h = self.fc_input(a)                                  # [..., d_hidden]
        if self.fc_context is not None and c is not None:
            h = h + self.fc_context(c)                        # context broadcast over time
        h = self.fc_hidden(F.elu(h))                          # η1 [..., d_hidden]
        return self.gate(h, self.skip(a))                     # [..., d_out]


class VariableSelectionNetwork(nn.Module):
    """Variable selection of §4.2 over ``V`` embedded variables.

    Weights ``v = Softmax(GRN(Ξ, c))`` over the flattened embeddings ``Ξ``
    (eq. 6); each variable goes through its own GRN (eq. 7); the output is
    their weighted sum (eq. 8).
    """

    def __init__(self, n_vars: int, d_in: int, d_hidden: int, dropout: float,
                 d_context: int | None = None) -> None:
        super().__init__()
        self.weight_grn = GatedResidualNetwork(n_vars * d_in, d_hidden, n_vars, dropout,
                                               d_context)
        self.var_grns = nn.ModuleList([GatedResidualNetwork(d_in, d_hidden, d_hidden, dropout)
                                       for _ in range(n_vars)])

    def forward(self, e: torch.Tensor, c: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``e [..., V, d_in]`` → selected ``[..., d_hidden]`` and weights ``[..., V]`` (sum 1)."""
        w = torch.softmax(self.weight_grn(e.flatten(-2), c), dim=-1)        # [..., V]
        xi = torch.stack([grn(e[..., i, :]) for i, grn in enumerate(self.var_grns)],
                         dim=-2)                                            # [..., V, d_hidden]
        return (w.unsqueeze(-1) * xi).sum(dim=-2), w                        # [..., d_hidden]


class InterpretableMultiHeadAttention(nn.Module):
    """Interpretable multi-head attention of §4.4 (eqs. 13-16), causal.

    Each head has its own query and key projections; the value projection
    ``W_V`` is shared across heads, so averaging the heads equals attending
    with the head-averaged weights ``Ã = mean_h softmax(Q_h K_hᵀ / √d_attn)``:
    ``H̃ = Ã V W_V`` and the output is ``H̃ W_H``. Position ``i`` attends to
    positions ``j <= i`` only.
    """

    def __init__(self, d_model: int, nhead: int) -> None:
        super().__init__()
        self.nhead = nhead
        self.d_head = d_model // nhead
        self.q_proj = nn.Linear(d_model, nhead * self.d_head)
        self.k_proj = nn.Linear(d_model, nhead * self.d_head)
        self.v_proj = nn.Linear(d_model, self.d_head)      # shared by every head
        self.out_proj = nn.Linear(self.d_head, d_model)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, T, d]`` → output ``[B, T, d]`` and head-averaged weights ``[B, T, T]``."""
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nhead, self.d_head).transpose(1, 2)  # [B, h, T, dh]
        k = self.k_proj(x).view(b, t, self.nhead, self.d_head).transpose(1, 2)  # [B, h, T, dh]
        v = self.v_proj(x)                                                      # [B, T, dh]
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)               # [B, h, T, T]
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)    # j > i
        attn = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        attn = attn.mean(dim=1)                                                 # [B, T, T]
        return self.out_proj(attn @ v), attn                                    # [B, T, d]


class TftNet(nn.Module):
    """Encoder-only Temporal Fusion Transformer over a window of past sessions.

    Pipeline (Lim et al. 2021, Fig. 2, without known future inputs):

    1. Static covariate encoders (§4.3): the symbol embedding and one embedding
       per static field (``nn.Embedding`` with ``padding_idx=0``: id 0, a stock
       or category unseen in training, is a zero vector) go through a static
       variable-selection network; four GRNs give the contexts ``c_s``
       (variable selection), ``c_e`` (enrichment), ``c_h``, ``c_c`` (LSTM
       initial hidden and cell state).
    2. Temporal variable selection (§4.2): each of the F channels is embedded
       by its own ``Linear(1, d)``; softmax weights over F conditioned on
       ``c_s``.
    3. LSTM encoder (§4.5) initialised with ``(c_h, c_c)``, gated skip + LayerNorm.
    4. Static enrichment GRN with context ``c_e``.
    5. Causal interpretable multi-head attention (§4.4), gated skip.
    6. Position-wise GRN, then a gated skip back to the LSTM layer's output.
    7. Heads on the **last position** ``[B, d]`` (every horizon step is read
       from the most recent session's representation).

    Outputs (``forward``), units as in :mod:`tzero.models.nets`:

    - ``quantiles [B, H, Q]``: the cumulative return over steps ``1..h``, in
      percent, at :data:`~tzero.models.nets.QUANTILES`. The median is a free
      head; the other levels are the median minus / plus cumulative sums of
      softplus offsets, so they are strictly increasing along Q. Train with
      :func:`quantile_loss`.
    - ``ret [B, H]``: step returns in percent, from a separate linear head
      (not derived from the median, so a step-return loss and the quantile
      loss do not fight over one output).
    - ``logits [B, 2]`` (down, up over the horizon) and ``score [B]``
      (cross-sectional ranking score): linear heads.
    - ``importance [B, F]``: the temporal selection weights averaged over the
      window's T positions (sum 1).
    - ``attn_time [B, T]``: the last position's attention over the window,
      averaged over heads (sum 1; the causal mask leaves the last query all
      T positions).

    Args:
        n_features: F input channels per session.
        n_symbols: symbol ids ``1..n_symbols`` (0 = unseen).
        static_levels: categories per static field (ids ``1..n``, 0 unknown).
        horizon: H forecast steps.
        hidden_size: ``d_model`` of every layer.
        nhead: attention heads; must divide ``hidden_size``.
        dropout: dropout rate inside GRNs and gated skips.
        embed_dim: size of each static embedding.

    Raises:
        ValueError: ``hidden_size`` is not a multiple of ``nhead``, or
            0.5 is missing from :data:`~tzero.models.nets.QUANTILES`.
    """

    cross_sectional = False

    def __init__(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...],
                 horizon: int, hidden_size: int = 32, nhead: int = 4, dropout: float = 0.1,
                 embed_dim: int = 8) -> None:
        super().__init__()
        if hidden_size % nhead:
            raise ValueError(f"hidden_size={hidden_size} must be a multiple of nhead={nhead}: "
                             f"pick e.g. hidden_size={nhead * max(1, hidden_size // nhead)}")
        if 0.5 not in QUANTILES:
            raise ValueError(f"QUANTILES {QUANTILES} must contain the median 0.5")
        d = hidden_size
        self.horizon = horizon
        self.n_quantiles = len(QUANTILES)
        self._median = QUANTILES.index(0.5)
        # static covariate encoders (§4.3); id 0 is a fixed zero vector
        self.symbol = nn.Embedding(n_symbols + 1, embed_dim, padding_idx=0)
        self.static = nn.ModuleList([nn.Embedding(n + 1, embed_dim, padding_idx=0)
                                     for n in static_levels])
        self.static_vsn = VariableSelectionNetwork(1 + len(static_levels), embed_dim, d, dropout)
        self.ctx_selection = GatedResidualNetwork(d, d, d, dropout)
        self.ctx_enrichment = GatedResidualNetwork(d, d, d, dropout)
        self.ctx_hidden = GatedResidualNetwork(d, d, d, dropout)
        self.ctx_cell = GatedResidualNetwork(d, d, d, dropout)
        # per-channel Linear(1, d) embeddings, stored as one [F, d] weight and bias
        self.channel_weight = nn.Parameter(torch.empty(n_features, d).uniform_(-1.0, 1.0))
        self.channel_bias = nn.Parameter(torch.empty(n_features, d).uniform_(-1.0, 1.0))
        self.temporal_vsn = VariableSelectionNetwork(n_features, d, d, dropout, d_context=d)
        self.lstm = nn.LSTM(d, d, num_layers=1, batch_first=True)
        self.post_lstm = GateAddNorm(d, d, dropout)
        self.enrichment = GatedResidualNetwork(d, d, d, dropout, d_context=d)
        self.attention = InterpretableMultiHeadAttention(d, nhead)
        self.post_attention = GateAddNorm(d, d, dropout)
        self.positionwise = GatedResidualNetwork(d, d, d, dropout)
        self.pre_output = GateAddNorm(d, d, dropout)
        self.fc_quantiles = nn.Linear(d, horizon * self.n_quantiles)
        self.fc_ret = nn.Linear(d, horizon)
        self.fc_direction = nn.Linear(d, 2)
        self.fc_score = nn.Linear(d, 1)

    def static_context(self, symbol_id: torch.Tensor, static_id: torch.Tensor
                       ) -> tuple[torch.Tensor, ...]:
        """``[B], [B, S]`` → ``(c_s, c_e, c_h, c_c)``, each ``[B, d]``, and weights ``[B, 1+S]``."""
        embs = static_embeddings(self.symbol, self.static, symbol_id, static_id)
        e = torch.stack(embs, dim=1)                          # [B, 1+S, E]
        zeta, w = self.static_vsn(e)                          # [B, d], [B, 1+S]
        return (self.ctx_selection(zeta), self.ctx_enrichment(zeta), self.ctx_hidden(zeta),
                self.ctx_cell(zeta), w)

    def encode(self, x: torch.Tensor, symbol_id: torch.Tensor, static_id: torch.Tensor
               ) -> dict[str, torch.Tensor]:
        """Per-position representations of the temporal fusion decoder.

        Every step is causal: the output at position ``t`` depends on
        ``x[:, :t + 1]`` and the static inputs only.

        Returns:
            ``seq [B, T, d]`` (the gated output ψ̃ of §4.5 per position),
            ``attn [B, T, T]`` (head-averaged attention, rows sum 1, zero
            above the diagonal), ``weights [B, T, F]`` (temporal selection)
            and ``static_weights [B, 1+S]`` (static selection: symbol first).
        """
        c_s, c_e, c_h, c_c, w_static = self.static_context(symbol_id, static_id)
        e = x.unsqueeze(-1) * self.channel_weight + self.channel_bias   # [B, T, F] -> [B, T, F, d]
        xi, w = self.temporal_vsn(e, c_s.unsqueeze(1))        # [B, T, d], [B, T, F]
        phi, _ = self.lstm(xi, (c_h.unsqueeze(0).contiguous(),
                                c_c.unsqueeze(0).contiguous()))   # [B, T, d]
        phi = self.post_lstm(phi, xi)                         # gated skip: [B, T, d]
        theta = self.enrichment(phi, c_e.unsqueeze(1))        # static enrichment: [B, T, d]
        att, attn = self.attention(theta)                     # [B, T, d], [B, T, T]
        delta = self.post_attention(att, theta)               # [B, T, d]
        psi = self.positionwise(delta)                        # [B, T, d]
        seq = self.pre_output(psi, phi)                       # [B, T, d]
        return {"seq": seq, "attn": attn, "weights": w, "static_weights": w_static}

    def _quantiles(self, h: torch.Tensor) -> torch.Tensor:
        """``[B, d]`` → strictly increasing quantiles ``[B, H, Q]`` (median ± cumulative softplus)."""
        raw = self.fc_quantiles(h).view(-1, self.horizon, self.n_quantiles)   # [B, H, Q]
        m = self._median
        med = raw[..., m:m + 1]                                               # [B, H, 1]
        up = torch.cumsum(F.softplus(raw[..., m + 1:]), dim=-1)               # [B, H, Q-m-1]
        down = torch.cumsum(F.softplus(raw[..., :m].flip(-1)), dim=-1).flip(-1)   # [B, H, m]
        return torch.cat([med - down, med, med + up], dim=-1)                 # [B, H, Q]

    def forward(self, x: torch.Tensor, symbol_id: torch.Tensor, static_id: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """``x [B, T, F]``, ``symbol_id [B]``, ``static_id [B, S]`` → the contract's dict.

        Keys: ``quantiles [B, H, Q]``, ``ret [B, H]``, ``logits [B, 2]``,
        ``score [B]``, ``importance [B, F]``, ``attn_time [B, T]`` (see the
        class docstring for units).
        """
        enc = self.encode(x, symbol_id, static_id)
        h = enc["seq"][:, -1]                                 # last position: [B, T, d] -> [B, d]
        return {
            "quantiles": self._quantiles(h),                  # [B, H, Q]
            "ret": self.fc_ret(h),                            # [B, H]
            "logits": self.fc_direction(h),                   # [B, 2]
            "score": self.fc_score(h).squeeze(-1),            # [B]
            "importance": enc["weights"].mean(dim=1),         # [B, T, F] -> [B, F]
            "attn_time": enc["attn"][:, -1],                  # [B, T, T] -> [B, T]
        }


def quantile_loss(pred: torch.Tensor, target: torch.Tensor,
                  quantiles: tuple[float, ...] = QUANTILES) -> torch.Tensor:
    """Pinball (quantile) loss averaged over batch, steps and levels (Lim et al. 2021, eq. 24).

    ``L = mean over b, h, q of max(q (y - ŷ_q), (q - 1) (y - ŷ_q))``. Targets
    that are not finite (a horizon step not yet known) are left out of the
    mean.

    Args:
        pred: ``[B, H, Q]`` predicted quantiles (e.g. ``TftNet`` ``quantiles``,
            cumulative return in percent).
        target: ``[B, H]`` realised values in the same units.
        quantiles: the Q levels of ``pred``'s last axis.

    Returns:
        A scalar tensor (0 when no target is finite).

    Raises:
        ValueError: ``pred``'s last axis does not match ``quantiles``.
    """
    if pred.shape[-1] != len(quantiles):
        raise ValueError(f"pred has {pred.shape[-1]} quantiles on its last axis, "
                         f"expected {len(quantiles)} for levels {quantiles}")
    q = torch.as_tensor(quantiles, dtype=pred.dtype, device=pred.device)    # [Q]
    finite = torch.isfinite(target)                                         # [B, H]
    err = torch.where(finite, target, torch.zeros_like(target)).unsqueeze(-1) - pred  # [B, H, Q]
    loss = torch.maximum(q * err, (q - 1.0) * err)                          # [B, H, Q]
    mask = finite.unsqueeze(-1).expand_as(loss).to(pred.dtype)             # [B, H, Q]
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)
