"""Benchmark: `GET /api/lstm/predict` and `GET /api/signals` under 50 concurrent clients on loopback.

Usage::

    .venv/bin/python benchmarks/bench_service.py [--clients 50] [--requests 2000] [--home DIR]

Starts the real server (uvicorn, one separate process) on 127.0.0.1 with a free port
over an existing ``TZERO_HOME`` (after `tzero demo` and one `tzero train-lstm`),
then runs ``--clients`` threads, each with its own keep-alive HTTP connection,
until ``--requests`` requests per route are done. Prints requests/s and
p50/p99 latency per route. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int) -> subprocess.Popen:
    """One uvicorn process (its own interpreter: the clients do not share its GIL)."""
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "tzero.service.app:create_app",
                             "--factory", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], env=os.environ.copy())
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("server exited at start") from None
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def _client(port: int, path: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"{path}: HTTP {r.status}")
        lat.append(time.perf_counter() - t)
    conn.close()
    return lat


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--home", default=None, help="TZERO_HOME with a trained store (default: the env's)")
    ap.add_argument("--symbol", default="600519.SH")
    args = ap.parse_args()
    if args.home:
        os.environ["TZERO_HOME"] = args.home
    port = _free_port()
    server = _serve(port)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
          "server: one uvicorn process; clients: threads of this process")
    routes = {"predict": f"/api/lstm/predict?symbol={args.symbol}&use_fallback=1",
              "signals": "/api/signals?symbols=600519.SH,000001.SZ"}
    per = max(1, args.requests // args.clients)
    for name, path in routes.items():
        _client(port, path, 3)  # warm
        t = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            futs = [pool.submit(_client, port, path, per) for _ in range(args.clients)]
            lats = [x for f in futs for x in f.result()]
        secs = time.perf_counter() - t
        q = statistics.quantiles(lats, n=100)
        print(f"GET {name}: {len(lats)} requests, {args.clients} clients, {len(lats) / secs:,.0f} req/s, "
              f"p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")
    server.terminate()
    server.wait(timeout=30)


if __name__ == "__main__":
    main()
