"""The three-stage hybrid of spec 001 over a universe.

- **Stage 1** (空间特征提取器): :class:`tzero.models.nets.hybrid.CrossSectionalEncoder`,
  a Transformer over all stocks of one session (``[N, Fs]`` snapshots of
  that day: :func:`tzero.features.cross_section.snapshot_rows`, z-scored
  across the session's stocks) with a learned market token (the index) →
  relationship embeddings ``[N, d]``, attention ``[heads, N+1, N+1]``, the
  pooled market feature and a baseline prediction, trained first (on the
  training dates only) against the per-date rank of the tradeable return.
  The relationship features are the chosen extractors: V1 attention to the
  index, to the sector and its entropy; V2 the embedding projected to
  ``rel_dim``; V3 a contrastive projection (same-industry positives).
- **Stage 2** (残差提升, optional): :class:`tzero.models.nets.hybrid.ResidualBoost`
  fits the baseline's residual.
- **Stage 3** (时序预测器): a temporal net (``stage3 = lstm | tcn | tft``) on
  each stock's window of its own channels plus, at every session of the
  window, that session's relationship features and baseline — trained by the
  shared pipeline of :mod:`tzero.models.global_net`.

Stage 1 is frozen after its training; relationship features are computed
once per session and cross-section and cached on the model, so a daily
update scores the new session only and never retrains Stage 1 (spec 001
"增量更新"). The three sizes of spec 001 "推荐配置" are ``size = small |
medium | large``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from tzero.features.cross_section import ROBUST_CLIP, per_date_normalise, snapshot_rows
from tzero.models import explain as xp
from tzero.models.base import panel_until
from tzero.models.global_net import GlobalNetConfig, GlobalNetForecaster, weights_bytes
from tzero.models.lstm_nets import SharedLstmNet
from tzero.models.nets.hybrid import STAGE1_SIZES, CrossSectionalEncoder, ResidualBoost
from tzero.models.nets.tcn import TcnNet
from tzero.models.nets.tft import TftNet
from tzero.training.datasets import ArrayData, SeriesArrays
from tzero.training.samplers import DateBatchSampler
from tzero.training.trainer import TrainConfig, Trainer


def _stage3_lstm(c: HybridConfig, f: int, n: int, lv: tuple[int, ...]) -> nn.Module:
    return SharedLstmNet(f, n, lv, c.hidden_size, 2, c.embed_dim, c.dropout, c.horizon)


def _stage3_tcn(c: HybridConfig, f: int, n: int, lv: tuple[int, ...]) -> nn.Module:
    return TcnNet(n_features=f, n_symbols=n, static_levels=lv, horizon=c.horizon,
                  seq_len=c.seq_len, channels=c.hidden_size, dropout=c.dropout,
                  embed_dim=c.embed_dim)


def _stage3_tft(c: HybridConfig, f: int, n: int, lv: tuple[int, ...]) -> nn.Module:
    return TftNet(n_features=f, n_symbols=n, static_levels=lv, horizon=c.horizon,
                  hidden_size=c.hidden_size, nhead=4, dropout=c.dropout, embed_dim=c.embed_dim)


#: Stage-3 temporal predictors of spec 001 (方案A TFT, 方案B LSTM, 方案C TCN).
STAGE3: dict[str, Callable[..., nn.Module]] = {"lstm": _stage3_lstm, "tcn": _stage3_tcn,
                                               "tft": _stage3_tft}


@dataclass(frozen=True)
class HybridConfig(GlobalNetConfig):
    """Configuration of :class:`HybridForecaster` (shared fields: :class:`GlobalNetConfig`).

    Attributes:
        size: Stage-1 size of spec 001 "推荐配置" (``small``: d 64, 4 heads,
            2 layers, 16-dim relationships; ``medium``; ``large``).
        extractors: relationship extractors (``v1``, ``v2``, ``v3``).
        stage1_epochs, stage1_lr: Stage-1 training (every epoch runs; no early stop).
        stage2: train the residual boost.
        stage3: ``lstm`` (spec 001 small), ``tcn`` or ``tft``; hidden_size its width.
    """

    size: str = "small"
    extractors: tuple[str, ...] = ("v1", "v2")
    stage1_epochs: int = 10
    stage1_lr: float = 1e-3
    stage2: bool = False
    stage3: str = "lstm"
    hidden_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size not in STAGE1_SIZES:
            raise ValueError(f"size must be one of {list(STAGE1_SIZES)}, got {self.size!r}")
        if self.stage3 not in STAGE3:
            raise ValueError(f"stage3 must be one of {list(STAGE3)}, got {self.stage3!r}")


class HybridForecaster(GlobalNetForecaster):
    """Spec 001's three-stage hybrid (see the module docstring).

    Extra fitted attributes: ``stage1_`` (the frozen encoder), ``boost_``
    (Stage 2 or None); ``rel_cache_`` maps (session, stocks) to its
    relationship features (not saved; rebuilt on demand).
    """

    name: ClassVar[str] = "hybrid"
    config_cls: ClassVar[type[GlobalNetConfig]] = HybridConfig
    cross_sectional: ClassVar[bool] = True

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> HybridConfig:
        """Spec 001 small sizes, LSTM Stage 3; ``fast``: Stage 1 for 3 epochs, Stage 3 hidden
        32 for at most 4 epochs, 500 sessions."""
        if fast:
            return HybridConfig(stage1_epochs=3, hidden_size=32, history=500, train=TrainConfig(
                lr=2e-3, epochs=4, patience=2, augment=False, reg_loss_type="mse", seed=seed))
        return HybridConfig(train=replace(HybridConfig().train, seed=seed))

    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        return STAGE3[self.config.stage3](self.config, n_features, n_symbols, static_levels)

    # ---------------------------------------------------------------- stage 1
    def _industry(self, ds: SeriesArrays) -> np.ndarray:
        fields = self.config.static_fields
        if "industry" not in fields:
            return np.zeros(len(ds.rows), np.int64)
        return np.asarray(ds.labels["static_id"][:, fields.index("industry")], np.int64)

    def _new_stage1(self, n_snap: int) -> CrossSectionalEncoder:
        sizes = dict(STAGE1_SIZES[self.config.size])
        return CrossSectionalEncoder(n_snap, len(self.vocab_.get("industry", {})),
                                     extractors=self.config.extractors,
                                     dropout=self.config.dropout, **sizes)

    def _train_stage1(self, ds: SeriesArrays, snap: np.ndarray, ind: np.ndarray,
                      fit_mask: np.ndarray) -> None:
        """Stage 1 (and 2) on the sessions of the training samples; targets: their per-date
        rank of the tradeable return (other stocks of those sessions are inputs only)."""
        cfg = self.config
        fit = ds.select(fit_mask)
        target = np.full(len(ds.rows), np.nan, np.float32)
        target[fit.end_row] = per_date_normalise(fit.labels["y_tradeable"][fit.end_row],
                                                 fit.row_date[fit.end_row], "rank")
        rows = np.flatnonzero(np.isin(ds.row_date, np.unique(fit.row_date[fit.end_row])))
        data = ArrayData({"snap": snap[rows], "industry_id": ind[rows], "target": target[rows]})
        tc = TrainConfig(lr=cfg.stage1_lr, epochs=cfg.stage1_epochs, patience=cfg.stage1_epochs,
                         augment=False, reg_loss_type="mse", seed=cfg.train.seed)
        torch.manual_seed(cfg.train.seed)
        self.stage1_ = self._new_stage1(snap.shape[1])
        trainer = Trainer(tc)
        sampler = DateBatchSampler(ds.row_date[rows], generator=trainer.generator)
        trainer.fit(self.stage1_, _stage1_loss, data, sampler, inputs=("snap", "industry_id"))
        self.stage1_.cpu().eval()
        self.boost_: ResidualBoost | None = None
        if cfg.stage2:
            self.boost_ = ResidualBoost(snap.shape[1], self.stage1_.d_model)
            trainer = Trainer(tc)
            sampler = DateBatchSampler(ds.row_date[rows], generator=trainer.generator)
            trainer.fit(_Boosted(self.stage1_, self.boost_), _boost_loss, data, sampler,
                        inputs=("snap", "industry_id"))
            self.boost_.cpu().eval()

    def _relationships(self, ds: SeriesArrays, snap: np.ndarray, ind: np.ndarray) -> np.ndarray:
        """``[R, relationship_dim + 1]`` Stage-1 features and baseline of every row, cached
        per (session, cross-section)."""
        cache = self.__dict__.setdefault("rel_cache_", {})
        out = np.zeros((len(ds.rows), self.stage1_.relationship_dim + 1), np.float32)
        order = np.argsort(ds.row_date, kind="stable")
        dates, starts = np.unique(ds.row_date[order], return_index=True)
        codes = np.asarray(ds.ts_codes, dtype=object)[np.searchsorted(ds.offsets, np.arange(
            len(ds.rows)), side="right") - 1]                                # [R] ts_code of each row
        self.stage1_.eval()
        with torch.no_grad():
            for d, rows in zip(dates, np.split(order, starts[1:]), strict=True):
                key = (str(ds.dates[d]), tuple(codes[rows]))
                hit = cache.get(key)
                if hit is None:
                    res = self.stage1_(torch.from_numpy(snap[rows]), torch.from_numpy(ind[rows]))
                    base = res["baseline"]
                    if self.boost_ is not None:
                        base = base + self.boost_(torch.from_numpy(snap[rows]), res["embedding"])
                    hit = torch.cat([res["relationship"], base[:, None]], 1).numpy()
                    cache[key] = hit
                out[rows] = hit
        return out

    def _prepare(self, ds: SeriesArrays, fit_mask: np.ndarray | None) -> SeriesArrays:
        """Append the Stage-1 relationship features and baseline to every row's channels."""
        snap = per_date_normalise(snapshot_rows(ds.rows, ds.offsets), ds.row_date, "zscore")
        snap = np.clip(snap, -ROBUST_CLIP, ROBUST_CLIP).astype(np.float32)
        ind = self._industry(ds)
        if fit_mask is not None:
            self.__dict__.pop("rel_cache_", None)
            self._train_stage1(ds, snap, ind, fit_mask)
        return ds.with_channels(self._relationships(ds, snap, ind))

    def _channel_names(self, n: int) -> list[str]:
        names = list(getattr(self, "channels_", []))
        rel = []
        for e in self.config.extractors:
            if e == "v1":
                rel += ["attention_to_index", "attention_to_sector", "attention_entropy"]
            else:
                rel += [f"{e}_{k}" for k in range(STAGE1_SIZES[self.config.size]["rel_dim"])]
        names += rel + ["stage1_baseline"]
        return names + [f"extra_{k}" for k in range(n - len(names))]

    def explain(self, panel: pd.DataFrame, as_of: Any, codes: list[str] | None = None,
                top: int = 5) -> dict[str, dict]:
        """SHAP drivers of Stage 3 (its relationship channels included) plus Stage 1's
        attention over the session's stocks (``stocks``: "which stocks it leaned on") and
        on the market token (``attention_to_index``)."""
        res = super().explain(panel, as_of, codes, top)
        ds = self._dataset(panel_until(panel, as_of))
        day = ds.row_date.max()
        rows = np.flatnonzero(ds.row_date == day)
        snap = per_date_normalise(snapshot_rows(ds.rows, ds.offsets), ds.row_date, "zscore")
        snap = np.clip(snap[rows], -ROBUST_CLIP, ROBUST_CLIP).astype(np.float32)
        with torch.no_grad():
            att = self.stage1_(torch.from_numpy(snap), torch.from_numpy(self._industry(ds)[rows]))
        w = att["attention"].mean(0).numpy()                  # [N+1, N+1], token 0 = market
        codes_r = [ds.ts_codes[k] for k in np.searchsorted(ds.offsets, rows, side="right") - 1]
        for j, code in enumerate(codes_r):
            if code in res:
                row = w[j + 1, 1:].copy()
                row[j] = -1.0                                  # the stock itself
                res[code]["stocks"] = xp.weights(row, codes_r, "ts_code", top)
                res[code]["attention_to_index"] = round(float(w[j + 1, 0]), 6)
        return res

    # ------------------------------------------------------------------ state
    def _extra_state(self) -> dict:
        return {"stage1": weights_bytes(self.stage1_),
                "boost": weights_bytes(self.boost_) if self.boost_ is not None else None,
                "n_snap": int(self.stage1_.n_features)}

    def _load_extra(self, extra: dict) -> None:
        self.stage1_ = self._new_stage1(int(extra["n_snap"]))
        self.stage1_.load_state_dict(torch.load(io.BytesIO(extra["stage1"]), weights_only=True))
        self.stage1_.eval()
        self.boost_ = None
        if extra.get("boost"):
            self.boost_ = ResidualBoost(int(extra["n_snap"]), self.stage1_.d_model)
            self.boost_.load_state_dict(torch.load(io.BytesIO(extra["boost"]), weights_only=True))
            self.boost_.eval()


class _Boosted(nn.Module):
    """Stage 1 frozen, Stage 2 trained: ``(baseline.detach(), boost)`` of a session."""

    def __init__(self, stage1: CrossSectionalEncoder, boost: ResidualBoost) -> None:
        super().__init__()
        self.stage1, self.boost = stage1, boost
        for p in stage1.parameters():
            p.requires_grad_(False)

    def forward(self, snap: torch.Tensor, industry_id: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[N, Fs], [N]`` → ``baseline`` (Stage 1, fixed) and ``boost`` ``[N]``."""
        self.stage1.eval()
        with torch.no_grad():
            res = self.stage1(snap, industry_id)
        return {"baseline": res["baseline"], "boost": self.boost(snap, res["embedding"])}


def _masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    ok = torch.isfinite(target)
    if not ok.any():
        return pred.sum() * 0
    return nn.functional.mse_loss(pred[ok], target[ok])


def _stage1_loss(out: dict[str, Any], b: dict) -> torch.Tensor:
    loss = _masked_mse(out["baseline"], b["target"])
    return loss + out["aux_loss"] if "aux_loss" in out else loss


def _boost_loss(out: dict[str, Any], b: dict) -> torch.Tensor:
    return _masked_mse(out["boost"], b["target"] - out["baseline"])
