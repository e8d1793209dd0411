"""Intraday LSTM timer: P(up) and expected return of the next k bars (spec 000 §4.2.3, §5.1).

Spec 000 §5.1 gives the LSTM the *timing* role of intraday T+0 trading; §4.2.3
sizes it: 5–30 minute bars, sequences of T ≈ 50–200 bars (1–2 days), 1–3 LSTM
layers of 64–256 units (the ``fast`` config goes below that, 32 units, so a
walk-forward over a year runs in minutes on two CPU cores).

* Features per bar (:data:`FEATURES`, all causal): intraday log return, log
  range, log relative volume, close-location value and the signed-volume flow
  imbalance of :func:`tzero.features.intraday.bar_microstructure`, the log gap
  to the EWMA equilibrium (span one day) and the time of day as sin/cos.
  Standardised with the train means/deviations; undefined values become 0.
* Labels, built apart from the features by
  :func:`tzero.training.windows.make_windows`: the next ``horizon`` bars' simple
  returns (direction = 1 when their compounded return is > 0). Only samples
  whose label bars lie in the *same day* as the sample's last bar are trained
  on (T+0 positions are closed within the day), and ``fit`` only sees the train
  bars, so no sequence or label reaches into test days.
* Network: :class:`tzero.models.lstm_nets.LSTMDualHead` (``basic``) or the
  enhanced variant, trained by the one loop
  :func:`tzero.training.loop.train_dual_head` on CPU with an explicit seed;
  the last ``val_days`` train days are its early-stopping validation set.
  Return targets are divided by the train standard deviation of one-bar returns
  (``ret_scale_``) and multiplied back at prediction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch

from tzero.errors import ModelError
from tzero.features.intraday import bar_microstructure, day_fraction
from tzero.models.base import check_panel, check_state, panel_until
from tzero.models.intraday_arima import intraday_log_returns
from tzero.models.lstm_nets import build_net
from tzero.training.loop import TrainConfig, predict_batches, train_dual_head
from tzero.training.windows import make_windows

FEATURES = ("ret", "log_range", "log_rel_volume", "clv", "flow_imbalance", "eq_gap",
            "tod_sin", "tod_cos")
PATH_COLUMNS = ["ts_code", "trade_time", "prob_up", "mean"]


@dataclass(frozen=True)
class IntradayLstmConfig:
    """Settings of :class:`IntradayLstm`.

    Attributes:
        seq_len: bars per input sequence (spec 000 §4.2.3: 50–200).
        horizon: bars ahead of the labels (k).
        hidden_size: LSTM units.
        model_type: ``basic`` (1 layer) or ``enhanced`` (3-layer BiLSTM + attention).
        epochs, batch_size, lr, patience: training loop settings.
        val_days: last train days held out for early stopping (0: none).
        lookback_days: days of the same-minute volume mean (``rel_volume``).
        equilibrium_bars: EWMA span of ``eq_gap``.
        seed: torch/numpy seed.
        min_samples: fewest labelled training samples.
        num_threads: torch intra-op threads while training and predicting
            (restored afterwards). Small LSTMs run fastest on one: 14 Adam steps
            of the fast net took 0.1 s on 1 thread and 6.7 s on 2 on a busy
            2-core machine (thread contention).
        improved: the spec 002 improved strategy of the training loop (AdamW,
            cosine restarts, early stopping on volatility match); off by default
            here: plain Adam with early stopping on the validation direction loss
            suits a timing model.
    """

    seq_len: int = 96
    horizon: int = 6
    hidden_size: int = 64
    model_type: str = "basic"
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 8
    val_days: int = 5
    lookback_days: int = 5
    equilibrium_bars: int = 48
    seed: int = 42
    min_samples: int = 100
    num_threads: int = 1
    improved: bool = False

    def __post_init__(self) -> None:
        if self.seq_len < 2 or self.horizon < 1 or self.epochs < 1 or self.val_days < 0:
            raise ValueError("need seq_len >= 2, horizon >= 1, epochs >= 1, val_days >= 0")

    @classmethod
    def fast(cls, **overrides: Any) -> IntradayLstmConfig:
        """Small CPU config: 48-bar sequences, 32 units, ≤ 8 epochs (< 60 s on ~2 months of 5m)."""
        base = cls(seq_len=48, hidden_size=32, epochs=8, batch_size=128, patience=3, val_days=4)
        return replace(base, **overrides)


def lstm_features(bars: pd.DataFrame, lookback_days: int = 5,
                  equilibrium_bars: int = 48) -> pd.DataFrame:
    """Raw (unstandardised) :data:`FEATURES` of intraday bars, one row per bar, causal.

    Args:
        bars: intraday Bars of one frequency sorted by ``(ts_code, trade_time)``.
        lookback_days: see :func:`bar_microstructure`.
        equilibrium_bars: EWMA span of ``eq_gap`` = log(close / EWMA(close)).

    Returns:
        Frame ``ts_code, trade_time`` + :data:`FEATURES` (NaN where undefined).
    """
    f = bar_microstructure(bars, lookback_days=lookback_days)
    close = bars["close"].reset_index(drop=True)
    ewm = close.groupby(bars["ts_code"].reset_index(drop=True), sort=False).transform(
        lambda s: s.ewm(span=equilibrium_bars, adjust=False).mean())
    ret = np.concatenate([intraday_log_returns(g) for _, g in bars.groupby("ts_code", sort=False)])
    angle = 2 * np.pi * day_fraction(f["trade_time"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({
            "ts_code": f["ts_code"], "trade_time": f["trade_time"], "ret": ret,
            "log_range": np.log(f["range"].to_numpy(float) + 1e-5),
            "log_rel_volume": np.log(f["rel_volume"].to_numpy(float) + 1e-3),
            "clv": f["clv"], "flow_imbalance": f["flow_imbalance"],
            "eq_gap": np.log(close / ewm).to_numpy(float),
            "tod_sin": np.sin(angle), "tod_cos": np.cos(angle),
        })


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the old count."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class IntradayLstm:
    """Dual-head LSTM on intraday bar sequences, one network per symbol.

    Attributes:
        config: the :class:`IntradayLstmConfig`.
        nets_: ``{ts_code: nn.Module}`` (CPU, eval mode).
        scale_: ``{ts_code: (mean [F], std [F])}`` feature standardisation.
        ret_scale_: ``{ts_code: std of one-bar simple returns}`` (decimal).
        train_results_: ``{ts_code: TrainResult}`` of the last fit.
    """

    name: ClassVar[str] = "intraday_lstm"

    def __init__(self, config: IntradayLstmConfig | None = None) -> None:
        self.config = config or IntradayLstmConfig()

    @property
    def horizon(self) -> int:
        """Label horizon in bars."""
        return self.config.horizon

    def _features(self, bars: pd.DataFrame) -> pd.DataFrame:
        c = self.config
        return lstm_features(bars, c.lookback_days, c.equilibrium_bars)

    def _standardise(self, code: str, f: pd.DataFrame) -> np.ndarray:
        mu, sd = self.scale_[code]
        x = (f[list(FEATURES)].to_numpy(float) - mu) / sd
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    def _train_config(self) -> TrainConfig:
        c = self.config
        return TrainConfig(lr=c.lr, epochs=c.epochs, batch_size=c.batch_size, patience=c.patience,
                           reg_loss_type="huber", seed=c.seed, augment=False, t_0=max(c.epochs, 1),
                           improved=c.improved)

    def fit(self, bars: pd.DataFrame) -> Self:
        """Train one network per symbol on the (train) bars.

        Raises:
            ModelError: fewer than ``min_samples`` labelled same-day samples.
        """
        check_panel(bars)
        c = self.config
        feats = self._features(bars)
        self.nets_: dict[str, torch.nn.Module] = {}
        self.scale_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.ret_scale_: dict[str, float] = {}
        self.train_results_: dict = {}
        for code, g in bars.groupby("ts_code", sort=True):
            code = str(code)
            f = feats[feats["ts_code"] == code].reset_index(drop=True)
            raw = f[list(FEATURES)].to_numpy(float)
            mu, sd = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
            self.scale_[code] = (mu, np.where(sd > 0, sd, 1.0))
            ws = self._windows(code, f, g["close"].to_numpy(float))
            if len(ws) < c.min_samples:
                raise ModelError(f"{code}: {len(ws)} labelled intraday samples < min_samples="
                                 f"{c.min_samples}; pass more train days or shorten seq_len")
            self.ret_scale_[code] = float(np.std(ws.y_ret)) or 1.0
            self.nets_[code], self.train_results_[code] = self._train(ws, self.ret_scale_[code])
        return self

    def _windows(self, code: str, f: pd.DataFrame, close: np.ndarray):
        """Labelled windows whose label bars stay in the sample's day."""
        c = self.config
        x = self._standardise(code, f)
        times = f["trade_time"].to_numpy("datetime64[ns]")
        ws = make_windows(x, np.ones(len(x), bool), close, times, c.seq_len, c.horizon).labelled()
        day = times.astype("datetime64[D]")
        end_day = day[np.minimum(ws.end + c.horizon, len(day) - 1)]
        return ws.subset(np.flatnonzero(end_day == day[ws.end]))

    def _train(self, ws, ret_scale: float):
        c = self.config
        days = ws.times.astype("datetime64[D]")
        cut = np.unique(days)[-c.val_days] if 0 < c.val_days < len(np.unique(days)) else None
        tr = np.flatnonzero(days < cut) if cut is not None else np.arange(len(ws))
        va = np.flatnonzero(days >= cut) if cut is not None else np.zeros(0, np.int64)
        torch.manual_seed(c.seed)
        net = build_net(c.model_type, len(FEATURES), c.hidden_size, c.horizon)
        y_ret = (ws.y_ret / ret_scale).astype(np.float32)
        val = (ws.X[va], ws.y_dir[va], y_ret[va]) if len(va) else None
        with torch_threads(c.num_threads):
            res = train_dual_head(net, ws.X[tr], ws.y_dir[tr], y_ret[tr], self._train_config(),
                                  val=val)
        net.eval()
        return net, res

    def _check(self, code: str) -> None:
        if not hasattr(self, "nets_"):
            raise ModelError("IntradayLstm is not fitted: call fit(bars) or from_state()")
        if code not in self.nets_:
            raise ModelError(f"no intraday LSTM fitted for {code}: fit on bars that include it")

    def predict_path(self, bars: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        """Forecast made at the close of every bar in ``[start, end]`` from bars ``<= it``.

        Returns:
            Frame :data:`PATH_COLUMNS`: ``prob_up`` P(compounded simple return of
            the next ``horizon`` bars > 0); ``mean`` expected compounded simple
            return of the next ``horizon`` bars (decimal). Bars with fewer than
            ``seq_len`` bars of history are absent.
        """
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        b = panel_until(bars, end)
        feats = self._features(b)
        frames = []
        for code, f in feats.groupby("ts_code", sort=True):
            code = str(code)
            self._check(code)
            f = f.reset_index(drop=True)
            x = self._standardise(code, f)
            times = f["trade_time"].to_numpy("datetime64[ns]")
            ws = make_windows(x, np.ones(len(x), bool), np.ones(len(x)), times,
                              self.config.seq_len, 1)
            keep = ws.times >= start.to_datetime64()
            with torch_threads(self.config.num_threads):
                probs, rets = predict_batches(self.nets_[code], ws.X[keep],
                                              device=torch.device("cpu"))
            step = rets.astype(np.float64) * self.ret_scale_[code]          # [N, H] decimal
            frames.append(pd.DataFrame({
                "ts_code": code, "trade_time": ws.times[keep], "prob_up": probs[:, 1],
                "mean": np.prod(1.0 + step, axis=1) - 1.0 if len(step) else np.zeros(0),
            }, columns=PATH_COLUMNS))
        if not frames:
            return pd.DataFrame(columns=PATH_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def predict(self, bars: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        """Forecaster protocol rows (``step`` 1..horizon in bars) at ``as_of``.

        ``mean`` is the network's step return, ``cum_mean`` its compounding,
        ``std`` the train one-bar return std (``ret_scale_``, a scale, not a
        fitted forecast error), ``prob_up`` the direction head on every step.
        """
        check_panel(bars)
        b = panel_until(bars, as_of)
        last = b["trade_time"].max()
        frames = []
        for code, g in b.groupby("ts_code", sort=True):
            code = str(code)
            self._check(code)
            f = self._features(g).reset_index(drop=True)
            x = self._standardise(code, f)[-self.config.seq_len:][None]
            if x.shape[1] < self.config.seq_len:
                raise ModelError(f"{code}: fewer than seq_len={self.config.seq_len} bars up to "
                                 f"{as_of}")
            with torch_threads(self.config.num_threads):
                probs, rets = predict_batches(self.nets_[code], x, device=torch.device("cpu"))
            step = rets[0].astype(np.float64) * self.ret_scale_[code]
            h = len(step)
            frames.append(pd.DataFrame({
                "ts_code": code, "as_of": pd.Timestamp(g["trade_time"].iloc[-1]),
                "step": np.arange(1, h + 1), "mean": step,
                "cum_mean": np.cumprod(1 + step) - 1, "std": self.ret_scale_[code],
                "prob_up": float(probs[0, 1]), "prob_down": float(probs[0, 0]),
                "regime": pd.Series([None] * h, dtype=object), "regime_prob": np.nan,
            }))
        if not frames:
            raise ModelError(f"bars have no rows on or before {as_of} (last {last})")
        return pd.concat(frames, ignore_index=True)

    def state_dict(self) -> dict:
        """Plain data: config, scalers and each network's weights as numpy arrays."""
        if not hasattr(self, "nets_"):
            raise ModelError("IntradayLstm is not fitted: call fit(bars) first")
        return {"name": self.name, "config": asdict(self.config), "models": {
            c: {"weights": {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()},
                "scale_mean": self.scale_[c][0].tolist(), "scale_std": self.scale_[c][1].tolist(),
                "ret_scale": self.ret_scale_[c]}
            for c, net in self.nets_.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output.

        Raises:
            ModelError: not an intraday LSTM state.
        """
        check_state(cls, state)
        obj = cls(IntradayLstmConfig(**state["config"]))
        c = obj.config
        obj.nets_, obj.scale_, obj.ret_scale_ = {}, {}, {}
        for code, d in state["models"].items():
            net = build_net(c.model_type, len(FEATURES), c.hidden_size, c.horizon)
            net.load_state_dict({k: torch.as_tensor(np.asarray(v))
                                 for k, v in d["weights"].items()})
            obj.nets_[code] = net.eval()
            obj.scale_[code] = (np.asarray(d["scale_mean"], float),
                                np.asarray(d["scale_std"], float))
            obj.ret_scale_[code] = float(d["ret_scale"])
        return obj


__all__ = ["FEATURES", "PATH_COLUMNS", "IntradayLstm", "IntradayLstmConfig", "lstm_features"]
