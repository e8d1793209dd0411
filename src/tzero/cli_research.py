"""Backtest and research commands: ``tzero backtest`` and ``tzero research report``.

``backtest`` runs one strategy's variants walk-forward and prints their
out-of-sample numbers and gate verdicts (nothing stored). ``research report``
runs every variant of both strategies on the shared data, stores the verdicts
(blocked models then stop voting in served signals) and writes the HTML report.
"""

from __future__ import annotations

import os

import typer
from rich.table import Table

from tzero.cli import _codes, _print_json, _settings, _store, app, err, out
from tzero.errors import TzeroError
from tzero.fmt import count, num, pct
from tzero.training.executor import EXECUTOR_HELP, make_executor

research_app = typer.Typer(no_args_is_help=True, help="Out-of-sample research: every variant, judged.")
app.add_typer(research_app, name="research")


def _verdict_table(title: str, rows: list[dict]) -> Table:
    """The variants' out-of-sample numbers and verdicts, one row each.

    ``return/yr`` is the one annual figure of each variant
    (:func:`tzero.backtest.gates.annual_return_text`, after costs): the number the
    return gate judged and its reason quotes, printed by the same formatter.
    ``total`` is the OOS return over the whole test period (not annualised).
    Percentages and ratios have fixed decimals (:mod:`tzero.fmt`).
    """
    from tzero.backtest.gates import annual_return_text

    t = Table(title=title)
    for c in ("series", "variant", "status", "trades", "return/yr", "total", "maxDD", "Sharpe",
              "PSR", "DSR", "fees CNY", "why"):
        t.add_column(c, overflow="fold")
    for r in rows:
        m = r["oos_metrics"]
        trades = m.get("round_trips", m.get("n_trades"))
        t.add_row(r["series"], r["variant"], r["verdict"].status, count(trades),
                  annual_return_text(m), pct(m.get("total_return"), 2, sign=True),
                  pct(m.get("max_drawdown"), 2), num(m.get("sharpe"), 2), num(m.get("psr"), 2),
                  num(m.get("dsr"), 2), count(m.get("fees", 0)), "; ".join(r["verdict"].reasons))
    return t


def _json_rows(rows: list[dict]) -> list[dict]:
    from tzero.backtest.gates import json_safe

    return [json_safe({k: v for k, v in r.items() if k not in ("equity", "benchmark_equity", "verdict")}
                   | {"status": r["verdict"].status, "reasons": r["verdict"].reasons}) for r in rows]


def _t0_rows(s, codes: list[str], start, end) -> list[dict]:
    from tzero.backtest import gates
    from tzero.data.bars import read_bars
    from tzero.research import failures
    from tzero.research import t0 as research_t0
    from tzero.research.run import run_t0_family

    series = []
    for code in codes:
        bars = read_bars(_store(s), [code], "1m", "none", start, end)
        if bars.empty:
            raise TzeroError(f"no 1-minute bars for {code} in the store between {start} and {end}: "
                             "ingest a TDX folder with minline/ or a minute CSV "
                             "(`tzero ingest table FILE --kind minute`)")
        series.append(research_t0.IntradaySeries(code, code, bars, "market store"))
    rows, skipped = run_t0_family(s, series=series)
    if skipped:
        raise TzeroError("; ".join(f"{x['label']}: {x['reason']}" for x in skipped))
    for r in rows:      # a failed window fit is said in the verdict (tzero.research.failures)
        r["verdict"] = failures.verdict(r, gates.judge(r["oos_metrics"], r.get("is_metrics")))
    return rows


@app.command()
def backtest(strategy: str = typer.Option(..., "--strategy", help="t0 | topk"),
             symbols: list[str] = typer.Option(None, "--symbols",
                                               help="t0: symbols with 1-minute bars in the store; "
                                                    "topk: restrict the CSI 300 universe"),
             start: str = typer.Option(None, "--start"), end: str = typer.Option(None, "--end"),
             score: str = typer.Option("all", "--score", help="topk: momentum | reversal | ridge | all"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Walk-forward backtest of one strategy's variants under A-share rules and costs (not stored)."""
    from tzero.backtest import gates
    from tzero.market import calendar
    from tzero.research.run import TOPK_KINDS, run_topk_family

    s = _settings()
    d0 = calendar.to_date(start, field="--start") if start else None
    d1 = calendar.to_date(end, field="--end") if end else None
    if strategy == "t0":
        if not symbols:
            raise TzeroError("--strategy t0 needs --symbols (stocks with 1-minute bars in the store)")
        rows = _t0_rows(s, _codes(symbols), d0, d1)
    elif strategy == "topk":
        kinds = TOPK_KINDS if score == "all" else (score,)
        if not set(kinds) <= set(TOPK_KINDS):
            raise TzeroError(f"--score must be one of {', '.join(TOPK_KINDS)} or all, got {score!r}")
        rows = run_topk_family(s, start=d0, end=d1, kinds=kinds,
                               universe=_codes(symbols) if symbols else None,
                               progress=None if as_json else lambda m: err.print(m))
        for r in rows:
            r["verdict"] = gates.judge(r["oos_metrics"], r.get("is_metrics"))
    else:
        raise TzeroError(f"--strategy must be t0 or topk, got {strategy!r}")
    if as_json:
        _print_json(_json_rows(rows))
    else:
        out.print(_verdict_table(f"{strategy} walk-forward, out of sample", rows))


def _latest_compare(s) -> dict | None:
    """The newest stored ``tzero compare`` result, or None when none was run."""
    from tzero.data.appdb import open_app_store
    from tzero.research.compare_store import get_run

    engine, Session = open_app_store(s.app_db_url)
    try:
        return get_run(Session)
    except TzeroError:
        return None
    finally:
        engine.dispose()


@research_app.command("report")
def research_report(strategies: str = typer.Option("t0,topk,daily", "--strategies",
                                                   help="comma-separated: t0, topk, daily"),
                    start: str = typer.Option(None, "--start", help="topk panel start"),
                    end: str = typer.Option(None, "--end", help="topk panel end"),
                    symbols: list[str] = typer.Option(None, "--symbols",
                                                      help="daily: the holdings (default: the "
                                                           "10 default holdings)"),
                    jobs: int = typer.Option(None, "--jobs", help="daily: (holding, window) "
                                             "fits at once (default: 2, or fewer cores)"),
                    executor: str = typer.Option(None, "--executor", help=EXECUTOR_HELP),
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """Run every variant, judge it (fail = block), store the verdicts, write the HTML report.

    A model fit that fails on one series in one window is recorded (one line each
    under the tables, ``failures`` in ``--json``) and the run goes on. ``--executor
    ray`` runs the daily family's (holding, window) fits as Ray tasks.
    """
    from tzero.market import calendar
    from tzero.research.run import run_research, write_outputs

    s = _settings()
    names = tuple(x.strip() for x in strategies.split(",") if x.strip())
    with make_executor(s, jobs or max(1, min(2, os.cpu_count() or 1)), executor) as ex:
        run = run_research(s, strategies=names,
                           start=calendar.to_date(start, field="--start") if start else None,
                           end=calendar.to_date(end, field="--end") if end else None,
                           codes=_codes(symbols) if symbols else None,
                           progress=None if as_json else lambda m: err.print(m), executor=ex)
    run.compare = _latest_compare(s)
    paths = write_outputs(run, s.reports_dir / "research")
    if as_json:
        _print_json({"run_id": run.run_id, "seconds": run.seconds, "skipped": run.skipped,
                     "failures": run.failures,
                     "report": str(paths["html"]), "variants": _json_rows(run.rows),
                     "compare": (run.compare or {}).get("run_id")})
        return
    for strategy in names:
        rows = [r for r in run.rows if r["strategy"] == strategy]
        if rows:
            out.print(_verdict_table(f"{strategy}: {len(rows)} variants (run {run.run_id})", rows))
    for sk in run.skipped:
        out.print(f"not researched: {sk['label']}: {sk['reason']}")
    for f in run.failures:
        window = "" if f["window"] is None else f" window {f['window']}"
        out.print(f"fit failed: {f['strategy']} {f['series']} {f['model']}{window}: {f['reason']}",
                  markup=False, soft_wrap=True)
    out.print(f"report: {paths['html']}\ndata:   {paths['json']}")


@app.command("predict-intraday")
def predict_intraday(symbol: str = typer.Argument(..., help="a symbol with 1-minute bars in the store"),
                     freq: str = typer.Option("5m", "--freq", help="5m | 15m | 30m"),
                     train_days: int = typer.Option(40, "--train-days", help="sessions the models fit on"),
                     as_of: str = typer.Option(None, "--as-of", help="bar time or date; default the last bar"),
                     as_json: bool = typer.Option(False, "--json")) -> None:
    """The intraday T+0 signal (horizon in bars): HMM filter, LSTM timing, ARIMA anchor.

    Models the latest research run blocked do not vote (listed as blocked).
    """
    from tzero.data.appdb import open_app_store
    from tzero.data.bars import read_bars
    from tzero.research.t0 import intraday_blocked
    from tzero.signals.engine import blocked_by_research
    from tzero.signals.intraday import latest_intraday_signal

    s = _settings()
    code = _codes([symbol])[0]
    bars = read_bars(_store(s), [code], "1m", "none")
    if bars.empty:
        raise TzeroError(f"no 1-minute bars for {code} in the store: ingest a TDX folder with "
                         "minline/ or a minute CSV (`tzero ingest table FILE --kind minute`)")
    engine, Session = open_app_store(s.app_db_url)
    try:
        blocked = intraday_blocked(blocked_by_research(Session))
    finally:
        engine.dispose()
    sig = latest_intraday_signal(bars, freq=freq, train_days=train_days, as_of=as_of,
                                 blocked=blocked, seed=s.seed)
    if as_json:
        _print_json(sig.to_dict())
    else:
        out.print(sig.explanation)
        if sig.blocked_models:
            for m, why in sig.blocked_models.items():
                out.print(f"  blocked {m}: {why}")
