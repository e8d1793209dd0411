"""Pure ``nn.Module`` networks of the universe-level (global) deep models.

The contract every net here follows (the forecasters in ``tzero.models`` build
and train them through :class:`tzero.training.trainer.Trainer`):

Constructor keywords: ``n_features`` (F channels per input row),
``n_symbols`` (symbol ids 1..n; id 0 is a stock unseen in training and maps
to a zero vector, ``padding_idx=0``), ``static_levels`` (per static field of
``stock_static_features`` the number of categories; ids 1..n, 0 unknown),
``horizon`` (H steps), then the net's own sizes.

``forward(x [B, T, F] float32, symbol_id [B] int64, static_id [B, S] int64)``
returns a ``dict`` of tensors:

- ``logits`` ``[B, 2]``: direction over the horizon (down, up);
- ``ret`` ``[B, H]``: step returns in percent (decimal × 100);
- ``score`` ``[B]``: cross-sectional ranking score;
- optional ``quantiles`` ``[B, H, Q]``: quantiles of the cumulative return in
  percent at :data:`QUANTILES`, non-decreasing along Q;
- optional ``importance`` ``[B, F]``: per-input-channel weights (sum 1);
- optional ``attn_time`` ``[B, T]``: weights over the window's sessions (sum 1);
- optional ``attn_stock`` ``[B, B]``: weights over the batch's stocks (rows sum 1);
- optional ``aux_loss``: a scalar added to the training loss (e.g. a
  likelihood or a contrastive term), only in training mode.

Nets with ``cross_sectional = True`` mix the stocks of a batch: the trainer
then feeds one session per batch (every window ends on the same date), so
the mixing never crosses dates and never sees a later session.
"""

import torch
from torch import nn

#: Quantile levels of the ``quantiles`` output (match ``tzero.models.base.QUANTILE_COLUMNS``).
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def static_embeddings(symbol: nn.Embedding, static: nn.ModuleList, symbol_id: torch.Tensor,
                      static_id: torch.Tensor) -> list[torch.Tensor]:
    """The symbol embedding then one embedding per static field: ``1 + S`` tensors ``[B, E]``
    (ids ``[B]`` and ``[B, S]``; id 0 maps to the zero vector of ``padding_idx=0``)."""
    return [symbol(symbol_id)] + [emb(static_id[:, k]) for k, emb in enumerate(static)]


def summed_condition(symbol: nn.Embedding, static: nn.ModuleList, symbol_id: torch.Tensor,
                     static_id: torch.Tensor) -> torch.Tensor:
    """Symbol embedding plus the summed static-field embeddings: ``[B], [B, S]`` → ``[B, E]``."""
    cond = symbol(symbol_id)                                               # [B] -> [B, E]
    for k, emb in enumerate(static):
        cond = cond + emb(static_id[:, k])                                 # [B, E]
    return cond

