"""Datasets for :class:`tzero.training.trainer.Trainer`: in-memory arrays and lazy windows.

- :class:`ArrayData`: tensors with one row per sample, already cut (the
  per-symbol spec-002 LSTM's ``[N, T, F]`` windows).
- :class:`SeriesArrays`: many series in ONE contiguous ``[sum T_i, F]`` float32
  array plus offsets; a sample is ``(series i, end row t)`` and its window, rows
  ``t − L + 1 … t``, is gathered only when a batch is asked for. Memory is the
  rows (5,000 stocks × 250 sessions × 25 features × 4 B = 125 MB), not
  ``L`` times that. Windows are normalised when cut: the relative channels
  minus their anchor at the window's last row (the scale-free Alpha360-style
  inputs of :mod:`tzero.features.cross_section`), then an optional robust
  scaler fitted on training windows.

A sample is in the index only when every row of its window is finite and, with
``require_labels``, every label at its end row is known (float labels: not NaN;
integer labels: ``>= 0``, as ``y_dir`` uses −1 for unknown).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np
import torch

from tzero.features.cross_section import (
    RobustScaler,
    ScalerParams,
    per_date_normalise,
    relative_normalise,
    tradeable_return,
)
from tzero.training.trainer import Batch
from tzero.training.windows import direction_label, forward_returns


class ArrayData:
    """Tensors with one row per sample; ``batch(idx)`` indexes them all.

    Args:
        arrays: name → ``[N, ...]`` array or tensor (dtypes kept; numpy converted
            with ``torch.as_tensor``).
        device: where the tensors live (default CPU); batches are cut there.

    Raises:
        ValueError: no arrays, or arrays of different lengths.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray | torch.Tensor],
                 device: torch.device | str | None = None) -> None:
        if not arrays:
            raise ValueError("ArrayData needs at least one array")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.tensors = {k: torch.as_tensor(v).to(self.device) for k, v in arrays.items()}
        lengths = {k: int(v.shape[0]) for k, v in self.tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"arrays must have the same length, got {lengths}")
        self._n = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._n

    def batch(self, indices: np.ndarray) -> Batch:
        """``{name: tensor[indices]}`` on :attr:`device`."""
        idx = torch.as_tensor(indices, device=self.device)
        return {k: v[idx] for k, v in self.tensors.items()}


@dataclass
class SeriesInput:
    """One series for :meth:`SeriesArrays.from_series`.

    Attributes:
        ts_code: the symbol.
        dates: ``[T]`` session dates (datetime64), ascending.
        features: ``[T, F]`` per-row inputs (row t uses data ≤ t).
        labels: name → ``[T]`` or ``[T, K]`` labels at each row (built from rows > t).
    """

    ts_code: str
    dates: np.ndarray
    features: np.ndarray
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)


def series_labels(close: np.ndarray, horizon: int = 5) -> dict[str, np.ndarray]:
    """The standard labels of one series, aligned to its rows.

    Args:
        close: ``[T]`` qfq closes (CNY).
        horizon: sessions of the daily-return labels (spec 002: 5).

    Returns:
        ``y_tradeable`` ``[T]`` float32 (:func:`tzero.features.cross_section.tradeable_return`),
        ``y_ret`` ``[T, horizon]`` float32 daily decimal returns
        (:func:`tzero.training.windows.forward_returns`; NaN where unknown) and
        ``y_dir`` ``[T]`` int64 (1 when the compounded return > 0, 0 otherwise,
        −1 where the horizon is unknown).
    """
    fwd = forward_returns(close, horizon)
    known = ~np.isnan(fwd).any(axis=1)
    y_dir = np.where(known, direction_label(np.nan_to_num(fwd)), -1).astype(np.int64)
    return {"y_tradeable": tradeable_return(close).astype(np.float32),
            "y_ret": fwd.astype(np.float32), "y_dir": y_dir}


def _known(label: np.ndarray) -> np.ndarray:
    v = label.reshape(len(label), -1)
    if np.issubdtype(label.dtype, np.floating):
        return np.asarray(np.isfinite(v).all(axis=1))
    return np.asarray((v >= 0).all(axis=1))


class _ViewChanges(TypedDict, total=False):
    """Constructor arguments of :class:`SeriesArrays` that :meth:`SeriesArrays._view` may replace."""

    rows: np.ndarray
    offsets: np.ndarray
    labels: dict[str, np.ndarray]
    ts_codes: list[str]
    symbol_ids: np.ndarray
    dates: np.ndarray
    row_date: np.ndarray
    window: int
    relative: tuple[tuple[int, int], ...]
    end_row: np.ndarray
    sample_series: np.ndarray
    scaler: ScalerParams | None


class SeriesArrays:
    """Lazy windows over many series stored as one contiguous row array.

    Build with :meth:`from_series`. Attributes (rows shared by every
    :meth:`select` view; never copied per window):

    Attributes:
        rows: ``[R, F]`` float32, the series one after another.
        offsets: ``[S + 1]`` int64; series ``i`` is ``rows[offsets[i]:offsets[i+1]]``.
        labels: name → ``[R, ...]`` labels aligned to ``rows``.
        ts_codes: ``S`` symbols. symbol_ids: ``[S]`` int64 (embedding ids).
        dates: ``[D]`` sorted unique session dates of all series (datetime64[ns]).
        row_date: ``[R]`` int32 index into ``dates`` of each row.
        window: rows per window ``L``. relative: ``(channel, anchor)`` pairs.
        scaler: :class:`ScalerParams` applied after the relative step, or None.
        end_row: ``[N]`` int64 global row of each sample's last window row.
        sample_series: ``[N]`` int32 series of each sample.
    """

    def __init__(self, rows: np.ndarray, offsets: np.ndarray, labels: dict[str, np.ndarray],
                 ts_codes: list[str], symbol_ids: np.ndarray, dates: np.ndarray,
                 row_date: np.ndarray, window: int, relative: tuple[tuple[int, int], ...],
                 end_row: np.ndarray, sample_series: np.ndarray,
                 scaler: ScalerParams | None = None) -> None:
        self.rows, self.offsets, self.labels = rows, offsets, labels
        self.ts_codes, self.symbol_ids = ts_codes, symbol_ids
        self.dates, self.row_date = dates, row_date
        self.window, self.relative, self.scaler = window, relative, scaler
        self.end_row, self.sample_series = end_row, sample_series
        self._steps = np.arange(-window + 1, 1, dtype=np.int64)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_series(cls, series: Iterable[SeriesInput], window: int,
                    relative: Sequence[tuple[int, int]] = (), require_labels: bool = True,
                    symbol_ids: Mapping[str, int] | None = None) -> SeriesArrays:
        """Concatenate series into one row array and index their valid windows.

        Args:
            series: :class:`SeriesInput` items, all with the same ``F`` and label names.
            window: rows per window ``L`` (60).
            relative: ``(channel, anchor)`` pairs normalised per window
                (:data:`tzero.features.cross_section.ALPHA_RELATIVE` for alpha rows).
            require_labels: index only samples whose labels are all known.
            symbol_ids: ts_code → embedding id (keep a fitted model's mapping);
                default: position in ``series``.

        Returns:
            A :class:`SeriesArrays`.

        Raises:
            ValueError: no series, ``window < 1``, mismatched shapes or label
                names, unsorted dates, a relative pair outside the channels, or a
                ts_code missing from ``symbol_ids``.
        """
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        feats: list[np.ndarray] = []
        dates: list[np.ndarray] = []
        codes: list[str] = []
        labels: dict[str, list[np.ndarray]] = {}
        for s in series:
            x = np.asarray(s.features, dtype=np.float32)
            d = np.asarray(s.dates, dtype="datetime64[ns]")
            if x.ndim != 2 or len(d) != len(x):
                raise ValueError(f"{s.ts_code}: features must be [T, F] with T dates, "
                                 f"got {x.shape} and {len(d)} dates")
            if len(d) > 1 and not (np.diff(d) > np.timedelta64(0)).all():
                raise ValueError(f"{s.ts_code}: dates must be strictly ascending")
            if feats and (x.shape[1] != feats[0].shape[1] or set(s.labels) != set(labels)):
                raise ValueError(f"{s.ts_code}: {x.shape[1]} features and labels "
                                 f"{sorted(s.labels)}; expected {feats[0].shape[1]} and "
                                 f"{sorted(labels)}")
            feats.append(x)
            dates.append(d)
            codes.append(s.ts_code)
            for k, v in s.labels.items():
                labels.setdefault(k, []).append(np.asarray(v))
        if not feats:
            raise ValueError("no series to build a dataset from")
        rel = tuple((int(c), int(a)) for c, a in relative)
        if any(not (0 <= c < feats[0].shape[1] and 0 <= a < feats[0].shape[1]) for c, a in rel):
            raise ValueError(f"relative pairs {rel} must index the {feats[0].shape[1]} channels")
        lengths = np.array([len(x) for x in feats], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        rows = np.concatenate(feats)
        del feats
        lab = {k: np.concatenate(v) for k, v in labels.items()}
        all_dates = np.concatenate(dates)
        uniq = np.unique(all_dates)
        row_date = np.searchsorted(uniq, all_dates).astype(np.int32)
        if symbol_ids is None:
            ids = np.arange(len(codes), dtype=np.int64)
        else:
            missing = [c for c in codes if c not in symbol_ids]
            if missing:
                raise ValueError(f"symbol_ids has no id for {missing[:5]}; refit or extend it")
            ids = np.array([symbol_ids[c] for c in codes], dtype=np.int64)
        end_row, sample_series = _sample_index(rows, offsets, lab, window, require_labels)
        return cls(rows, offsets, lab, codes, ids, uniq, row_date, window, rel, end_row,
                   sample_series)

    def _view(self, **changes: Unpack[_ViewChanges]) -> SeriesArrays:
        kw: _ViewChanges = dict(rows=self.rows, offsets=self.offsets, labels=dict(self.labels),
                  ts_codes=self.ts_codes, symbol_ids=self.symbol_ids, dates=self.dates,
                  row_date=self.row_date, window=self.window, relative=self.relative,
                  end_row=self.end_row, sample_series=self.sample_series, scaler=self.scaler)
        kw.update(changes)
        return SeriesArrays(**kw)

    def select(self, which: np.ndarray) -> SeriesArrays:
        """A view with only some samples (bool mask ``[N]`` or indices); rows are shared.

        E.g. a time split: ``ds.select(ds.sample_dates() < cut)``.
        """
        which = np.asarray(which)
        idx = np.flatnonzero(which) if which.dtype == bool else which.astype(np.int64)
        return self._view(end_row=self.end_row[idx], sample_series=self.sample_series[idx])

    def with_channels(self, extra: np.ndarray) -> SeriesArrays:
        """A view with ``extra [R, K]`` appended to every row's channels (not relative-normalised).

        Raises:
            ValueError: ``extra`` does not have one row per row of :attr:`rows`.
        """
        extra = np.asarray(extra, dtype=np.float32)
        if extra.ndim != 2 or len(extra) != len(self.rows):
            raise ValueError(f"extra channels must be [{len(self.rows)}, K], got {extra.shape}")
        return self._view(rows=np.concatenate([self.rows, extra], axis=1))

    def with_scaler(self, scaler: ScalerParams | None) -> SeriesArrays:
        """A view whose batches are scaled by ``scaler`` (after the relative step)."""
        return self._view(scaler=scaler)

    def fit_scaler(self, scaler: RobustScaler | None = None, max_windows: int = 4096,
                   seed: int = 0) -> ScalerParams:
        """Fit a robust scaler on the (relative-normalised) windows of these samples.

        Call it on the training selection only. Up to ``max_windows`` windows
        are drawn without replacement (numpy ``default_rng(seed)``) and all
        their rows pooled.

        Raises:
            ValueError: no samples.
        """
        if len(self) == 0:
            raise ValueError("no samples to fit a scaler on")
        rng = np.random.default_rng(seed)
        n = min(max_windows, len(self))
        pick = np.sort(rng.choice(len(self), size=n, replace=False))
        x = self._windows(pick)
        return (scaler or RobustScaler()).fit(x.reshape(-1, x.shape[-1]))

    def with_normalised_label(self, key: str, method: str = "rank",
                              out: str | None = None) -> SeriesArrays:
        """A view with label ``out`` (default ``key + '_' + method``) normalised per date.

        The normalisation runs over THIS view's samples (select the training
        samples first); rows that are not a sample get NaN.

        Raises:
            KeyError: unknown label. ValueError: unknown method.
        """
        if key not in self.labels:
            raise KeyError(f"no label {key!r}; have {sorted(self.labels)}")
        src = self.labels[key]
        vals = per_date_normalise(src[self.end_row], self.row_date[self.end_row], method)
        full = np.full(src.shape, np.nan, dtype=np.float32)
        full[self.end_row] = vals
        labels = dict(self.labels)
        labels[out or f"{key}_{method}"] = full
        return self._view(labels=labels)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(len(self.end_row))

    @property
    def n_features(self) -> int:
        """``F``, channels per row."""
        return int(self.rows.shape[1])

    def date_idx(self) -> np.ndarray:
        """``[N]`` int64 index into :attr:`dates` of each sample's end date."""
        return self.row_date[self.end_row].astype(np.int64)

    def sample_dates(self) -> np.ndarray:
        """``[N]`` datetime64[ns] end date of each sample (the date ``t`` of its inputs)."""
        return self.dates[self.row_date[self.end_row]]

    def sample_codes(self) -> np.ndarray:
        """``[N]`` ts_code of each sample."""
        return np.asarray(self.ts_codes, dtype=object)[self.sample_series]

    def series_dates(self, i: int) -> np.ndarray:
        """``[T_i]`` dates of series ``i``."""
        return self.dates[self.row_date[self.offsets[i] : self.offsets[i + 1]]]

    def _windows(self, indices: np.ndarray) -> np.ndarray:
        ends = self.end_row[np.asarray(indices, dtype=np.int64)]
        x = self.rows[ends[:, None] + self._steps[None, :]]       # [B, L, F] (a copy)
        return relative_normalise(x, self.relative)

    def batch(self, indices: np.ndarray) -> Batch:
        """Cut, normalise and collate the samples at ``indices``.

        Args:
            indices: ``[B]`` int sample positions.

        Returns:
            ``x`` ``[B, L, F]`` float32 (relative channels as log-ratios to the
            window's last row, then scaled when a scaler is set), every label
            at the end row (``[B]`` / ``[B, K]``, dtype kept), ``symbol_id``
            ``[B]`` int64 and ``date_idx`` ``[B]`` int64 — CPU tensors.
        """
        idx = np.asarray(indices, dtype=np.int64)
        x = self._windows(idx)
        if self.scaler is not None:
            x = self.scaler.transform(x)
        ends = self.end_row[idx]
        out = {"x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))}
        for k, v in self.labels.items():
            out[k] = torch.from_numpy(np.ascontiguousarray(v[ends]))
        out["symbol_id"] = torch.from_numpy(self.symbol_ids[self.sample_series[idx]])
        out["date_idx"] = torch.from_numpy(self.row_date[ends].astype(np.int64))
        return out

    def nbytes(self) -> int:
        """Bytes held by the rows, labels and index arrays (not by batches)."""
        arrays = [self.rows, self.offsets, self.row_date, self.end_row, self.sample_series,
                  *self.labels.values()]
        return int(sum(a.nbytes for a in arrays))


def _sample_index(rows: np.ndarray, offsets: np.ndarray, labels: dict[str, np.ndarray],
                  window: int, require_labels: bool) -> tuple[np.ndarray, np.ndarray]:
    """End rows (and their series) of windows with all rows finite and, optionally, labels known."""
    n_rows = rows.shape[0]
    bad = (~np.isfinite(rows).all(axis=1)).astype(np.int64)
    cbad = np.concatenate([[0], np.cumsum(bad)])
    series = (np.searchsorted(offsets, np.arange(n_rows), side="right") - 1).astype(np.int32)
    ends = np.arange(n_rows, dtype=np.int64)
    ok = ends - offsets[series] >= window - 1
    start = np.maximum(ends + 1 - window, 0)
    ok &= (cbad[ends + 1] - cbad[start]) == 0
    if require_labels:
        for v in labels.values():
            ok &= _known(v)
    return ends[ok], series[ok]
