"""Benchmark: the one Trainer against a bare PyTorch loop, and the lazy dataset's memory.

Usage::

    TZERO_HOME=/path/with/a/store .venv/bin/python benchmarks/bench_trainer.py \
        [--sessions 250] [--repeats 3] [--threads 0] [--batch-cap 0] \
        [--skip-memory] [--skip-throughput] [--synthetic]

1. **Throughput.** CSI 300 members on the last stored date
   (``<data_dir>/reference/csi300_membership.txt``), qfq daily bars from the
   store at ``$TZERO_HOME``; inputs: the 6 scale-free alpha channels plus the
   21 spec-002 features (27 channels), 60-session windows ending in the last
   ``--sessions`` sessions, label: the T+1 tradeable return ranked per date.
   Network: a small shared LSTM (nn.LSTM hidden 64 over ``[B, 60, F]`` +
   nn.Embedding(symbol) + a linear head), written here. One epoch through
   :class:`Trainer` with :class:`DateBatchSampler` (one session per batch)
   against a bare loop of the same network from the same initial weights,
   over the same lazy dataset and the same index batches, with the same work
   per step (AdamW, clipping at 1.0, the per-epoch cosine scheduler step, no
   augmentation), after one untimed warm-up epoch of each (imports, oneDNN
   kernels for every batch shape), alternated ``--repeats`` times; the best
   epoch of each is reported. A third row is the bare loop over pre-cut ``[N, 60, F]`` tensors
   (what the lazy gather costs).
2. **Memory** (run first, so the child inherits a small ``ru_maxrss``).
   In a fresh child process: peak RSS (``resource.getrusage`` and ``VmHWM``)
   after imports, after building a :class:`SeriesArrays` over EVERY symbol in
   the store (27 channels, all stored history, labels), and after iterating
   one epoch of 512-sample batches. Without a store (or with ``--synthetic``)
   the child synthesises 5,000 series × 250 sessions × 25 channels instead and
   says so.

Without a store, ingest one first:
``TZERO_HOME=/tmp/tz tzero ingest tdx /work/shared/data/tdx`` and
``tzero ingest table <data_dir>/reference/adj_factor.parquet --kind adj_factor``.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing as mp
import os
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from tzero.data.bars import read_bars
from tzero.data.store import MarketStore
from tzero.features.cross_section import ALPHA_RELATIVE, input_rows
from tzero.settings import get_settings
from tzero.training.datasets import SeriesArrays, SeriesInput, series_labels
from tzero.training.samplers import DateBatchSampler, ShuffledSampler
from tzero.training.trainer import TrainConfig, Trainer

WINDOW = 60
CHUNK = 300          # symbols read from the store at once


class TinySharedLstm(nn.Module):
    """nn.LSTM(F, 64) over the window + a symbol embedding + a linear head."""

    def __init__(self, n_features: int, n_symbols: int, hidden: int = 64, embed: int = 8) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.symbol = nn.Embedding(n_symbols, embed)
        self.head = nn.Linear(hidden + embed, 1)

    def forward(self, x: torch.Tensor, symbol_id: torch.Tensor) -> torch.Tensor:
        """``[B, L, F], [B]`` → score ``[B]``."""
        out, _ = self.lstm(x)                                       # [B, L, F] -> [B, L, H]
        h = torch.cat([out[:, -1], self.symbol(symbol_id)], -1)     # [B, H + E]
        return self.head(h).squeeze(-1)                             # [B]


def _loss(out: torch.Tensor, batch: dict) -> torch.Tensor:
    return nn.functional.mse_loss(out, batch["y_rank"])


def _rss_mb() -> float:
    """Peak RSS of this process, MB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _hwm_mb() -> float:
    """Peak RSS of this address space (``VmHWM``; unlike ``ru_maxrss`` not inherited
    from the parent over fork + exec); NaN off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _series(store: MarketStore, codes: list[str]):
    """SeriesInput per symbol: 27 channels (VWAP with the qfq price factor) and labels."""
    for i in range(0, len(codes), CHUNK):
        part = codes[i : i + CHUNK]
        qfq = read_bars(store, part, "1d", "qfq")
        raw = read_bars(store, part, "1d", "none")
        raw = raw.rename(columns={"close": "_raw_close"})[["ts_code", "trade_time", "_raw_close"]]
        qfq = qfq.merge(raw, on=["ts_code", "trade_time"], how="left")
        qfq["_factor"] = qfq["close"] / qfq["_raw_close"]
        for code, bars in qfq.groupby("ts_code", sort=True):
            bars = bars.reset_index(drop=True)
            if len(bars) < 2:
                continue
            ir = input_rows(bars, lstm_features=True, price_factor=bars["_factor"].to_numpy())
            yield SeriesInput(str(code), bars["trade_time"].to_numpy(), ir.rows,
                              series_labels(bars["close"].to_numpy(), 5))
        del qfq, raw


def _synthetic(n_series: int = 5000, sessions: int = 250, n_features: int = 25):
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2022-01-03", periods=sessions).to_numpy()
    for k in range(n_series):
        close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, sessions)))
        x = rng.standard_normal((sessions, n_features)).astype(np.float32)
        yield SeriesInput(f"{k:06d}.SZ", dates, x, series_labels(close, 5))


def _memory_child(home: str | None, synthetic: bool, out: mp.Queue) -> None:
    res = {"import_mb": _rss_mb(), "import_hwm": _hwm_mb()}
    t = time.perf_counter()
    store = MarketStore(Path(home) / "market") if home else None
    use_store = store is not None and not synthetic and store.has("bars_1d")
    codes = store.symbols("bars_1d") if use_store else []
    series = _series(store, codes) if use_store else _synthetic()
    ds = SeriesArrays.from_series(series, WINDOW, ALPHA_RELATIVE, require_labels=True)
    res.update(source="store" if use_store else "synthetic 5000 x 250 x 25",
               build_s=time.perf_counter() - t,
               series=len(ds.ts_codes), rows=int(ds.rows.shape[0]), features=ds.n_features,
               samples=len(ds), dataset_mb=ds.nbytes() / 2**20, built_mb=_rss_mb(),
               built_hwm=_hwm_mb())
    t = time.perf_counter()
    n = 0
    for idx in ShuffledSampler(len(ds), 512, seed=0):
        n += int(ds.batch(idx)["x"].shape[0])
    res.update(epoch_s=time.perf_counter() - t, epoch_samples=n, epoch_mb=_rss_mb(),
               epoch_hwm=_hwm_mb(),
               eager_mb=len(ds) * WINDOW * ds.n_features * 4 / 2**20)
    out.put(res)


def memory_section(home: str | None, synthetic: bool) -> dict:
    """Run the memory measurement in a fresh process (its own peak RSS)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_memory_child, args=(home, synthetic, q))
    p.start()
    res = q.get()
    p.join()
    return res


def csi300_members(data_dir: Path, on: pd.Timestamp) -> list[str]:
    """CSI 300 members on ``on`` from the Qlib-format membership file."""
    m = pd.read_csv(data_dir / "reference" / "csi300_membership.txt", sep="\t",
                    names=["code", "start", "end"], parse_dates=["start", "end"])
    m = m[(m["start"] <= on) & (m["end"] >= on)]
    return sorted(f"{c[2:]}.{c[:2]}" for c in m["code"])


def _bare_epoch(net, opt, sched, batches, get, cfg: TrainConfig) -> int:
    net.train()
    n = 0
    for idx in batches:
        b = get(idx)
        out = net(b["x"], b["symbol_id"])
        loss = nn.functional.mse_loss(out, b["y_rank"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        n += len(idx)
    sched.step()
    return n


def _opt(net, cfg: TrainConfig):
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return opt, torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=cfg.t_0, T_mult=cfg.t_mult, eta_min=cfg.min_lr)


def throughput_section(store: MarketStore, data_dir: Path, sessions: int, repeats: int,
                       batch_cap: int) -> dict:
    """Trainer vs bare loop samples/s on CSI 300 (see module docstring)."""
    last_row = store.query("bars_1d", columns="max(trade_time) AS t", order_by="t")
    last = pd.Timestamp(last_row["t"].iloc[0])
    codes = [c for c in csi300_members(data_dir, last) if c in set(store.symbols("bars_1d"))]
    t = time.perf_counter()
    ds = SeriesArrays.from_series(_series(store, codes), WINDOW, ALPHA_RELATIVE)
    recent = ds.dates[-sessions:]
    ds = ds.select(np.isin(ds.sample_dates(), recent)).with_normalised_label(
        "y_tradeable", "rank", "y_rank")
    ds = ds.with_scaler(ds.fit_scaler(seed=0))
    if batch_cap:
        groups = DateBatchSampler(ds.date_idx(), shuffle=False)
        keep = np.concatenate([g[:batch_cap] for g in groups])
        ds = ds.select(np.sort(keep))
    build_s = time.perf_counter() - t
    cfg = TrainConfig(epochs=1, augment=False, seed=0)
    torch.manual_seed(0)
    init = TinySharedLstm(ds.n_features, len(ds.ts_codes))
    batches = list(DateBatchSampler(ds.date_idx(), seed=0))
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    class FixedBatches:                                     # the same index batches for both
        def __iter__(self):
            return iter(batches)

    def trainer_run() -> tuple[float, float]:
        net = copy.deepcopy(init)
        t0, c0 = time.perf_counter(), time.process_time()
        res = Trainer(cfg, device=dev).fit(net, _loss, ds, FixedBatches(),
                                           inputs=("x", "symbol_id"))
        _sync(dev)
        n = res.samples_seen
        return n / (time.perf_counter() - t0), n / (time.process_time() - c0)

    def bare_run(get) -> tuple[float, float]:
        net = copy.deepcopy(init).to(dev)
        torch.manual_seed(0)
        opt, sched = _opt(net, cfg)
        t0, c0 = time.perf_counter(), time.process_time()
        n = _bare_epoch(net, opt, sched, batches, get, cfg)
        _sync(dev)
        return n / (time.perf_counter() - t0), n / (time.process_time() - c0)

    def lazy(idx):
        return {k: v.to(dev, non_blocking=True) for k, v in ds.batch(idx).items()}

    full = ds.batch(np.arange(len(ds)))
    pre = {k: full[k].to(dev) for k in ("x", "symbol_id", "y_rank")}

    def precut(idx):
        i = torch.as_tensor(idx, device=dev)
        return {k: v[i] for k, v in pre.items()}

    trainer_run(), bare_run(lazy)     # warm-up, untimed: imports, kernels for every batch shape
    rates: dict[str, list[tuple[float, float]]] = {"trainer": [], "bare": [], "bare_precut": []}
    for _ in range(repeats):
        rates["trainer"].append(trainer_run())
        rates["bare"].append(bare_run(lazy))
        rates["bare_precut"].append(bare_run(precut))
    return {"symbols": len(ds.ts_codes), "samples": len(ds), "dates": len(batches),
            "features": ds.n_features, "build_s": build_s, "device": str(dev),
            "rates": rates, "mean_batch": len(ds) / max(1, len(batches))}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    """Run both sections and print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-cap", type=int, default=0, help="at most this many samples per date")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--synthetic", action="store_true", help="memory section on synthetic data")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    s = get_settings()
    store = MarketStore(s.store_dir)
    has_store = store.has("bars_1d")
    print(f"machine: load {os.getloadavg()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}, cuda {torch.cuda.is_available()}")
    if not args.skip_memory:
        m = memory_section(str(s.home) if has_store else None, args.synthetic)
        print(f"\nmemory: lazy SeriesArrays over the whole market ({m['source']})")
        print(f"{'series':<28}{m['series']:>14,}")
        print(f"{'rows x channels':<28}{m['rows']:>10,} x {m['features']}")
        print(f"{'samples (60-row windows)':<28}{m['samples']:>14,}")
        print(f"{'dataset arrays':<28}{m['dataset_mb']:>11,.0f} MB")
        print(f"{'eager [N,60,F] would be':<28}{m['eager_mb']:>11,.0f} MB")
        print(f"{'peak RSS (getrusage / VmHWM)':<28}")
        print(f"{'  after imports':<28}{m['import_mb']:>8,.0f} / {m['import_hwm']:,.0f} MB")
        print(f"{'  after build':<28}{m['built_mb']:>8,.0f} / {m['built_hwm']:,.0f} MB"
              f"  ({m['build_s']:.0f} s)")
        print(f"{'  after one epoch':<28}{m['epoch_mb']:>8,.0f} / {m['epoch_hwm']:,.0f} MB"
              f"  ({m['epoch_s']:.0f} s, {m['epoch_samples']:,} samples in 512-batches)"
              "  (target < 2,048 MB)")

    if has_store and s.data_dir is not None and not args.skip_throughput:
        r = throughput_section(store, s.data_dir, args.sessions, args.repeats, args.batch_cap)
        wall = {k: max(w for w, _ in v) for k, v in r["rates"].items()}
        cpu = {k: max(c for _, c in v) for k, v in r["rates"].items()}
        print(f"\nthroughput: CSI 300, {r['symbols']} symbols, {r['samples']:,} samples over "
              f"{r['dates']} sessions (mean batch {r['mean_batch']:.0f}), "
              f"{r['features']} channels, window {WINDOW}, device {r['device']}, "
              f"dataset built in {r['build_s']:.1f} s; best of {args.repeats} epochs each")
        print(f"{'loop':<38}{'samples/s wall':>16}{'samples/CPU-s':>15}   wall runs")
        for k, label in (("trainer", "Trainer + DateBatchSampler (lazy)"),
                         ("bare", "bare PyTorch loop (lazy)"),
                         ("bare_precut", "bare PyTorch loop (pre-cut [N,L,F])")):
            runs = ", ".join(f"{w:,.0f}" for w, _ in r["rates"][k])
            print(f"{label:<38}{wall[k]:>16,.0f}{cpu[k]:>15,.0f}   {runs}")
        for name, best in (("wall", wall), ("CPU", cpu)):
            over = (best["bare"] / best["trainer"] - 1) * 100
            gather = (best["bare_precut"] / best["bare"] - 1) * 100
            print(f"{name:>4}: Trainer overhead vs bare loop (same lazy batches) {over:+.1f} % "
                  f"(target <= 15 %); lazy gather vs pre-cut tensors {gather:+.1f} %")
        print(f"load after: {os.getloadavg()}")
    else:
        print("throughput: skipped (--skip-throughput, or no bars in the store at TZERO_HOME "
              "or no shared data dir)")


if __name__ == "__main__":
    main()
