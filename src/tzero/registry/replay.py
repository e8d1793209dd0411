"""Replay the lifecycle day by day over history, as if live (the lifecycle issue's proof).

For each session ``d`` of ``[start, end]``, using only bars with
``trade_time <= d`` (the panel is cut before any step sees it):

1. back-fill accuracy of predictions whose t+5 close is now known;
2. check triggers (monthly > quarterly > performance_decay > weekly);
3. train the triggered symbols (full/fast through the deploy gate,
   weekly incremental straight to current);
4. predict every symbol with the fallback chain and log it;
5. check alerts and fire new ones (webhook when configured).

The timeline (JSON) records every training run with the gate's reason, every
alert, and the daily predictions with their source and version; a chart shows
rolling direction accuracy per symbol with promotions, refusals and alerts.

One symbol failing on one day is that symbol's event, not the replay's end: a
failed training run is recorded with its reason (spec 004's failure table), and
a symbol no source can forecast that day (e.g. a stock listed a few sessions
ago: too short for the LSTM, ARIMA and the technical rules) gets a
``prediction_failed`` event with the reason; the other symbols and days go on.
The summary counts both and lists each failure (``failures``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from tzero.data.appdb import AccuracyRecord  # noqa: E402
from tzero.market import calendar  # noqa: E402
from tzero.models.base import failure_reason, recoverable  # noqa: E402
from tzero.models.lstm import LstmConfig  # noqa: E402
from tzero.registry import flow, lifecycle, monitoring, triggers, versions  # noqa: E402

log = logging.getLogger(__name__)


def replay(Session_: sessionmaker, panel: pd.DataFrame, symbols: list[str], start, end,
           full_mode: str = "fast", history: int | None = 400, n_jobs: int = 1, seed: int = 42,
           webhook_url: str | None = None, config: LstmConfig | None = None,
           progress: Callable[[int, int, str], None] | None = None,
           max_versions: int = versions.MAX_VERSIONS) -> dict:
    """Walk ``[start, end]`` session by session; return the timeline.

    Args:
        panel: qfq daily bars of the symbols (may extend past ``end``: each day
            sees only rows ≤ that day).
        full_mode: training type used for ``full`` triggers (``fast`` keeps a
            10-symbol, 9-month replay within minutes on 2 cores; ``full`` runs
            the default 8-combination, 5-fold grid).
        history: sessions per symbol the LSTM trains on.
        n_jobs: symbols trained in parallel processes.

    Returns:
        ``{"events": [...], "predictions": [...], "summary": {...}}``.
    """
    days = calendar.sessions(start, end)
    days = days[days <= panel["trade_time"].max()]
    with Session_.begin() as s:
        versions.recover_interrupted(s)
    events: list[dict] = []
    preds: list[dict] = []
    t0 = time.perf_counter()
    for i, d in enumerate(days):
        ev, pr = run_day(Session_, panel.loc[panel["trade_time"] <= d], symbols, d, full_mode, history,
                         n_jobs, seed, webhook_url, config, max_versions)
        events += ev
        preds += pr
        if progress:
            progress(i + 1, len(days), str(d.date()))
    with Session_() as s:
        acc = [{"symbol": a.symbol, "predict_date": str(a.predict_date), "correct": a.direction_correct,
                "error": a.error_magnitude, "source": a.source}
               for a in s.scalars(select(AccuracyRecord).where(AccuracyRecord.symbol.in_(symbols))
                                  .order_by(AccuracyRecord.predict_date))]
    return {"events": events, "predictions": preds, "accuracy": acc,
            "summary": summarize(events, preds, acc, time.perf_counter() - t0, days)}


def run_day(Session_: sessionmaker, cut: pd.DataFrame, symbols: list[str], d: pd.Timestamp,
            full_mode: str = "fast", history: int | None = 400, n_jobs: int = 1, seed: int = 42,
            webhook_url: str | None = None, config: LstmConfig | None = None,
            max_versions: int = versions.MAX_VERSIONS) -> tuple[list, list]:
    """One after-the-close job for session ``d`` (the same steps live and in a replay).

    Args:
        cut: bars with ``trade_time <= d`` only.

    Returns:
        ``(events, predictions)`` of the day.
    """
    events: list[dict] = []
    preds: list[dict] = []
    with Session_.begin() as s:
        for sym in symbols:
            monitoring.update_accuracy(s, cut, sym, d)
        trig = triggers.check_triggers(s, symbols, d)
    for (ttype, trig_name), syms in triggers.training_batches(trig, full_mode).items():
        for out in lifecycle.train_batch(Session_, cut, syms, ttype, trig_name, seed, history, n_jobs,
                                         max_versions, config if ttype != "incremental" else None):
            events.append({"date": str(d.date()), "type": "training", **out.as_dict()})
    with Session_.begin() as s:
        for sym in symbols:
            try:                                # it logs the prediction only once it has one
                p = flow.predict_with_fallback(s, cut, sym, d)
            except Exception as exc:            # that symbol's failure today, not the replay's
                if not recoverable(exc):
                    raise
                events.append({"date": str(d.date()), "type": "prediction_failed", "symbol": sym,
                               "reason": failure_reason(exc)})
                log.info("replay %s: %s not predicted: %s", d.date(), sym, events[-1]["reason"])
                continue
            preds.append({"date": str(d.date()), "symbol": sym, "source": p.source,
                          "version": p.model_version_id, "magnitude": p.magnitude, "prob_up": p.prob_up})
        for a in monitoring.fire_alerts(s, monitoring.check_alerts(s, symbols, d), d, webhook_url):
            events.append({"date": str(d.date()), "type": "alert", **a})
    return events, preds


def summarize(events: list[dict], preds: list[dict], acc: list[dict], seconds: float, days) -> dict:
    """Counts of the replay: trainings by outcome, alerts by type, predictions by source,
    and ``failures``: one line per failed training run or prediction (date, symbol, why)."""
    tr = [e for e in events if e["type"] == "training"]
    fails = [{"date": e["date"], "symbol": e["symbol"], "what": "training", "reason": e["reason"]}
             for e in tr if e["status"] == "failed"]
    fails += [{"date": e["date"], "symbol": e["symbol"], "what": "prediction", "reason": e["reason"]}
              for e in events if e["type"] == "prediction_failed"]
    return {
        "sessions": len(days), "start": str(days[0].date()) if len(days) else None,
        "end": str(days[-1].date()) if len(days) else None, "seconds": round(seconds, 1),
        "trainings": len(tr),
        "promoted": sum(1 for e in tr if e["status"] == "succeeded" and e["deployed"]),
        "refused": sum(1 for e in tr if e["status"] == "succeeded" and not e["deployed"]),
        "failed": sum(1 for e in tr if e["status"] == "failed"),
        "by_trigger": dict(Counter(e["trigger_type"] for e in tr)),
        "alerts": dict(Counter(e["alert_type"] for e in events if e["type"] == "alert")),
        "predictions_by_source": dict(Counter(p["source"] for p in preds)),
        "prediction_failures": sum(1 for e in events if e["type"] == "prediction_failed"),
        "failures": sorted(fails, key=lambda f: (f["date"], f["symbol"], f["what"])),
        "scored": len(acc),
        "direction_accuracy": (sum(a["correct"] for a in acc) / len(acc)) if acc else None,
    }


def write_timeline(result: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``timeline.json`` and ``timeline.png``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jp = out_dir / "timeline.json"
    jp.write_text(json.dumps(result, indent=1, default=str, ensure_ascii=False))
    acc = pd.DataFrame(result["accuracy"])
    symbols = sorted({p["symbol"] for p in result["predictions"]})
    fig, axes = plt.subplots(len(symbols), 1, figsize=(10, 1.6 * max(1, len(symbols)) + 0.6),
                             sharex=True, squeeze=False)
    for ax, sym in zip(axes[:, 0], symbols, strict=True):
        g = acc.loc[acc["symbol"] == sym] if not acc.empty else acc
        if not g.empty:
            t = pd.to_datetime(g["predict_date"])
            ax.plot(t, g["correct"].astype(float).rolling(20, min_periods=5).mean(), color="#2e86de", lw=1.2)
        ax.axhline(0.5, color="#999", lw=0.6, ls=":")
        for e in result["events"]:
            if e.get("symbol") != sym:
                continue
            x = pd.Timestamp(e["date"])
            if e["type"] == "training" and e["status"] == "succeeded":
                ax.plot(x, 0.95, marker="^" if e["deployed"] else "x",
                        color="#27ae60" if e["deployed"] else "#c0392b", ms=6)
            elif e["type"] == "training":
                ax.plot(x, 0.95, marker="s", color="#7f8c8d", ms=5)
            elif e["type"] == "alert":
                ax.plot(x, 0.05, marker="v", color="#e67e22", ms=5)
        ax.set_ylim(0, 1)
        ax.set_ylabel(sym, fontsize=7, rotation=0, ha="right")
        ax.tick_params(labelsize=7)
    axes[0, 0].set_title("replay: rolling 20 direction accuracy; ▲ promoted, ✕ refused, ■ failed, "
                         "▼ alert", fontsize=9)
    fig.tight_layout()
    pp = out_dir / "timeline.png"
    fig.savefig(pp, dpi=90)
    plt.close(fig)
    return jp, pp
