"""The deploy gate (spec 004 §3.4, tightened by the lifecycle issue).

A new version is promoted only when

1. it beats the naive baselines on its holdout: direction accuracy above the
   momentum baseline's (sign of the last 5-session return) **or** return MSE
   below the zero forecast's — a model that beats neither has no skill to
   serve; and
2. it is significantly better than the current version: F1 up by at least
   ``MIN_F1_IMPROVEMENT`` (0.05) **or** MSE at most ``MIN_MSE_RATIO`` (0.9) ×
   the current MSE (spec 002 §4.4), both measured on the candidate's holdout
   windows (the current version is re-scored on them). With no current
   version, rule 1 alone.

Otherwise the version is refused, the reason recorded, and the current one kept.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_F1_IMPROVEMENT = 0.05
MIN_MSE_RATIO = 0.9


@dataclass(frozen=True)
class GateDecision:
    """Outcome of the gate: deploy or not, and why (stored with the training run)."""

    deploy: bool
    reason: str


def beats_baselines(m: dict) -> tuple[bool, str]:
    """Rule 1: the holdout beats momentum on accuracy or zero on MSE; the reason names the numbers."""
    acc, mom = m.get("accuracy", float("nan")), m.get("naive_momentum_accuracy", float("nan"))
    mse, zero = m.get("mse", float("nan")), m.get("naive_zero_mse", float("nan"))
    if acc > mom:
        return True, f"accuracy {acc:.3f} > momentum {mom:.3f}"
    if mse < zero:
        return True, f"MSE {mse:.3g} < zero-forecast {zero:.3g}"
    return False, (f"no skill over naive baselines: accuracy {acc:.3f} <= momentum {mom:.3f} "
                   f"and MSE {mse:.3g} >= zero-forecast {zero:.3g}")


def should_deploy(new: dict, current: dict | None, min_f1_improvement: float = MIN_F1_IMPROVEMENT,
                  min_mse_ratio: float = MIN_MSE_RATIO, no_current: str = "first version") -> GateDecision:
    """Decide whether a candidate with holdout metrics ``new`` replaces ``current``.

    Args:
        new: holdout metrics of the candidate (``accuracy, f1, mse`` and the
            ``naive_*`` baselines on the same holdout).
        current: holdout metrics of the serving version, or None.
        no_current: how the reason names the case without ``current`` (no version
            yet, or one that cannot be compared on the same windows).
    """
    ok, why = beats_baselines(new)
    if not ok:
        return GateDecision(False, why)
    if current is None:
        return GateDecision(True, f"{no_current}; {why}")
    df1 = new["f1"] - current["f1"]
    ratio = new["mse"] / current["mse"] if current["mse"] > 0 else float("inf")
    if df1 >= min_f1_improvement:
        return GateDecision(True, f"F1 {new['f1']:.3f} vs {current['f1']:.3f} (+{df1:.3f}); {why}")
    if ratio <= min_mse_ratio:
        return GateDecision(True, f"MSE {ratio:.2f}x current; {why}")
    return GateDecision(False, f"not better than current: F1 {df1:+.3f} (< +{min_f1_improvement}) "
                               f"and MSE {ratio:.2f}x current (> {min_mse_ratio})")
