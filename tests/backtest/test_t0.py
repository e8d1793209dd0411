"""T+0 (做T) simulator: small worked examples whose fills and fees are computed on paper.

Synthetic frames of 30-minute bars (8 a day, stamped 10:00 … 11:30, 13:30 … 15:00)
are worked examples, not market data; the last test runs the real ``sh688001.lc1``.
Unless stated, the symbol is the main-board ``600000.SH`` in September 2023:
commission 0.025% with a 5 CNY minimum, stamp duty 0.05% on sells, transfer fee
0.001% both sides, every fee rounded half up to the fen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tzero.backtest.costs import CostModel
from tzero.backtest.t0 import T0Config, simulate_t0, simulate_t0_many
from tzero.data.tdx import read_lc

STAMPS = ("10:00", "10:30", "11:00", "11:30", "13:30", "14:00", "14:30", "15:00")
NO_SLIP = CostModel(slippage_bps=0.0)


def day_bars(day: str, opens, closes=None, *, highs=None, lows=None, amount=None,
             code: str = "600000.SH") -> pd.DataFrame:
    """One day of 8 bars; high/low default to max/min(open, close) ± 0.05."""
    o = np.asarray(opens, dtype=float)
    c = o.copy() if closes is None else np.asarray(closes, dtype=float)
    h = np.maximum(o, c) + 0.05 if highs is None else np.asarray(highs, dtype=float)
    lo = np.minimum(o, c) - 0.05 if lows is None else np.asarray(lows, dtype=float)
    return pd.DataFrame({
        "ts_code": code,
        "trade_time": pd.to_datetime([f"{day} {s}" for s in STAMPS]),
        "open": o, "high": h, "low": lo, "close": c,
        "volume": 5_000.0, "amount": np.nan if amount is None else np.asarray(amount, float),
    })


def acts(*pairs: tuple[int, int], n: int = 8) -> np.ndarray:
    """Action array of length n with (bar, action) pairs set."""
    a = np.zeros(n, dtype=np.int8)
    for i, v in pairs:
        a[i] = v
    return a


OPENS = [10.00, 10.20, 10.10, 10.00, 9.90, 9.80, 9.80, 9.90]


def test_sell_high_buy_back_low_hand_computed():
    """Hold 1,000; sell 500 at the 10:00 close, buy 500 at the 14:00 close.

    Sell fills at the 10:30 open 10.20: value 5,100; commission max(1.275, 5) = 5.00;
    stamp 5,100 × 0.05% = 2.55; transfer 5,100 × 0.001% = 0.051 → 0.05; fees 7.60.
    Buy fills at the 14:30 open 9.80: value 4,900; commission 5.00; transfer 0.049 → 0.05;
    fees 5.05. Net round trip: 5,100 − 4,900 − 7.60 − 5.05 = 187.35 CNY.
    Cost basis: initial cost = first open 10.00 → (10.00 × 1,000 − 187.35) / 1,000 = 9.81265.
    """
    bars = day_bars("2023-09-04", OPENS)
    res = simulate_t0(bars, acts((0, -1), (5, +1)), T0Config(1_000, 500, costs=NO_SLIP))
    t = res.trades
    assert list(t["side"]) == ["sell", "buy"] and list(t["leg"]) == ["open", "close"]
    assert list(t["price"]) == [10.20, 9.80] and list(t["shares"]) == [500, 500]
    assert list(t["commission"]) == [5.0, 5.0]
    assert list(t["stamp_duty"]) == [2.55, 0.0]
    assert list(t["transfer_fee"]) == [0.05, 0.05]
    assert list(t["fees"]) == [7.60, 5.05]
    assert list(t["fill_time"].dt.strftime("%H:%M")) == ["10:30", "14:30"]
    d = res.daily.iloc[0]
    assert (d["shares_open"], d["shares_close"], d["sellable_open"]) == (1000, 1000, 1000)
    assert d["t0_pnl"] == pytest.approx(187.35) and d["fees"] == pytest.approx(12.65)
    assert d["cost_basis"] == pytest.approx(9.81265)
    assert d["equity"] - d["hold_equity"] == pytest.approx(187.35)
    s = res.summary()
    assert s["round_trips"] == 1 and s["win_rate"] == 1.0
    assert s["cost_basis_reduction_pct"] == pytest.approx(1.8735)
    assert s["cost_basis_reduction_annual_pct"] == pytest.approx(1.8735 * 242)  # one session
    assert s["excess_return"] == pytest.approx(187.35 / 10_000)


def test_sellable_shares_are_never_exceeded():
    """T+1: 1,000 sellable today. Legs of 500, up to 3 round trips.

    sell 500 (bar 0 → 1), buy 500 (2 → 3), sell 500 (3 → 4): 1,000 old shares sold,
    the 1,000 bought today are not sellable, so the sell at bar 5 after the buy at bar 4
    is refused: 'no_sellable'. Shares close at 1,000.
    With legs of 800: sell 800, buy 800, then the next sell is cut to the 200 left.
    """
    bars = day_bars("2023-09-04", OPENS)
    a = acts((0, -1), (2, +1), (3, -1), (4, +1), (5, -1))
    res = simulate_t0(bars, a, T0Config(1_000, 500, max_round_trips=3, costs=NO_SLIP))
    sold = res.trades.loc[res.trades["side"] == "sell", "shares"].sum()
    assert sold == 1_000 and res.rejected["no_sellable"] == 1
    assert res.daily["shares_close"].iloc[0] == 1_000 and res.daily["round_trips"].iloc[0] == 2

    res = simulate_t0(bars, a, T0Config(1_000, 800, max_round_trips=3, costs=NO_SLIP))
    assert list(res.trades["shares"]) == [800, 800, 200, 200]
    assert res.rejected["no_sellable"] == 1


def test_max_round_trips_and_same_direction():
    """One round trip a day: a second sell after it is refused; a repeated sell too."""
    bars = day_bars("2023-09-04", OPENS)
    res = simulate_t0(bars, acts((0, -1), (1, -1), (2, +1), (3, -1)),
                      T0Config(1_000, 500, costs=NO_SLIP))
    assert len(res.trades) == 2
    assert res.rejected["same_direction"] == 1 and res.rejected["max_round_trips"] == 1


def test_buy_first_then_sell_old_shares_and_big_commission():
    """Buy 10,000 first at 10.20 (bar 0 → 1), sell 10,000 old shares at 10.00 (bar 2 → 3).

    Buy value 102,000: commission 25.50 (above the minimum), transfer 1.02.
    Sell value 100,000: commission 25.00, stamp 50.00, transfer 1.00.
    Net: 100,000 − 102,000 − 26.52 − 76.00 = −2,102.52 (a losing round trip).
    """
    bars = day_bars("2023-09-04", OPENS)
    res = simulate_t0(bars, acts((0, +1), (2, -1)), T0Config(10_000, 10_000, costs=NO_SLIP))
    t = res.trades
    assert list(t["side"]) == ["buy", "sell"]
    assert list(t["commission"]) == [25.50, 25.00] and list(t["transfer_fee"]) == [1.02, 1.00]
    assert list(t["stamp_duty"]) == [0.0, 50.0]
    assert res.round_trip_pnl.tolist() == pytest.approx([-2102.52])
    assert res.summary()["win_rate"] == 0.0


def test_buy_rejected_at_limit_up_and_restored_at_close():
    """Prev close 10.00 → limit up 11.00. Sell 500 at bar 0 (fill bar 1 open 10.50).

    The buy back signalled at bar 3 would fill at bar 4 whose high == low == 11.00
    (locked limit-up): rejected. The leg is restored by an order at bar 6's close
    filled at bar 7's open 11.00; with 5 bps slippage 11.0055 is clipped to 11.00.
    """
    opens = [10.2, 10.5, 10.6, 10.9, 11.0, 11.0, 11.0, 11.0]
    bars = day_bars("2023-09-04", opens, highs=[10.3, 10.6, 10.7, 11.0, 11.0, 11.0, 11.0, 11.0],
                    lows=[10.1, 10.4, 10.5, 10.8, 11.0, 10.9, 10.9, 10.9])
    res = simulate_t0(bars, acts((0, -1), (3, +1)), T0Config(1_000, 500), prev_close=10.0)
    assert res.rejected["limit_up"] == 1 and res.first_day_checked
    t = res.trades
    assert list(t["leg"]) == ["open", "restore"]
    assert t["price"].iloc[0] == pytest.approx(10.5 * (1 - 5e-4))
    assert t["price"].iloc[1] == 11.0
    assert t["signal_time"].iloc[1].strftime("%H:%M") == "14:30"
    assert res.daily["shares_close"].iloc[0] == 1_000
    # Without prev_close day 1 is unchecked: the buy at bar 4 fills.
    res = simulate_t0(bars, acts((0, -1), (3, +1)), T0Config(1_000, 500))
    assert not res.first_day_checked and list(res.trades["leg"]) == ["open", "close"]


def test_rejected_restore_is_retried_next_day():
    """Sell 500 on day 1; the last bar is locked at limit-up (11.00): restore rejected,
    1,000 − 500 = 500 shares at the close. Day 2 retries at its first bar (fill at bar 1).
    """
    d1 = day_bars("2023-09-04", [10.2, 10.5, 10.6, 10.9, 10.9, 10.9, 10.9, 11.0],
                  highs=[10.3, 10.6, 10.7, 11.0, 11.0, 11.0, 11.0, 11.0],
                  lows=[10.1, 10.4, 10.5, 10.8, 10.8, 10.8, 10.8, 11.0])
    d2 = day_bars("2023-09-05", [11.0, 11.1, 11.2, 11.0, 11.0, 11.0, 11.0, 11.0])
    bars = pd.concat([d1, d2], ignore_index=True)
    res = simulate_t0(bars, np.zeros(16, np.int8) + acts((0, -1), n=16),
                      T0Config(1_000, 500, costs=NO_SLIP), prev_close=10.0)
    assert res.rejected["restore_limit_up"] == 1
    assert res.daily["shares_close"].tolist() == [500, 1_000]
    assert res.daily["sellable_open"].tolist() == [1_000, 500]
    r = res.trades.iloc[-1]
    assert r["leg"] == "restore" and r["fill_time"] == pd.Timestamp("2023-09-05 10:30")
    assert r["price"] == 11.1
    # A strategy buy at bar 6 (the restore bar) is the restore: rejected the same way, retried.
    a = acts((0, -1), (6, +1), n=16)
    res2 = simulate_t0(bars, a, T0Config(1_000, 500, costs=NO_SLIP), prev_close=10.0)
    assert res2.rejected["restore_limit_up"] == 1 and res2.rejected["limit_up"] == 0
    pd.testing.assert_frame_equal(res2.trades, res.trades)


def test_fill_at_next_open_not_signal_close():
    """Changing the signal bars' closes changes no fill (fills are next bar's opens)."""
    bars = day_bars("2023-09-04", OPENS)
    a = acts((0, -1), (5, +1))
    base = simulate_t0(bars, a, T0Config(1_000, 500))
    moved = bars.copy()
    moved.loc[[0, 5], "close"] = [12.0, 8.0]
    other = simulate_t0(moved, a, T0Config(1_000, 500))
    pd.testing.assert_frame_equal(base.trades, other.trades)


def test_vwap_fill():
    """VWAP of the next bar: amount / volume = 51,100 / 5,000 = 10.22 (bar 1, range
    10.15-10.25); bar 6 has no amount: (o + h + l + c) / 4 = (9.80 + 9.85 + 9.75 + 9.80) / 4
    = 9.80. A VWAP outside the bar (52,500 / 5,000 = 10.50, lot-rounded volume) is clipped
    to the bar's high 10.25."""
    cfg = T0Config(1_000, 500, fill="vwap", costs=NO_SLIP)
    bars = day_bars("2023-09-04", OPENS, amount=[np.nan, 51_100.0] + [np.nan] * 6)
    res = simulate_t0(bars, acts((0, -1), (5, +1)), cfg)
    assert res.trades["price"].tolist() == pytest.approx([10.22, 9.80])
    bars = day_bars("2023-09-04", OPENS, amount=[np.nan, 52_500.0] + [np.nan] * 6)
    res = simulate_t0(bars, acts((0, -1), (5, +1)), cfg)
    assert res.trades["price"].tolist() == pytest.approx([10.25, 9.80])


def test_restore_forced_at_close_and_last_bar_action_dropped():
    """Sell 500 at bar 0 and never buy: restore order at bar 6 (14:30) fills at the
    15:00 open 9.90. An action on the last bar is dropped."""
    bars = day_bars("2023-09-04", OPENS)
    res = simulate_t0(bars, acts((0, -1), (7, +1)), T0Config(1_000, 500, costs=NO_SLIP))
    assert list(res.trades["leg"]) == ["open", "restore"]
    assert res.trades["price"].iloc[1] == 9.90
    assert res.rejected["last_bar"] == 1
    # Without restore the leg stays open overnight: 500 shares at the close.
    res = simulate_t0(bars, acts((0, -1)), T0Config(1_000, 500, restore_by_close=False))
    assert res.daily["shares_close"].iloc[0] == 500 and len(res.trades) == 1


def test_a_day_in_progress_restores_at_the_session_end():
    """``last_day_bars``: with 4 of 8 bars given, an open leg is not restored at bar 2 (which
    would be the restore window if the day ended there); bar by bar the prefixes give the
    whole day's fills, and fewer bars than given is refused."""
    bars = day_bars("2023-09-04", OPENS)
    a = acts((0, -1))
    cfg = T0Config(1_000, 500, costs=NO_SLIP)
    whole = simulate_t0(bars, a, cfg)
    assert list(whole.trades["leg"]) == ["open", "restore"]
    part = simulate_t0(bars.iloc[:4], a[:4], cfg, last_day_bars=8)
    assert list(part.trades["leg"]) == ["open"]
    assert list(simulate_t0(bars.iloc[:4], a[:4], cfg).trades["leg"]) == ["open", "restore"]
    for k in range(1, 9):
        pre = simulate_t0(bars.iloc[:k], a[:k], cfg, last_day_bars=8)
        exp = whole.trades.loc[whole.trades["fill_time"] <= bars["trade_time"].iloc[k - 1]]
        pd.testing.assert_frame_equal(pre.trades.reset_index(drop=True), exp.reset_index(drop=True))
    with pytest.raises(ValueError, match="last_day_bars=3 is fewer than the 4 bars"):
        simulate_t0(bars.iloc[:4], a[:4], cfg, last_day_bars=3)


def _random_days(days: list[str], seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames, p = [], 10.0
    for d in days:
        o = p * np.exp(np.cumsum(rng.normal(0, 0.004, 8)))
        frames.append(day_bars(d, np.round(o, 2), np.round(o * 1.001, 2)))
        p = o[-1]
    return pd.concat(frames, ignore_index=True)


def test_no_look_ahead():
    """Changing every bar after day d leaves all trades and daily rows up to d unchanged."""
    days = ["2023-09-04", "2023-09-05", "2023-09-06", "2023-09-07", "2023-09-08"]
    bars = _random_days(days)
    a = np.tile(acts((1, -1), (4, +1)), len(days))
    cfg = T0Config(1_000, 500)
    base = simulate_t0(bars, a, cfg)
    cut = pd.Timestamp("2023-09-07")
    later = bars["trade_time"] >= cut
    changed = bars.copy()
    changed.loc[later, ["open", "high", "low", "close"]] *= 1.07
    other = simulate_t0(changed, a, cfg)
    keep = base.trades["fill_time"] < cut
    pd.testing.assert_frame_equal(base.trades[keep], other.trades[other.trades["fill_time"] < cut])
    pd.testing.assert_frame_equal(base.daily.iloc[:3], other.daily.iloc[:3])
    assert not base.daily.iloc[3:].equals(other.daily.iloc[3:])


def test_suspended_day_has_no_trades_and_limits_use_last_close():
    """2023-09-06 is missing (suspended). 09-07's limit comes from 09-05's close 10.00:
    up 11.00, and 09-07's bar 1 is locked there (high == low == 11.00).

    Run 1: sell at bar 0 → fills on the locked bar at 11.00 (only buys are refused at
    limit-up); buy at bar 1 → fills at bar 2's open 10.90. Run 2: a buy signalled at
    bar 0 would fill on the locked bar → rejected, no trade.
    """
    d1 = day_bars("2023-09-04", [10.0] * 8)
    d2 = day_bars("2023-09-05", [10.0] * 8)
    d4 = day_bars("2023-09-07", [10.8, 11.0, 10.9, 10.9, 10.9, 10.9, 10.9, 10.9],
                  highs=[10.9, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0],
                  lows=[10.7, 11.0, 10.8, 10.8, 10.8, 10.8, 10.8, 10.8])
    bars = pd.concat([d1, d2, d4], ignore_index=True)
    a = np.zeros(24, np.int8)
    a[16], a[17] = -1, +1
    res = simulate_t0(bars, a, T0Config(1_000, 500, costs=NO_SLIP), prev_close=10.0)
    assert res.daily["trade_date"].dt.strftime("%m-%d").tolist() == ["09-04", "09-05", "09-07"]
    assert res.trades["fill_time"].dt.strftime("%m-%d").unique().tolist() == ["09-07"]
    assert res.trades["price"].tolist() == [11.0, 10.9]
    assert res.daily["shares_close"].tolist() == [1000, 1000, 1000]
    a2 = np.zeros(24, np.int8)
    a2[16] = +1
    res = simulate_t0(bars, a2, T0Config(1_000, 500, costs=NO_SLIP), prev_close=10.0)
    assert res.rejected["limit_up"] == 1 and res.trades.empty
    # With 09-06 present at 10.50, 09-07's limit up would be 11.55 and the buy would fill.
    d3 = day_bars("2023-09-06", [10.5] * 8)
    bars3 = pd.concat([d1, d2, d3, d4], ignore_index=True)
    a3 = np.r_[np.zeros(24, np.int8), a2[16:]]
    res = simulate_t0(bars3, a3, T0Config(1_000, 500, costs=NO_SLIP), prev_close=10.0)
    assert res.rejected["limit_up"] == 0 and len(res.trades) == 2


def test_many_symbols_and_validation():
    """simulate_t0_many splits by ts_code; bad input names the fix."""
    b1 = day_bars("2023-09-04", OPENS, code="600000.SH")
    b2 = day_bars("2023-09-04", OPENS, code="688001.SH")
    bars = pd.concat([b1, b2], ignore_index=True)
    a = np.r_[acts((0, -1), (5, +1)), acts((0, -1), (5, +1))]
    out = simulate_t0_many(bars, a, {"600000.SH": T0Config(1_000, 250),
                                     "688001.SH": T0Config(1_000, 250)})
    assert out["600000.SH"].trades["shares"].tolist() == [200, 200]   # 250 → 200 (lot 100)
    assert out["688001.SH"].trades["shares"].tolist() == [250, 250]   # STAR step 1
    with pytest.raises(ValueError, match="below one lot"):
        simulate_t0(b2, a[:8], T0Config(1_000, 199))
    with pytest.raises(ValueError, match="aligned"):
        simulate_t0(b1, a, T0Config(1_000, 500))
    with pytest.raises(ValueError, match="fill"):
        T0Config(1_000, 500, fill="close")


@pytest.mark.data
@pytest.mark.parametrize("fill", ["next_open", "vwap"])
def test_real_star_minute_bars_invariants(tdx_dir, fill):
    """Real 1-minute bars of 688001.SH (STAR, 2021-04/06), sell when the 5-bar return
    > 0.3%, buy when < −0.3%: shares never negative, sells within the day's sellable
    shares, legs ≥ 200 shares (STAR minimum), base restored every day."""
    bars = read_lc(tdx_dir / "vipdoc" / "sh" / "minline" / "sh688001.lc1")
    c = bars["close"].to_numpy()
    r5 = np.r_[np.zeros(5), c[5:] / c[:-5] - 1]
    a = np.where(r5 > 0.003, -1, np.where(r5 < -0.003, 1, 0)).astype(np.int8)
    res = simulate_t0(bars, a, T0Config(1_000, 300, max_round_trips=2, fill=fill))
    t = res.trades
    assert len(t) > 10 and (t["shares"] >= 200).all()
    assert (t["fill_time"] > t["signal_time"]).all()
    assert (t["fill_time"].dt.normalize() == t["signal_time"].dt.normalize()).all()
    assert (t["commission"] >= 5.0).all()
    signed = np.where(t["side"] == "buy", 1, -1) * t["shares"]
    assert (1_000 + np.cumsum(signed) >= 0).all()
    day = t["fill_time"].dt.normalize()
    sold = t[t["side"] == "sell"].groupby(day)["shares"].sum()
    sellable = res.daily.set_index("trade_date")["sellable_open"]
    assert (sold <= sellable.reindex(sold.index)).all()
    assert (res.daily["shares_close"] == 1_000).all()
    s = res.summary()
    assert s["round_trips"] == len(res.round_trip_pnl) > 0
    assert s["fees"] == pytest.approx(t["fees"].sum())
