"""The one forecaster interface every model implements (DESIGN.md "Models").

A *panel* is a long daily Bars frame (DESIGN.md "Data contracts"): columns
``ts_code, trade_time, open, high, low, close, volume, amount``, sorted by
``(ts_code, trade_time)``, prices forward-adjusted (qfq) for modelling,
``volume`` in shares, ``amount`` in CNY. Forecasters fit one model per
``ts_code`` unless they say otherwise.

``predict(panel, as_of)`` uses only rows with ``trade_time <= as_of`` and
returns one row per ``(ts_code, step)`` with the columns of
:data:`FORECAST_COLUMNS`:

- ``ts_code`` (str), ``as_of`` (Timestamp: the last session used),
  ``step`` (1..horizon, sessions ahead),
- ``mean``: expected simple return of that step (decimal, close to close),
- ``cum_mean``: expected cumulative simple return from ``as_of`` close to the
  step's close (decimal),
- ``std``: forecast standard deviation of the step's return (decimal),
- ``prob_up`` / ``prob_down``: probability the cumulative return to the step
  is > 0 / < 0 (``prob_up + prob_down <= 1``),
- ``regime``: state label (``bull|bear|sideways``) or ``None``,
- ``regime_prob``: probability of that state, or NaN.
Models may add columns (e.g. ``deviation`` for ARIMA).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import pandas as pd

FORECAST_COLUMNS = [
    "ts_code", "as_of", "step", "mean", "cum_mean", "std",
    "prob_up", "prob_down", "regime", "regime_prob",
]


@runtime_checkable
class Forecaster(Protocol):
    """Protocol of every model: config in ``__init__``, ``fit`` returns self.

    Fitted attributes end with ``_``. ``state_dict()`` returns plain data
    (numbers, lists, arrays, bytes) from which ``from_state`` rebuilds a model
    that predicts exactly the same numbers.
    """

    name: ClassVar[str]
    horizon: int

    def fit(self, panel: pd.DataFrame) -> Self:
        """Fit on a daily Bars panel (qfq prices); return self."""
        ...

    def predict(self, panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        """Forecast frame (:data:`FORECAST_COLUMNS`) from rows ``trade_time <= as_of`` only."""
        ...

    def state_dict(self) -> dict:
        """Plain data from which :meth:`from_state` rebuilds an identical model."""
        ...

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output."""
        ...


def panel_until(panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Rows of ``panel`` with ``trade_time <= as_of`` (the no-look-ahead cut)."""
    cut = pd.Timestamp(as_of)
    return panel.loc[panel["trade_time"] <= cut]


def check_panel(panel: pd.DataFrame) -> None:
    """Check the panel has the Bars columns; raise ``ValueError`` naming what is missing."""
    need = {"ts_code", "trade_time", "open", "high", "low", "close", "volume"}
    missing = need - set(panel.columns)
    if missing:
        raise ValueError(f"panel lacks columns {sorted(missing)}; expected the Bars frame of DESIGN.md")


def check_state(cls, state: dict) -> None:
    """Raise ``ModelError`` unless ``state`` is a ``state_dict()`` of forecaster class ``cls``."""
    from tzero.errors import ModelError
    if not isinstance(state, dict) or state.get("name") != cls.name or "models" not in state:
        got = state.get("name") if isinstance(state, dict) else type(state).__name__
        raise ModelError(f"not an {cls.name!r} state (name={got!r}): "
                         f"pass the dict {cls.__name__}.state_dict() returned")
