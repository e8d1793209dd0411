"""Ingestion: read a TDX folder or a table, check every row, write the market store atomically.

Every ingest reads *all* its input first, checks it, and only then writes the
store in one atomic step (:meth:`MarketStore.write`). The policy (README
"Ingest: what is refused", :mod:`tzero.data.validation`):

* a **file-level** error (a ``.day`` whose name is no market code, a size that
  is not a multiple of 32 bytes, bytes that are not text, a missing column)
  refuses the input;
* a **row** error (unreadable, missing, non-finite or implausible value, OHLC
  inconsistency, a date on no session, a key repeated with different values)
  refuses the input by default, listing the first rows at fault as
  ``<file>:record N: …``; with ``skip_bad_rows`` the good rows are written and
  the bad ones reported in the summary.

Either way a refused ingest leaves the store unchanged. Ingesting the same
input twice writes 0 rows the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.data import gbbq, tables, tdx, tdx_ref, validation
from tzero.data.store import MarketStore, WriteResult
from tzero.data.validation import Checked
from tzero.errors import DataFormatError

TABLE_KINDS = ("daily", "adj_factor", "minute", "trades")

#: ``progress(done, total)`` over the whole ingest: one unit per file read, one
#: for checking the rows and one for writing the store.
Progress = Callable[[int, int], None]
#: ``steps(step, done, total)`` per step ("reading TDX files", "checking rows (N)",
#: "adj_factor from gbbq", "writing the store"); ``total`` is None while a
#: step's size is unknown (the bar pulses, its elapsed time runs).
Steps = Callable[[str, int, "int | None"], None]

STEP_READ_TDX = "reading TDX files"
STEP_READ_TABLE = "reading the table"
STEP_CHECK = "checking rows"
STEP_GBBQ = "adj_factor from gbbq"
STEP_WRITE = "writing the store"


@dataclass
class IngestSummary:
    """What one ingest did: files read, rows written/unchanged/rejected per dataset.

    Attributes:
        source: the folder or file ingested.
        files: files read.
        written: per dataset, the store's :class:`~tzero.data.store.WriteResult`.
        rejected: per dataset, rows left out per reason (``--skip-bad-rows``).
        bad_rows: per dataset, the first rows left out, as ``file:record N: …``.
        skipped: files not ingested, with why.
        factors_from_gbbq: symbols whose adj_factor came from TDX's gbbq file.
        notes: further lines for the user.
    """

    source: str
    files: int = 0
    written: dict[str, WriteResult] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    bad_rows: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    factors_from_gbbq: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Plain-data form for ``--json``."""
        names = list(self.written) + [k for k in self.rejected if k not in self.written]
        return {
            "source": self.source,
            "files": self.files,
            "datasets": {k: self._dataset(k) for k in names},
            "skipped": self.skipped,
            "factors_from_gbbq": self.factors_from_gbbq,
            "notes": self.notes,
        }

    def _dataset(self, k: str) -> dict:
        w = self.written.get(k)
        reasons = self.rejected.get(k, {})
        return {"rows_in": (w.rows_in if w else 0) + sum(reasons.values()),
                "rows_written": w.rows_written if w else 0,
                "rows_unchanged": w.rows_unchanged if w else 0,
                "rows_rejected": sum(reasons.values()),
                "rejected_reasons": reasons,
                "bad_rows": self.bad_rows.get(k, [])}


class _Reporter:
    """Feeds both progress protocols: whole-work units (:data:`Progress`) and steps (:data:`Steps`)."""

    def __init__(self, progress: Progress | None, steps: Steps | None, files: int) -> None:
        self.progress, self.steps = progress, steps
        self.files = files
        self.total = files + 2  # + checking + writing

    def update(self, step: str, done: int, total: int | None, units: int) -> None:
        """``done`` of ``total`` in ``step``; ``units`` of the whole work are done."""
        if self.progress:
            self.progress(units, self.total)
        if self.steps:
            self.steps(step, done, total)


def _record(summary: IngestSummary, checked: list[Checked], skip_bad_rows: bool) -> dict[str, pd.DataFrame]:
    """Apply the row policy; return the frames to write and note what was left out."""
    validation.enforce(checked, skip_bad_rows)
    frames = {}
    for c in checked:
        if c.n_bad:
            summary.rejected[c.dataset] = c.reasons
            summary.bad_rows[c.dataset] = [str(p) for p in c.problems]
        if len(c.accepted):
            frames[c.dataset] = c.accepted
    return frames


def _read_tdx(day_files: list[Path], lc: dict[str, list[Path]], tdx_dir: Path,
              rep: _Reporter) -> list[tuple[str, pd.DataFrame]]:
    """Read every bar file with its provenance (file order; nothing checked yet)."""
    out = []
    rep.update(STEP_READ_TDX, 0, rep.files, 0)
    if day_files:
        daily = tdx.read_vipdoc_day(tdx_dir, records=True,
                                    progress=lambda d, t: rep.update(STEP_READ_TDX, d, rep.files, d))
        out.append(("bars_1d", daily))
    done = len(day_files)
    for name, files in lc.items():
        parts = []
        for f in files:
            parts.append(tdx.read_lc(f, records=True))
            done += 1
            rep.update(STEP_READ_TDX, done, rep.files, done)
        if parts:
            out.append((name, pd.concat(parts, ignore_index=True)))
    return out


def _check(frames: list[tuple[str, pd.DataFrame]], rep: _Reporter, check: Callable[[str, pd.DataFrame], Checked]
           ) -> list[Checked]:
    """Check each dataset's rows, reporting rows done of all rows."""
    rows = sum(len(f) for _, f in frames)
    step = f"{STEP_CHECK} ({rows:,})"
    rep.update(step, 0, rows, rep.files)
    out, done = [], 0
    for name, f in frames:
        out.append(check(name, f))
        done += len(f)
        rep.update(step, done, rows, rep.files)
    return out


def ingest_tdx(store: MarketStore, tdx_dir: Path, progress: Progress | None = None, *,
               skip_bad_rows: bool = False, steps: Steps | None = None) -> IngestSummary:
    """Ingest a TDX client folder: ``vipdoc`` daily/minute bars and ``hq_cache`` reference files.

    Reads ``vipdoc/{sh,sz,bj}/lday/*.day`` → ``bars_1d``,
    ``vipdoc/*/minline/*.lc1`` → ``bars_1m``, ``vipdoc/*/fzline/*.lc5`` → ``bars_5m``,
    ``T0002/hq_cache/tdxhy.cfg`` + ``tdxzs3.cfg`` → ``industry``,
    ``T0002/hq_cache/base.dbf`` → ``shares``, ``T0002/hq_cache/gbbq`` →
    ``adj_factor_gbbq`` for the symbols without a Tushare ``adj_factor``
    (:func:`tzero.data.gbbq.factors_for_ingest`). TDX export text under
    ``T0002/export`` is forward-adjusted and is not mixed into the unadjusted
    store (it is reported as skipped; read it with :func:`tdx.read_export_txt`).

    Args:
        store: target store.
        tdx_dir: the TDX folder (the one holding ``vipdoc``).
        progress: ``progress(done, total)`` over the whole ingest (:data:`Progress`).
        skip_bad_rows: write the good rows and report the bad ones instead of
            refusing the folder (module docstring).
        steps: ``steps(step, done, total)`` per step (:data:`Steps`).

    Raises:
        DataFormatError: no ``vipdoc`` folder, a file that breaks its format or
            whose name is no market code (the message names the file), or
            (without ``skip_bad_rows``) :class:`~tzero.data.validation.BadRowsError`
            listing the rows at fault; nothing is written then.
    """
    tdx_dir = Path(tdx_dir)
    if not (tdx_dir / "vipdoc").is_dir():
        raise DataFormatError(f"{tdx_dir}: no vipdoc/ folder; give the TDX client folder "
                              "(the one holding vipdoc/)")
    summary = IngestSummary(str(tdx_dir))
    day_files = tdx.scan_vipdoc(tdx_dir, strict=True)
    lc = {"bars_1m": sorted(tdx_dir.glob("vipdoc/*/minline/*.lc1")),
          "bars_5m": sorted(tdx_dir.glob("vipdoc/*/fzline/*.lc5"))}
    total = len(day_files) + sum(len(v) for v in lc.values())
    hq = tdx_dir / "T0002" / "hq_cache"
    readers = {"industry": (hq / "tdxhy.cfg", lambda: tdx_ref.read_industry(tdx_dir)),
               "shares": (hq / "base.dbf", lambda: tdx_ref.read_base_dbf(hq / "base.dbf"))}
    readers = {k: v for k, v in readers.items() if v[0].is_file()}
    rep = _Reporter(progress, steps, total + len(readers))
    read = _read_tdx(day_files, lc, tdx_dir, rep)
    ref: dict[str, pd.DataFrame] = {}
    for k, (_, reader) in readers.items():  # reference files, part of the reading step
        ref[k] = reader()
        total += 1
        rep.update(STEP_READ_TDX, total, rep.files, total)
    checked = _check(read, rep, lambda name, f: validation.check_bars(
        f, name, daily=name == "bars_1d", unit="record"))
    frames = {**_record(summary, checked, skip_bad_rows), **ref}
    if (hq / "gbbq").is_file() and "bars_1d" in frames:  # adj_factor for symbols without one
        rep.update(STEP_GBBQ, 0, None, rep.files)
        gf = gbbq.factors_for_ingest(store, hq / "gbbq", frames["bars_1d"])
        frames[gbbq.GBBQ_DATASET], summary.factors_from_gbbq = gf.factors, gf.symbols
        summary.notes.append(gf.note())
        rep.update(STEP_GBBQ, 1, 1, rep.files)
    summary.skipped = [str(p.relative_to(tdx_dir)) + " (forward-adjusted export text)"
                       for p in sorted((tdx_dir / "T0002" / "export").glob("*.txt"))]
    summary.files = total + (gbbq.GBBQ_DATASET in frames)
    _write(store, frames, summary, rep)
    return summary


def _write(store: MarketStore, frames: dict[str, pd.DataFrame], summary: IngestSummary,
           rep: _Reporter) -> None:
    """Write all frames in one atomic step (its own progress step: size unknown until done)."""
    rep.update(STEP_WRITE, 0, None, rep.files + 1)
    for w in store.write(frames):
        summary.written[w.dataset] = w
    rep.update(STEP_WRITE, 1, 1, rep.total)


def _read_table(path: Path, kind: str) -> pd.DataFrame:
    """Read one table with provenance (nothing checked yet)."""
    if kind == "daily":
        return tables.read_daily_table(path, records=True)
    if kind == "minute":
        return tables.read_minute_csv(path, records=True)
    if kind == "adj_factor":
        return tables.read_adj_factor_table(path, records=True)
    tr = tables.read_trades_table(path, records=True)
    return tr.assign(seq=tr.groupby(["ts_code", "trade_time"]).cumcount().astype(np.int64))


def _check_table(kind: str, frame: pd.DataFrame, source: str) -> Checked:
    if kind == "daily":
        return validation.check_bars(frame, "bars_1d", daily=True, source=source)
    if kind == "minute":  # vendor minute CSVs carry no turnover: amount may be NaN
        return validation.check_bars(frame, "bars_1m", daily=False, source=source,
                                     amount_required=False)
    if kind == "adj_factor":
        return validation.check_adj_factor(frame, source=source)
    return validation.check_trades(frame, source=source)


def ingest_table(store: MarketStore, path: Path, kind: str, *, skip_bad_rows: bool = False,
                 steps: Steps | None = None) -> IngestSummary:
    """Ingest one Tushare-style table or intraday file.

    Args:
        store: target store.
        path: CSV, Parquet, or zipped CSV.
        kind: ``daily`` (→ bars_1d), ``adj_factor``, ``minute`` (→ bars_1m),
            ``trades``.
        skip_bad_rows: write the good rows and report the bad ones instead of
            refusing the file (module docstring).
        steps: ``steps(step, done, total)`` per step (:data:`Steps`).

    Raises:
        ValueError: unknown kind. DataFormatError: a file-level error, or
            (without ``skip_bad_rows``) :class:`~tzero.data.validation.BadRowsError`
            naming the file and rows at fault; nothing is written then.
    """
    path = Path(path)
    if kind not in TABLE_KINDS:
        raise ValueError(f"--kind must be one of {TABLE_KINDS}, got {kind!r}")
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    summary = IngestSummary(str(path), files=1)
    rep = _Reporter(None, steps, 1)
    rep.update(STEP_READ_TABLE, 0, None, 0)
    frame = _read_table(path, kind)
    rep.update(STEP_READ_TABLE, 1, 1, 1)
    checked = _check([(kind, frame)], rep, lambda k, f: _check_table(k, f, str(path)))
    _write(store, _record(summary, checked, skip_bad_rows), summary, rep)
    return summary
