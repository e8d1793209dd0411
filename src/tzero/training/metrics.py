"""Forecast metrics shared by training (CV score, holdout) and evaluation.

Spec 002 §4.4 / §5 "evaluate_metrics": accuracy, f1, mse, mae, rmse,
direction_accuracy; CV score = ``avg_f1 − 0.1 × log1p(avg_mse)`` (spec 002 §4.2).
Information coefficient: Pearson (IC) and Spearman (Rank IC) correlation
between forecast and realised return across symbols on each date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and binary F1 (positive class = up) of 0/1 direction labels."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.size == 0:
        return {"accuracy": float("nan"), "f1": float("nan")}
    return {"accuracy": float((y_true == y_pred).mean()),
            "f1": float(f1_score(y_true, y_pred, zero_division=0))}


def regression_metrics(ret_true: np.ndarray, ret_pred: np.ndarray) -> dict[str, float]:
    """MSE, MAE, RMSE of decimal returns, and direction accuracy of their signs.

    Args:
        ret_true, ret_pred: same-shape arrays of decimal returns (``[N]`` or ``[N, H]``).
    """
    t = np.asarray(ret_true, dtype=np.float64)
    p = np.asarray(ret_pred, dtype=np.float64)
    if t.size == 0:
        return {k: float("nan") for k in ("mse", "mae", "rmse", "direction_accuracy")}
    err = p - t
    mse = float(np.mean(err**2))
    return {"mse": mse, "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(mse)),
            "direction_accuracy": float(np.mean(np.sign(p) == np.sign(t)))}


def cv_score(avg_f1: float, avg_mse: float) -> float:
    """Spec 002 §4.2 CV score: ``avg_f1 − 0.1 × log1p(avg_mse)``."""
    return float(avg_f1 - 0.1 * np.log1p(avg_mse))


def information_coefficients(frame: pd.DataFrame, pred: str = "pred", actual: str = "actual",
                             by: str = "as_of", min_names: int = 3) -> dict[str, float]:
    """Mean IC and Rank IC across dates, with their t-statistics.

    Args:
        frame: rows ``(by, ts_code, pred, actual)``.
        min_names: dates with fewer symbols are skipped (correlation undefined).

    Returns:
        ``ic``, ``rank_ic``, ``ic_ir`` (mean/std), ``n_dates``; NaN when no date qualifies.
    """
    ics, rics = [], []
    for _, g in frame.groupby(by):
        if len(g) < min_names or g[pred].nunique() < 2 or g[actual].nunique() < 2:
            continue
        ics.append(g[pred].corr(g[actual]))
        rics.append(g[pred].rank().corr(g[actual].rank()))
    if not ics:
        return {"ic": float("nan"), "rank_ic": float("nan"), "ic_ir": float("nan"), "n_dates": 0}
    ic = np.asarray(ics)
    return {"ic": float(np.nanmean(ic)), "rank_ic": float(np.nanmean(rics)),
            "ic_ir": float(np.nanmean(ic) / (np.nanstd(ic) + 1e-12)), "n_dates": len(ics)}
