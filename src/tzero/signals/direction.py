"""The one direction rule: how ``prob_up`` and ``expected_return`` make up / neutral / down.

Every surface that shows a direction — each model's vote and the unified
Signal (:mod:`tzero.signals.signal`, :mod:`tzero.signals.intraday`), the CLI
signals table, ``/api/lstm/predict`` and the web page — reads it from
:func:`direction`; none recomputes it from the sign of one number.

The rule (issue 12, "signals that never contradict themselves"):

- **up** (+1) when ``prob_up > 0.5 + DEAD_BAND`` **and** ``expected_return > 0``;
- **down** (−1) when ``prob_up < 0.5 − DEAD_BAND`` **and** ``expected_return < 0``;
- **neutral** (0) otherwise: ``prob_up`` inside the dead band (a vote with no
  probabilistic information, such as ARIMA's exactly 0.5 when its fitted mean
  return is zero, whose log-normal ``E[R] = exp(σ²/2) − 1`` is still a hair
  above 0), the two numbers disagreeing (an LSTM whose direction head says
  P(up) 60 % while its return head says −0.31 %), or either one missing.

:data:`RULE` states it in one line (the API schema and the CLI quote it). A
side needs both the probability and the expected return on it. The dead band is the smallest edge
worth calling: 2 percentage points of probability is below the direction
accuracy noise of a 250-session holdout (the standard error of a hit rate near
50 % over 250 forecasts is ≈ 3.2 points), so a model inside it has not said
which way.
"""

from __future__ import annotations

import math

#: Half-width of the neutral band around P(up) = 0.5 (decimal probability).
DEAD_BAND = 0.02
#: The rule in one line: a side needs P(up) outside the band and E(r) on the same side.
RULE = (f"up when P(up) > {0.5 + DEAD_BAND:.2f} and E(r) > 0; down when P(up) < "
        f"{0.5 - DEAD_BAND:.2f} and E(r) < 0; else neutral")
#: Direction codes and the labels every surface shows.
UP, NEUTRAL, DOWN = 1, 0, -1
LABELS = {UP: "up", NEUTRAL: "neutral", DOWN: "down"}


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def direction(prob_up: float | None, expected_return: float | None, *,
              dead_band: float = DEAD_BAND) -> int:
    """+1 up, 0 neutral, −1 down from a forecast's probability and expected return.

    Args:
        prob_up: P(return over the horizon > 0), in [0, 1]; None or NaN → neutral.
        expected_return: expected return over the same horizon, decimal
            (0.01 = +1 %); None or NaN → neutral.
        dead_band: half-width of the neutral band around 0.5 (default
            :data:`DEAD_BAND`).

    Returns:
        :data:`UP` when ``prob_up > 0.5 + dead_band`` and ``expected_return > 0``,
        :data:`DOWN` when ``prob_up < 0.5 − dead_band`` and ``expected_return < 0``,
        else :data:`NEUTRAL` (see the module docstring).

    Raises:
        ValueError: ``dead_band`` outside [0, 0.5).
    """
    if not 0 <= dead_band < 0.5:
        raise ValueError(f"dead_band must be in [0, 0.5), got {dead_band}")
    if not (_finite(prob_up) and _finite(expected_return)):
        return NEUTRAL
    p, r = float(prob_up), float(expected_return)  # type: ignore[arg-type]
    if p > 0.5 + dead_band and r > 0:
        return UP
    if p < 0.5 - dead_band and r < 0:
        return DOWN
    return NEUTRAL


def direction_label(prob_up: float | None, expected_return: float | None, *,
                    dead_band: float = DEAD_BAND) -> str:
    """``"up"``, ``"neutral"`` or ``"down"``: :data:`LABELS` of :func:`direction`.

    Raises:
        ValueError: ``dead_band`` outside [0, 0.5).
    """
    return LABELS[direction(prob_up, expected_return, dead_band=dead_band)]


def why_neutral(prob_up: float | None, expected_return: float | None, *,
                dead_band: float = DEAD_BAND) -> str | None:
    """Why :func:`direction` says neutral, in words, or None when it does not.

    Returns:
        ``"no forecast"``, ``"P(up) within 50% ± 2 points"``, ``"E(r) is
        zero"`` or ``"P(up) and E(r) disagree"``; None for an up or down forecast.
    """
    if direction(prob_up, expected_return, dead_band=dead_band) != NEUTRAL:
        return None
    if not (_finite(prob_up) and _finite(expected_return)):
        return "no forecast"
    if abs(float(prob_up) - 0.5) <= dead_band:  # type: ignore[arg-type]
        return f"P(up) within 50% ± {dead_band * 100:.0f} points"
    if float(expected_return) == 0:  # type: ignore[arg-type]
        return "E(r) is zero"
    return "P(up) and E(r) disagree"
