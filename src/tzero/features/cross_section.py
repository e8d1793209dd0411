"""Inputs and labels of cross-sectional (pooled, one-model-per-universe) networks.

Pure functions, no I/O. Rows are one symbol's qfq daily bars; row ``t`` of
every input depends on bars ``<= t`` only, and every label at ``t`` on bars
``> t`` only (the leakage tests check both).

**Scale-free price/volume windows** (the idea of Qlib's Alpha360 handler,
``qlib/contrib/data/handler.py``: the last 60 sessions' open, high, low, close,
VWAP divided by the latest close and volumes divided by the latest volume).
Dividing by the *latest* close makes a window depend on its own end, so the
same row has a different value in every window that holds it. To keep one
array of rows (no ``[N, T, F]`` tensor of all windows), a row stores *raw logs*
(:func:`alpha_rows`): ``log open, log high, log low, log close, log VWAP``
and ``log1p volume``; a window ending at ``t`` is normalised when it is cut
(:func:`relative_normalise`, called by
:meth:`tzero.training.datasets.SeriesArrays.batch`) by subtracting its last
row's anchor channel: ``log(x_s) − log(close_t) = log(x_s / close_t)`` for the
five prices and ``log1p(volume_s) − log1p(volume_t)`` for volume. The latest
close channel is therefore 0 (Qlib's ``CLOSE0`` = 1 on the ratio scale).
:func:`alpha_inputs` builds the same windows eagerly, as a reference.

**Labels.** :func:`tradeable_return` is what a signal computed after the
close of ``t`` can earn under T+1: bought at the close of ``t+1``, sold at the
close of ``t+2`` (Qlib's label ``Ref($close, -2) / Ref($close, -1) - 1``).
:func:`per_date_normalise` ranks or z-scores labels across the symbols of each
date (training only: Qlib's ``CSRankNorm`` / ``CSZScoreNorm`` learn processors).

**Scaling.** :class:`RobustScaler`: per-feature median / MAD z-score fitted on
training rows only, clipped to ±5 (Qlib's ``RobustZScoreNorm`` with
``clip_outlier``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tzero.features.indicators import _f64, check_bars
from tzero.features.lstm_features import FEATURE_NAMES, feature_matrix

ALPHA_WINDOW = 60
"""Sessions per input window (Alpha360: 60 sessions × 6 channels)."""
ALPHA_CHANNELS = ("log_open", "log_high", "log_low", "log_close", "log_vwap", "log1p_volume")
"""Per-row channels of :func:`alpha_rows`, in order."""
CLOSE_CH, VOLUME_CH = 3, 5
ALPHA_RELATIVE: tuple[tuple[int, int], ...] = (
    (0, CLOSE_CH), (1, CLOSE_CH), (2, CLOSE_CH), (3, CLOSE_CH), (4, CLOSE_CH), (5, VOLUME_CH))
"""``(channel, anchor)`` pairs: channel minus the anchor at the window's last row."""
VWAP_RANGE_TOLERANCE = 0.005
"""``amount / volume`` outside ``[low × (1 − tol), high × (1 + tol)]`` is not
trusted as a VWAP (units or adjustment do not match the prices; 0.5 % allows
for prices rounded to the fen and float32 amounts)."""
ROBUST_CLIP = 5.0
"""Robust z-scores are clipped to ± this (Qlib ``RobustZScoreNorm``, ``clip_outlier``)."""
MAD_TO_STD = 1.4826
"""MAD × this estimates the standard deviation of normal data."""
RANK_TO_UNIT_STD = float(np.sqrt(12.0))
"""A uniform rank on (−0.5, 0.5) times this has unit variance (Qlib uses 3.46)."""
NORMALISE_METHODS = ("rank", "zscore")


def _log_pos(x: np.ndarray) -> np.ndarray:
    """``log(x)`` where ``x > 0``, NaN elsewhere (non-positive or missing prices)."""
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x) & (x > 0)
    out[ok] = np.log(x[ok])
    return out


def vwap(bars: pd.DataFrame, price_factor: np.ndarray | None = None) -> np.ndarray:
    """Volume-weighted average price per row, in the price units of ``bars``.

    ``amount / volume × price_factor`` (amount CNY, volume shares). Where
    ``amount`` is missing or NaN (Tushare rows without it, indices), volume is
    0, or the quotient falls outside the day's range (see
    :data:`VWAP_RANGE_TOLERANCE`), the typical price ``(high + low + close) / 3``
    is used instead.

    Args:
        bars: one symbol's daily Bars (``high, low, close, volume``; ``amount`` optional).
        price_factor: ``[T]`` multiplier that turned the stored unadjusted
            prices into the prices of ``bars`` (qfq: ``close_qfq / close_raw``;
            volume and amount are never adjusted). Default 1: then rows of a
            qfq frame before a large corporate action fall back to the typical
            price through the range check.

    Returns:
        ``[T]`` float64 prices.
    """
    h, lo, c, v = (_f64(bars[k]) for k in ("high", "low", "close", "volume"))
    typical = (h + lo + c) / 3.0
    if "amount" not in bars.columns:
        return typical
    amt = _f64(bars["amount"])
    factor = np.ones_like(c) if price_factor is None else np.asarray(price_factor, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(v > 0, amt / v, np.nan) * factor
    ok = (np.isfinite(raw) & (raw >= lo * (1 - VWAP_RANGE_TOLERANCE))
          & (raw <= h * (1 + VWAP_RANGE_TOLERANCE)))
    return np.where(ok, raw, typical)


def alpha_rows(bars: pd.DataFrame, price_factor: np.ndarray | None = None) -> np.ndarray:
    """Raw per-row log channels of the scale-free windows (:data:`ALPHA_CHANNELS`).

    Args:
        bars: one symbol's qfq daily Bars frame (prices CNY, volume shares),
            sorted by ``trade_time``.
        price_factor: see :func:`vwap`.

    Returns:
        ``[T, 6]`` float64: ``log`` of open, high, low, close, VWAP (NaN where
        a price is missing or ≤ 0) and ``log1p(volume)`` (finite at volume 0,
        where ``log`` would be −inf; with volume in shares the +1 is negligible
        for any traded day). Row ``t`` uses row ``t`` only. Normalise windows
        of these rows with :func:`relative_normalise` and :data:`ALPHA_RELATIVE`.

    Raises:
        DataFormatError: missing columns, unsorted ``trade_time`` or several symbols.
    """
    check_bars(bars, "alpha_rows")
    o, h, lo, c, v = (_f64(bars[k]) for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        logv = np.where(v >= 0, np.log1p(np.maximum(v, 0.0)), np.nan)
    cols = [_log_pos(o), _log_pos(h), _log_pos(lo), _log_pos(c), _log_pos(vwap(bars, price_factor)),
            logv]
    return np.stack(cols, axis=1)


def relative_normalise(x: np.ndarray, relative: Sequence[tuple[int, int]]) -> np.ndarray:
    """Subtract each window's last-row anchor from the relative channels, in place.

    Args:
        x: ``[B, L, F]`` windows (or ``[L, F]``); row ``L − 1`` is the window's end ``t``.
        relative: ``(channel, anchor)`` pairs, e.g. :data:`ALPHA_RELATIVE`.

    Returns:
        ``x``, with ``x[..., s, c] −= x[..., L − 1, a]`` for every pair (all
        anchors read before any channel is changed), i.e. ``log(x_s / close_t)``
        for the price channels of :func:`alpha_rows`.
    """
    if not relative:
        return x
    ch = np.array([c for c, _ in relative])
    anchor = np.array([a for _, a in relative])
    last = x[..., -1:, anchor].copy()                # [B, 1, R]
    x[..., ch] -= last
    return x


def alpha_inputs(bars: pd.DataFrame, window: int = ALPHA_WINDOW,
                 price_factor: np.ndarray | None = None) -> np.ndarray:
    """Scale-free windows for every end row, built eagerly (reference / small data).

    Args:
        bars: one symbol's qfq daily Bars frame.
        window: sessions per window (60).
        price_factor: see :func:`vwap`.

    Returns:
        ``[T, window, 6]`` float64; entry ``[t, s]`` is row ``t − window + 1 + s``
        as ``log(price / close_t)`` and ``log1p(volume) − log1p(volume_t)``;
        NaN for ``t < window − 1``. Window ``t`` uses rows ``<= t`` only.
        :class:`tzero.training.datasets.SeriesArrays` produces the same windows lazily.

    Raises:
        ValueError: ``window < 1``. DataFormatError: as :func:`alpha_rows`.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    rows = alpha_rows(bars, price_factor)
    pad = np.concatenate([np.full((window - 1, rows.shape[1]), np.nan), rows])
    win = np.lib.stride_tricks.sliding_window_view(pad, window, axis=0)   # [T, 6, L]
    out = relative_normalise(np.ascontiguousarray(win.transpose(0, 2, 1)), ALPHA_RELATIVE)
    out[: window - 1] = np.nan                                          # incomplete windows
    return out


@dataclass(frozen=True)
class InputRows:
    """Per-row inputs of one symbol for :class:`tzero.training.datasets.SeriesArrays`.

    Attributes:
        rows: ``[T, F]`` float32 (NaN where undefined).
        names: the ``F`` channel names.
        relative: ``(channel, anchor)`` pairs normalised per window.
    """

    rows: np.ndarray
    names: tuple[str, ...]
    relative: tuple[tuple[int, int], ...]


def input_rows(bars: pd.DataFrame, lstm_features: bool = False,
               price_factor: np.ndarray | None = None) -> InputRows:
    """The 6 alpha channels, optionally followed by the 21 spec-002 features.

    Args:
        bars: one symbol's qfq daily Bars frame.
        lstm_features: append :func:`tzero.features.lstm_features.feature_matrix`
            (already scale-free; not relative; NaN during its 92-row warm-up).
        price_factor: see :func:`vwap`.

    Returns:
        :class:`InputRows` with ``F = 6`` or ``27``; row ``t`` uses bars ``<= t``.

    Raises:
        DataFormatError: as :func:`alpha_rows`.
    """
    rows = alpha_rows(bars, price_factor).astype(np.float32)
    names: tuple[str, ...] = ALPHA_CHANNELS
    if lstm_features:
        feats, _ = feature_matrix(bars)
        rows = np.concatenate([rows, feats], axis=1)
        names = names + tuple(FEATURE_NAMES)
    return InputRows(np.ascontiguousarray(rows), names, ALPHA_RELATIVE)


def tradeable_return(close: np.ndarray) -> np.ndarray:
    """The return a signal formed after the close of ``t`` can earn under T+1.

    Args:
        close: ``[T]`` qfq closes (CNY).

    Returns:
        ``[T]`` decimal returns ``close[t+2] / close[t+1] − 1`` (buy at the
        next session's close, sell at the one after; Qlib's
        ``Ref($close, -2) / Ref($close, -1) - 1``); NaN for the last two rows.
    """
    c = np.asarray(close, dtype=np.float64)
    out = np.full(c.shape[0], np.nan)
    if c.shape[0] > 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:-2] = c[2:] / c[1:-1] - 1.0
    return out


def per_date_normalise(labels: np.ndarray, date_idx: np.ndarray,
                       method: str = "rank") -> np.ndarray:
    """Normalise labels across the samples of each date (cross-sectional; training only).

    Args:
        labels: ``[N]`` or ``[N, K]`` values (columns normalised separately; NaN ignored).
        date_idx: ``[N]`` date of each sample.
        method: ``rank``: average rank → ``((rank − 0.5) / n − 0.5) × √12``
            (uniform, zero mean, unit variance); ``zscore``: ``(x − mean) / std``
            (population std; 0 where the std is 0).

    Returns:
        float64 array shaped like ``labels``; NaN where the label is NaN; 0 for
        a date with one labelled sample.

    Raises:
        ValueError: unknown method or mismatched lengths.
    """
    if method not in NORMALISE_METHODS:
        raise ValueError(f"method must be one of {NORMALISE_METHODS}, got {method!r}")
    y = np.asarray(labels, dtype=np.float64)
    d = np.asarray(date_idx)
    if y.shape[0] != d.shape[0]:
        raise ValueError(f"labels have {y.shape[0]} rows but date_idx {d.shape[0]}")
    frame = pd.DataFrame(y.reshape(len(y), -1))
    g = frame.groupby(d, sort=False)
    if method == "rank":
        n = g.transform("count").to_numpy(np.float64)
        out = ((g.rank(method="average").to_numpy(np.float64) - 0.5) / n - 0.5) * RANK_TO_UNIT_STD
    else:
        mean = g.transform("mean").to_numpy(np.float64)
        std = g.transform("std", ddof=0).to_numpy(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(std > 0, (frame.to_numpy() - mean) / std, 0.0)
        out[np.isnan(frame.to_numpy())] = np.nan
    return out.reshape(y.shape)


@dataclass(frozen=True)
class ScalerParams:
    """Fitted robust scaling: ``clip((x − center) / scale, ±clip)`` per feature.

    Attributes:
        center: ``[F]`` medians. scale: ``[F]`` robust deviations (> 0).
        clip: bound of the scaled values.
    """

    center: np.ndarray
    scale: np.ndarray
    clip: float = ROBUST_CLIP

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``[..., F]`` values (NaN stays NaN); float32 in, float32 out."""
        dt = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        z = (x - self.center.astype(dt)) / self.scale.astype(dt)
        return np.clip(z, -self.clip, self.clip, out=z)

    def to_dict(self) -> dict:
        """JSON-able form (for a model's state)."""
        return {"center": self.center.tolist(), "scale": self.scale.tolist(), "clip": self.clip}

    @classmethod
    def from_dict(cls, d: dict) -> ScalerParams:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(d["center"], np.float64), np.asarray(d["scale"], np.float64),
                   float(d["clip"]))


class RobustScaler:
    """Per-feature robust z-score: median and MAD × 1.4826, clipped to ±``clip``.

    A feature whose MAD is 0 (e.g. a mostly-zero flag) is scaled by its
    standard deviation, or 1 when that is 0 too. Fit on training rows only.

    Args:
        clip: bound of the scaled values (:data:`ROBUST_CLIP`).
    """

    def __init__(self, clip: float = ROBUST_CLIP) -> None:
        self.clip = clip

    def fit(self, rows: np.ndarray) -> ScalerParams:
        """Fit on ``[N, F]`` training rows (NaN ignored).

        Raises:
            ValueError: ``rows`` is not 2-D or has no finite value in a column.
        """
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"rows must be [N, F], got shape {x.shape}")
        if not np.isfinite(x).any(axis=0).all():
            raise ValueError("a feature has no finite training value; drop it or add history")
        center = np.nanmedian(x, axis=0)
        mad = np.nanmedian(np.abs(x - center), axis=0) * MAD_TO_STD
        std = np.nanstd(x, axis=0)
        scale = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
        return ScalerParams(center, scale, float(self.clip))

    def transform(self, x: np.ndarray, params: ScalerParams) -> np.ndarray:
        """``params.transform(x)`` (see :meth:`ScalerParams.transform`)."""
        return params.transform(x)


SNAPSHOT_NAMES = ("ret_1", "ret_5", "ret_20", "range_hl", "body_co", "vwap_gap",
                  "volume_ratio_20", "volatility_20")
"""Per-row channels of :func:`snapshot_rows`, in order (log-return units)."""


def snapshot_rows(rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One day's scale-free snapshot of every row (the hybrid's Stage-1 input, spec 001).

    Args:
        rows: ``[R, ≥6]`` raw :func:`alpha_rows` channels (log open, high, low,
            close, VWAP, log1p volume), series one after another.
        offsets: ``[S + 1]`` series bounds in ``rows``.

    Returns:
        ``[R, 8]`` float32 (:data:`SNAPSHOT_NAMES`): the 1/5/20-session log
        returns, log high/low range, log close/open body, log VWAP/close gap,
        log1p volume minus its 20-session mean, and the 20-session standard
        deviation of daily log returns. Row ``t`` uses rows ``≤ t`` of its own
        series only; undefined values (a series' first rows) are 0.
    """
    out = np.zeros((len(rows), len(SNAPSHOT_NAMES)), np.float32)
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        r = pd.DataFrame(np.asarray(rows[a:b, :6], np.float64),
                         columns=["o", "h", "l", "c", "v", "vol"])
        r1 = r["c"].diff()
        snap = np.column_stack([
            r1, r["c"].diff(5), r["c"].diff(20), r["h"] - r["l"], r["c"] - r["o"],
            r["v"] - r["c"], r["vol"] - r["vol"].rolling(20, min_periods=1).mean(),
            r1.rolling(20, min_periods=2).std()])
        out[a:b] = np.nan_to_num(snap, nan=0.0, posinf=0.0, neginf=0.0)
    return out

