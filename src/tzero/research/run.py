"""The research run: every variant of both strategies, judged out of sample, stored, reported.

``tzero research report`` calls :func:`run_research`:

1. **T+0** (:mod:`tzero.research.t0`): every intraday series of the
   shared data × every variant of :data:`~tzero.research.t0.T0_VARIANTS`.
2. **Daily** position timing around each default holding, driven by the
   daily models that vote in the served Signal (:mod:`tzero.research.daily`).
3. **Top-k** daily rebalance on the CSI 300 (membership as of each date):
   scores ``momentum`` (naive), ``reversal`` and ``ridge`` (refit per window)
   × the presets of :data:`TOPK_PRESETS`, walk-forward with rolling windows of
   :data:`TOPK_TRAIN` / :data:`TOPK_TEST` sessions and a gap of the label horizon.
4. Each family's metrics on one yardstick (:func:`tzero.backtest.metrics.performance`),
   DSR deflated by the number of variants the family tried (counted here), then
   the gates (:func:`tzero.backtest.gates.judge`: "fail = block", spec 003 §3),
   saved in one transaction (``research_variant``), so blocked models stop
   voting in served signals (:func:`tzero.signals.engine.blocked_by_research`).

Every number comes from the out-of-sample test parts; the in-sample runs are
used only for the decay gate.

A fit that fails on one series in one window (T+0 and daily families) is that
fit's failure, not the run's: it is recorded (``ResearchRun.failures``, and on
each variant that reads the model), its forecasts are missing, and the
variant's verdict says so — ``failed`` when fewer than half its series ×
windows could be fitted (:mod:`tzero.research.failures`). A series that cannot
be researched at all is listed in ``skipped``. Everything else is stored.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from tzero.backtest import gates
from tzero.backtest.costs import QLIB_PRESET, CostModel
from tzero.backtest.walkforward import rolling_windows
from tzero.models.base import failure_reason, recoverable
from tzero.research import failures as fit_failures
from tzero.research import t0 as research_t0
from tzero.training.executor import Executor

log = logging.getLogger(__name__)

#: Top-k walk-forward: sessions per train part, per test part, and the gap (label horizon).
TOPK_TRAIN, TOPK_TEST, TOPK_GAP = 242, 121, 5
TOPK_KINDS = ("momentum", "reversal", "ridge")


@dataclass(frozen=True)
class TopkPreset:
    """A top-k setting tried: ``topk`` names, ``n_drop`` swaps a day, a cost model."""

    name: str
    topk: int
    n_drop: int
    costs: CostModel


def topk_presets(settings) -> tuple[TopkPreset, ...]:
    """Qlib's TopkDropout defaults (50/5) and a tighter book (30/3), each with Qlib's
    flat costs (open 0.05%, close 0.15%, min 5 CNY) and with dated A-share costs."""
    ashare = CostModel.from_settings(settings)
    return (TopkPreset("k50d5-ashare", 50, 5, ashare), TopkPreset("k50d5-qlib", 50, 5, QLIB_PRESET),
            TopkPreset("k30d3-ashare", 30, 3, ashare), TopkPreset("k30d3-qlib", 30, 3, QLIB_PRESET))


@dataclass
class ResearchRun:
    """One research run.

    Attributes:
        run_id: id stored with every verdict. created_at: UTC time.
        rows: one dict per variant: ``strategy, variant, model, series, params,
            oos_metrics, is_metrics, verdict`` (:class:`~tzero.backtest.gates.Verdict`),
            ``equity`` (cumulative OOS return, Series by date), and where its
            models were fitted per window ``failures`` and ``fits``
            (:func:`tzero.research.failures.attach`).
        skipped: series that could not be researched, with the reason.
        failures: every model fit that failed on one series in one window:
            ``strategy, series, model, window, reason``.
        seconds: wall time per part.
        compare: the newest stored ``tzero compare`` result, shown in the report (or None).
    """

    run_id: str
    created_at: datetime
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    compare: dict | None = None


Progress = Callable[[str], None]


def _note(progress: Progress | None, msg: str) -> None:
    log.info(msg)
    if progress:
        progress(msg)


def run_t0_family(settings, *, series: list | None = None, freq: str = "5m",
                  progress: Progress | None = None,
                  executor: Executor | None = None) -> tuple[list[dict], list[dict]]:
    """All T+0 variants on all intraday series; metrics with DSR over the family.

    ``executor`` fits each series' walk-forward windows (one task a window,
    :mod:`tzero.training.executor`); None: in this process.

    A series whose walk-forward cannot run at all is skipped with the reason; a
    model fit that fails in one window (recorded by
    :func:`tzero.signals.intraday.walk_forward_forecasts`) is attached to the
    variants that read that model (``failures``, ``fits``).

    Returns:
        ``(rows, skipped)``; rows as in :class:`ResearchRun` without verdicts.

    Raises:
        TzeroError: no shared data folder (and no ``series`` given).
    """
    from tzero.errors import TzeroError

    skipped: list[dict] = []
    if series is None:
        if settings.data_dir is None:
            raise TzeroError("no shared data folder: set TZERO_DATA_DIR to the folder with intraday/")
        series, skipped = research_t0.shared_intraday_series(settings.data_dir)
    raw: list[dict] = []
    cache = settings.home / "research" / "forecasts"
    for s in series:
        n_days = s.bars["trade_time"].dt.normalize().nunique()
        train, test = research_t0.window_sizes(n_days)
        _note(progress, f"t0: {s.label}: {n_days} days, walk-forward {train}/{test} days")
        try:
            fc = research_t0.forecasts_cached(s, cache, freq=freq, train_days=train, test_days=test,
                                              seed=settings.seed, executor=executor)
        except Exception as exc:       # that series is not researched; the others go on
            if not recoverable(exc):
                raise
            why = str(exc) if type(exc) is ValueError else failure_reason(exc)  # too few days
            skipped.append({"label": s.label, "source": s.source, "reason": why})
            _note(progress, f"t0: {s.label}: not researched: {skipped[-1]['reason']}")
            continue
        rows = research_t0.run_series(s, fc, costs=CostModel.from_settings(settings), freq=freq)
        failed = [fit_failures.fit_failure("t0", s.label, f"intraday_{m}", int(w), str(why))
                  for w, m, why in fc.attrs.get("errors", [])]
        n_fits = int(fc["window"].nunique()) if "window" in fc.columns else 0
        for r in rows:
            r["params"] = {**r["params"], "freq": freq, "train_days": train, "test_days": test,
                           "source": s.source, "note": s.note}
            fit_failures.attach(r, failed, n_fits, research_t0.rule_models(r["model"]))
        raw.extend(rows)
    out = research_t0.summarise(raw, n_trials=len(raw))
    for r in out:
        r["strategy"] = "t0"
    return out, skipped


def run_topk_family(settings, *, start=None, end=None, kinds=TOPK_KINDS,
                    universe: list[str] | None = None,
                    progress: Progress | None = None) -> list[dict]:
    """All top-k variants on the CSI 300 (membership as of each date), walk-forward.

    ``universe`` restricts the candidates to those codes (still only while members).

    Raises:
        TzeroError: no membership file. StoreError: no daily bars stored.
    """
    from tzero.backtest.metrics import performance, sharpe
    from tzero.backtest.scores import in_sample_scores, load_csi300_panel, walk_forward_scores
    from tzero.backtest.topk import TopkConfig, simulate_topk
    from tzero.data.market_store import open_market_store
    from tzero.errors import TzeroError

    members = settings.data_dir / "reference" / "csi300_membership.txt" if settings.data_dir else None
    if members is None or not members.is_file():
        raise TzeroError("no CSI 300 membership file: set TZERO_DATA_DIR to the folder with "
                         "reference/csi300_membership.txt")
    _note(progress, "topk: loading the CSI 300 panel")
    panel = load_csi300_panel(open_market_store(settings), members, start, end)
    if universe:
        panel = _restrict(panel, universe)
    windows = rolling_windows(panel.sessions, TOPK_TRAIN, TOPK_TEST, gap=TOPK_GAP)
    raw: list[dict] = []
    for kind in kinds:
        _note(progress, f"topk: {kind}: {len(windows)} windows")
        oos_scores = walk_forward_scores(panel, windows, kind)
        is_scores = in_sample_scores(panel, windows, kind)
        for p in topk_presets(settings):
            cfg = TopkConfig(topk=p.topk, n_drop=p.n_drop, costs=p.costs)
            res = simulate_topk(oos_scores, panel.bars, membership=panel.membership, config=cfg,
                                benchmark=panel.benchmark)
            is_runs = [simulate_topk(sc, panel.bars, membership=panel.membership, config=cfg,
                                     benchmark=panel.benchmark) for sc in is_scores.values()
                       if len(sc) > 1]
            raw.append({"strategy": "topk", "variant": f"{kind}-{p.name}", "model": kind,
                        "series": "CSI 300", "result": res, "is_results": is_runs,
                        "params": {"score": kind, "topk": p.topk, "n_drop": p.n_drop,
                                   "costs": p.name, "train": TOPK_TRAIN, "test": TOPK_TEST,
                                   "gap": TOPK_GAP, "windows": len(windows)}})
    n = len(raw)
    srs = [x for x in (sharpe(r["result"].returns) for r in raw) if math.isfinite(x)]
    out = []
    for r in raw:
        res = r["result"]
        oos = res.performance(n_trials=n, trial_sharpes=srs if len(srs) > 1 else None)
        is_m = None
        if r["is_results"]:
            rets = pd.concat([x.returns.reset_index(drop=True) for x in r["is_results"]], ignore_index=True)
            is_m = performance(rets, n_trials=n)
        equity = (1 + res.returns).cumprod() - 1
        bench = ((1 + res.benchmark.reindex(res.returns.index).fillna(0)).cumprod() - 1
                 if res.benchmark is not None else None)
        out.append({k: r[k] for k in ("strategy", "variant", "model", "series", "params")}
                   | {"oos_metrics": oos, "is_metrics": is_m, "equity": equity,
                      "benchmark_equity": bench})
    return out


def _restrict(panel, codes: list[str]):
    """The panel with only ``codes`` as candidates (the benchmark is kept)."""
    from dataclasses import replace

    from tzero.errors import TzeroError

    keep = [c for c in codes if c in panel.close.columns]
    if not keep:
        raise TzeroError(f"none of {codes} was ever a CSI 300 member with stored bars")
    return replace(panel, bars=panel.bars.loc[panel.bars["ts_code"].isin(keep)].reset_index(drop=True),
                   close=panel.close[keep],
                   membership=panel.membership.loc[panel.membership["ts_code"].isin(keep)])


def run_research(settings, *, strategies=("t0", "topk", "daily"), start=None, end=None,
                 gate_config: gates.GateConfig | None = None, save: bool = True,
                 progress: Progress | None = None, codes: list[str] | None = None,
                 executor: Executor | None = None) -> ResearchRun:
    """Run, judge and (with ``save``) store every variant of the chosen strategies.

    Args:
        settings: the :class:`~tzero.settings.Settings` (data folder, store, costs).
        strategies: any of ``t0``, ``topk``, ``daily``.
        start, end: date range of the top-k panel (default: all stored data).
        gate_config: gate thresholds (default :class:`~tzero.backtest.gates.GateConfig`).
        save: write the verdicts to the app store (atomic, one run id).
        codes: the daily family's holdings (default: the served default holdings).
        executor: where the daily family's (symbol, window) fits run (a
            :class:`tzero.training.executor.Executor`; None: the local pool).

    Returns:
        :class:`ResearchRun`.

    Raises:
        ValueError: unknown strategy. TzeroError/StoreError: missing data.
    """
    unknown = set(strategies) - set(gates.STRATEGIES)
    if unknown:
        raise ValueError(f"unknown strategies {sorted(unknown)}: expected {list(gates.STRATEGIES)}")
    now = datetime.now(UTC)
    run = ResearchRun(f"r{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", now,
                      settings={"seed": settings.seed, "commission_rate": settings.commission_rate,
                                "min_commission": settings.min_commission,
                                "slippage_bps": settings.slippage_bps})
    if "t0" in strategies:
        t = time.perf_counter()
        rows, skipped = run_t0_family(settings, progress=progress, executor=executor)
        run.rows += rows
        run.skipped += skipped
        run.seconds["t0"] = round(time.perf_counter() - t, 1)
    if "topk" in strategies:
        t = time.perf_counter()
        run.rows += run_topk_family(settings, start=start, end=end, progress=progress)
        run.seconds["topk"] = round(time.perf_counter() - t, 1)
    if "daily" in strategies:
        from tzero.research.daily import run_daily_family

        t = time.perf_counter()
        run.rows += run_daily_family(settings, codes=codes, progress=progress, executor=executor)
        run.seconds["daily"] = round(time.perf_counter() - t, 1)
    for r in run.rows:
        r["n_trials"] = r["oos_metrics"].get("n_trials", 1)
        r["verdict"] = fit_failures.verdict(
            r, gates.judge(r["oos_metrics"], r.get("is_metrics"), gate_config))
    run.failures = fit_failures.collect(run.rows)
    if save and run.rows:
        from tzero.data.appdb import open_app_store

        engine, Session = open_app_store(settings.app_db_url)
        try:
            gates.save_verdicts(Session, run.run_id, [_stored(r) for r in run.rows])
        finally:
            engine.dispose()
    return run


def _stored(r: dict) -> dict:
    """The persisted part of a row (the series name goes into the variant and params;
    its failed fits, when any, into the params)."""
    variant = r["variant"] if r["strategy"] == "topk" else f"{r['series']} · {r['variant']}"
    params = {**r["params"], "series": r["series"]}
    if r.get("failures"):
        params |= {"fits": r.get("fits"), "failures": r["failures"]}
    return {"strategy": r["strategy"], "variant": variant, "model": r["model"],
            "params": params, "verdict": r["verdict"],
            "oos_metrics": r["oos_metrics"], "is_metrics": r.get("is_metrics"),
            "n_trials": r["n_trials"]}


def write_outputs(run: ResearchRun, out_dir: Path) -> dict[str, Path]:
    """Write ``research.json`` (every variant's numbers and verdict) and ``report.html``.

    Returns:
        ``{"json": path, "html": path}``.
    """
    import json

    from tzero.research.report import render_html, run_to_dict

    out_dir.mkdir(parents=True, exist_ok=True)
    data = run_to_dict(run)
    jp, hp = out_dir / "research.json", out_dir / "report.html"
    for path, text in ((jp, json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False)),
                       (hp, render_html(data))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return {"json": jp, "html": hp}
