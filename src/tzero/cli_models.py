"""Model-core commands: ``tzero models|train|predict|evaluate|demo`` (registered on :data:`tzero.cli.app`).

Every command reads the model table (:mod:`tzero.models.table`) and serves
from the one registry (:mod:`tzero.registry.versions`); none knows a model by
its name.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from tzero.cli import (
    _codes,
    _print_json,
    _progress,
    _settings,
    _signals_table,
    _store,
    app,
    err,
    out,
)
from tzero.errors import ModelError, TzeroError
from tzero.training.executor import EXECUTOR_HELP, check_executor_name, make_executor


def _task_progress(pb: Progress, task: TaskID) -> Callable[[str, int, int], None]:
    """A ``train_model`` progress callback ``(key, done, total)`` that moves ``task`` of ``pb``."""
    def update(key: str, done: int, total: int) -> None:
        pb.update(task, completed=done, total=total)
    return update


def _db(s):
    from tzero.data.appdb import open_app_store

    return open_app_store(s.app_db_url)


@app.command("models")
def models_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """The model table: every model with its scope, frequency and capabilities."""
    from tzero.models.table import specs
    rows = [m.as_dict() for m in specs()]
    if as_json:
        _print_json(rows)
        return
    t = Table(title="models (tzero.models.table)")
    cols = ("name", "scope", "frequency", "probabilistic", "ranking", "cross_sectional",
            "explains", "min_history", "votes", "requires", "description")
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(", ".join(r[c]) if isinstance(r[c], list) else str(r[c]) for c in cols))
    out.print(t)


def _published_table(rows) -> Table:
    t = Table(title="training runs")
    for c in ("model", "key", "status", "deployed", "version_id", "reason"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(r.model, r.key, r.status, str(r.deployed), r.version_id or "-", r.reason)
    return t


@app.command()
def train(symbols: list[str] = typer.Option(None, "--symbols", help="local models: the stocks"),
          model: str = typer.Option(None, "--model", help="one model of `tzero models`"),
          models: str = typer.Option(None, "--models", help="comma-separated (default: the demo's "
                                                            "models, the table's in_demo rows)"),
          universe: str = typer.Option(None, "--universe", help="global models: universe name"),
          start: str = typer.Option(None, help="first session of the training data"),
          end: str = typer.Option(None, help="last session of the training data"),
          fast: bool = typer.Option(True, "--fast/--full", help="quick config (default) or full"),
          lstm_history: int = typer.Option(None, help="per-stock LSTM: most recent sessions used"),
          jobs: int = typer.Option(os.cpu_count() or 1, help="local models: stocks fitted in parallel"),
          executor: str = typer.Option(None, "--executor", help=EXECUTOR_HELP),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Train models, gate them and make the ones that pass current (one registry).

    A stock whose fit fails is that stock's failed run (one line each under the
    table, ``status: failed`` with its ``reason`` in ``--json``); the others are
    trained, gated and stored. Exit code 1 when any run failed. ``--executor ray``
    fits the stocks of local models as Ray tasks (same seeds, same numbers).
    """
    from tzero.market import calendar
    from tzero.models import table
    from tzero.registry.train import train_model
    s = _settings()
    names = [model] if model else ([m.strip() for m in models.split(",") if m.strip()] if models
                                   else [x.name for x in table.specs(frequency="daily", votes=True)
                                         if x.in_demo])
    specs = [table.get_spec(n) for n in names]
    d0 = calendar.to_date(start, field="--start") if start else None
    d1 = calendar.to_date(end, field="--end") if end else None
    rows = []
    with make_executor(s, jobs, executor) as ex:
        engine, Session = _db(s)
        try:
            with _progress(as_json) as pb:
                for spec in specs:
                    task = pb.add_task(f"train {spec.name}", total=None)
                    codes = _codes(symbols) if spec.scope == "local" else None
                    rows += train_model(Session, _store(s), spec.name, symbols=codes,
                                        universe=universe or s.universe, fast=fast, seed=s.seed,
                                        start=d0, end=d1, history=lstm_history, n_jobs=jobs,
                                        max_versions=s.max_versions, data_dir=s.data_dir,
                                        tdx_dir=s.tdx_dir, progress=_task_progress(pb, task),
                                        executor=ex, unmet="record" if len(specs) > 1 else "raise")
        finally:
            engine.dispose()
    failed = [r for r in rows if r.status == "failed"]
    if as_json:
        _print_json([r.as_dict() for r in rows])
    else:
        out.print(_published_table(rows))
        _print_failed(failed, len(rows))
    if failed:
        raise typer.Exit(1)


def _print_failed(failed: list, total: int, console=None,
                  uncovered: tuple[str, ...] | list[str] = ()) -> None:
    """One line per failed training run, how many of ``total`` went through, and the
    holdings (``uncovered``) that got no signal because no model covers them."""
    console = console or out
    for r in failed:
        console.print(f"failed: {r.model} {r.key}: {r.reason}", markup=False, soft_wrap=True)
    if failed:
        console.print(f"{total - len(failed)} of {total} runs trained; a failed key keeps its "
                      "current version", markup=False)
    for code in uncovered:
        console.print(f"no signal: {code}: no model could be trained for it", markup=False)


@app.command()
def rank(model: str = typer.Option(None, "--model",
                                   help="a global ranking model (default: the table's `ranks` row)"),
         symbols: list[str] = typer.Option(None, "--symbols", help="holdings (flagged, t0_rank)"),
         as_of: str = typer.Option(None, "--as-of", help="session (default: last stored)"),
         top: int = typer.Option(20, "--top", help="stocks that get a weight suggestion"),
         as_json: bool = typer.Option(False, "--json", help="print the rows as JSON")) -> None:
    """Rank the universe by expected return over risk with weight suggestions (the current
    version of ``--model`` on ``TZERO_UNIVERSE``; the default is DeepAR, spec 000 §3.5)."""
    from tzero.market import calendar
    from tzero.models import table
    from tzero.registry.train import store_sessions
    from tzero.signals.engine import cross_section_panel, load_served
    from tzero.signals.rank import rank_stocks

    model = model or next(s.name for s in table.specs() if s.ranks)
    spec = table.get_spec(model)
    if spec.scope != "global" or not spec.cls.ranking:
        raise TzeroError(f"--model {model} does not rank a universe; use a global ranking model "
                         "(`tzero models`: scope global, ranking True)")
    s = _settings()
    store = _store(s)
    engine, Session = _db(s)
    try:
        try:
            served = load_served(Session, [], s.universe, names=[model])
        except ModelError as exc:
            raise TzeroError(f"no current {model} version for {s.universe}: train one with "
                             f"`tzero train --universe {s.universe} --model {model}` "
                             "(a refused version never serves)") from exc
        day = calendar.to_date(as_of, field="--as-of") if as_of else store_sessions(store)[-1]
        xs = cross_section_panel(Session, store, served, day, always=True, data_dir=s.data_dir)
    finally:
        engine.dispose()
    m = served.models[model][s.universe]
    fc = m.predict(xs, day)
    rows = rank_stocks(fc, _codes(symbols) if symbols else None, top=top)
    if as_json:
        _print_json(rows.astype(object).where(rows.notna(), None).to_dict("records"))
        return
    t = Table(title=f"{model} ({served.versions[model][s.universe]}) on {s.universe} as of "
                    f"{pd.Timestamp(day).date()}: {len(rows)} stocks")
    for c in rows.columns:
        t.add_column(c)
    for r in rows.head(max(top, 20)).itertuples(index=False):
        t.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r))
    out.print(t)


@app.command()
def predict(ts_codes: list[str] = typer.Argument(..., help="symbols"),
            as_of: str = typer.Option(None, "--as-of", help="prediction date (default: last session stored)"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Unified signals for the symbols from the registry's current versions (recorded in
    ``model_inference_run`` and ``quant_unified_signal``)."""
    from tzero.market import calendar
    from tzero.signals.engine import (
        blocked_by_research,
        cross_section_panel,
        load_panel,
        load_served,
        predict_signals,
        record_served,
    )
    s = _settings()
    d = calendar.to_date(as_of, field="--as-of") if as_of else None
    panel = load_panel(_store(s), _codes(ts_codes), end=d)
    engine, Session = _db(s)
    try:
        blocked = blocked_by_research(Session)
        served = load_served(Session, _codes(ts_codes), s.universe)
        xs = cross_section_panel(Session, _store(s), served, d or panel["trade_time"].max(),
                                 data_dir=s.data_dir)
        sigs = predict_signals(panel, served, d, blocked=blocked, cross_section=xs)
        record_served(Session, served, sigs)
    finally:
        engine.dispose()
    _print_json([x.to_dict() for x in sigs]) if as_json else out.print(_signals_table(sigs))


@app.command()
def evaluate(model: str = typer.Option(..., "--model", help="a daily model of `tzero models`"),
             symbols: list[str] = typer.Option(None, "--symbols", help="local models: the stocks"),
             universe: str = typer.Option(None, "--universe", help="score every member of a universe"),
             start: str = typer.Option(None, help="first evaluated session"),
             end: str = typer.Option(None, help="last evaluated session"),
             refit: str = typer.Option("none", help="universe: none | monthly"),
             fast: bool = typer.Option(True, "--fast/--full", help="quick config (default) or full"),
             lstm_history: int = typer.Option(None, help="per-stock LSTM: most recent sessions used"),
             jobs: int = typer.Option(os.cpu_count() or 1, help="local models: stocks fitted in parallel"),
             executor: str = typer.Option(None, "--executor", help=EXECUTOR_HELP),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Out-of-sample metrics of one model next to the naive baselines.

    With ``--universe``: fitted on data before ``--start`` (gap ≥ horizon), then
    every member scored on every session: IC, Rank IC, their IRs and the
    TopkDropout 50/5 excess return under A-share rules, next to momentum,
    reversal and a linear model.
    """
    from tzero.models import table
    spec = table.get_spec(model)
    if spec.frequency != "daily":
        raise TzeroError(f"--model {model} is an intraday model; use `tzero backtest --strategy t0`")
    if executor is not None:
        check_executor_name(executor)
    if universe:
        from tzero.backtest.xs_run import evaluate_universe_model
        s = _settings()
        engine, Session = _db(s)
        try:
            with _progress(as_json) as pb:
                task = pb.add_task(f"evaluating {model} on {universe}", total=None)
                res = evaluate_universe_model(Session, _store(s), spec, universe, start or "2019-01-02",
                                              end or "2023-02-24", refit=refit, fast=fast,
                                              seed=s.seed, data_dir=s.data_dir, tdx_dir=s.tdx_dir,
                                              progress=lambda d, t: pb.update(task, completed=d, total=t))
        finally:
            engine.dispose()
        _print_json(res) if as_json else out.print(_xs_table(model, universe, res))
        return
    with make_executor(_settings(), jobs, executor) as ex:
        _evaluate_local(spec, symbols, start or "2022-11-18", end or "2023-02-17", fast,
                        lstm_history, jobs, as_json, ex)


def _xs_table(model: str, universe: str, res: dict) -> Table:
    st = res["settings"]
    t = Table(title=f"{model} on {universe} {st['start']}..{st['end']} (fit ≤ {st['fit_end']}), "
                    f"{res['metrics']['n_dates']} dates")
    for c in ("score", "IC", "ICIR", "Rank IC", "Rank ICIR", "top-k excess/yr"):
        t.add_column(c)

    def f(x, spec=".4f"):
        return "-" if x is None else format(x, spec)
    for name, m in (("model", res["metrics"]), *res["baselines"].items()):
        t.add_row(name, f(m.get("ic")), f(m.get("icir"), ".3f"), f(m.get("rank_ic")),
                  f(m.get("rank_icir"), ".3f"), f(m.get("topk_excess_annual"), "+.2%"))
    return t


def _evaluate_local(spec, symbols, start, end, fast, lstm_history, jobs, as_json, ex) -> None:
    from tzero.backtest.evaluate import evaluate as run_eval
    from tzero.signals.engine import load_panel, make_model
    if spec.scope != "local" or spec.requires:
        raise TzeroError(f"--model {spec.name} is scored across a universe: pass --universe NAME")
    s = _settings()
    panel = load_panel(_store(s), _codes(symbols))
    with _progress(as_json) as pb:
        task = pb.add_task(f"evaluating {spec.name}", total=None)
        res = run_eval(lambda: make_model(spec.name, fast=fast, seed=s.seed, history=lstm_history),
                       panel, start, end, progress=lambda d, t: pb.update(task, completed=d, total=t),
                       fit_kwargs={"n_jobs": jobs, "executor": ex})
    res.pop("rows")
    if as_json:
        _print_json(res)
        return
    t = Table(title=f"{spec.name} out of sample {res['start']}..{res['end']} (fit ≤ {res['fit_end']}), "
                    f"n={res['n']}")
    for c in ("forecast", "accuracy", "F1", "MSE", "MAE", "IC", "Rank IC"):
        t.add_column(c)
    for name, m in (("model", res["metrics"]), ("naive zero", res["baselines"]["zero"]),
                    ("naive momentum", res["baselines"]["momentum"])):
        t.add_row(name, *(("–" if m.get(k) is None else f"{m[k]:.4f}")
                          for k in ("accuracy", "f1", "mse", "mae", "ic", "rank_ic")))
    out.print(t)


def _fresh_version(Session, name: str, key: str, max_age: timedelta) -> str | None:
    """The newest version of model ``name`` for ``key`` (a ts_code or a universe)
    when it was trained less than ``max_age`` ago, else None.

    Whatever the gate made of it: a version the gate refused an hour ago would
    be refused again (same data, same seed), so it is not retrained either.
    """
    from sqlalchemy import select

    from tzero.data.appdb import ModelVersion
    from tzero.registry import versions
    with Session() as s:
        row = s.scalars(select(ModelVersion).where(ModelVersion.model_name == name,
                                                   ModelVersion.symbol == key)
                        .order_by(ModelVersion.training_time.desc()).limit(1)).first()
        if row is not None and versions.now() - row.training_time < max_age:
            return row.version_id
    return None


REUSE_AGE = timedelta(days=1)
"""``tzero demo`` does not retrain a model whose newest version is younger (``--reuse``)."""


@app.command()
def demo(symbols: list[str] = typer.Option(None, "--symbols", help="holdings (default: 10 CSI 300 stocks)"),
         tdx_dir: Path = typer.Option(None, "--tdx-dir", help="TDX folder (default TZERO_TDX_DIR / ../shared/data/tdx)"),
         reuse: bool = typer.Option(True, "--reuse/--retrain",
                                    help="do not retrain a model whose newest version is less than a day old "
                                         "(--retrain: train every model again)"),
         as_json: bool = typer.Option(False, "--json", help="print the signals as JSON on stdout")) -> None:
    """The main job end to end: ingest, train the shared LSTM (fast) on the universe and the
    holdings' refinements, ARIMA and HMM through the gate, print signals from the registry.

    With ``--reuse`` (the default) a model whose newest version for a key (the
    universe, or a holding; deployed or refused) was trained less than
    :data:`REUSE_AGE` ago is not trained again, so a second demo the same day only ingests and predicts.

    A holding whose fit fails is that holding's failed run (one line each; also in
    ``reports/demo/training.json``, and on stderr with ``--json``); the others are
    served. A holding no model could be trained for gets no signal and is named.
    """
    from tzero.data.ingest import ingest_table, ingest_tdx
    from tzero.models import table
    from tzero.registry.train import train_model
    from tzero.report import write_report
    from tzero.signals.engine import (
        blocked_by_research,
        cross_section_panel,
        load_panel,
        load_served,
        predict_signals,
        record_served,
    )
    s = _settings(tdx_dir=tdx_dir)
    if s.tdx_dir is None or not s.tdx_dir.is_dir():
        raise TzeroError("no TDX folder found: pass --tdx-dir or set TZERO_TDX_DIR")
    codes = _codes(symbols)
    store = _store(s)
    t0 = time.perf_counter()
    timings: dict = {}
    engine, Session = _db(s)
    published = []
    reused: list[str] = []
    trained: set[str] = set()
    try:
        with _progress(as_json) as pb:
            summ = ingest_tdx(store, s.tdx_dir, steps=pb.step)
            if s.adj_factor_file:
                ingest_table(store, s.adj_factor_file, "adj_factor",
                             steps=lambda name, d, t: pb.step(f"adj_factor: {name}", d, t))
            timings["ingest_s"] = round(time.perf_counter() - t0, 1)
            t1 = time.perf_counter()
            for spec in table.specs(frequency="daily", votes=True):
                if not spec.in_demo:
                    continue         # e.g. the per-stock FULL_LSTM: trained on request
                keys = [s.universe] if spec.scope == "global" else codes
                stale = not reuse or bool(set(spec.requires) & trained)   # its base was retrained
                todo = [k for k in keys
                        if stale or not _fresh_version(Session, spec.name, k, REUSE_AGE)]
                reused += [f"{spec.name} {k}" for k in keys if k not in todo]
                if not todo:
                    continue         # every key has a version less than a day old
                trained.add(spec.name)
                task = pb.add_task(f"train {spec.name}",
                                   total=None if spec.scope == "global" else len(todo))
                published += train_model(
                    Session, store, spec.name, symbols=None if spec.scope == "global" else todo,
                    universe=s.universe, fast=True, seed=s.seed, n_jobs=os.cpu_count() or 1,
                    max_versions=s.max_versions, data_dir=s.data_dir, tdx_dir=s.tdx_dir,
                    progress=_task_progress(pb, task))
            timings["train_s"] = round(time.perf_counter() - t1, 1)
        panel = load_panel(store, codes)
        served = load_served(Session, codes, s.universe)
        xs = cross_section_panel(Session, store, served, panel["trade_time"].max(),
                                 data_dir=s.data_dir)
        sigs = predict_signals(panel, served, blocked=blocked_by_research(Session),
                               cross_section=xs, skip_uncovered=True)
        if not sigs:
            raise TzeroError("no holding could be trained: " + "; ".join(
                f"{p.model} {p.key}: {p.reason}" for p in published if p.status == "failed"))
        record_served(Session, served, sigs)
    finally:
        engine.dispose()
    rdir = s.reports_dir / "demo"
    rdir.mkdir(parents=True, exist_ok=True)
    (rdir / "signals.json").write_text(json.dumps([x.to_dict() for x in sigs], ensure_ascii=False, indent=1))
    (rdir / "training.json").write_text(json.dumps([p.as_dict() for p in published],
                                                   ensure_ascii=False, indent=1, default=str))
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    metrics = {f"{p.model} {p.key}": p.holdout for p in published if p.holdout}
    report = write_report(rdir / "report.html", sigs, {}, metrics,
                          {"as of": sigs[0].as_of, "symbols": ", ".join(codes),
                           "universe": s.universe,
                           "bars ingested (1d)": summ.written["bars_1d"].rows_in, **timings,
                           "versions served": ", ".join(served.version_ids())})
    failed = [p for p in published if p.status == "failed"]
    uncovered = sorted(set(codes) - {x.ts_code for x in sigs})
    if as_json:
        _print_json([x.to_dict() for x in sigs])
        _print_failed(failed, len(published), err, uncovered)   # stdout stays the signals' JSON
        return
    out.print(_signals_table(sigs))
    refused = [p for p in published if p.status != "failed" and not p.deployed]
    if refused:
        out.print(f"refused by the gate ({len(refused)}): " +
                  "; ".join(f"{p.model} {p.key}: {p.reason}" for p in refused[:6]))
    _print_failed(failed, len(published), out, uncovered)
    if reused:
        out.print(f"reused {len(reused)} version(s) trained less than a day ago "
                  f"(--retrain trains them again): {', '.join(reused[:6])}"
                  + (f" and {len(reused) - 6} more" if len(reused) > 6 else ""))
    out.print(f"signals: {rdir / 'signals.json'}\nreport:  {report}\n"
              f"time: ingest {timings['ingest_s']} s, training {timings['train_s']} s, "
              f"total {timings['total_s']} s\nversions: `tzero versions` lists the ones these signals name")
