"""Fit curves of the current LSTM version: the aligned series of spec 004 §6.2 and a PNG.

For every window ending at session t (the prediction day) the current
version's forecast is computed in one batch (:meth:`LstmForecaster.predict_windows`):

- ``dates[k]`` = t; ``direction_*`` / ``return_*`` compare the forecast with
  the realised 5-session return;
- ``dates_price[k]`` = session t+5; ``actual_price[k]`` = close at t+5;
  ``predicted_price[k]`` = close_t × (1 + return_pred[k]).

So the price series of one index k share one date (t+5), as §6.2 requires.
Windows whose t+5 is not known yet are kept apart in ``pending`` (predicted
price only; their ``dates_price`` is the XSHG session t+5).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sqlalchemy.orm import sessionmaker

from tzero.data.store import MarketStore
from tzero.errors import CalendarError, ModelError
from tzero.market import calendar
from tzero.models.lstm import LstmForecaster
from tzero.registry import versions
from tzero.signals.engine import load_panel

LSTM = LstmForecaster.name   # the spec-004 lifecycle manages the per-stock LSTM

HORIZON = 5


class NoVersion(ModelError):
    """No current LSTM version for the symbol (the API answers 404)."""


def _iso(ts) -> list[str]:
    return [f"{pd.Timestamp(t):%Y-%m-%d}" for t in ts]


def _round(a) -> list[float]:
    return [round(float(x), 6) for x in np.asarray(a, float)]


def _target_session(t) -> str | None:
    try:
        return f"{calendar.offset_session(t, HORIZON):%Y-%m-%d}"
    except CalendarError:
        return None


def plot_data(Session: sessionmaker, store: MarketStore, code: str, years: int) -> dict:
    """The aligned fit-curve series of ``code``'s current version over the last ``years`` years.

    "Last years" counts back from the newest bar in the store.

    Raises:
        NoVersion: no current version. ModelError: its blob cannot be loaded.
        StoreError: no bars of the symbol.
    """
    with Session() as s:
        row = versions.current(s, LSTM, code)
        if row is None:
            raise NoVersion(f"{code}: no current LSTM version; train it first (POST /api/lstm/train)")
        model = versions.load_model(row)
        vid = row.version_id
    bars = load_panel(store, [code])
    df = model.predict_windows(bars)
    cutoff = pd.Timestamp(bars["trade_time"].max()) - pd.DateOffset(years=years)
    df = df.loc[df["trade_time"] > cutoff]
    done, pend = df.loc[df["direction_actual"] >= 0], df.loc[df["direction_actual"] < 0]
    return {
        "symbol": code, "version_id": vid, "years": years,
        "dates": _iso(done["trade_time"]),
        "direction_pred": done["direction_pred"].astype(int).tolist(),
        "direction_actual": done["direction_actual"].astype(int).tolist(),
        "return_pred": _round(done["return_pred"]), "return_actual": _round(done["return_actual"]),
        "dates_price": _iso(done["target_time"]),
        "actual_price": _round(done["target_close"]),
        "predicted_price": _round(done["close"] * (1 + done["return_pred"])),
        "pending": {
            "dates": _iso(pend["trade_time"]),
            "dates_price": [_target_session(t) for t in pend["trade_time"]],
            "return_pred": _round(pend["return_pred"]),
            "direction_pred": pend["direction_pred"].astype(int).tolist(),
            "predicted_price": _round(pend["close"] * (1 + pend["return_pred"])),
        },
    }


def plot_png(data: dict) -> bytes:
    """Predicted vs actual price (by the t+5 date) of :func:`plot_data` output, as PNG bytes."""
    from matplotlib.figure import Figure  # no pyplot: thread-safe, no global state

    fig = Figure(figsize=(10, 4.5), dpi=100)
    ax = fig.add_subplot()
    x = pd.to_datetime(data["dates_price"])
    ax.plot(x, data["actual_price"], color="tab:blue", lw=1.2, label="actual close (t+5)")
    ax.plot(x, data["predicted_price"], color="tab:red", lw=1.0, label="predicted close_t x (1 + r5)")
    p = data["pending"]
    if p["predicted_price"]:
        ax.plot(pd.to_datetime([d or t for d, t in zip(p["dates_price"], p["dates"], strict=True)]),
                p["predicted_price"], color="tab:red", ls="--", lw=1.0, label="pending")
    ax.set_title(f"{data['symbol']} LSTM {data['version_id']}: last {data['years']} year(s), qfq CNY",
                 fontsize=9)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
