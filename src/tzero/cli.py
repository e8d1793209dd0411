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
from typing import Protocol, cast

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tzero.cli_output import FORMATS, OutputConsole
from tzero.errors import TzeroError
from tzero.settings import Settings, get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="tzero: A-share forecasts and unified T+0 signals from your TDX data.")
ingest_app = typer.Typer(no_args_is_help=True, help="Write market data into the store.")
app.add_typer(ingest_app, name="ingest")
err = Console(stderr=True)
out = OutputConsole()
"""stdout of every command: tables follow ``tzero --format table|csv|json``."""


class _State:
    settings: Settings | None = None


@app.callback()
def _main(ctx: typer.Context,
          home: Path | None = typer.Option(None, "--home", help="TZERO_HOME (store, models, reports)"),
          fmt: str = typer.Option("table", "--format", envvar="TZERO_FORMAT",
                                  help=f"how tables print: {' | '.join(FORMATS)} (json also sets each "
                                       "command's --json)")) -> None:
    _State.settings = get_settings(home=home)
    out.set_format(fmt)
    if fmt == "json":
        _json_by_default(ctx.command)


def _json_by_default(cmd) -> None:
    """Make ``--json`` the default of every command below ``cmd`` (``tzero --format json``).

    Click parses a sub-command's options after the group's callback has run,
    so changing the defaults here applies to the command about to run.
    """
    for p in cmd.params:
        if "--json" in getattr(p, "opts", ()):
            p.default = True
    for sub in getattr(cmd, "commands", {}).values():
        _json_by_default(sub)


def _settings(**kw) -> Settings:
    s = _State.settings or get_settings()
    return s.with_overrides(**kw)


def _store(s: Settings):
    from tzero.data.market_store import open_market_store
    return open_market_store(s)


class _StepProgress(Progress):
    """Rich progress that can also draw one bar per named step of a long job.

    With ``lazy`` nothing is drawn until the first :meth:`step`, so an error
    found before any work starts prints no (empty) progress display.
    """

    lazy = False

    def __enter__(self) -> _StepProgress:
        if not self.lazy:
            self.start()
        return self

    def stop(self) -> None:
        """Stop drawing; nothing at all (not even rich's closing newline) if never started."""
        if self.live.is_started:
            super().stop()

    def step(self, name: str, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` on the bar of step ``name``, created on first use.

        ``total`` None draws a pulsing bar (size unknown) with its elapsed time;
        the protocol of :data:`tzero.data.ingest.Steps`.
        """
        if not self.live.is_started:
            self.start()
        ids = self.__dict__.setdefault("_step_ids", {})
        if name not in ids:
            ids[name] = self.add_task(name, total=total)
        self.update(ids[name], completed=done, total=total)


def _progress(disable: bool = False, lazy: bool = False) -> _StepProgress:
    """Progress bars on stderr (none with ``disable``, e.g. under ``--json``; drawn from the
    first :meth:`_StepProgress.step` with ``lazy``)."""
    pb = _StepProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=err, disable=disable, transient=False)
    pb.lazy = lazy
    return pb


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
    t = Table(title=f"ingest {summary['source']}", caption="\n".join(summary.get("notes", [])) or None)
    for c in ("dataset", "rows in", "written", "unchanged", "rejected", "reasons"):
        t.add_column(c)
    for k, d in summary["datasets"].items():
        t.add_row(k, str(d["rows_in"]), str(d["rows_written"]), str(d["rows_unchanged"]),
                  str(d["rows_rejected"]), ", ".join(f"{r}: {n}" for r, n in d["rejected_reasons"].items()))
    return t


# ----------------------------------------------------------------------- ingest
def _print_ingest(summ: dict, as_json: bool) -> None:
    """An ingest summary: JSON, or the table plus the rows ``--skip-bad-rows`` left out
    (plain lines: paths must not wrap)."""
    if as_json:
        _print_json(summ)
        return
    out.print(_summary_table(summ))
    for k, d in summ["datasets"].items():
        if d["bad_rows"]:
            sys.stdout.write(f"left out of {k} ({d['rows_rejected']:,} rows, --skip-bad-rows):\n")
            sys.stdout.write("".join(f"  {line}\n" for line in d["bad_rows"][:5]))
            if d["rows_rejected"] > 5:
                sys.stdout.write(f"  and {d['rows_rejected'] - 5:,} more (--json lists the first "
                                 f"{len(d['bad_rows'])})\n")


@ingest_app.command("tdx")
def ingest_tdx_cmd(tdx_dir: Path = typer.Argument(None, metavar="DIR",
                                                  help="TDX folder (holds vipdoc/); default TZERO_TDX_DIR"),
                   skip_bad_rows: bool = typer.Option(
                       False, "--skip-bad-rows",
                       help="write the good rows and report the bad ones (default: refuse the whole folder)"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Ingest a TDX client folder (.day, .lc1, .lc5, industry, base.dbf, gbbq).

    A row that cannot be stored (NaN/inf or implausible value, high below low,
    a date on no session, a date repeated with other values) refuses the whole
    folder: exit 2, store unchanged, the first rows at fault named as
    'file:record N: ...'. --skip-bad-rows writes the rest and lists them.
    """
    from tzero.data.ingest import ingest_tdx
    s = _settings(tdx_dir=tdx_dir)
    how = "pass the TDX client folder (the one holding vipdoc/) as `tzero ingest tdx DIR` or set TZERO_TDX_DIR"
    if s.tdx_dir is None:
        raise TzeroError(f"no TDX folder: {how}")
    if not (s.tdx_dir / "vipdoc").is_dir():  # checked before any progress bar is drawn
        given = "" if tdx_dir is not None else " (no DIR given: TZERO_TDX_DIR or <data root>/tdx)"
        what = "does not exist" if not s.tdx_dir.exists() else "holds no vipdoc/ folder"
        raise TzeroError(f"{s.tdx_dir}{given} {what}: {how}")
    with _progress(as_json, lazy=True) as pb:
        summ = ingest_tdx(_store(s), s.tdx_dir, skip_bad_rows=skip_bad_rows, steps=pb.step).as_dict()
    _print_ingest(summ, as_json)


@ingest_app.command("api")
def ingest_api_cmd(url: str = typer.Option(None, "--url", help="TDX API server; default TZERO_TDX_API_URL"),
                   symbols: list[str] = typer.Option(None, "--symbols",
                                                     help="600519.SH 000001.SZ | all (default: the store's)"),
                   freq: str = typer.Option("1d", "--freq", help="1d,1m,5m"),
                   adjust: str = typer.Option("none", "--adjust", help="none (qfq is applied on read)"),
                   start: str = typer.Option(None, "--start", help="first session kept"),
                   end: str = typer.Option(None, "--end", help="last session kept (default: today)"),
                   trades: bool = typer.Option(False, "--trades", help="also each session's trades"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Ingest unadjusted bars (and --trades) from a TDX HTTP API server, incrementally.

    Asks only for the bars after the store's last one per symbol and frequency;
    a second run writes 0 rows. A failed call or a bar that cannot be stored
    refuses the whole ingest: exit 2, store unchanged, route and bar named.
    """
    from tzero.data.ingest_api import ingest_api
    from tzero.data.tdx_api import TdxApiClient
    s = _settings(tdx_api_url=url)
    if not s.tdx_api_url:
        raise TzeroError("no TDX API server: pass --url http://HOST:PORT or set TZERO_TDX_API_URL")
    try:
        client = TdxApiClient(s.tdx_api_url)
    except ValueError as exc:
        raise TzeroError(f"--url: {exc}") from None
    with client, _progress(as_json, lazy=True) as pb:
        summ = ingest_api(_store(s), client, symbols or None, freq,
                          adjust=adjust, start=start, end=end, trades=trades, steps=pb.step).as_dict()
    _print_ingest(summ, as_json)


@ingest_app.command("table")
def ingest_table_cmd(file: Path = typer.Argument(..., help="CSV / Parquet / zipped CSV"),
                     kind: str = typer.Option(..., "--kind", help="daily | adj_factor | minute | trades"),
                     skip_bad_rows: bool = typer.Option(
                         False, "--skip-bad-rows",
                         help="write the good rows and report the bad ones (default: refuse the whole file)"),
                     as_json: bool = typer.Option(False, "--json")) -> None:
    """Ingest one Tushare-style table or intraday file.

    A row that cannot be stored refuses the whole file (exit 2, store
    unchanged, the first rows at fault named as 'file:row N: ...');
    --skip-bad-rows writes the rest and lists them.
    """
    from tzero.data.ingest import ingest_table
    with _progress(as_json, lazy=True) as pb:
        summ = ingest_table(_store(_settings()), file, kind, skip_bad_rows=skip_bad_rows,
                            steps=pb.step).as_dict()
    _print_ingest(summ, as_json)


# ------------------------------------------------------------------------ check
@app.command()
def check(symbols: list[str] = typer.Option(None, "--symbols", help="limit to these symbols"),
          as_json: bool = typer.Option(False, "--json"),
          limit: int = typer.Option(20, help="findings listed per check (all with --json)"),
          strict: bool = typer.Option(False, help="exit 1 when anything is found")) -> None:
    """Check the store: OHLC, duplicate keys, calendar gaps, >20% moves, falling adj_factor."""
    from tzero.data import quality
    from tzero.data.bars import read_adj_factor
    from tzero.market.symbols import to_ts_codes
    st = _store(_settings())
    if not st.has("bars_1d"):
        raise TzeroError("the market store is empty; run `tzero ingest tdx DIR` first")
    where, params = ("ts_code IN (SELECT unnest(?))", [to_ts_codes(symbols)]) if symbols else ("", [])
    bars = st.query("bars_1d", where, params)
    adj = read_adj_factor(st, sorted(pd.unique(bars["ts_code"])))  # Tushare's, else gbbq's
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
def kline(ts_code: str = typer.Argument(..., help="one symbol: 600519.SH, sh600519 or 600519 (see README: bare codes)"),
          freq: str = typer.Option("1d", help="1d 1m 5m 15m 30m 60m"),
          adjust: str = typer.Option("none", help="none qfq hfq"),
          start: str = typer.Option(None, help="first date (YYYY-MM-DD), inclusive"),
          end: str = typer.Option(None, help="last date (YYYY-MM-DD), inclusive"),
          fmt: str = typer.Option("csv", "--format", help="csv | json"),
          allow_empty: bool = typer.Option(False, "--allow-empty",
                                           help="exit 0 (header only / []) when the range holds no bars")) -> None:
    """Print bars from the store: volume in shares, amount in CNY.

    A symbol the store has no bars of at all exits 2 naming it; a range with
    no bars exits 2 ("no bars for … between … and …") unless ``--allow-empty``.
    """
    from tzero.data.bars import read_bars
    from tzero.market.symbols import to_ts_code
    if fmt not in ("csv", "json"):
        raise TzeroError(f"--format must be csv or json, got {fmt!r}")
    code = to_ts_code(ts_code)
    if ts_code.strip().isdigit() and code.endswith(".SZ") and code.startswith("000"):
        sys.stderr.write(f"note: bare {ts_code.strip()} is read as the Shenzhen stock {code}; "
                         f"write {code[:6]}.SH for the SSE index\n")
    st = _store(_settings())
    df = read_bars(st, [code], freq, adjust, start, end)
    if df.empty:
        _no_bars(st, code, ts_code, freq, start, end, allow_empty)
    df["trade_time"] = pd.to_datetime(df["trade_time"]).dt.strftime("%Y-%m-%d %H:%M:%S" if freq != "1d" else "%Y-%m-%d")
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False, float_format="%.4f"))
    else:
        sys.stdout.write(df.to_json(orient="records", force_ascii=False, double_precision=6) + "\n")


def _no_bars(st, code: str, typed: str, freq: str, start, end, allow_empty: bool) -> None:
    """Say why ``kline`` found nothing: an unknown symbol (exit 2) or an empty range.

    Raises:
        TzeroError: the store has no bars of ``code`` at all, or (without
            ``allow_empty``) none between ``start`` and ``end``.
    """
    dataset = "bars_1d" if freq == "1d" else "bars_1m"
    known = st.has(dataset) and int(st.query(dataset, "ts_code = ?", [code], columns="count(*) AS n",
                                             order_by="1")["n"].iloc[0]) > 0
    if not known:
        shown = code if typed.upper() == code else f"{typed!r} (read as {code})"
        raise TzeroError(f"no {freq} bars of {shown} in the store: not a symbol the ingested data holds "
                         "(check the code, or ingest it with `tzero ingest tdx DIR`)")
    if not allow_empty:
        raise TzeroError(f"no {freq} bars for {code} between {start or 'the first bar'} and "
                         f"{end or 'the last bar'} (pass --allow-empty to exit 0 with an empty result)")


# ------------------------------------------------------------------- modelling
def _codes(symbols: list[str] | None) -> list[str]:
    from tzero.market.symbols import to_ts_codes
    from tzero.signals.engine import DEFAULT_HOLDINGS
    return to_ts_codes(symbols) if symbols else list(DEFAULT_HOLDINGS)


_ARROW = {"up": "↑", "down": "↓", "neutral": "·"}


def _fmt(x: float | None, spec: str) -> str:
    """A number for the table in fixed decimals; NaN (no forecast served) as ``-``.

    Args:
        x: the value (decimal for percentages).
        spec: ``"+.2%"``-style: optional ``+`` (always signed), ``.N`` decimals,
            optional ``%`` (a percentage of a decimal), as :func:`tzero.fmt.pct` /
            :func:`tzero.fmt.num` print them (never an exponent).
    """
    from tzero.fmt import num, pct
    if x is None or x != x:
        return "-"
    sign, body = spec.startswith("+"), spec.lstrip("+").lstrip(".")
    if body.endswith("%"):
        return pct(x, int(body[:-1] or 0), sign=sign)
    return num(x, int(body.rstrip("f") or 0), sign=sign)


def _abbrev(model: str) -> str:
    """Initials of a model's name parts: ``lstm_shared`` → ``LS``, ``arima`` → ``A``."""
    return "".join(p[0] for p in model.split("_") if p).upper()


def _signals_table(signals) -> Table:
    """The unified signals as a Rich table: one row per holding.

    ``dir`` is the signal's ``direction`` as an arrow (↑ up, · neutral, ↓ down) and
    each vote's arrow (✗ blocked) its own, both by the one rule of
    :func:`tzero.signals.direction.direction`, never re-derived here. A plan whose
    side is not the forecast's is marked ``*`` and its reason printed under the
    table (:func:`tzero.signals.policy.plan_reason`).
    """
    from tzero.signals.direction import RULE
    as_of = ", ".join(sorted({s.as_of for s in signals}))
    reasons = [f"* {s.ts_code}: {s.plan_reason}" for s in signals if s.plan_reason]
    t = Table(title=f"unified signals as of {as_of}, 5 sessions ahead", pad_edge=False,
              caption="\n".join([f"dir, votes: ↑ up, · neutral, ↓ down, ✗ blocked; {RULE}",
                                  *reasons]), caption_justify="left")
    for c in ("ts_code", "regime", "T+0", "plan", "dir", "E(r)", "±vol", "P(up)", "conf", "votes"):
        t.add_column(c, no_wrap=True)
    for s in signals:
        votes = " ".join([f"{_abbrev(m)}{_ARROW.get(v.get('direction'), '?')}"
                          for m, v in s.model_votes.items() if "direction" in v]
                         + [f"{_abbrev(m)}✗" for m in s.blocked_models])
        plan = s.t0_plan + ("*" if s.plan_reason else "")
        t.add_row(s.ts_code, f"{s.regime} {_fmt(s.regime_prob or 0, '.0%')}" if s.regime else "-",
                  s.t0_intensity, plan, _ARROW[s.direction], _fmt(s.expected_return, "+.2%"),
                  _fmt(s.expected_volatility, ".2%"), _fmt(s.prob_up, ".1%"),
                  _fmt(s.confidence, ".2f"), votes)
    return t


def _register_lifecycle() -> None:
    from tzero import (  # noqa: F401  (register their commands on `app`)
        cli_compare,
        cli_lifecycle,
        cli_models,
        cli_paper,
        cli_research,
        cli_universe,
        cli_watch,
    )


JSON_HELP = "print the result as JSON (machine-readable; NaN/inf as null)"
"""Help text of every ``--json`` flag that does not say more itself."""


def build_command():
    """The click command tree of ``app`` with every command registered and help tidied.

    Flags (``--json``, ``--strict``, ``--help``) show no ``<bool>`` type
    placeholder, and a ``--json`` without its own help gets :data:`JSON_HELP`.
    Tidied here, once, so every command (in any ``cli_*`` module) gets it.
    """
    _register_lifecycle()
    root = typer.main.get_command(app)

    def tidy(cmd) -> None:
        for p in cmd.params:
            if getattr(p, "is_flag", False):
                p.metavar = ""
                if "--json" in p.opts and not p.help:
                    p.help = JSON_HELP
        cmd.get_help_option = lambda ctx, orig=cmd.get_help_option: _no_metavar(orig(ctx))
        for sub in getattr(cmd, "commands", {}).values():
            tidy(sub)

    tidy(root)
    return root


def _no_metavar(opt):
    """``opt`` (click's ``--help`` option, or None) without its ``<bool>`` placeholder."""
    if opt is not None:
        opt.metavar = ""
    return opt


def error_line(msg: str) -> None:
    """Write ``error: msg`` to stderr as one plain line (never wrapped at the terminal width).

    Rich's console wraps at 80 columns when stderr is not a terminal, which
    splits paths and numbers mid-word; errors are for scripts as much as people.
    A message that lists several rows at fault keeps its own line breaks.
    """
    sys.stderr.write("error: " + str(msg).strip() + "\n")
    sys.stderr.flush()


def main() -> None:
    """Entry point: run the app, turning input errors into one line and exit code 2."""
    try:
        rc = build_command()(args=expand_list_options(sys.argv[1:]), prog_name="tzero",
                             standalone_mode=False)
    except TzeroError as exc:
        error_line(str(exc))
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except ValueError as exc:
        error_line(str(exc))
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


class _ClickException(Protocol):
    """What :func:`_click_error` reads of a (vendored) ``click.ClickException``."""

    def format_message(self) -> str: ...


def _click_error(exc: Exception) -> None:
    """A usage error (missing argument, unknown option or command): one line on stderr, exit 2.

    Typer vendors its own click, so the classes are matched by name along the
    MRO, never by ``isinstance`` against the ``click`` package. ``tzero`` with
    no command prints the help and exits 0; Ctrl-C (``Abort``) exits 1.
    """
    names = {k.__name__ for k in type(exc).__mro__}
    click_exc = cast(_ClickException, exc)   # only used once a ClickException name matched
    if "NoArgsIsHelpError" in names:
        ctx = getattr(exc, "ctx", None)
        sys.stdout.write((ctx.get_help() if ctx is not None else click_exc.format_message())
                         + "\n")
        sys.exit(0)
    if "ClickException" in names:
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        msg = " ".join(str(click_exc.format_message()).split())
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
        error_line(f"the app store failed mid-command ({type(exc.orig).__name__}: {msg}); "
                   "nothing was half-written; check TZERO_DB_URL and the server, then retry")
        sys.exit(2)


if __name__ == "__main__":
    # run the importable module, not this `__main__` copy, so the lifecycle
    # commands (which import `tzero.cli`) register on the same `app`
    from tzero.cli import main as _main_of_module

    _main_of_module()
