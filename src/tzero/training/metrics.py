"""Forecast metrics shared by training (CV score, holdout) and evaluation.

Spec 002 §4.4 / §5 "evaluate_metrics": accuracy, f1, mse, mae, rmse,
direction_accuracy; CV score = ``avg_f1 − 0.1 × log1p(avg_mse)`` (spec 002 §4.2).
Information coefficient: Pearson (IC) and Spearman (Rank IC) correlation
between forecast and realised return across symbols on each date.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def gate_metrics(y_dir: np.ndarray, pred_dir: np.ndarray, y_ret: np.ndarray, pred_ret: np.ndarray,
                 past: np.ndarray) -> dict[str, float]:
    """Holdout metrics the deploy gate reads (spec 002 §4.4, :mod:`tzero.registry.gate`).

    Args:
        y_dir, pred_dir: ``[N]`` 0/1 realised and forecast directions.
        y_ret, pred_ret: ``[N]`` or ``[N, H]`` realised and forecast decimal returns.
        past: ``[N]`` the return over the last horizon up to each sample (the
            momentum baseline; NaN where unknown, left out of that baseline).

    Returns:
        ``accuracy, f1`` and ``mse, mae, rmse, direction_accuracy`` of the
        forecast, ``n``, and the naive baselines on the same samples:
        ``naive_zero_mse, naive_zero_mae`` (forecast 0) and
        ``naive_momentum_accuracy, naive_momentum_f1`` (sign of ``past``).
    """
    y_ret = np.asarray(y_ret, dtype=np.float64)
    past = np.asarray(past, dtype=np.float64)
    zero = regression_metrics(y_ret, np.zeros_like(y_ret))
    ok = np.isfinite(past)
    mom = classification_metrics(np.asarray(y_dir)[ok], (past[ok] > 0).astype(int))
    return {**classification_metrics(y_dir, pred_dir), **regression_metrics(y_ret, pred_ret),
            "n": int(len(y_dir)), "naive_zero_mse": zero["mse"], "naive_zero_mae": zero["mae"],
            "naive_momentum_accuracy": mom["accuracy"], "naive_momentum_f1": mom["f1"]}


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


def quantile_crps(q: np.ndarray, y: np.ndarray, quantiles: Sequence[float]) -> float:
    """CRPS approximated from quantiles: 2 × the mean pinball loss over the levels.

    ``q [N, Q]`` predicted quantiles, ``y [N]`` outcomes, same units (Gneiting &
    Raftery 2007: CRPS = 2 ∫ pinball_τ dτ, here on the Q levels).
    """
    lev = np.asarray(quantiles)
    diff = y[:, None] - q
    return float(2 * np.mean(np.maximum(lev * diff, (lev - 1) * diff)))


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
