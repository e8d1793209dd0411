"""``tzero compare``: every model of the table and the baselines on one yardstick (spec 003 §3).

One run, the same for every row:

1. **Split** — the evaluated sessions ``start..end`` are out of sample for
   every model: :func:`tzero.research.compare_fit.score_model` fits each one
   walk-forward (refit cadence ``none`` = one fit before the range with
   ``--fast``, ``yearly`` otherwise) on data ending ``horizon + 2`` sessions
   before each block. The baselines (``zero``, ``momentum``, ``reversal``,
   ``linear`` — :func:`tzero.backtest.xs_eval.baseline_scores`) see the same
   rule: the ridge is fitted on labels ending by the first fit end.
2. **Members** — the universe's members as of each date
   (:func:`tzero.registry.train.load_universe`). Pooled (``global``) models
   and baselines are judged on every member; per-stock (``local``) models,
   which cost a fit per stock, on a fixed sample of ``sample`` members (the
   ones with the most member sessions in the range) — and every row is also
   measured on that sample (``sample_metrics``), so the per-stock rows have a
   like-for-like comparison.
3. **Yardstick** — :func:`tzero.research.yardstick.measure` (IC … CRPS, the
   50/5 and 30/3 books after A-share costs), then the gates
   (:func:`tzero.backtest.gates.judge`, "fail = block") on the 50/5 book's
   excess over the equal-weight benchmark with the DSR deflated by every row
   × book tried; the robustness matrix (:mod:`tzero.research.robustness`)
   downgrades a kept model negative in most cells to ``watch``.
4. **Stored** — verdicts in ``research_variant`` (strategy ``compare``: a
   model blocked here and everywhere else it was researched stops voting in
   served signals, :func:`tzero.backtest.gates.blocked_models`), the whole
   result in ``research_compare_run`` (:mod:`tzero.research.compare_store`),
   and the sample's scores as Parquet next to the store.

Forecasts are cached per model (:func:`cache_key`: model, code, settings and
data range), so a second run — or a new metric — does not refit.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.backtest import gates, metrics
from tzero.backtest.costs import CostModel
from tzero.backtest.scores import BENCHMARK_CODE, raw_with_factor
from tzero.backtest.xs_eval import (
    LABEL_GAP,
    baseline_scores,
    hfq_close_wide,
    tradeable_labels,
)
from tzero.data.model_runs import json_safe
from tzero.models import table
from tzero.research import robustness
from tzero.research.compare_fit import ModelScores, score_model
from tzero.research.yardstick import (
    BOOKS,
    gate_inputs,
    horizon_returns,
    index_returns,
    measure,
    sample_books,
)
from tzero.training.executor import Executor

log = logging.getLogger(__name__)

BASELINES = ("zero", "momentum", "reversal", "linear", "technical")
BASELINE_HORIZON = 5
"""Horizon (sessions) of the ``zero`` forecast's MSE / direction (the models' own)."""
SAMPLE_SIZE = 30
"""Members a per-stock model is fitted on with ``--fast``."""
Progress = Callable[[str], None]


def daily_models() -> list[str]:
    """The table's daily models that forecast (every family the comparison judges)."""
    return [s.name for s in table.specs(frequency="daily")]


def code_version() -> str:
    """``tzero <version>`` plus the git commit when the package runs from a checkout."""
    import subprocess

    import tzero

    v = f"tzero {getattr(tzero, '__version__', '?')}"
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(tzero.__file__).parent, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{v} ({sha})" if sha else v


def _source_hash(cls) -> str:
    """Hash of the source files of ``cls`` and its tzero base classes (cache invalidation)."""
    h = hashlib.sha1()
    for k in cls.__mro__:
        if k.__module__.startswith("tzero"):
            try:
                h.update(Path(inspect.getsourcefile(k) or "").read_bytes())
            except (OSError, TypeError):
                pass
    return h.hexdigest()[:12]


def cache_key(spec, **parts) -> str:
    """Key of a model's cached forecasts: name, source, and every setting that changes them."""
    blob = json.dumps({"model": spec.name, "src": _source_hash(spec.cls), **parts},
                      sort_keys=True, default=str)
    return f"{spec.name}-{hashlib.sha1(blob.encode()).hexdigest()[:16]}"


def _cached(cache_dir: Path | None, key: str) -> ModelScores | None:
    if cache_dir is None or not (cache_dir / f"{key}.parquet").exists():
        return None
    meta = json.loads((cache_dir / f"{key}.json").read_text())
    return ModelScores(meta["name"], meta["horizon"], pd.read_parquet(cache_dir / f"{key}.parquet"),
                       meta["fits"], meta["fit_seconds"], meta["predict_seconds"],
                       meta["n_sessions"], meta["errors"])


def _store_cache(cache_dir: Path | None, key: str, ms: ModelScores) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.parquet.tmp"
    ms.long.to_parquet(tmp, index=False)
    meta = {"name": ms.name, "horizon": ms.horizon, "fits": json_safe(ms.fits),
            "fit_seconds": ms.fit_seconds, "predict_seconds": ms.predict_seconds,
            "n_sessions": ms.n_sessions, "errors": ms.errors}
    (cache_dir / f"{key}.json").write_text(json.dumps(meta))
    tmp.replace(cache_dir / f"{key}.parquet")


def pick_sample(members: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` stocks with the most member sessions in ``members`` (ties by code)."""
    days = members.sum(axis=0)
    days = days[days > 0]
    order = sorted(days.index, key=lambda c: (-int(days[c]), c))
    return sorted(order[:n])


# ----------------------------------------------------------------------------- curves
def _curve(x: pd.Series) -> list:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in x.to_numpy(float)]


def _curves(series: dict, dates: pd.DatetimeIndex) -> dict:
    out: dict = {}
    d = series.get("daily_ic")
    if d is not None:
        out["cum_rank_ic"] = _curve(d["rank_ic"].reindex(dates).fillna(0.0).cumsum())
        out["cum_ic"] = _curve(d["ic"].reindex(dates).fillna(0.0).cumsum())
    for k, run in series.items():
        if k.startswith("book_"):
            r = run.returns.reindex(dates).fillna(0.0)
            out[f"equity_{k[5:]}"] = _curve((1.0 + r).cumprod())
            out[f"excess_{k[5:]}"] = _curve(run.excess.reindex(dates).fillna(0.0).cumsum())
    return out


# ----------------------------------------------------------------------------- the run
def technical_wide(close: pd.DataFrame) -> pd.DataFrame:
    """The spec-004 §3.8 RSI/MACD rules' expected 5-session return of every stock and session
    (:func:`tzero.registry.flow.technical_history` on each stock's own bars, data ≤ t)."""
    from tzero.registry.flow import technical_history

    cols = {}
    for code in close.columns:
        c = close[code].dropna()
        if len(c):
            cols[code] = pd.Series(technical_history(c.to_numpy())["expected_return"].to_numpy(),
                                   index=c.index)
    return pd.DataFrame(cols).reindex(index=close.index, columns=close.columns)


def _baseline_rows(close: pd.DataFrame, volume: pd.DataFrame | None, fit_end, members_all,
                   days: pd.DatetimeIndex) -> dict[str, dict]:
    base = baseline_scores(close, fit_end=fit_end, volume_wide=volume, membership=members_all)
    zero = pd.DataFrame(0.0, index=days, columns=close.columns)
    tech = technical_wide(close).reindex(days)
    return {"zero": {"scores": None, "expected": zero, "horizon": BASELINE_HORIZON},
            **{k: {"scores": v.reindex(days), "expected": None, "horizon": BASELINE_HORIZON}
               for k, v in base.items()},
            "technical": {"scores": tech, "expected": tech, "horizon": BASELINE_HORIZON}}


def run_compare(Session_, store, settings, universe: str = "CSI_300", *,
                models: list[str] | None = None, start="2019-01-02", end=None, fast: bool = True,
                refit: str | None = None, sample_size: int | None = None, use_cache: bool = True,
                n_jobs: int = 1, progress: Progress | None = None, save: bool = True,
                meta: bool = True, executor: Executor | None = None) -> dict:
    """Compare every model (or ``models``) and the baselines on ``universe`` over ``start..end``.

    Args:
        Session_: app-store session factory. store: the market store.
        settings: :class:`tzero.settings.Settings` (costs, seed, home, data dirs).
        universe: a universe name (``tzero universe list``).
        models: table names (None: every daily model, :func:`daily_models`).
        start, end: first and last evaluated session (end None: the last stored
            session with a tradeable label, two before the last).
        fast: the models' quick configs. refit: ``none`` | ``yearly`` | ``monthly``
            (None: ``none`` with ``fast``, else ``yearly``).
        sample_size: members a per-stock model is fitted on (None: 30 with
            ``fast``, every member otherwise).
        use_cache: reuse cached forecasts (:func:`cache_key`).
        n_jobs: processes of the per-stock loop (without ``executor``).
        save: store verdicts, the run and the sample's scores.
        meta: meta-label each ranking model's entries (:mod:`tzero.research.compare_meta`).
        executor: where the per-stock fits run (:mod:`tzero.training.executor`; None:
            the local pool of ``n_jobs``). The forecasts, so the cache key, do not depend on it.

    Returns:
        The JSON-safe result: ``run_id, created_at, universe, code_version,
        data_range, settings, benchmark`` (curves), ``rows`` (one per model
        and baseline: ``name, kind, scope, members, metrics, sample_metrics,
        verdict {status, reasons}, gate, robustness, heat, curves, fit_seconds,
        predict_ms, fits, errors``), ``failed`` (models that could not be
        scored, with why) and ``notes``.

    Raises:
        TzeroError: unknown universe or model. StoreError: no bars.
        ValueError: no session in ``start..end``.
    """
    from tzero.registry.train import load_universe, store_sessions

    t_run = time.perf_counter()
    names = models or daily_models()
    specs = [table.get_spec(n) for n in names]
    refit = refit or ("none" if fast else "yearly")
    days = store_sessions(store)
    data = load_universe(Session_, store, universe, None, end, settings.data_dir, settings.tdx_dir)
    start = pd.Timestamp(start).normalize()
    last_ok = days[max(0, len(days) - 1 - LABEL_GAP)]
    end = min(pd.Timestamp(end).normalize(), last_ok) if end is not None else last_ok
    rng = days[(days >= start) & (days <= end)]
    if len(rng) == 0:
        raise ValueError(f"no stored session between {start.date()} and {end.date()}")
    members = data.members.reindex(index=rng, fill_value=False)
    have = set(data.panel["ts_code"].unique())            # members without bars are not scored
    members = members.loc[:, members.any(axis=0) & members.columns.isin(list(have))]
    n_sample = sample_size if sample_size is not None else (SAMPLE_SIZE if fast else 0)
    sample = pick_sample(members, n_sample) if n_sample else sorted(members.columns)
    codes = sorted(members.columns)
    bars = raw_with_factor(store, sorted(set(data.members.columns)), None, None)
    close = hfq_close_wide(bars)
    volume = hfq_close_wide(bars, "volume")
    idx_bars = store.query("bars_1d", "ts_code = ?", [BENCHMARK_CODE])
    index_ret = index_returns(idx_bars) if not idx_bars.empty else None
    labels = tradeable_labels(close)
    costs = CostModel.from_settings(settings)
    mem_universe = members.reindex(columns=close.columns.union(members.columns), fill_value=False)
    mem_sample = mem_universe.copy()
    mem_sample.loc[:, ~mem_sample.columns.isin(sample)] = False
    cache_dir = settings.home / "research" / "compare" / "cache" if use_cache else None
    note = progress or (lambda m: log.info(m))
    raw: dict[str, dict] = {}
    failed: dict[str, str] = {}
    for spec in specs:
        key = cache_key(spec, universe=universe, first=rng[0], last=rng[-1], refit=refit,
                        fast=fast, seed=settings.seed, data_last=days[-1],
                        sample=sample if spec.scope == "local" else None)
        ms = _cached(cache_dir, key)
        if ms is None:
            note(f"{spec.name}: fitting ({spec.scope}, refit {refit})")
            try:
                ms = score_model(spec, data, rng, days, refit=refit, fast=fast, seed=settings.seed,
                                 sample=sample if spec.scope == "local" else None, n_jobs=n_jobs,
                                 progress=note, executor=executor)
            except Exception as e:  # one model failing is that model's result, not the run's
                log.exception("compare: %s failed", spec.name)
                failed[spec.name] = f"{type(e).__name__}: {e}"
                note(f"{spec.name}: failed ({failed[spec.name]})")
                continue
            _store_cache(cache_dir, key, ms)
        else:
            note(f"{spec.name}: forecasts reused from the cache")
        raw[spec.name] = {"scores": ms.wide("score"), "expected": ms.wide("cum_mean"),
                          "quantiles": ms.quantiles(), "horizon": ms.horizon, "ms": ms,
                          "spec": spec}
    first_fit = days[int(days.searchsorted(rng[0])) - (BASELINE_HORIZON + 2)]
    for k, v in _baseline_rows(close, volume, first_fit, data.members, rng).items():
        raw[k] = v
    result = _judge(raw, labels=labels, close=close, volume=volume, bars=bars,
                    mem_universe=mem_universe, meta=meta,
                    mem_sample=mem_sample, sample=sample, costs=costs, index_ret=index_ret,
                    idx_bars=idx_bars, first_fit=first_fit, rng=rng, seed=settings.seed,
                    note=note)
    run_id = f"compare-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    result.update(
        run_id=run_id, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        universe=universe, code_version=code_version(),
        data_range={"first": str(days[0].date()), "last": str(days[-1].date())},
        settings={"start": str(rng[0].date()), "end": str(rng[-1].date()), "n_sessions": len(rng),
                  "refit": refit, "fast": fast, "seed": settings.seed, "gap": "horizon + 2",
                  "first_fit_end": str(first_fit.date()), "sample": sample,
                  "n_members": len(codes), "books": [b.__dict__ for b in BOOKS],
                  "sample_books": [b.__dict__ for b in sample_books(len(sample))],
                  "costs": costs.__dict__},
        failed=failed, seconds=round(time.perf_counter() - t_run, 1))
    result["notes"] = _notes(result, refit, fast, len(sample))
    result = json_safe(result)
    if save:
        from tzero.research.compare_store import save_run
        save_run(Session_, result, settings.home, _sample_scores(raw, sample, close, labels))
    return result


def _meta(scores, book, members, seed, **kw) -> tuple[dict, dict]:
    """:func:`tzero.research.compare_meta.meta_book`, its failure recorded instead of raised."""
    from tzero.research.compare_meta import meta_book

    try:
        return meta_book(scores, book=book, members=members, seed=seed, **kw)
    except ValueError as e:
        return {"error": str(e)}, {}


def _judge(raw: dict, *, labels, close, volume, bars, mem_universe, mem_sample, sample, costs,
           index_ret, idx_bars, first_fit, rng, seed, note, meta: bool = True) -> dict:
    """Measure every row, then gate, robustness and verdicts (two passes: the DSR needs all)."""
    rows, series_of = [], {}
    meta_series: dict[str, dict] = {}
    realised = {h: horizon_returns(close, h) for h in {v["horizon"] for v in raw.values()}}
    sbooks = sample_books(len(sample))
    for name, v in raw.items():
        spec = v.get("spec")
        local = spec is not None and spec.scope == "local"
        mem = mem_sample if local else mem_universe
        kw = dict(labels=labels, realised=realised[v["horizon"]], bars=bars, close=close,
                  costs=costs, index_ret=index_ret, expected=v["expected"],
                  quantiles=v.get("quantiles"))
        m, ser = measure(v["scores"], members=mem, books=sbooks if local else BOOKS, **kw)
        sm, _ = measure(v["scores"], members=mem_sample, books=sbooks, **kw)
        ms: ModelScores | None = v.get("ms")
        rows.append({"name": name, "kind": "model" if spec is not None else "baseline",
                     "scope": spec.scope if spec is not None else "baseline",
                     "members": _members_text(len(sample), ms) if local else "universe",
                     "probabilistic": bool(spec is not None and spec.cls.probabilistic),
                     "metrics": m, "sample_metrics": sm,
                     "book": ser["gate_book"].name if ser.get("gate_book") else None,
                     "sample_book": sbooks[0].name,
                     "fit_seconds": round(ms.fit_seconds, 1) if ms else None,
                     "predict_ms": round(ms.predict_ms, 2) if ms else None,
                     "fits": ms.fits if ms else [], "errors": ms.errors if ms else {}})
        series_of[name] = (v["scores"], ser, mem)
        if meta and ser.get("gate") is not None:
            rows[-1]["meta"], meta_series[name] = _meta(v["scores"], ser["gate_book"], mem, seed,
                                                        volume=volume, **kw)
        note(f"{name}: measured")
    n_trials = max(1, sum(1 for r in rows if r["name"] != "zero") * len(BOOKS) + len(meta_series))
    sharpes = [metrics.sharpe(s["gate"].excess)        # the trials' excess Sharpes (DSR's V)
               for s in [x[1] for x in series_of.values()] + list(meta_series.values())
               if s.get("gate") is not None]
    regimes = robustness.index_regimes(idx_bars, first_fit, rng[0], rng[-1], seed=seed) \
        if not idx_bars.empty else None
    for r in rows:
        scores, ser, mem = series_of[r["name"]]
        g = gate_inputs(ser, n_trials, sharpes)
        if g is None:
            r.update(gate=None, verdict={"status": "blocked",
                                         "reasons": ["no ranking: no top-k book to judge"]},
                     robustness=[], heat={})
            continue
        v = gates.judge(g, None)
        cells = robustness.matrix(scores, ser, bars=bars, close=close, members=mem, costs=costs,
                                  index_ret=index_ret, regimes=regimes)
        status, why = robustness.downgrade(v.status, cells)
        reasons = list(v.reasons) + ([why] if why else []) + _failed_stocks(r, len(sample))
        r.update(gate=g, verdict={"status": status, "reasons": reasons}, robustness=cells,
                 heat=robustness.heat(cells), curves=_curves(ser, rng))
        if r["name"] in meta_series:
            mg = gate_inputs(meta_series[r["name"]], n_trials, sharpes)
            # no gate metrics (the meta book failed): judged on no evidence, i.e. blocked
            mv = gates.judge(mg if mg is not None else {}, None)
            r["meta"].update(gate=mg, verdict={"status": mv.status, "reasons": list(mv.reasons)},
                             curves=_curves(meta_series[r["name"]], rng))
    _timing(rows, raw, bars=bars, sample=sample, rng=rng, costs=costs)
    bench = {"dates": [str(d.date()) for d in rng]}
    any_gate = next((s for _, s, m in series_of.values() if s.get("gate") is not None
                     and m is mem_universe), None)
    if any_gate is not None:
        run = any_gate["gate"]
        bench["equal_weight"] = _curve((1.0 + run.ew.reindex(rng).fillna(0.0)).cumprod())
        if run.index is not None:
            bench["csi300"] = _curve((1.0 + run.index.reindex(rng).fillna(0.0)).cumprod())
    if regimes is not None and len(regimes):
        bench["regime"] = [regimes.get(d) for d in rng]
    return {"rows": rows, "benchmark": bench, "n_trials": n_trials}


def _members_text(n_sample: int, ms: ModelScores | None) -> str:
    """``sample of 30``, or ``sample of 30 (28 scored)`` when some stocks failed."""
    bad = len(ms.errors) if ms is not None else 0
    return f"sample of {n_sample}" + (f" ({n_sample - bad} scored)" if bad else "")


def _failed_stocks(row: dict, n_sample: int) -> list[str]:
    """The verdict's honest note on a local model's stocks that could not be scored."""
    errors = row.get("errors") or {}
    if not errors:
        return []
    quoted = "; ".join(f"{c}: {e}" for c, e in list(errors.items())[:3])
    more = f"; {len(errors) - 3} more" if len(errors) > 3 else ""
    return [f"judged on {n_sample - len(errors)} of {n_sample} sample stocks: {len(errors)} "
            f"could not be fitted or forecast ({quoted}{more})"]


def _timing(rows: list[dict], raw: dict, *, bars, sample, rng, costs) -> None:
    """The timing family (:mod:`tzero.research.compare_timing`) of every row with a
    non-zero return forecast, judged by the gates; stored in each row's ``timing``."""
    from tzero.research.compare_timing import timing_metrics, timing_runs

    exp = {r["name"]: raw[r["name"]]["expected"] for r in rows
           if raw[r["name"]]["expected"] is not None and r["name"] != "zero"}
    if not exp:
        return
    runs = timing_runs(exp, bars.loc[bars["ts_code"].isin(sample)], sample, rng, costs)
    perf = timing_metrics(runs)
    for r in rows:
        m = perf.get(r["name"])
        if m is None:
            continue
        v = gates.judge(m, None)
        r["timing"] = {"metrics": {k: m[k] for k in ("annual_return", "total_return", "sharpe",
                                                      "max_drawdown", "n_trades", "fees",
                                                      "turnover", "psr", "dsr", "n_trials")},
                       "verdict": {"status": v.status, "reasons": list(v.reasons)},
                       "curve": _curve(runs[r["name"]]["returns"].reindex(rng).fillna(0.0)
                                       .cumsum())}


def _sample_scores(raw: dict, sample: list[str], close: pd.DataFrame,
                   labels: pd.DataFrame) -> pd.DataFrame:
    """The sample's scores and return forecasts of every row, long (for the per-stock A/B),
    with the realised ``horizon``-session return and the next tradeable return (model ``_market``)."""
    days = next((v["scores"].index for v in raw.values() if v["scores"] is not None), None)
    parts = []
    if days is not None:
        cols = [c for c in sample if c in close.columns]
        for col, w in (("realised", horizon_returns(close, BASELINE_HORIZON)),
                       ("next_return", labels)):
            x = w.reindex(index=days, columns=cols).stack().rename("value")
            x.index.names = ["as_of", "ts_code"]
            parts.append(x.reset_index().assign(model="_market", column=col))
    for name, v in raw.items():
        for col, w in (("score", v["scores"]), ("expected", v["expected"])):
            if w is None:
                continue
            x = w.reindex(columns=[c for c in sample if c in w.columns]).stack().rename("value")
            x.index.names = ["as_of", "ts_code"]
            parts.append(x.reset_index().assign(model=name, column=col))
    if not parts:
        return pd.DataFrame(columns=["as_of", "ts_code", "value", "model", "column"])
    return pd.concat(parts, ignore_index=True)


def _notes(result: dict, refit: str, fast: bool, n_sample: int) -> list[str]:
    st = result["settings"]
    return [
        f"walk-forward: refit {refit}; each fit ends horizon + 2 sessions before the sessions "
        f"it scores (first fit end {st['first_fit_end']}); {'quick' if fast else 'full'} configs",
        "IC / Rank IC: per session across members against close[t+2]/close[t+1]-1 (hfq), "
        "averaged; IRs = mean/std of the daily values, not annualised",
        "direction accuracy / MSE: the expected cumulative return over the model's horizon "
        "against the realised hfq return; CRPS from the q10..q90 quantiles (lower is better)",
        "books: TopkDropout 50/5 and 30/3, decide at t's close, fill at t+1's open, A-share "
        "fees, stamp duty, lots, limits, suspensions and T+1; excess over the members' "
        "equal-weight total return (excess_ew) and over the CSI 300 price index (excess_csi300)",
        f"gates on the 50/5 book's excess over equal weight after costs; DSR deflated over "
        f"{result['n_trials']} trials (rows x books); fail = block; robustness downgrades a "
        "kept model negative in most cells to watch",
        f"per-stock (local) models are fitted and judged on a sample of {n_sample} members (the "
        "most member sessions); every row's sample_metrics are on that sample "
        "(book " + ", ".join(b["name"] for b in st["sample_books"]) + ")",
        "fit_seconds / predict_ms: wall time on this machine (predict_ms per session, all stocks)",
        "timing: each sample stock held as a base position, cut to half when the row's "
        "expected 5-session return is more than 1 std below its own last 60 forecasts, "
        "restored when 1 std above, filled at t+1's open; return in excess of simply "
        "holding, after costs; gated like every row",
        "technical: the spec-004 RSI(14)/MACD(12,26,9) fallback rules served when no model "
        "can forecast, researched like a model",
    ]
