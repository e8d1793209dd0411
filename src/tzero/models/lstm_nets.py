"""Pure torch modules of spec 002 §3: ``LSTMDualHead`` and ``LSTMDualHeadEnhanced``.

Both map ``[B, T, F]`` inputs to ``(logits [B, 2], magnitude [B, H])``: a
2-class direction head (down/up over the horizon) and an H-step return head.
"""

from __future__ import annotations

import torch
from torch import nn

from tzero.models.nets import summed_condition


class LSTMDualHead(nn.Module):
    """Basic model: one unidirectional LSTM layer, last step, dropout, dual head.

    Spec 002 §3.1 / JSON ``architecture.LSTMDualHead``: LSTM(input, hidden,
    num_layers=1) → last hidden state → Dropout → Linear(h, h) + ReLU → Dropout
    → ``fc_direction`` Linear(h, 2) and ``fc_magnitude`` Linear(h, H).
    """

    def __init__(self, input_size: int, hidden_size: int = 64, num_layers: int = 1,
                 dropout: float = 0.3, horizon: int = 5) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=0.0 if num_layers <= 1 else dropout)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, hidden_size)
        self.fc_direction = nn.Linear(hidden_size, 2)
        self.fc_magnitude = nn.Linear(hidden_size, horizon)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, T, F]`` → direction logits ``[B, 2]`` and step returns ``[B, horizon]``."""
        out, _ = self.lstm(x)                       # [B, T, F] -> [B, T, H]
        h = self.drop(out[:, -1])                   # [B, H]
        h = self.drop(torch.relu(self.fc(h)))       # [B, H]
        return self.fc_direction(h), self.fc_magnitude(h)   # [B, 2], [B, horizon]


class SeqAttention(nn.Module):
    """Additive attention over time: softmax over the sequence of a learned score."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim // 2), nn.Tanh(), nn.Linear(dim // 2, 1))

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Attention-weighted sum over time: ``[B, T, D]`` → ``[B, D]``."""
        w = torch.softmax(self.score(seq), dim=1)   # [B, T, D] -> [B, T, 1]
        return (w * seq).sum(dim=1)                 # [B, D]


class LSTMDualHeadEnhanced(nn.Module):
    """Enhanced model (default): bidirectional LSTM, attention, skip connection, deep head.

    Spec 002 §3.2 / JSON ``architecture.LSTMDualHeadEnhanced``: BiLSTM(hidden,
    layers=3, dropout=0.2) → SeqAttention(2h) context; skip = ReLU(Linear(F, 2h))
    of the last input frame; concat → ``[B, 4h]`` → fc_shared
    Linear(4h, 256) → LayerNorm → ReLU → Dropout → Linear(256, 128) → ReLU →
    Dropout → Linear(128, 64) → ReLU → heads Linear(64, 2) and Linear(64, H).
    The spec writes the first layer as Linear(256, 256), i.e. 4h with h = 64;
    here its input follows ``hidden_size`` so the CV grid (32/64) applies.
    Init: LSTM input weights xavier, recurrent orthogonal, biases 0; fc_shared
    xavier; heads normal(0, 0.01).
    """

    def __init__(self, input_size: int, hidden_size: int = 128, num_layers: int = 3,
                 dropout: float = 0.2, horizon: int = 5) -> None:
        super().__init__()
        h2 = hidden_size * 2
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=0.0 if num_layers <= 1 else dropout)
        self.attention = SeqAttention(h2)
        self.skip = nn.Sequential(nn.Linear(input_size, h2), nn.ReLU())
        self.fc_shared = nn.Sequential(
            nn.Linear(2 * h2, 256), nn.LayerNorm(256), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(256, 128), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(128, 64), nn.ReLU(),
        )
        self.fc_direction = nn.Linear(64, 2)
        self.fc_magnitude = nn.Linear(64, horizon)
        self._init_weights()

    def _init_weights(self) -> None:
        for name, p in self.lstm.named_parameters():
            if "weight_ih" in name:
                nn.init.xavier_uniform_(p)
            elif "weight_hh" in name:
                nn.init.orthogonal_(p)
            else:
                nn.init.constant_(p, 0.0)
        for m in self.fc_shared:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for head in (self.fc_direction, self.fc_magnitude):
            nn.init.normal_(head.weight, 0.0, 0.01)
            nn.init.zeros_(head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, T, F]`` → direction logits ``[B, 2]`` and step returns ``[B, horizon]``."""
        out, _ = self.lstm(x)                       # [B, T, F] -> [B, T, 2h]
        ctx = self.attention(out)                   # [B, 2h]
        skip = self.skip(x[:, -1])                  # [B, F] -> [B, 2h]
        h = self.fc_shared(torch.cat([ctx, skip], dim=-1))   # [B, 4h] -> [B, 64]
        return self.fc_direction(h), self.fc_magnitude(h)     # [B, 2], [B, horizon]


def build_net(model_type: str, input_size: int, hidden_size: int, horizon: int) -> nn.Module:
    """Build ``enhanced`` (spec default: 3 layers, dropout 0.2) or ``basic`` (1 layer, 0.3).

    Raises:
        ValueError: unknown model type.
    """
    if model_type == "enhanced":
        return LSTMDualHeadEnhanced(input_size, hidden_size, num_layers=3, dropout=0.2, horizon=horizon)
    if model_type == "basic":
        return LSTMDualHead(input_size, hidden_size, num_layers=1, dropout=0.3, horizon=horizon)
    raise ValueError(f"model_type must be 'enhanced' or 'basic', got {model_type!r}")


class SharedLstmNet(nn.Module):
    """The universe-level LSTM of spec 000 §6.3: one network for every stock.

    Inputs: ``x [B, T, F]`` scale-free windows, ``symbol_id [B]`` (0 = a stock
    unseen in training) and ``static_id [B, S]`` (one category per static
    field, 0 = unknown). The symbol embedding and the summed static-field
    embeddings condition the LSTM's last hidden state (spec 000 §6.3: "在 LSTM
    输出后作为条件信息使用"). Outputs, as the spec-002 dual head plus a rank head:
    direction logits ``[B, 2]``, H step returns ``[B, H]`` and a ranking score
    ``[B]``.
    """

    def __init__(self, input_size: int, n_symbols: int, static_levels: tuple[int, ...],
                 hidden_size: int = 64, num_layers: int = 1, embed_dim: int = 8,
                 dropout: float = 0.1, horizon: int = 5) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=0.0 if num_layers <= 1 else dropout)
        # id 0 (a stock or category unseen in training) is a fixed zero vector
        self.symbol = nn.Embedding(n_symbols + 1, embed_dim, padding_idx=0)
        self.static = nn.ModuleList([nn.Embedding(n + 1, embed_dim, padding_idx=0)
                                     for n in static_levels])
        self.body = nn.Sequential(nn.Linear(hidden_size + embed_dim, hidden_size), nn.ReLU(),
                                  nn.Dropout(dropout))
        self.fc_direction = nn.Linear(hidden_size, 2)
        self.fc_magnitude = nn.Linear(hidden_size, horizon)
        self.fc_score = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, symbol_id: torch.Tensor, static_id: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """``[B, T, F], [B], [B, S]`` → ``logits [B, 2]``, ``ret [B, H]`` (percent), ``score [B]``
        (the dict contract of :mod:`tzero.models.nets`)."""
        out, _ = self.lstm(x)                                   # [B, T, F] -> [B, T, H]
        cond = summed_condition(self.symbol, self.static, symbol_id, static_id)   # [B, E]
        h = self.body(torch.cat([out[:, -1], cond], dim=-1))    # [B, H + E] -> [B, H]
        return {"logits": self.fc_direction(h), "ret": self.fc_magnitude(h),
                "score": self.fc_score(h).squeeze(-1)}
