"""Benchmark the market store backends (issue 14): Parquet/DuckDB against PostgreSQL, one run.

Figures, each printed with the machine's load (``os.getloadavg()``):

1. the ``.day`` reader (:func:`tzero.data.tdx.read_vipdoc_day`) against a bare
   ``np.fromfile`` loop over the same files (best of ``--repeat``, interleaved);
2. ``ingest_tdx`` of the whole TDX folder into each store (end to end, and the
   store's write step alone), then the idempotent re-ingest;
3. a 1-year daily read of ``--symbols`` stocks (``read_bars``, unadjusted and qfq);
4. the stored bytes per daily bar of each store (PostgreSQL: heap + primary key
   index of the month partitions; Parquet: the zstd files), the per-row costs the
   "at scale" section of docs/at_scale.md is computed from.

PostgreSQL: a database ``tzero_bench_<hex>`` is created on ``--pg-url`` (the
server's admin URL, default ``TZERO_TEST_PG_URL`` or
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) and dropped at the end.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_store.py [--tdx-dir DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.data.bars import factor_sources, read_bars
from tzero.data.ingest import STEP_WRITE, ingest_tdx
from tzero.data.store import MarketStore
from tzero.data.store_pg import PgMarketStore, pg_conninfo
from tzero.data.tdx import DAY_DTYPE, read_vipdoc_day, scan_vipdoc
from tzero.data.universes import STOCK_CODE_RE
from tzero.settings import get_settings

DEFAULT_PG = os.environ.get("TZERO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def load() -> str:
    """The 1/5/15-minute load averages and the core count, for every printed figure."""
    a, b, c = os.getloadavg()
    return f"load {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} cores"


def bench_reader(tdx_dir: Path, repeat: int) -> None:
    """Figure 1: the ``.day`` reader against a bare ``np.fromfile`` loop, best of ``repeat``."""
    paths = scan_vipdoc(tdx_dir)
    bare, reader, rows = [], [], 0
    for _ in range(repeat):  # interleaved, so both see the same load
        t = time.perf_counter()
        arrays = [np.fromfile(p, dtype=DAY_DTYPE) for p in paths]
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        rows = len(read_vipdoc_day(tdx_dir))
        reader.append(time.perf_counter() - t)
    assert rows == sum(len(a) for a in arrays)
    b, r = min(bare), min(reader)
    print(f"[reader] {len(paths):,} .day files, {rows:,} bars: bare np.fromfile loop {b:.3f} s, "
          f"read_vipdoc_day {r:.3f} s -> {r / b:.2f}x the bare loop ({load()})")


def _ingest(store, tdx_dir: Path) -> tuple[float, float, int, int]:
    """Seconds end to end, seconds of the write step, rows in, rows written."""
    marks: dict[str, float] = {}

    def steps(step: str, done: int, total: int | None) -> None:
        if step == STEP_WRITE:
            marks["end" if total else "start"] = time.perf_counter()

    t = time.perf_counter()
    s = ingest_tdx(store, tdx_dir, steps=steps)
    total = time.perf_counter() - t
    rows_in = sum(w.rows_in for w in s.written.values())
    return total, marks["end"] - marks["start"], rows_in, sum(w.rows_written for w in s.written.values())


def bench_ingest(stores: dict, tdx_dir: Path) -> None:
    """Figure 2: whole-folder ingest into each store, then the idempotent re-ingest."""
    for name, st in stores.items():
        total, write, rows, written = _ingest(st, tdx_dir)
        print(f"[ingest] {name:10s} {rows:,} rows ({written:,} written): {total:.2f} s end to end "
              f"({rows / total:,.0f} rows/s), write step {write:.2f} s ({rows / write:,.0f} rows/s) "
              f"({load()})")
    for name, st in stores.items():
        total, write, rows, written = _ingest(st, tdx_dir)
        print(f"[re-ingest] {name:10s} rows written {written}: {total:.2f} s end to end, "
              f"write step {write:.2f} s ({rows / write:,.0f} rows/s compared) ({load()})")


def _sample(st: MarketStore, n: int) -> tuple[list[str], pd.Timestamp, pd.Timestamp]:
    """``n`` stock codes with bars in the last stored year and an adj_factor, evenly spread."""
    end = st.last_session()
    assert end is not None
    start = end - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    df = st.query("bars_1d", "trade_time >= ? AND regexp_matches(ts_code, ?)",
                  [start.to_pydatetime(), STOCK_CODE_RE], columns="DISTINCT ts_code", order_by="ts_code")
    src = factor_sources(st, df["ts_code"].tolist())
    codes = [c for c in df["ts_code"] if c in src]  # qfq needs a factor (bars.check_factors)
    pick = np.linspace(0, len(codes) - 1, min(n, len(codes))).round().astype(int)
    return [codes[i] for i in pick], start, end


def bench_read(stores: dict, n: int, repeat: int) -> None:
    """Figure 3: a 1-year daily read of ``n`` stocks from each store (best of ``repeat``)."""
    codes, start, end = _sample(stores["parquet"], n)
    for adjust in ("none", "qfq"):
        frames = {}
        for name, st in stores.items():
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                frames[name] = read_bars(st, codes, "1d", adjust, start, end)
                best = min(best, time.perf_counter() - t)
            rows = len(frames[name])
            print(f"[read 1y] {name:10s} {len(codes)} stocks {start.date()}..{end.date()} adjust={adjust}: "
                  f"{rows:,} rows in {best:.3f} s ({rows / best:,.0f} rows/s) ({load()})")
        pd.testing.assert_frame_equal(frames["postgresql"], frames["parquet"], check_exact=True)


def bench_bytes(pq: MarketStore, pg: PgMarketStore) -> None:
    """Figure 4: stored bytes per daily bar and the partition count of each store."""
    rows = int(pq.query("bars_1d", columns="count(*) AS n", order_by="1")["n"].iloc[0])
    files = pq.files("bars_1d")
    pq_bytes = sum(f.stat().st_size for f in files)
    heap, index, parts = pg._conn().execute(
        "SELECT sum(pg_table_size(c.oid)), sum(pg_indexes_size(c.oid)), count(*) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = 'bars_1d'",
        [pg.schema]).fetchone()
    heap, index = int(heap), int(index)
    print(f"[bytes] bars_1d {rows:,} rows: parquet {pq_bytes / 1e6:.1f} MB in {len(files)} yearly files "
          f"({pq_bytes / rows:.1f} B/row); postgresql heap {heap / 1e6:.1f} MB + key index "
          f"{index / 1e6:.1f} MB in {parts} month partitions ({heap / rows:.1f} + {index / rows:.1f} B/row)")


def main(argv: list[str] | None = None) -> int:
    """Run every figure; 2 when there is no TDX folder or no PostgreSQL server."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tdx-dir", type=Path, default=None, help="TDX folder holding vipdoc")
    ap.add_argument("--pg-url", default=DEFAULT_PG, help="admin URL of the PostgreSQL server")
    ap.add_argument("--symbols", type=int, default=300, help="stocks in the 1-year read")
    ap.add_argument("--repeat", type=int, default=5, help="runs of the reader and read figures")
    args = ap.parse_args(argv)
    tdx_dir = args.tdx_dir or get_settings().tdx_dir
    if tdx_dir is None:
        print("no TDX folder: pass --tdx-dir or set TZERO_TDX_DIR", file=sys.stderr)
        return 2
    import psycopg

    print(f"start ({load()})")
    bench_reader(tdx_dir, args.repeat)
    admin = pg_conninfo(args.pg_url)
    name = f"tzero_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        print(f"no PostgreSQL at {args.pg_url}: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pg = PgMarketStore(admin.rsplit("/", 1)[0] + f"/{name}")
            stores = {"parquet": MarketStore(Path(tmp) / "market"), "postgresql": pg}
            bench_ingest(stores, tdx_dir)
            bench_read(stores, args.symbols, args.repeat)
            bench_bytes(stores["parquet"], pg)
            pg.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(f"end ({load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
