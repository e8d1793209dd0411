"""Windowed samples for sequence models, with labels built apart from features.

A sample ending at row ``t`` has input rows ``t-seq_len+1 … t`` (data ≤ t) and
labels from rows ``t+1 … t+horizon`` only (spec 002 §1: 60-session input,
5-session horizon; direction = 1 when the 5-session cumulative return > 0;
magnitude = the 5 daily returns, shape ``(batch, 5)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def forward_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """Daily simple returns of the next ``horizon`` sessions for every row.

    Args:
        close: ``[T]`` close prices (qfq, CNY).
        horizon: sessions ahead.

    Returns:
        ``[T, horizon]`` decimal returns; row t column k is
        ``close[t+k+1] / close[t+k] - 1``; NaN where the future is not in ``close``.
    """
    close = np.asarray(close, dtype=np.float64)
    r = np.full(close.shape[0] + horizon, np.nan)
    r[: close.shape[0] - 1] = close[1:] / close[:-1] - 1.0
    idx = np.arange(close.shape[0])[:, None] + np.arange(horizon)[None, :]
    return r[idx]


def direction_label(fwd: np.ndarray) -> np.ndarray:
    """1 when the compounded return over the horizon is > 0, else 0 (``[T]`` int64)."""
    cum = np.prod(1.0 + fwd, axis=1) - 1.0
    return (cum > 0).astype(np.int64)


@dataclass
class WindowSet:
    """Samples of one symbol.

    Attributes:
        X: ``[N, seq_len, F]`` float32 features.
        y_dir: ``[N]`` int64 direction labels (−1 where the future is unknown).
        y_ret: ``[N, horizon]`` float32 decimal returns (NaN where unknown).
        end: ``[N]`` row index of each window's last row in the source frame.
        times: ``[N]`` trade_time of each window's last row.
    """

    X: np.ndarray
    y_dir: np.ndarray
    y_ret: np.ndarray
    end: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, idx: np.ndarray) -> WindowSet:
        """Samples at positions ``idx``."""
        return WindowSet(self.X[idx], self.y_dir[idx], self.y_ret[idx], self.end[idx], self.times[idx])

    def labelled(self) -> WindowSet:
        """Only samples whose full horizon is known (for training and scoring)."""
        return self.subset(np.flatnonzero(self.y_dir >= 0))


def make_windows(features: np.ndarray, valid: np.ndarray, close: np.ndarray,
                 times: pd.Series | np.ndarray, seq_len: int, horizon: int) -> WindowSet:
    """Cut every window of ``seq_len`` valid feature rows, with its labels.

    Args:
        features: ``[T, F]`` features (row t uses data ≤ t).
        valid: ``[T]`` bool, rows whose features are all finite.
        close: ``[T]`` closes for the labels.
        times: ``[T]`` trade_time.
        seq_len: window length (60 in spec 002).
        horizon: label horizon (5 in spec 002).

    Returns:
        A :class:`WindowSet`; windows containing an invalid row are dropped.
    """
    features = np.asarray(features, dtype=np.float32)
    T = features.shape[0]
    if T < seq_len:
        F = features.shape[1] if features.ndim == 2 else 0
        return WindowSet(np.zeros((0, seq_len, F), np.float32), np.zeros(0, np.int64),
                         np.zeros((0, horizon), np.float32), np.zeros(0, np.int64),
                         np.zeros(0, "datetime64[ns]"))
    bad = (~np.asarray(valid, bool)).astype(np.int64)
    cbad = np.concatenate([[0], np.cumsum(bad)])
    ends = np.arange(seq_len - 1, T)
    ok = (cbad[ends + 1] - cbad[ends + 1 - seq_len]) == 0
    ends = ends[ok]
    win = np.lib.stride_tricks.sliding_window_view(features, (seq_len, features.shape[1]))[:, 0]
    X = np.ascontiguousarray(win[ends - seq_len + 1])
    fwd = forward_returns(close, horizon)[ends]
    known = ~np.isnan(fwd).any(axis=1)
    y_dir = np.where(known, direction_label(np.nan_to_num(fwd)), -1).astype(np.int64)
    return WindowSet(X, y_dir, fwd.astype(np.float32), ends.astype(np.int64),
                     np.asarray(times)[ends].astype("datetime64[ns]"))
