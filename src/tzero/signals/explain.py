"""The explanation layer of a served Signal (spec 000 §5.2; spec 004 §1.2 SHAP).

For one holding, every served model that ``explains`` (a capability of the
model table's classes, :mod:`tzero.models.explain`) gives the drivers of its
current version's forecast — the very versions that vote in the Signal —
and a short text lists the top drivers in words and numbers.
"""

from __future__ import annotations

import pandas as pd

from tzero.errors import ModelError
from tzero.fmt import num
from tzero.market import calendar
from tzero.models import table
from tzero.signals.engine import ServedSet, _bound


def explain_signal(served: ServedSet, panel: pd.DataFrame, code: str, as_of=None,
                   cross_section: pd.DataFrame | None = None, top: int = 5) -> dict:
    """The drivers of ``code``'s served forecasts as of a session (default: its last).

    Args:
        served: the serving versions (:func:`tzero.signals.engine.load_served`).
        panel: qfq daily bars holding ``code``.
        cross_section: the universe's members' bars (global models explain on
            the session's cross-section: SHAP background, attention over stocks).
        top: drivers, days and stocks listed per model.

    Returns:
        ``{"ts_code", "as_of", "explanations": [{model, version_id, method,
        target, score, drivers, days, stocks, importance}], "text"}``;
        ``explanations`` is empty when no served model explains ``code``.

    Raises:
        ModelError: ``code`` has no bars in ``panel``.
    """
    bars = panel.loc[panel["ts_code"] == code]
    if bars.empty:
        raise ModelError(f"no daily bars for {code}; ingest them first")
    day = calendar.previous_session(as_of) if as_of is not None else pd.Timestamp(
        bars["trade_time"].max())
    out = []
    for name in served.models:
        got = _bound(served, name, code)
        if got is None or not type(got[0]).explains:
            continue
        m, vid = got
        p = bars
        if table.get_spec(name).scope == "global" and cross_section is not None:
            p = pd.concat([cross_section.loc[cross_section["ts_code"] != code], bars])
            p = p.sort_values(["ts_code", "trade_time"]).reset_index(drop=True)
        try:
            e = m.explain(p, day, [code], top).get(code)
        except ModelError:
            continue
        if e is not None:
            out.append({**e, "version_id": vid})
    return {"ts_code": code, "as_of": str(day.date()), "explanations": out,
            "text": _text(code, out)}


def _text(code: str, expl: list[dict]) -> str:
    """One line of the top drivers per model (contributions with 6 fixed decimals)."""
    if not expl:
        return f"{code}: no served model explains its forecast"
    parts = []
    for e in expl:
        bits = [f"{d['feature']} {num(d['contribution'], 6, sign=True)}"
                for d in e.get("drivers", [])[:3]]
        if e.get("stocks"):
            bits.append("leaned on " + ", ".join(s["ts_code"] for s in e["stocks"][:3]))
        if e.get("importance"):
            bits.append("most weight on " + ", ".join(i["feature"] for i in e["importance"][:3]))
        parts.append(f"{e['model']}: " + ("; ".join(bits) if bits else e.get("method", "")))
    return f"{code}: " + " | ".join(parts)
