"""Out-of-sample evaluation of one model against the naive baselines.

Protocol (no look-ahead): the model is fitted once on bars strictly before
``start`` minus a gap of ``horizon`` sessions (so no training label reaches
into the test period); then for every session ``d`` in ``[start, end]`` whose
``d + horizon`` close is known, it predicts as of ``d`` from bars ≤ d. Scored
against the realised ``horizon``-session return ``close[d+h] / close[d] − 1``:

- direction accuracy and F1 (up = ``prob_up > 0.5``),
- MSE and MAE of the cumulative return forecast (decimal),
- IC and Rank IC: Pearson / Spearman correlation of forecast and realised
  return across symbols on each date, averaged over dates.

Each next to two naive baselines on the same rows: ``zero`` (forecast 0 return)
and ``momentum`` (the sign and size of the last ``horizon``-session return).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tzero.market import calendar
from tzero.models.base import Forecaster
from tzero.training.metrics import (
    classification_metrics,
    information_coefficients,
    regression_metrics,
)


def _actuals(panel: pd.DataFrame, horizon: int) -> pd.DataFrame:
    p = panel.sort_values(["ts_code", "trade_time"])
    g = p.groupby("ts_code")["close"]
    return p.assign(actual=g.shift(-horizon) / p["close"] - 1,
                    momentum=p["close"] / g.shift(horizon) - 1)[
        ["ts_code", "trade_time", "actual", "momentum"]].rename(columns={"trade_time": "as_of"})


def evaluate(model_factory: Callable[[], Forecaster], panel: pd.DataFrame, start, end, horizon: int = 5,
             progress: Callable[[int, int], None] | None = None, fit_kwargs: dict | None = None) -> dict:
    """Fit before ``start``, predict every session in ``[start, end]``, score against baselines.

    Args:
        model_factory: returns a fresh forecaster.
        panel: qfq daily Bars of the symbols (must extend ``horizon`` sessions past ``end``
            for the last dates to be scored; dates without a known outcome are skipped).
        start, end: evaluation dates.
        progress: ``progress(done, total)`` over evaluation dates.
        fit_kwargs: extra arguments for ``fit`` (e.g. ``n_jobs`` for the LSTM).

    Returns:
        ``{"model", "start", "end", "n", "metrics", "baselines": {"zero", "momentum"},
        "per_symbol", "rows"}``; metric dicts hold accuracy, f1, mse, mae, ic, rank_ic.

    Raises:
        CalendarError: bad dates. ModelError: the model cannot be fitted.
    """
    s, e = calendar.to_date(start, field="start"), calendar.to_date(end, field="end")
    fit_end = calendar.offset_session(s, -(horizon + 1))
    model = model_factory()
    model.fit(panel.loc[panel["trade_time"] <= fit_end], **(fit_kwargs or {}))
    acts = _actuals(panel, horizon)
    dates = [d for d in calendar.sessions(s, e) if d <= panel["trade_time"].max()]
    rows = []
    for i, d in enumerate(dates):
        fc = model.predict(panel.loc[panel["trade_time"] <= d], d)
        if not fc.empty:
            last = fc.loc[fc["step"] == horizon, ["ts_code", "as_of", "cum_mean", "prob_up"]]
            rows.append(last.loc[last["as_of"] == d])
        if progress:
            progress(i + 1, len(dates))
    pred = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["ts_code", "as_of", "cum_mean", "prob_up"])
    df = pred.merge(acts, on=["ts_code", "as_of"], how="inner").dropna(subset=["actual", "momentum"])
    return {
        "model": getattr(model, "name", type(model).__name__), "start": str(s.date()),
        "end": str(e.date()), "n": len(df), "n_symbols": int(df["ts_code"].nunique()),
        "fit_end": str(fit_end.date()),
        "metrics": score(df, "cum_mean", df["prob_up"] > 0.5),
        "baselines": {"zero": score(df, None, None), "momentum": score(df, "momentum", df["momentum"] > 0)},
        "per_symbol": {c: score(g, "cum_mean", g["prob_up"] > 0.5, ic=False)
                       for c, g in df.groupby("ts_code")},
        "rows": df,
    }


def score(df: pd.DataFrame, pred_col: str | None, up: pd.Series | None, ic: bool = True) -> dict:
    """Metrics of one forecast column on the evaluation rows (``None`` = the zero forecast).

    The zero baseline has no direction (accuracy/F1 are None) and no IC.
    """
    actual = df["actual"].to_numpy()
    pred = np.zeros_like(actual) if pred_col is None else df[pred_col].to_numpy()
    r = regression_metrics(actual, pred)
    out: dict = {"mse": r["mse"], "mae": r["mae"]}
    if up is None:
        out.update(accuracy=None, f1=None, ic=None, rank_ic=None)
        return out
    c = classification_metrics((actual > 0).astype(int), np.asarray(up).astype(int))
    out.update(accuracy=c["accuracy"], f1=c["f1"])
    if ic:
        ics = information_coefficients(df.assign(pred=pred), "pred", "actual", "as_of")
        out.update(ic=ics["ic"], rank_ic=ics["rank_ic"], ic_dates=ics["n_dates"])
    return out
