"""Transaction costs of A-share orders: commission, stamp duty, transfer fee, slippage.

One :class:`CostModel` prices every fill of every backtest. Statutory fees
(stamp duty, transfer fee) come from the dated schedules of
:mod:`tzero.market.rules`; the broker commission and its per-order minimum are
configuration (``Settings.commission_rate`` / ``min_commission``).

Each fee component of an order is rounded half up to the fen (0.01 CNY), as
brokers bill it. Funds/ETFs pay no stamp duty and no transfer fee; indices
cannot be traded.

Qlib mode: when ``open_cost``/``close_cost`` are set, a buy pays
``max(value × open_cost, min_commission)`` and a sell
``max(value × close_cost, min_commission)`` as the only fee (Qlib's
``Exchange(open_cost, close_cost, min_cost)``; its ``TopkDropoutStrategy``
examples use 0.0005 / 0.0015 / 5 CNY, :data:`QLIB_PRESET`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tzero.market import rules
from tzero.market.symbols import board_of


def round_fen(x):
    """Round CNY amounts half up to 0.01 (scalar or array; tolerant of binary noise)."""
    return np.floor(np.round(np.asarray(x, dtype=np.float64) * 100.0, 6) + 0.5) / 100.0


@dataclass(frozen=True)
class Fees:
    """Fees of one order, CNY each, rounded to the fen.

    Attributes:
        commission: broker commission (with the per-order minimum), or the Qlib flat cost.
        stamp_duty: stamp duty (sells since 2008-09-19).
        transfer_fee: CSDC transfer fee.
        total: the sum of the three.
    """

    commission: float
    stamp_duty: float
    transfer_fee: float
    total: float


@dataclass(frozen=True)
class CostModel:
    """Per-order cost of A-share trades.

    Attributes:
        commission_rate: broker commission, decimal of traded value, both sides.
        min_commission: CNY floor of the commission of one order.
        slippage_bps: adverse price move on every fill, basis points (5 = 0.05%).
        stamp_duty: charge stamp duty by :data:`tzero.market.rules.STAMP_DUTY_SCHEDULE`.
        transfer_fee: charge the transfer fee by
            :data:`tzero.market.rules.TRANSFER_FEE_SCHEDULE`.
        open_cost: Qlib flat rate on buys (decimal); with ``close_cost`` it
            replaces commission, stamp duty and transfer fee.
        close_cost: Qlib flat rate on sells (decimal).
        fee_scale: multiplies every fee term (commission and its minimum,
            stamp duty, transfer fee; the Qlib rates): 0.5 and 2 are the cost
            levels of the robustness matrix (spec 003 §3); 1 = the real fees.
    """

    commission_rate: float = 0.00025
    min_commission: float = 5.0
    slippage_bps: float = 5.0
    stamp_duty: bool = True
    transfer_fee: bool = True
    open_cost: float | None = None
    close_cost: float | None = None
    fee_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("commission_rate", "min_commission", "slippage_bps", "fee_scale"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"CostModel.{name} must be a finite number >= 0, got {v!r}")
        if (self.open_cost is None) != (self.close_cost is None):
            raise ValueError("CostModel: set both open_cost and close_cost (Qlib mode) or neither")
        if (self.open_cost is not None and self.close_cost is not None
                and not (self.open_cost >= 0 and self.close_cost >= 0)):
            raise ValueError("CostModel.open_cost/close_cost must be decimals >= 0 (0.0005 = 5 bps)")

    @property
    def qlib_mode(self) -> bool:
        """True when the flat Qlib rates replace the itemised fees."""
        return self.open_cost is not None

    @classmethod
    def from_settings(cls, settings) -> CostModel:
        """Build from :class:`tzero.settings.Settings` (commission, minimum, slippage)."""
        return cls(commission_rate=float(settings.commission_rate),
                   min_commission=float(settings.min_commission),
                   slippage_bps=float(settings.slippage_bps))

    def fill_price(self, side: str, price: float) -> float:
        """Price after slippage: ``price × (1 + bps/1e4)`` for buys, ``(1 − bps/1e4)`` for sells.

        Raises:
            RuleError: side not ``buy``/``sell``.
        """
        sign = 1.0 if rules._side(side) == "buy" else -1.0
        return float(price) * (1.0 + sign * self.slippage_bps / 1e4)

    def fees(self, ts_code: str, side: str, price: float, shares: float, date) -> Fees:
        """Fees of one order of ``shares`` at ``price`` (the fill price, after slippage).

        Args:
            ts_code: canonical ``ts_code``.
            side: ``"buy"`` or ``"sell"``.
            price: CNY per share.
            shares: quantity (> 0; 0 gives zero fees).
            date: trade date (selects the dated statutory rates).

        Returns:
            :class:`Fees` in CNY. Example: selling 10,000 at 10.00 on 2023-09-01
            pays stamp duty 50.00; on 2023-08-01, 100.00.

        Raises:
            RuleError: unknown side, an index ts_code, or a date no schedule covers.
        """
        side = rules._side(side)
        value = abs(float(price) * float(shares))
        if shares == 0:
            return Fees(0.0, 0.0, 0.0, 0.0)
        rules.buy_lot(ts_code)  # indices cannot be traded
        if self.qlib_mode:
            rate = self.open_cost if side == "buy" else self.close_cost
            assert rate is not None  # qlib mode: __post_init__ requires both rates
            c = float(round_fen(max(value * rate, self.min_commission) * self.fee_scale))
            return Fees(c, 0.0, 0.0, c)
        k = self.fee_scale
        commission = float(round_fen(max(value * self.commission_rate, self.min_commission) * k))
        statutory = board_of(ts_code) != "fund"
        stamp = 0.0
        if self.stamp_duty and statutory:
            stamp = float(round_fen(value * rules.stamp_duty_rate(date, side) * k))
        transfer = 0.0
        if self.transfer_fee and statutory:
            transfer = float(round_fen(rules.transfer_fee(ts_code, date, price, shares) * k))
        return Fees(commission, stamp, transfer, float(round_fen(commission + stamp + transfer)))

    def fee_arrays(self, ts_code: str, dates) -> dict[str, np.ndarray]:
        """Per-day fee terms as plain float64 arrays ``[N]`` for numba kernels.

        The fee of an order of ``q`` shares at fill price ``p`` on day ``d``
        (value ``v = p × q``; round each term to the fen) is::

            commission = max(v × rate, min_commission)     rate = commission_buy/_sell[d]
            stamp      = v × stamp_buy[d]  or  v × stamp_sell[d]
            transfer   = max(v × transfer_rate[d] + q × transfer_per_share[d], transfer_min[d])
                         (0 when q == 0)

        Args:
            ts_code: canonical ``ts_code`` (funds: zero stamp/transfer).
            dates: trade dates ``[N]``.

        Returns:
            dict with keys ``commission_buy``, ``commission_sell``,
            ``min_commission``, ``stamp_buy``, ``stamp_sell``, ``transfer_rate``,
            ``transfer_per_share``, ``transfer_min``; plus ``slippage`` (decimal,
            a scalar array of shape ``[N]`` too). In Qlib mode the commission
            arrays hold ``open_cost``/``close_cost`` and the rest is zero.
            ``fee_scale`` is not applied here: the caller multiplies each
            rounded term by it (:class:`tzero.backtest.topk._FeeTable` does).

        Raises:
            RuleError: an index ts_code or a date no schedule covers.
        """
        rules.buy_lot(ts_code)
        n = len(np.asarray(dates).ravel())
        zero = np.zeros(n)
        out = {"min_commission": np.full(n, self.min_commission),
               "slippage": np.full(n, self.slippage_bps / 1e4)}
        if self.qlib_mode:
            out.update(commission_buy=np.full(n, self.open_cost),
                       commission_sell=np.full(n, self.close_cost),
                       stamp_buy=zero.copy(), stamp_sell=zero.copy(), transfer_rate=zero.copy(),
                       transfer_per_share=zero.copy(), transfer_min=zero.copy())
            return out
        statutory = board_of(ts_code) != "fund"
        out["commission_buy"] = np.full(n, self.commission_rate)
        out["commission_sell"] = np.full(n, self.commission_rate)
        if self.stamp_duty and statutory and n:
            out["stamp_buy"] = rules.stamp_duty_rates(dates, "buy")
            out["stamp_sell"] = rules.stamp_duty_rates(dates, "sell")
        else:
            out["stamp_buy"], out["stamp_sell"] = zero.copy(), zero.copy()
        if self.transfer_fee and statutory and n:
            rate, per_share, minimum = rules.transfer_fee_schedule(ts_code, dates)
            out.update(transfer_rate=rate, transfer_per_share=per_share, transfer_min=minimum)
        else:
            out.update(transfer_rate=zero.copy(), transfer_per_share=zero.copy(),
                       transfer_min=zero.copy())
        return out


#: Qlib's TopkDropout example costs: 5 bps buys, 15 bps sells (stamp included), 5 CNY minimum.
QLIB_PRESET = CostModel(open_cost=0.0005, close_cost=0.0015, min_commission=5.0, slippage_bps=0.0)
