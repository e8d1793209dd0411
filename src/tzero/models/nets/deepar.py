"""DeepAR: an autoregressive recurrent network with a parametric likelihood.

Source: D. Salinas, V. Flunkert, J. Gasthaus, T. Januschowski, "DeepAR:
Probabilistic forecasting with autoregressive recurrent networks",
International Journal of Forecasting 36(3), 2020 (arXiv:1704.04110).

Adaptation to the contract of :mod:`tzero.models.nets`: the conditioning
range is the window of F feature channels (not the target's own lags), read
by an LSTM *encoder*; a second LSTM, the *decoder*, started from the
encoder's final state, runs the prediction range autoregressively on the
target, the H step returns in **percent** (decimal × ``target_scale``). The
static covariates (symbol and static-field embeddings) are concatenated to
every step's input of both LSTMs, as DeepAR's item covariates are. The paper's
per-item scale ν is replaced by the fixed ``target_scale`` (returns are
already scale-free).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Normal, StudentT

from tzero.models.nets import QUANTILES, static_embeddings

#: Likelihoods ``DeepArNet`` supports.
LIKELIHOODS = ("studentt", "gaussian")

#: Floor added to ``softplus`` for the scale, in percent (keeps the NLL finite).
SCALE_EPS = 1e-3

#: Floor of ``df - 2`` in the Student-t variance ``scale² df / (df - 2)``.
DF_VAR_EPS = 1e-3

State = tuple[torch.Tensor, torch.Tensor]


def _standard_student_t(df: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard Student-t draws of shape ``df.shape`` by Bailey's polar method.

    Bailey (1994), "Polar generation of random variates with the
    t-distribution", Math. Comp. 62: draw ``U, V ~ U(-1, 1)`` until
    ``W = U² + V² <= 1``; then ``U √(ν (W^(-2/ν) - 1) / W)`` is ``t_ν``. Only
    uniforms are drawn, so a ``generator`` makes it reproducible (torch's
    gamma sampler takes none).
    """
    out = torch.zeros_like(df)
    todo = torch.ones_like(df, dtype=torch.bool)
    while bool(todo.any()):
        u = torch.rand(df.shape, generator=generator, device=df.device, dtype=df.dtype) * 2 - 1
        v = torch.rand(df.shape, generator=generator, device=df.device, dtype=df.dtype) * 2 - 1
        w = u * u + v * v
        ok = todo & (w <= 1) & (w > 0)
        w = torch.where(ok, w, torch.ones_like(w))
        t = u * torch.sqrt(df * (w.pow(-2.0 / df) - 1.0) / w)
        out = torch.where(ok, t, out)
        todo = todo & ~ok
    return out


class DeepArNet(nn.Module):
    """DeepAR over a feature window, with a Student-t or Gaussian likelihood per step.

    Encoder: ``LSTM([x_t, s])`` over the T sessions, ``s`` the static
    embedding (the symbol embedding and one per static field, concatenated;
    ``padding_idx=0``: id 0, unseen in training, is a zero vector). Decoder:
    ``LSTM([z_{h-1}, s])`` for ``h = 1..H`` from the encoder's final state,
    where ``z_{h-1}`` is the previous step return in percent; at ``h = 1`` it
    is a learned start token initialised to zero (the window's last return is
    one of the F channels at best, and which one is not known here). Each
    decoder step outputs the likelihood's parameters, in percent:
    ``loc``; ``scale = softplus + SCALE_EPS``; and for ``"studentt"``
    ``df = 2 + softplus`` (so the variance is finite).

    ``forward`` outputs (every key is computed on the free-running **mean
    path**, where ``loc`` of step ``h`` is the decoder's input at ``h + 1``,
    so they never depend on ``y``):

    - ``loc``, ``scale`` ``[B, H]`` (percent) and ``df`` ``[B, H]``
      (``inf`` for the Gaussian, whose limit the Student-t is);
    - ``ret [B, H]`` = ``loc`` (step returns in percent);
    - ``score [B]`` = ``loc.sum(-1)``, the expected cumulative return proxy
      (percent, additive);
    - ``logits [B, 2]``: ``(log P(C < 0), log P(C > 0))`` for the cumulative
      return ``C = Σ_h r_h``, with the steps taken as independent and each
      approximated by a normal of the same mean and variance (Student-t
      variance ``scale² df / (df - 2)``): ``C ~ N(Σ loc, Σ var)`` and
      ``P(C > 0) = Φ(Σ loc / √Σ var)``. Their softmax is that probability.

    With ``y`` it adds the teacher-forced pass (the decoder's input at step
    ``h`` is the true ``y_{h-1}``), as in the paper's training:

    - ``aux_loss``: mean negative log-likelihood of ``y`` (percent) over the
      finite targets;
    - ``tf_loc``, ``tf_scale``, ``tf_df`` ``[B, H]``: its parameters.

    The contract keys stay on the mean path so that a loss on ``ret`` or
    ``logits`` trains what inference returns and never sees ``y_{h-1}``.

    Args:
        n_features: F input channels per session.
        n_symbols: symbol ids ``1..n_symbols`` (0 = unseen).
        static_levels: categories per static field (ids ``1..n``, 0 unknown).
        horizon: H forecast steps.
        hidden_size: LSTM units (encoder and decoder).
        num_layers: LSTM layers (encoder and decoder).
        dropout: dropout between LSTM layers and before the parameter head.
        likelihood: ``"studentt"`` or ``"gaussian"``.
        embed_dim: size of each static embedding.
        target_scale: factor from decimal returns to the target's units (100: percent).

    Raises:
        ValueError: an unknown ``likelihood``.
    """

    cross_sectional = False

    def __init__(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...],
                 horizon: int, hidden_size: int = 32, num_layers: int = 2,
                 dropout: float = 0.1, likelihood: str = "studentt", embed_dim: int = 8,
                 target_scale: float = 100.0) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.horizon = horizon
        self.likelihood = likelihood
        self.target_scale = target_scale
        self.symbol = nn.Embedding(n_symbols + 1, embed_dim, padding_idx=0)
        self.static = nn.ModuleList([nn.Embedding(n + 1, embed_dim, padding_idx=0)
                                     for n in static_levels])
        d_static = embed_dim * (1 + len(static_levels))
        lstm_dropout = 0.0 if num_layers <= 1 else dropout
        self.encoder = nn.LSTM(n_features + d_static, hidden_size, num_layers=num_layers,
                               batch_first=True, dropout=lstm_dropout)
        self.decoder = nn.LSTM(1 + d_static, hidden_size, num_layers=num_layers,
                               batch_first=True, dropout=lstm_dropout)
        self.start_token = nn.Parameter(torch.zeros(1))       # z_0, percent
        self.drop = nn.Dropout(dropout)
        self.fc_params = nn.Linear(hidden_size, 3 if likelihood == "studentt" else 2)

    # ---------------------------------------------------------------- pieces
    def _static(self, symbol_id: torch.Tensor, static_id: torch.Tensor) -> torch.Tensor:
        """``[B], [B, S]`` → concatenated static embedding ``[B, E (1 + S)]``."""
        embs = static_embeddings(self.symbol, self.static, symbol_id, static_id)
        return torch.cat(embs, dim=-1)

    def _encode(self, x: torch.Tensor, s: torch.Tensor) -> State:
        """``x [B, T, F]``, ``s [B, Es]`` → the encoder's final ``(h, c)``, each ``[L, B, hidden]``."""
        inp = torch.cat([x, s.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)  # [B, T, F+Es]
        _, state = self.encoder(inp)
        return state

    def _params(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decoder output ``[..., hidden]`` → ``loc``, ``scale``, ``df``, each ``[...]``."""
        p = self.fc_params(self.drop(out))                    # [..., 2 or 3]
        loc = p[..., 0]
        scale = F.softplus(p[..., 1]) + SCALE_EPS
        if self.likelihood == "studentt":
            df = 2.0 + F.softplus(p[..., 2])
        else:
            df = torch.full_like(loc, float("inf"))
        return loc, scale, df

    def _distribution(self, loc: torch.Tensor, scale: torch.Tensor, df: torch.Tensor
                      ) -> Distribution:
        if self.likelihood == "studentt":
            return StudentT(df, loc, scale)
        return Normal(loc, scale)

    def _variance(self, scale: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
        """Per-step variance (percent²): ``scale²`` or ``scale² df / (df - 2)``."""
        if self.likelihood == "studentt":
            return scale.pow(2) * df / (df - 2.0).clamp_min(DF_VAR_EPS)
        return scale.pow(2)

    def _rollout(self, s: torch.Tensor, state: State,
                 draw: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the decoder H steps, feeding ``draw(loc, scale, df)`` back as the next input.

        Returns ``loc``, ``scale``, ``df`` and the fed-back values ``z``, each ``[N, H]``.
        """
        n = s.shape[0]
        z = self.start_token.expand(n)                        # [N]
        locs, scales, dfs, zs = [], [], [], []
        for _ in range(self.horizon):
            inp = torch.cat([z.unsqueeze(-1), s], dim=-1).unsqueeze(1)   # [N, 1, 1+Es]
            out, state = self.decoder(inp, state)             # [N, 1, hidden]
            loc, scale, df = self._params(out[:, 0])          # [N] each
            z = draw(loc, scale, df)                          # [N]
            locs.append(loc)
            scales.append(scale)
            dfs.append(df)
            zs.append(z)
        return (torch.stack(locs, 1), torch.stack(scales, 1), torch.stack(dfs, 1),
                torch.stack(zs, 1))

    def _sign_logits(self, loc: torch.Tensor, scale: torch.Tensor, df: torch.Tensor
                     ) -> torch.Tensor:
        """``[B, H]`` parameters → ``(log P(C<0), log P(C>0))`` ``[B, 2]`` under ``C ~ N(Σ loc, Σ var)``."""
        mean = loc.sum(-1)                                    # [B]
        std = self._variance(scale, df).sum(-1).sqrt()        # [B]
        z = mean / std
        return torch.stack([torch.special.log_ndtr(-z), torch.special.log_ndtr(z)], dim=-1)

    def _teacher_forced(self, s: torch.Tensor, state: State, y_pct: torch.Tensor
                        ) -> dict[str, torch.Tensor]:
        """Decoder on the true previous steps; returns its parameters and the mean NLL."""
        b = y_pct.shape[0]
        finite = torch.isfinite(y_pct)                        # [B, H]
        y0 = torch.where(finite, y_pct, torch.zeros_like(y_pct))
        z_in = torch.cat([self.start_token.expand(b, 1), y0[:, :-1]], dim=1)     # [B, H]
        inp = torch.cat([z_in.unsqueeze(-1),
                         s.unsqueeze(1).expand(-1, self.horizon, -1)], dim=-1)  # [B, H, 1+Es]
        out, _ = self.decoder(inp, state)                     # [B, H, hidden]
        loc, scale, df = self._params(out)                    # [B, H] each
        nll = -self._distribution(loc, scale, df).log_prob(y0)   # [B, H]
        mask = finite.to(nll.dtype)
        aux = (nll * mask).sum() / mask.sum().clamp_min(1.0)
        return {"aux_loss": aux, "tf_loc": loc, "tf_scale": scale, "tf_df": df}

    # ------------------------------------------------------------ interface
    def forward(self, x: torch.Tensor, symbol_id: torch.Tensor, static_id: torch.Tensor,
                y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``x [B, T, F]``, ``symbol_id [B]``, ``static_id [B, S]``, optional ``y [B, H]``.

        Args:
            x: feature windows.
            symbol_id: symbol ids (0 = unseen).
            static_id: one category id per static field (0 = unknown).
            y: the H realised step returns in **decimal** (NaN where unknown);
                given, the teacher-forced NLL is added as ``aux_loss``.

        Returns:
            ``loc``, ``scale``, ``df``, ``ret`` ``[B, H]``, ``score [B]``,
            ``logits [B, 2]`` on the mean path; with ``y`` also ``aux_loss``
            (scalar) and ``tf_loc``, ``tf_scale``, ``tf_df`` ``[B, H]``.
        """
        s = self._static(symbol_id, static_id)                # [B, Es]
        state = self._encode(x, s)                            # [L, B, hidden] x 2
        loc, scale, df, _ = self._rollout(s, state, lambda m, _sc, _df: m)   # [B, H] each
        out = {"loc": loc, "scale": scale, "df": df, "ret": loc,
               "score": loc.sum(-1),                          # [B]
               "logits": self._sign_logits(loc, scale, df)}   # [B, 2]
        if y is not None:
            out.update(self._teacher_forced(s, state, y * self.target_scale))
        return out

    @torch.no_grad()
    def sample(self, x: torch.Tensor, symbol_id: torch.Tensor, static_id: torch.Tensor,
               n_samples: int, generator: torch.Generator | None = None,
               common_noise: bool = False) -> torch.Tensor:
        """Draw ``n_samples`` sample paths autoregressively (each draw is the next input).

        Call in ``eval()`` mode, or dropout also varies the paths. No gradients.

        Args:
            x: ``[B, T, F]`` feature windows.
            symbol_id: ``[B]`` symbol ids.
            static_id: ``[B, S]`` static-field ids.
            n_samples: S paths per row.
            generator: a seeded ``torch.Generator`` on ``x``'s device for
                reproducible draws (the global RNG when ``None``).
            common_noise: use the same standard draws ``[S, H]`` for every row
                (common random numbers), so a row's paths do not depend on
                the other rows of the batch (the forecast of a stock is the
                same in any batch). Student-t draws then use the
                Wilson–Hilferty approximation of the chi-square
                (``df·(1 − 2/(9df) + w·√(2/(9df)))³``, Wilson & Hilferty 1931).

        Returns:
            ``[S, B, H]`` step returns in percent.
        """
        b = x.shape[0]
        s = self._static(symbol_id, static_id)                # [B, Es]
        h, c = self._encode(x, s)                             # [L, B, hidden]
        s = s.repeat(n_samples, 1)                            # [S*B, Es], row = k*B + b
        state = (h.repeat(1, n_samples, 1), c.repeat(1, n_samples, 1))   # [L, S*B, hidden]

        step = [0]
        if common_noise:
            shape = (n_samples, self.horizon)
            zc = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
            wc = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)

        def draw(loc: torch.Tensor, scale: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
            if common_noise:
                k = step[0]
                step[0] += 1
                z = zc[:, k].repeat_interleave(b)                 # [S*B], row = k*B + b
                if self.likelihood != "studentt":
                    return loc + scale * z
                w = wc[:, k].repeat_interleave(b)
                a = 2.0 / (9.0 * df)
                chi2 = df * torch.clamp(1 - a + w * a.sqrt(), min=1e-3) ** 3
                return loc + scale * z / torch.sqrt(chi2 / df)
            if self.likelihood == "studentt":
                eps = _standard_student_t(df, generator)
            else:
                eps = torch.randn(loc.shape, generator=generator, device=loc.device,
                                  dtype=loc.dtype)
            return loc + scale * eps

        _, _, _, z = self._rollout(s, state, draw)           # [S*B, H]
        return z.view(n_samples, b, self.horizon)


def crps_from_samples(samples: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """CRPS of the empirical distribution of ``samples`` at ``y``, per column.

    Energy form (Gneiting & Raftery 2007, eq. 21): ``CRPS = E|X - y| - ½ E|X - X'|``
    with ``X, X'`` independent draws from the S samples (pairs ``i = j``
    included, i.e. the CRPS of the empirical CDF). The second term uses the
    sorted samples: ``½ E|X - X'| = Σ_i (2i - S - 1) x_(i) / S²``, O(S log S).

    Args:
        samples: ``[S, N]`` draws.
        y: ``[N]`` observations, same units.

    Returns:
        ``[N]`` CRPS, in the units of ``y`` (0 for a point mass at ``y``).
    """
    s = samples.shape[0]
    term1 = (samples - y.unsqueeze(0)).abs().mean(0)                        # [N]
    ordered, _ = torch.sort(samples, dim=0)                                 # [S, N]
    i = torch.arange(1, s + 1, device=samples.device, dtype=samples.dtype)  # [S]
    w = (2 * i - s - 1) / (s * s)
    return term1 - (w.unsqueeze(-1) * ordered).sum(0)                       # [N]


def sample_summary(samples: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-step summary of sample paths of step returns.

    Args:
        samples: ``[S, B, H]`` step returns in **percent** (``DeepArNet.sample``).

    Returns:
        A dict of tensors, per row and step ``h``:

        - ``ret_mean [B, H]``: mean step return, **percent**;
        - ``cum_mean``, ``cum_std`` ``[B, H]``: mean and (population, ddof 0)
          standard deviation of the cumulative return
          ``cum_h = Π_{k<=h} (1 + r_k / 100) - 1``, **decimal**;
        - ``p_up [B, H]``: the share of paths with ``cum_h > 0``;
        - ``cum_quantiles [B, H, Q]``: quantiles of ``cum_h`` (decimal) at
          :data:`~tzero.models.nets.QUANTILES`, linear interpolation (numpy's default).
    """
    cum = torch.cumprod(1.0 + samples / 100.0, dim=-1) - 1.0                # [S, B, H], decimal
    q = torch.as_tensor(QUANTILES, dtype=samples.dtype, device=samples.device)
    return {
        "ret_mean": samples.mean(0),
        "cum_mean": cum.mean(0),
        "cum_std": cum.std(0, correction=0),
        "p_up": (cum > 0).to(samples.dtype).mean(0),
        "cum_quantiles": torch.quantile(cum, q, dim=0).permute(1, 2, 0),    # [Q, B, H] -> [B, H, Q]
    }
