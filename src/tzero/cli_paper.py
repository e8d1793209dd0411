"""``tzero paper``: paper trading on the live loop's signals (issue 13; spec 003 §8).

``start`` opens a run of one T+0 variant on some holdings; every ``tzero watch``
(live or ``--replay``) then trades its signals into the run's order log, filled
by the backtest's own rules and costs. ``stop`` ends it and stores its report;
``status`` lists the runs and where each variant stands at the paper gate (two
non-overlapping samples that pass the research gates); ``report`` shows one
run's P&L against holding, its round trips and its orders.
"""

from __future__ import annotations

import typer
from rich.table import Table

from tzero.cli import _codes, _print_json, _settings, app, out
from tzero.fmt import count, num, pct

paper_app = typer.Typer(no_args_is_help=True,
                        help="Paper trading on the live signals: start, stop, status, report.")
app.add_typer(paper_app, name="paper")


def _sessions():
    from tzero.data.appdb import open_app_store

    _, Session_ = open_app_store(_settings().app_db_url)
    return Session_


def _cny(x) -> str:
    return "-" if x is None or x != x else f"{x:,.2f}"


@paper_app.command("start")
def start(symbols: list[str] = typer.Option(..., "--symbols",
                                            help="holdings the run trades: 600009.SH,600519.SH"),
          rule: str = typer.Option("combined", "--rule",
                                   help="the T+0 variant traded (a name of `tzero research t0`)"),
          name: str = typer.Option("", "--name", help="a label for the run (default: the rule)"),
          base_value: float = typer.Option(None, "--base-value", metavar="CNY",
                                           help="CNY value of each base position at its first bar "
                                                "(default 100,000)"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Open a paper run: the next `tzero watch` signals of these holdings trade it."""
    from tzero.backtest.costs import CostModel
    from tzero.live.paper import start_run

    codes = _codes(symbols)
    cfg = {} if base_value is None else {"base_value_cny": base_value}
    run_id = start_run(_sessions(), name=name or rule, symbols=codes, rule=rule, config=cfg,
                       costs=CostModel.from_settings(_settings()))
    if as_json:
        _print_json({"run_id": run_id, "rule": rule, "symbols": codes})
        return
    out.print(f"paper run {run_id} started: {rule} on {', '.join(codes)}; "
              "`tzero watch` now trades its signals", highlight=False, soft_wrap=True)


@paper_app.command("stop")
def stop(run_id: str = typer.Argument(None, help="the run (default: the newest running one)"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop a running paper run and store its report (a sample for the paper gate)."""
    from tzero.live.paper import stop_run

    rep = stop_run(_sessions(), run_id)
    if as_json:
        _print_json(rep)
        return
    _print_report(rep)


def _runs_table(rows: list[dict]) -> Table:
    t = Table(title="paper runs, newest first")
    for c in ("run_id", "name", "rule", "status", "symbols", "first bar", "last bar",
              "T+0 P&L CNY", "fees CNY", "orders", "gate"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(r["run_id"], r["name"], r["rule"], r["status"], ",".join(r["symbols"]),
                  r["first_bar"] or "-", r["last_bar"] or "-", _cny(r["t0_pnl"]), _cny(r["fees"]),
                  count(r["orders"]), r["gate"])
    return t


@paper_app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every paper run, and where each variant stands at the paper gate (spec 003 §8)."""
    from tzero.live.paper import SAMPLES_NEEDED, gate_status, runs

    Session_ = _sessions()
    rows, gate = runs(Session_), gate_status(Session_)
    if as_json:
        _print_json({"runs": rows, "gate": gate})
        return
    if not rows:
        out.print("no paper runs yet: start one with `tzero paper start --symbols 600009.SH`",
                  highlight=False)
        return
    out.print(_runs_table(rows))
    g = Table(title=f"paper gate: {SAMPLES_NEEDED} non-overlapping samples that pass the research "
                    "gates before real money")
    for c in ("rule", "samples", "passing", "ready", "why"):
        g.add_column(c, overflow="fold")
    for r in gate:
        g.add_row(r["rule"], count(len(r["samples"])), count(r["passing"]),
                  "yes" if r["ready"] else "no", r["why"])
    out.print(g)


def _print_report(rep: dict) -> None:
    o = rep["orders"]
    out.print(f"paper run {rep['run_id']} ({rep['rule']}, {rep['status']}): "
              f"{rep['first_bar'] or '-'} to {rep['last_bar'] or '-'}", highlight=False, soft_wrap=True)
    out.print(f"T+0 P&L {_cny(rep['t0_pnl'])} CNY net of {_cny(rep['fees'])} CNY fees "
              f"({pct(rep['excess_return'], 3, sign=True)} of the base value) against holding "
              f"{_cny(rep['hold_pnl'])} CNY; {count(rep['round_trips'])} round trips; orders "
              f"{o['filled']} filled, {o['rejected']} rejected, {o['pending']} pending",
              highlight=False, soft_wrap=True)
    gate = rep["gate"]
    out.print(f"research gates on this sample: {gate['status']}"
              + (f" ({'; '.join(gate['reasons'])})" if gate["reasons"] else ""),
              highlight=False, soft_wrap=True)
    if not rep["order_log"]:
        out.print("no orders yet", highlight=False)
        return
    t = Table(title="orders")
    for c in ("ts_code", "placed at", "side", "shares", "status", "fill time", "price", "fees",
              "reason"):
        t.add_column(c, overflow="fold")
    for r in rep["order_log"]:
        t.add_row(r["ts_code"], r["placed_at"], r["side"], count(r["shares"]), r["status"],
                  r["fill_time"] or "-", num(r["price"], 3), _cny(r["fees"]), r["reason"])
    out.print(t)


@paper_app.command("report")
def report(run_id: str = typer.Argument(None, help="the run (default: the newest)"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """One paper run: T+0 P&L against holding, fees, round trips, and every order and fill."""
    from tzero.live.paper import report as paper_report

    rep = paper_report(_sessions(), run_id)
    if as_json:
        _print_json(rep)
        return
    _print_report(rep)
