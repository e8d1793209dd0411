"""Number formats shared by every table and report: fixed decimals, never scientific notation.

One module (no tzero imports, so any layer may use it, like :mod:`tzero.errors`)
formats what users read: the CLI tables (signals, backtest verdicts, compare),
the demo report, the research report and the gates' reason texts. Returns are
decimals in the data (0.0123 = +1.23 %) and percentages on screen; a value that
is missing or not finite shows as :data:`MISSING`.

- :func:`pct` — a decimal as a percentage with fixed decimals (``+1.23%``);
- :func:`num` — a plain number with fixed decimals (``0.853``), never ``8.5e-05``;
- :func:`count` — a whole number with thousands separators (``12,345``).
"""

from __future__ import annotations

import math

#: What a missing, NaN or infinite value shows as.
MISSING = "—"


def _value(x) -> float | None:
    """``x`` as a finite float, or None (missing, NaN, ±inf, not a number)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def pct(x, decimals: int = 2, *, sign: bool = False) -> str:
    """A decimal fraction as a percentage with ``decimals`` fixed decimals.

    Args:
        x: decimal (0.0123 → ``1.23%``); None/NaN/inf → :data:`MISSING`.
        decimals: digits after the point (fixed: ``0.10%``, not ``0.1%``).
        sign: always print the sign (``+1.23%``, ``-0.40%``).

    Returns:
        e.g. ``pct(-0.2469, 2, sign=True) == "-24.69%"``. A value that rounds to
        zero prints without a minus sign (``+0.00%`` / ``0.00%``).
    """
    v = _value(x)
    if v is None:
        return MISSING
    v = v * 100
    if round(v, decimals) == 0:
        v = 0.0
    return f"{v:+.{decimals}f}%" if sign else f"{v:.{decimals}f}%"


def num(x, decimals: int = 2, *, sign: bool = False) -> str:
    """A number with ``decimals`` fixed decimals and no exponent.

    Args:
        x: the number; None/NaN/inf → :data:`MISSING`.
        decimals: digits after the point.
        sign: always print the sign.

    Returns:
        e.g. ``num(0.04545, 3) == "0.045"``, ``num(8.531e-05, 6) == "0.000085"``.
    """
    v = _value(x)
    if v is None:
        return MISSING
    if round(v, decimals) == 0:
        v = 0.0
    return f"{v:+.{decimals}f}" if sign else f"{v:.{decimals}f}"


def count(x) -> str:
    """A whole number with thousands separators (``12,345``); missing → :data:`MISSING`."""
    v = _value(x)
    return MISSING if v is None else f"{v:,.0f}"
