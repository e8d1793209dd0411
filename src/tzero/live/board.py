"""The live board: what the page shows of the newest ``tzero watch`` (issue 13).

Read-only views of the app store the live loop writes (``live_watch``,
``live_signal``) and paper trading (``paper_order``), so the service, in
another process than the loop, pushes them as server-sent events by polling
here: :func:`board` is the whole state, :func:`signals_after` what arrived
after a signal id (the SSE ``Last-Event-ID``), :func:`watch_state` the watch's
status line (running, stale since …, finished).
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tzero.data.appdb import LiveSignal, LiveWatch, PaperOrder

#: Signals one :func:`signals_after` call returns at most (a reconnecting page catches up in steps).
MAX_BATCH = 500


def _iso(t: datetime | None) -> str | None:
    return None if t is None else pd.Timestamp(t).isoformat(sep=" ")


def _watch(s: Session, run_id: str | None) -> LiveWatch | None:
    if run_id is not None:
        return s.get(LiveWatch, run_id)
    return s.scalars(select(LiveWatch).order_by(LiveWatch.started_at.desc()).limit(1)).first()


def _state(w: LiveWatch) -> dict:
    return {"run_id": w.run_id, "mode": w.mode, "freq": w.freq, "status": w.status,
            "symbols": json.loads(w.symbols_json), "started_at": _iso(w.started_at),
            "heartbeat_at": _iso(w.heartbeat_at), "last_bar_at": _iso(w.last_bar_at),
            "stale_since": _iso(w.stale_since), "message": w.message}


def watch_state(Session_: sessionmaker, run_id: str | None = None) -> dict | None:
    """The watch's status line: ``run_id, mode, freq, status`` (running | finished | stopped |
    failed), ``symbols``, ``started_at, heartbeat_at, last_bar_at`` and ``stale_since`` (UTC
    stamps as text; ``stale_since`` None while data flows), ``message``. None: no watch yet."""
    with Session_() as s:
        w = _watch(s, run_id)
        return None if w is None else _state(w)


def signal_row(r: LiveSignal, orders: int = 0) -> dict:
    """One board row of a ``live_signal``: ``id, run_id, ts_code, bar_time, freq,
    t0_intensity, plan, direction, prob_up, expected_return`` (decimal),
    ``expected_volatility``, ``confidence``, ``regime``, ``plan_reason``, ``orders``
    (paper orders placed on it)."""
    sig = json.loads(r.signal_json)
    return {"id": int(r.id), "run_id": r.run_id, "ts_code": r.ts_code, "bar_time": _iso(r.bar_time),
            "freq": r.freq, "t0_intensity": r.t0_intensity, "plan": r.plan,
            "direction": sig.get("direction"), "prob_up": sig.get("prob_up"),
            "expected_return": sig.get("expected_return"),
            "expected_volatility": sig.get("expected_volatility"),
            "confidence": sig.get("confidence"), "regime": sig.get("regime"),
            "plan_reason": sig.get("plan_reason") or "", "orders": int(orders)}


def _orders_of(s: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    q = (select(PaperOrder.signal_id, func.count()).where(PaperOrder.signal_id.in_(ids))
         .group_by(PaperOrder.signal_id))
    return {int(k): int(n) for k, n in s.execute(q).all() if k is not None}


def board(Session_: sessionmaker, run_id: str | None = None) -> dict:
    """The whole board of one watch (default the newest).

    Returns:
        ``{"watch": watch_state or None, "holdings": [newest signal row per ts_code, in the
        watch's symbol order, with ``n_signals`` of that ts_code], "signals": n stored,
        "last_id": newest signal id (0 when none)}``.
    """
    with Session_() as s:
        w = _watch(s, run_id)
        if w is None:
            return {"watch": None, "holdings": [], "signals": 0, "last_id": 0}
        newest = (select(LiveSignal.ts_code, func.max(LiveSignal.id).label("id"))
                  .where(LiveSignal.run_id == w.run_id).group_by(LiveSignal.ts_code).subquery())
        rows = s.scalars(select(LiveSignal).join(newest, LiveSignal.id == newest.c.id)).all()
        per = dict(s.execute(select(LiveSignal.ts_code, func.count())
                             .where(LiveSignal.run_id == w.run_id)
                             .group_by(LiveSignal.ts_code)).all())
        orders = _orders_of(s, [int(r.id) for r in rows])
        order = {c: i for i, c in enumerate(json.loads(w.symbols_json))}
        held = sorted(({**signal_row(r, orders.get(int(r.id), 0)), "n_signals": int(per[r.ts_code])}
                       for r in rows), key=lambda x: order.get(x["ts_code"], len(order)))
        return {"watch": _state(w), "holdings": held, "signals": int(sum(per.values())),
                "last_id": max((h["id"] for h in held), default=0)}


def signals_after(Session_: sessionmaker, after_id: int, run_id: str | None = None,
                  limit: int = MAX_BATCH) -> list[dict]:
    """Signal rows with ``id > after_id`` (of ``run_id`` if given), oldest first, at most
    ``limit``: what a page that saw ``after_id`` has not seen yet."""
    with Session_() as s:
        q = select(LiveSignal).where(LiveSignal.id > int(after_id))
        if run_id is not None:
            q = q.where(LiveSignal.run_id == run_id)
        rows = s.scalars(q.order_by(LiveSignal.id).limit(int(limit))).all()
        orders = _orders_of(s, [int(r.id) for r in rows])
        return [signal_row(r, orders.get(int(r.id), 0)) for r in rows]
