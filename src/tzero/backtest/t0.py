"""T+0 (做T) simulator: trade a leg around a held position under A-share rules.

A holder owns ``base_shares`` from before the first day. Each bar the strategy
says, at the bar's close, ``+1`` (buy a leg), ``-1`` (sell a leg) or ``0``. The
simulator turns these into round trips around the base position:

* **T+1**: only shares held before today are sellable today (``sellable``
  starts each day at the shares held at the open and falls with every sell).
  A round trip sells old shares then buys back, or buys first then sells old
  shares; either way it needs ``leg`` sellable shares, so a buy-first leg is
  refused when the day's sellable shares cannot cover it.
* **Fills** happen at the *next* bar of the same day: its open
  (``fill="next_open"``) or its VWAP (``fill="vwap"``: ``amount / volume``
  clipped into the bar's [low, high] because TDX volume is rounded to lots,
  ``(o + h + l + c) / 4`` when ``amount`` is NaN). Never at the signal bar's
  close. An action on a day's last bar is dropped (no order is carried
  overnight).
* **Price limits** (:func:`tzero.market.rules.price_limit_pct`) from the
  previous day's close in the bars (a suspended day keeps the last close);
  the first day uses ``prev_close`` or is unchecked (``T0Result.first_day_checked``).
  A buy is rejected when the fill bar is locked at limit-up
  (``low >= up``), a sell when locked at limit-down (``high <= down``).
  Fill prices get :class:`~tzero.backtest.costs.CostModel` slippage and are
  then clipped into ``[down, up]``.
* **Legs and round trips**: with the position at base, an action opens a leg
  (``leg_shares`` rounded down to a valid lot and to the sellable shares);
  with a leg open, the opposite action closes it; an action in the leg's
  direction is rejected (``same_direction``). At most ``max_round_trips`` legs
  are opened per day. With ``restore_by_close``, an open leg is closed by an
  order at the close of the day's second-to-last bar (filled on the last bar;
  no new leg opens there). A rejected restore keeps the position off base and
  the simulator retries at every later bar, the next days too.
* **Fees** per order from the cost model (commission minimum per order, stamp
  duty on sells, transfer fee), each rounded to the fen.
* Days without bars (suspensions) have no trades. Cash is not constrained
  (a buy-first leg is financed; cash starts at 0 and may go negative).

Accounting (CNY): ``cash`` is the running sum of sell proceeds minus buy costs
minus fees; ``equity = cash + shares × close``; ``hold_equity = base_shares ×
close`` (buy and hold); cumulative net T+0 P&L ``= equity − hold_equity =
cash + (shares − base_shares) × close`` (realised once every leg is closed).
Cost basis per share::

    cost_basis = (initial_cost × base_shares − cumulative net T+0 P&L) / base_shares
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from tzero.backtest.costs import CostModel
from tzero.market import rules

BARS_COLUMNS = ("ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount")
FILLS = ("next_open", "vwap")
#: Sessions per year for annualising (the XSHG average, 2005-2023).
SESSIONS_PER_YEAR = 242
LEGS = ("open", "close", "restore")
#: Rejection reasons, in kernel code order.
REJECT_REASONS = ("limit_up", "limit_down", "no_sellable", "max_round_trips", "last_bar",
                  "restore_window", "same_direction", "restore_limit_up", "restore_limit_down")
_EPS = 1e-9

# int state slots
_POS, _SELL, _OPENS, _RTS, _P_SIDE, _P_QTY, _P_LEG, _P_SIG, _NTR, _RESTORING, _NRT = range(11)
# float state slots
_CASH, _LEG_CASH, _DAY_FEES = range(3)
# per-day fee term columns (order of _FEE_KEYS)
_FEE_KEYS = ("commission_buy", "commission_sell", "min_commission", "stamp_buy", "stamp_sell",
             "transfer_rate", "transfer_per_share", "transfer_min", "slippage")


@dataclass(frozen=True)
class T0Config:
    """Configuration of one symbol's T+0 simulation.

    Attributes:
        base_shares: shares held from before the first day (all sellable on day 1).
        leg_shares: shares per T leg; rounded down with :func:`tzero.market.rules.round_buy`.
        max_round_trips: legs opened per day at most.
        fill: ``"next_open"`` or ``"vwap"`` (of the next bar).
        restore_by_close: close an open leg at the day's last bar.
        costs: the cost model (commission, statutory fees, slippage).
        is_st: risk-warning stock (ST price limits).
        initial_cost: cost basis per share at the start, CNY; default the
            first day's first open.
    """

    base_shares: int
    leg_shares: int
    max_round_trips: int = 1
    fill: str = "next_open"
    restore_by_close: bool = True
    costs: CostModel = field(default_factory=CostModel)
    is_st: bool = False
    initial_cost: float | None = None

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"T0Config.fill must be one of {FILLS}, got {self.fill!r}")
        if self.base_shares < 0 or self.leg_shares <= 0:
            raise ValueError("T0Config: base_shares must be >= 0 and leg_shares > 0 "
                             f"(got {self.base_shares}, {self.leg_shares})")
        if self.max_round_trips < 0:
            raise ValueError(f"T0Config.max_round_trips must be >= 0, got {self.max_round_trips}")
        if self.initial_cost is not None and not self.initial_cost > 0:
            raise ValueError(f"T0Config.initial_cost must be a positive CNY price, "
                             f"got {self.initial_cost!r}")


@dataclass
class T0Result:
    """Outcome of one symbol's simulation.

    Attributes:
        ts_code: the symbol.
        trades: one row per fill: ``ts_code, signal_time, fill_time, side``
            (buy/sell), ``price`` (CNY, after slippage), ``shares``,
            ``commission, stamp_duty, transfer_fee, fees`` (CNY), ``leg``
            (open/close/restore).
        daily: one row per day with bars: ``trade_date, close, shares_open,
            shares_close, sellable_open, cash, fees, round_trips, t0_pnl``
            (net of fees, CNY, that day's change of the cumulative P&L),
            ``cost_basis`` (CNY per share), ``equity``, ``hold_equity`` (CNY).
        rejected: count of refused actions/orders by reason (:data:`REJECT_REASONS`).
        round_trip_pnl: net CNY P&L of each completed round trip, ``[R]``.
        initial_cost: cost basis per share at the start, CNY.
        base_shares: the base position.
        first_day_checked: False when day 1 had no previous close, so its
            price limits were not checked.
    """

    ts_code: str
    trades: pd.DataFrame
    daily: pd.DataFrame
    rejected: dict[str, int]
    round_trip_pnl: np.ndarray
    initial_cost: float
    base_shares: int
    first_day_checked: bool

    def summary(self) -> dict:
        """Headline figures.

        Returns:
            dict: ``initial_cost``, ``final_cost_basis`` (CNY/share),
            ``cost_basis_reduction_pct`` (% of initial cost),
            ``cost_basis_reduction_annual_pct`` (per 242 sessions of the days
            simulated, suspended days included by the calendar of the bars'
            span), ``t0_pnl`` and ``fees`` (CNY), ``round_trips``,
            ``win_rate`` (share of round trips with net P&L > 0; NaN if none),
            ``hold_return``, ``total_return``, ``excess_return`` (decimals on
            ``initial_cost × base_shares``), ``off_base_at_end``, ``rejected``.
        """
        d = self.daily
        pnl = float(d["t0_pnl"].sum()) if len(d) else 0.0
        capital = self.initial_cost * self.base_shares
        final_basis = float(d["cost_basis"].iloc[-1]) if len(d) else self.initial_cost
        reduction = (self.initial_cost - final_basis) / self.initial_cost * 100.0
        sessions = _span_sessions(d["trade_date"]) if len(d) else 0
        hold = (float(d["hold_equity"].iloc[-1]) / capital - 1.0) if len(d) and capital else np.nan
        excess = pnl / capital if capital else np.nan
        rt = self.round_trip_pnl
        return {
            "ts_code": self.ts_code,
            "initial_cost": self.initial_cost,
            "final_cost_basis": final_basis,
            "cost_basis_reduction_pct": reduction,
            "cost_basis_reduction_annual_pct": reduction * SESSIONS_PER_YEAR / sessions
            if sessions else np.nan,
            "t0_pnl": pnl,
            "fees": float(d["fees"].sum()) if len(d) else 0.0,
            "round_trips": int(len(rt)),
            "win_rate": float((rt > 0).mean()) if len(rt) else np.nan,
            "hold_return": hold,
            "total_return": hold + excess,
            "excess_return": excess,
            "off_base_at_end": bool(len(d) and d["shares_close"].iloc[-1] != self.base_shares),
            "rejected": dict(self.rejected),
        }


def _span_sessions(days: pd.Series) -> int:
    """XSHG sessions from the first to the last day (suspensions count); bar days if outside."""
    from tzero.errors import CalendarError
    from tzero.market.calendar import sessions

    try:
        return len(sessions(days.iloc[0], days.iloc[-1]))
    except CalendarError:
        return int(len(days))


# ---------------------------------------------------------------------- kernel


@numba.njit(cache=True)
def _round_buy(q, minimum, step):
    if q < minimum:
        return 0
    return minimum + (q - minimum) // step * step


@numba.njit(cache=True)
def _fen(x):
    return np.floor(np.round(x * 100.0, 6) + 0.5) / 100.0


@numba.njit(cache=True)
def _fees(side, px, qty, fee, d, out):
    """Fill fees into out[0:3] (commission, stamp, transfer), CNY rounded to the fen."""
    value = px * qty
    rate = fee[d, 0] if side > 0 else fee[d, 1]
    out[0] = _fen(max(value * rate, fee[d, 2]))
    out[1] = _fen(value * (fee[d, 3] if side > 0 else fee[d, 4]))
    tr = value * fee[d, 5] + qty * fee[d, 6]
    out[2] = _fen(max(tr, fee[d, 7]))


@numba.njit(cache=True)
def _fill(j, d, px_bar, low, high, lim, fee, base, s, f, rej, tr_i, tr_f, rt_pnl):
    """Execute the pending order at bar j (same day as its signal). Returns nothing."""
    side, qty, leg = s[_P_SIDE], s[_P_QTY], s[_P_LEG]
    s[_P_SIDE] = 0
    down, up = lim[d, 0], lim[d, 1]
    checked = not np.isnan(up)
    if checked and side > 0 and low[j] >= up - _EPS:
        rej[7 if leg == 2 else 0] += 1
        if leg == 2:
            s[_RESTORING] = 1
        return
    if checked and side < 0 and high[j] <= down + _EPS:
        rej[8 if leg == 2 else 1] += 1
        if leg == 2:
            s[_RESTORING] = 1
        return
    px = px_bar[j] * (1.0 + side * fee[d, 8])
    if checked:
        px = min(max(px, down), up)
    parts = np.empty(3)
    _fees(side, px, qty, fee, d, parts)
    total = parts[0] + parts[1] + parts[2]
    cash_before = f[_CASH]
    f[_CASH] += -side * px * qty - total
    f[_DAY_FEES] += total
    s[_POS] += side * qty
    if side < 0:
        s[_SELL] -= qty
    k = s[_NTR]
    tr_i[k, 0], tr_i[k, 1], tr_i[k, 2], tr_i[k, 3], tr_i[k, 4] = s[_P_SIG], j, side, qty, leg
    tr_f[k, 0], tr_f[k, 1], tr_f[k, 2], tr_f[k, 3] = px, parts[0], parts[1], parts[2]
    s[_NTR] = k + 1
    if leg == 0:
        s[_OPENS] += 1
        f[_LEG_CASH] = cash_before
    elif s[_POS] == base:
        s[_RTS] += 1
        s[_RESTORING] = 0
        rt_pnl[s[_NRT]] = f[_CASH] - f[_LEG_CASH]
        s[_NRT] += 1


@numba.njit(cache=True)
def _place(i, side, qty, leg, s):
    s[_P_SIDE], s[_P_QTY], s[_P_LEG], s[_P_SIG] = side, qty, leg, i


@numba.njit(cache=True)
def _decide_off_base(i, act, restore_zone, base, s, rej):
    """Leg open: close it on the opposite action; in the restore window or while a
    rejected restore is retried the order is a restore (whatever the action says)."""
    dev = s[_POS] - base
    close_side = 1 if dev < 0 else -1
    qty = abs(dev)
    if close_side < 0:
        qty = min(qty, s[_SELL])
    forced = restore_zone or s[_RESTORING] == 1
    if act == close_side or forced:
        if qty <= 0:
            rej[2] += 1
            return
        _place(i, close_side, qty, 2 if forced else 1, s)
    elif act != 0:
        rej[6] += 1


@numba.njit(cache=True)
def _decide_at_base(i, act, restore_zone, leg, minimum, step, max_rt, s, rej):
    """Position at base: open a leg of valid lot size covered by sellable shares."""
    if act == 0:
        return
    if restore_zone:
        rej[5] += 1
        return
    if s[_OPENS] >= max_rt:
        rej[3] += 1
        return
    qty = _round_buy(min(leg, s[_SELL]), minimum, step)
    if qty <= 0:
        rej[2] += 1
        return
    _place(i, act, qty, 0, s)


@numba.njit(cache=True)
def _t0_kernel(px_bar, low, high, close, actions, day_start, day_end, lim, fee, base, leg, minimum,
               step, max_rt, restore):
    """Bar loop of one symbol. Shapes: bars [N], day_start [D+1], day_end [D] (each day's
    session end, bar index; past the data for a day still in progress), lim [D, 2], fee [D, 9]."""
    n, nd = len(px_bar), len(day_start) - 1
    s = np.zeros(11, dtype=np.int64)
    f = np.zeros(3)
    s[_POS] = base
    rej = np.zeros(9, dtype=np.int64)
    tr_i = np.zeros((n, 5), dtype=np.int64)
    tr_f = np.zeros((n, 4))
    rt_pnl = np.zeros(n)
    day_i = np.zeros((nd, 4), dtype=np.int64)   # shares_open, shares_close, sellable_open, rts
    day_f = np.zeros((nd, 3))                   # cash, fees, close
    for d in range(nd):
        a, b, e = day_start[d], day_start[d + 1], day_end[d]
        s[_SELL], s[_OPENS], s[_RTS] = s[_POS], 0, 0
        f[_DAY_FEES] = 0.0
        day_i[d, 0], day_i[d, 2] = s[_POS], s[_SELL]
        for i in range(a, b):
            if s[_P_SIDE] != 0:
                _fill(i, d, px_bar, low, high, lim, fee, base, s, f, rej, tr_i, tr_f, rt_pnl)
            act = actions[i]
            if i == e - 1:
                if act != 0:
                    rej[4] += 1
                continue
            zone = restore and i >= e - 2
            if s[_POS] != base:
                _decide_off_base(i, act, zone, base, s, rej)
            else:
                _decide_at_base(i, act, zone, leg, minimum, step, max_rt, s, rej)
        day_i[d, 1], day_i[d, 3] = s[_POS], s[_RTS]
        day_f[d, 0], day_f[d, 1], day_f[d, 2] = f[_CASH], f[_DAY_FEES], close[b - 1]
    k = s[_NTR]
    return tr_i[:k], tr_f[:k], rt_pnl[:s[_NRT]], day_i, day_f, rej


# ---------------------------------------------------------------------- inputs


def _check_bars(bars: pd.DataFrame, actions: np.ndarray) -> None:
    """Validate one symbol's Bars frame and its actions at the door."""
    missing = [c for c in BARS_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack columns {missing}: expected the Bars frame {list(BARS_COLUMNS)}")
    if len(bars) == 0:
        raise ValueError("bars are empty: pass at least one day of intraday bars")
    if bars["ts_code"].nunique() != 1:
        raise ValueError("simulate_t0 takes one symbol's bars; use simulate_t0_many for several")
    t = bars["trade_time"].to_numpy()
    if not (np.diff(t.astype("datetime64[ns]").astype(np.int64)) > 0).all():
        raise ValueError("bars must be sorted by trade_time with unique stamps")
    px = bars[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    if not (np.isfinite(px).all() and (px > 0).all()):
        raise ValueError("bars have missing or non-positive open/high/low/close prices")
    if actions.shape != (len(bars),):
        raise ValueError(f"actions must be a 1-D array aligned to the bars ({len(bars)}), "
                         f"got shape {actions.shape}")
    if not np.isin(actions, (-1, 0, 1)).all():
        raise ValueError("actions must be -1 (sell a leg), 0 or +1 (buy a leg)")


def _fill_prices(bars: pd.DataFrame, fill: str) -> np.ndarray:
    """Per-bar fill price: the open, or the VWAP (clipped into [low, high]; OHLC/4 without amount)."""
    o = bars["open"].to_numpy(np.float64)
    if fill == "next_open":
        return o
    h, lo, c = (bars[k].to_numpy(np.float64) for k in ("high", "low", "close"))
    amount = bars["amount"].to_numpy(np.float64)
    volume = bars["volume"].to_numpy(np.float64)
    ok = np.isfinite(amount) & (volume > 0)
    vwap = np.where(ok, amount / np.where(ok, volume, 1.0), (o + h + lo + c) / 4.0)
    return np.clip(vwap, lo, h)


def _day_limits(ts_code: str, days: np.ndarray, day_close: np.ndarray, is_st: bool,
                prev_close: float | None) -> np.ndarray:
    """Limit ``[D, 2]`` (down, up) per day from the previous day's close; NaN = unchecked."""
    prev = np.empty(len(days))
    prev[0] = np.nan if prev_close is None else float(prev_close)
    prev[1:] = day_close[:-1]
    pct = rules.price_limit_pcts(ts_code, days, is_st=is_st)
    down, up = rules.limit_prices_array(prev, pct, rules.price_tick(ts_code))
    return np.column_stack([down, up])


def _frames(ts_code, times, days, tr_i, tr_f, day_i, day_f, base, initial_cost):
    """Build the trades and daily frames from the kernel's arrays."""
    trades = pd.DataFrame({
        "ts_code": ts_code,
        "signal_time": times[tr_i[:, 0]],
        "fill_time": times[tr_i[:, 1]],
        "side": np.where(tr_i[:, 2] > 0, "buy", "sell"),
        "price": tr_f[:, 0],
        "shares": tr_i[:, 3],
        "commission": tr_f[:, 1],
        "stamp_duty": tr_f[:, 2],
        "transfer_fee": tr_f[:, 3],
        "fees": np.round(tr_f[:, 1:].sum(axis=1), 2),
        "leg": np.asarray(LEGS, dtype=object)[tr_i[:, 4]],
    })
    close = day_f[:, 2]
    cum = day_f[:, 0] + (day_i[:, 1] - base) * close
    basis = (initial_cost * base - cum) / base if base else np.full(len(cum), np.nan)
    daily = pd.DataFrame({
        "trade_date": pd.DatetimeIndex(days),
        "close": close,
        "shares_open": day_i[:, 0],
        "shares_close": day_i[:, 1],
        "sellable_open": day_i[:, 2],
        "cash": day_f[:, 0],
        "fees": np.round(day_f[:, 1], 2),
        "round_trips": day_i[:, 3],
        "t0_pnl": np.diff(cum, prepend=0.0),
        "cost_basis": basis,
        "equity": day_f[:, 0] + day_i[:, 1] * close,
        "hold_equity": base * close,
    })
    return trades, daily


def simulate_t0(bars: pd.DataFrame, actions: np.ndarray, config: T0Config, *,
                prev_close: float | None = None, last_day_bars: int | None = None) -> T0Result:
    """Simulate T+0 trading of one symbol around its base position (rules: module docstring).

    Args:
        bars: one symbol's intraday Bars frame (``ts_code, trade_time, open,
            high, low, close, volume, amount``; 1m/5m/15m/30m; unadjusted CNY;
            sorted; ``amount`` may be NaN).
        actions: int8 ``[N]`` aligned to ``bars``: at the close of bar i,
            +1 buy a leg, −1 sell a leg, 0 nothing.
        config: the simulation's :class:`T0Config`.
        prev_close: the close before the first day (CNY), for day 1's price
            limits; None leaves day 1 unchecked (``first_day_checked=False``).
        last_day_bars: the last day is still in progress and its session has this
            many bars in all (at least those given): its restore window and last
            bar are where the session will end, not at the last bar given. This
            is how paper trading re-runs the simulator bar by bar and gets the
            fills a whole-day run gives (the simulator is causal). None: every
            day is complete.

    Returns:
        :class:`T0Result`.

    Raises:
        ValueError: malformed bars/actions, ``leg_shares`` below one lot, or
            ``last_day_bars`` fewer than the last day's bars.
        RuleError: an index ts_code (not tradable) or dates no fee schedule covers.
    """
    actions = np.asarray(actions)
    _check_bars(bars, actions)
    ts_code = str(bars["ts_code"].iloc[0])
    minimum, step = rules.buy_lot(ts_code)
    leg = rules.round_buy(ts_code, config.leg_shares)
    if leg == 0:
        raise ValueError(f"T0Config.leg_shares={config.leg_shares} is below one lot of {ts_code} "
                         f"(minimum {minimum} shares): raise leg_shares")
    times = pd.DatetimeIndex(bars["trade_time"])
    day_of = times.normalize()
    starts = np.flatnonzero(np.r_[True, day_of[1:] != day_of[:-1]])
    day_start = np.r_[starts, len(bars)].astype(np.int64)
    day_end = day_start[1:].copy()
    if last_day_bars is not None:
        have = int(day_start[-1] - day_start[-2])
        if last_day_bars < have:
            raise ValueError(f"last_day_bars={last_day_bars} is fewer than the {have} bars given "
                             "for the last day")
        day_end[-1] = day_start[-2] + last_day_bars
    days = day_of[starts].to_numpy().astype("datetime64[D]")
    close = bars["close"].to_numpy(np.float64)
    lim = _day_limits(ts_code, days, close[day_start[1:] - 1], config.is_st, prev_close)
    if config.costs.fee_scale != 1.0:
        raise ValueError("the T+0 simulator charges the real fees only: CostModel.fee_scale must be 1")
    arrays = config.costs.fee_arrays(ts_code, days)
    fee = np.column_stack([arrays[k] for k in _FEE_KEYS]).astype(np.float64)
    tr_i, tr_f, rt, day_i, day_f, rej = _t0_kernel(
        _fill_prices(bars, config.fill), bars["low"].to_numpy(np.float64),
        bars["high"].to_numpy(np.float64), close, actions.astype(np.int8), day_start, day_end,
        np.ascontiguousarray(lim), np.ascontiguousarray(fee), int(config.base_shares), int(leg),
        int(minimum), int(step), int(config.max_round_trips), bool(config.restore_by_close))
    initial = config.initial_cost or float(bars["open"].iloc[0])
    trades, daily = _frames(ts_code, times.to_numpy(), days, tr_i, tr_f, day_i, day_f,
                            int(config.base_shares), initial)
    return T0Result(ts_code=ts_code, trades=trades, daily=daily,
                    rejected=dict(zip(REJECT_REASONS, (int(x) for x in rej), strict=True)),
                    round_trip_pnl=rt, initial_cost=initial, base_shares=int(config.base_shares),
                    first_day_checked=prev_close is not None)


def simulate_t0_many(bars: pd.DataFrame, actions: np.ndarray,
                     configs: dict[str, T0Config] | T0Config, *,
                     prev_close: dict[str, float] | None = None) -> dict[str, T0Result]:
    """Run :func:`simulate_t0` for every symbol of a long Bars frame.

    Args:
        bars: Bars frame of several symbols sorted by ``(ts_code, trade_time)``.
        actions: int8 ``[N]`` aligned to ``bars``.
        configs: one :class:`T0Config` for all, or one per ``ts_code``.
        prev_close: optional close before the first day per ``ts_code``.

    Returns:
        ``{ts_code: T0Result}`` in the order of the bars.

    Raises:
        ValueError: unsorted bars, misaligned actions, a symbol without a config.
    """
    actions = np.asarray(actions)
    if actions.shape != (len(bars),):
        raise ValueError(f"actions must be aligned to the bars ({len(bars)}), got {actions.shape}")
    ids, names = pd.factorize(bars["ts_code"])
    cuts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    if len(names) != len(cuts) - 1:
        raise ValueError("bars must be sorted by (ts_code, trade_time): a ts_code appears in "
                         "several blocks")
    out: dict[str, T0Result] = {}
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        code = str(names[ids[a]])
        cfg = configs if isinstance(configs, T0Config) else configs.get(code)
        if cfg is None:
            raise ValueError(f"no T0Config for {code}: add it to configs")
        pc = (prev_close or {}).get(code)
        out[code] = simulate_t0(bars.iloc[a:b], actions[a:b], cfg, prev_close=pc)
    return out
