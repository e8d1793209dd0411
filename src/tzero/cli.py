"""Command line (Typer): ``tzero ingest|check|kline`` (model-core commands
``models|train|predict|evaluate|demo`` in :mod:`tzero.cli_models`, lifecycle
commands in :mod:`tzero.cli_lifecycle`, ``backtest`` and ``research`` in
:mod:`tzero.cli_research`, ``universe`` and ``static-features`` in
:mod:`tzero.cli_universe`).

Thin: parses options, calls the layers, prints. Every command that prints
results has ``--json``. Errors caused by input (:class:`tzero.errors.TzeroError`,
and ``ValueError`` from option parsing) print one line on stderr and exit 2;
nothing half-written is left behind by the layers below.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tzero.errors import TzeroError
from tzero.settings import Settings, get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="tzero: A-share forecasts and unified T+0 signals from your TDX data.")
ingest_app = typer.Typer(no_args_is_help=True, help="Write market data into the store.")
app.add_typer(ingest_app, name="ingest")
err = Console(stderr=True)
out = Console()


class _State:
    settings: Settings | None = None


@app.callback()
def _main(home: Path | None = typer.Option(None, "--home", help="TZERO_HOME (store, models, reports)")) -> None:
    _State.settings = get_settings(home=home)


def _settings(**kw) -> Settings:
    s = _State.settings or get_settings()
    return s.with_overrides(**kw)


def _store(s: Settings):
    from tzero.data.store import MarketStore
    return MarketStore(s.store_dir)


def _progress(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, disable=disable, transient=False)


def _finite(x):
    """``x`` with every non-finite float (NaN, ±inf, numpy or not) replaced by None."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.floating):
        return float(x) if np.isfinite(x) else None
    return x


def _print_json(obj) -> None:
    """Print ``obj`` as JSON; NaN / inf become null (no non-finite value is printed)."""
    sys.stdout.write(json.dumps(_finite(obj), ensure_ascii=False, indent=1, default=str,
                                allow_nan=False) + "\n")


def _summary_table(summary: dict) -> Table:
    t = Table(title=f"ingest {summary['source']}")
    for c in ("dataset", "rows in", "written", "unchanged", "rejected", "reasons"):
        t.add_column(c)
    for k, d in summary["datasets"].items():
        t.add_row(k, str(d["rows_in"]), str(d["rows_written"]), str(d["rows_unchanged"]),
                  str(d["rows_rejected"]), ", ".join(f"{r}: {n}" for r, n in d["rejected_reasons"].items()))
    return t


# ----------------------------------------------------------------------- ingest
@ingest_app.command("tdx")
def ingest_tdx_cmd(tdx_dir: Path = typer.Argument(None, help="TDX folder (holds vipdoc/); default TZERO_TDX_DIR"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Ingest a TDX client folder (.day, .lc1, .lc5, industry, base.dbf)."""
    from tzero.data.ingest import ingest_tdx
    s = _settings(tdx_dir=tdx_dir)
    if s.tdx_dir is None:
        raise TzeroError("no TDX folder: pass DIR or set TZERO_TDX_DIR")
    with _progress(as_json) as pb:
        task = pb.add_task("reading TDX files", total=None)
        summ = ingest_tdx(_store(s), s.tdx_dir, lambda d, t: pb.update(task, completed=d, total=t)).as_dict()
    _print_json(summ) if as_json else out.print(_summary_table(summ))


@ingest_app.command("table")
def ingest_table_cmd(file: Path = typer.Argument(..., help="CSV / Parquet / zipped CSV"),
                     kind: str = typer.Option(..., "--kind", help="daily | adj_factor | minute | trades"),
                     as_json: bool = typer.Option(False, "--json")) -> None:
    """Ingest one Tushare-style table or intraday file."""
    from tzero.data.ingest import ingest_table
    summ = ingest_table(_store(_settings()), file, kind).as_dict()
    _print_json(summ) if as_json else out.print(_summary_table(summ))


# ------------------------------------------------------------------------ check
@app.command()
def check(symbols: list[str] = typer.Option(None, "--symbols", help="limit to these symbols"),
          as_json: bool = typer.Option(False, "--json"),
          limit: int = typer.Option(20, help="findings listed per check (all with --json)"),
          strict: bool = typer.Option(False, help="exit 1 when anything is found")) -> None:
    """Check the store: OHLC, duplicate keys, calendar gaps, >20% moves, falling adj_factor."""
    from tzero.data import quality
    from tzero.market.symbols import to_ts_codes
    st = _store(_settings())
    if not st.has("bars_1d"):
        raise TzeroError("the market store is empty; run `tzero ingest tdx DIR` first")
    where, params = ("ts_code IN (SELECT unnest(?))", [to_ts_codes(symbols)]) if symbols else ("", [])
    bars = st.query("bars_1d", where, params)
    adj = st.query("adj_factor", where, params) if st.has("adj_factor") else pd.DataFrame()
    findings = quality.check_store_frames(bars, adj)
    by: dict[str, list] = {}
    for f in findings:
        by.setdefault(f.check, []).append(f.__dict__)
    if as_json:
        _print_json({"bars": len(bars), "symbols": int(bars["ts_code"].nunique()),
                     "counts": {k: len(v) for k, v in by.items()}, "findings": by})
    else:
        out.print(f"checked {len(bars):,} daily bars of {bars['ts_code'].nunique():,} symbols")
        for chk in ("ohlc", "duplicate", "gap", "move", "adj_factor_falls"):
            items = by.get(chk, [])
            out.print(f"[bold]{chk}[/bold]: {len(items)}")
            for f in items[:limit]:
                out.print(f"  {f['ts_code']} {f['trade_time']}  {f['detail']}")
    if strict and findings:
        raise typer.Exit(1)


# ------------------------------------------------------------------------ kline
@app.command()
def kline(ts_code: str = typer.Argument(...),
          freq: str = typer.Option("1d", help="1d 1m 5m 15m 30m 60m"),
          adjust: str = typer.Option("none", help="none qfq hfq"),
          start: str = typer.Option(None), end: str = typer.Option(None),
          fmt: str = typer.Option("csv", "--format", help="csv json")) -> None:
    """Print bars from the store: volume in shares, amount in CNY."""
    from tzero.data.bars import read_bars
    from tzero.market.symbols import to_ts_code
    if fmt not in ("csv", "json"):
        raise TzeroError(f"--format must be csv or json, got {fmt!r}")
    df = read_bars(_store(_settings()), [to_ts_code(ts_code)], freq, adjust, start, end)
    df["trade_time"] = pd.to_datetime(df["trade_time"]).dt.strftime("%Y-%m-%d %H:%M:%S" if freq != "1d" else "%Y-%m-%d")
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False, float_format="%.4f"))
    else:
        sys.stdout.write(df.to_json(orient="records", force_ascii=False, double_precision=6) + "\n")


# ------------------------------------------------------------------- modelling
def _codes(symbols: list[str] | None) -> list[str]:
    from tzero.market.symbols import to_ts_codes
    from tzero.signals.engine import DEFAULT_HOLDINGS
    return to_ts_codes(symbols) if symbols else list(DEFAULT_HOLDINGS)


_ARROW = {"up": "↑", "down": "↓", "flat": "→"}


def _fmt(x: float, spec: str) -> str:
    """A number for the table; NaN (no forecast served) as ``-``."""
    return "-" if x is None or x != x else format(x, spec)


def _abbrev(model: str) -> str:
    """Initials of a model's name parts: ``lstm_shared`` → ``LS``, ``arima`` → ``A``."""
    return "".join(p[0] for p in model.split("_") if p).upper()


def _signals_table(signals) -> Table:
    as_of = ", ".join(sorted({s.as_of for s in signals}))
    t = Table(title=f"unified signals as of {as_of}, 5 sessions ahead", pad_edge=False)
    for c in ("ts_code", "regime", "T+0", "plan", "E(r)", "±vol", "P(up)", "conf", "votes"):
        t.add_column(c, no_wrap=True)
    for s in signals:
        votes = " ".join([f"{_abbrev(m)}{_ARROW[v['direction']]}" for m, v in s.model_votes.items()]
                         + [f"{_abbrev(m)}✗" for m in s.blocked_models])
        t.add_row(s.ts_code, f"{s.regime} {s.regime_prob or 0:.0%}" if s.regime else "-",
                  s.t0_intensity, s.t0_plan, _fmt(s.expected_return, "+.2%"),
                  _fmt(s.expected_volatility, ".2%"), _fmt(s.prob_up, ".0%"),
                  f"{s.confidence:.2f}", votes)
    return t


def _register_lifecycle() -> None:
    from tzero import (  # noqa: F401  (register their commands on `app`)
        cli_compare,
        cli_lifecycle,
        cli_models,
        cli_research,
        cli_universe,
    )


def main() -> None:
    """Entry point: run the app, turning input errors into one line and exit code 2."""
    _register_lifecycle()
    try:
        rc = app(args=expand_list_options(sys.argv[1:]), prog_name="tzero", standalone_mode=False)
    except TzeroError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except Exception as exc:
        _click_error(exc)
        _database_error(exc)
        raise
    # standalone_mode=False: click *returns* the code of `typer.Exit(n)` (e.g. `check --strict`)
    sys.exit(rc if isinstance(rc, int) else 0)


LIST_OPTIONS = ("--symbols",)
"""Options that take many symbols: repeated, comma-separated or space-separated."""


def expand_list_options(argv: list[str]) -> list[str]:
    """``--symbols A B C`` → ``--symbols A --symbols B --symbols C`` (the form Typer parses).

    After a list option, every following token that parses as a symbol
    (:func:`tzero.market.symbols.to_ts_code`) is taken as one more value; the
    first token that does not (an option, a date, a path) ends the list. The
    repeated (``--symbols A --symbols B``) and comma (``--symbols A,B``) forms
    pass through unchanged.
    """
    from tzero.errors import SymbolError
    from tzero.market.symbols import to_ts_codes

    def is_symbols(tok: str) -> bool:
        if tok.startswith("-"):
            return False
        try:
            return bool(to_ts_codes([tok]))
        except SymbolError:
            return False

    out: list[str] = []
    i = 0
    while i < len(argv):
        out.append(argv[i])
        if argv[i] in LIST_OPTIONS and i + 1 < len(argv):
            out.append(argv[i + 1])          # the option's own value, whatever it is
            j = i + 2
            while j < len(argv) and is_symbols(argv[j]):
                out += [argv[i], argv[j]]
                j += 1
            i = j
            continue
        i += 1
    return out


def _click_error(exc: Exception) -> None:
    """A usage error (missing argument, unknown option or command): one line on stderr, exit 2.

    Typer vendors its own click, so the classes are matched by name along the
    MRO, never by ``isinstance`` against the ``click`` package. ``tzero`` with
    no command prints the help and exits 0; Ctrl-C (``Abort``) exits 1.
    """
    names = {k.__name__ for k in type(exc).__mro__}
    if "NoArgsIsHelpError" in names:
        ctx = getattr(exc, "ctx", None)
        sys.stdout.write((ctx.get_help() if ctx is not None else exc.format_message()) + "\n")
        sys.exit(0)
    if "ClickException" in names:
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        msg = " ".join(str(exc.format_message()).split())
        sys.stderr.write(f"error: {msg}{where}\n")
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    if "Abort" in names:
        sys.exit(1)


def _database_error(exc: Exception) -> None:
    """A database failure in the middle of a command: one line (password masked), exit 2.

    Connect-time failures are already :class:`TzeroError` (``open_app_store``);
    this covers a server that goes away or a lock that times out mid-command.
    Nothing half-written remains: every write is one transaction.
    """
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # pragma: no cover - SQLAlchemy is a core dependency
        return
    if isinstance(exc, DBAPIError):
        msg = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        err.print(f"[red]error:[/red] the app store failed mid-command ({type(exc.orig).__name__}: "
                  f"{msg}); nothing was half-written; check TZERO_DB_URL and the server, then retry")
        sys.exit(2)


if __name__ == "__main__":
    # run the importable module, not this `__main__` copy, so the lifecycle
    # commands (which import `tzero.cli`) register on the same `app`
    from tzero.cli import main as _main_of_module

    _main_of_module()
