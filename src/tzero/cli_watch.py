"""``tzero watch``: the live intraday loop over holdings (issue 13).

Live against a TDX HTTP API server (``--url`` or ``TZERO_TDX_API_URL``), or a
stored day replayed bar by bar (``--replay DATE --speed N``). Prints one line
per signal and a final summary; the signals go to the app store
(``live_signal``), where the page's live board and paper trading read them.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import typer

from tzero.cli import _print_json, _settings, _store, app, out
from tzero.errors import TzeroError
from tzero.fmt import pct

HOLDINGS_HELP = ("CSV of holdings: a header `ts_code[,shares]`, one holding a row (shares are "
                 "checked but not traded: paper runs have their own size)")


def read_holdings(path: Path) -> list[tuple[str, int | None]]:
    """Holdings of a ``ts_code[,shares]`` CSV (header row required), in file order.

    Raises:
        TzeroError: unreadable file, no ``ts_code`` column, a bad symbol or share count
            (names the file and row).
    """
    from tzero.market.symbols import to_ts_codes

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise TzeroError(f"--holdings {path}: cannot read ({exc.strerror})") from exc
    if not rows or "ts_code" not in (rows[0].keys()):
        raise TzeroError(f"--holdings {path}: expected a header row `ts_code[,shares]` and a holding")
    held: list[tuple[str, int | None]] = []
    for i, r in enumerate(rows, start=2):
        try:
            code = to_ts_codes([str(r.get("ts_code") or "").strip()])[0]
        except (TzeroError, IndexError) as exc:
            raise TzeroError(f"--holdings {path}:row {i}: ts_code: {exc}") from exc
        raw = str(r.get("shares") or "").strip()
        if raw and (not raw.isdigit() or int(raw) <= 0):
            raise TzeroError(f"--holdings {path}:row {i}: shares {raw!r} is not a positive integer")
        held.append((code, int(raw) if raw else None))
    return held


def _line(e: dict) -> str | None:
    """One printed line per loop event (None: not printed)."""
    kind = e["event"]
    if kind == "signal":
        pu = e.get("prob_up")
        return (f"{e['bar_time']} {e['ts_code']}  T+0 {e['t0_intensity']:<12} {e['plan']:<10} "
                f"P(up) {pct(pu, 0) if pu == pu else 'n/a':>4}  exp {pct(e.get('expected_return'), 2, sign=True)}"
                + (f"  paper orders {e['orders']}" if e.get("orders") else ""))
    if kind == "fit":
        extra = "; ".join(f"{m}: {why}" for m, why in {**e["errors"], **e["blocked"]}.items())
        return f"{e['day']} {e['ts_code']}: fitted {', '.join(e['models'])}" + (f" ({extra})" if extra else "")
    if kind == "stale":
        return f"data stale since {e['since']} UTC: {e['error']}"
    if kind == "recovered":
        return f"data source back after {e['stale_s']:.1f} s"
    if kind == "webhook" and not str(e["status"]).startswith(("sent", "no webhook")):
        return f"webhook {e['ts_code']} {e['bar_time']}: {e['status']}"
    return None


def _codes_of(symbols: list[str] | None, holdings: Path | None) -> list[str]:
    """The held ts_codes of ``--symbols`` or ``--holdings`` (exactly one of them).

    Raises:
        TzeroError: both or neither given, or a bad symbol / holdings file.
    """
    from tzero.market.symbols import to_ts_codes

    if symbols and holdings:
        raise TzeroError("give --symbols or --holdings, not both")
    if holdings:
        return [c for c, _ in read_holdings(holdings)]
    if symbols:
        return to_ts_codes(symbols)
    raise TzeroError("no holdings: pass --symbols 600009.SH or --holdings FILE")


def _check_minutes(store, codes: list[str]) -> None:
    """Every holding has 1-minute bars in the market store (the models' train history).

    Raises:
        TzeroError: the first holding without any, with how to ingest them.
    """
    for c in codes:
        n = store.query("bars_1m", "ts_code = ?", [c], columns="count(*) AS n",
                        order_by="1")["n"].iloc[0] if store.has("bars_1m") else 0
        if n == 0:
            raise TzeroError(f"{c}: no 1-minute bars stored: ingest a minute history first "
                             "(`tzero ingest table FILE --kind minute` or `tzero ingest tdx`)")


@app.command()
def watch(symbols: list[str] = typer.Option(None, "--symbols", help="held symbols: 600009.SH, sh600009 or 600009"),
          holdings: Path = typer.Option(None, "--holdings", help=HOLDINGS_HELP),
          freq: str = typer.Option("5m", "--freq", help="signal bar frequency: 5m 15m 30m 60m"),
          url: str = typer.Option(None, "--url", help="TDX HTTP API server (default TZERO_TDX_API_URL)"),
          train_days: int = typer.Option(40, "--train-days", min=1,
                                         help="sessions before each day the models fit on"),
          replay: str = typer.Option(None, "--replay", metavar="DATE",
                                     help="replay this stored session from the market store"),
          speed: float = typer.Option(0.0, "--speed", min=0.0,
                                      help="replay speed-up over wall time (0 = as fast as possible)"),
          workers: int = typer.Option(1, "--workers", min=1,
                                      help="processes the holdings' models run in (one core each)"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Watch holdings bar by bar: an intraday T+0 signal per holding at each bar's close.

    The models fit once per day on the --train-days sessions before it (1-minute
    bars from the market store: ingest them first), then forecast every bar from
    the bars up to its close. Live mode polls the TDX API server during XSHG
    sessions (waits through lunch and nights, survives the server going away);
    --replay DATE runs one stored day. Signals are stored for the page's live
    board; running paper runs (`tzero paper start`) trade them. Ctrl-C stops.
    """
    from tzero.data.appdb import open_app_store
    from tzero.live.sources import ApiSource, StoreReplaySource
    from tzero.live.watch import run_watch

    codes = _codes_of(symbols, holdings)
    s = _settings()
    store = _store(s)
    _check_minutes(store, codes)
    client = None
    if replay is not None:
        source = StoreReplaySource(store)
    else:
        base = url or s.tdx_api_url
        if not base:
            raise TzeroError("no TDX API server: pass --url http://HOST:PORT or set TZERO_TDX_API_URL "
                             "(or --replay DATE to replay a stored day)")
        from tzero.data.tdx_api import TdxApiClient
        client = TdxApiClient(base)
        source = ApiSource(client, store)
    _, Session_ = open_app_store(s.app_db_url)
    stop = threading.Event()

    def progress(e: dict) -> None:
        line = None if as_json else _line(e)
        if line:
            out.print(line, highlight=False, soft_wrap=True)

    try:
        summ = run_watch(s, Session_, codes, freq=freq, source=source, train_days=train_days,
                         speed=speed, replay_day=replay, stop=stop, on_progress=progress,
                         workers=workers)
    except KeyboardInterrupt:
        stop.set()
        raise typer.Exit(130) from None
    except ValueError as exc:
        raise TzeroError(str(exc)) from exc
    finally:
        if client is not None:
            client.close()
    d = summ.as_dict()
    if as_json:
        _print_json(d)
        return
    stale = sum(p["seconds"] for p in d["stale_periods"])
    out.print(f"watch {d['run_id']} {d['status']}: {d['signals']} signals "
              f"({', '.join(d['days'])}), {d['bars_skipped']} bars without trading, "
              f"{d['orders']} paper orders, {len(d['stale_periods'])} stale periods ({stale:.1f} s), "
              f"webhooks sent {d['webhooks']['sent']} failed {d['webhooks']['failed']}"
              + (f"; {len(d['errors'])} errors: {d['errors'][0]}" if d["errors"] else ""),
              highlight=False, soft_wrap=True)
