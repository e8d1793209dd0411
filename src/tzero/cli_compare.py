"""``tzero compare``: every model and baseline on one yardstick, judged and stored (spec 003 §3)."""

from __future__ import annotations

import os

import typer
from rich.table import Table

from tzero.cli import _print_json, _progress, _settings, _store, app, out
from tzero.errors import TzeroError
from tzero.fmt import count, num, pct
from tzero.training.executor import EXECUTOR_HELP, make_executor


def compare_table(res: dict) -> Table:
    """The comparison as a Rich table: one row per model/baseline, verdict last.

    Fixed decimals throughout (:mod:`tzero.fmt`). The gate book's ``ex/yr`` is the
    gate's own annual figure (:func:`tzero.backtest.gates.annual_return_text`, the
    number the verdict's reason quotes); the second book's is its mean excess × 242.
    """
    from tzero.backtest.gates import annual_return_text

    st = res["settings"]
    t = Table(title=f"{res['universe']} {st['start']}..{st['end']} ({st['n_sessions']} sessions, "
                    f"refit {st['refit']}; run {res['run_id']})")
    cols = ("model", "members", "Rank IC", "RICIR", "IC", "dir acc", "MSE ×1000", "CRPS",
            "50/5 ex/yr (gate)", "30/3 ex/yr", "ex CSI300", "maxDD", "Sharpe", "DSR", "turnover",
            "fit s", "ms/day", "verdict")
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in res["rows"]:
        m = r["metrics"]
        b = r.get("book") or "k50d5"
        gate = r.get("gate")
        t.add_row(r["name"], r["members"], num(m.get("rank_ic"), 4), num(m.get("rank_icir"), 3),
                  num(m.get("ic"), 4), pct(m.get("direction_accuracy"), 1),
                  num(None if m.get("mse") is None else m["mse"] * 1e3, 3),
                  num(m.get("crps"), 4), annual_return_text(gate) if gate else pct(None),
                  pct(m.get("k30d3_excess_ew_annual"), 2, sign=True),
                  pct(m.get(f"{b}_excess_csi300_annual"), 2, sign=True),
                  pct(m.get(f"{b}_max_drawdown"), 2), num(m.get(f"{b}_sharpe"), 2),
                  num((gate or {}).get("dsr"), 2), pct(m.get(f"{b}_turnover"), 2),
                  count(r.get("fit_seconds")), num(r.get("predict_ms"), 1),
                  f"{r['verdict']['status']}: {'; '.join(r['verdict']['reasons'])}")
    return t


@app.command()
def compare(universe: str = typer.Option("CSI_300", "--universe", help="universe to score"),
            models: str = typer.Option("all", "--models",
                                       help="all, or model names separated by commas"),
            start: str = typer.Option("2019-01-02", "--start", help="first evaluated session"),
            end: str = typer.Option(None, "--end", help="last evaluated session (default: the "
                                    "last one with a tradeable label)"),
            fast: bool = typer.Option(True, "--fast/--full", help="quick configs, one fit "
                                      "(default) or full configs refitted yearly"),
            refit: str = typer.Option(None, "--refit", help="none | yearly | monthly "
                                      "(default: none with --fast, yearly with --full)"),
            sample: int = typer.Option(None, "--sample", help="members a per-stock model is "
                                       "fitted on (default: 30 with --fast, all with --full)"),
            cache: bool = typer.Option(True, "--cache/--no-cache",
                                       help="reuse cached forecasts of an identical fit"),
            jobs: int = typer.Option(os.cpu_count() or 1, "--jobs",
                                     help="processes of the per-stock fits"),
            executor: str = typer.Option(None, "--executor", help=EXECUTOR_HELP),
            as_json: bool = typer.Option(False, "--json", help="print the whole result as JSON")
            ) -> None:
    """Every model of the table and the baselines on one walk-forward split, judged and stored.

    IC, ICIR, Rank IC, Rank ICIR, direction accuracy, MSE, CRPS, TopkDropout 50/5 and 30/3
    after A-share costs (excess over equal weight and CSI 300), max drawdown, Sharpe, PSR,
    DSR, turnover, fit and predict times; the gates' verdict with the robustness matrix and
    the meta-label filter. Blocked models stop voting in served signals.
    """
    from tzero.data.appdb import open_app_store
    from tzero.models import table
    from tzero.research.compare import BASELINES, daily_models, run_compare

    names = None if models.strip() in ("", "all") else [m.strip() for m in models.split(",")
                                                         if m.strip()]
    known = set(daily_models())
    for n in names or []:
        if n not in known:
            table.get_spec(n)          # an unknown name raises with the known ones listed
            raise TzeroError(f"--models: {n} is an intraday model; compare judges daily models "
                             f"({', '.join(sorted(known))})")
    if refit not in (None, "none", "yearly", "monthly"):
        raise TzeroError(f"--refit must be none, yearly or monthly, got {refit!r}")
    from tzero.market import calendar
    start_d = calendar.to_date(start, field="--start")
    end_d = calendar.to_date(end, field="--end") if end else None
    if sample is not None and sample < 2:
        raise TzeroError(f"--sample must be at least 2 stocks, got {sample}")
    s = _settings()
    ex = make_executor(s, jobs, executor)
    engine, Session = open_app_store(s.app_db_url)
    total = len(names or known) + len(BASELINES)
    try:
        with _progress(as_json) as pb:
            task = pb.add_task("compare", total=total)

            def note(msg: str) -> None:
                pb.update(task, description=f"compare: {msg}"[:90])
                if msg.endswith(": measured"):
                    pb.advance(task)

            res = run_compare(Session, _store(s), s, universe, models=names, start=start_d, end=end_d,
                              fast=fast, refit=refit, sample_size=sample, use_cache=cache,
                              n_jobs=jobs, progress=note, executor=ex)
    finally:
        engine.dispose()
        ex.close()
    if as_json:
        _print_json(res)
        return
    out.print(compare_table(res))
    for name, why in res["failed"].items():
        out.print(f"[yellow]{name} could not be scored:[/yellow] {why}")
    for r in res["rows"]:
        for code, why in (r.get("errors") or {}).items():
            out.print(f"{r['name']} {code} not scored: {why}", markup=False, soft_wrap=True)
