"""The LSTM forecaster of spec 002: one dual-head model per symbol.

Pipeline per ``ts_code`` (spec 002 §1–§4, spec 004 §3.2–§3.4):

1. The 21 features (:mod:`tzero.features.lstm_features`), standardised with
   the training rows' mean and std.
2. 60-session windows, labels from the next 5 sessions
   (:mod:`tzero.training.windows`).
3. Holdout = samples whose window ends in the last ~3 months
   (``holdout_sessions`` = 63, capped at a fifth of the windows, at least 10);
   training samples end ``horizon`` sessions before the holdout starts (no
   label overlap).
4. Optional TimeSeriesSplit CV on the training part (default grid, 5 folds;
   ``fast``: single combination, 3 folds), scored ``avg_f1 − 0.1·log1p(avg_mse)``.
5. Final fit with the best parameters (early stopping on the last 15% of the
   training part), then holdout metrics. The model kept is this one: its
   holdout numbers are genuinely out of sample.

Returns are trained in percent (:data:`RETURN_SCALE`) for numerical balance
with the classification loss; every number leaving this module is decimal.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch

from tzero.errors import ModelError
from tzero.features.lstm_features import FEATURE_NAMES, WARMUP_ROWS, feature_matrix
from tzero.models.base import Frequency, LocalForecaster, Scope, check_state
from tzero.models.lstm_nets import build_net
from tzero.training import cv as cvmod
from tzero.training.loop import TrainConfig, pick_device, predict_batches, train_dual_head
from tzero.training.metrics import classification_metrics, gate_metrics, regression_metrics
from tzero.training.windows import WindowSet, make_windows

SEQ_LEN = 60
FORECAST_DAYS = 5
MIN_TRADING_DAYS = 65
RETURN_SCALE = 100.0
HOLDOUT_SESSIONS = 63
MIN_HOLDOUT = 10
EARLY_STOP_FRACTION = 0.15
INCREMENTAL_SESSIONS = 126   # ≈ 6 months (spec 004 §3.6 weekly incremental)
INCREMENTAL_EPOCHS = 5
TRAIN_AND_SAVE_DEFAULTS = {"lr": 5e-4, "hidden_size": 64, "epochs": 50, "batch_size": 32}


@dataclass(frozen=True)
class LstmConfig:
    """Configuration of :class:`LstmForecaster`.

    Attributes:
        model_type: ``enhanced`` (default, spec 002 §3.2) or ``basic``.
        mode: ``full`` (default grid, 5 folds) or ``fast`` (single combo, 3 folds).
        cv: run CV tuning (``do_cv_tune``); without it, ``params`` are used.
        params: lr / hidden_size / epochs / batch_size when CV is off.
        history: at most this many most recent sessions per symbol (None: all).
        holdout_sessions: holdout length in sessions (~3 months).
        train: base :class:`TrainConfig` (improved strategy defaults).
        seq_len, horizon: 60 and 5 (spec 002 §1).
        per_stock_mode: ``FULL_LSTM`` (spec 000 §6.5: an independent per-stock
            LSTM), recorded in the training run's config snapshot.
    """

    model_type: str = "enhanced"
    mode: str = "full"
    cv: bool = True
    params: dict = field(default_factory=lambda: dict(TRAIN_AND_SAVE_DEFAULTS))
    history: int | None = None
    holdout_sessions: int = HOLDOUT_SESSIONS
    train: TrainConfig = field(default_factory=TrainConfig)
    seq_len: int = SEQ_LEN
    horizon: int = FORECAST_DAYS
    per_stock_mode: str = "FULL_LSTM"

    def grid(self) -> tuple[dict, int]:
        """The CV grid and fold count for this mode."""
        if self.mode == "fast":
            return cvmod.FAST_PARAM_GRID, cvmod.FAST_N_SPLITS
        return cvmod.DEFAULT_PARAM_GRID, cvmod.DEFAULT_N_SPLITS


@dataclass
class SymbolModel:
    """One fitted symbol: network, scaler, calibration and its training record."""

    net: torch.nn.Module
    params: dict
    mean: np.ndarray
    std: np.ndarray
    resid_std: np.ndarray
    metrics: dict
    holdout: pd.DataFrame
    trained_until: pd.Timestamp
    stats: dict


def _prepare(bars: pd.DataFrame, cfg: LstmConfig) -> WindowSet:
    feats, valid = feature_matrix(bars)
    return make_windows(feats, valid, bars["close"].to_numpy(), bars["trade_time"].to_numpy(),
                        cfg.seq_len, cfg.horizon)


class LstmForecaster(LocalForecaster):
    """Spec-002 LSTM, one network per ``ts_code`` (see module docstring).

    Fitted attributes: ``models_`` (ts_code → :class:`SymbolModel`),
    ``errors_`` (ts_code → why it could not be fitted, ``errors="collect"``).
    ``fit(panel, n_jobs=2)`` trains symbols in two worker processes (the one
    per-series loop of :class:`tzero.models.base.LocalForecaster`).
    """

    name: ClassVar[str] = "lstm"
    scope: ClassVar[Scope] = "local"
    frequency: ClassVar[Frequency] = "daily"
    explains: ClassVar[bool] = True
    min_history: ClassVar[int] = WARMUP_ROWS + SEQ_LEN + FORECAST_DAYS + MIN_HOLDOUT + 50

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42, history: int | None = None
                       ) -> LstmConfig:
        """Spec-002 defaults; ``fast``: the fast CV grid (single combination, 3 folds)."""
        return LstmConfig(mode="fast" if fast else "full", history=history, train=TrainConfig(seed=seed))

    def _series_trained_until(self, fitted: SymbolModel) -> pd.Timestamp:
        return fitted.trained_until

    def holdout_metrics(self, key: str) -> dict:
        """The holdout metrics of ``key``'s network (the deploy gate's input, spec 004 §3.4)."""
        return dict(self.models_[key].metrics)

    # ------------------------------------------------------------------ fitting
    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> SymbolModel:
        """Fit one symbol: features, windows, holdout, CV, final fit, calibration.

        Args:
            progress: optional ``progress(epoch, epochs)`` of the final fit.

        Raises:
            ModelError: too little history for the windows and holdout.
        """
        cfg = self.config
        if cfg.history:
            bars = bars.iloc[-cfg.history:].reset_index(drop=True)
        need = WARMUP_ROWS + cfg.seq_len + cfg.horizon + MIN_HOLDOUT + 50
        if len(bars) < need:
            raise ModelError(f"{code}: {len(bars)} sessions, the LSTM needs at least {need} "
                             f"({WARMUP_ROWS} feature warm-up + {cfg.seq_len} window + horizon, "
                             f"holdout and 50 training windows)")
        t0 = time.perf_counter()
        ws = _prepare(bars, cfg).labelled()
        n_hold = max(MIN_HOLDOUT, min(cfg.holdout_sessions, len(ws) // 5))
        hold_idx = np.arange(len(ws) - n_hold, len(ws))
        train_idx = np.arange(0, max(0, len(ws) - n_hold - cfg.horizon))
        if len(train_idx) < 50:
            raise ModelError(f"{code}: only {len(train_idx)} training windows after the holdout")
        train = ws.subset(train_idx)
        rows = train.X[:, -1, :]
        mean, std = rows.mean(axis=0), rows.std(axis=0) + 1e-6
        Xs = ((train.X - mean) / std).astype(np.float32)
        device = pick_device()
        params = dict(cfg.params)
        cv_table: list = []
        if cfg.cv:
            grid, n_splits = cfg.grid()
            res = cvmod.grid_search(len(train), grid, n_splits, cfg.horizon,
                                    lambda p, tr, te: self._fold(p, Xs, train, tr, te, device))
            params, cv_table = res.best_params, res.table
        net, tres = self._train(params, Xs, train, np.arange(len(train)), device, progress)
        val_n = max(1, int(len(train) * EARLY_STOP_FRACTION))
        _, vpred = predict_batches(net, Xs[-val_n:])
        resid = vpred / RETURN_SCALE - train.y_ret[-val_n:]
        hold = ws.subset(hold_idx)
        probs, hpred = predict_batches(net, ((hold.X - mean) / std).astype(np.float32))
        hpred = hpred / RETURN_SCALE
        metrics = _holdout_metrics(bars, hold, probs, hpred)
        close = bars["close"].to_numpy()
        holdout = pd.DataFrame({
            "trade_time": hold.times, "close": close[hold.end],
            "pred_return": np.prod(1 + hpred, axis=1) - 1,
            "actual_return": np.prod(1 + hold.y_ret, axis=1) - 1,
            "prob_up": probs[:, 1],
        })
        holdout["pred_close"] = holdout["close"] * (1 + holdout["pred_return"])
        holdout["actual_close"] = close[hold.end + cfg.horizon]
        holdout["target_time"] = bars["trade_time"].to_numpy()[hold.end + cfg.horizon]
        secs = time.perf_counter() - t0
        return SymbolModel(net.cpu(), params, mean, std, resid.std(axis=0).astype(np.float64), metrics, holdout,
                           pd.Timestamp(bars["trade_time"].iloc[-1]),
                           {"train_seconds": secs, "samples_seen": tres.samples_seen,
                            "epochs_run": tres.epochs_run, "best_epoch": tres.best_epoch,
                            "n_train": len(train), "n_holdout": len(hold), "cv": cv_table})

    def _train(self, params: dict, Xs: np.ndarray, ws: WindowSet, idx: np.ndarray, device,
               on_epoch=None):
        cfg = self.config
        torch.manual_seed(cfg.train.seed)
        net = build_net(cfg.model_type, Xs.shape[2], int(params["hidden_size"]), cfg.horizon).to(device)
        tcfg = replace(cfg.train, lr=float(params["lr"]), epochs=int(params["epochs"]),
                       batch_size=int(params["batch_size"]))
        n_val = max(1, int(len(idx) * EARLY_STOP_FRACTION))
        fit_idx, val_idx = idx[: -n_val - cfg.horizon], idx[-n_val:]
        if len(fit_idx) < 10:
            fit_idx, val_idx = idx, idx[:0]
        y = ws.y_ret * RETURN_SCALE
        val = (Xs[val_idx], ws.y_dir[val_idx], y[val_idx]) if len(val_idx) else None
        res = train_dual_head(net, Xs[fit_idx], ws.y_dir[fit_idx], y[fit_idx], tcfg, val, on_epoch)
        return net, res

    def _fold(self, params, Xs, ws, tr, te, device) -> dict:
        net, _ = self._train(params, Xs, ws, tr, device)
        probs, pred = predict_batches(net, Xs[te])
        c = classification_metrics(ws.y_dir[te], probs.argmax(axis=1))
        r = regression_metrics(ws.y_ret[te], pred / RETURN_SCALE)
        return {"f1": c["f1"], "mse": r["mse"]}

    def fine_tune(self, panel: pd.DataFrame, sessions: int = INCREMENTAL_SESSIONS,
                  epochs: int = INCREMENTAL_EPOCHS) -> Self:
        """Incremental training (spec 004 §3.2): continue each fitted network on recent data.

        Trains ``epochs`` more epochs on the windows ending in the last
        ``sessions`` sessions (≈ 6 months), keeping the architecture, scaler and
        calibration; no CV, no holdout (the spec's weekly mode).

        Raises:
            ModelError: not fitted, or too few recent windows for a symbol.
        """
        if not hasattr(self, "models_"):
            raise ModelError("fine_tune needs a fitted LSTM")
        cfg = self.config
        for code, bars in panel.groupby("ts_code", sort=True):
            m = self.models_.get(code)
            if m is None:
                continue
            bars = bars.reset_index(drop=True).iloc[-(sessions + cfg.seq_len + 100):].reset_index(drop=True)
            ws = _prepare(bars, cfg).labelled()
            ws = ws.subset(np.flatnonzero(ws.end >= len(bars) - sessions))
            if len(ws) < 20:
                raise ModelError(f"{code}: only {len(ws)} recent windows to fine-tune on")
            Xs = ((ws.X - m.mean) / m.std).astype(np.float32)
            tcfg = replace(cfg.train, lr=float(m.params["lr"]) / 2, epochs=epochs,
                           batch_size=int(m.params["batch_size"]))
            res = train_dual_head(m.net, Xs, ws.y_dir, ws.y_ret * RETURN_SCALE, tcfg)
            m.trained_until = pd.Timestamp(bars["trade_time"].iloc[-1])
            m.stats = {**m.stats, "fine_tuned_samples": res.samples_seen, "fine_tuned_until":
                       str(m.trained_until.date())}
        return self

    def score_windows(self, bars: pd.DataFrame, end_times) -> dict:
        """Holdout metrics of this model on one symbol's windows ending at ``end_times``.

        Same metrics and baselines as the holdout of :meth:`fit`, so two
        versions can be compared on the very same samples (the deploy gate).

        Raises:
            ModelError: the symbol is not fitted or no window matches.
        """
        code = str(bars["ts_code"].iloc[0])
        m = self.models_.get(code)
        if m is None:
            raise ModelError(f"{code}: not in this model")
        bars = bars.reset_index(drop=True)
        ws = _prepare(bars, self.config).labelled()
        idx = np.flatnonzero(np.isin(ws.times, np.asarray(pd.to_datetime(end_times), "datetime64[ns]")))
        if len(idx) == 0:
            raise ModelError(f"{code}: no complete window ends at the requested dates")
        hold = ws.subset(idx)
        probs, pred = predict_batches(m.net, ((hold.X - m.mean) / m.std).astype(np.float32),
                                      device=torch.device("cpu"))
        return _holdout_metrics(bars, hold, probs, pred / RETURN_SCALE)

    def predict_windows(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Forecast every complete window of one fitted symbol, in one batch.

        The fitted network is applied to each ``seq_len`` window ending at a
        session t (inputs use data ≤ t only); the result is what the model
        would have said on t. Used for the fit-curve plots (spec 004 §6.1).

        Args:
            bars: qfq daily bars of one symbol.

        Returns:
            One row per window, ascending: ``trade_time`` (t), ``close`` (close
            at t, CNY), ``prob_up`` (direction head), ``return_pred`` (the
            return head's 5 daily returns compounded, decimal),
            ``direction_pred`` (1 when ``return_pred`` > 0, as the prediction
            flow serves it), ``target_time`` (the session t+horizon, NaT while
            not in ``bars``), ``target_close``, ``return_actual``
            (``target_close / close − 1``) and ``direction_actual`` (−1 while unknown).

        Raises:
            ModelError: the symbol is not in this model.
        """
        code = str(bars["ts_code"].iloc[0])
        m = getattr(self, "models_", {}).get(code)
        if m is None:
            raise ModelError(f"{code}: not in this model")
        bars = bars.reset_index(drop=True)
        ws = _prepare(bars, self.config)
        probs, ret = predict_batches(m.net, ((ws.X - m.mean) / m.std).astype(np.float32),
                                     device=torch.device("cpu"))
        h = self.config.horizon
        close = bars["close"].to_numpy(float)
        times = pd.DatetimeIndex(bars["trade_time"])
        tgt = ws.end + h
        known = tgt < len(bars)
        tgt_close = np.where(known, close[np.minimum(tgt, len(bars) - 1)], np.nan)
        ret_pred = (np.prod(1.0 + ret / RETURN_SCALE, axis=1) - 1.0) if len(ws) else np.zeros(0)
        ret_act = tgt_close / close[ws.end] - 1.0
        return pd.DataFrame({
            "trade_time": pd.DatetimeIndex(ws.times), "close": close[ws.end],
            "prob_up": probs[:, 1].astype(float) if len(ws) else np.zeros(0),
            "return_pred": ret_pred.astype(float), "direction_pred": (ret_pred > 0).astype(int),
            "target_time": pd.DatetimeIndex(np.where(known, times.values[np.minimum(tgt, len(bars) - 1)],
                                                     np.datetime64("NaT"))),
            "target_close": tgt_close, "return_actual": ret_act,
            "direction_actual": np.where(known, (ret_act > 0).astype(int), -1),
        })

    # --------------------------------------------------------------- prediction
    def _predict_series(self, code: str, bars: pd.DataFrame, m: SymbolModel) -> pd.DataFrame:
        """Forecast the next ``horizon`` sessions of one symbol from its last window.

        ``mean``/``cum_mean`` come from the return head; ``std`` is the
        per-step residual std measured on the early-stopping slice;
        ``prob_up`` at the last step is the direction head's probability,
        earlier steps a normal approximation.

        Raises:
            ModelError: no complete window at ``as_of``.
        """
        seq_len = self.config.seq_len
        feats, valid = feature_matrix(bars.iloc[-(seq_len + 200):])
        if len(feats) < seq_len or not valid[-seq_len:].all():
            raise ModelError(f"{code}: no complete {seq_len}-session window at "
                             f"{pd.Timestamp(bars['trade_time'].iloc[-1]).date()}")
        x = ((feats[-seq_len:] - m.mean) / m.std).astype(np.float32)[None]
        probs, ret = predict_batches(m.net, x, device=torch.device("cpu"))
        return pd.DataFrame(_forecast_rows(ret[0] / RETURN_SCALE, m.resid_std,
                                           float(probs[0, 1]), 1.0 - float(probs[0, 1])))

    def explain(self, panel: pd.DataFrame, as_of, codes: list[str] | None = None,
                top: int = 5) -> dict[str, dict]:
        """SHAP drivers of each stock's forecast 5-session return as of ``as_of``.

        ``shap.GradientExplainer`` on the stock's own network (the sum of its
        return head, percent) at its last window, against its previous 64
        windows as the background; values summed per spec-002 feature
        (``drivers``, percentage points) and per session (``days``).

        Raises:
            ModelError: not fitted, or no stock of ``codes`` has a window at ``as_of``.
        """
        from tzero.models import explain as xp
        from tzero.models.base import panel_until

        self._check_fitted()
        seq_len, res = self.config.seq_len, {}
        for code, bars in panel_until(panel, as_of).groupby("ts_code", sort=True):
            m = self.models_.get(str(code))
            if m is None or (codes is not None and code not in codes):
                continue
            feats, valid = feature_matrix(bars.iloc[-(seq_len + 264):])
            if len(feats) < seq_len or not valid[-seq_len:].all():
                continue
            z = ((feats - m.mean) / m.std).astype(np.float32)
            ends = [e for e in range(len(z) - 65, len(z) - 1) if e >= seq_len - 1 and valid[e]]
            bg = np.stack([z[e - seq_len + 1:e + 1] for e in ends]) if ends else z[None, -seq_len:] * 0
            net = m.net.cpu().eval()

            def ret(w: torch.Tensor, net=net) -> torch.Tensor:
                return net(w)[1].sum(-1)
            vals = xp.shap_windows(ret, z[None, -seq_len:], bg, seed=self.config.train.seed)
            days = [str(pd.Timestamp(t).date()) for t in bars["trade_time"].iloc[-seq_len:]]
            with torch.no_grad():
                fc = float(ret(torch.from_numpy(z[None, -seq_len:]))[0]) / RETURN_SCALE
            e = {"model": self.name, "method": "shap.GradientExplainer",
                 "target": "5-session return (percent)", "score": fc}
            e.update(xp.window_explanation(vals[0], FEATURE_NAMES, days,
                                           "5-session return (percent)", top))
            res[str(code)] = e
        if not res:
            raise ModelError(f"{self.name}: no fitted stock of {codes} has a window at {as_of}")
        return res

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Plain-data state: config and, per symbol, weights (bytes) and calibration."""
        self._check_fitted()
        out: dict[str, Any] = {"name": self.name, "config": {**asdict(self.config)}, "models": {}}
        for code, m in self.models_.items():
            buf = io.BytesIO()
            torch.save(m.net.state_dict(), buf)
            out["models"][code] = {
                "weights": buf.getvalue(), "params": m.params, "mean": m.mean.tolist(),
                "std": m.std.tolist(), "resid_std": m.resid_std.tolist(), "metrics": m.metrics,
                "trained_until": str(m.trained_until.date()), "stats": m.stats,
                "holdout": _plain_frame(m.holdout),
            }
        return out

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted forecaster from :meth:`state_dict` output."""
        check_state(cls, state)
        c = dict(state["config"])
        c["train"] = TrainConfig(**c["train"])
        self = cls(LstmConfig(**c))
        self.models_, self.errors_ = {}, {}
        for code, s in state["models"].items():
            net = build_net(self.config.model_type, len(FEATURE_NAMES), int(s["params"]["hidden_size"]),
                            self.config.horizon)
            net.load_state_dict(torch.load(io.BytesIO(s["weights"]), weights_only=True))
            net.eval()
            self.models_[code] = SymbolModel(
                net, s["params"], np.asarray(s["mean"], np.float32), np.asarray(s["std"], np.float32),
                np.asarray(s["resid_std"]), s["metrics"], _frame_from_plain(s["holdout"]),
                pd.Timestamp(s["trained_until"]), s["stats"])
        return self


def _plain_frame(df: pd.DataFrame) -> dict:
    """Columns as lists of floats / ISO strings (plain data for the registry)."""
    out: dict[str, list[str] | list[float]] = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[c] = [str(pd.Timestamp(v).date()) for v in col]
        else:
            out[c] = [float(v) for v in col]
    return out


def _frame_from_plain(d: dict) -> pd.DataFrame:
    df = pd.DataFrame(d)
    for c in ("trade_time", "target_time"):
        if c in df:
            df[c] = pd.to_datetime(df[c])
    return df


def _forecast_rows(ret: np.ndarray, resid_std: np.ndarray, p_up: float, p_down: float) -> list[dict]:
    from scipy.stats import norm

    cum = np.cumprod(1 + ret) - 1
    cum_std = np.sqrt(np.cumsum(np.asarray(resid_std) ** 2))
    rows = []
    for k in range(len(ret)):
        last = k == len(ret) - 1
        pu = p_up if last else float(norm.sf(0, loc=cum[k], scale=max(cum_std[k], 1e-6)))
        rows.append({"step": k + 1,
                     "mean": float(ret[k]), "cum_mean": float(cum[k]), "std": float(resid_std[k]),
                     "prob_up": pu, "prob_down": p_down if last else 1.0 - pu,
                     "regime": None, "regime_prob": float("nan")})
    return rows


def _holdout_metrics(bars: pd.DataFrame, hold: WindowSet, probs: np.ndarray, pred: np.ndarray) -> dict:
    """Gate metrics of a holdout (:func:`tzero.training.metrics.gate_metrics`); momentum =
    sign of the last ``horizon`` sessions up to each window's end."""
    close = bars["close"].to_numpy()
    horizon = hold.y_ret.shape[1]
    past = close[hold.end] / close[np.maximum(hold.end - horizon, 0)] - 1
    return gate_metrics(hold.y_dir, probs.argmax(axis=1), hold.y_ret, pred, past)
