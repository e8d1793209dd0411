"""A-share trading rules and statutory fees as explicit, dated values. No I/O.

Every rule is a module-level constant with its source, so a backtest on 2015
data charges what was charged in 2015 (STYLE.md "Domain rules as explicit,
dated values"). Dates are the first session a value applies to.

Stamp duty (印花税 on securities transactions), Ministry of Finance / State
Taxation Administration announcements, as :data:`STAMP_DUTY_SCHEDULE`:

    ==========  =========  =========  =============================================
    from        sell       buy        source
    ==========  =========  =========  =============================================
    2001-11-16  0.2%       0.2%       MoF 2001-11-16 (4‰ → 2‰ each side)
    2005-01-24  0.1%       0.1%       MoF 2005-01-23 (2‰ → 1‰)
    2007-05-30  0.3%       0.3%       MoF 2007-05-29 (1‰ → 3‰)
    2008-04-24  0.1%       0.1%       MoF 2008-04-23 (3‰ → 1‰)
    2008-09-19  0.1%       0          MoF 2008-09-18 (seller only)
    2023-08-28  0.05%      0          MoF/STA announcement 2023 No. 39 (halved)
    ==========  =========  =========  =============================================

rqalpha dates the last change the same way (2023-08-28). Dates before
2001-11-16 raise :class:`RuleError`.

Transfer fee (过户费, China Securities Depository and Clearing, CSDC), as
:data:`TRANSFER_FEE_SCHEDULE` per exchange; ``rate`` is a decimal of the traded
value, ``per_share`` CNY per share (Shanghai charged on face value before
2015-08-01), ``minimum`` CNY per order (the per-share regime's 1 CNY floor):

    SH  2005-01-24  1 CNY per 1,000 shares (1‰ of face value), min 1 CNY
    SH  2012-09-01  0.6 CNY per 1,000 shares, min 1 CNY (CSDC cut of 40%)
    SH  2015-08-01  0.002% (0.02‰) of value, both sides (CSDC notice, 2015-07)
    SZ  2005-01-24  none (included in the SZSE handling fee)
    SZ  2015-08-01  0.002% of value, both sides (same CSDC notice)
    BJ  2021-11-15  0.0025% (0.025‰) of value (BSE opening; NEEQ rate)
    all 2022-04-29  0.001% (0.01‰) of value, both sides (CSDC announcement
                    2022-04-28: "沪深市场A股 0.02‰、北京市场A股 0.025‰ …
                    统一下调为按照成交金额 0.01‰ 双向收取")

The two Shanghai per-share rows (before 2015-08-01) follow the broker fee
tables of the time (1‰ of face value, cut to 0.6‰ from 2012-09-01, floor 1 CNY);
no single CSDC notice was at hand to cite for them, so treat pre-2015 Shanghai
transfer fees as approximate. The 2015 and 2022 rows are CSDC announcements.

Funds/ETFs pay neither stamp duty nor transfer fee (applied by
:mod:`tzero.backtest.costs`; the rate functions here are for stocks).

Price limits (涨跌停, SSE/SZSE/BSE trading rules): main board ±10%, risk
warning (ST) ±5%; ChiNext ±20% from 2020-08-24 (the registration reform, ST
included), ±10% (ST ±5%) before; STAR ±20% since it opened (2019-07-22); BSE
±30%; funds/ETFs ±10%; indices have none. Rule changes after 2023 are not
encoded (check exchange notices before backtesting later ST stocks). Not
modelled: the no-limit first days after an IPO (first 5 sessions on
STAR/ChiNext/BSE, first day main board ±44%/−36%) — pass ``pct=None`` yourself
for those days.
Limit prices are ``prev_close × (1 ± pct)`` rounded half up to the tick (0.01
CNY stocks, 0.001 CNY funds), as the exchanges publish them.

Lots (申报数量, trading rules art. 3.3.x; STAR special rules art. 15; BSE
rules 3.3.x): buys on the main board and ChiNext in multiples of 100 shares;
STAR at least 200 shares then any step of 1; BSE at least 100 then steps of 1.
Sells: any quantity that a buy could be, or a quantity that includes the whole
odd-lot remainder of the holding (main board: ``q % 100 == holding % 100``;
STAR/BSE: the whole holding when it is below the minimum), see
:func:`round_sell`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from tzero.errors import TzeroError
from tzero.market.calendar import DateLike, parse_day
from tzero.market.symbols import board_of


class RuleError(TzeroError, ValueError):
    """A date, symbol or quantity no dated rule covers (names the field and the fix)."""


#: (effective date, sell rate, buy rate), decimals of traded value. See module docstring.
STAMP_DUTY_SCHEDULE: tuple[tuple[str, float, float], ...] = (
    ("2001-11-16", 0.002, 0.002),
    ("2005-01-24", 0.001, 0.001),
    ("2007-05-30", 0.003, 0.003),
    ("2008-04-24", 0.001, 0.001),
    ("2008-09-19", 0.001, 0.0),
    ("2023-08-28", 0.0005, 0.0),
)

#: exchange → ((effective date, rate of value, CNY per share, minimum CNY per order), ...)
TRANSFER_FEE_SCHEDULE: dict[str, tuple[tuple[str, float, float, float], ...]] = {
    "SH": (
        ("2005-01-24", 0.0, 0.001, 1.0),
        ("2012-09-01", 0.0, 0.0006, 1.0),
        ("2015-08-01", 0.00002, 0.0, 0.0),
        ("2022-04-29", 0.00001, 0.0, 0.0),
    ),
    "SZ": (
        ("2005-01-24", 0.0, 0.0, 0.0),
        ("2015-08-01", 0.00002, 0.0, 0.0),
        ("2022-04-29", 0.00001, 0.0, 0.0),
    ),
    "BJ": (
        ("2021-11-15", 0.000025, 0.0, 0.0),
        ("2022-04-29", 0.00001, 0.0, 0.0),
    ),
}

#: Board → price-limit decimal (normal, ST). ``chinext`` before the reform is in
#: :data:`CHINEXT_PRE_REFORM_LIMIT`.
PRICE_LIMITS: dict[str, tuple[float, float] | None] = {
    "main": (0.10, 0.05),
    "chinext": (0.20, 0.20),
    "star": (0.20, 0.20),
    "bse": (0.30, 0.30),
    "fund": (0.10, 0.10),
    "index": None,
}
#: ChiNext registration reform: ±20% from this session (SZSE ChiNext trading rules 2020).
CHINEXT_REFORM_DATE = "2020-08-24"
CHINEXT_PRE_REFORM_LIMIT = (0.10, 0.05)

#: Board → (minimum buy shares, step). Funds trade in 100-share lots like main-board stocks.
BUY_LOTS: dict[str, tuple[int, int]] = {
    "main": (100, 100),
    "chinext": (100, 100),
    "star": (200, 1),
    "bse": (100, 1),
    "fund": (100, 100),
}

#: Price tick in CNY: stocks 0.01, funds/ETFs 0.001 (SSE/SZSE trading rules art. 3.3.x).
STOCK_TICK = 0.01
FUND_TICK = 0.001

SIDES = ("buy", "sell")


# ------------------------------------------------------------------ helpers


def _day(value: DateLike, field: str = "date") -> np.datetime64:
    """One date as ``datetime64[D]``; raises RuleError naming ``field``."""
    return np.datetime64(parse_day(value, field=field, error=RuleError).date(), "D")


def _days(values, field: str = "dates") -> np.ndarray:
    """Many dates as a ``datetime64[D]`` array."""
    try:
        out = pd.DatetimeIndex(pd.to_datetime(np.asarray(values).ravel()))
    except (ValueError, TypeError) as exc:
        raise RuleError(f"{field}: cannot read as dates (use YYYY-MM-DD values)") from exc
    if out.tz is not None:
        out = out.tz_localize(None)
    return out.normalize().to_numpy().astype("datetime64[D]")


def _schedule_index(starts: np.ndarray, days: np.ndarray, what: str, field: str) -> np.ndarray:
    """Row of a dated schedule in force on each day; RuleError before the first row."""
    idx = np.searchsorted(starts, days, side="right") - 1
    if (idx < 0).any():
        bad = days[idx < 0][0]
        raise RuleError(f"{field} {bad} is before the first {what} entry ({starts[0]}); "
                        f"no dated rule covers it: use dates from {starts[0]} on")
    return idx


def _side(side: str) -> str:
    if side not in SIDES:
        raise RuleError(f"side must be 'buy' or 'sell', got {side!r}")
    return side


def _exchange(ts_code: str) -> str:
    try:
        return ts_code.split(".")[1]
    except (AttributeError, IndexError) as exc:
        raise RuleError(f"ts_code {ts_code!r} is not canonical: expected e.g. 600519.SH "
                        "(parse user input with tzero.market.symbols.to_ts_code)") from exc


_STAMP_STARTS = np.array([r[0] for r in STAMP_DUTY_SCHEDULE], dtype="datetime64[D]")
_STAMP_RATES = np.array([(r[1], r[2]) for r in STAMP_DUTY_SCHEDULE], dtype=np.float64)


# ------------------------------------------------------------------ stamp duty


def stamp_duty_rate(day: DateLike, side: str) -> float:
    """Stamp duty on an A-share trade, decimal of traded value.

    Args:
        day: trade date.
        side: ``"buy"`` or ``"sell"``.

    Returns:
        The rate in force (e.g. 0.0005 for a sell from 2023-08-28; 0.0 for a buy).

    Raises:
        RuleError: unknown side, or a date before 2001-11-16 (first schedule entry).

    Source: :data:`STAMP_DUTY_SCHEDULE` (MoF announcements).
    """
    col = 0 if _side(side) == "sell" else 1
    i = _schedule_index(_STAMP_STARTS, np.array([_day(day)]), "stamp-duty", "date")[0]
    return float(_STAMP_RATES[i, col])


def stamp_duty_rates(days, side: str) -> np.ndarray:
    """Vectorised :func:`stamp_duty_rate`: float64 array shaped like ``days``.

    Raises:
        RuleError: as :func:`stamp_duty_rate`.
    """
    col = 0 if _side(side) == "sell" else 1
    d = _days(days)
    return _STAMP_RATES[_schedule_index(_STAMP_STARTS, d, "stamp-duty", "date"), col].copy()


# ------------------------------------------------------------------ transfer fee


def transfer_fee_schedule(ts_code: str, days) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transfer-fee terms in force on each day for one symbol's exchange.

    Args:
        ts_code: canonical ``ts_code`` (``600519.SH``).
        days: dates, array-like ``[N]``.

    Returns:
        ``(rate, per_share, minimum)``, float64 ``[N]`` each: decimal of value,
        CNY per share, CNY floor per order (0 when there is none).

    Raises:
        RuleError: unknown exchange, or a date before the exchange's first entry.
    """
    ex = _exchange(ts_code)
    if ex not in TRANSFER_FEE_SCHEDULE:
        raise RuleError(f"no transfer-fee schedule for exchange {ex!r} of {ts_code}: "
                        f"expected one of {sorted(TRANSFER_FEE_SCHEDULE)}")
    rows = TRANSFER_FEE_SCHEDULE[ex]
    starts = np.array([r[0] for r in rows], dtype="datetime64[D]")
    terms = np.array([r[1:] for r in rows], dtype=np.float64)
    idx = _schedule_index(starts, _days(days), f"{ex} transfer-fee", "date")
    return terms[idx, 0].copy(), terms[idx, 1].copy(), terms[idx, 2].copy()


def transfer_fee_rate(ts_code: str, day: DateLike) -> float:
    """Transfer fee as a decimal of traded value (both sides).

    Args:
        ts_code: canonical ``ts_code``.
        day: trade date.

    Returns:
        e.g. 0.00002 (SH/SZ 2015-08-01 .. 2022-04-28), 0.00001 from 2022-04-29.

    Raises:
        RuleError: the date falls in Shanghai's per-share regime (before
            2015-08-01), which no value rate expresses — use :func:`transfer_fee`;
            or no schedule entry covers the date/exchange.
    """
    rate, per_share, _ = transfer_fee_schedule(ts_code, [_day(day)])
    if per_share[0] > 0:
        raise RuleError(f"transfer fee of {ts_code} on {_day(day)} is charged per share "
                        "(Shanghai before 2015-08-01), not on value: use "
                        "tzero.market.rules.transfer_fee(ts_code, date, price, shares)")
    return float(rate[0])


def transfer_fee(ts_code: str, day: DateLike, price: float, shares: float) -> float:
    """Transfer fee of one order in CNY, any regime (value or per share with floor).

    Args:
        ts_code: canonical ``ts_code``.
        day: trade date.
        price: fill price, CNY per share.
        shares: quantity (positive).

    Returns:
        CNY, not rounded.

    Raises:
        RuleError: as :func:`transfer_fee_schedule`.
    """
    rate, per_share, minimum = transfer_fee_schedule(ts_code, [_day(day)])
    fee = abs(price * shares) * rate[0] + abs(shares) * per_share[0]
    return float(max(fee, minimum[0])) if shares else 0.0


# ------------------------------------------------------------------ price limits


def price_limit_pct(ts_code: str, day: DateLike, *, is_st: bool = False) -> float | None:
    """Daily price-limit band as a decimal of the previous close, or None (no limit).

    Args:
        ts_code: canonical ``ts_code``.
        day: trade date.
        is_st: the stock is under risk warning (ST/*ST) that day.

    Returns:
        0.10 main board (0.05 ST), 0.20 ChiNext from 2020-08-24 (0.10/0.05
        before), 0.20 STAR, 0.30 BSE, 0.10 funds, None indices.

    Source: SSE/SZSE/BSE trading rules (module docstring); IPO first days not modelled.
    """
    board = board_of(ts_code)
    limits = PRICE_LIMITS[board]
    if limits is None:
        return None
    if board == "chinext" and _day(day) < np.datetime64(CHINEXT_REFORM_DATE, "D"):
        limits = CHINEXT_PRE_REFORM_LIMIT
    return limits[1] if is_st else limits[0]


def price_limit_pcts(ts_code: str, days, *, is_st: bool = False) -> np.ndarray:
    """Vectorised :func:`price_limit_pct`: float64 ``[N]``, NaN where there is no limit."""
    d = _days(days)
    board = board_of(ts_code)
    limits = PRICE_LIMITS[board]
    if limits is None:
        return np.full(d.shape, np.nan)
    out = np.full(d.shape, limits[1] if is_st else limits[0], dtype=np.float64)
    if board == "chinext":
        pre = d < np.datetime64(CHINEXT_REFORM_DATE, "D")
        out[pre] = CHINEXT_PRE_REFORM_LIMIT[1] if is_st else CHINEXT_PRE_REFORM_LIMIT[0]
    return out


def price_tick(ts_code: str) -> float:
    """Minimum price step in CNY: 0.001 for funds/ETFs, 0.01 otherwise."""
    return FUND_TICK if board_of(ts_code) == "fund" else STOCK_TICK


def limit_prices(prev_close: float, pct: float | None, tick: float = STOCK_TICK
                 ) -> tuple[float, float] | tuple[None, None]:
    """Limit-down and limit-up prices, rounded half up to the tick as exchanges publish them.

    Example: prev close 10.05, 10% → (9.05, 11.06) since 11.055 rounds up.

    Args:
        prev_close: previous session's close, CNY.
        pct: band as a decimal (0.10), or None for no limit.
        tick: price step in CNY (see :func:`price_tick`).

    Returns:
        ``(down, up)`` in CNY, or ``(None, None)`` when ``pct`` is None.

    Raises:
        RuleError: ``prev_close`` not positive.
    """
    if pct is None:
        return None, None
    if not prev_close > 0:
        raise RuleError(f"prev_close must be a positive price in CNY, got {prev_close!r}")
    q = Decimal(str(tick))
    pc, p = Decimal(repr(float(prev_close))), Decimal(repr(float(pct)))
    down = (pc * (1 - p)).quantize(q, rounding=ROUND_HALF_UP)
    up = (pc * (1 + p)).quantize(q, rounding=ROUND_HALF_UP)
    return float(down), float(up)


def limit_prices_array(prev_close: np.ndarray, pct: np.ndarray, tick: float = STOCK_TICK
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`limit_prices`: ``(down, up)`` float64 arrays; NaN where pct/prev is NaN.

    Rounds half up on ``prev_close × (1 ± pct) / tick`` after removing binary
    noise (rounded to 1e-6 ticks first), so 10.05 × 1.1 = 11.055 → 11.06.
    """
    pc = np.asarray(prev_close, dtype=np.float64)
    p = np.asarray(pct, dtype=np.float64)
    decimals = max(0, int(round(-np.log10(tick))))

    def _round(x: np.ndarray) -> np.ndarray:
        return np.round(np.floor(np.round(x / tick, 6) + 0.5) * tick, decimals)

    return _round(pc * (1.0 - p)), _round(pc * (1.0 + p))


# ------------------------------------------------------------------ lots


def buy_lot(ts_code: str) -> tuple[int, int]:
    """``(minimum shares, step)`` of a buy order.

    Returns:
        main/ChiNext/funds (100, 100), STAR (200, 1), BSE (100, 1).

    Raises:
        RuleError: indices (not tradable).
    """
    board = board_of(ts_code)
    if board not in BUY_LOTS:
        raise RuleError(f"{ts_code} is an index ({board}); it cannot be traded: "
                        "use a stock or ETF ts_code")
    return BUY_LOTS[board]


def round_buy(ts_code: str, shares: float) -> int:
    """Largest valid buy quantity ≤ ``shares`` (0 if below the minimum).

    Example: main board 250 → 200; STAR 199 → 0, 200 → 200, 201 → 201.
    """
    minimum, step = buy_lot(ts_code)
    s = int(np.floor(shares + 1e-9))
    if s < minimum:
        return 0
    return minimum + (s - minimum) // step * step


def round_sell(ts_code: str, shares: float, holding: float) -> int:
    """Largest valid sell quantity ≤ ``shares`` out of ``holding`` sellable shares.

    A sell may be any valid buy quantity, or include the whole odd-lot
    remainder: on 100-share boards ``q % 100 == holding % 100``; on STAR/BSE
    (step 1) the whole holding when it is below the minimum. ``shares`` above
    ``holding`` is capped to the holding (selling everything is always valid).

    Args:
        ts_code: canonical ``ts_code``.
        shares: wanted quantity.
        holding: sellable shares now (shares held before today, T+1).
    """
    minimum, step = buy_lot(ts_code)
    h = int(np.floor(holding + 1e-9))
    s = min(int(np.floor(shares + 1e-9)), h)
    if s <= 0:
        return 0
    if s == h:
        return h
    best = round_buy(ts_code, s)
    odd = h % step if step > 1 else 0
    if odd and s >= odd:
        best = max(best, (s - odd) // step * step + odd)
    return best
