"""Benchmark: size, training throughput, predict latency and memory of the universe-level deep nets.

Usage::

    .venv/bin/python benchmarks/bench_models.py [--device cpu|cuda] [--threads 2]
        [--models lstm_shared,tcn] [--steps 10] [--warmup 2] [--predict-runs 10]
        [--time-cap 6] [--seed 42] [--skip-memory] [--json]

Every daily model of the model table that is a :class:`GlobalNetForecaster`
(``lstm_shared``, ``transformer``, ``tcn``, ``tft``, ``deepar``, ``finmamba``,
``hybrid``), in its ``--fast`` config and its full (default) config, on
synthetic inputs (no store needed):

1. **Parameters** of the net built by the forecaster's ``_build_net(6, 300,
   (30, 5, 5, 5))`` (6 alpha channels, 300 symbols, 30 industries and three
   5-level buckets). The hybrid's Stage-3 net takes ``6 + relationship_dim + 1``
   channels (its Stage-1 relationship features and baseline are appended to
   the alpha channels, :mod:`tzero.models.hybrid`); its Stage-1
   :class:`CrossSectionalEncoder` (8 snapshot features, 30 industries) counts
   too.
2. **Training samples/s** (B / the median step time): forward + the model's
   own loss (``model._loss``) + backward + an Adam step on one batch of
   B = 300 (one session of a 300-stock universe, what
   :class:`DateBatchSampler` feeds), ``--warmup``
   untimed steps then ``--steps`` timed ones. The batch dict: ``x [B, 60, 6]``
   N(0, 1), ``symbol_id`` 1..300, ``static_id [B, 4]`` within the levels,
   ``y_dir`` 0/1, ``y_ret [B, 5]`` N(0, 0.02), ``y_rank``, ``y_tradeable``;
   the net takes ``model.train_inputs`` (DeepAR also its teacher-forced
   ``y_ret``). The hybrid's figure is Stage 3 only (Stage 1 is trained once,
   before, and frozen).
3. **Predict latency for 300 stocks**: one eval forward on B = 300 under
   ``torch.no_grad()``, median of ``--predict-runs`` runs after one warm-up,
   ms; for DeepAR also its ``n_samples`` sample paths (``net.sample(...,
   common_noise=True)``), for the hybrid also the Stage-1 forward of the new
   session (in the notes).
4. **Peak memory of a full-config training step** (B = 300, 2 steps so Adam's
   state exists on CUDA): on CUDA ``torch.cuda.max_memory_allocated`` after
   resetting the peak (weights, Adam state, batch, activations); on CPU the
   peak-RSS delta of a fresh spawned child (after its imports and one
   untimed step of the same net on 8 rows, which pages in the kernels and
   lazy library state; peak reset there, ``/proc/self/clear_refs``) to after
   building the net and one B = 300 step: ``VmHWM``, the address space's
   high-water mark. Not ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: in a
   spawned child it also
   keeps the spawning process's pre-exec RSS, so its delta reads 0; without a
   resettable ``VmHWM`` (not Linux) the figure is skipped. tracemalloc cannot
   see torch's allocations.
5. **Bare-PyTorch reference** in the same run: ``nn.LSTM(6, 64)`` + a
   ``Linear`` head with MSE against ``y_rank``, the same batch and step,
   samples/s — the "bare-PyTorch limit" the models' figures are compared to;
   run before and after the models (the better of the two is shown, both in
   the notes), since other jobs may load the machine meanwhile; one more
   untimed run first warms the process (allocator, thread pool, oneDNN).

On a loaded 2-core CPU the slow full configs (FinMamba, the Transformer)
take seconds per step, so ``--time-cap`` (seconds per config) bounds the timed
steps and predict runs; the notes give the timed steps taken.

Everything is seeded (``--seed``); the machine's load average is printed
before and after.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from tzero.models import table
from tzero.models.global_net import NET_INPUTS, GlobalNetForecaster, n_params
from tzero.models.hybrid import HybridForecaster

B, SEQ_LEN, N_FEATURES, N_SYMBOLS, HORIZON = 300, 60, 6, 300, 5
STATIC_LEVELS = (30, 5, 5, 5)
N_SNAP = 8                      # Stage-1 snapshot features (SNAPSHOT_NAMES)


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def global_specs(names: list[str] | None = None) -> list[table.ModelSpec]:
    """The daily universe-level deep nets of the model table (optionally a subset)."""
    out = [s for s in table.specs(frequency="daily", scope="global")
           if issubclass(s.cls, GlobalNetForecaster)]
    if names:
        unknown = set(names) - {s.name for s in out}
        if unknown:
            raise SystemExit(f"unknown or not a global deep net: {sorted(unknown)}; "
                             f"choose from {[s.name for s in out]}")
        out = [s for s in out if s.name in names]
    return out


def make_batch(seed: int, dev: torch.device) -> dict[str, torch.Tensor]:
    """One synthetic session of B = 300 stocks (the keys the models' losses read)."""
    g = torch.Generator().manual_seed(seed)
    static = torch.stack([torch.randint(1, n + 1, (B,), generator=g) for n in STATIC_LEVELS], 1)
    b = {"x": torch.randn(B, SEQ_LEN, N_FEATURES, generator=g),
         "symbol_id": torch.randint(1, N_SYMBOLS + 1, (B,), generator=g),
         "static_id": static,
         "y_dir": torch.randint(0, 2, (B,), generator=g),
         "y_ret": torch.randn(B, HORIZON, generator=g) * 0.02,
         "y_rank": torch.rand(B, generator=g) * 2 - 1,
         "y_tradeable": torch.randn(B, generator=g) * 0.02}
    return {k: v.to(dev) for k, v in b.items()}


class Built:
    """A model of the table with its net (and the hybrid's Stage 1) built, untrained."""

    def __init__(self, spec: table.ModelSpec, fast: bool, seed: int, dev: torch.device) -> None:
        self.model = spec.make(fast=fast, seed=seed)
        self.model.vocab_ = {}
        n_features = N_FEATURES
        self.stage1: nn.Module | None = None
        _seed(seed)
        if isinstance(self.model, HybridForecaster):
            # 30 industries, as the static levels: the Stage-1 industry embedding's size
            self.model.vocab_ = {"industry": {str(i): i for i in range(1, STATIC_LEVELS[0] + 1)}}
            self.stage1 = self.model._new_stage1(N_SNAP).to(dev)
            n_features = N_FEATURES + self.stage1.relationship_dim + 1
        self.n_features = n_features
        self.net = self.model._build_net(n_features, N_SYMBOLS, STATIC_LEVELS).to(dev)
        self.dev = dev

    def params(self) -> int:
        return n_params(self.net) + (n_params(self.stage1) if self.stage1 is not None else 0)

    def batch(self, seed: int) -> dict[str, torch.Tensor]:
        b = make_batch(seed, self.dev)
        if self.n_features != N_FEATURES:       # the hybrid: relationship features + baseline
            g = torch.Generator().manual_seed(seed + 1)
            extra = torch.randn(B, SEQ_LEN, self.n_features - N_FEATURES, generator=g)
            b["x"] = torch.cat([b["x"], extra.to(self.dev)], -1)
        return b


def _timed_steps(step, steps: int, cap_s: float, dev: torch.device) -> tuple[float, int]:
    """(median seconds, calls) of up to ``steps`` calls of ``step`` (fewer, at least 2, once ``cap_s``
    seconds have passed). The median, not the mean: on a shared, loaded CPU a step whose
    threads lose their cores can take several times as long as the others."""
    times: list[float] = []
    t0 = time.perf_counter()
    while len(times) < steps and (len(times) < 2 or time.perf_counter() - t0 < cap_s):
        t = time.perf_counter()
        step()
        _sync(dev)
        times.append(time.perf_counter() - t)
    return statistics.median(times), len(times)


def train_rate(built: Built, batch: dict, steps: int, warmup: int,
               cap_s: float = float("inf")) -> tuple[float, int]:
    """(samples/s, timed steps) of forward + ``model._loss`` + backward + Adam on ``batch``:
    B / the median step time.

    Timed steps stop at ``steps``, or earlier once ``cap_s`` seconds have passed
    (at least 2 timed steps, when ``steps`` >= 2); warm-up steps after the first
    are skipped once ``cap_s`` seconds of warm-up have passed.
    """
    net, model = built.net, built.model
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=model.config.train.lr)
    inputs = [batch[k] for k in model.train_inputs]

    def step() -> None:
        loss = model._loss(net(*inputs), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t = time.perf_counter()
    for w in range(warmup):
        if w and time.perf_counter() - t > cap_s:
            break
        step()
    _sync(built.dev)
    sec, done = _timed_steps(step, steps, cap_s, built.dev)
    return B / sec, done


def _median_ms(fn, runs: int, dev: torch.device, cap_s: float = float("inf")) -> float:
    """Median ms of ``fn()`` over ``runs`` runs after one warm-up call (fewer, at least 3,
    once ``cap_s`` seconds have passed)."""
    fn()
    _sync(dev)
    times: list[float] = []
    t0 = time.perf_counter()
    while len(times) < runs and (len(times) < 3 or time.perf_counter() - t0 < cap_s):
        t = time.perf_counter()
        fn()
        _sync(dev)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def predict_ms(built: Built, batch: dict, runs: int, seed: int,
               cap_s: float = float("inf")) -> dict[str, float]:
    """Median eval-forward ms on B = 300 (DeepAR: also its sample paths; hybrid: Stage 1)."""
    net = built.net.eval()
    args = [batch[k] for k in NET_INPUTS]
    res = {}
    with torch.no_grad():
        res["forward"] = _median_ms(lambda: net(*args), runs, built.dev, cap_s)
        if hasattr(net, "sample"):
            n = built.model.config.n_samples
            gen = torch.Generator(device=built.dev)
            res["sample"] = _median_ms(
                lambda: net.sample(*args, n_samples=n, generator=gen.manual_seed(seed),
                                   common_noise=True), runs, built.dev, cap_s)
            res["n_samples"] = n
        if built.stage1 is not None:
            s1 = built.stage1.eval()
            g = torch.Generator().manual_seed(seed + 2)
            snap = torch.randn(B, N_SNAP, generator=g).to(built.dev)
            ind = batch["static_id"][:, 0]
            res["stage1"] = _median_ms(lambda: s1(snap, ind), runs, built.dev, cap_s)
    return res


class BareLstm(nn.Module):
    """The bare-PyTorch reference: ``nn.LSTM(6, 64)`` + a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_FEATURES, 64, batch_first=True)
        self.head = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)                       # [B, L, F] -> [B, L, 64]
        return self.head(out[:, -1]).squeeze(-1)    # [B]


def bare_row(batch: dict, steps: int, warmup: int, runs: int, seed: int,
             dev: torch.device, cap_s: float = float("inf")) -> dict[str, Any]:
    """Samples/s and predict ms of :class:`BareLstm` with MSE and Adam on the same batch."""
    _seed(seed)
    net = BareLstm().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = batch["x"], batch["y_rank"]

    def step() -> None:
        loss = nn.functional.mse_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    net.train()
    t = time.perf_counter()
    for w in range(warmup):
        if w and time.perf_counter() - t > cap_s:
            break
        step()
    _sync(dev)
    sec, done = _timed_steps(step, steps, cap_s, dev)
    rate = B / sec
    net.eval()
    with torch.no_grad():
        ms = _median_ms(lambda: net(x), runs, dev, cap_s) if runs else None
    return {"model": "bare nn.LSTM(6,64)+Linear", "params_full": n_params(net),
            "train_sps_full": rate, "steps_full": done, "predict_ms_full": ms}


# ------------------------------------------------------------------ memory
def _reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _vm_kib(key: str) -> int | None:
    """``VmHWM`` / ``VmRSS`` of this address space from ``/proc/self/status`` (KiB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _mem_child(name: str, seed: int, threads: int, out: mp.Queue) -> None:
    """In a fresh process: peak-RSS delta (MB) of building the full-config net and one
    B = 300 training step, from after an 8-row warm-up step (peak reset there).

    The peak is ``VmHWM``, the address space's own high-water mark, which is what
    ``ru_maxrss`` reports except that ``ru_maxrss`` also keeps the pre-exec figure of
    the spawning process (the parent's RSS), so its delta reads 0 here.
    """
    import gc

    torch.set_num_threads(threads)
    dev = torch.device("cpu")

    def run(rows: int) -> None:
        if name == "bare":
            b = make_batch(seed, dev)
            bare_row({k: v[:rows] for k, v in b.items()}, 1, 0, 0, seed, dev)
        else:
            built = Built(table.get_spec(name), False, seed, dev)
            b = built.batch(seed)
            train_rate(built, {k: v[:rows] for k, v in b.items()}, 1, 0)

    run(8)              # page in the kernels' code and lazy library state: not the step's memory
    gc.collect()
    reset = _reset_peak()
    before = _vm_kib("VmHWM")
    run(B)
    after = _vm_kib("VmHWM")
    ok = reset and before is not None and after is not None
    out.put(((after - before) / 1024.0 if ok else 0.0, ok))


def cpu_peak_mb(name: str, seed: int, threads: int) -> tuple[float, bool]:
    """(MB, whether the peak could be reset after the imports) from :func:`_mem_child`."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_mem_child, args=(name, seed, threads, q))
    p.start()
    mb, reset = q.get()
    p.join()
    return float(mb), bool(reset)


def cuda_peak_mb(name: str, seed: int, dev: torch.device) -> float:
    """Peak allocated MB of building the full-config net and 2 training steps (Adam state
    included), from a reset peak."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    if name == "bare":
        bare_row(make_batch(seed, dev), 2, 0, 0, seed, dev)
    else:
        built = Built(table.get_spec(name), False, seed, dev)
        train_rate(built, built.batch(seed), 2, 0)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def peak_mb(name: str, seed: int, threads: int, dev: torch.device) -> tuple[float | None, str]:
    """(peak MB of a full-config training step, how it was measured)."""
    if dev.type == "cuda":
        return cuda_peak_mb(name, seed, dev), "CUDA max_memory_allocated, 2 steps"
    mb, reset = cpu_peak_mb(name, seed, threads)
    if not reset:
        return None, "skipped: no resettable VmHWM (/proc/self/clear_refs) here"
    return mb, "CPU peak-RSS delta (VmHWM), fresh child, 1 step after an 8-row warm-up"


# ------------------------------------------------------------------ main
def _fmt(v: Any, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def _notes(r: dict, bare: dict) -> str:
    notes = []
    if r is bare:
        runs = ", ".join(f"{v:,.0f}" for v in r["train_sps_runs"])
        ms = ", ".join(f"{v:,.1f}" for v in r["predict_ms_runs"])
        notes.append(f"bare-PyTorch limit (MSE, Adam, same batch); best of a run before and "
                     f"after the models: {runs} samples/s, {ms} ms")
    else:
        notes.append(f"full train {r['train_sps_full'] / bare['train_sps_full']:.2f}x bare")
    if r.get("peak_mb_full") is not None:
        notes.append(f"peak full step {r['peak_mb_full']:,.0f} MB ({r['peak_how']})")
    elif "peak_how" in r:
        notes.append(f"peak memory {r['peak_how']}")
    if "sample_ms_full" in r:
        notes.append(f"sampling {r['n_samples_fast']}/{r['n_samples_full']} paths "
                     f"{r['sample_ms_fast']:,.1f}/{r['sample_ms_full']:,.1f} ms fast/full")
    if "stage1_params" in r:
        notes.append(f"params incl. Stage 1 ({r['stage1_params']:,}); Stage 3 on "
                     f"{r['stage3_features']} channels; Stage-1 forward of the session "
                     f"{r['stage1_ms_full']:,.1f} ms")
    steps = "/".join(str(r[k]) for k in ("steps_fast", "steps_full") if k in r)
    notes.append(f"timed steps {steps}")
    return "; ".join(notes)


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--models", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per config (at most)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    ap.add_argument("--predict-runs", type=int, default=10, help="predict runs (median, at most)")
    ap.add_argument("--time-cap", type=float, default=6.0,
                    help="seconds of timed training per config (then stop, >= 2 steps); "
                         "predict runs stop after half of it (>= 3 runs); 0: no cap")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = ap.parse_args()
    if args.steps < 1 or args.predict_runs < 1 or args.warmup < 0:
        raise SystemExit("need --steps >= 1, --predict-runs >= 1 and --warmup >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible to torch")
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    cap = args.time_cap if args.time_cap > 0 else float("inf")
    specs = global_specs([m for m in args.models.split(",") if m] or None)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load0[0]:.2f} / {load0[1]:.2f} / "
          f"{load0[2]:.2f} at start; torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, device {dev}" + (f" ({torch.cuda.get_device_name()})"
                                      if dev.type == "cuda" else ""))
    print(f"batch: one session of {B} stocks, window {SEQ_LEN} x {N_FEATURES} channels; "
          f"{args.warmup} warm-up + up to {args.steps} timed steps (forward + loss + backward + "
          f"Adam; cap {args.time_cap:g} s per config); predict: median of up to "
          f"{args.predict_runs} eval forwards after one warm-up; seed {args.seed}\n")

    def bare_run() -> dict[str, Any]:
        return bare_row(make_batch(args.seed, dev), args.steps, args.warmup, args.predict_runs,
                        args.seed, dev, cap)

    bare_run()                       # untimed: warms the process (allocator, threads, oneDNN)
    bare_first = bare_run()          # run again after the models: the load may change
    rows: list[dict[str, Any]] = []
    for spec in specs:
        row: dict[str, Any] = {"model": spec.name}
        for tag, fast in (("fast", True), ("full", False)):
            built = Built(spec, fast, args.seed, dev)
            batch = built.batch(args.seed)
            row[f"params_{tag}"] = built.params()
            row[f"train_sps_{tag}"], row[f"steps_{tag}"] = train_rate(
                built, batch, args.steps, args.warmup, cap)
            p = predict_ms(built, batch, args.predict_runs, args.seed, cap / 2)
            row[f"predict_ms_{tag}"] = p["forward"]
            if "sample" in p:
                row[f"sample_ms_{tag}"] = p["sample"]
                row[f"n_samples_{tag}"] = p["n_samples"]
            if "stage1" in p:
                row[f"stage1_ms_{tag}"] = p["stage1"]
                row["stage1_params"] = n_params(built.stage1)
                row["stage3_features"] = built.n_features
            del built, batch
        if not args.skip_memory:
            row["peak_mb_full"], row["peak_how"] = peak_mb(spec.name, args.seed, args.threads, dev)
        rows.append(row)
        print(f"  done {spec.name} ({time.perf_counter() - t_start:.0f} s)", flush=True)
    bare_last = bare_run()
    bare = dict(max(bare_first, bare_last, key=lambda r: r["train_sps_full"]))
    bare["predict_ms_full"] = min(bare_first["predict_ms_full"], bare_last["predict_ms_full"])
    bare["train_sps_runs"] = [bare_first["train_sps_full"], bare_last["train_sps_full"]]
    bare["predict_ms_runs"] = [bare_first["predict_ms_full"], bare_last["predict_ms_full"]]
    if not args.skip_memory:
        bare["peak_mb_full"], bare["peak_how"] = peak_mb("bare", args.seed, args.threads, dev)

    print("\n| model | params fast | params full | train samples/s fast | train samples/s full | "
          "predict 300 ms fast | predict 300 ms full | notes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in [*rows, bare]:
        print(f"| {r['model']} | {_fmt(r.get('params_fast'), ',')} | "
              f"{_fmt(r.get('params_full'), ',')} | {_fmt(r.get('train_sps_fast'), ',.0f')} | "
              f"{_fmt(r.get('train_sps_full'), ',.0f')} | {_fmt(r.get('predict_ms_fast'), ',.1f')} | "
              f"{_fmt(r.get('predict_ms_full'), ',.1f')} | {_notes(r, bare)} |")
    load1 = os.getloadavg()
    print(f"\nload average {load0[0]:.2f} at start, {load1[0]:.2f} / {load1[1]:.2f} / "
          f"{load1[2]:.2f} (1/5/15 min) at end; {os.cpu_count()} cores, {args.threads} torch "
          f"threads, device {dev}; run time {time.perf_counter() - t_start:.0f} s")
    if args.json:
        print(json.dumps([*rows, bare], indent=2))


if __name__ == "__main__":
    main()
