"""Benchmark: read every TDX ``.day`` file with tzero and with mootdx, same files, one run.

Usage::

    .venv/bin/python benchmarks/bench_read_day.py [--tdx-dir DIR] [--repeat N]

tzero reads with :func:`tzero.data.tdx.read_vipdoc_day` (one ``os.read`` per
file, one frame). mootdx (optional ``bench`` extra: ``pip install -e .[bench]``)
reads each file with its daily-bar reader
``mootdx.contrib.compat.MooTdxDailyBarReader().get_df(path)``, the reader behind
``mootdx.reader.Reader.factory("std", tdxdir=...).daily(symbol)``, minus the
per-symbol path search. Files mootdx cannot read (it raises on ``bj`` files and has no type for some fund prefixes) are
left out of both timings so the two readers do the same work; they are counted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from tzero.data.tdx import read_vipdoc_day, scan_vipdoc, ts_code_from_path
from tzero.settings import get_settings


def _mootdx_reader():
    try:
        from mootdx.contrib.compat import MooTdxDailyBarReader

        logging.getLogger("mootdx").setLevel(logging.CRITICAL)  # one log line per bj file
    except Exception as e:  # ImportError, or mootdx failing at import time
        print(f"mootdx unavailable: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    return MooTdxDailyBarReader()


def _mootdx_readable(reader, paths: list[Path]) -> tuple[list[Path], list[Path]]:
    ok, bad = [], []
    for p in paths:
        try:
            known = reader.get_security_type(str(p)) in reader.SECURITY_TYPE
        except NotImplementedError:  # mootdx raises on exchanges it does not know (bj)
            known = False
        (ok if known else bad).append(p)
    return ok, bad


def _time_tzero(tdx_dir: Path, codes: list[str] | None, repeat: int) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = len(read_vipdoc_day(tdx_dir, codes))
        best = min(best, time.perf_counter() - t0)
    return best, n


def _time_mootdx(reader, paths: list[Path], repeat: int) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = sum(len(reader.get_df(str(p))) for p in paths)
        best = min(best, time.perf_counter() - t0)
    return best, n


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print files, bars, seconds and bars/s for each reader."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tdx-dir", type=Path, default=None, help="TDX folder holding vipdoc")
    ap.add_argument("--repeat", type=int, default=1, help="runs per reader; best is reported")
    args = ap.parse_args(argv)
    tdx_dir = args.tdx_dir or get_settings().tdx_dir
    if tdx_dir is None:
        print("no TDX folder: pass --tdx-dir or set TZERO_TDX_DIR", file=sys.stderr)
        return 2
    paths = scan_vipdoc(tdx_dir)
    reader = _mootdx_reader()
    skipped: list[Path] = []
    if reader is not None:
        paths, skipped = _mootdx_readable(reader, paths)
    codes = [ts_code_from_path(p) for p in paths]

    print(f"tdx_dir: {tdx_dir}")
    if skipped:
        print(f"left out (mootdx cannot read them): {len(skipped)} files, e.g. {skipped[0].name}")
    t_tz, n_tz = _time_tzero(tdx_dir, codes, args.repeat)
    print(f"tzero : files={len(paths)} bars={n_tz} seconds={t_tz:.3f} bars/s={n_tz / t_tz:,.0f}")
    if reader is None:
        return 1
    t_mo, n_mo = _time_mootdx(reader, paths, args.repeat)
    print(f"mootdx: files={len(paths)} bars={n_mo} seconds={t_mo:.3f} bars/s={n_mo / t_mo:,.0f}")
    print(f"speed ratio (mootdx seconds / tzero seconds): {t_mo / t_tz:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
