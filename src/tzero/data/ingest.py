"""Ingestion: read a TDX folder or a table, validate, write the market store atomically.

Every ingest reads *all* its input first, validates it, and only then writes
the store in one atomic step (:meth:`MarketStore.write`). A structural error in
any file (bad size, bad encoding, missing column, date outside the calendar)
raises before anything is written; row-level problems are rejected rows with
reasons, counted in the summary. Ingesting the same input twice writes 0 rows
the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.data import quality, tables, tdx, tdx_ref
from tzero.data.store import MarketStore, WriteResult
from tzero.errors import DataFormatError
from tzero.market import calendar
from tzero.market.symbols import tdx_name

TABLE_KINDS = ("daily", "adj_factor", "minute", "trades")

Progress = Callable[[int, int], None]


@dataclass
class IngestSummary:
    """What one ingest did: files read, rows written/unchanged/rejected per dataset."""

    source: str
    files: int = 0
    written: dict[str, WriteResult] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Plain-data form for ``--json``."""
        return {
            "source": self.source,
            "files": self.files,
            "datasets": {
                k: {"rows_in": w.rows_in, "rows_written": w.rows_written,
                    "rows_unchanged": w.rows_unchanged,
                    "rows_rejected": sum(self.rejected.get(k, {}).values()),
                    "rejected_reasons": self.rejected.get(k, {})}
                for k, w in self.written.items()
            },
            "skipped": self.skipped,
        }


def _validate(frames: dict, summary: IngestSummary, name: str, bars: pd.DataFrame,
              source: str, daily: bool) -> None:
    v = quality.validate_bars(bars, source, daily=daily)
    frames[name] = v.accepted
    if not v.rejected.empty:
        summary.rejected[name] = v.reasons()


def _read_tdx_file(reader: Callable[[Path], pd.DataFrame], path: Path) -> pd.DataFrame:
    """Read one TDX binary file and check its dates per file, so an error names the file.

    The readers sort bars by time, so the position reported is the bar's in date order.
    """
    bars = reader(path)
    quality.check_calendar_range(bars["trade_time"], str(path), label="bar (in date order)")
    return bars


def _check_day_dates(daily: pd.DataFrame, tdx_dir: Path) -> None:
    """Raise CalendarError naming the ``.day`` file of the first bar dated outside XSHG.

    The bars of all files are read as one frame; this maps the offending bar back to
    its file so the message says which file to fix.
    """
    sess = calendar.all_sessions()
    t = daily["trade_time"]
    bad = (t < sess[0]) | (t >= sess[-1] + pd.Timedelta(days=1))
    if bad.any():
        code = daily.loc[bad.to_numpy(), "ts_code"].iloc[0]
        path = tdx_dir / "vipdoc" / code.split(".")[1].lower() / "lday" / f"{tdx_name(code)}.day"
        rows = daily.loc[daily["ts_code"] == code, "trade_time"]
        quality.check_calendar_range(rows, str(path), label="bar (in date order)")


def ingest_tdx(store: MarketStore, tdx_dir: Path, progress: Progress | None = None) -> IngestSummary:
    """Ingest a TDX client folder: ``vipdoc`` daily/minute bars and ``hq_cache`` reference files.

    Reads ``vipdoc/{sh,sz,bj}/lday/*.day`` → ``bars_1d``,
    ``vipdoc/*/minline/*.lc1`` → ``bars_1m``, ``vipdoc/*/fzline/*.lc5`` → ``bars_5m``,
    ``T0002/hq_cache/tdxhy.cfg`` + ``tdxzs3.cfg`` → ``industry``,
    ``T0002/hq_cache/base.dbf`` → ``shares``. TDX export text under
    ``T0002/export`` is forward-adjusted and is not mixed into the unadjusted
    store (it is reported as skipped; read it with :func:`tdx.read_export_txt`).

    Args:
        store: target store.
        tdx_dir: the TDX folder (the one holding ``vipdoc``).
        progress: called as ``progress(done, total)`` while reading files.

    Raises:
        DataFormatError: no ``vipdoc`` folder, or any file that breaks its format
            (the message names the file); nothing is written then.
    """
    tdx_dir = Path(tdx_dir)
    if not (tdx_dir / "vipdoc").is_dir():
        raise DataFormatError(f"{tdx_dir}: no vipdoc/ folder; point --tdx-dir at the TDX client folder")
    summary = IngestSummary(str(tdx_dir))
    day_files = tdx.scan_vipdoc(tdx_dir)
    lc1 = sorted(tdx_dir.glob("vipdoc/*/minline/*.lc1"))
    lc5 = sorted(tdx_dir.glob("vipdoc/*/fzline/*.lc5"))
    total = len(day_files) + len(lc1) + len(lc5)
    frames: dict[str, pd.DataFrame] = {}
    if day_files:
        daily = tdx.read_vipdoc_day(tdx_dir, progress=progress and (lambda d, t: progress(d, total)))
        _check_day_dates(daily, tdx_dir)
        _validate(frames, summary, "bars_1d", daily, "vipdoc/*/lday", True)
    for files, name in ((lc1, "bars_1m"), (lc5, "bars_5m")):
        if files:
            b = pd.concat([_read_tdx_file(tdx.read_lc, f) for f in files], ignore_index=True)
            _validate(frames, summary, name, b, f"vipdoc/*/{'minline' if name == 'bars_1m' else 'fzline'}", False)
    if progress:
        progress(total, total)
    hq = tdx_dir / "T0002" / "hq_cache"
    if (hq / "tdxhy.cfg").is_file():
        frames["industry"] = tdx_ref.read_industry(tdx_dir)
    if (hq / "base.dbf").is_file():
        frames["shares"] = tdx_ref.read_base_dbf(hq / "base.dbf")
    summary.skipped = [str(p.relative_to(tdx_dir)) + " (forward-adjusted export text)"
                       for p in sorted((tdx_dir / "T0002" / "export").glob("*.txt"))]
    summary.files = total + sum(1 for k in ("industry", "shares") if k in frames)
    for w in store.write(frames):
        summary.written[w.dataset] = w
    return summary


def validate_adj_factor(adj: pd.DataFrame, source: str) -> quality.Validated:
    """Reject adj_factor rows that are missing, non-positive or not finite.

    Raises:
        DataFormatError: missing columns or empty. CalendarError: dates outside the calendar.
    """
    quality.check_columns(adj, ["ts_code", "trade_date", "adj_factor"], source)
    if adj.empty:
        raise DataFormatError(f"{source}: no rows to ingest (empty file)")
    quality.check_calendar_range(adj["trade_date"], source)
    f = adj["adj_factor"].to_numpy(dtype=float)
    bad = ~np.isfinite(f) | (f <= 0) | adj["ts_code"].isna().to_numpy()
    rejected = adj.loc[bad].assign(reason="missing or non-positive adj_factor", source=source)
    return quality.Validated(adj.loc[~bad], rejected)


def validate_trades(tr: pd.DataFrame, source: str) -> quality.Validated:
    """Reject trades with a non-positive price or volume, or an unknown direction."""
    quality.check_columns(tr, ["ts_code", "trade_time", "price", "volume", "direction"], source)
    if tr.empty:
        raise DataFormatError(f"{source}: no rows to ingest (empty file)")
    quality.check_calendar_range(tr["trade_time"], source)
    bad = (tr["price"] <= 0) | (tr["volume"] <= 0) | ~tr["direction"].isin(["B", "S", "N"])
    rejected = tr.loc[bad].assign(reason="bad price, volume or direction", source=source)
    return quality.Validated(tr.loc[~bad], rejected)


def ingest_table(store: MarketStore, path: Path, kind: str) -> IngestSummary:
    """Ingest one Tushare-style table or intraday file.

    Args:
        store: target store.
        path: CSV, Parquet, or zipped CSV.
        kind: ``daily`` (→ bars_1d), ``adj_factor``, ``minute`` (→ bars_1m),
            ``trades``.

    Raises:
        ValueError: unknown kind. DataFormatError / CalendarError: bad input,
            naming the file and row; nothing is written then.
    """
    path = Path(path)
    if kind not in TABLE_KINDS:
        raise ValueError(f"--kind must be one of {TABLE_KINDS}, got {kind!r}")
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    summary = IngestSummary(str(path), files=1)
    frames: dict[str, pd.DataFrame] = {}
    if kind == "daily":
        _validate(frames, summary, "bars_1d", tables.read_daily_table(path), path.name, True)
    elif kind == "minute":
        _validate(frames, summary, "bars_1m", tables.read_minute_csv(path), path.name, False)
    elif kind == "adj_factor":
        v = validate_adj_factor(tables.read_adj_factor_table(path), path.name)
        frames["adj_factor"] = v.accepted
        if not v.rejected.empty:
            summary.rejected["adj_factor"] = v.reasons()
    else:
        tr = tables.read_trades_table(path)
        tr = tr.assign(seq=tr.groupby(["ts_code", "trade_time"]).cumcount().astype(np.int64))
        v = validate_trades(tr, path.name)
        frames["trades"] = v.accepted
        if not v.rejected.empty:
            summary.rejected["trades"] = v.reasons()
    for w in store.write(frames):
        summary.written[w.dataset] = w
    return summary
