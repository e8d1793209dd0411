"""Benchmark: LSTM training throughput (samples/s) and predict latency for 10 symbols.

Usage::

    .venv/bin/python benchmarks/bench_lstm.py [--history 750] [--jobs 2]

Trains the spec-002 enhanced LSTM in fast mode (3-fold CV, one combination,
25 epochs) on the 10 default holdings from a fresh store built from the TDX
folder, then times ``predict`` for all 10 symbols at once (the call behind
``tzero predict``), best of 5. Training samples/s counts every sample of every
epoch, CV folds included. Serial training (1 process, 2 threads) and parallel
(``--jobs`` processes, 1 thread each) are timed on the first 2 symbols in the
same run for comparison.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tzero.data.ingest import ingest_table, ingest_tdx
from tzero.data.store import MarketStore
from tzero.models.lstm import LstmConfig, LstmForecaster
from tzero.settings import get_settings
from tzero.signals.engine import DEFAULT_HOLDINGS, load_panel


def _samples(model: LstmForecaster) -> int:
    return sum(m.stats["samples_seen"] for m in model.models_.values())


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=750)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    s = get_settings()
    if s.tdx_dir is None:
        raise SystemExit("no TDX folder: set TZERO_TDX_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        store = MarketStore(Path(tmp) / "market")
        ingest_tdx(store, s.tdx_dir)
        if s.adj_factor_file:
            ingest_table(store, s.adj_factor_file, "adj_factor")
        panel = load_panel(store, DEFAULT_HOLDINGS)
    cfg = LstmConfig(mode="fast", history=args.history)
    two = panel.loc[panel["ts_code"].isin(DEFAULT_HOLDINGS[:2])]
    for label, jobs in (("serial (1 process)", 1), (f"parallel ({args.jobs} processes)", args.jobs)):
        t = time.perf_counter()
        m = LstmForecaster(cfg).fit(two, n_jobs=jobs)
        secs = time.perf_counter() - t
        print(f"train 2 symbols {label}: {secs:.1f} s, {_samples(m) / secs:,.0f} samples/s")
    t = time.perf_counter()
    model = LstmForecaster(cfg).fit(panel, n_jobs=args.jobs)
    secs = time.perf_counter() - t
    print(f"train 10 symbols, fast mode, history {args.history}, jobs {args.jobs}: {secs:.1f} s, "
          f"{_samples(model):,} samples, {_samples(model) / secs:,.0f} samples/s")
    as_of = panel["trade_time"].max()
    best = min(_timed(lambda: model.predict(panel, as_of)) for _ in range(5))
    print(f"predict 10 symbols (5 steps each): {best * 1000:.1f} ms")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
