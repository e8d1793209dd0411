"""Per-stock ARIMA + HMM fits: the local process pool against Ray on the same cores.

Usage::

    .venv/bin/python benchmarks/bench_executor.py [--tdx-dir DIR] [--limit 150 | --all]
        [--workers 1,2] [--repeat 3] [--min-records 250] [--json]

The fleet is the full-history stocks of the shared TDX folder: every
``vipdoc/{sh,sz,bj}/lday/*.day`` with more than ``--min-records`` sessions whose code is
a stock (SH 60/68, SZ 00/30, BJ 43/83/87/92; indices left out), read raw
(``tzero.data.tdx.read_day``; adjustment does not change the cost). The whole fleet
takes about 20 minutes for one round of the four runs on 2 cores, so by default
``--limit`` stocks evenly spaced through it are fitted (the output says so); ``--all``
fits every one. Each configuration runs ``--repeat`` times, interleaved with the others,
and the best run is shown (the median too): on a shared machine a burst of another
job's load hits one run, not one configuration.

For each worker count of ``--workers`` (the scaling curve), the same fleet is fitted
with ``ArimaForecaster`` then ``HmmForecaster`` (their default configs, seed 42):

- ``local``: :class:`tzero.training.executor.LocalExecutor` — 1 worker is today's serial
  loop in this process; more are spawned processes (one torch thread each), a pool per
  fit call, so its start-up (process spawn + imports) is inside the wall time;
- ``ray``: :class:`tzero.training.executor.RayExecutor` on a local Ray started with
  ``num_cpus = workers`` (no dashboard): the cluster's start is timed apart (``start s``);
  its workers' start-up on the first tasks is inside the wall time.

Printed per configuration: wall seconds of the two fits, fits/s, CPU-seconds per fit (wall ×
workers / fits: the per-unit cost the docs scale from), the engine's overhead against
the local run of the same worker count, and the load average before and after
(``os.getloadavg``; other jobs on the machine inflate every figure alike). Every run's
fitted state is compared with the serial run's, series by series, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from pathlib import Path

import pandas as pd

from tzero.data.tdx import read_day
from tzero.models.arima import ArimaForecaster
from tzero.models.hmm import HmmForecaster
from tzero.settings import get_settings
from tzero.training.executor import Executor, LocalExecutor, RayExecutor

RECORD_BYTES = 32
#: Stock code prefixes by exchange folder (indices such as sh000300 / sz399001 left out).
STOCK_PREFIXES = {"sh": ("60", "68"), "sz": ("00", "30"), "bj": ("43", "83", "87", "92")}
MODELS = (ArimaForecaster, HmmForecaster)


def fleet_files(tdx: Path, min_records: int) -> list[Path]:
    """The full-history stock ``.day`` files of ``tdx`` (more than ``min_records`` sessions)."""
    out = []
    for p in sorted((tdx / "vipdoc").glob("*/lday/*.day")):
        ex, code = p.stem[:2], p.stem[2:]
        if code.startswith(STOCK_PREFIXES.get(ex, ())) and \
                p.stat().st_size // RECORD_BYTES > min_records:
            out.append(p)
    return out


def spaced(items: list[Path], n: int | None) -> list[Path]:
    """``n`` items evenly spaced through ``items`` (all when ``n`` is None or larger)."""
    if n is None or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def _states(models: list) -> dict[str, bytes]:
    return {f"{m.name}/{k}": pickle.dumps(v) for m in models for k, v in m.models_.items()}


def run_once(panel: pd.DataFrame, ex: Executor) -> tuple[float, dict[str, bytes], int]:
    """Fit every model of :data:`MODELS` on ``panel`` with ``ex``: (wall s, states, failures)."""
    t0 = time.perf_counter()
    fitted = [cls().fit(panel, executor=ex, errors="collect") for cls in MODELS]
    return time.perf_counter() - t0, _states(fitted), sum(len(m.errors_) for m in fitted)


def summary(kind: str, workers: int, done: list[dict], n_fits: int) -> dict:
    """One table row: the best (least disturbed) run's figures, and the median wall time."""
    best = min(done, key=lambda d: d["wall_s"])
    walls = sorted(d["wall_s"] for d in done)
    return {"executor": kind, "workers": workers, "start_s": round(best["start_s"], 2),
            "wall_s": round(best["wall_s"], 2), "median_wall_s": round(walls[len(walls) // 2], 2),
            "fits_per_s": round(n_fits / best["wall_s"], 2),
            "cpu_s_per_fit": round(best["wall_s"] * workers / n_fits, 4),
            "failed": best["failed"], "identical": all(d["identical"] for d in done),
            "load_before": round(best["load"][0], 2), "load_after": round(best["load"][1], 2),
            "runs": len(done)}


def main() -> None:
    """Run the local and Ray fits for each worker count and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tdx-dir", type=Path, default=None)
    ap.add_argument("--min-records", type=int, default=250)
    ap.add_argument("--limit", type=int, default=100, help="stocks fitted (evenly spaced)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each config")
    ap.add_argument("--all", action="store_true", help="fit every full-history stock")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = ap.parse_args()
    tdx = args.tdx_dir or get_settings().tdx_dir
    if tdx is None or not (tdx / "vipdoc").is_dir():
        raise SystemExit(f"no TDX folder with vipdoc/ at {tdx}; pass --tdx-dir or set TZERO_TDX_DIR")
    every = fleet_files(tdx, args.min_records)
    files = spaced(every, None if args.all else args.limit)
    panel = pd.concat([read_day(p) for p in files], ignore_index=True)
    panel = panel.sort_values(["ts_code", "trade_time"], ignore_index=True)
    n_fits = len(files) * len(MODELS)
    subset = "" if len(files) == len(every) else (
        f" (a subset: {len(files)} of the {len(every)} full-history stocks, evenly spaced; "
        "--all fits every one, ~20 min a round on 2 cores)")
    print(f"fleet: {len(files)} stocks{subset}, {len(panel):,} daily bars, "
          f"{n_fits} fits ({' + '.join(c.name for c in MODELS)}), cpu_count={os.cpu_count()}")
    counts = [int(x) for x in args.workers.split(",")]
    runs: dict[tuple[str, int], list[dict]] = {(k, w): [] for w in counts for k in ("local", "ray")}
    ref = None
    for rep in range(args.repeat):              # interleaved: a burst of load hits every config
        for (kind, w), done in runs.items():
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            ex: Executor = LocalExecutor(w) if kind == "local" else RayExecutor(num_cpus=w)
            start = time.perf_counter() - t0
            with ex:
                wall, states, failed = run_once(panel, ex)
            ref = ref or states
            done.append({"start_s": start, "wall_s": wall, "failed": failed,
                         "identical": states == ref, "load": (load0, os.getloadavg()[0])})
            print(f"  run {rep + 1}/{args.repeat} {kind:5s} workers={w}: wall {wall:.1f} s "
                  f"(load {load0:.2f} -> {done[-1]['load'][1]:.2f})", flush=True)
    rows = [summary(kind, w, done, n_fits) for (kind, w), done in runs.items()]
    base = {r["workers"]: r["wall_s"] for r in rows if r["executor"] == "local"}
    one = base.get(1)
    print(f"\nbest of {args.repeat} interleaved runs (the least disturbed by other jobs); "
          "median in brackets")
    print(f"{'executor':8s} {'workers':>7s} {'start s':>8s} {'wall s':>16s} {'fits/s':>7s} "
          f"{'cpu s/fit':>9s} {'vs local':>8s} {'speed-up':>8s} {'failed':>6s} {'identical':>9s} "
          f"{'load of best':>13s}")
    for r in rows:
        over = r["wall_s"] / base[r["workers"]] - 1
        speed = f"{one / r['wall_s']:.2f}x" if one else "-"
        wall = f"{r['wall_s']:.1f} [{r['median_wall_s']:.1f}]"
        print(f"{r['executor']:8s} {r['workers']:7d} {r['start_s']:8.2f} {wall:>16s} "
              f"{r['fits_per_s']:7.2f} {r['cpu_s_per_fit']:9.4f} {over:+8.0%} {speed:>8s} "
              f"{r['failed']:6d} {str(r['identical']):>9s} "
              f"{r['load_before']:6.2f}>{r['load_after']:5.2f}")
    print("start s: the executor's own start (Ray: a local cluster); vs local: wall time over "
          "the local run of the same worker count (the engine's overhead); speed-up: over "
          "local with 1 worker (the serial loop in this process)")
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
