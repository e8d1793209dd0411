"""Hand-computed checks of the dated A-share rules (market.rules) and the cost model."""

from __future__ import annotations

import numpy as np
import pytest

from tzero.backtest.costs import QLIB_PRESET, CostModel, Fees, round_fen
from tzero.market import rules
from tzero.market.rules import RuleError
from tzero.settings import get_settings

# ------------------------------------------------------------------ stamp duty


@pytest.mark.parametrize(("day", "side", "rate"), [
    ("2023-09-01", "sell", 0.0005),
    ("2023-08-28", "sell", 0.0005),   # first day of the halved rate
    ("2023-08-25", "sell", 0.001),
    ("2023-09-01", "buy", 0.0),
    ("2008-09-19", "buy", 0.0),       # seller-only from this day
    ("2008-09-18", "buy", 0.001),
    ("2007-06-01", "sell", 0.003),
])
def test_stamp_duty_schedule(day, side, rate):
    assert rules.stamp_duty_rate(day, side) == rate


def test_stamp_duty_vectorised_matches_scalar():
    days = ["2008-04-24", "2008-09-19", "2023-08-27", "2023-08-28"]
    np.testing.assert_array_equal(rules.stamp_duty_rates(days, "sell"),
                                  [rules.stamp_duty_rate(d, "sell") for d in days])


def test_stamp_duty_errors_name_the_fix():
    with pytest.raises(RuleError, match="before the first stamp-duty entry"):
        rules.stamp_duty_rate("1999-01-04", "sell")
    with pytest.raises(RuleError, match="'buy' or 'sell'"):
        rules.stamp_duty_rate("2023-09-01", "short")


# ------------------------------------------------------------------ transfer fee


def test_transfer_fee_rates():
    assert rules.transfer_fee_rate("600519.SH", "2022-04-28") == 0.00002
    assert rules.transfer_fee_rate("600519.SH", "2022-04-29") == 0.00001
    assert rules.transfer_fee_rate("000001.SZ", "2016-01-04") == 0.00002
    assert rules.transfer_fee_rate("000001.SZ", "2015-07-31") == 0.0
    assert rules.transfer_fee_rate("430047.BJ", "2022-01-04") == 0.000025
    assert rules.transfer_fee_rate("430047.BJ", "2022-05-05") == 0.00001


def test_transfer_fee_shanghai_per_share_regime():
    # 2014: 0.6 CNY per 1,000 shares, floor 1 CNY: 10,000 sh → 6.00; 1,000 sh → 0.60 → 1.00.
    assert rules.transfer_fee("600519.SH", "2014-06-03", 10.0, 10_000) == pytest.approx(6.0)
    assert rules.transfer_fee("600519.SH", "2014-06-03", 10.0, 1_000) == 1.0
    with pytest.raises(RuleError, match="per share"):
        rules.transfer_fee_rate("600519.SH", "2014-06-03")
    with pytest.raises(RuleError, match="before the first BJ"):
        rules.transfer_fee_rate("430047.BJ", "2020-01-02")


# ------------------------------------------------------------------ price limits


def test_price_limit_pct_by_board_and_date():
    assert rules.price_limit_pct("600519.SH", "2023-01-03") == 0.10
    assert rules.price_limit_pct("600519.SH", "2023-01-03", is_st=True) == 0.05
    assert rules.price_limit_pct("300750.SZ", "2020-08-21") == 0.10
    assert rules.price_limit_pct("300750.SZ", "2020-08-21", is_st=True) == 0.05
    assert rules.price_limit_pct("300750.SZ", "2020-08-24") == 0.20
    assert rules.price_limit_pct("300750.SZ", "2020-08-24", is_st=True) == 0.20
    assert rules.price_limit_pct("688001.SH", "2021-05-06") == 0.20
    assert rules.price_limit_pct("430047.BJ", "2022-05-06") == 0.30
    assert rules.price_limit_pct("510300.SH", "2022-05-06") == 0.10
    assert rules.price_limit_pct("000300.SH", "2022-05-06") is None
    pcts = rules.price_limit_pcts("300750.SZ", ["2020-08-21", "2020-08-24"])
    np.testing.assert_array_equal(pcts, [0.10, 0.20])
    assert np.isnan(rules.price_limit_pcts("000300.SH", ["2022-05-06"])[0])


def test_limit_prices_round_half_up():
    # 10.05 × 1.1 = 11.055 → 11.06 (half up); 10.05 × 0.9 = 9.045 → 9.05.
    assert rules.limit_prices(10.05, 0.10) == (9.05, 11.06)
    # ChiNext after 2020-08-24: 20.00 × 1.2 = 24.00, × 0.8 = 16.00; 12.34 → 9.872→9.87, 14.808→14.81.
    pct = rules.price_limit_pct("300750.SZ", "2020-08-24")
    assert rules.limit_prices(20.0, pct) == (16.0, 24.0)
    assert rules.limit_prices(12.34, pct) == (9.87, 14.81)
    # ETF tick 0.001: 3.333 × 1.1 = 3.6663 → 3.666; × 0.9 = 2.9997 → 3.000.
    assert rules.limit_prices(3.333, 0.10, rules.price_tick("510300.SH")) == (3.0, 3.666)
    assert rules.limit_prices(10.0, None) == (None, None)
    down, up = rules.limit_prices_array(np.array([10.05, 12.34, 3.3]), np.array([0.1, 0.2, 0.05]))
    np.testing.assert_array_equal(down, [9.05, 9.87, 3.14])   # 3.3 × 0.95 = 3.135 → 3.14
    np.testing.assert_array_equal(up, [11.06, 14.81, 3.47])   # 3.3 × 1.05 = 3.465 → 3.47
    with pytest.raises(RuleError, match="prev_close"):
        rules.limit_prices(0.0, 0.1)


# ------------------------------------------------------------------ lots


def test_buy_lots_and_rounding():
    assert rules.buy_lot("600519.SH") == (100, 100)
    assert rules.buy_lot("300750.SZ") == (100, 100)
    assert rules.buy_lot("688001.SH") == (200, 1)
    assert rules.buy_lot("430047.BJ") == (100, 1)
    assert [rules.round_buy("688001.SH", s) for s in (199, 200, 201)] == [0, 200, 201]
    assert rules.round_buy("600519.SH", 250) == 200
    assert rules.round_buy("600519.SH", 99) == 0
    assert rules.round_buy("430047.BJ", 150) == 150
    with pytest.raises(RuleError, match="index"):
        rules.buy_lot("000300.SH")


def test_round_sell_odd_lots():
    assert rules.round_sell("600519.SH", 250, holding=250) == 250    # whole holding
    assert rules.round_sell("600519.SH", 150, holding=250) == 150    # 100 + the odd 50
    assert rules.round_sell("600519.SH", 120, holding=1000) == 100
    assert rules.round_sell("600519.SH", 500, holding=300) == 300    # capped at holding
    assert rules.round_sell("688001.SH", 150, holding=150) == 150    # below 200: all at once
    assert rules.round_sell("688001.SH", 150, holding=300) == 0
    assert rules.round_sell("688001.SH", 201, holding=300) == 201


# ------------------------------------------------------------------ cost model


def test_stamp_duty_fees_before_and_after_2023_08_28():
    cm = CostModel()
    # 10,000 × 10.00 = 100,000 CNY: × 0.0005 = 50.00; × 0.001 = 100.00.
    assert cm.fees("600519.SH", "sell", 10.0, 10_000, "2023-09-01").stamp_duty == 50.00
    assert cm.fees("600519.SH", "sell", 10.0, 10_000, "2023-08-01").stamp_duty == 100.00
    assert cm.fees("600519.SH", "buy", 10.0, 10_000, "2023-09-01").stamp_duty == 0.0


def test_commission_minimum_and_transfer():
    cm = CostModel()
    # 1,000 × 10.00 = 10,000 CNY × 0.025% = 2.50 → minimum 5.00; transfer 10,000 × 0.001% = 0.10.
    f = cm.fees("600519.SH", "buy", 10.0, 1_000, "2023-09-01")
    assert f == Fees(commission=5.0, stamp_duty=0.0, transfer_fee=0.10, total=5.10)
    # 100,000 CNY × 0.025% = 25.00; transfer in 2021: × 0.002% = 2.00; stamp 0.1% = 100.00.
    f = cm.fees("000001.SZ", "sell", 10.0, 10_000, "2021-06-01")
    assert f == Fees(commission=25.0, stamp_duty=100.0, transfer_fee=2.0, total=127.0)
    # ETF: commission only.
    f = cm.fees("510300.SH", "sell", 4.0, 10_000, "2021-06-01")
    assert (f.stamp_duty, f.transfer_fee, f.total) == (0.0, 0.0, 10.0)
    assert cm.fees("600519.SH", "sell", 10.0, 0, "2021-06-01").total == 0.0


def test_fill_price_slippage():
    cm = CostModel(slippage_bps=5.0)
    assert cm.fill_price("buy", 10.0) == pytest.approx(10.005)
    assert cm.fill_price("sell", 10.0) == pytest.approx(9.995)


def test_qlib_preset():
    # buy 100,000 CNY × 0.0005 = 50; sell × 0.0015 = 150; small buy 1,000 CNY → minimum 5.
    assert QLIB_PRESET.fees("600519.SH", "buy", 10.0, 10_000, "2021-06-01").total == 50.0
    assert QLIB_PRESET.fees("600519.SH", "sell", 10.0, 10_000, "2021-06-01").total == 150.0
    assert QLIB_PRESET.fees("600519.SH", "buy", 10.0, 100, "2021-06-01").total == 5.0
    assert QLIB_PRESET.fill_price("buy", 10.0) == 10.0


def test_from_settings_and_validation():
    cm = CostModel.from_settings(get_settings())
    assert cm.min_commission >= 0 and cm.commission_rate >= 0
    with pytest.raises(ValueError, match="both open_cost and close_cost"):
        CostModel(open_cost=0.001)
    with pytest.raises(ValueError, match="commission_rate"):
        CostModel(commission_rate=-1.0)


def test_fee_arrays_reproduce_scalar_fees():
    cm = CostModel()
    days = np.array(["2014-06-03", "2021-06-01", "2023-09-01"], dtype="datetime64[D]")
    a = cm.fee_arrays("600519.SH", days)
    p, q = 10.0, 10_000
    for i, d in enumerate(days):
        v = p * q
        comm = round_fen(max(v * a["commission_sell"][i], a["min_commission"][i]))
        stamp = round_fen(v * a["stamp_sell"][i])
        tr = round_fen(max(v * a["transfer_rate"][i] + q * a["transfer_per_share"][i],
                           a["transfer_min"][i]))
        f = cm.fees("600519.SH", "sell", p, q, d)
        assert (comm, stamp, tr) == (f.commission, f.stamp_duty, f.transfer_fee)
    q_arr = QLIB_PRESET.fee_arrays("600519.SH", days)
    assert q_arr["commission_sell"][0] == 0.0015 and q_arr["stamp_sell"].sum() == 0.0
