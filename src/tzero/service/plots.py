"""Fit curves (predicted vs actual) of a stock's serving model: the series of spec 004 §6.2 and a PNG.

Which model draws: the first daily, voting model of the model table (in
table order; :func:`tzero.models.table.specs`) that has a loadable current
version for the stock — its ts_code for ``local`` models, a universe whose
version was trained on the stock for ``global`` ones (the service's universe
first) — and whose required models' current versions are the ones it was
fitted on. ``cross_sectional`` models are passed over: their forecast of one
stock needs the whole session, not the stock's bars alone. Nothing here names
a model; the table and the capability attributes decide.

For every session t of the range the model's as-of forecast is
:meth:`tzero.models.base.Forecaster.predict_history` (data ≤ t only); its
cumulative return at the model's horizon h (``cum_mean`` at step h) is
``return_pred``:

- ``dates[k]`` = t; ``direction_*`` / ``return_*`` compare the forecast with
  the realised h-session return (direction 1 = up, as ``return_pred > 0``);
- ``dates_price[k]`` = session t+h; ``actual_price[k]`` = close at t+h;
  ``predicted_price[k]`` = close_t × (1 + return_pred[k]).

So the price series of one index k share one date (t+h), as §6.2 requires.
Windows whose t+h is not known yet are kept apart in ``pending`` (predicted
price only; their ``dates_price`` is the XSHG session t+h).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tzero.data.appdb import CurrentVersion
from tzero.data.store import MarketStore
from tzero.errors import CalendarError, ModelError
from tzero.market import calendar
from tzero.models import table
from tzero.models.base import Forecaster
from tzero.registry import versions
from tzero.signals.engine import load_panel


class NoVersion(ModelError):
    """No model has a current version that can draw the symbol's fit curve (the API answers 404)."""


@dataclass(frozen=True)
class FitCurveModel:
    """A current version that can draw a stock's fit curve.

    Attributes:
        model: its model name (a row of the model table).
        key: its version key (the ts_code, or a universe name for global models).
        version_id: the version.
        forecaster: the loaded model (shared with the registry's cache: do not mutate).
    """

    model: str
    key: str
    version_id: str
    forecaster: Forecaster


def _iso(ts) -> list[str]:
    return [f"{pd.Timestamp(t):%Y-%m-%d}" for t in ts]


def _round(a) -> list[float]:
    return [round(float(x), 6) for x in np.asarray(a, float)]


def _target_session(t, h: int) -> str | None:
    try:
        return f"{calendar.offset_session(t, h):%Y-%m-%d}"
    except CalendarError:
        return None


def _keys(s: Session, spec: table.ModelSpec, code: str, universe: str | None) -> list[str]:
    """Version keys of ``spec`` that may serve ``code``: the code, or every universe with a
    current version (``universe`` first)."""
    if spec.scope != "global":
        return [code]
    keys = sorted(s.scalars(select(CurrentVersion.symbol).where(CurrentVersion.model_name == spec.name)))
    return sorted(keys, key=lambda k: k != universe)


def _current(s: Session, spec: table.ModelSpec, code: str, universe: str | None) -> FitCurveModel | None:
    """The current version of ``spec`` that was trained on ``code``, with its requirements bound."""
    for key in _keys(s, spec, code, universe):
        row = versions.current(s, spec.name, key)
        if row is None:
            continue
        try:
            model = versions.load_model(row)
        except ModelError:              # a corrupt or dropped blob cannot draw
            continue
        if code not in model.fitted_keys():
            continue
        if spec.requires:
            bound = _bound(s, spec, model, code, universe)
            if bound is None:
                continue
            model = bound
        return FitCurveModel(spec.name, key, row.version_id, model)
    return None


def _bound(s: Session, spec: table.ModelSpec, model: Forecaster, code: str,
           universe: str | None) -> Forecaster | None:
    """A copy of ``model`` bound to its required models' current versions, or None when one is
    missing or is not the version it was fitted on (the serving rule of the Signal)."""
    fitted_on = getattr(model, "requires_versions_", {})
    deps: dict[str, Forecaster] = {}
    for req in spec.requires:
        dep = _current(s, table.get_spec(req), code, universe)
        if dep is None or fitted_on.get(req, dep.version_id) != dep.version_id:
            return None
        deps[req] = dep.forecaster
    out = copy.copy(model)
    out.bind(deps)  # type: ignore[attr-defined]
    return out


def fit_curve_models(Session_: sessionmaker, code: str, universe: str | None = None) -> list[FitCurveModel]:
    """Every current version that can draw ``code``'s fit curve, in model-table order.

    Args:
        code: a ts_code.
        universe: the version key of global models to try first (``Settings.universe``).
    """
    out = []
    with Session_() as s:
        for spec in table.specs(frequency="daily", votes=True):
            if spec.cls.cross_sectional:
                continue
            got = _current(s, spec, code, universe)
            if got is not None:
                out.append(got)
    return out


def no_version(code: str) -> NoVersion:
    """The 404 of a stock no model can draw yet (says how to train one)."""
    return NoVersion(f"{code}: no current version of any daily model to draw; run `tzero demo` "
                     f"or `tzero train --model NAME --symbols {code}` first (`tzero models` lists them)")


def plot_data(Session_: sessionmaker, store: MarketStore, code: str, years: int,
              universe: str | None = None) -> dict:
    """The aligned fit-curve series of ``code`` over the last ``years`` years (module docstring).

    "Last years" counts back from the newest bar in the store. The first model of
    :func:`fit_curve_models` whose history forecast succeeds draws; the result
    names it (``model``, ``version_id``) and its ``horizon`` h (sessions).

    Raises:
        NoVersion: no model has a current version for the stock.
        ModelError: none of them could forecast the stock's history (names why).
        StoreError: no bars of the symbol.
    """
    found = fit_curve_models(Session_, code, universe)
    if not found:
        raise no_version(code)
    bars = load_panel(store, [code]).reset_index(drop=True)
    times = pd.DatetimeIndex(bars["trade_time"])
    why = []
    for f in found:
        m = f.forecaster
        first = times[min(len(times), max(1, m.min_history)) - 1]
        start = max(first, times[-1] - pd.DateOffset(years=years) + pd.Timedelta(days=1))
        try:
            fc = m.predict_history(bars, start, times[-1])
        except ModelError as exc:
            why.append(f"{f.model} {f.version_id}: {exc}")
            continue
        return {"symbol": code, "model": f.model, "version_id": f.version_id, "years": years,
                "horizon": m.horizon, **_series(fc, bars, code, m.horizon)}
    raise ModelError(f"{code}: no current version could forecast its history: {'; '.join(why)}")


def _series(fc: pd.DataFrame, bars: pd.DataFrame, code: str, h: int) -> dict:
    """The aligned lists of :func:`plot_data` from a history forecast at step ``h``."""
    close = bars["close"].to_numpy(float)
    times = pd.DatetimeIndex(bars["trade_time"])
    f = fc.loc[(fc["ts_code"] == code) & (fc["step"] == h), ["as_of", "cum_mean"]]
    f = f.loc[np.isfinite(f["cum_mean"].to_numpy(float))]
    pos = times.get_indexer(pd.DatetimeIndex(f["as_of"]))
    keep = pos >= 0
    pos, ret = pos[keep], f["cum_mean"].to_numpy(float)[keep]
    order = np.argsort(pos, kind="stable")
    pos, ret = pos[order], ret[order]
    known = pos + h < len(times)
    d, p = pos[known], pos[~known]
    act = close[d + h] / close[d] - 1.0
    return {
        "dates": _iso(times[d]),
        "direction_pred": (ret[known] > 0).astype(int).tolist(),
        "direction_actual": (act > 0).astype(int).tolist(),
        "return_pred": _round(ret[known]), "return_actual": _round(act),
        "dates_price": _iso(times[d + h]),
        "actual_price": _round(close[d + h]),
        "predicted_price": _round(close[d] * (1 + ret[known])),
        "pending": {
            "dates": _iso(times[p]),
            "dates_price": [_target_session(t, h) for t in times[p]],
            "return_pred": _round(ret[~known]),
            "direction_pred": (ret[~known] > 0).astype(int).tolist(),
            "predicted_price": _round(close[p] * (1 + ret[~known])),
        },
    }


def plot_png(data: dict) -> bytes:
    """Predicted vs actual price (by the t+h date) of :func:`plot_data` output, as PNG bytes."""
    from matplotlib.figure import Figure  # no pyplot: thread-safe, no global state

    h = data.get("horizon", 5)
    fig = Figure(figsize=(10, 4.5), dpi=100)
    ax = fig.add_subplot()
    x = pd.to_datetime(data["dates_price"])
    ax.plot(x, data["actual_price"], color="tab:blue", lw=1.2, label=f"actual close (t+{h})")
    ax.plot(x, data["predicted_price"], color="tab:red", lw=1.0, label=f"predicted close_t x (1 + r{h})")
    p = data["pending"]
    if p["predicted_price"]:
        ax.plot(pd.to_datetime([d or t for d, t in zip(p["dates_price"], p["dates"], strict=True)]),
                p["predicted_price"], color="tab:red", ls="--", lw=1.0, label="pending")
    ax.set_title(f"{data['symbol']} {data.get('model', '')} {data['version_id']}: "
                 f"last {data['years']} year(s), qfq CNY", fontsize=9)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
