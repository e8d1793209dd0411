"""Universe and static-feature commands (spec 000 §6.1/§6.2).

``tzero universe list|show NAME|members NAME --as-of D`` read
``model_universe_config`` and resolve members as of a date;
``tzero static-features build [--start D] [--end D]`` builds month-end rows of
``stock_static_features`` from the market store and the TDX reference files
and writes them. All use the app store at ``TZERO_DB_URL`` (SQLite in
``TZERO_HOME`` by default), migrated on open. An unknown universe name is one
line on stderr and exit code 2.
"""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd
import typer
from rich.table import Table

from tzero.cli import _print_json, _progress, _settings, _store, app, out
from tzero.errors import StoreError, TzeroError

universe_app = typer.Typer(no_args_is_help=True, help="Named stock universes (model_universe_config).")
static_app = typer.Typer(no_args_is_help=True, help="Static cross-sectional features per stock.")
app.add_typer(universe_app, name="universe")
app.add_typer(static_app, name="static-features")

#: Month-ends built by ``static-features build`` when no --start is given.
DEFAULT_MONTHS = 12


@contextmanager
def _app_session():
    """A session on the app store (migrated on open), committed on success."""
    from tzero.data.appdb import open_app_store
    engine, Session = open_app_store(_settings().app_db_url)
    try:
        with Session.begin() as s:
            yield s
    finally:
        engine.dispose()


def _spec_dict(spec) -> dict:
    return {"name": spec.name, "kind": spec.kind, "enabled": spec.enabled,
            "description": spec.description, "config": spec.config}


@universe_app.command("list")
def universe_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every configured universe: name, kind, enabled, description."""
    from tzero.data.universes import load_universes
    with _app_session() as s:
        specs = load_universes(s)
    if as_json:
        _print_json([_spec_dict(u) for u in specs])
        return
    t = Table(title="universes (model_universe_config)")
    for c in ("name", "kind", "enabled", "description"):
        t.add_column(c, overflow="fold")
    for u in specs:
        t.add_row(u.name, u.kind, "yes" if u.enabled else "no", u.description)
    out.print(t)


@universe_app.command("show")
def universe_show(name: str = typer.Argument(..., help="universe name, e.g. ALL_EQ_CLEAN"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """One universe's description and rules (config_json)."""
    import json

    from tzero.data.universes import get_universe
    with _app_session() as s:
        spec = get_universe(s, name)
    if as_json:
        _print_json(_spec_dict(spec))
        return
    out.print(f"[bold]{spec.name}[/bold] ({spec.kind}, {'enabled' if spec.enabled else 'disabled'})")
    out.print(spec.description)
    out.print(json.dumps(spec.config, ensure_ascii=False, indent=1), markup=False)


def _last_stored_session(store) -> pd.Timestamp:
    """Date of the newest daily bar in the store."""
    if not store.has("bars_1d"):
        raise StoreError("the market store holds no daily bars; run `tzero ingest tdx` first "
                         "or pass --as-of / --end")
    return store.last_session()


@universe_app.command("members")
def universe_members(name: str = typer.Argument(..., help="universe name"),
                     as_of: str = typer.Option(None, "--as-of",
                                               help="date (default: last session stored)"),
                     as_json: bool = typer.Option(False, "--json")) -> None:
    """Members of a universe as of a date (only data up to that date is used)."""
    from tzero.data.universes import get_universe, members_matrix
    from tzero.market import calendar
    s = _settings()
    store = _store(s)
    with _app_session() as sess:
        spec = get_universe(sess, name)
    day = calendar.to_date(as_of, field="--as-of") if as_of else _last_stored_session(store)
    res = members_matrix(spec, pd.DatetimeIndex([day]), store=store, data_dir=s.data_dir)
    codes = res.members(day)
    carried = res.carried_from.isoformat() if res.carried_from else None
    if as_json:
        _print_json({"universe": spec.name, "as_of": day.date().isoformat(), "count": len(codes),
                     "ts_codes": codes, "carried_from": carried, "notes": res.notes})
        return
    out.print(f"{spec.name} on {day.date()}: {len(codes)} members")
    out.print(" ".join(codes), markup=False)
    for note in res.notes:
        out.print(note, markup=False)


@static_app.command("build")
def static_build(start: str = typer.Option(None, "--start", help="first date (default: "
                                           f"{DEFAULT_MONTHS} month-ends back)"),
                 end: str = typer.Option(None, "--end", help="last date (default: last session stored)"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Build month-end static features (industry, size, volatility, liquidity) and store them."""
    from tzero.data.static_features import build_static_features, month_ends, write_static_features
    from tzero.market import calendar
    s = _settings()
    if s.tdx_dir is None:
        raise TzeroError("no TDX folder for tdxhy.cfg/base.dbf: set TZERO_TDX_DIR")
    store = _store(s)
    e = calendar.to_date(end, field="--end") if end else _last_stored_session(store)
    if start:
        days = month_ends(calendar.to_date(start, field="--start"), e)
    else:
        days = month_ends(e - pd.DateOffset(months=DEFAULT_MONTHS + 1), e)[-DEFAULT_MONTHS:]
    with _progress(as_json) as pb:
        task = pb.add_task(f"building static features for {len(days)} month-ends", total=None)
        frame = build_static_features(store, s.tdx_dir, days,
                                      progress=lambda d, t: pb.update(task, completed=d, total=t + 1))
        with _app_session() as sess:
            n = write_static_features(sess, frame)
        pb.update(task, completed=len(days) + 3, description=f"stored static features of {len(days)} month-ends")
    dates = sorted({d.isoformat() for d in frame["as_of_date"]}) if n else []
    if as_json:
        _print_json({"rows_written": n, "dates": dates,
                     "requested": [d.date().isoformat() for d in days]})
    elif n == 0:
        out.print("no stock has daily bars near the month-ends "
                  f"{', '.join(str(d.date()) for d in days) or '(none in range)'}; nothing written")
    else:
        out.print(f"wrote {n:,} rows of stock_static_features for {len(dates)} month-ends "
                  f"({dates[0]} .. {dates[-1]})")
