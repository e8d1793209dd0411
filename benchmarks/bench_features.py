"""Throughput of ``tzero.features.lstm_features`` over every full-history TDX daily file.

Reads each ``<tdx_dir>/vipdoc/{sh,sz,bj}/lday/*.day`` with more than
``--min-records`` records (32-byte records: date, open..close in 0.01 CNY,
amount float32 CNY, volume shares) with ``tzero.data.tdx.read_day``
(or a numpy fallback when that module is absent), builds one Bars frame per file (raw,
unadjusted prices: adjustment does not change the cost), and times
``lstm_features`` alone. File reading is timed separately.

Usage::

    .venv/bin/python benchmarks/bench_features.py [--tdx-dir DIR] [--min-records 250]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.features.lstm_features import lstm_features
from tzero.settings import get_settings

RECORD_BYTES = 32

try:  # the project's reader (units per security type) when present
    from tzero.data.tdx import read_day
except ImportError:  # pragma: no cover - fallback for a checkout without it
    read_day = None


def _read_day_numpy(path: Path) -> pd.DataFrame:
    """One TDX ``.day`` file as a daily Bars frame (raw prices ÷100, CNY; volume in shares)."""
    a = np.fromfile(path, dtype="<u4").reshape(-1, 8)
    return pd.DataFrame({
        "ts_code": path.stem,
        "trade_time": pd.to_datetime(a[:, 0].astype(str), format="%Y%m%d"),
        "open": a[:, 1] / 100.0, "high": a[:, 2] / 100.0,
        "low": a[:, 3] / 100.0, "close": a[:, 4] / 100.0,
        "volume": a[:, 6].astype(np.float64),
        "amount": np.ascontiguousarray(a[:, 5]).view("<f4").astype(np.float64),
    })


def main() -> None:
    """Run the benchmark and print files, rows, seconds and rows/s."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tdx-dir", type=Path, default=None)
    ap.add_argument("--min-records", type=int, default=250)
    args = ap.parse_args()
    tdx = args.tdx_dir or get_settings().tdx_dir
    if tdx is None or not (tdx / "vipdoc").is_dir():
        raise SystemExit(f"no TDX folder with vipdoc/ at {tdx}; pass --tdx-dir or set TZERO_TDX_DIR")
    files = sorted(p for p in (tdx / "vipdoc").glob("*/lday/*.day")
                   if p.stat().st_size // RECORD_BYTES > args.min_records)
    t0 = time.perf_counter()
    reader = read_day or _read_day_numpy
    frames = [reader(p) for p in files]
    t_read = time.perf_counter() - t0
    rows = sum(len(f) for f in frames)
    t0 = time.perf_counter()
    for f in frames:
        lstm_features(f)
    secs = time.perf_counter() - t0
    print(f"reader={reader.__module__}.{reader.__name__} files={len(files)} rows={rows} read_s={t_read:.2f} "
          f"lstm_features_s={secs:.2f} rows_per_s={rows / secs:,.0f}")


if __name__ == "__main__":
    main()
