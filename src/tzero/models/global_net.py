"""The one universe-level deep forecaster: data, splits, training, serving (DESIGN.md "Models").

Every global deep model of the table (``lstm_shared``, ``transformer``,
``tcn``, ``tft``, ``deepar``, ``finmamba``, ``hybrid``) is this class plus a
network from :mod:`tzero.models.nets` (the dict contract documented there):
a subclass names its config class and builds its net, nothing else. The
pipeline, written once here:

1. Inputs per stock (:func:`tzero.features.cross_section.input_rows`): the
   scale-free Alpha360-style channels (log OHLC and VWAP relative to the
   window's last close, log1p volume relative to its last volume), optionally
   followed by the 21 spec-002 features; windows of ``seq_len`` sessions are
   cut lazily from one contiguous row array (:class:`tzero.training.datasets.SeriesArrays`).
   Inputs are robust-z-scored per feature with a scaler fitted on training
   windows only.
2. Conditioning: a ``symbol_id`` (0 = a stock not seen in training) and one
   category per static field of ``stock_static_features`` (industry,
   size/volatility/liquidity buckets; the row with the latest ``as_of_date``
   ≤ the sample's date, so no look-ahead).
3. Samples: every (stock, session) of the universe *as of that session*
   (the membership matrix passed to ``fit``); the rest of the panel only
   supplies history.
4. Labels: the spec-002 dual head (direction of the 5-session return, the 5
   daily returns) plus a ranking score trained on the **tradeable return**
   ``close[t+2]/close[t+1] − 1`` ranked across the stocks of each date
   (Qlib's ``CSRankNorm``): a signal formed after the close of t can be
   bought at t+1 at the earliest (T+1).
5. Time split by date with gaps ≥ the horizon: training dates, the last
   ``val_fraction`` of them for early stopping (validation Rank IC), then a
   holdout of the last ``holdout_sessions`` dates never trained on; its
   metrics feed the deploy gate. The model kept is this one (not refit).
6. Training: the one :class:`tzero.training.trainer.Trainer`, one session per
   batch (:class:`tzero.training.samplers.DateBatchSampler`, Qlib's
   ``DailyBatchSampler``), so cross-sectional nets mix only the stocks of one
   date.

Loss = ``weight_dir`` × CE(direction) + ``weight_reg`` × MSE(returns in
percent) + ``weight_rank`` × MSE(score, per-date rank label) [+
``weight_quantile`` × pinball loss of the cumulative-return quantiles when the
net emits them] [+ the net's own ``aux_loss``: a likelihood, a contrastive
term].
"""

from __future__ import annotations

import dataclasses
import io
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from tzero.errors import ModelError
from tzero.features.cross_section import ALPHA_RELATIVE, ScalerParams, input_rows
from tzero.models import explain as xp
from tzero.models.base import (
    QUANTILE_COLUMNS,
    Forecaster,
    Frequency,
    Scope,
    check_state,
    panel_until,
)
from tzero.models.nets import QUANTILES
from tzero.training.datasets import SeriesArrays, SeriesInput, series_labels
from tzero.training.losses import pinball
from tzero.training.metrics import daily_ic, gate_metrics, quantile_crps
from tzero.training.samplers import DateBatchSampler
from tzero.training.trainer import TrainConfig, Trainer

RETURN_SCALE = 100.0           # returns trained in percent (as the per-stock LSTM)
STATIC_FIELDS = ("industry", "size_bucket", "volatility_bucket", "liquidity_bucket")
NET_INPUTS = ("x", "symbol_id", "static_id")


def _train_default() -> TrainConfig:
    return TrainConfig(lr=1e-3, epochs=20, patience=5, augment=False, reg_loss_type="mse", t_0=50)


@dataclass(frozen=True)
class GlobalNetConfig:
    """Fields every universe-level deep model shares (subclasses add the net's sizes).

    Attributes:
        horizon, seq_len: 5 sessions ahead from 60-session windows (spec 002 §1).
        embed_dim, dropout: embedding width of symbols and static fields; dropout.
        lstm_features: append the 21 spec-002 features to the alpha channels.
        history: at most this many most recent sessions of the panel (None: all).
        holdout_sessions: last dates held out for the gate (never trained on).
        val_fraction: share of the training dates used for early stopping.
        weight_dir, weight_reg, weight_rank, weight_quantile: loss weights.
        static_fields: ``stock_static_features`` columns used as covariates.
        train: the trainer's hyper-parameters (epochs, lr, patience, seed).
    """

    horizon: int = 5
    seq_len: int = 60
    embed_dim: int = 8
    dropout: float = 0.1
    lstm_features: bool = False
    history: int | None = None
    holdout_sessions: int = 120
    val_fraction: float = 0.15
    weight_dir: float = 1.0
    weight_reg: float = 1.0
    weight_rank: float = 1.0
    weight_quantile: float = 1.0
    static_fields: tuple[str, ...] = STATIC_FIELDS
    train: TrainConfig = field(default_factory=_train_default)

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.seq_len < 2 or self.holdout_sessions < 10:
            raise ValueError("need horizon >= 1, seq_len >= 2 and holdout_sessions >= 10")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Rebuild from :func:`dataclasses.asdict` output (lists back to tuples)."""
        kw = dict(d)
        kw["train"] = TrainConfig(**kw["train"])
        for f in dataclasses.fields(cls):
            if isinstance(kw.get(f.name), list):
                kw[f.name] = tuple(kw[f.name])
        return cls(**kw)


class GlobalNetForecaster(Forecaster):
    """One network over a universe (see the module docstring); subclasses build the net.

    Fitted attributes: ``net_``, ``scaler_`` (robust z-score params),
    ``symbols_`` (ts_code → embedding id ≥ 1; 0, a stock unseen in training,
    maps to a zero vector), ``vocab_`` (static field → category → id ≥ 1),
    ``static_`` (ts_code → static ids as of ``trained_until_``, used when
    predicting), ``resid_std_`` ``[H]`` (decimal, validation residuals),
    ``metrics_`` (holdout), ``trained_until_`` (the last session any training
    or validation label reached).
    """

    scope: ClassVar[Scope] = "global"
    frequency: ClassVar[Frequency] = "daily"
    ranking: ClassVar[bool] = True
    min_history: ClassVar[int] = 61
    explains: ClassVar[bool] = True
    config_cls: ClassVar[type[GlobalNetConfig]] = GlobalNetConfig
    #: batch keys passed to the net while training (DeepAR adds its teacher-forced target)
    train_inputs: ClassVar[tuple[str, ...]] = NET_INPUTS

    @abstractmethod
    def _build_net(self, n_features: int, n_symbols: int, static_levels: tuple[int, ...]
                   ) -> nn.Module:
        """The untrained net for ``n_features`` input channels (sizes from ``self.config``)."""

    # ------------------------------------------------------------------ data
    def _series(self, panel: pd.DataFrame, static: pd.DataFrame | None) -> list[SeriesInput]:
        out = []
        for code, bars in panel.groupby("ts_code", sort=True):
            bars = bars.reset_index(drop=True)
            if len(bars) < self.config.seq_len:
                continue
            rows = input_rows(bars, lstm_features=self.config.lstm_features)
            self.channels_ = list(rows.names)
            labels = series_labels(bars["close"].to_numpy(float), self.config.horizon)
            labels["static_id"] = self._static_ids(str(code), bars["trade_time"], static)
            out.append(SeriesInput(str(code), bars["trade_time"].to_numpy("datetime64[ns]"),
                                   rows.rows, labels))
        if not out:
            raise ModelError(f"no stock has {self.config.seq_len} sessions for a window")
        return out

    def _static_ids(self, code: str, times: pd.Series, static: pd.DataFrame | None) -> np.ndarray:
        """``[T, S]`` static category ids (as of each date; 0 = unknown)."""
        fields = self.config.static_fields
        ids = np.zeros((len(times), len(fields)), np.int64)
        if static is None:          # predicting: the snapshot kept at the end of training
            known = getattr(self, "static_", {}).get(code)
            if known is not None:
                ids[:] = np.asarray(known, np.int64)
            return ids
        rows = static.loc[static["ts_code"] == code].sort_values("as_of_date")
        if rows.empty:
            return ids
        pos = np.searchsorted(pd.DatetimeIndex(rows["as_of_date"]).values,
                              pd.DatetimeIndex(times).values, side="right") - 1
        for k, f in enumerate(fields):
            vocab = self.vocab_.setdefault(f, {})
            cats = [vocab.setdefault(str(v), len(vocab) + 1) if pd.notna(v) else 0 for v in rows[f]]
            cats_arr = np.asarray(cats, np.int64)
            ids[:, k] = np.where(pos >= 0, cats_arr[np.maximum(pos, 0)], 0)
        return ids

    def _static_levels(self) -> tuple[int, ...]:
        return tuple(len(self.vocab_.get(f, {})) for f in self.config.static_fields)

    def _prepare(self, ds: SeriesArrays, fit_mask: np.ndarray | None) -> SeriesArrays:
        """Hook: add channels to ``ds`` before scaling (``fit_mask``: training samples, or
        None when predicting). Default: unchanged."""
        return ds

    # ------------------------------------------------------------------ fit
    def _fit(self, panel: pd.DataFrame, *, universe: pd.DataFrame | None = None,
             static: pd.DataFrame | None = None, progress=None, **_: Any) -> None:
        cfg = self.config
        if cfg.history:
            keep = pd.DatetimeIndex(panel["trade_time"].unique()).sort_values()[-cfg.history:]
            panel = panel.loc[panel["trade_time"] >= keep[0]]
        self.vocab_: dict[str, dict[str, int]] = {}
        series = self._series(panel, static)
        self.symbols_ = {s.ts_code: i + 1 for i, s in enumerate(series)}
        ds = SeriesArrays.from_series(series, cfg.seq_len, relative=ALPHA_RELATIVE,
                                      symbol_ids=self.symbols_)
        if universe is not None:
            ds = ds.select(_member_mask(ds, universe))
        fit_mask, val_mask, hold_mask, info = _splits(ds, cfg, self.name)
        ds = self._prepare(ds, fit_mask)
        self.scaler_ = ds.select(fit_mask).fit_scaler(seed=cfg.train.seed)
        ds = ds.with_scaler(self.scaler_)
        fit_ds = ds.select(fit_mask).with_normalised_label("y_tradeable", "rank", "y_rank")
        val_ds, hold_ds = ds.select(val_mask), ds.select(hold_mask)
        # the last session any training or validation label reached (nothing later was learnt)
        self.trained_until_ = pd.Timestamp(_label_end(ds, cfg.horizon)[fit_mask | val_mask].max())
        torch.manual_seed(cfg.train.seed)
        self.n_features_ = ds.n_features
        self.net_ = self._build_net(ds.n_features, len(self.symbols_), self._static_levels())
        trainer = Trainer(cfg.train)
        sampler = DateBatchSampler(fit_ds.date_idx(), generator=trainer.generator)
        res = trainer.fit(self.net_, self._loss, fit_ds, sampler, val_data=val_ds,
                          val_metric=self._val_rank_ic, on_epoch=progress,
                          inputs=self.train_inputs)
        self.net_.cpu().eval()
        out = self._outputs(val_ds)
        self.resid_std_ = np.std(out["ret"] / RETURN_SCALE - _label(val_ds, "y_ret"),
                                 axis=0).astype(float)
        # the snapshot served later: static ids as of the end of training (not of the holdout)
        self.static_ = {s.ts_code: _static_as_of(s, self.trained_until_) for s in series}
        self.metrics_ = self._holdout(hold_ds)
        self.metrics_.update(best_epoch=res.best_epoch, epochs_run=res.epochs_run,
                             n_train=len(fit_ds), n_val=len(val_ds), n_holdout=len(hold_ds),
                             n_params=n_params(self.net_), **info)
        self.history_ = res.history

    def _loss(self, out: Any, b: dict) -> torch.Tensor:
        out = _as_dict(out)
        cfg = self.config
        loss = cfg.weight_dir * nn.functional.cross_entropy(out["logits"], b["y_dir"])
        loss = loss + cfg.weight_reg * nn.functional.mse_loss(out["ret"], b["y_ret"] * RETURN_SCALE)
        loss = loss + cfg.weight_rank * nn.functional.mse_loss(out["score"], b["y_rank"])
        if "quantiles" in out and cfg.weight_quantile > 0:
            cum = (torch.cumprod(1 + b["y_ret"], dim=1) - 1) * RETURN_SCALE    # [B, H] percent
            loss = loss + cfg.weight_quantile * pinball(out["quantiles"], cum, QUANTILES)
        if "aux_loss" in out:
            loss = loss + out["aux_loss"]
        return loss

    def _holdout(self, hold: SeriesArrays) -> dict:
        """Holdout metrics: the gate's keys (accuracy, F1, MSE, naive baselines), IC / Rank IC,
        and for probabilistic nets the CRPS of the cumulative return at the horizon."""
        out = self._outputs(hold)
        pred_dir = (out["prob_up"][:, -1] > 0.5).astype(int) if "prob_up" in out \
            else out["logits"].argmax(axis=1)
        pred_ret = out["mean"] if "mean" in out else out["ret"] / RETURN_SCALE
        m: dict[str, float | None] = dict(gate_metrics(
            _label(hold, "y_dir"), pred_dir, _label(hold, "y_ret"), pred_ret,
            _past_return(hold, self.config.horizon)))
        m.update(daily_ic(out["score"], _label(hold, "y_tradeable"), hold.date_idx()))
        if "crps" in out:
            m["crps"] = float(np.nanmean(out["crps"])) if len(hold) else None
        elif "quantiles" in out and len(hold):
            cum = np.prod(1 + _label(hold, "y_ret"), axis=1) - 1
            m["crps"] = quantile_crps(out["quantiles"][:, -1] / RETURN_SCALE, cum, QUANTILES)
        return m

    def _val_rank_ic(self, net: nn.Module, val: SeriesArrays) -> float:
        """Early-stopping score: mean daily Rank IC of the score head on the validation dates."""
        score = _infer(net, val)["score"]
        r = daily_ic(score, _label(val, "y_tradeable"), val.date_idx())["rank_ic"]
        return float(r) if r is not None else -1.0

    def _outputs(self, ds: SeriesArrays) -> dict[str, np.ndarray]:
        """Hook: the net's outputs on ``ds`` as numpy (DeepAR adds sample-path summaries).

        Keys: those of the net (``logits``, ``ret`` percent, ``score`` …) and,
        optionally, decimal ``mean``/``cum_mean``/``std``/``prob_up`` ``[N, H]``,
        ``q`` ``[N, H, Q]`` and ``crps`` ``[N]`` that override the defaults
        of :meth:`_frame`.
        """
        return _infer(self.net_, ds)

    # --------------------------------------------------------------- predict
    def _dataset(self, panel: pd.DataFrame) -> SeriesArrays:
        series = self._series(panel, None)
        ids = {s.ts_code: self.symbols_.get(s.ts_code, 0) for s in series}
        ds = SeriesArrays.from_series(series, self.config.seq_len, relative=ALPHA_RELATIVE,
                                      require_labels=False, symbol_ids=ids)
        return self._prepare(ds, None).with_scaler(self.scaler_)

    def _frame(self, ds: SeriesArrays) -> pd.DataFrame:
        """Forecast rows of every sample of ``ds`` (as_of = its window's last session)."""
        out = self._outputs(ds)
        h, n = self.config.horizon, len(ds)
        ret = out.get("mean", out["ret"] / RETURN_SCALE)                    # [N, H] decimal
        cum = out.get("cum_mean", np.cumprod(1 + ret, axis=1) - 1)
        if "std" in out:
            std = out["std"]
        else:
            std = np.tile(self.resid_std_, (n, 1))
        if "prob_up" in out:
            pu = out["prob_up"]
        else:
            cum_sd = np.maximum(np.sqrt(np.cumsum(self.resid_std_ ** 2)), 1e-6)  # [H]
            pu = norm.sf(0, loc=cum, scale=cum_sd)
            pu[:, -1] = _softmax(out["logits"])[:, 1]
        frame = pd.DataFrame({
            "ts_code": np.repeat(ds.sample_codes(), h), "as_of": np.repeat(ds.sample_dates(), h),
            "step": np.tile(np.arange(1, h + 1), n), "mean": ret.ravel(), "cum_mean": cum.ravel(),
            "std": std.ravel(), "prob_up": pu.ravel(), "prob_down": (1 - pu).ravel(),
            "regime": pd.Series([None] * (n * h), dtype=object), "regime_prob": np.nan,
            "score": np.repeat(out["score"], h)})
        q = out.get("q")
        if q is None and "quantiles" in out:
            q = out["quantiles"] / RETURN_SCALE
        if q is not None:
            for k, col in enumerate(QUANTILE_COLUMNS):
                frame[col] = q[:, :, k].ravel()
        return frame

    def _predict(self, panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        ds = self._dataset(panel)
        last = ds.offsets[ds.sample_series + 1] - 1
        pick = np.flatnonzero(ds.end_row == last)
        if len(pick) == 0:
            raise ModelError(f"{self.name}: no stock has a complete {self.config.seq_len}-session "
                             f"window at {as_of}")
        return self._frame(ds.select(pick))

    def predict_history(self, panel: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        """As-of forecasts of every stock at every session in ``[start, end]`` in one batch pass.

        Same numbers as :meth:`predict` at each session (a window ending at t
        uses rows ≤ t only; inputs are normalised within the window;
        cross-sectional nets see the stocks of that session only).
        """
        self._check_fitted()
        ds = self._dataset(panel)
        sd = ds.sample_dates()
        ds = ds.select((sd >= np.datetime64(pd.Timestamp(start))) & (sd <= np.datetime64(pd.Timestamp(end))))
        return self._frame(ds).sort_values(["as_of", "ts_code", "step"], kind="stable").reset_index(drop=True)

    def trained_until(self, key: str) -> pd.Timestamp | None:
        """Last session of the training samples (the same for every stock)."""
        return getattr(self, "trained_until_", None)

    def fitted_keys(self) -> list[str]:
        """The stocks seen in training (others are scored with the unknown-symbol embedding)."""
        return sorted(getattr(self, "symbols_", {}))

    def holdout_metrics(self, key: str) -> dict:
        """Holdout metrics (gate input): accuracy, F1, MSE, naive baselines, IC, Rank IC."""
        return dict(self.metrics_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise ModelError(f"{self.name} is not fitted: call fit(panel, universe) or from_state()")

    # ------------------------------------------------------------ explanations
    def _channel_names(self, n: int) -> list[str]:
        """Names of the ``n`` input channels (extra channels of a subclass: ``extra_k``)."""
        names = list(getattr(self, "channels_", []))
        return names + [f"extra_{k}" for k in range(n - len(names))]

    def explain(self, panel: pd.DataFrame, as_of: Any, codes: list[str] | None = None,
                top: int = 5) -> dict[str, dict]:
        """Drivers of each stock's forecast (ranking score) as of ``as_of``.

        Per stock: SHAP values (``shap.GradientExplainer``, expected gradients)
        of the score over its window against the other stocks' windows of the
        session, summed per input channel (``drivers``) and per session
        (``days``) — for nets that treat stocks independently; for a
        ``cross_sectional`` net the attention over the session's stocks
        (``stocks``); the net's ``attn_time`` (``days``) and ``importance``
        (TFT's variable selection, the market gate) when it emits them. Pass
        the universe's panel so that the cross-section is the served one.

        Raises:
            ModelError: not fitted, or no window ends at ``as_of``.
        """
        self._check_fitted()
        ds = self._dataset(panel_until(panel, as_of))
        ds = ds.select(np.flatnonzero(ds.end_row == ds.offsets[ds.sample_series + 1] - 1))
        ds = ds.select(ds.sample_dates() == ds.sample_dates().max()) if len(ds) else ds
        sc = ds.sample_codes()
        want = [i for i, c in enumerate(sc) if codes is None or c in set(codes)]
        if not want:
            raise ModelError(f"{self.name}: no window of {codes} ends at {as_of}")
        names = self._channel_names(ds.n_features)
        b = ds.batch(np.arange(len(ds)))
        self.net_.eval()
        with torch.no_grad():
            out = _as_dict(self.net_(*(b[k] for k in NET_INPUTS)))
        t_rows = ds.end_row[:, None] + np.arange(-ds.window + 1, 1)[None, :]
        res: dict[str, dict] = {}
        for i in want:
            e: dict[str, Any] = {"model": self.name, "target": "ranking score",
                                 "score": float(out["score"][i])}
            days = [str(pd.Timestamp(d).date()) for d in ds.dates[ds.row_date[t_rows[i]]]]
            if not getattr(self.net_, "cross_sectional", False):
                e["method"] = "shap.GradientExplainer"
                e.update(self._shap_one(b, i, days, names, top))
            else:
                e["method"] = "attention"
            if "attn_stock" in out:
                w = out["attn_stock"][i].numpy().copy()
                w[i] = np.nan                                   # the stock itself
                e["stocks"] = xp.weights(np.nan_to_num(w, nan=-1.0), list(sc), "ts_code", top)
            if "attn_time" in out and "days" not in e:
                e["days"] = xp.weights(out["attn_time"][i].numpy(), days, "date", top)
            if "importance" in out:
                e["importance"] = xp.weights(out["importance"][i].numpy(), names, "feature", top)
            res[str(sc[i])] = e
        return res

    def _shap_one(self, b: dict, i: int, days: list[str], names: list[str], top: int) -> dict:
        """SHAP drivers and days of sample ``i`` of a session batch ``b`` (others: background)."""
        x = b["x"].numpy()
        others = np.delete(np.arange(len(x)), i)[:64]
        bg = x[others] if len(others) else np.zeros_like(x[:1])
        sid, stid = b["symbol_id"][i:i + 1], b["static_id"][i:i + 1]
        net = self.net_

        def score(w: torch.Tensor) -> torch.Tensor:
            n = len(w)
            return _as_dict(net(w, sid.expand(n), stid.expand(n, -1)))["score"]
        vals = xp.shap_windows(score, x[i:i + 1], bg, seed=self.config.train.seed)
        return xp.window_explanation(vals[0], names, days, "ranking score", top)

    # ----------------------------------------------------------------- state
    def _extra_state(self) -> dict:
        """Hook: more plain data to save (the hybrid's Stage-1 weights)."""
        return {}

    def _load_extra(self, extra: dict) -> None:
        """Hook: restore :meth:`_extra_state` output."""

    def state_dict(self) -> dict:
        """Plain data: config, weights (bytes), scaler, vocabularies, calibration, metrics."""
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config), "models": {},
                "weights": weights_bytes(self.net_), "scaler": self.scaler_.to_dict(),
                "symbols": dict(self.symbols_), "vocab": {k: dict(v) for k, v in self.vocab_.items()},
                "static": {k: list(v) for k, v in self.static_.items()},
                "resid_std": self.resid_std_.tolist(), "metrics": dict(self.metrics_),
                "trained_until": str(self.trained_until_.date()),
                "n_features": int(self.n_features_), "extra": self._extra_state()}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output.

        Raises:
            ModelError: not a state of this model.
        """
        check_state(cls, state)
        obj = cls(cls.config_cls.from_dict(state["config"]))
        obj.symbols_ = {str(k): int(v) for k, v in state["symbols"].items()}
        obj.vocab_ = {f: {str(k): int(v) for k, v in d.items()} for f, d in state["vocab"].items()}
        obj.static_ = {str(k): [int(x) for x in v] for k, v in state["static"].items()}
        obj._load_extra(state.get("extra") or {})
        obj.n_features_ = int(state["n_features"])
        obj.net_ = obj._build_net(obj.n_features_, len(obj.symbols_), obj._static_levels())
        obj.net_.load_state_dict(torch.load(io.BytesIO(state["weights"]), weights_only=True))
        obj.net_.eval()
        obj.scaler_ = ScalerParams.from_dict(state["scaler"])
        obj.resid_std_ = np.asarray(state["resid_std"], float)
        obj.metrics_ = dict(state["metrics"])
        obj.trained_until_ = pd.Timestamp(state["trained_until"])
        return obj


# ---------------------------------------------------------------------- helpers
def weights_bytes(net: nn.Module) -> bytes:
    """``torch.save`` of a module's ``state_dict`` as bytes (plain data for the registry)."""
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


def n_params(net: nn.Module) -> int:
    """Trainable parameters of ``net``."""
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad))


def _splits(ds: SeriesArrays, cfg: GlobalNetConfig, name: str
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Fit / validation / holdout masks by date with gaps ≥ the horizon (module docstring, 5)."""
    dates = np.unique(ds.sample_dates())
    gap = cfg.horizon + 2
    if len(dates) < cfg.holdout_sessions + gap + 50:
        raise ModelError(f"{len(dates)} sessions of samples; {name} needs at least "
                         f"{cfg.holdout_sessions + gap + 50} (holdout, gap and 50 to train)")
    hold_start = dates[-cfg.holdout_sessions]
    train_dates = dates[: -cfg.holdout_sessions - gap]
    n_val = max(5, int(len(train_dates) * cfg.val_fraction))
    val_start, fit_end = train_dates[-n_val], train_dates[-n_val - gap]
    sd = ds.sample_dates()
    # a label ends ``horizon`` rows later: by date that is later for a stock suspended in
    # between, so each split also requires its samples' labels to end before the next part
    label_end = _label_end(ds, cfg.horizon)
    fit_mask = (sd <= fit_end) & (label_end < val_start)
    val_mask = (sd >= val_start) & (sd <= train_dates[-1]) & (label_end < hold_start)
    info = {"fit_end": str(pd.Timestamp(fit_end).date()),
            "holdout_start": str(pd.Timestamp(hold_start).date())}
    return fit_mask, val_mask, sd >= hold_start, info


def _label_end(ds: SeriesArrays, horizon: int) -> np.ndarray:
    """``[N]`` date of the row ``horizon`` rows after each sample's end (its last label row)."""
    last = ds.offsets[ds.sample_series + 1] - 1
    return ds.dates[ds.row_date[np.minimum(ds.end_row + horizon, last)]]


def _static_as_of(s: SeriesInput, day: pd.Timestamp) -> list[int]:
    """The static ids of series ``s`` on its last row dated ``<= day`` (zeros before its first)."""
    k = int(np.searchsorted(s.dates, np.datetime64(day), side="right")) - 1
    ids = s.labels["static_id"]
    return ids[k].tolist() if k >= 0 else [0] * ids.shape[1]


def _member_mask(ds: SeriesArrays, universe: pd.DataFrame) -> np.ndarray:
    """``[N]`` bool: the sample's stock is a universe member on the sample's date."""
    m = universe.reindex(columns=sorted(set(universe.columns) | set(ds.ts_codes)), fill_value=False)
    days = pd.DatetimeIndex(m.index).normalize()
    row = days.get_indexer(pd.DatetimeIndex(ds.sample_dates()).normalize())
    col = m.columns.get_indexer(ds.sample_codes())
    vals = m.to_numpy(bool)
    return (row >= 0) & vals[np.maximum(row, 0), col]


def _as_dict(out: Any) -> dict[str, torch.Tensor]:
    if isinstance(out, Mapping):
        return dict(out)
    raise TypeError(f"a global net returns a dict of tensors (tzero.models.nets), got {type(out)}")


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _batches(net: nn.Module, ds: SeriesArrays, batch: int) -> list[np.ndarray]:
    """Sample index batches: one session each for a cross-sectional net, else ``batch`` rows."""
    if getattr(net, "cross_sectional", False):
        di = ds.date_idx()
        order = np.argsort(di, kind="stable")
        _, starts = np.unique(di[order], return_index=True)
        return np.split(order, starts[1:]) if len(order) else []
    return [np.arange(i, min(i + batch, len(ds))) for i in range(0, len(ds), batch)]


_SKIP = {"aux_loss", "attn_stock"}


def _infer(net: nn.Module, ds: SeriesArrays, batch: int = 2048,
           inputs: Sequence[str] = NET_INPUTS) -> dict[str, np.ndarray]:
    """The net's per-sample outputs on every sample of ``ds``, in sample order, float64.

    ``logits [N, 2]``, ``ret [N, H]`` (percent), ``score [N]`` and the net's
    optional per-sample keys; ``attn_stock`` (batch-shaped) and ``aux_loss``
    are dropped.
    """
    net.eval()
    dev = next(net.parameters()).device
    parts: dict[str, list[np.ndarray]] = {}
    pos: list[np.ndarray] = []
    with torch.no_grad():
        for idx in _batches(net, ds, batch):
            b = ds.batch(idx)
            out = _as_dict(net(*(b[k].to(dev) for k in inputs)))
            for k, v in out.items():
                if k not in _SKIP:
                    parts.setdefault(k, []).append(v.cpu().numpy())
            pos.append(idx)
    if not pos:
        return {"logits": np.zeros((0, 2)), "ret": np.zeros((0, int(ds.labels["y_ret"].shape[1])
                                                              if "y_ret" in ds.labels else 0)),
                "score": np.zeros(0)}
    order = np.argsort(np.concatenate(pos), kind="stable")
    return {k: np.concatenate(v).astype(np.float64)[order] for k, v in parts.items()}


def _label(ds: SeriesArrays, key: str) -> np.ndarray:
    return np.asarray(ds.labels[key][ds.end_row])


def _past_return(ds: SeriesArrays, horizon: int) -> np.ndarray:
    """The last ``horizon``-session return up to each sample's date (momentum baseline)."""
    lc = ds.rows[:, 3].astype(np.float64)           # log close channel (unscaled rows)
    start = ds.offsets[ds.sample_series]
    prev = ds.end_row - horizon
    return np.where(prev >= start, np.exp(lc[ds.end_row] - lc[np.maximum(prev, 0)]) - 1, np.nan)


__all__ = ["GlobalNetConfig", "GlobalNetForecaster", "daily_ic", "pinball", "quantile_crps",
           "n_params", "weights_bytes", "RETURN_SCALE", "STATIC_FIELDS"]
