"""Lifecycle commands (spec 004): train-lstm, predict-lstm, update-accuracy, versions,
rollback, monitor, alerts, triggers, spec, schedule, replay, serve (the HTTP service).

They use the app store at ``TZERO_DB_URL`` (SQLite in ``TZERO_HOME`` by
default). If the database is unreachable every command fails with exit code 2
and a one-line message; no prediction is served without being logged (the
command fails loudly instead of queueing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from tzero.cli import _codes, _print_json, _progress, _settings, _store, app, out
from tzero.errors import TzeroError


def _db():
    from tzero.data.appdb import open_app_store
    return open_app_store(_settings().app_db_url)[1]


def _panel(codes, as_of=None):
    from tzero.market import calendar
    from tzero.signals.engine import load_panel
    d = calendar.to_date(as_of, field="--as-of") if as_of else None
    return load_panel(_store(_settings()), codes, end=d), d


def _as_of(panel: pd.DataFrame, d):
    return d if d is not None else pd.Timestamp(panel["trade_time"].max())


def _rows(title: str, rows: list[dict], cols: list[str]) -> Table:
    t = Table(title=title)
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in cols))
    return t


@app.command("train-lstm")
def train_lstm(symbols: list[str] = typer.Option(None, "--symbols"),
               mode: str = typer.Option("fast", help="full | fast | incremental"),
               as_of: str = typer.Option(None, "--as-of", help="train on data up to this date"),
               history: int = typer.Option(None, help="most recent sessions used"),
               jobs: int = typer.Option(os.cpu_count() or 1, help="symbols trained in parallel"),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """Train LSTM versions through the deploy gate (incremental: straight to current)."""
    from tzero.registry import lifecycle, versions
    S = _db()
    with S.begin() as s:
        versions.recover_interrupted(s)
    codes = _codes(symbols)
    panel, _ = _panel(codes, as_of)
    outs = lifecycle.train_batch(S, panel, codes, mode, "manual", _settings().seed, history, jobs,
                                 max_versions=_settings().max_versions)
    rows = [o.as_dict() for o in outs]
    _print_json(rows) if as_json else out.print(_rows("training runs", rows, [
        "symbol", "status", "training_type", "version_id", "deployed", "reason"]))


@app.command("predict-lstm")
def predict_lstm(symbols: list[str] = typer.Argument(...), as_of: str = typer.Option(None, "--as-of"),
                 no_fallback: bool = typer.Option(False, "--no-fallback"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Prediction flow of spec 004 §3.7: health check, LSTM → ARIMA → rules, logged."""
    from tzero.registry import flow
    from tzero.signals.engine import blocked_by_research
    S = _db()
    codes = _codes(symbols)
    panel, d = _panel(codes, as_of)
    blocked = blocked_by_research(S)
    with S.begin() as s:
        rows = [flow.predict_with_fallback(s, panel, c, _as_of(panel, d), not no_fallback,
                                           blocked=blocked).as_dict()
                for c in codes]
    _print_json(rows) if as_json else out.print(_rows("predictions (5 sessions)", rows, [
        "symbol", "predict_date", "direction", "magnitude", "prob_up", "source", "model_version_id"]))


@app.command("update-accuracy")
def update_accuracy(symbols: list[str] = typer.Option(None, "--symbols"),
                    as_of: str = typer.Option(None, "--as-of"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Back-fill accuracy of logged predictions whose t+5 close is known (spec 004 §3.9)."""
    from tzero.registry import monitoring
    S = _db()
    codes = _codes(symbols)
    panel, d = _panel(codes, as_of)
    with S.begin() as s:
        n = {c: monitoring.update_accuracy(s, panel, c, _as_of(panel, d)) for c in codes}
    if as_json:
        _print_json(n)
    else:
        out.print(_rows(f"accuracy records written as of {_as_of(panel, d).date()}",
                        [{"symbol": c, "records written": k} for c, k in n.items()],
                        ["symbol", "records written"]))


@app.command()
def versions(symbol: str = typer.Option(None, "--symbol", help="a ts_code or a universe name"),
             model: str = typer.Option(None, "--model", help="one model of `tzero models`"),
             runs: bool = typer.Option(False, "--runs"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Model versions of every model (status, current, kept) or, with --runs, the training runs."""
    from tzero.market.symbols import to_ts_code
    from tzero.models.table import get_spec
    from tzero.registry import lifecycle
    from tzero.registry import versions as v
    if model:
        get_spec(model)
    sym = (symbol if symbol.isupper() and "_" in symbol else to_ts_code(symbol)) if symbol else None
    with _db()() as s:
        rows = lifecycle.training_runs(s, sym) if runs else v.list_versions(s, model, sym)
    if as_json:
        _print_json(rows)
    elif runs:
        out.print(_rows("training runs", rows, ["id", "model", "symbol", "training_type",
                                                "trigger_type", "status", "deployed", "reason",
                                                "version_id"]))
    elif not rows:
        out.print("no model versions stored; train with `tzero train` or `tzero demo`")
    else:
        out.print(_rows("model versions", rows, ["version_id", "model", "symbol", "status",
                                                 "current", "kept", "data_end"]))


@app.command()
def rollback(version_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Serve a kept earlier version again."""
    from tzero.registry import versions as v
    with _db().begin() as s:
        row = v.rollback(s, version_id)
        res = {"symbol": row.symbol, "current": row.version_id}
    if as_json:
        _print_json(res)
    else:
        out.print(f"{res['symbol']}: now serving {res['current']}")


@app.command()
def monitor(symbol: str = typer.Option(None, "--symbol", help="one ts_code (default: every symbol)"),
            as_of: str = typer.Option(None, "--as-of", help="date (default: the last session in the store)"),
            as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """Monitoring status (spec 004 §3.10) with the performance-decay check (§3.11).

    ``as_of`` defaults to the newest session in the market store (the data's
    "today"), never the wall clock: a store ingested last Friday is monitored
    as of last Friday.
    """
    from tzero.market import calendar
    from tzero.market.symbols import to_ts_code
    from tzero.registry import monitoring
    day = calendar.to_date(as_of, field="--as-of") if as_of else _store(_settings()).last_session()
    if day is None:
        raise TzeroError("the market store holds no daily bars to monitor against; "
                         "run `tzero ingest tdx DIR` first or pass --as-of")
    with _db()() as s:
        res = monitoring.monitoring_status(s, to_ts_code(symbol) if symbol else None, day)
    if as_json:
        _print_json(res)
        return
    out.print(monitor_table(res))


def monitor_table(res: dict) -> Table:
    """The monitoring status as a two-column table (metric, value); nested dicts
    (validation metrics, the decay check) become one row per field."""
    t = Table(title=f"monitoring {res.get('symbol') or 'all symbols'} as of {res['as_of']}")
    t.add_column("metric")
    t.add_column("value", overflow="fold")
    for k, v in res.items():
        if k in ("symbol", "as_of"):
            continue
        if isinstance(v, dict):
            for a, b in v.items():
                if a != "symbol":
                    t.add_row(f"{k} · {a}".replace("_", " "), _shown(a, b))
        else:
            t.add_row(k.replace("_", " "), _shown(k, v))
    return t


def _shown(key: str, v) -> str:
    """One value of the monitor table: ``-`` for none, fixed decimals, accuracy in %."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1%}" if "accuracy" in key else f"{v:.4f}"
    return str(v)


@app.command()
def alerts(symbols: list[str] = typer.Option(None, "--symbols"), as_of: str = typer.Option(None, "--as-of"),
           fire: bool = typer.Option(False, "--fire", help="log and POST to TZERO_ALERT_WEBHOOK"),
           log: bool = typer.Option(False, "--log", help="show the alert log instead"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the five alerts of spec 004 §3.12; --fire logs them and calls the webhook."""
    from tzero.registry import monitoring
    S = _db()
    if log:
        with S() as s:
            rows = monitoring.alert_log(s)
    else:
        codes = _codes(symbols)
        panel, d = _panel(codes, as_of)
        day = _as_of(panel, d)
        with S.begin() as s:
            found = monitoring.check_alerts(s, codes, day)
            rows = (monitoring.fire_alerts(s, found, day, _settings().alert_webhook) if fire
                    else [a.__dict__ for a in found])
    _print_json(rows) if as_json else out.print(_rows("alerts", rows, ["alert_type", "symbol", "severity",
                                                                        "message", "webhook_status"]))


@app.command()
def triggers(symbols: list[str] = typer.Option(None, "--symbols"), as_of: str = typer.Option(None, "--as-of"),
             run: bool = typer.Option(False, "--run", help="train what is triggered"),
             mode: str = typer.Option("fast", help="training type for full triggers: full | fast"),
             jobs: int = typer.Option(os.cpu_count() or 1), as_json: bool = typer.Option(False, "--json")) -> None:
    """Training triggers of spec 004 §3.6 (monthly > quarterly > performance_decay > weekly)."""
    from tzero.registry import lifecycle
    from tzero.registry import triggers as trg
    S = _db()
    codes = _codes(symbols)
    panel, d = _panel(codes, as_of)
    day = _as_of(panel, d)
    with S() as s:
        rows = trg.check_triggers(s, codes, day)
    if run:
        for (ttype, name), syms in trg.training_batches(rows, mode).items():
            for o in lifecycle.train_batch(S, panel, syms, ttype, name, _settings().seed, None, jobs,
                                           max_versions=_settings().max_versions):
                next(r for r in rows if r["symbol"] == o.symbol)["run"] = o.as_dict()
    _print_json(rows) if as_json else out.print(_rows(f"triggers as of {day.date()}", rows,
                                                      ["symbol", "matched", "trigger", "training_type"]))


@app.command()
def spec(fmt: str = typer.Option("md", "--format", help="md | json")) -> None:
    """The LSTM training spec document, generated from the code's constants."""
    from tzero.registry.spec_doc import training_spec, training_spec_markdown
    if fmt not in ("md", "json"):
        raise TzeroError(f"--format must be md or json, got {fmt!r}")
    _print_json(training_spec()) if fmt == "json" else typer.echo(training_spec_markdown())


@app.command()
def replay(symbols: list[str] = typer.Option(None, "--symbols"),
           start: str = typer.Option("2022-06-01"), end: str = typer.Option("2023-02-24"),
           mode: str = typer.Option("fast", help="training type for full triggers: full | fast"),
           history: int = typer.Option(400, help="sessions per symbol the LSTM trains on"),
           jobs: int = typer.Option(os.cpu_count() or 1),
           out_dir: Path = typer.Option(None, "--out", help="default TZERO_HOME/reports/replay"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Walk the data day by day as if live: predict, back-fill, trigger, train, gate, alert.

    A symbol whose training or prediction fails on a day is recorded (one line
    each after the summary, ``failures`` in ``--json``) and the replay goes on.
    """
    from tzero.registry.replay import replay as run_replay
    from tzero.registry.replay import write_timeline
    s = _settings()
    codes = _codes(symbols)
    panel, _ = _panel(codes)
    with _progress(as_json) as pb:
        task = pb.add_task("replay", total=None)
        res = run_replay(_db(), panel, codes, start, end, mode, history, jobs, s.seed,
                         s.alert_webhook, max_versions=s.max_versions,
                         progress=lambda i, n, d: pb.update(task, completed=i, total=n, description=f"replay {d}"))
    jp, pp = write_timeline(res, out_dir or s.reports_dir / "replay")
    if as_json:
        _print_json(res["summary"])
    else:
        fails = res["summary"]["failures"]
        out.print({k: v for k, v in res["summary"].items() if k != "failures"})
        for f in fails:
            out.print(f"failed: {f['date']} {f['symbol']} {f['what']}: {f['reason']}",
                      markup=False, soft_wrap=True)
        out.print(f"timeline: {jp}\nchart:    {pp}")


@app.command()
def schedule(symbols: list[str] = typer.Option(None, "--symbols"),
             at: str = typer.Option("15:30", help="Asia/Shanghai time, Mon-Fri"),
             run_once: bool = typer.Option(False, "--run-once", help="run the job now and exit"),
             mode: str = typer.Option("fast")) -> None:
    """After the close (Asia/Shanghai): ingest, back-fill, triggers, training, predictions, alerts.

    Each run ingests the TDX folder first and skips a day already processed, so a
    weekend or holiday run never repeats Friday's training.
    """
    codes = _codes(symbols)

    def job() -> None:
        from sqlalchemy import func, select

        from tzero.data.appdb import PredictionLog
        from tzero.data.ingest import ingest_table, ingest_tdx
        from tzero.market import calendar
        from tzero.registry import versions as v
        from tzero.registry.replay import run_day
        st = _settings()
        today = pd.Timestamp.now(tz="Asia/Shanghai").tz_localize(None).normalize()
        if not run_once and not calendar.is_session(today):
            out.print(f"{today.date()} is not an XSHG session: nothing to do")
            return
        if st.tdx_dir is not None:  # today's bars first: the client has written them after the close
            ingest_tdx(_store(st), st.tdx_dir)
            if st.adj_factor_file:
                ingest_table(_store(st), st.adj_factor_file, "adj_factor")
        panel, _ = _panel(codes)
        d = pd.Timestamp(panel["trade_time"].max())
        S = _db()
        with S.begin() as s:
            v.recover_interrupted(s)
            done = s.scalar(select(func.count()).select_from(PredictionLog).where(
                PredictionLog.predict_date == d.date(), PredictionLog.symbol.in_(codes)))
        if done >= len(codes):
            out.print(f"{d.date()} was already processed (no new bars): nothing to do")
            return
        ev, pr = run_day(S, panel, codes, d, mode, None, os.cpu_count() or 1, st.seed,
                         st.alert_webhook, max_versions=st.max_versions)
        out.print({"date": str(d.date()), "events": len(ev), "predictions": len(pr)})

    if run_once:
        job()
        return
    sched = build_scheduler(job, at)
    out.print(f"scheduled Mon-Fri {at} Asia/Shanghai for {', '.join(codes)}; Ctrl-C to stop")
    sched.start()


def build_scheduler(job, at: str = "15:30"):
    """A blocking APScheduler running ``job`` Mon-Fri at ``at`` (HH:MM, Asia/Shanghai).

    Raises:
        TzeroError: ``at`` is not HH:MM.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    try:
        hh, mm = (int(x) for x in at.split(":"))
    except ValueError as exc:
        raise TzeroError(f"--at must be HH:MM (Asia/Shanghai), got {at!r}") from exc
    sched = BlockingScheduler(timezone="Asia/Shanghai")
    sched.add_job(job, CronTrigger(day_of_week="mon-fri", hour=hh, minute=mm, timezone="Asia/Shanghai"),
                  id="tzero-after-close")
    return sched


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="interface to listen on"),
          port: int = typer.Option(8000, help="TCP port")) -> None:
    """Run the HTTP service (API at /docs, web page at /lstm); POST routes need TZERO_API_TOKEN."""
    import uvicorn

    from tzero.service.app import create_app
    uvicorn.run(create_app(_settings()), host=host, port=port)
