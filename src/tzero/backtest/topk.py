"""Daily TopkDropout portfolio under A-share rules (Qlib's TopkDropoutStrategy, made honest).

Strategy (Qlib ``qlib.contrib.strategy.TopkDropoutStrategy``, ``method_sell="bottom"``,
``method_buy="top"``, ``hold_thresh=1``): hold about ``topk`` names. After the
close of day *t*, with today's scores:

1. ``last`` = the held names sorted by score (best first; no score = worst);
2. ``today`` = the best ``n_drop + topk − len(last)`` scored names not held;
3. ``comb`` = ``last ∪ today`` sorted by score; ``sell`` = held names among
   the ``n_drop`` worst of ``comb``;
4. ``buy`` = the first ``len(sell) + topk − len(last)`` names of ``today``.

Orders are filled at the **open of t+1** (never at t's close). Sells go first;
then each buy gets ``cash × risk_degree / len(buy)`` of the cash after sells,
as in Qlib (a sell that fails does not shrink the buy list, so the book may
briefly hold more than ``topk`` names).

A-share rules on top of Qlib's:

- **Universe as of the decision date**: only index members on day *t*
  (:func:`tzero.data.universe.membership_matrix`) can be bought; a held name
  that left the index has no score and is dropped first. No survivorship bias.
- **Price limits**: no buy when the fill-day open is at or above limit-up, no
  sell when it is at or below limit-down (:func:`tzero.market.rules.limit_prices_array`,
  band by board and date from :func:`tzero.market.rules.price_limit_pcts`).
  The base is the previous close brought to the ex-date reference price
  (``prev_close × f_prev / f_t`` with the hfq ``adj_factor`` f), as the
  exchanges do after a dividend or bonus issue. ST status is not known here:
  every name gets its board's normal band.
- **Suspension**: a name with no bar (or a bar with zero volume) on the fill
  day cannot trade (it keeps its last close for valuation).
- **Lots**: buys are rounded down by :func:`tzero.market.rules.round_buy`
  (100 shares on main board/ChiNext); sells always sell the whole holding,
  which is valid for any odd-lot remainder.
- **Costs**: :class:`tzero.backtest.costs.CostModel` (``fill_price`` for
  slippage, ``fees`` for commission with its minimum, stamp duty, transfer
  fee). Default: the realistic A-share ``CostModel()``; Qlib's preset is
  ``QLIB_PRESET``.

Prices and corporate actions: fills, limits, lots and fees use **unadjusted**
prices (what the exchange traded). At an ex-date (the hfq factor changes from
``f_prev`` to ``f_t``) every holding is multiplied by ``f_t / f_prev``, i.e. the
dividend or bonus shares are reinvested at the ex-date reference price. The
book's value therefore follows the hfq (total-return) series and a split or
dividend creates no false P&L; holdings may become fractional after an ex-date
and are sold whole.

Returns: ``equity_t / equity_{t−1} − 1`` with equity = cash + Σ shares × close
(last known close when suspended), one value per session from the first fill
day on. Turnover = (bought + sold value) / previous equity, per day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tzero.backtest import metrics
from tzero.backtest.costs import QLIB_PRESET, CostModel, Fees, round_fen
from tzero.data.universe import membership_matrix
from tzero.market import rules
from tzero.market.symbols import board_of

__all__ = ["QLIB_PRESET", "TopkConfig", "TopkResult", "simulate_topk"]

FILLS = ("open",)
_TRADE_COLUMNS = ["trade_date", "ts_code", "side", "price", "shares", "value", "commission",
                  "stamp_duty", "transfer_fee", "fees", "pnl"]


@dataclass(frozen=True)
class TopkConfig:
    """Parameters of :func:`simulate_topk`.

    Attributes:
        topk: names held (equal weight of cash at purchase).
        n_drop: names swapped out per day at most.
        initial_cash: starting cash, CNY (Qlib's default account is 1e8).
        risk_degree: share of cash invested on each buy day (Qlib default 0.95).
        costs: the cost model (default: realistic A-share costs ``CostModel()``).
        fill: fill price on day t+1; only ``"open"``.
    """

    topk: int = 50
    n_drop: int = 5
    initial_cash: float = 1e8
    risk_degree: float = 0.95
    costs: CostModel = field(default_factory=CostModel)
    fill: str = "open"

    def __post_init__(self) -> None:
        if self.topk < 1 or not 0 <= self.n_drop <= self.topk:
            raise ValueError(f"TopkConfig needs topk >= 1 and 0 <= n_drop <= topk; "
                             f"got topk={self.topk}, n_drop={self.n_drop}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {self.fill!r}")
        if not (self.initial_cash > 0 and 0 < self.risk_degree <= 1):
            raise ValueError("initial_cash must be > 0 CNY and risk_degree in (0, 1]")


@dataclass
class TopkResult:
    """Outcome of :func:`simulate_topk`.

    Attributes:
        returns: daily decimal returns after costs, indexed by session.
        benchmark: benchmark daily returns on the same sessions, or None.
        equity: end-of-day equity, CNY.
        positions: shares held at each close ``[session × ts_code]`` (codes ever held).
        trades: one row per fill: ``trade_date, ts_code, side (buy|sell), price``
            (CNY, after slippage), ``shares, value`` (CNY), ``commission,
            stamp_duty, transfer_fee, fees`` (CNY), ``pnl`` (CNY, realised on
            sells net of both sides' fees; NaN on buys).
        fees: fees paid per session, CNY.
        turnover: (bought + sold value) / previous equity per session, decimal.
        rejected: orders refused ``trade_date, ts_code, side, reason``
            (``limit_up``, ``limit_down``, ``suspended``, ``lot``).
    """

    returns: pd.Series
    benchmark: pd.Series | None
    equity: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame
    fees: pd.Series
    turnover: pd.Series
    rejected: pd.DataFrame

    def performance(self, **kw) -> dict:
        """:func:`tzero.backtest.metrics.performance` of this run (``kw``: n_trials, …)."""
        return metrics.performance(self.returns, benchmark=self.benchmark, trades=self.trades,
                                   fees=float(self.fees.sum()), turnover=self.turnover, **kw)


@dataclass
class _Book:
    """Mutable state of the simulation (arrays over codes)."""

    cash: float
    shares: np.ndarray
    basis: np.ndarray
    fee: _FeeTable
    trades: list = field(default_factory=list)
    rejected: list = field(default_factory=list)


@dataclass(frozen=True)
class MarketArrays:
    """Dense ``[T, N]`` arrays of the bars on the session grid."""

    days: pd.DatetimeIndex
    codes: list[str]
    open: np.ndarray
    close: np.ndarray        # last known close (forward-filled)
    has_bar: np.ndarray
    factor: np.ndarray       # hfq adj factor, forward-filled, 1.0 where unknown
    down: np.ndarray         # limit-down price of the day, NaN = no limit
    up: np.ndarray


def market_arrays(bars: pd.DataFrame, days: pd.DatetimeIndex, codes: list[str]) -> MarketArrays:
    """Dense ``[T, N]`` open/close/adj-factor/limit arrays of ``bars`` on the session grid ``days``.

    Args:
        bars: raw (unadjusted) daily Bars with ``adj_factor`` when known.
        days: the sessions (rows); codes: the ts_codes (columns).

    Returns:
        :class:`MarketArrays` (prices CNY; limits by board and date from
        :mod:`tzero.market.rules`).
    """
    b = bars.assign(_d=pd.DatetimeIndex(bars["trade_time"]).normalize())

    def grid(col: str) -> np.ndarray:
        return (b.pivot(index="_d", columns="ts_code", values=col)
                .reindex(index=days, columns=codes).to_numpy(dtype=float))

    o, c = grid("open"), grid("close")
    f = grid("adj_factor") if "adj_factor" in b.columns else np.ones_like(c)
    has = np.isfinite(o) & np.isfinite(c) & (o > 0)
    if "volume" in b.columns:           # a record with no volume traded nothing: suspended
        has &= grid("volume") > 0
    cf = pd.DataFrame(c).ffill().to_numpy()
    ff = pd.DataFrame(f).ffill().bfill().fillna(1.0).to_numpy()
    prev_c = np.vstack([np.full((1, len(codes)), np.nan), cf[:-1]])
    prev_f = np.vstack([ff[:1], ff[:-1]])
    ref = prev_c * prev_f / ff
    down = np.full_like(ref, np.nan)
    up = np.full_like(ref, np.nan)
    by_board: dict[str, list[int]] = {}
    for j, code in enumerate(codes):
        by_board.setdefault(board_of(code), []).append(j)
    for cols in by_board.values():   # the band depends only on board and date
        code = codes[cols[0]]
        pct = rules.price_limit_pcts(code, days)[:, None]
        down[:, cols], up[:, cols] = rules.limit_prices_array(ref[:, cols], pct,
                                                              rules.price_tick(code))
    return MarketArrays(days, codes, o, cf, has, ff, down, up)


class _FeeTable:
    """Fast per-order fees from :meth:`CostModel.fee_arrays` (one call per fee class).

    The statutory terms depend only on the exchange and on stock vs fund, so
    ``fee_arrays`` is called once per such class over the session grid, and each
    order applies the formula documented there (every term rounded to the fen,
    then the total), which reproduces :meth:`CostModel.fees` exactly
    (``tests/backtest/test_topk.py`` checks it) without its per-call date parsing.
    """

    def __init__(self, costs: CostModel, codes: list[str], days: pd.DatetimeIndex) -> None:
        self.costs = costs
        self.codes = codes
        self.key: list[tuple[str, bool] | None] = []
        self.terms: dict[tuple[str, bool], dict[str, np.ndarray]] = {}
        for code in codes:
            board = board_of(code)
            if board == "index":
                self.key.append(None)
                continue
            k = (code.split(".")[1], board == "fund")
            if k not in self.terms:
                self.terms[k] = costs.fee_arrays(code, days)
            self.key.append(k)

    def __call__(self, j: int, t: int, side: str, price: float, shares: float) -> Fees:
        """Fees of ``shares`` of code ``j`` at ``price`` (CNY) on session ``t``."""
        if shares == 0:
            return Fees(0.0, 0.0, 0.0, 0.0)
        k = self.key[j]
        if k is None:
            rules.buy_lot(self.codes[j])  # raises RuleError: an index cannot be traded
        assert k is not None  # only index codes have no fee class, and buy_lot raised for them
        a = self.terms[k]
        v = abs(price * shares)
        rate = a["commission_buy" if side == "buy" else "commission_sell"][t]
        s = self.costs.fee_scale
        c = float(round_fen(max(v * rate, a["min_commission"][t]) * s))
        sd = float(round_fen(v * a["stamp_buy" if side == "buy" else "stamp_sell"][t] * s))
        tf = float(round_fen(max(v * a["transfer_rate"][t] + abs(shares) * a["transfer_per_share"][t],
                                 a["transfer_min"][t]) * s))
        return Fees(c, sd, tf, float(round_fen(c + sd + tf)))


def _rank(idx: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """``idx`` sorted by score, best first; NaN scores last; ties by code order."""
    key = np.where(np.isfinite(sc[idx]), sc[idx], -np.inf)
    return idx[np.lexsort((idx, -key))]


def _decide(sc: np.ndarray, held: np.ndarray, cfg: TopkConfig) -> tuple[np.ndarray, np.ndarray]:
    """Qlib TopkDropout: (sell, buy) code indices from one day's scores (see module doc).

    A day without any finite score (e.g. a window whose model could not be
    fitted) trades nothing rather than selling arbitrary holdings.
    """
    if not np.isfinite(sc).any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    last = _rank(np.flatnonzero(held), sc)
    cand = np.flatnonzero(np.isfinite(sc) & ~held)
    today = _rank(cand, sc)[:max(cfg.n_drop + cfg.topk - len(last), 0)]
    comb = _rank(np.concatenate([last, today]), sc)
    worst = comb[len(comb) - cfg.n_drop:] if cfg.n_drop else comb[:0]
    sell = last[np.isin(last, worst)]
    buy = today[:max(len(sell) + cfg.topk - len(last), 0)]
    return sell, buy


def _trade(book: _Book, m: MarketArrays, t: int, j: int, side: str, shares: float,
           cfg: TopkConfig) -> float:
    """Fill one order at t's open; returns the traded value (CNY)."""
    code, day = m.codes[j], m.days[t]
    price = cfg.costs.fill_price(side, float(m.open[t, j]))
    value = price * shares
    fee = book.fee(j, t, side, price, shares)
    pnl = np.nan
    if side == "sell":
        book.cash += value - fee.total
        pnl = value - fee.total - book.basis[j]
        book.shares[j] = 0.0
        book.basis[j] = 0.0
    else:
        book.cash -= value + fee.total
        book.shares[j] += shares
        book.basis[j] += value + fee.total
    book.trades.append((day, code, side, price, shares, value, fee.commission, fee.stamp_duty,
                        fee.transfer_fee, fee.total, pnl))
    return value


def _sell(book: _Book, m: MarketArrays, t: int, sell: np.ndarray, cfg: TopkConfig) -> float:
    traded = 0.0
    for j in sell:
        if not m.has_bar[t, j]:
            book.rejected.append((m.days[t], m.codes[j], "sell", "suspended"))
        elif m.open[t, j] <= m.down[t, j]:
            book.rejected.append((m.days[t], m.codes[j], "sell", "limit_down"))
        else:
            traded += _trade(book, m, t, j, "sell", float(book.shares[j]), cfg)
    return traded


def _affordable(book: _Book, m: MarketArrays, t: int, j: int, budget: float, cfg: TopkConfig) -> int:
    """Most shares (valid lot) whose cost plus fees fits ``budget`` and the cash."""
    code = m.codes[j]
    price = cfg.costs.fill_price("buy", float(m.open[t, j]))
    q = rules.round_buy(code, budget / price)
    step = rules.buy_lot(code)[1]
    while q > 0 and q * price + book.fee(j, t, "buy", price, q).total > book.cash:
        q = rules.round_buy(code, q - step)
    return q


def _buy(book: _Book, m: MarketArrays, t: int, buy: np.ndarray, cfg: TopkConfig) -> float:
    if len(buy) == 0:
        return 0.0
    budget = book.cash * cfg.risk_degree / len(buy)
    traded = 0.0
    for j in buy:
        if not m.has_bar[t, j]:
            book.rejected.append((m.days[t], m.codes[j], "buy", "suspended"))
        elif m.open[t, j] >= m.up[t, j]:
            book.rejected.append((m.days[t], m.codes[j], "buy", "limit_up"))
        else:
            q = _affordable(book, m, t, j, budget, cfg)
            if q > 0:
                traded += _trade(book, m, t, j, "buy", float(q), cfg)
            else:
                book.rejected.append((m.days[t], m.codes[j], "buy", "lot"))
    return traded


def _check_inputs(scores: pd.DataFrame, bars: pd.DataFrame) -> None:
    missing = {"ts_code", "trade_time", "open", "close"} - set(bars.columns)
    if missing:
        raise ValueError(f"bars lack columns {sorted(missing)}: pass a daily Bars frame "
                         "(unadjusted, optional adj_factor column)")
    if not isinstance(scores.index, pd.DatetimeIndex) or not scores.index.is_monotonic_increasing:
        raise ValueError("scores must be a [session × ts_code] frame with a sorted DatetimeIndex")


def simulate_topk(scores: pd.DataFrame, bars: pd.DataFrame, *, membership: pd.DataFrame | None,
                  config: TopkConfig | None = None,
                  benchmark: pd.Series | None = None) -> TopkResult:
    """Simulate a daily TopkDropout book (see the module docstring for every rule).

    Args:
        scores: ``[session × ts_code]`` floats, higher = better, known at each
            session's close (NaN = not a candidate). Sessions are the decision
            days; the simulation spans the bar sessions from the first to the
            last score date (the last decision fills on the next bar session
            when the bars reach it).
        bars: daily Bars frame, **unadjusted** ``ts_code, trade_time, open,
            close`` (CNY) plus optional ``volume`` (shares) and ``adj_factor``
            (hfq, for ex-dates); a name without a bar, or with zero volume, on
            a session is suspended that day.
        membership: index membership periods ``[ts_code, start, end]``
            (:func:`tzero.data.universe.read_index_membership`); only members
            on the decision day are candidates. None: every scored name.
        config: :class:`TopkConfig` (default one).
        benchmark: daily decimal benchmark returns (e.g. CSI 300), optional.

    Returns:
        :class:`TopkResult`.

    Raises:
        ValueError: bars without the needed columns, unsorted scores, or no
            bar session within the score dates.
    """
    cfg = config or TopkConfig()
    _check_inputs(scores, bars)
    bdays = pd.DatetimeIndex(pd.to_datetime(bars["trade_time"])).normalize().unique().sort_values()
    first, last = scores.index[0], scores.index[-1]
    nxt = bdays[bdays > last][:1]
    days = bdays[(bdays >= first) & (bdays <= last)].append(nxt)
    if len(days) < 2:
        raise ValueError(f"no two bar sessions between {first.date()} and {last.date()}: "
                         "pass bars that cover the score dates")
    codes = sorted(set(scores.columns) | set(bars["ts_code"].unique()))
    m = market_arrays(bars, days, codes)
    sc = scores.reindex(index=days, columns=codes).to_numpy(dtype=float)
    if membership is not None:
        mem = membership_matrix(membership, days).reindex(columns=codes, fill_value=False)
        sc = np.where(mem.to_numpy(dtype=bool), sc, np.nan)
    n = len(codes)
    book = _Book(cfg.initial_cash, np.zeros(n), np.zeros(n), _FeeTable(cfg.costs, codes, days))
    T = len(days)
    equity = np.empty(T)
    fees = np.zeros(T)
    turnover = np.zeros(T)
    pos = np.zeros((T, n))
    equity[0] = cfg.initial_cash
    for t in range(1, T):
        book.shares *= m.factor[t] / m.factor[t - 1]      # ex-date: reinvest at reference price
        n_before = len(book.trades)
        sell, buy = _decide(sc[t - 1], book.shares > 0, cfg)
        traded = _sell(book, m, t, sell, cfg) + _buy(book, m, t, buy, cfg)
        fees[t] = sum(tr[9] for tr in book.trades[n_before:])
        turnover[t] = traded / equity[t - 1]
        held = book.shares > 0
        equity[t] = book.cash + float(book.shares[held] @ m.close[t, held])
        pos[t] = book.shares
    idx = days[1:]
    ever = pos.any(axis=0)
    returns = pd.Series(equity[1:] / equity[:-1] - 1.0, index=idx, name="returns")
    bench = (pd.Series(benchmark, dtype=float).reindex(idx).fillna(0.0).rename("benchmark")
             if benchmark is not None else None)
    return TopkResult(
        returns=returns, benchmark=bench, equity=pd.Series(equity[1:], index=idx, name="equity"),
        positions=pd.DataFrame(pos[1:, ever], index=idx, columns=np.array(codes)[ever]),
        trades=pd.DataFrame(book.trades, columns=_TRADE_COLUMNS),
        fees=pd.Series(fees[1:], index=idx, name="fees"),
        turnover=pd.Series(turnover[1:], index=idx, name="turnover"),
        rejected=pd.DataFrame(book.rejected, columns=["trade_date", "ts_code", "side", "reason"]))
