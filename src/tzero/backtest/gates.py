""""Fail = block" gates for backtested variants (spec 003 §3, 失败即阻断).

Every variant is judged on its out-of-sample (OOS) metrics from
:func:`tzero.backtest.metrics.performance` (and, when there is one, its
in-sample run). A variant is **blocked** when any gate fails:

1. too few OOS trades: ``n_trades < min_trades`` (样本不足);
2. OOS annualised return after costs ``<= min_oos_return`` (样本外为负);
3. deflated Sharpe ratio ``dsr < min_dsr`` over the ``n_trials`` variants tried
   (Bailey & López de Prado 2014);
4. Sharpe decay ``1 − OOS Sharpe / IS Sharpe > max_decay`` (only when the
   in-sample Sharpe is > 0; an in-sample Sharpe ≤ 0 makes a passing variant
   "watch", since its OOS edge was never seen in sample);
5. missing evidence: a NaN/absent trade count, return or DSR (证据缺失).

It is **watch** when it passes every gate but one of them by a thin margin:
fewer than ``watch_trades_factor × min_trades`` trades, DSR below
``min_dsr + watch_dsr_margin``, return below ``min_oos_return +
watch_return_margin``, or decay above ``watch_decay_factor × max_decay``. Every
other passing variant is **kept**.

One annual figure per variant: :data:`ANNUAL_RETURN` names the OOS metric the
return gate judges (geometric annualised return after costs,
:func:`tzero.backtest.metrics.annual_return`), and :func:`annual_return` /
:func:`annual_return_text` are what the reasons quote and what every table
column (``tzero backtest``, ``tzero research report``, ``tzero compare``) shows,
printed by the same formatter (:func:`tzero.fmt.pct`, 2 fixed decimals), so a
column and its reason can never disagree.

Verdicts are stored in the app store (table ``research_variant``, model
:class:`tzero.data.appdb.ResearchVariant`): :func:`save_verdicts`,
:func:`latest_verdicts`, and :func:`blocked_models`, which the signal engine
uses to keep blocked models out of what users are served.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from tzero.data.appdb import ResearchVariant
from tzero.data.model_runs import json_safe  # noqa: F401  (re-exported: the report and xs_eval use it)
from tzero.fmt import pct

#: Stored statuses; ``failed``: the variant's model fits failed too often to judge it
#: (:mod:`tzero.research.failures`), never evidence that blocks a model.
STATUSES = ("kept", "watch", "blocked", "failed")
STRATEGIES = ("t0", "topk", "daily", "compare")
#: The OOS metric that is a variant's one annual-return figure (after costs, decimal).
ANNUAL_RETURN = "annual_return"


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the gates (spec 003 §3) and of the "watch" margins.

    Attributes:
        min_trades: fewest OOS filled orders a verdict may rest on.
        min_oos_return: OOS annualised return after costs must exceed this (decimal).
        min_dsr: lowest deflated Sharpe ratio (probability) accepted.
        max_decay: largest accepted ``1 − OOS Sharpe / IS Sharpe`` (decimal).
        watch_trades_factor: fewer than ``factor × min_trades`` trades → watch.
        watch_dsr_margin: DSR within this of ``min_dsr`` → watch.
        watch_return_margin: annual return within this of ``min_oos_return`` → watch.
        watch_decay_factor: decay above ``factor × max_decay`` → watch.
    """

    min_trades: int = 30
    min_oos_return: float = 0.0
    min_dsr: float = 0.95
    max_decay: float = 0.5
    watch_trades_factor: float = 2.0
    watch_dsr_margin: float = 0.03
    watch_return_margin: float = 0.02
    watch_decay_factor: float = 0.8


@dataclass(frozen=True)
class Verdict:
    """A gate decision: ``status`` kept | watch | blocked, and readable reasons."""

    status: str
    reasons: list[str] = field(default_factory=list)


def _num(d: Mapping | None, key: str) -> float:
    if d is None:
        return float("nan")
    v = d.get(key)
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def annual_return(metrics: Mapping | None) -> float:
    """A variant's one annual-return figure: ``metrics[ANNUAL_RETURN]`` (decimal, NaN if absent).

    The return gate judges it, the reasons quote it and the tables show it;
    nothing else annualises a variant's returns for display.
    """
    return _num(metrics, ANNUAL_RETURN)


def annual_return_text(metrics: Mapping | None) -> str:
    """:func:`annual_return` as every table and reason prints it: ``"-21.93%"`` (signed, 2 decimals)."""
    return pct(annual_return(metrics), 2, sign=True)


def _decay(oos: Mapping, in_sample: Mapping | None) -> tuple[float, float, float]:
    """``(decay, is_sharpe, oos_sharpe)``; decay NaN when IS Sharpe is not > 0."""
    is_sr, oos_sr = _num(in_sample, "sharpe"), _num(oos, "sharpe")
    if not (is_sr > 0) or math.isnan(oos_sr):
        return float("nan"), is_sr, oos_sr
    return 1.0 - oos_sr / is_sr, is_sr, oos_sr


def _gate_checks(oos: Mapping, in_sample: Mapping | None, cfg: GateConfig
                 ) -> tuple[list[str], list[str]]:
    """``(failures, thin margins)`` as trader-readable sentences."""
    fail: list[str] = []
    thin: list[str] = []
    n, ret, dsr = _num(oos, "n_trades"), annual_return(oos), _num(oos, "dsr")
    ret_text, floor = annual_return_text(oos), pct(cfg.min_oos_return, 2)
    nt = int(_num(oos, "n_trials")) if not math.isnan(_num(oos, "n_trials")) else 1
    if math.isnan(n):
        fail.append("no OOS trade count: evidence missing")
    elif n < cfg.min_trades:
        fail.append(f"only {n:.0f} OOS trades < {cfg.min_trades}")
    elif n < cfg.watch_trades_factor * cfg.min_trades:
        thin.append(f"{n:.0f} OOS trades, under {cfg.watch_trades_factor * cfg.min_trades:.0f}")
    if math.isnan(ret):
        fail.append("no OOS return: evidence missing")
    elif ret <= cfg.min_oos_return:
        fail.append(f"OOS return {ret_text}/yr after costs <= {floor}")
    elif ret < cfg.min_oos_return + cfg.watch_return_margin:
        thin.append(f"OOS return {ret_text}/yr after costs, within "
                    f"{pct(cfg.watch_return_margin, 2)} of {floor}")
    if math.isnan(dsr):
        fail.append("no DSR: evidence missing (too few OOS days or zero variance)")
    elif dsr < cfg.min_dsr:
        fail.append(f"DSR {dsr:.2f} < {cfg.min_dsr:.2f} over {nt} variants")
    elif dsr < cfg.min_dsr + cfg.watch_dsr_margin:
        thin.append(f"DSR {dsr:.2f} over {nt} variants, within {cfg.watch_dsr_margin:.2f} "
                    f"of {cfg.min_dsr:.2f}")
    _decay_check(oos, in_sample, cfg, fail, thin)
    return fail, thin


def _decay_check(oos: Mapping, in_sample: Mapping | None, cfg: GateConfig,
                 fail: list[str], thin: list[str]) -> None:
    """Append the Sharpe-decay failure or thin margin, if any."""
    decay, is_sr, oos_sr = _decay(oos, in_sample)
    if math.isnan(decay):
        return
    text = f"Sharpe decay {decay:.0%} (IS {is_sr:.2f} -> OOS {oos_sr:.2f})"
    if decay > cfg.max_decay:
        fail.append(f"{text} > {cfg.max_decay:.0%}")
    elif decay > cfg.watch_decay_factor * cfg.max_decay:
        thin.append(f"{text}, near the {cfg.max_decay:.0%} limit")


def judge(oos: Mapping, in_sample: Mapping | None = None, cfg: GateConfig | None = None) -> Verdict:
    """Judge one variant: kept, watch or blocked (see the module docstring for the gates).

    Args:
        oos: OOS metrics of :func:`tzero.backtest.metrics.performance`; reads
            ``n_trades``, ``annual_return`` (after costs), ``dsr``, ``n_trials``
            and ``sharpe``.
        in_sample: the same metrics in sample, or None (decay is then not judged).
        cfg: thresholds; default :class:`GateConfig()`.

    Returns:
        :class:`Verdict`. ``reasons`` lists every failed gate when blocked, the
        thin margins when watch, and a one-line summary of the passed numbers
        when kept, e.g. ``"DSR 0.41 < 0.95 over 24 variants"``.
    """
    cfg = cfg or GateConfig()
    fail, thin = _gate_checks(oos, in_sample, cfg)
    if in_sample is not None and not (_num(in_sample, "sharpe") > 0):
        thin.append(f"in-sample Sharpe {_num(in_sample, 'sharpe'):.2f} <= 0: "
                    f"an OOS edge the fit never had; decay not judged")
    if fail:
        return Verdict("blocked", fail)
    if thin:
        return Verdict("watch", thin)
    return Verdict("kept", [f"passes: {_num(oos, 'n_trades'):.0f} trades, "
                            f"{annual_return_text(oos)}/yr after costs, "
                            f"DSR {_num(oos, 'dsr'):.2f}"])


# ----------------------------------------------------------------------------- persistence
def _json(obj) -> str:
    """JSON text with NaN/inf written as null (strict JSON, readable on every database)."""
    return json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False, sort_keys=True)


def _row(run_id: str, created: datetime, r: Mapping) -> ResearchVariant:
    verdict = r.get("verdict")
    status = verdict.status if verdict is not None else r["status"]
    reasons = verdict.reasons if verdict is not None else r.get("reasons", [])
    if status not in STATUSES:
        raise ValueError(f"variant {r.get('variant')!r}: status must be one of {STATUSES}, "
                         f"got {status!r}")
    if r["strategy"] not in STRATEGIES:
        raise ValueError(f"variant {r.get('variant')!r}: strategy must be one of {STRATEGIES}, "
                         f"got {r['strategy']!r}")
    return ResearchVariant(
        run_id=run_id, created_at=created, strategy=r["strategy"], variant=str(r["variant"]),
        model=str(r["model"]), params=_json(r.get("params", {})), status=status,
        reasons=_json(list(reasons)), oos_metrics=_json(r.get("oos_metrics", {})),
        is_metrics=_json(r["is_metrics"]) if r.get("is_metrics") is not None else None,
        n_trials=int(r.get("n_trials", 1)))


def save_verdicts(session_factory: sessionmaker, run_id: str, rows: Iterable[Mapping]) -> int:
    """Store every variant of one research run in a single transaction.

    Args:
        session_factory: app-store session factory (:func:`tzero.data.appdb.open_app_store`).
        run_id: identifier of the run (e.g. ``"topk-20261121T1130"``).
        rows: one mapping per variant with ``strategy`` (t0|topk), ``variant``
            (unique within the run), ``model`` (lstm, arima, hmm, momentum, …),
            ``params`` (dict), either ``verdict`` (:class:`Verdict`) or
            ``status`` + ``reasons``, ``oos_metrics`` (dict), optional
            ``is_metrics`` (dict) and ``n_trials`` (int).

    Returns:
        The number of rows written.

    Raises:
        ValueError: an unknown status/strategy (nothing is written).
        sqlalchemy.exc.IntegrityError: a variant name repeated within the run
            (the whole run is rolled back).
    """
    created = datetime.now()
    objs = [_row(run_id, created, r) for r in rows]
    with session_factory() as s, s.begin():
        s.add_all(objs)
    return len(objs)


_COLUMNS = ["run_id", "created_at", "strategy", "variant", "model", "status", "reasons",
            "params", "oos_metrics", "is_metrics", "n_trials"]


def latest_verdicts(session_factory: sessionmaker, strategy: str | None = None) -> pd.DataFrame:
    """The verdicts of the newest run (of ``strategy`` when given).

    The newest run is the one with the latest ``created_at`` (ties: largest
    ``run_id``).

    Returns:
        DataFrame with columns ``run_id, created_at, strategy, variant, model,
        status, reasons`` (list of str), ``params``, ``oos_metrics``,
        ``is_metrics`` (dicts, None when absent) and ``n_trials``; one row per
        variant, sorted by variant. Empty (same columns) when nothing is stored.
    """
    with session_factory() as s:
        q = select(ResearchVariant.run_id, func.max(ResearchVariant.created_at).label("newest"))
        if strategy is not None:
            q = q.where(ResearchVariant.strategy == strategy)
        q = q.group_by(ResearchVariant.run_id)
        runs = s.execute(q).all()
        if not runs:
            return pd.DataFrame(columns=_COLUMNS)
        run_id = max(runs, key=lambda r: (r.newest, r.run_id)).run_id
        q2 = select(ResearchVariant).where(ResearchVariant.run_id == run_id)
        if strategy is not None:
            q2 = q2.where(ResearchVariant.strategy == strategy)
        objs = s.execute(q2.order_by(ResearchVariant.variant)).scalars().all()
    rows = [{"run_id": o.run_id, "created_at": o.created_at, "strategy": o.strategy,
             "variant": o.variant, "model": o.model, "status": o.status,
             "reasons": json.loads(o.reasons), "params": json.loads(o.params),
             "oos_metrics": json.loads(o.oos_metrics),
             "is_metrics": json.loads(o.is_metrics) if o.is_metrics else None,
             "n_trials": o.n_trials} for o in objs]
    return pd.DataFrame(rows, columns=_COLUMNS)


def blocked_models(session_factory: sessionmaker, strategy: str | None = None) -> dict[str, str]:
    """Models every variant of which is blocked in the latest run, with a reason.

    With ``strategy`` given, the latest run of that strategy is read; with
    ``None``, the latest run of each strategy, and a model is blocked only when
    all its variants across those runs are blocked.

    Returns:
        ``{model: reason}``, e.g. ``{"momentum": "all 4 topk variants blocked
        (run r1); best: OOS return -3.1%/yr after costs <= 0.0%"}``, where
        "best" is the variant with the highest OOS Sharpe. Empty when nothing
        is stored or no model is fully blocked.
    """
    frames = ([latest_verdicts(session_factory, strategy)] if strategy is not None
              else [latest_verdicts(session_factory, st) for st in STRATEGIES])
    v = pd.concat([f for f in frames if not f.empty] or [pd.DataFrame(columns=_COLUMNS)],
                  ignore_index=True)
    out: dict[str, str] = {}
    for model, g in v.groupby("model", sort=True):
        if not (g["status"] == "blocked").all():
            continue
        sharpe = g["oos_metrics"].map(lambda m: _num(m, "sharpe")).fillna(-math.inf)
        best = g.loc[sharpe.idxmax()]
        strategies = "/".join(sorted(g["strategy"].unique()))
        runs = ", ".join(sorted(g["run_id"].unique()))
        out[str(model)] = (f"all {len(g)} {strategies} variants blocked (run {runs}); "
                           f"best {best['variant']}: {'; '.join(best['reasons'])}")
    return out
