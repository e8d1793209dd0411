"""Fit failures of a research run: recorded per series × window × model, then judged honestly.

A long run survives one bad series: when a model cannot be fitted (or cannot
forecast) on one series in one walk-forward window — a ``ModelError``, numpy's
``LinAlgError``, SciPy's ``ValueError``, a statsforecast or torch error
(:func:`tzero.models.base.recoverable`) — that fit is recorded here, logged,
and its forecasts are missing (NaN: the variant holds its base position there,
no timing). Every other fit, variant and verdict goes on and is stored.

A variant's verdict then rests on the series × windows its models were fitted
on (:func:`verdict`):

- some failed: the gates judge it as usual and a reason says how many failed
  and why (the first few, one each);
- fewer than :data:`MIN_FIT_SHARE` of them fitted: status ``failed`` with the
  reason — too little evidence to keep or block the model (a ``failed``
  variant never blocks its model: :func:`tzero.backtest.gates.blocked_models`
  blocks only when every variant is ``blocked``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tzero.backtest.gates import Verdict
from tzero.models.base import failure_reason

log = logging.getLogger(__name__)

#: Smallest share of a variant's series × windows whose model fits must succeed for a verdict.
MIN_FIT_SHARE = 0.5
#: Failures quoted in a verdict's reason (the rest are counted).
QUOTED = 3
#: Status of a variant whose fits failed too often to be judged.
FAILED = "failed"


def fit_failure(strategy: str, series: str, model: str, window: int | None,
                error: BaseException | str) -> dict:
    """One failure record (and its log line).

    Args:
        strategy: ``t0``, ``daily`` or ``topk``.
        series: the ts_code (or series label) fitted.
        model: the model that failed (``hmm``, ``arima``, …).
        window: walk-forward window index, None when the whole series failed.
        error: the exception, or its one-line reason.

    Returns:
        ``{"strategy", "series", "model", "window", "reason"}`` (plain data).
    """
    reason = error if isinstance(error, str) else failure_reason(error)
    reason = " ".join(str(reason).split())
    log.info("research %s: %s %s window %s failed: %s", strategy, series, model, window, reason)
    return {"strategy": strategy, "series": series, "model": model, "window": window,
            "reason": reason}


def attach(row: dict, failures: Iterable[dict], n_fits: int, models: Iterable[str]) -> None:
    """Record on a variant row the failures of the models its rule reads.

    Sets ``row["failures"]`` (those records) and ``row["fits"]``: ``{"total":
    series × windows attempted, "failed": those where any of ``models``
    failed}``.
    """
    uses = set(models)
    mine = [f for f in failures if f["model"] in uses]
    pairs = {(f["series"], f["window"]) for f in mine}
    row["failures"] = mine
    row["fits"] = {"total": int(n_fits), "failed": min(len(pairs), int(n_fits))}


def verdict(row: dict, judged: Verdict) -> Verdict:
    """The gates' verdict of a row, made honest about its failed fits (module docstring).

    Args:
        row: a variant row, with ``failures`` and ``fits`` from :func:`attach` (or none).
        judged: :func:`tzero.backtest.gates.judge` of its metrics.

    Returns:
        ``judged`` when nothing failed; with one more reason when some fits
        failed; a ``failed`` verdict when fewer than :data:`MIN_FIT_SHARE` fitted.
    """
    fails = row.get("failures") or []
    if not fails:
        return judged
    fits = row.get("fits") or {"total": len(fails), "failed": len(fails)}
    total, failed = fits["total"], fits["failed"]
    quoted = "; ".join(f"{f['series']} {f['model']}"
                       + (f" window {f['window']}" if f["window"] is not None else "")
                       + f": {f['reason']}" for f in fails[:QUOTED])
    more = f"; {len(fails) - QUOTED} more" if len(fails) > QUOTED else ""
    head = f"model fits failed on {failed} of {total} series × windows ({quoted}{more})"
    if total == 0 or total - failed < MIN_FIT_SHARE * total:
        return Verdict(FAILED, [f"{head}: fewer than {MIN_FIT_SHARE:.0%} fitted, too little "
                                "evidence to judge"])
    return Verdict(judged.status, [*judged.reasons,
                                   f"{head}; there the base position was held without timing"])


def collect(rows: Iterable[dict]) -> list[dict]:
    """The distinct failure records of a run's rows, sorted by strategy, series, window, model."""
    seen: dict[tuple, dict] = {}
    for r in rows:
        for f in r.get("failures") or []:
            seen.setdefault((f["strategy"], f["series"], f["model"], f["window"]), f)
    return sorted(seen.values(), key=lambda f: (f["strategy"], f["series"],
                                                -1 if f["window"] is None else f["window"],
                                                f["model"]))
