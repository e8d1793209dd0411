"""T+0 (做T) intensity policy: how hard to trade around a held position.

Spec 000 §3.2 / §5.1: the HMM regime is the state filter — bull or good
micro-structure raises T+0 activity, bear shrinks or pauses it — and the
forecast volatility sizes it. The thresholds are named, dated-free domain
values (daily decimal volatility of the forecast):

- ``VOL_LOW`` 0.8%: below it a day's range rarely covers a round trip's costs
  (commission both ways, stamp duty on the sell, slippage ≈ 0.15–0.25%), so
  T+0 is ``conservative``.
- ``VOL_HIGH`` 3.5%: above it intraday swings are as likely to trap the
  bought-back half; at most ``normal``.
- ``VOL_EXTREME`` 6%: near the main board's ±10% limit band: ``pause``.
- ``REGIME_CONFIDENT`` 0.6: an HMM state probability at or above it counts.

Intraday (spec 000 §3.2, §5.1), the intraday HMM's micro-structure state sets
the intensity (:data:`MICROSTRUCTURE_INTENSITY`, :func:`intensity_for`):
good micro-structure (liquid, buy-dominated) allows more T+0, poor or
sell-dominated micro-structure shrinks or pauses it.

The plan (which leg first) can go against the forecast: a price stretched
beyond ``DEVIATION_BAND`` from its ARIMA equilibrium wins over the forecast's
sign (mean reversion). :func:`plan_reason` then says so in words, so a
"buy-first" under a down forecast never reads as a contradiction.
"""

from __future__ import annotations

import numpy as np

from tzero.fmt import pct

VOL_LOW = 0.008
VOL_HIGH = 0.035
VOL_EXTREME = 0.06
REGIME_CONFIDENT = 0.6
DEVIATION_BAND = 0.03
POSITION_SHARE = {"aggressive": 0.3, "normal": 0.2, "conservative": 0.1, "pause": 0.0}
INTENSITIES = ("aggressive", "normal", "conservative", "pause")
#: T+0 intensity of each intraday HMM state label
#: (:data:`tzero.models.intraday_hmm.LABELS`) when its probability is confident.
MICROSTRUCTURE_INTENSITY = {"liquid-buy": "aggressive", "liquid-sell": "normal",
                            "illiquid-buy": "conservative", "illiquid-sell": "pause"}


def intensity_for(label: str, prob: float) -> str:
    """T+0 intensity of an intraday HMM state label (:data:`MICROSTRUCTURE_INTENSITY`).

    When ``prob`` (the filtered probability of the label) is below
    :data:`REGIME_CONFIDENT` the intensity steps one level more cautious
    (``liquid-buy`` at 0.5 → ``normal``; ``pause`` stays ``pause``).

    Raises:
        ValueError: ``label`` is not an intraday HMM state label.
    """
    base = MICROSTRUCTURE_INTENSITY.get(label)
    if base is None:
        raise ValueError(f"unknown intraday HMM state {label!r}: expected one of "
                         f"{list(MICROSTRUCTURE_INTENSITY)}")
    if prob >= REGIME_CONFIDENT:
        return base
    return INTENSITIES[min(INTENSITIES.index(base) + 1, len(INTENSITIES) - 1)]


def t0_intensity(regime: str | None, regime_prob: float | None, daily_vol: float) -> str:
    """T+0 intensity from the regime and the forecast daily volatility (decimal).

    Rules in order: extreme volatility → pause; confident bear → pause when
    volatility is high, else conservative; volatility below ``VOL_LOW`` →
    conservative; confident bull with volatility within the band → aggressive;
    high volatility or an unconfident bear → conservative; else normal.
    """
    confident = regime_prob is not None and regime_prob >= REGIME_CONFIDENT
    if daily_vol >= VOL_EXTREME:
        return "pause"
    if regime == "bear" and confident:
        return "pause" if daily_vol >= VOL_HIGH else "conservative"
    if daily_vol < VOL_LOW:
        return "conservative"
    if regime == "bull" and confident and daily_vol <= VOL_HIGH:
        return "aggressive"
    if daily_vol > VOL_HIGH or regime == "bear":
        return "conservative"
    return "normal"


def t0_plan(expected_return: float, deviation: float | None) -> str:
    """Which leg first: ``sell-first`` (倒T) when the forecast is down or the price is
    stretched above its ARIMA equilibrium, ``buy-first`` (正T) when up or below it.

    ``deviation`` is log(close / equilibrium); beyond ±``DEVIATION_BAND`` it wins.
    """
    if deviation is not None and abs(deviation) >= DEVIATION_BAND:
        return "sell-first" if deviation > 0 else "buy-first"
    return "buy-first" if expected_return > 0 else "sell-first"


#: The side of each plan: +1 buys first (正T), −1 sells first (倒T); ``hold`` has none.
PLAN_SIDE = {"buy-first": 1, "sell-first": -1}


def stretch_phrase(deviation: float | None) -> str | None:
    """``"the price is 3.4% below its ARIMA equilibrium"`` when the daily ARIMA deviation
    (log(close / equilibrium), decimal) is at or beyond ±:data:`DEVIATION_BAND`, else None."""
    if deviation is None or not np.isfinite(deviation) or abs(deviation) < DEVIATION_BAND:
        return None
    side = "above" if deviation > 0 else "below"
    return f"the price is {pct(abs(deviation), 1)} {side} its ARIMA equilibrium"


def plan_reason(plan: str, direction: int, expected_return: float, prob_up: float,
                stretch: str | None) -> str:
    """Why the plan's side is not the forecast's direction, in words; ``""`` when it is.

    Spec 000 §3.1 lets ARIMA's equilibrium guide T+0: a price stretched below it is
    bought first (a mean-reversion entry), above it sold first, whatever the
    forecast says. This sentence makes that visible instead of a silent
    contradiction, e.g. ``"buy-first although the forecast is down (E(r) -1.11%,
    P(up) 35%): the price is 3.4% below its ARIMA equilibrium, a mean-reversion
    entry: buy the dip first, sell the rebound."``

    Args:
        plan: ``buy-first`` | ``sell-first`` (``hold`` and others: no reason).
        direction: the forecast's side, :func:`tzero.signals.direction.direction` (+1/0/−1).
        expected_return: the forecast's expected return, decimal.
        prob_up: the forecast's P(up), decimal.
        stretch: the stretch from equilibrium in words (:func:`stretch_phrase`, or
            the intraday z-score phrase), None when the price is not stretched.

    Returns:
        One sentence (no trailing text when the plan follows the direction: ``""``).
    """
    side = PLAN_SIDE.get(plan)
    if side is None or side == direction:
        return ""
    nums = f"(E(r) {pct(expected_return, 2, sign=True)}, P(up) {pct(prob_up, 0)})"
    head = (f"{plan} on a neutral forecast {nums}" if direction == 0 else
            f"{plan} although the forecast is {'up' if direction > 0 else 'down'} {nums}")
    if stretch:
        how = ("a mean-reversion entry: buy the dip first, sell the rebound" if side > 0 else
               "a mean-reversion exit: sell the stretch first, buy back lower")
        return f"{head}: {stretch}, {how}."
    return (f"{head}: no direction clears the dead band and the price is not stretched, so the "
            f"side falls back to the sign of E(r).")


def position_change(intensity: str, plan: str) -> float:
    """Share of the held position to trade around today (0..0.3); sign: + buy first, − sell first."""
    share = POSITION_SHARE[intensity]
    return share if plan == "buy-first" else -share


def risk_labels(regime: str | None, regime_prob: float | None, daily_vol: float,
                deviation: float | None) -> list[str]:
    """Short risk tags for the state layer (``high_volatility``, ``bear_regime``, …)."""
    out = []
    if daily_vol >= VOL_HIGH:
        out.append("high_volatility")
    if daily_vol < VOL_LOW:
        out.append("low_volatility")
    if regime == "bear" and (regime_prob or 0) >= REGIME_CONFIDENT:
        out.append("bear_regime")
    if deviation is not None and abs(deviation) >= DEVIATION_BAND:
        out.append("stretched_above_equilibrium" if deviation > 0 else "stretched_below_equilibrium")
    return out


#: Bounds of the ranking scale of :func:`ranked_position_change` (0.5× .. 1.5×).
RANK_SCALE = (0.5, 1.5)


def ranked_position_change(change: float, risk_percentile: float) -> float:
    """Scale today's T+0 share by the holding's forecast-risk percentile in the universe.

    A ranking model's risk (the forecast σ of the 5-session return, spec 000
    §3.5: "which stocks are worth trading around") says how much room a
    day's 做T has: a holding at the universe's median keeps ``change``, the
    most volatile gets 1.5×, the quietest 0.5×; the result stays within the
    intensity table's largest share (:data:`POSITION_SHARE`) and keeps the sign.

    Args:
        change: :func:`position_change` output (decimal share of the position).
        risk_percentile: 0 (least risk in the universe) .. 1 (most).
    """
    lo, hi = RANK_SCALE
    scale = lo + (hi - lo) * min(max(float(risk_percentile), 0.0), 1.0)
    cap = max(POSITION_SHARE.values())
    return float(np.sign(change) * min(abs(change) * scale, cap))
