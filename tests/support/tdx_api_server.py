"""A local TDX HTTP API server answering in the reference's shapes with real shared data.

``specs/tdx_api_reference.md`` (+ ``specs/README.md``'s units): prices are
integers in 厘, ``Amount`` in 厘, ``Volume`` in 手 (100 shares; fractional 手
keep odd lots). ``/api/kline`` and ``/api/index`` list newest first with
``Count``/``List``; ``/api/kline-all/*`` and ``/api/index/all`` oldest first with
``count``/``list``. Data (``/work/shared/data``, read in place):

* daily bars: ``tdx/vipdoc/*/lday/*.day`` (:func:`tzero.data.tdx.read_day`);
  ``/ths`` serves them 前复权 with ``reference/adj_factor.parquet``
  (qfq = raw × factor / latest factor, rounded to 厘); week/month bars are
  built from the daily ones (Time = the period's last session).
* 1-minute bars: ``tdx/vipdoc/*/minline/*.lc1`` and ``intraday/*_m1.csv``
  (:func:`tzero.data.tables.read_minute_csv`; that CSV carries no turnover, so
  its ``Amount`` is **estimated** here as (O+H+L+C)/4 × volume); 5…60-minute
  bars are built from them (:func:`tzero.market.sessions.bar_close_for`).
* trades: ``trades/tdx_trades_2019.parquet``.

Use::

    with TdxApiServer(data_dir) as srv:          # or: url, stop = start_server(data_dir)
        srv.faults.fail_5xx["/api/kline"] = 2     # two 503s, then the answer
        srv.set_now("2021-04-23 10:00")           # live mode: only what was out then
        ...srv.url...

Faults (:class:`Faults`, per route, changeable while running): ``delay`` (s),
``fail_5xx`` (N answers 503 then normal), ``malformed`` (broken JSON),
``empty`` (an empty list), ``error`` (``code -1`` with that message),
``reversed`` (the list in the opposite order), ``units`` (``amount_yuan``:
Amount in 元 instead of 厘; ``volume_shares``: Volume in shares instead of 手),
``minute_fallback`` (``/api/minute`` behaves as if the asked day had no data and
falls back to the previous day with data).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from tzero.data import tables, tdx
from tzero.market import calendar, sessions
from tzero.market.symbols import tdx_name, to_ts_code

KLINE_FREQ = {"minute1": "1m", "minute5": "5m", "minute15": "15m", "minute30": "30m", "hour": "60m",
              "day": "1d", "week": "1w", "month": "1M"}
KLINE_MAX = {"minute1": 24000}
KLINE_DEFAULT_MAX = 800


@dataclass
class Faults:
    """Fault injection per route (keys are routes such as ``/api/kline``)."""

    delay: dict[str, float] = field(default_factory=dict)
    fail_5xx: dict[str, int] = field(default_factory=dict)
    malformed: set[str] = field(default_factory=set)
    empty: set[str] = field(default_factory=set)
    error: dict[str, str] = field(default_factory=dict)
    reversed: set[str] = field(default_factory=set)
    units: dict[str, str] = field(default_factory=dict)
    minute_fallback: bool = False


def _li(x: np.ndarray) -> list[int]:
    return [int(v) for v in np.round(np.asarray(x, dtype=np.float64) * 1000.0)]


def _lots(shares: np.ndarray) -> list[float | int]:
    out: list[float | int] = []
    for v in np.asarray(shares, dtype=np.float64) / 100.0:
        out.append(int(v) if float(v).is_integer() else float(v))
    return out


class ApiData:
    """Real shared data by symbol, cached; every frame in store units (CNY, shares)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.vipdoc = self.root / "tdx" / "vipdoc"
        self._minute_files = self._scan_minutes()
        self._lock = threading.Lock()

    def _scan_minutes(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for p in sorted((self.root / "intraday").glob("*_m1.csv")):
            try:
                found[to_ts_code(p.name.split("_")[0].split(".")[1].rstrip("Q"))] = p
            except Exception:  # a file name naming no symbol: not served
                continue
        for p in sorted(self.vipdoc.glob("*/minline/*.lc1")):
            found[tdx.ts_code_from_path(p)] = p
        return found

    @lru_cache(maxsize=1024)  # noqa: B019 - one instance per server
    def daily(self, ts_code: str) -> pd.DataFrame:
        p = self.vipdoc / ts_code.split(".")[1].lower() / "lday" / f"{tdx_name(ts_code)}.day"
        return tdx.read_day(p) if p.is_file() else pd.DataFrame(columns=tdx.BARS_COLUMNS)

    @lru_cache(maxsize=64)  # noqa: B019
    def minutes(self, ts_code: str) -> pd.DataFrame:
        p = self._minute_files.get(ts_code)
        if p is None:
            return pd.DataFrame(columns=tdx.BARS_COLUMNS)
        if p.suffix == ".lc1":
            return tdx.read_lc(p)
        m = tables.read_minute_csv(p)
        est = m[["open", "high", "low", "close"]].mean(axis=1) * m["volume"]
        return m.assign(amount=m["amount"].fillna(est.round(2)))

    @lru_cache(maxsize=1)  # noqa: B019
    def adj(self) -> pd.DataFrame:
        p = self.root / "reference" / "adj_factor.parquet"
        a = pd.read_parquet(p)
        a["trade_date"] = pd.to_datetime(a["trade_date"].astype(str), format="%Y%m%d")
        return a.drop_duplicates(["ts_code", "trade_date"]).sort_values(["ts_code", "trade_date"])

    def qfq(self, ts_code: str) -> pd.DataFrame:
        d = self.daily(ts_code)
        a = self.adj()
        a = a.loc[a["ts_code"] == ts_code]
        if d.empty or a.empty:
            return d
        f = pd.merge_asof(d[["trade_time"]], a[["trade_date", "adj_factor"]], left_on="trade_time",
                          right_on="trade_date")["adj_factor"].bfill().to_numpy()
        ratio = f / f[-1]
        out = d.copy()
        for c in ("open", "high", "low", "close"):
            out[c] = np.round(d[c].to_numpy() * ratio, 3)
        return out

    @lru_cache(maxsize=1)  # noqa: B019
    def trades(self) -> pd.DataFrame:
        return tables.read_trades_table(self.root / "trades" / "tdx_trades_2019.parquet")

    def symbols(self) -> list[str]:
        return [c for c, _ in tdx._scan_day_files(self.root / "tdx", strict=False)]

    @lru_cache(maxsize=1)  # noqa: B019
    def names(self) -> dict[str, str]:
        p = self.root / "reference" / "stock_basic.csv"
        if not p.is_file():
            return {}
        b = pd.read_csv(p, encoding="utf-8-sig", dtype=str)
        return dict(zip(b["ts_code"], b["name"], strict=False))


def _resample(bars: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Daily → week/month bars, or 1-minute → N-minute bars (stamped at the last one)."""
    if bars.empty or freq in ("1m", "1d"):
        return bars
    t = bars["trade_time"]
    if freq == "1w":
        key = t.dt.to_period("W-SUN").astype(str)
    elif freq == "1M":
        key = t.dt.to_period("M").astype(str)
    else:
        key = sessions.bar_close_for(t, freq)
    g = bars.assign(_k=np.asarray(key)).groupby("_k", sort=True)
    out = g.agg(ts_code=("ts_code", "first"), open=("open", "first"), high=("high", "max"),
                low=("low", "min"), close=("close", "last"), volume=("volume", "sum"),
                amount=("amount", "sum"))
    if freq in ("1w", "1M"):
        out["trade_time"] = g["trade_time"].max()
    else:
        out["trade_time"] = pd.DatetimeIndex(out.index)
    return out.reset_index(drop=True)[tdx.BARS_COLUMNS]


class TdxApiServer:
    """The server: :class:`ThreadingHTTPServer` on 127.0.0.1 (port 0 → a free port) in a thread.

    Args:
        data_dir: the shared data root.
        now: live mode: the replay clock's time (naive Shanghai) — a fixed
            stamp, or a callable returning one. Only bars closed by then (and
            daily bars of earlier days), and trades up to then, are served.
        **faults: initial :class:`Faults` fields.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        faults: the live :class:`Faults` (tests change it between calls).
        log: ``(method, route, params)`` of every request, in order.
    """

    def __init__(self, data_dir: Path, *, now: Any = None, **faults: Any) -> None:
        self.data = ApiData(Path(data_dir))
        self.faults = Faults(**faults)
        self.log: list[tuple[str, str, dict]] = []
        self.tasks: dict[str, dict] = {}
        self._now = now
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> TdxApiServer:
        """Bind and serve in a daemon thread; sets :attr:`url`."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                server._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> TdxApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Clear faults, the request log and the live clock (between tests)."""
        with self._lock:
            self.faults = Faults()
            self.log.clear()
            self._now = None

    def set_now(self, now: Any) -> None:
        """Live mode from now on: a stamp (str/Timestamp), a callable returning one, or None (off)."""
        self._now = now

    def now(self) -> pd.Timestamp | None:
        """The replay clock's time, or None when not in live mode."""
        v = self._now() if callable(self._now) else self._now
        return None if v is None else pd.Timestamp(v)

    # ------------------------------------------------------------------ plumbing
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        u = urlparse(h.path)
        route = u.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(u.query).items()}
        body: Any = None
        n = int(h.headers.get("Content-Length") or 0)
        if n:
            try:
                body = json.loads(h.rfile.read(n))
            except ValueError:
                body = None
        with self._lock:
            self.log.append((method, route, dict(params)))
            f = self.faults
            fail = f.fail_5xx.get(route, 0)
            if fail:
                f.fail_5xx[route] = fail - 1
        if f.delay.get(route):
            time.sleep(f.delay[route])
        if fail:
            return self._send(h, 503, b'{"error": "unavailable"}')
        if route in f.malformed:
            return self._send(h, 200, b'{"code": 0, "message": "success", "data": {"List": [')
        if route in f.error:
            return self._json(h, {"code": -1, "message": f.error[route], "data": None})
        try:
            data = self._route(method, route, params, body)
        except _ApiFail as exc:
            return self._json(h, {"code": -1, "message": str(exc), "data": None})
        except KeyError:
            return self._send(h, 404, b'{"error": "not found"}')
        if route == "/api/health":
            return self._json(h, data)
        return self._json(h, {"code": 0, "message": "success", "data": self._mangle(route, data)})

    def _mangle(self, route: str, data: Any) -> Any:
        f = self.faults
        if isinstance(data, dict):
            key = "List" if "List" in data else "list" if "list" in data else None
            if key and route in f.empty:
                data = {**data, key: [], ("Count" if key == "List" else "count"): 0}
            elif key and route in f.reversed:
                data = {**data, key: data[key][::-1]}
            unit = f.units.get(route)
            if key and unit:
                rows = [dict(r) for r in data[key]]
                for r in rows:
                    if unit == "amount_yuan" and "Amount" in r:
                        r["Amount"] = round(r["Amount"] / 1000)
                    if unit == "volume_shares" and "Volume" in r:
                        r["Volume"] = r["Volume"] * 100
                data = {**data, key: rows}
        return data

    def _json(self, h: BaseHTTPRequestHandler, obj: Any) -> None:
        self._send(h, 200, json.dumps(obj, ensure_ascii=False).encode())

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    # ------------------------------------------------------------------- routes
    def _route(self, method: str, route: str, p: dict, body: Any) -> Any:
        r = _ROUTES.get((method, route))
        if r is not None:
            return r(self, p, body)
        if route.startswith("/api/tasks/"):
            rest = route[len("/api/tasks/"):]
            if method == "POST" and rest.endswith("/cancel"):
                return self._cancel(rest[: -len("/cancel")])
            if method == "GET" and rest in self.tasks:
                return self.tasks[rest]
            raise _ApiFail(f"任务不存在: {rest}")
        raise KeyError(route)

    def bars(self, code: str, kind: str, *, qfq: bool = False) -> pd.DataFrame:
        """Bars of ``code`` for a kline ``type``, cut at the live clock."""
        if kind not in KLINE_FREQ:
            raise _ApiFail(f"无效的K线类型: {kind}")
        ts = _ts(code)
        freq = KLINE_FREQ[kind]
        now = self.now()
        if freq in ("1d", "1w", "1M"):
            b = self.data.qfq(ts) if qfq else self.data.daily(ts)
            if now is not None:
                cut = now.normalize() + (pd.Timedelta(days=1) if now.hour >= 15 else pd.Timedelta(0))
                b = b.loc[b["trade_time"] < cut]
        else:
            b = self.data.minutes(ts)
            if now is not None:
                b = b.loc[b["trade_time"] <= now]
        return _resample(b.reset_index(drop=True), freq)

    def minute_day(self, ts: str, asked: pd.Timestamp) -> tuple[pd.Timestamp | None, pd.DataFrame]:
        m = self.data.minutes(ts)
        now = self.now()
        if now is not None:
            m = m.loc[m["trade_time"] <= now]
        days = m["trade_time"].dt.normalize()
        limit = asked - pd.Timedelta(days=1) if self.faults.minute_fallback else asked
        have = days.loc[days <= limit]
        if have.empty:
            return None, m.iloc[:0]
        d = have.max()
        return d, m.loc[days == d]

    def trades_of(self, ts: str, day: pd.Timestamp | None = None,
                  before: pd.Timestamp | None = None) -> pd.DataFrame:
        t = self.data.trades()
        t = t.loc[t["ts_code"] == ts]
        now = self.now()
        if now is not None:
            t = t.loc[t["trade_time"] <= now]
        if day is not None:
            t = t.loc[t["trade_time"].dt.normalize() == day]
        if before is not None:
            t = t.loc[t["trade_time"] < before + pd.Timedelta(days=1)]
        return t

    def today(self) -> pd.Timestamp:
        now = self.now()
        return (now if now is not None else pd.Timestamp.now()).normalize()

    def _cancel(self, task_id: str) -> dict:
        if task_id not in self.tasks:
            raise _ApiFail(f"任务不存在: {task_id}")
        t = self.tasks[task_id]
        if t["status"] == "running":
            t["status"] = "cancelled"
        return {"id": task_id, "status": t["status"]}


class _ApiFail(Exception):
    """A request the real server answers with ``code -1`` and this message."""


def _ts(code: str) -> str:
    if not code:
        raise _ApiFail("股票代码不能为空")
    try:
        return to_ts_code(code)
    except Exception:
        raise _ApiFail(f"未找到相关股票: {code}") from None


def _day(v: str | None, what: str = "date") -> pd.Timestamp | None:
    if not v:
        return None
    try:
        return pd.Timestamp(str(v)).normalize()
    except ValueError:
        raise _ApiFail(f"日期格式错误: {what}={v}") from None


def _stamp(t: pd.Series, daily: bool) -> list[str]:
    fmt = "%Y-%m-%dT00:00:00Z" if daily else "%Y-%m-%dT%H:%M:%S+08:00"
    return list(pd.DatetimeIndex(t).strftime(fmt))


def kline_rows(b: pd.DataFrame, daily: bool) -> list[dict]:
    """Bars (CNY, shares) → API records (厘, 手), in the frame's order."""
    last = np.concatenate([[0.0], b["close"].to_numpy()[:-1]]) if len(b) else np.array([])
    cols = {k: _li(b[k.lower()].to_numpy()) for k in ("Open", "High", "Low", "Close", "Amount")}
    vol, t, prev = _lots(b["volume"].to_numpy()), _stamp(b["trade_time"], daily), _li(last)
    return [{"Last": prev[i], "Open": cols["Open"][i], "High": cols["High"][i], "Low": cols["Low"][i],
             "Close": cols["Close"][i], "Volume": vol[i], "Amount": cols["Amount"][i], "Time": t[i],
             "UpCount": 0, "DownCount": 0} for i in range(len(b))]


def trade_rows(t: pd.DataFrame, wall_z: bool = False) -> list[dict]:
    """Trades (CNY, shares) → API records (厘, 手, Status 0/1/2)."""
    fmt = "%Y-%m-%dT%H:%M:%SZ" if wall_z else "%Y-%m-%dT%H:%M:%S+08:00"
    times = list(pd.DatetimeIndex(t["trade_time"]).strftime(fmt))
    price, vol = _li(t["price"].to_numpy()), _lots(t["volume"].to_numpy())
    status = t["direction"].map({"B": 0, "S": 1, "N": 2}).to_numpy()
    return [{"Time": times[i], "Price": price[i], "Volume": vol[i], "Status": int(status[i]), "Number": 1}
            for i in range(len(t))]


def _limit(p: dict) -> int | None:
    v = p.get("limit")
    return int(v) if v else None


def _kline(srv: TdxApiServer, p: dict, _: Any, *, route_index: bool = False) -> dict:
    kind = p.get("type", "day")
    b = srv.bars(p.get("code", ""), kind, qfq=kind in ("day", "week", "month") and not route_index)
    b = b.iloc[-KLINE_MAX.get(kind, KLINE_DEFAULT_MAX):]
    rows = kline_rows(b, KLINE_FREQ[kind] in ("1d", "1w", "1M"))[::-1]
    return {"Count": len(rows), "List": rows}


def _kline_history(srv: TdxApiServer, p: dict, _: Any) -> dict:
    n = min(_limit(p) or 100, 800)
    kind = p.get("type", "day")
    b = srv.bars(p.get("code", ""), kind, qfq=kind in ("day", "week", "month")).iloc[-n:]
    rows = kline_rows(b, KLINE_FREQ[kind] in ("1d", "1w", "1M"))[::-1]
    return {"Count": len(rows), "List": rows}


def _kline_all(source: str) -> Callable[[TdxApiServer, dict, Any], dict]:
    def answer(srv: TdxApiServer, p: dict, _: Any) -> dict:
        kind = p.get("type", "day")
        if source == "ths" and kind not in ("day", "week", "month"):
            raise _ApiFail(f"同花顺前复权仅支持 day/week/month, 不支持 {kind}")
        b = srv.bars(p.get("code", ""), kind, qfq=source == "ths")
        n = _limit(p)
        if n:
            b = b.iloc[-n:]
        rows = kline_rows(b, KLINE_FREQ[kind] in ("1d", "1w", "1M"))
        return {"count": len(rows), "list": rows,
                "meta": {"source": source, "type": kind, "batch_limit": 800 if source == "tdx" else len(rows),
                         "notes": []}}
    return answer


def _quote_of(srv: TdxApiServer, code: str) -> dict:
    ts = _ts(code)
    d = srv.bars(code, "day")
    m = srv.data.minutes(ts)
    now = srv.now()
    if now is not None and len(m):
        today = m.loc[(m["trade_time"].dt.normalize() == now.normalize()) & (m["trade_time"] <= now)]
        if len(today):
            d = pd.concat([d, _resample(today.assign(trade_time=now.normalize()), "1M")
                           .assign(trade_time=now.normalize())], ignore_index=True)
    if d.empty:
        raise _ApiFail(f"获取行情失败: no data for {code}")
    last = d.iloc[-1]
    prev = float(d["close"].iloc[-2]) if len(d) > 1 else 0.0
    k = dict(zip(("Last", "Open", "High", "Low", "Close"),
                 _li(np.array([prev, last["open"], last["high"], last["low"], last["close"]])),
                 strict=True))
    return {"Exchange": 1 if ts.endswith(".SH") else 0, "Code": ts.split(".")[0], "K": k,
            "ServerTime": str(int(time.time())), "TotalHand": _lots(np.array([last["volume"]]))[0],
            "Amount": _li(np.array([last["amount"]]))[0], "BuyLevel": [], "SellLevel": [], "Rate": 0.0}


def _minute(srv: TdxApiServer, p: dict, _: Any) -> dict:
    ts = _ts(p.get("code", ""))
    asked = _day(p.get("date")) or srv.today()
    d, m = srv.minute_day(ts, asked)
    hm = list(pd.DatetimeIndex(m["trade_time"]).strftime("%H:%M"))
    price, vol = _li(m["close"].to_numpy()), _lots(m["volume"].to_numpy())
    rows = [{"Time": hm[i], "Price": price[i], "Number": vol[i]} for i in range(len(m))]
    return {"date": (d or asked).strftime("%Y%m%d"), "Count": len(rows), "List": rows}


def _trade(srv: TdxApiServer, p: dict, _: Any) -> dict:
    ts = _ts(p.get("code", ""))
    day = _day(p.get("date"))
    t = srv.trades_of(ts, day or srv.today())
    t = t.iloc[-(1800 if day is None else 2000):]
    rows = trade_rows(t, wall_z=True)[::-1]  # newest first, Z wall time, as the reference's example
    return {"Count": len(rows), "List": rows}


def _trade_history(srv: TdxApiServer, p: dict, _: Any) -> dict:
    day = _day(p.get("date"))
    if day is None:
        raise _ApiFail("日期不能为空")
    t = srv.trades_of(_ts(p.get("code", "")), day)
    start, count = int(p.get("start") or 0), min(int(p.get("count") or 2000), 2000)
    rows = trade_rows(t.iloc[start:start + count])
    return {"Count": len(rows), "List": rows}


def _minute_trade_all(srv: TdxApiServer, p: dict, _: Any) -> dict:
    rows = trade_rows(srv.trades_of(_ts(p.get("code", "")), _day(p.get("date")) or srv.today()))
    return {"Count": len(rows), "List": rows}


def _trade_full(srv: TdxApiServer, p: dict, _: Any) -> dict:
    t = srv.trades_of(_ts(p.get("code", "")), before=_day(p.get("before"), "before") or srv.today())
    n = _limit(p)
    rows = trade_rows(t.iloc[-n:] if n else t)
    return {"Count": len(rows), "List": rows}


def _code_list(kind: str) -> Callable[[TdxApiServer, dict, Any], dict]:
    def answer(srv: TdxApiServer, p: dict, _: Any) -> dict:
        from tzero.market.symbols import board_of
        want = {"stock": ("main", "chinext", "star", "bse"), "etf": ("fund",), "index": ("index",)}[kind]
        codes = [c for c in srv.data.symbols() if (board_of(c) if not tdx.is_index(c) else "index") in want]
        prefix = str(p.get("prefix", "true")).lower() != "false"
        n = _limit(p)
        codes = codes[:n] if n else codes
        shown = [tdx_name(c) if prefix else c.split(".")[0] for c in codes]
        out: dict[str, Any] = {"count": len(shown), "list": shown}
        if kind == "index":
            names = srv.data.names()
            out["source"] = "builtin"
            out["items"] = [{"name": names.get(c, ""), "code": c.split(".")[0],
                             "exchange": c.split(".")[1].lower()} for c in codes]
        return out
    return answer


def _codes(srv: TdxApiServer, p: dict, _: Any) -> dict:
    ex = p.get("exchange", "all").lower()
    names = srv.data.names()
    rows = [{"code": c.split(".")[0], "name": names.get(c, ""), "exchange": c.split(".")[1].lower()}
            for c in srv.data.symbols() if ex == "all" or c.endswith("." + ex.upper())]
    counts = {e: sum(r["exchange"] == e for r in rows) for e in ("sh", "sz", "bj")}
    return {"total": len(rows), "exchanges": counts, "codes": rows}


def _iso(d: pd.Timestamp) -> dict:
    return {"iso": d.strftime("%Y-%m-%d"), "numeric": d.strftime("%Y%m%d")}


def _workday(srv: TdxApiServer, p: dict, _: Any) -> dict:
    d = _day(p.get("date")) or srv.today()
    n = max(1, min(int(p.get("count") or 1), 30))
    # next: sessions after d; previous: sessions strictly before d (the session on/before d
    # is d itself when d is one, so start one further back then)
    back = 1 if calendar.is_session(d) else 0
    try:
        nxt = [calendar.offset_session(d, k) for k in range(1, n + 1)]
        prev = [calendar.offset_session(d, -k - back) for k in range(n)]
    except Exception as exc:  # outside the calendar's range
        raise _ApiFail(f"交易日查询失败: {exc}") from None
    return {"date": _iso(d), "is_workday": bool(calendar.is_session(d)),
            "next": [_iso(x) for x in nxt], "previous": [_iso(x) for x in prev]}


def _workday_range(srv: TdxApiServer, p: dict, _: Any) -> dict:
    a, b = _day(p.get("start"), "start"), _day(p.get("end"), "end")
    if a is None or b is None:
        raise _ApiFail("start 和 end 不能为空")
    days = calendar.sessions(a, b)
    return {"count": len(days), "list": [_iso(d) for d in days]}


def _pull(kind: str) -> Callable[[TdxApiServer, dict, Any], dict]:
    def answer(srv: TdxApiServer, p: dict, body: Any) -> dict:
        if kind == "pull_trade" and body and any(tdx.is_index(_ts(c)) for c in body.get("codes", [])):
            raise _ApiFail("pull-trade 暂不支持指数")
        tid = str(uuid.uuid4())
        srv.tasks[tid] = {"id": tid, "type": kind, "status": "running", "request": body or {},
                          "started_at": pd.Timestamp.now(tz="Asia/Shanghai").isoformat()}
        return {"task_id": tid}
    return answer


_ROUTES: dict[tuple[str, str], Callable[[TdxApiServer, dict, Any], Any]] = {
    ("GET", "/api/health"): lambda s, p, b: {"status": "healthy", "time": int(time.time())},
    ("GET", "/api/quote"): lambda s, p, b: [_quote_of(s, c) for c in p.get("code", "").split(",") if c]
    or (_ for _ in ()).throw(_ApiFail("股票代码不能为空")),
    ("POST", "/api/batch-quote"): lambda s, p, b: [_quote_of(s, c) for c in (b or {}).get("codes", [])[:50]],
    ("GET", "/api/kline"): _kline,
    ("GET", "/api/kline-history"): _kline_history,
    ("GET", "/api/kline-all/tdx"): _kline_all("tdx"),
    ("GET", "/api/kline-all/ths"): _kline_all("ths"),
    ("GET", "/api/index"): lambda s, p, b: _kline(s, p, b, route_index=True),
    ("GET", "/api/index/all"): _kline_all("tdx"),
    ("GET", "/api/minute"): _minute,
    ("GET", "/api/trade"): _trade,
    ("GET", "/api/trade-history"): _trade_history,
    ("GET", "/api/minute-trade-all"): _minute_trade_all,
    ("GET", "/api/trade-history/full"): _trade_full,
    ("GET", "/api/codes"): _codes,
    ("GET", "/api/stock-codes"): _code_list("stock"),
    ("GET", "/api/etf-codes"): _code_list("etf"),
    ("GET", "/api/index-codes"): _code_list("index"),
    ("GET", "/api/workday"): _workday,
    ("GET", "/api/workday/range"): _workday_range,
    ("POST", "/api/tasks/pull-kline"): _pull("pull_kline"),
    ("POST", "/api/tasks/pull-trade"): _pull("pull_trade"),
    ("GET", "/api/tasks"): lambda s, p, b: list(s.tasks.values()),
}


def start_server(data_dir: Path, *, now: Any = None, **faults: Any) -> tuple[str, Callable[[], None]]:
    """Start a :class:`TdxApiServer`; return ``(url, stop)``. For scripts and benchmarks."""
    srv = TdxApiServer(data_dir, now=now, **faults).start()
    return srv.url, srv.stop


@contextmanager
def serving(data_dir: Path, *, now: Any = None, **faults: Any) -> Iterator[TdxApiServer]:
    """``with serving(data_dir) as srv:`` — a started server, stopped on exit."""
    srv = TdxApiServer(data_dir, now=now, **faults).start()
    try:
        yield srv
    finally:
        srv.stop()
