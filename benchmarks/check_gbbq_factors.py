"""Agreement of adj_factor derived from TDX's gbbq with Tushare's ``reference/adj_factor.parquet``.

Reads every ``.day`` file of the shared TDX folder and its ``T0002/hq_cache/gbbq``,
derives factors with :func:`tzero.data.gbbq.factors_from_events` (with and
without rounding reference prices to the exchange tick), and compares them with
the reference on the (symbol, date) pairs both hold up to the gbbq file's newest
record, qfq-normalised (:func:`tzero.data.gbbq.qfq_ratio_errors`). Also counts
ex-dates (a factor step in either source) that match in date and size.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/check_gbbq_factors.py [--data-dir DIR] [--worst 10]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from tzero.data import gbbq, tables, tdx
from tzero.settings import get_settings

TOLERANCES = (1e-4, 1e-3, 1e-2)
#: A symbol "agrees" when this share of its dates is within 1e-3.
SYMBOL_SHARE = 0.95


def _step_agreement(f: pd.DataFrame, ref: pd.DataFrame, until: pd.Timestamp) -> tuple[int, int]:
    m = f.merge(ref, on=["ts_code", "trade_date"], suffixes=("_g", "_t"))
    m = m.loc[m["trade_date"] <= until].sort_values(["ts_code", "trade_date"])
    sg = m.groupby("ts_code")["adj_factor_g"].pct_change(fill_method=None)
    st = m.groupby("ts_code")["adj_factor_t"].pct_change(fill_method=None)
    step = (sg.abs() > 1e-6) | (st.abs() > 1e-6)
    same = ((1 + sg) / (1 + st) - 1).abs() < 1e-3
    return int(step.sum()), int((step & same).sum())


def main() -> None:
    """Print the agreement figures (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="shared data folder (default: settings)")
    ap.add_argument("--worst", type=int, default=0, help="list the N symbols with the largest error")
    args = ap.parse_args()
    data = args.data_dir or get_settings().data_dir
    if data is None or not (data / "tdx" / gbbq.GBBQ_RELPATH).is_file():
        raise SystemExit("no shared data: pass --data-dir or set TZERO_DATA_DIR")
    t0 = time.perf_counter()
    daily = tdx.read_vipdoc_day(data / "tdx")
    gb = gbbq.read_gbbq(data / "tdx" / gbbq.GBBQ_RELPATH)
    ref = tables.read_adj_factor_table(data / "reference" / "adj_factor.parquet")
    until = gb["date"].max()
    codes = set(daily["ts_code"]) & set(gb["ts_code"]) & set(ref["ts_code"])
    daily = daily.loc[daily["ts_code"].isin(codes)]
    print(f"read {len(gb):,} gbbq records (newest {until.date()}), bars of {len(codes):,} symbols "
          f"in both sources, in {time.perf_counter() - t0:.1f} s")
    events = gbbq.ex_rights_events(gb)
    for rounded in (True, False):
        t0 = time.perf_counter()
        f = gbbq.factors_from_events(daily, events, round_to_tick=rounded)
        took = time.perf_counter() - t0
        err = gbbq.qfq_ratio_errors(f, ref, until=until)
        per = err.groupby("ts_code")["rel_error"].apply(lambda e: (e < 1e-3).mean())
        print(f"round_to_tick={rounded}: factors in {took:.1f} s; {len(err):,} (symbol, date) pairs "
              f"on {err['ts_code'].nunique()} symbols, dates <= {until.date()}")
        for tol in TOLERANCES:
            print(f"  |qfq ratio / reference - 1| < {tol:g}: {(err['rel_error'] < tol).mean():.2%} of pairs")
        q = err["rel_error"]
        print(f"  median {q.median():.1e}, p99 {q.quantile(0.99):.1e}, max {q.max():.1e}; symbols with "
              f">= {SYMBOL_SHARE:.0%} of dates within 1e-3: {(per >= SYMBOL_SHARE).mean():.1%} "
              f"({int((per >= SYMBOL_SHARE).sum())}/{len(per)})")
        if rounded:
            n, same = _step_agreement(f, ref, until)
            print(f"  ex-dates (a step in either source): {n:,}; same date and step within 1e-3: "
                  f"{same:,} ({same / n:.2%})")
            if args.worst:
                print(err.groupby("ts_code")["rel_error"].max().nlargest(args.worst).to_string())


if __name__ == "__main__":
    main()
