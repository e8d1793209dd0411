"""Benchmark: full ingest of the TDX folder into a fresh market store (bars/s).

Usage::

    .venv/bin/python benchmarks/bench_ingest.py [--tdx-dir DIR]

Times :func:`tzero.data.ingest.ingest_tdx` (read every ``.day``/``.lc1``/``.lc5``
file, validate every row against the XSHG calendar and OHLC rules, write the
year-partitioned Parquet store atomically), then a second, idempotent ingest
(which must write 0 rows). For comparison, in the same run, the script a user
would otherwise write: pandas ``read_parquet``-free baseline of reading the
same ``.day`` files with mootdx (when installed, ``pip install -e .[bench]``)
and ``DataFrame.to_parquet`` of the result, with no validation.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from tzero.data.ingest import ingest_tdx
from tzero.data.store import MarketStore
from tzero.data.tdx import scan_vipdoc
from tzero.settings import get_settings


def _baseline(tdx_dir: Path, out: Path) -> tuple[int, float] | None:
    try:
        from mootdx.contrib.compat import MooTdxDailyBarReader
        logging.getLogger("mootdx").setLevel(logging.CRITICAL)
    except Exception as exc:
        print(f"baseline skipped: mootdx unavailable ({exc})")
        return None
    reader = MooTdxDailyBarReader()
    t = time.perf_counter()
    frames = []
    for f in scan_vipdoc(tdx_dir):
        try:
            frames.append(reader.get_df(str(f)).assign(code=f.stem))
        except Exception:  # mootdx raises on bj files; left out of the baseline
            continue
    df = pd.concat(frames)
    df.to_parquet(out / "baseline.parquet")
    return len(df), time.perf_counter() - t


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--tdx-dir", type=Path, default=None)
    args = ap.parse_args()
    tdx_dir = args.tdx_dir or get_settings().tdx_dir
    if tdx_dir is None:
        raise SystemExit("no TDX folder: pass --tdx-dir or set TZERO_TDX_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        store = MarketStore(Path(tmp) / "market")
        t = time.perf_counter()
        s = ingest_tdx(store, tdx_dir)
        first = time.perf_counter() - t
        bars = sum(w.rows_in for k, w in s.written.items() if k.startswith("bars"))
        t = time.perf_counter()
        s2 = ingest_tdx(store, tdx_dir)
        second = time.perf_counter() - t
        rewritten = sum(w.rows_written for w in s2.written.values())
        print(f"tzero ingest: files={s.files} bars={bars:,} seconds={first:.2f} bars/s={bars / first:,.0f}")
        print(f"tzero re-ingest (idempotent): rows written={rewritten} seconds={second:.2f}")
        base = _baseline(tdx_dir, Path(tmp))
        if base:
            n, secs = base
            print(f"mootdx + to_parquet (no validation): bars={n:,} seconds={secs:.2f} bars/s={n / secs:,.0f}")


if __name__ == "__main__":
    main()
