"""T+0 simulator throughput: ``tzero.backtest.t0`` against backtrader on the same bars and orders.

Data: the shared data has no year of 1-minute bars for 50 stocks, so the
streams are built from the one real long 1-minute series, the SSE Composite
index (``intraday/000001.XSHG_1min.zip``, 2015-01-05 .. 2019-02-12, 1,000
sessions), read with ``tzero.data.tables.read_minute_csv``. Stream ``k`` is a
window of 242 consecutive real sessions starting ``k × step`` sessions into the
file (different real years/offsets), its prices scaled to a stock-like level
(index points / first close × (6 + 0.5 k) CNY, rounded to the 0.01 tick) and
labelled with a main-board code ``6000kk.SH`` so that lot, limit and fee rules
of a Shanghai main-board stock apply. These are real price paths under stock
labels, not real stocks.

Actions (deterministic): at each bar's close, sell a leg when the 5-bar return
is above ``+x``, buy when below ``−x`` (``--threshold``, default 0.2%).
Position: 10,000 shares held, legs of 3,000, at most 2 round trips a day,
restore by the close, fills at the next bar's open with 5 bps slippage.
Costs: commission 0.025% with the 5 CNY minimum per order, stamp duty on
sells and the transfer fee by date (``tzero.market.rules`` schedules), every
fee rounded to the fen — in backtrader through a ``CommInfoBase`` subclass that
looks the schedules up for the fill bar's date.

backtrader mirrors the simulator's rules in a ``Strategy`` (T+1 sellable
shares, legs, round-trip cap, restore at the second-to-last bar, lot
rounding); its position is the deviation from the base (the base holding
itself does not move, so short sales of "old shares" stand for sells of the
base). Price-limit checks are not reproduced in backtrader: the benchmark
reports how many limit rejections tzero had (0 expected for index paths, whose
daily moves stay inside ±10%), so both engines execute the same orders.
Compile time (numba, or loading its cache) is measured on a first call and
excluded from the timed runs.

Usage::

    .venv/bin/python benchmarks/bench_t0.py [--symbols 50] [--repeat 3] [--bt-repeat 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

from tzero.backtest.costs import CostModel, round_fen
from tzero.backtest.t0 import T0Config, simulate_t0, simulate_t0_many
from tzero.data.tables import read_minute_csv
from tzero.market import rules
from tzero.settings import get_settings

SESSIONS = 242
BASE, LEG, MAX_RT = 10_000, 3_000, 2


def build_streams(path: Path, n_symbols: int, threshold: float) -> tuple[pd.DataFrame, np.ndarray]:
    """``n_symbols`` one-year 1-minute streams from the SSE Composite file (see module docstring).

    Returns:
        ``(bars, actions)``: Bars frame sorted by ``(ts_code, trade_time)``, int8 ``[N]``.
    """
    src = read_minute_csv(path)
    day = src["trade_time"].dt.normalize()
    days = day.unique()
    step = max(1, (len(days) - SESSIONS) // max(1, n_symbols - 1))
    frames, acts = [], []
    for k in range(n_symbols):
        first = (k * step) % (len(days) - SESSIONS + 1)
        window = days[first:first + SESSIONS]
        part = src[(day >= window[0]) & (day <= window[-1])].copy()
        scale = (6.0 + 0.5 * k) / part["close"].iloc[0]
        for c in ("open", "high", "low", "close"):
            part[c] = np.round(part[c].to_numpy() * scale, 2)
        part["ts_code"] = f"6000{k:02d}.SH"
        c = part["close"].to_numpy()
        r5 = np.r_[np.zeros(5), c[5:] / c[:-5] - 1.0]
        acts.append(np.where(r5 > threshold, -1, np.where(r5 < -threshold, 1, 0)).astype(np.int8))
        frames.append(part)
    return pd.concat(frames, ignore_index=True), np.concatenate(acts)


# ---------------------------------------------------------------- backtrader side


class _Feed(bt.feeds.PandasData):
    """OHLCV plus the action and day-position lines (``first``: first bar of its day,
    ``left``: bars left in the day after this one)."""

    lines = ("act", "left", "first")
    params = (("act", -1), ("left", -1), ("first", -1), ("openinterest", None))


class AShareCommission(bt.CommInfoBase):
    """Commission with the per-order minimum + dated stamp duty (sells) + dated transfer fee.

    ``schedule`` maps a date to ``(stamp_sell, transfer_rate, per_share, transfer_min)``
    from :mod:`tzero.market.rules`; ``data`` is the feed (its current bar is the fill bar).
    """

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True),
              ("commission", 0.00025), ("min_comm", 5.0), ("schedule", None), ("data", None))

    def _getcommission(self, size, price, pseudoexec):
        stamp, rate, per_share, minimum = self.p.schedule[self.p.data.datetime.date(0)]
        q = abs(size)
        value = q * price
        comm = float(round_fen(max(value * self.p.commission, self.p.min_comm)))
        tr = float(round_fen(max(value * rate + q * per_share, minimum)))
        st = float(round_fen(value * stamp)) if size < 0 else 0.0
        return comm + tr + st


class T0Strategy(bt.Strategy):
    """The simulator's rules (tzero.backtest.t0 docstring) as a backtrader strategy."""

    params = (("base", BASE), ("leg", LEG), ("max_rt", MAX_RT), ("lot", (100, 100)))

    def __init__(self):
        self.sellable = self.p.base
        self.opens = 0
        self.fills = 0
        self.pending_leg = None

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills += 1
            if order.isbuy() is False:
                self.sellable -= abs(order.executed.size)
            if self.pending_leg == "open":
                self.opens += 1
        if order.status in (order.Completed, order.Canceled, order.Margin, order.Rejected):
            self.pending_leg = None

    def _order(self, side, qty, leg):
        self.pending_leg = leg
        if side > 0:
            self.buy(size=qty)
        else:
            self.sell(size=qty)

    def next(self):
        d = self.data
        if d.first[0]:
            self.sellable = self.p.base + self.position.size
            self.opens = 0
        act, left = int(d.act[0]), int(d.left[0])
        if left == 0:
            return
        zone = left == 1
        dev = self.position.size
        if dev != 0:
            side = 1 if dev < 0 else -1
            qty = abs(dev) if side > 0 else min(abs(dev), self.sellable)
            if (act == side or zone) and qty > 0:
                self._order(side, qty, "close")
            return
        if act == 0 or zone or self.opens >= self.p.max_rt:
            return
        minimum, step = self.p.lot
        q = min(self.p.leg, self.sellable)
        qty = 0 if q < minimum else minimum + (q - minimum) // step * step
        if qty > 0:
            self._order(act, qty, "open")


def _bt_frame(bars: pd.DataFrame, actions: np.ndarray) -> pd.DataFrame:
    day = bars["trade_time"].dt.normalize().to_numpy()
    first = np.r_[True, day[1:] != day[:-1]]
    last_idx = np.r_[np.flatnonzero(first)[1:], len(day)] - 1
    day_no = np.cumsum(first) - 1
    left = last_idx[day_no] - np.arange(len(day))
    return pd.DataFrame({"open": bars["open"].to_numpy(), "high": bars["high"].to_numpy(),
                         "low": bars["low"].to_numpy(), "close": bars["close"].to_numpy(),
                         "volume": bars["volume"].to_numpy(), "act": actions.astype(float),
                         "left": left.astype(float), "first": first.astype(float)},
                        index=pd.DatetimeIndex(bars["trade_time"]))


def _bt_schedule(ts_code: str, days: np.ndarray) -> dict:
    stamp = rules.stamp_duty_rates(days, "sell")
    rate, per_share, minimum = rules.transfer_fee_schedule(ts_code, days)
    return {pd.Timestamp(d).date(): (stamp[i], rate[i], per_share[i], minimum[i])
            for i, d in enumerate(days)}


def run_backtrader(frames: dict[str, tuple[pd.DataFrame, dict]]) -> tuple[int, float]:
    """One cerebro per symbol; returns (fills, net P&L in CNY)."""
    fills, pnl = 0, 0.0
    for _code, (df, schedule) in frames.items():
        cerebro = bt.Cerebro(stdstats=False)
        data = _Feed(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=1)
        cerebro.adddata(data)
        cerebro.broker.setcash(1e9)
        cerebro.broker.addcommissioninfo(AShareCommission(schedule=schedule, data=data))
        cerebro.broker.set_slippage_perc(5e-4, slip_open=True, slip_match=True, slip_out=True)
        cerebro.addstrategy(T0Strategy)
        strat = cerebro.run()[0]
        fills += strat.fills
        pnl += cerebro.broker.getvalue() - 1e9
    return fills, pnl


# ---------------------------------------------------------------- main


def main() -> None:
    """Build the streams, time both engines, print bars, seconds, bars/s and the speedup."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="timed tzero runs (best is reported)")
    ap.add_argument("--bt-repeat", type=int, default=1, help="timed backtrader runs")
    ap.add_argument("--threshold", type=float, default=0.002)
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args()
    data_dir = args.data_dir or get_settings().data_dir
    if data_dir is None:
        raise SystemExit("shared data absent: pass --data-dir or set TZERO_DATA_DIR")
    bars, actions = build_streams(data_dir / "intraday" / "000001.XSHG_1min.zip", args.symbols,
                                  args.threshold)
    n = len(bars)
    print(f"streams: {args.symbols} x one year of real SSE Composite 1-minute bars "
          f"(different windows, price-scaled, labelled 6000kk.SH): {n:,} bars, "
          f"{int(actions.astype(bool).sum()):,} non-zero actions")
    cfg = T0Config(base_shares=BASE, leg_shares=LEG, max_round_trips=MAX_RT, costs=CostModel())

    t0 = time.perf_counter()
    simulate_t0(bars.iloc[:480], actions[:480], cfg)
    print(f"tzero first call (numba compile or cache load): {time.perf_counter() - t0:.2f} s")
    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        res = simulate_t0_many(bars, actions, cfg)
        times.append(time.perf_counter() - t0)
    tz = min(times)
    tz_fills = sum(len(r.trades) for r in res.values())
    tz_pnl = sum(float(r.daily["t0_pnl"].sum()) for r in res.values())
    limit_rej = sum(r.rejected["limit_up"] + r.rejected["limit_down"]
                    + r.rejected["restore_limit_up"] + r.rejected["restore_limit_down"]
                    for r in res.values())
    print(f"tzero      : {n:,} bars  {tz:8.3f} s  {n / tz:14,.0f} bars/s  "
          f"(best of {len(times)}: {', '.join(f'{t:.3f}' for t in times)})  "
          f"fills {tz_fills:,}  net P&L {tz_pnl:,.2f} CNY  limit rejections {limit_rej}")

    frames = {}
    for code, part in bars.groupby("ts_code", sort=False):
        idx = part.index.to_numpy()
        days = part["trade_time"].dt.normalize().unique().to_numpy().astype("datetime64[D]")
        frames[code] = (_bt_frame(part, actions[idx]), _bt_schedule(code, days))
    bt_times = []
    for _ in range(max(1, args.bt_repeat)):
        t0 = time.perf_counter()
        bt_fills, bt_pnl = run_backtrader(frames)
        bt_times.append(time.perf_counter() - t0)
    tb = min(bt_times)
    print(f"backtrader : {n:,} bars  {tb:8.3f} s  {n / tb:14,.0f} bars/s  "
          f"fills {bt_fills:,}  net P&L {bt_pnl:,.2f} CNY")
    same = "same" if bt_fills == tz_fills else "DIFFERENT"
    print(f"speedup    : {tb / tz:,.1f}x  (fills {same}: tzero {tz_fills:,} vs "
          f"backtrader {bt_fills:,}; P&L difference {tz_pnl - bt_pnl:,.2f} CNY)")


if __name__ == "__main__":
    main()
