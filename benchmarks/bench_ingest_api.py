"""Benchmark: ``ingest api`` of the full daily history of N symbols vs ``ingest tdx`` of the same files.

Both in one run, on the same machine: the ``.day`` files of the first N stock
symbols of the shared TDX folder are copied into a temporary TDX folder and
ingested with :func:`tzero.data.ingest.ingest_tdx`; the local TDX API server
(``tests/support/tdx_api_server.py``, real HTTP on 127.0.0.1, serving the same
files in the reference's shapes) is ingested with
:func:`tzero.data.ingest_api.ingest_api` (no rate limit). Prints bars/s of
each, the second (incremental, idempotent) API run, whether the two stores hold
the same bars, and the machine's load.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ingest_api.py [N]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.tdx_api_server import TdxApiServer  # noqa: E402
from tzero.data import tdx  # noqa: E402
from tzero.data.ingest import ingest_tdx  # noqa: E402
from tzero.data.ingest_api import ingest_api  # noqa: E402
from tzero.data.store import MarketStore  # noqa: E402
from tzero.data.tdx_api import TdxApiClient  # noqa: E402
from tzero.market.symbols import board_of  # noqa: E402
from tzero.settings import get_settings  # noqa: E402


def main(n: int = 300) -> None:
    """Run both ingests of ``n`` symbols and print the figures."""
    data = get_settings().data_dir
    if data is None or not (data / "tdx" / "vipdoc").is_dir():
        sys.exit("shared data absent: set TZERO_DATA_DIR")
    files = [(c, p) for c, p in tdx._scan_day_files(data / "tdx", strict=False)
             if not tdx.is_index(c) and board_of(c) in ("main", "chinext", "star")][:n]
    codes = [c for c, _ in files]
    print(f"load before: {os.getloadavg()}  cpus: {os.cpu_count()}  symbols: {len(codes)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for _, f in files:
            p = Path(f)
            dst = root / "tdx" / "vipdoc" / p.parent.parent.name / "lday" / p.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst)
        t = time.perf_counter()
        s_tdx = ingest_tdx(MarketStore(root / "a"), root / "tdx")
        dt_tdx = time.perf_counter() - t
        bars = s_tdx.written["bars_1d"].rows_written
        print(f"ingest tdx : {bars:,} bars in {dt_tdx:.2f} s = {bars / dt_tdx:,.0f} bars/s")
        with TdxApiServer(data) as srv, TdxApiClient(srv.url, max_rps=0) as client:
            store = MarketStore(root / "b")
            t = time.perf_counter()
            s_api = ingest_api(store, client, codes, "1d")
            dt_api = time.perf_counter() - t
            got = s_api.written["bars_1d"].rows_written
            print(f"ingest api : {got:,} bars in {dt_api:.2f} s = {got / dt_api:,.0f} bars/s "
                  f"({client.requests} requests; {dt_api / dt_tdx:.1f}x ingest tdx's time)")
            t = time.perf_counter()
            again = ingest_api(store, client, codes, "1d")
            dt2 = time.perf_counter() - t
            print(f"ingest api again (incremental): {again.written['bars_1d'].rows_written} bars written "
                  f"in {dt2:.2f} s")
        a, b = MarketStore(root / "a").query("bars_1d"), store.query("bars_1d")
        same = a.shape == b.shape and a.dtypes.equals(b.dtypes)
        diff = (a[["open", "high", "low", "close", "volume"]] != b[["open", "high", "low", "close", "volume"]]
                ).any(axis=1) if same else pd.Series([True])
        amt = (a["amount"] - b["amount"]).abs() if same else pd.Series([float("inf")])
        print(f"same keys and dtypes: {same}; bars with another price/volume: {int(diff.sum())}; "
              f"amount: {(amt > 0).sum():,} bars differ, by at most {amt.max():.6f} CNY "
              "(float32 .day turnover vs the API's integer 厘)")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
