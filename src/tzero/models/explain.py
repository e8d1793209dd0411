"""Explanations of served forecasts (spec 000 §5.2 explanation layer; spec 004 §1.2 SHAP).

Three sources, chosen by what a model can give (never by its name):

- **SHAP** (Lundberg & Lee 2017, the ``shap`` library): ``GradientExplainer``
  (expected gradients) on a network's forecast for the per-stock and shared
  LSTMs, TCN, TFT and DeepAR — their inputs are one stock's window, so the
  values are additive contributions of (channel, session) cells, summed here
  per channel ("drivers") and per session ("days"); ``LinearExplainer`` for
  the linear refinement (exact for a linear model).
- **Variable importances** of a net that emits them (TFT's variable-selection
  weights, the Transformer's market gate).
- **Attention** of a net that emits it: over the window's sessions
  (``attn_time``) and over the session's stocks (``attn_stock``, the
  cross-sectional Transformer, FinMamba's graph, the hybrid's Stage 1) —
  "which days and which stocks this forecast leaned on".

Every explanation is a plain dict (JSON-ready, finite floats)::

    {"method": "shap.GradientExplainer", "target": "...", "drivers": [
        {"feature": "log_close", "contribution": 0.012, "text": "..."}],
     "days": [{"date": "2023-02-20", "weight": 0.08}],
     "stocks": [{"ts_code": "600036.SH", "weight": 0.11}],
     "importance": [{"feature": "log_volume", "weight": 0.31}]}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

#: What a sign of a contribution means in the words of a driver's text.
_UP, _DOWN = "raised", "lowered"


class _Head(nn.Module):
    """``x [B, T, F]`` → one forecast number ``[B, 1]`` of a net (for SHAP)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, F]`` → ``[B, 1]``."""
        return self.fn(x).reshape(-1, 1)


def shap_windows(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray,
                 background: np.ndarray, seed: int = 0, samples: int = 100) -> np.ndarray:
    """SHAP values (expected gradients) of ``fn`` at windows ``x`` against ``background``.

    Args:
        fn: differentiable ``[B, T, F]`` → ``[B]`` forecast (float32 tensors).
        x: ``[n, T, F]`` windows to explain. background: ``[m, T, F]`` reference windows.
        seed: ``torch`` seed of the explainer's sampling (reproducible values).
        samples: expected-gradient samples per window.

    Returns:
        ``[n, T, F]`` float64 contributions (their sum ≈ ``fn(x)`` minus the
        background's mean forecast).
    """
    import shap  # lazy: the library loads numba and is only needed to explain

    torch.manual_seed(seed)
    head = _Head(fn)
    expl = shap.GradientExplainer(head, torch.as_tensor(background, dtype=torch.float32))
    vals = expl.shap_values(torch.as_tensor(x, dtype=torch.float32), nsamples=samples,
                            rseed=seed)
    arr = np.asarray(vals[0] if isinstance(vals, list) else vals, dtype=np.float64)
    return arr.reshape(x.shape) if arr.size == x.size else arr[..., 0].reshape(x.shape)


def linear_shap(coef: np.ndarray, z: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Exact SHAP values of a linear model ``z @ coef`` (``shap.LinearExplainer``).

    Args:
        coef: ``[K]`` coefficients. z: ``[n, K]`` inputs. background: ``[m, K]``.

    Returns:
        ``[n, K]`` contributions ``coef × (z − mean(background))``.
    """
    import shap

    expl = shap.LinearExplainer((np.asarray(coef, float), 0.0),
                                shap.maskers.Independent(np.asarray(background, float)))
    return np.asarray(expl.shap_values(np.asarray(z, float)), dtype=np.float64)


def drivers(values: np.ndarray, names: Sequence[str], target: str, top: int = 5,
            unit: str = "") -> list[dict]:
    """The ``top`` largest contributions ``[K]`` as driver dicts with a sentence each."""
    order = np.argsort(-np.abs(values))[:top]
    out = []
    for k in order:
        v = float(values[k])
        if not np.isfinite(v) or v == 0:
            continue
        out.append({"feature": str(names[k]), "contribution": round(v, 6),
                    "text": f"{names[k]} {_UP if v > 0 else _DOWN} the {target} by "
                            f"{abs(v):.4g}{unit}"})
    return out


def weights(w: np.ndarray, labels: Sequence[str], key: str, top: int = 5) -> list[dict]:
    """The ``top`` largest non-negative weights ``[K]`` as ``{key: label, "weight": w}`` dicts."""
    w = np.asarray(w, dtype=np.float64)
    order = np.argsort(-w)[:top]
    return [{key: str(labels[k]), "weight": round(float(w[k]), 6)} for k in order
            if np.isfinite(w[k])]


def window_explanation(contrib: np.ndarray, names: Sequence[str], dates: Sequence[str],
                       target: str, top: int = 5) -> dict:
    """Drivers (per channel) and days (per session) of one window's ``[T, F]`` SHAP values."""
    per_day = np.abs(contrib).sum(axis=1)
    total = per_day.sum()
    return {"drivers": drivers(contrib.sum(axis=0), names, target, top),
            "days": weights(per_day / total if total > 0 else per_day, dates, "date", top)}


__all__ = ["shap_windows", "linear_shap", "drivers", "weights", "window_explanation"]
