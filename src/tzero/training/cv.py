"""Time-series cross-validation and the hyper-parameter grids of spec 002 §4.2.

``TimeSeriesSplit`` (scikit-learn) with a gap of ``horizon`` samples between
each training fold and its test fold, so no test label overlaps a training
window's label period. Every parameter combination is scored by
``avg_f1 − 0.1 × log1p(avg_mse)`` over the folds (MSE of decimal returns).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from sklearn.model_selection import TimeSeriesSplit

from tzero.training.executor import Executor, LocalExecutor
from tzero.training.metrics import cv_score

DEFAULT_PARAM_GRID: dict = {"lr": [1e-3, 5e-4], "hidden_size": [32, 64], "epochs": [30, 50], "batch_size": 32}
FAST_PARAM_GRID: dict = {"lr": [5e-4], "hidden_size": [32], "epochs": [25], "batch_size": 32}
DEFAULT_N_SPLITS = 5
FAST_N_SPLITS = 3


def expand_grid(grid: dict) -> list[dict]:
    """All combinations of a grid whose list values vary and scalars are fixed."""
    keys = sorted(grid)
    values = [v if isinstance(v, list) else [v] for v in (grid[k] for k in keys)]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


class CvRow(TypedDict):
    """One grid combination's parameters, fold-averaged metrics and CV score."""

    params: dict
    avg_f1: float
    avg_mse: float
    score: float


@dataclass
class CvResult:
    """Best parameters and every combination's fold metrics and score."""

    best_params: dict
    best_score: float
    table: list[CvRow]


FoldFn = Callable[[dict, np.ndarray, np.ndarray], dict]


def grid_search(n_samples: int, grid: dict, n_splits: int, gap: int, fold_fn: FoldFn, *,
                executor: Executor | None = None) -> CvResult:
    """Score every grid combination with time-series CV.

    Args:
        n_samples: samples in time order.
        grid: parameter grid (see :data:`DEFAULT_PARAM_GRID`).
        n_splits: folds.
        gap: samples dropped between train and test (≥ label horizon).
        fold_fn: ``fold_fn(params, train_idx, test_idx) -> {"f1": .., "mse": ..}``.
        executor: where the grid points run, one task each (:mod:`tzero.training.executor`);
            None: one after another in this process. ``fold_fn`` then travels to the
            workers (a closure needs Ray, which pickles it by value; a process pool
            needs a module-level function). The table is in grid order either way.

    Returns:
        :class:`CvResult`; ties keep the first combination.

    Raises:
        ValueError: too few samples for the folds.
        Exception: what ``fold_fn`` raised for a grid point.
    """
    if n_samples < (n_splits + 1) * (gap + 2):
        raise ValueError(f"{n_samples} samples are too few for {n_splits}-fold time-series CV")
    splitter = TimeSeriesSplit(n_splits=n_splits, gap=gap)
    folds = list(splitter.split(np.arange(n_samples)))
    combos = expand_grid(grid)
    table: list = [None] * len(combos)
    run = (executor or LocalExecutor(1)).map(_grid_point, combos, shared=(fold_fn, folds))
    with contextlib.closing(run):
        for res in run:
            table[res.index] = res.get()
    best = max(table, key=lambda r: r["score"])
    return CvResult(best["params"], best["score"], table)


def _grid_point(params: dict, shared: tuple[FoldFn, list]) -> CvRow:
    """One grid combination scored over every fold (a task of :func:`grid_search`)."""
    fold_fn, folds = shared
    res = [fold_fn(params, tr, te) for tr, te in folds]
    f1 = float(np.nanmean([r["f1"] for r in res]))
    mse = float(np.nanmean([r["mse"] for r in res]))
    return {"params": params, "avg_f1": f1, "avg_mse": mse, "score": cv_score(f1, mse)}
