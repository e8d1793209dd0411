"""The daily timing simulator: one holding traded around its base position (A-share rules).

The execution half of the daily research family (:mod:`tzero.research.daily`,
whose docstring states the rules): the target decided at a close fills at the
next open with :meth:`CostModel.fill_price` slippage and
:meth:`CostModel.fees`, refused at limit-down (sell) / limit-up (buy) of the
board's band around the ex-date reference price, or when the stock has no bar
(suspended), and retried at the next open while the target stands. Fills,
limits, lots and fees use **unadjusted** prices; at an ex-date (hfq factor
``f_prev → f_t``) both the variant's and the buy-and-hold shares are
multiplied by ``f_t / f_prev``, so a dividend or split creates no false P&L.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tzero.backtest.costs import CostModel
from tzero.market import rules

#: The value of each holding's base position at the first simulated open (CNY).
BASE_VALUE_CNY = 1_000_000.0


@dataclass
class TimingResult:
    """One holding's timing run.

    Attributes:
        daily: per session: ``trade_date``, ``excess_pnl`` (CNY, variant − hold
            equity change), ``hold_prev`` (buy-and-hold value at the previous
            close, CNY), ``ret`` (decimal excess return), ``shares``, ``hold_shares``,
            ``cash`` (CNY), ``fees`` (CNY), ``traded`` (CNY value filled).
        trades: filled orders: ``trade_date, side, shares, price`` (fill, CNY),
            ``fees`` (CNY), ``pnl`` (CNY, on the buy closing a sell-first leg; NaN else).
        rejected: ``(date, side, reason)`` of refused orders.
        base_shares: shares bought at the start.
    """

    daily: pd.DataFrame
    trades: pd.DataFrame
    rejected: list[tuple]
    base_shares: int


@dataclass
class _Leg:
    """The open sell-first leg: hfq shares sold and the net cash they brought."""

    q_hfq: float = 0.0
    cash: float = 0.0


def _order(ts_code: str, want: float, held: float, hold: float) -> tuple[str | None, int]:
    """``(side, shares)`` moving ``held`` towards ``want × hold`` shares, in valid lots
    (:func:`tzero.market.rules.round_buy`; a sell of whole lots is always valid)."""
    diff = want * hold - held
    q = rules.round_buy(ts_code, abs(diff))
    if q == 0:
        return None, 0
    return ("buy" if diff > 0 else "sell"), q


def simulate_timing(ts_code: str, days, open_, close, factor, has_bar, down, up, target, *,
                    costs: CostModel, base_value: float = BASE_VALUE_CNY) -> TimingResult:
    """Timing of one holding around its base position (module docstring rules).

    Args:
        ts_code: the code traded (lots, fees).
        days: ``[T]`` sessions.
        open_: ``[T]`` raw opens (CNY; NaN when no bar).
        close: ``[T]`` raw closes, last known close where there is no bar (CNY).
        factor: ``[T]`` hfq adj factor, forward-filled.
        has_bar: ``[T]`` bool, False when suspended (no order fills).
        down, up: ``[T]`` limit-down / limit-up prices of the day (CNY; NaN = none).
        target: ``[T]`` target fraction of the base decided at the close
            (:func:`targets`; NaN = keep), filled at the next open.
        costs: the cost model.
        base_value: value of the base position at the first open (CNY).

    Returns:
        :class:`TimingResult` (empty when no session has a bar).

    Raises:
        RuleError: an index ts_code or a date the fee schedules do not cover.
    """
    days = pd.DatetimeIndex(days)
    o, c, f = (np.asarray(a, float) for a in (open_, close, factor))
    ok, tgt = np.asarray(has_bar, bool), np.asarray(target, float)
    first = int(np.argmax(ok)) if ok.any() else len(days)
    base = rules.round_buy(ts_code, base_value / o[first]) if first < len(days) else 0
    hold = held = float(base)
    cash, want, prev_level = 0.0, 1.0, 0.0
    hold_prev = hold * o[first] if base else 0.0
    leg, rows, trades, rejected = _Leg(), [], [], []
    for t in range(first, len(days)):
        if t > first and f[t] != f[t - 1]:
            r = f[t] / f[t - 1]
            hold, held = hold * r, held * r
        side, q = _order(ts_code, want, held, hold)
        fee = traded = 0.0
        if side is not None:
            reason = _refusal(side, ok[t], o[t], down[t], up[t])
            if reason:
                rejected.append((days[t], side, reason))
            else:
                px = costs.fill_price(side, o[t])
                fee = costs.fees(ts_code, side, px, q, days[t]).total
                traded = px * q
                pnl = _leg_pnl(leg, side, q, px, fee, f[t])
                cash += -traded - fee if side == "buy" else traded - fee
                held += q if side == "buy" else -q
                trades.append((days[t], side, q, px, fee, pnl))
        level = held * c[t] + cash - hold * c[t]
        rows.append((days[t], level - prev_level, hold_prev, held, hold, cash, fee, traded))
        prev_level, hold_prev = level, hold * c[t]
        if not math.isnan(tgt[t]):
            want = float(tgt[t])
    daily = pd.DataFrame(rows, columns=["trade_date", "excess_pnl", "hold_prev", "shares",
                                        "hold_shares", "cash", "fees", "traded"])
    daily["ret"] = daily["excess_pnl"] / daily["hold_prev"].where(daily["hold_prev"] > 0)
    tr = pd.DataFrame(trades, columns=["trade_date", "side", "shares", "price", "fees", "pnl"])
    return TimingResult(daily, tr, rejected, base)


def _refusal(side: str, has_bar: bool, price: float, down: float, up: float) -> str:
    """Why an order at the open cannot fill ('' when it can)."""
    if not has_bar:
        return "suspended"
    if side == "sell" and np.isfinite(down) and price <= down:
        return "limit_down"
    if side == "buy" and np.isfinite(up) and price >= up:
        return "limit_up"
    return ""


def _leg_pnl(leg: _Leg, side: str, q: int, px: float, fee: float, f: float) -> float:
    """Realised CNY P&L of a buy closing (part of) the sell-first leg; NaN otherwise."""
    if side == "sell":
        leg.q_hfq += q * f
        leg.cash += px * q - fee
        return float("nan")
    if leg.q_hfq <= 0:
        return float("nan")
    share = min(1.0, q * f / leg.q_hfq)
    pnl = share * leg.cash - (px * q + fee)
    leg.q_hfq, leg.cash = leg.q_hfq * (1 - share), leg.cash * (1 - share)
    return float(pnl)


# ----------------------------------------------------------------------------- market
@dataclass
class DailyMarket:
    """Dense ``[T, N]`` unadjusted market arrays on the session grid (see topk's rules).

    Attributes:
        days, codes: the grid. open/close: raw CNY (close forward-filled).
        has_bar: bool. factor: hfq factor (forward-filled). down/up: limit prices.
    """

    days: pd.DatetimeIndex
    codes: list[str]
    open: np.ndarray
    close: np.ndarray
    has_bar: np.ndarray
    factor: np.ndarray
    down: np.ndarray
    up: np.ndarray


def daily_market(bars: pd.DataFrame, days: pd.DatetimeIndex, codes: list[str]) -> DailyMarket:
    """Market arrays of raw bars with an ``adj_factor`` column on ``days`` × ``codes``.

    Limits use the ex-date reference price and each board's dated band, a bar
    with zero volume counts as suspended (the rules of :mod:`tzero.backtest.topk`,
    whose grid builder this reuses).
    """
    from tzero.backtest.topk import market_arrays

    m = market_arrays(bars, pd.DatetimeIndex(days), list(codes))
    return DailyMarket(m.days, m.codes, m.open, m.close, m.has_bar, m.factor, m.down, m.up)
