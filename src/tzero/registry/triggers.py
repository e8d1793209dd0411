"""Training triggers of spec 004 §3.6, on the XSHG calendar.

- ``monthly``: the day is the last session of its month → full training.
- ``quarterly``: the last session of March, June, September or December → full.
- ``performance_decay``: :func:`tzero.registry.monitoring.detect_performance_decay` → full.
- ``weekly``: the last session of the week (Friday, or the session before a
  Friday holiday) → incremental training on ~6 recent months.

Priority monthly > quarterly > performance_decay > weekly; one per day and
symbol. ``performance_decay`` is not re-triggered within 20 sessions of a
full training (the decay window must refill first). A symbol that has never been trained gets ``initial`` (a full training)
first, so weekly fine-tuning always has a model to start from. (A quarter's last session is also a month's, so by this priority it
runs as ``monthly``; both are listed in ``matched``.)
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tzero.data.appdb import TrainingRun
from tzero.market import calendar
from tzero.models.lstm import LstmForecaster
from tzero.registry import versions
from tzero.registry.monitoring import detect_performance_decay

LSTM = LstmForecaster.name   # the spec-004 lifecycle manages the per-stock LSTM

# The decay window holds 20 scored predictions; after a full retraining, wait until
# that many sessions have passed before judging the model again (else a refused
# retraining would re-trigger every day).
DECAY_COOLDOWN_SESSIONS = 20
PRIORITY = ("initial", "monthly", "quarterly", "performance_decay", "weekly")
TRAINING_TYPE = {"initial": "full", "monthly": "full", "quarterly": "full", "performance_decay": "full",
                 "weekly": "incremental"}


def calendar_triggers(as_of) -> list[str]:
    """Calendar triggers that hold on a session (empty on a non-session day)."""
    d = calendar.to_date(as_of, field="as_of")
    if not calendar.is_session(d):
        return []
    nxt = calendar.offset_session(d, 1)
    out = []
    if nxt.month != d.month:
        out.append("monthly")
        if d.month in (3, 6, 9, 12):
            out.append("quarterly")
    if nxt.isocalendar()[1] != d.isocalendar()[1] or (nxt - d).days > 6:
        out.append("weekly")
    return out


def _full_training_within(session: Session, symbol: str, as_of, sessions: int) -> bool:
    """True when a full/fast training of the symbol used data ending within ``sessions`` sessions."""
    since = calendar.offset_session(as_of, -sessions).date()
    n = session.scalar(select(func.count()).select_from(TrainingRun).where(
        TrainingRun.symbol == symbol, TrainingRun.training_type != "incremental",
        TrainingRun.data_end > since))
    return bool(n)


def check_triggers(session: Session, symbols: list[str], as_of) -> list[dict]:
    """For each symbol: every trigger that holds, the one that wins, and its training type."""
    cal = calendar_triggers(as_of)
    out = []
    for sym in symbols:
        matched = list(cal)
        if session.scalar(select(func.count()).select_from(TrainingRun)
                          .where(TrainingRun.symbol == sym)) == 0:
            matched.insert(0, "initial")
        note = None
        decay = detect_performance_decay(session, sym)
        if decay["triggered"]:
            if _full_training_within(session, sym, as_of, DECAY_COOLDOWN_SESSIONS):
                note = (f"performance_decay suppressed: a full training ran within "
                        f"{DECAY_COOLDOWN_SESSIONS} sessions")
            else:
                matched.append("performance_decay")
        if "weekly" in matched and versions.current(session, LSTM, sym) is None:
            matched.remove("weekly")  # nothing to fine-tune: wait for the next full training
            note = "weekly skipped: no current version to fine-tune"

        win = next((t for t in PRIORITY if t in matched), None)
        out.append({"symbol": sym, "as_of": str(pd.Timestamp(as_of).date()), "matched": matched,
                    "trigger": win, "training_type": TRAINING_TYPE.get(win) if win else None,
                    "note": note})
    return out


def training_batches(rows: list[dict], full_mode: str = "fast") -> dict[tuple[str, str], list[str]]:
    """Group triggered symbols into training batches ``(training_type, trigger) -> symbols``.

    Args:
        rows: output of :func:`check_triggers`.
        full_mode: the training type used for ``full`` triggers (``full`` or ``fast``).

    Returns:
        Batches in a stable order; symbols keep their order within a batch.
    """
    batches: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if r["trigger"]:
            ttype = full_mode if r["training_type"] == "full" else "incremental"
            batches.setdefault((ttype, r["trigger"]), []).append(r["symbol"])
    return dict(sorted(batches.items()))
