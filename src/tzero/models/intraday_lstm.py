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
from tzero.models.base import (
    Frequency,
    LocalForecaster,
    Scope,
    check_panel,
    check_state,
    panel_until,
)
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


@dataclass
class IntradayNet:
    """Fit of one symbol: network, feature scaler and return scale.

    Attributes:
        net: the dual-head network (CPU, eval mode).
        scale_mean, scale_std: ``[F]`` train feature means / deviations (std 1
            where a feature is constant).
        ret_scale: train std of one-bar simple returns (decimal); the return
            head's output is multiplied by it.
        train_result: the :class:`tzero.training.loop.TrainResult` of the fit
            (``None`` after :meth:`IntradayLstm.from_state`).
        trained_until: last train bar (``None`` when unknown).
    """

    net: torch.nn.Module
    scale_mean: np.ndarray
    scale_std: np.ndarray
    ret_scale: float
    train_result: Any = None
    trained_until: pd.Timestamp | None = None

    def standardise(self, f: pd.DataFrame) -> np.ndarray:
        """``[T, F]`` float32 standardised :data:`FEATURES` of a feature frame; NaN/inf → 0."""
        return standardise(f, self.scale_mean, self.scale_std)


def standardise(f: pd.DataFrame, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``[T, F]`` float32 ``(f[FEATURES] - mean) / std`` with undefined values set to 0."""
    x = (f[list(FEATURES)].to_numpy(float) - mean) / std
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


class IntradayLstm(LocalForecaster):
    """Dual-head LSTM on intraday bar sequences, one network per symbol.

    A :class:`tzero.models.base.LocalForecaster` (the base owns the loop over
    symbols: ``fit(bars, n_jobs=2)`` trains two symbols at once, each seeded
    alike). ``predict`` gives the forecast frame (``step`` in bars);
    :meth:`predict_path` the batched path of :data:`PATH_COLUMNS`.

    Attributes:
        config: the :class:`IntradayLstmConfig`.
        models_: ``{ts_code: IntradayNet}``.
    """

    name: ClassVar[str] = "intraday_lstm"
    scope: ClassVar[Scope] = "local"
    frequency: ClassVar[Frequency] = "intraday"
    #: Bars needed to fit with the default config: ``min_samples`` labelled
    #: windows of ``seq_len`` bars, each followed by ``horizon`` label bars.
    min_history: ClassVar[int] = (IntradayLstmConfig.seq_len + IntradayLstmConfig.horizon
                                  + IntradayLstmConfig.min_samples)
    #: Columns of :meth:`predict_path` (:data:`PATH_COLUMNS`).
    path_columns: ClassVar[tuple[str, ...]] = tuple(PATH_COLUMNS)
    #: Whether ``fit``/``predict_path`` take a Trades frame (``trades=``).
    uses_trades: ClassVar[bool] = False

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42, freq: str = "5m"
                       ) -> IntradayLstmConfig:
        """Defaults with ``seed``; ``fast``: :meth:`IntradayLstmConfig.fast` (``freq`` unused)."""
        return IntradayLstmConfig.fast(seed=seed) if fast else IntradayLstmConfig(seed=seed)

    def _features(self, bars: pd.DataFrame) -> pd.DataFrame:
        c = self.config
        return lstm_features(bars, c.lookback_days, c.equilibrium_bars)

    def _train_config(self) -> TrainConfig:
        c = self.config
        return TrainConfig(lr=c.lr, epochs=c.epochs, batch_size=c.batch_size, patience=c.patience,
                           reg_loss_type="huber", seed=c.seed, augment=False, t_0=max(c.epochs, 1),
                           improved=c.improved)

    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> IntradayNet:
        """Train one symbol's network on its train bars.

        Args:
            progress: optional ``progress(epoch, epochs)``.

        Raises:
            ModelError: fewer than ``min_samples`` labelled same-day samples.
        """
        c = self.config
        f = self._features(bars).reset_index(drop=True)
        raw = f[list(FEATURES)].to_numpy(float)
        mu, sd = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        ws = self._windows(standardise(f, mu, sd), f["trade_time"], bars["close"].to_numpy(float))
        if len(ws) < c.min_samples:
            raise ModelError(f"{code}: {len(ws)} labelled intraday samples < min_samples="
                             f"{c.min_samples}; pass more train days or shorten seq_len")
        ret_scale = float(np.std(ws.y_ret)) or 1.0
        net, res = self._train(ws, ret_scale, progress)
        return IntradayNet(net, mu, sd, ret_scale, res, pd.Timestamp(bars["trade_time"].iloc[-1]))

    def _windows(self, x: np.ndarray, trade_time: pd.Series, close: np.ndarray):
        """Labelled windows of standardised features ``x [T, F]`` whose label bars stay in
        the sample's day."""
        c = self.config
        times = trade_time.to_numpy("datetime64[ns]")
        ws = make_windows(x, np.ones(len(x), bool), close, times, c.seq_len, c.horizon).labelled()
        day = times.astype("datetime64[D]")
        end_day = day[np.minimum(ws.end + c.horizon, len(day) - 1)]
        return ws.subset(np.flatnonzero(end_day == day[ws.end]))

    def _train(self, ws, ret_scale: float, progress=None):
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
                                  val=val, on_epoch=progress)
        net.eval()
        return net, res

    def _series_trained_until(self, fitted: IntradayNet) -> pd.Timestamp | None:
        return fitted.trained_until

    def _net(self, code: str) -> IntradayNet:
        self._check_fitted()
        if code not in self.models_:
            raise ModelError(f"no {self.name} fitted for {code}: fit on bars that include it")
        return self.models_[code]

    def predict_path(self, bars: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        """Forecast made at the close of every bar in ``[start, end]`` from bars ``<= it``.

        A batched output of its own (not the forecast frame): every window of
        the range goes through the network in one batch. Bars are cut at
        ``end`` by :func:`tzero.models.base.panel_until`, the no-look-ahead
        cut of :meth:`Forecaster.predict`, and the features are causal, so
        row ``t`` uses bars ``<= t`` only: its ``prob_up`` is that of
        ``predict(bars, t)``.

        Returns:
            Frame :data:`PATH_COLUMNS`: ``prob_up`` P(compounded simple return of
            the next ``horizon`` bars > 0); ``mean`` expected compounded simple
            return of the next ``horizon`` bars (decimal). Bars with fewer than
            ``seq_len`` bars of history are absent.

        Raises:
            ModelError: not fitted, or a symbol without a model.
        """
        self._check_fitted()
        check_panel(bars)
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        feats = self._features(panel_until(bars, end))
        frames = []
        for code, f in feats.groupby("ts_code", sort=True):
            m = self._net(str(code))
            f = f.reset_index(drop=True)
            x = m.standardise(f)
            times = f["trade_time"].to_numpy("datetime64[ns]")
            ws = make_windows(x, np.ones(len(x), bool), np.ones(len(x)), times,
                              self.config.seq_len, 1)
            keep = ws.times >= start.to_datetime64()
            with torch_threads(self.config.num_threads):
                probs, rets = predict_batches(m.net, ws.X[keep], device=torch.device("cpu"))
            step = rets.astype(np.float64) * m.ret_scale                    # [N, H] decimal
            frames.append(pd.DataFrame({
                "ts_code": str(code), "trade_time": ws.times[keep], "prob_up": probs[:, 1],
                "mean": np.prod(1.0 + step, axis=1) - 1.0 if len(step) else np.zeros(0),
            }, columns=PATH_COLUMNS))
        if not frames:
            return pd.DataFrame(columns=PATH_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def _predict_series(self, code: str, bars: pd.DataFrame, m: IntradayNet) -> pd.DataFrame:
        """Forecast ``horizon`` bars after the last bar of one symbol (``step`` in bars).

        ``mean`` is the network's step return, ``cum_mean`` its compounding,
        ``std`` the train one-bar return std (``ret_scale``, a scale, not a
        fitted forecast error), ``prob_up`` the direction head on every step.

        Raises:
            ModelError: fewer than ``seq_len`` bars.
        """
        seq_len = self.config.seq_len
        x = m.standardise(self._features(bars).reset_index(drop=True))[-seq_len:][None]
        if x.shape[1] < seq_len:
            raise ModelError(f"{code}: fewer than seq_len={seq_len} bars up to "
                             f"{bars['trade_time'].iloc[-1]}")
        with torch_threads(self.config.num_threads):
            probs, rets = predict_batches(m.net, x, device=torch.device("cpu"))
        step = rets[0].astype(np.float64) * m.ret_scale
        h = len(step)
        return pd.DataFrame({
            "step": np.arange(1, h + 1), "mean": step,
            "cum_mean": np.cumprod(1 + step) - 1, "std": m.ret_scale,
            "prob_up": float(probs[0, 1]), "prob_down": float(probs[0, 0]),
            "regime": pd.Series([None] * h, dtype=object), "regime_prob": np.nan,
        })

    def state_dict(self) -> dict:
        """Plain data: config, scalers and each network's weights as numpy arrays.

        Raises:
            ModelError: not fitted.
        """
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config), "models": {
            c: {"weights": {k: v.detach().cpu().numpy() for k, v in m.net.state_dict().items()},
                "scale_mean": m.scale_mean.tolist(), "scale_std": m.scale_std.tolist(),
                "ret_scale": m.ret_scale,
                **({"trained_until": str(m.trained_until)} if m.trained_until is not None else {})}
            for c, m in self.models_.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output.

        Raises:
            ModelError: not an intraday LSTM state.
        """
        check_state(cls, state)
        obj = cls(IntradayLstmConfig(**state["config"]))
        c = obj.config
        obj.models_, obj.errors_ = {}, {}
        for code, d in state["models"].items():
            net = build_net(c.model_type, len(FEATURES), c.hidden_size, c.horizon)
            net.load_state_dict({k: torch.as_tensor(np.asarray(v))
                                 for k, v in d["weights"].items()})
            until = d.get("trained_until")
            obj.models_[code] = IntradayNet(
                net.eval(), np.asarray(d["scale_mean"], float), np.asarray(d["scale_std"], float),
                float(d["ret_scale"]), None, pd.Timestamp(until) if until else None)
        return obj


__all__ = ["FEATURES", "PATH_COLUMNS", "IntradayLstm", "IntradayLstmConfig", "IntradayNet",
           "lstm_features", "standardise"]
