"""The universe-level shared LSTM of spec 000 §6.3 (``LSTM_SHARED``): one network for every stock.

Pipeline (DESIGN.md "Models", global scope):

1. Inputs per stock (:func:`tzero.features.cross_section.input_rows`): the
   scale-free Alpha360-style channels (log OHLC and VWAP relative to the
   window's last close, log1p volume relative to its last volume), optionally
   followed by the 21 spec-002 features; windows of ``seq_len`` sessions are
   cut lazily from one contiguous row array (:class:`tzero.training.datasets.SeriesArrays`).
   Inputs are robust-z-scored per feature with a scaler fitted on training
   windows only. VWAP falls back to the typical price where ``amount`` is missing.
2. Conditioning: ``nn.Embedding`` of a ``symbol_id`` (0 = a stock not seen in
   training) and one embedding per static field of ``stock_static_features``
   (industry, size/volatility/liquidity buckets; the row with the latest
   ``as_of_date`` ≤ the sample's date, so no look-ahead), summed.
3. Samples: every (stock, session) of the universe *as of that session*
   (the membership matrix passed to ``fit``); the rest of the panel only
   supplies history.
4. Labels: the spec-002 dual head (direction of the 5-session return, the 5
   daily returns) plus a ranking score trained on the **tradeable return**
   ``close[t+2]/close[t+1] − 1`` ranked across the stocks of each date
   (training only; Qlib's ``CSRankNorm``): a signal formed after the close of
   t can be bought at t+1 at the earliest (T+1), so that is the return a
   ranking can earn.
5. Time split by date with gaps ≥ the horizon: training dates, the last
   ``val_fraction`` of them for early stopping (validation Rank IC), then a
   holdout of the last ``holdout_sessions`` dates never trained on; its
   metrics feed the deploy gate. The model kept is this one (not refit).
6. Training: the one :class:`tzero.training.trainer.Trainer`, one date per
   batch (:class:`tzero.training.samplers.DateBatchSampler`).

Loss = CE(direction) + ``weight_reg`` × MSE(returns in percent) +
``weight_rank`` × MSE(score, per-date rank label).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from tzero.errors import ModelError
from tzero.features.cross_section import ALPHA_RELATIVE, ScalerParams, input_rows
from tzero.models.base import Forecaster, Frequency, Scope, check_state
from tzero.models.lstm_nets import SharedLstmNet
from tzero.training.datasets import SeriesArrays, SeriesInput, series_labels
from tzero.training.metrics import gate_metrics
from tzero.training.samplers import DateBatchSampler
from tzero.training.trainer import TrainConfig, Trainer

RETURN_SCALE = 100.0           # returns trained in percent (as the per-stock LSTM)
STATIC_FIELDS = ("industry", "size_bucket", "volatility_bucket", "liquidity_bucket")


@dataclass(frozen=True)
class LstmSharedConfig:
    """Configuration of :class:`LstmShared`.

    Attributes:
        horizon, seq_len: 5 sessions ahead from 60-session windows (spec 002 §1).
        hidden_size, num_layers, embed_dim, dropout: the network.
        lstm_features: append the 21 spec-002 features to the alpha channels.
        history: at most this many most recent sessions of the panel (None: all).
        holdout_sessions: last dates held out for the gate (never trained on).
        val_fraction: share of the training dates used for early stopping.
        weight_reg, weight_rank: loss weights of the return and rank heads.
        static_fields: ``stock_static_features`` columns used as covariates.
        train: the trainer's hyper-parameters (epochs, lr, patience, seed).
    """

    horizon: int = 5
    seq_len: int = 60
    hidden_size: int = 64
    num_layers: int = 1
    embed_dim: int = 8
    dropout: float = 0.1
    lstm_features: bool = False
    history: int | None = None
    holdout_sessions: int = 120
    val_fraction: float = 0.15
    weight_reg: float = 1.0
    weight_rank: float = 1.0
    static_fields: tuple[str, ...] = STATIC_FIELDS
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        lr=1e-3, epochs=20, patience=5, augment=False, reg_loss_type="mse", t_0=50))

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.seq_len < 2 or self.holdout_sessions < 10:
            raise ValueError("need horizon >= 1, seq_len >= 2 and holdout_sessions >= 10")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")


class LstmShared(Forecaster):
    """One LSTM over a universe (see the module docstring).

    Fitted attributes: ``net_``, ``scaler_`` (robust z-score params),
    ``symbols_`` (ts_code → embedding id ≥ 1; 0, a stock unseen in training,
    maps to a zero vector), ``vocab_`` (static field → category → id ≥ 1),
    ``static_`` (ts_code → static ids as of ``trained_until_``, used when
    predicting), ``resid_std_`` ``[H]`` (decimal), ``metrics_`` (holdout),
    ``trained_until_`` (the last session any training or validation label
    reached).
    """

    name: ClassVar[str] = "lstm_shared"
    scope: ClassVar[Scope] = "global"
    frequency: ClassVar[Frequency] = "daily"
    ranking: ClassVar[bool] = True
    min_history: ClassVar[int] = 61

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> LstmSharedConfig:
        """Defaults; ``fast``: 32 hidden units, 500 sessions, at most 4 epochs (demo, CI)."""
        if fast:
            return LstmSharedConfig(hidden_size=32, history=500, train=TrainConfig(
                lr=2e-3, epochs=4, patience=2, augment=False, reg_loss_type="mse", seed=seed))
        return LstmSharedConfig(train=replace(LstmSharedConfig().train, seed=seed))

    # ------------------------------------------------------------------ data
    def _series(self, panel: pd.DataFrame, static: pd.DataFrame | None) -> list[SeriesInput]:
        out = []
        for code, bars in panel.groupby("ts_code", sort=True):
            bars = bars.reset_index(drop=True)
            if len(bars) < self.config.seq_len:
                continue
            rows = input_rows(bars, lstm_features=self.config.lstm_features)
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
        dates = np.unique(ds.sample_dates())
        gap = cfg.horizon + 2
        if len(dates) < cfg.holdout_sessions + gap + 50:
            raise ModelError(f"{len(dates)} sessions of samples; {self.name} needs at least "
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
        self.scaler_ = ds.select(fit_mask).fit_scaler(seed=cfg.train.seed)
        ds = ds.with_scaler(self.scaler_)
        fit_ds = ds.select(fit_mask).with_normalised_label("y_tradeable", "rank", "y_rank")
        val_ds = ds.select(val_mask)
        hold_ds = ds.select(sd >= hold_start)
        # the last session any training or validation label reached (nothing later was learnt)
        self.trained_until_ = pd.Timestamp(label_end[fit_mask | val_mask].max())
        torch.manual_seed(cfg.train.seed)
        self.net_ = SharedLstmNet(ds.n_features, len(self.symbols_),
                                  tuple(len(self.vocab_.get(f, {})) for f in cfg.static_fields),
                                  cfg.hidden_size, cfg.num_layers, cfg.embed_dim, cfg.dropout,
                                  cfg.horizon)
        trainer = Trainer(cfg.train)
        sampler = DateBatchSampler(fit_ds.date_idx(), generator=trainer.generator)
        res = trainer.fit(self.net_, self._loss, fit_ds, sampler, val_data=val_ds,
                          val_metric=_val_rank_ic, on_epoch=progress,
                          inputs=("x", "symbol_id", "static_id"))
        self.net_.cpu().eval()
        probs, ret, score = _infer(self.net_, val_ds)
        self.resid_std_ = np.std(ret / RETURN_SCALE - _label(val_ds, "y_ret"), axis=0).astype(float)
        # the snapshot served later: static ids as of the end of training (not of the holdout)
        self.static_ = {s.ts_code: _static_as_of(s, self.trained_until_) for s in series}
        self.metrics_ = self._holdout(hold_ds)
        self.metrics_.update(best_epoch=res.best_epoch, epochs_run=res.epochs_run,
                             n_train=len(fit_ds), n_val=len(val_ds), n_holdout=len(hold_ds),
                             fit_end=str(pd.Timestamp(fit_end).date()),
                             holdout_start=str(pd.Timestamp(hold_start).date()))
        self.history_ = res.history

    def _loss(self, out: tuple[torch.Tensor, torch.Tensor, torch.Tensor], b: dict) -> torch.Tensor:
        logits, ret, score = out
        cfg = self.config
        ce = nn.functional.cross_entropy(logits, b["y_dir"])
        reg = nn.functional.mse_loss(ret, b["y_ret"] * RETURN_SCALE)
        rank = nn.functional.mse_loss(score, b["y_rank"])
        return ce + cfg.weight_reg * reg + cfg.weight_rank * rank

    def _holdout(self, hold: SeriesArrays) -> dict:
        """Holdout metrics: the gate's keys (accuracy, F1, MSE, naive baselines) and IC / Rank IC."""
        probs, ret, score = _infer(self.net_, hold)
        m = gate_metrics(_label(hold, "y_dir"), probs.argmax(axis=1), _label(hold, "y_ret"),
                         ret / RETURN_SCALE, _past_return(hold, self.config.horizon))
        return {**m, **daily_ic(score, _label(hold, "y_tradeable"), hold.date_idx())}

    # --------------------------------------------------------------- predict
    def _dataset(self, panel: pd.DataFrame) -> SeriesArrays:
        series = self._series(panel, None)
        ids = {s.ts_code: self.symbols_.get(s.ts_code, 0) for s in series}
        ds = SeriesArrays.from_series(series, self.config.seq_len, relative=ALPHA_RELATIVE,
                                      require_labels=False, symbol_ids=ids)
        return ds.with_scaler(self.scaler_)

    def _frame(self, ds: SeriesArrays) -> pd.DataFrame:
        """Forecast rows of every sample of ``ds`` (as_of = its window's last session)."""
        probs, ret, score = _infer(self.net_, ds)
        h = self.config.horizon
        ret = ret / RETURN_SCALE                                            # [N, H] decimal
        cum = np.cumprod(1 + ret, axis=1) - 1
        cum_sd = np.maximum(np.sqrt(np.cumsum(self.resid_std_ ** 2)), 1e-6)  # [H]
        pu = norm.sf(0, loc=cum, scale=cum_sd)
        pu[:, -1] = probs[:, 1]
        pdn = 1 - pu
        n = len(ds)
        return pd.DataFrame({
            "ts_code": np.repeat(ds.sample_codes(), h), "as_of": np.repeat(ds.sample_dates(), h),
            "step": np.tile(np.arange(1, h + 1), n), "mean": ret.ravel(), "cum_mean": cum.ravel(),
            "std": np.tile(self.resid_std_, n), "prob_up": pu.ravel(), "prob_down": pdn.ravel(),
            "regime": pd.Series([None] * (n * h), dtype=object), "regime_prob": np.nan,
            "score": np.repeat(score, h)})

    def _predict(self, panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        ds = self._dataset(panel)
        last = {i: ds.offsets[i + 1] - 1 for i in range(len(ds.ts_codes))}
        pick = np.flatnonzero(ds.end_row == np.array([last[s] for s in ds.sample_series]))
        if len(pick) == 0:
            raise ModelError(f"{self.name}: no stock has a complete {self.config.seq_len}-session "
                             f"window at {as_of}")
        return self._frame(ds.select(pick))

    def predict_history(self, panel: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        """As-of forecasts of every stock at every session in ``[start, end]`` in one batch pass.

        Same numbers as :meth:`predict` at each session (a window ending at t
        uses rows ≤ t only; inputs are normalised within the window).
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

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Plain data: config, weights (bytes), scaler, vocabularies, calibration, metrics."""
        self._check_fitted()
        buf = io.BytesIO()
        torch.save(self.net_.state_dict(), buf)
        return {"name": self.name, "config": asdict(self.config), "models": {},
                "weights": buf.getvalue(), "scaler": self.scaler_.to_dict(),
                "symbols": dict(self.symbols_), "vocab": {k: dict(v) for k, v in self.vocab_.items()},
                "static": {k: list(v) for k, v in self.static_.items()},
                "resid_std": self.resid_std_.tolist(), "metrics": dict(self.metrics_),
                "trained_until": str(self.trained_until_.date()), "n_features": self.n_features_}

    @property
    def n_features_(self) -> int:
        """Input channels per row."""
        return int(self.net_.lstm.input_size)

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output.

        Raises:
            ModelError: not an ``lstm_shared`` state.
        """
        check_state(cls, state)
        c = dict(state["config"])
        c["train"] = TrainConfig(**c["train"])
        c["static_fields"] = tuple(c["static_fields"])
        obj = cls(LstmSharedConfig(**c))
        cfg = obj.config
        obj.symbols_ = {str(k): int(v) for k, v in state["symbols"].items()}
        obj.vocab_ = {f: {str(k): int(v) for k, v in d.items()} for f, d in state["vocab"].items()}
        obj.static_ = {str(k): [int(x) for x in v] for k, v in state["static"].items()}
        obj.net_ = SharedLstmNet(int(state["n_features"]), len(obj.symbols_),
                                 tuple(len(obj.vocab_.get(f, {})) for f in cfg.static_fields),
                                 cfg.hidden_size, cfg.num_layers, cfg.embed_dim, cfg.dropout,
                                 cfg.horizon)
        obj.net_.load_state_dict(torch.load(io.BytesIO(state["weights"]), weights_only=True))
        obj.net_.eval()
        obj.scaler_ = ScalerParams.from_dict(state["scaler"])
        obj.resid_std_ = np.asarray(state["resid_std"], float)
        obj.metrics_ = dict(state["metrics"])
        obj.trained_until_ = pd.Timestamp(state["trained_until"])
        return obj


# ---------------------------------------------------------------------- helpers
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


def _infer(net: nn.Module, ds: SeriesArrays, batch: int = 2048) -> tuple[np.ndarray, ...]:
    """``(probs [N, 2], returns [N, H] in percent, score [N])`` of the samples of ``ds``."""
    net.eval()
    dev = next(net.parameters()).device
    out: list[list[np.ndarray]] = [[], [], []]
    with torch.no_grad():
        for i in range(0, len(ds), batch):
            b = ds.batch(np.arange(i, min(i + batch, len(ds))))
            logits, ret, score = net(b["x"].to(dev), b["symbol_id"].to(dev), b["static_id"].to(dev))
            out[0].append(torch.softmax(logits, -1).cpu().numpy())
            out[1].append(ret.cpu().numpy())
            out[2].append(score.cpu().numpy())
    if not out[0]:
        h = net.fc_magnitude.out_features
        return np.zeros((0, 2)), np.zeros((0, h)), np.zeros(0)
    return tuple(np.concatenate(o).astype(np.float64) for o in out)


def _label(ds: SeriesArrays, key: str) -> np.ndarray:
    return np.asarray(ds.labels[key][ds.end_row])


def _past_return(ds: SeriesArrays, horizon: int) -> np.ndarray:
    """The last ``horizon``-session return up to each sample's date (momentum baseline)."""
    lc = ds.rows[:, 3].astype(np.float64)           # log close channel (unscaled rows)
    start = ds.offsets[ds.sample_series]
    prev = ds.end_row - horizon
    return np.where(prev >= start, np.exp(lc[ds.end_row] - lc[np.maximum(prev, 0)]) - 1, np.nan)


def daily_ic(score: np.ndarray, label: np.ndarray, date_idx: np.ndarray, min_n: int = 10) -> dict:
    """Mean per-date Pearson IC and Spearman Rank IC of ``score`` against ``label``.

    Args:
        score, label: ``[N]``; date_idx: ``[N]`` date of each sample.
        min_n: dates with fewer finite pairs are skipped.

    Returns:
        ``ic``, ``rank_ic`` (means over dates), ``icir``, ``rank_icir`` (mean /
        std of the daily values, not annualised) and ``ic_dates``; None where
        undefined.
    """
    df = pd.DataFrame({"s": score, "y": label, "d": date_idx}).dropna()
    ics, rics = [], []
    for _, g in df.groupby("d"):
        if len(g) < min_n or g["s"].std() == 0 or g["y"].std() == 0:
            continue
        ics.append(np.corrcoef(g["s"], g["y"])[0, 1])
        rics.append(np.corrcoef(g["s"].rank(), g["y"].rank())[0, 1])

    def stats(x: list[float]) -> tuple[float | None, float | None]:
        if not x:
            return None, None
        a = np.asarray(x)
        return float(a.mean()), (float(a.mean() / a.std()) if len(a) > 1 and a.std() > 0 else None)
    ic, icir = stats(ics)
    ric, ricir = stats(rics)
    return {"ic": ic, "icir": icir, "rank_ic": ric, "rank_icir": ricir, "ic_dates": len(ics)}


def _val_rank_ic(net: nn.Module, val: SeriesArrays) -> float:
    """Early-stopping score: mean daily Rank IC of the score head on the validation dates."""
    _, _, score = _infer(net, val)
    r = daily_ic(score, _label(val, "y_tradeable"), val.date_idx())["rank_ic"]
    return float(r) if r is not None else -1.0


__all__ = ["LstmShared", "LstmSharedConfig", "daily_ic"]
