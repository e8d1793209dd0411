"""The ranking view: stocks ordered by expected return and risk (spec 000 §3.5, §5.1 第二层).

A probabilistic ranking model (DeepAR's role in the seed: "which stocks are
worth trading around, and weight suggestions") forecasts the universe's
session; each stock gets its expected ``horizon``-session return, its risk
(the forecast standard deviation of that cumulative return: from the
quantiles when the model emits them, ``(q90 − q10) / 2.5631`` for a normal,
else the root sum of the step variances), their ratio, and a long-only weight
suggestion: mean–variance with a diagonal covariance (Markowitz 1952),
``w ∝ max(E[r], 0) / σ²`` over the top ``top`` stocks by ratio, capped at
``cap`` and renormalised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: ``q90 − q10`` of a normal distribution in standard deviations (2 × 1.28155).
Q10_Q90_SD = 2.5631


def rank_stocks(forecast: pd.DataFrame, holdings: list[str] | None = None, top: int = 20,
                cap: float = 0.10) -> pd.DataFrame:
    """Rank the stocks of a forecast frame (:mod:`tzero.models.base`) by return over risk.

    Args:
        forecast: one model's forecast rows for one session (all steps).
        holdings: stocks held (flagged ``held``; their ``t0_rank`` orders them by risk,
            the room a day's 做T has).
        top: stocks that get a weight suggestion.
        cap: maximum weight of one stock (decimal).

    Returns:
        One row per stock, best ratio first: ``ts_code``, ``expected_return``
        (decimal, cumulative to the horizon), ``risk`` (decimal), ``ratio``,
        ``rank`` (1 = best), ``weight`` (decimal; sums to 1, or to less — the
        rest in cash — when fewer than ``1 / cap`` stocks have a positive
        expected return; 0 outside the top), ``held`` and ``t0_rank`` (holdings only, 1 = most
        room to trade around). Empty when ``forecast`` is.

    Raises:
        ValueError: ``top`` < 1 or ``cap`` not in (0, 1].
    """
    if top < 1 or not 0 < cap <= 1:
        raise ValueError(f"need top >= 1 and 0 < cap <= 1, got top={top}, cap={cap}")
    cols = ["ts_code", "expected_return", "risk", "ratio", "rank", "weight", "held", "t0_rank"]
    if forecast.empty:
        return pd.DataFrame(columns=cols)
    last = forecast.loc[forecast["step"] == forecast["step"].max()].set_index("ts_code")
    steps = forecast.pivot_table(index="ts_code", columns="step", values="std")
    if {"q10", "q90"} <= set(last.columns) and last[["q10", "q90"]].notna().all(axis=None):
        risk = (last["q90"] - last["q10"]) / Q10_Q90_SD
    else:
        risk = np.sqrt((steps ** 2).sum(axis=1)).reindex(last.index)
    out = pd.DataFrame({"expected_return": last["cum_mean"], "risk": risk.clip(lower=1e-6)})
    out["ratio"] = out["expected_return"] / out["risk"]
    out = out.sort_values("ratio", ascending=False, kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    raw = (out["expected_return"].clip(lower=0) / out["risk"] ** 2).where(out["rank"] <= top, 0.0)
    out["weight"] = _capped(raw.to_numpy(float), cap)
    held = set(holdings or [])
    out["held"] = out.index.isin(held)
    t0 = out.loc[out["held"], "risk"].rank(ascending=False, method="first")
    out["t0_rank"] = t0.reindex(out.index).astype("Int64")
    return out.reset_index()[cols]


def _capped(raw: np.ndarray, cap: float) -> np.ndarray:
    """Normalise non-negative ``raw`` to sum 1 with no weight above ``cap`` (water-filling)."""
    w = np.zeros_like(raw)
    if raw.sum() <= 0:
        return w
    free = raw > 0
    budget = 1.0
    for _ in range(len(raw)):
        w[free] = budget * raw[free] / raw[free].sum()
        over = free & (w > cap)
        if not over.any():
            break
        w[over] = cap
        free &= ~over
        budget = 1.0 - w[~free].sum()
        if budget <= 0 or not free.any():
            break
    return w
