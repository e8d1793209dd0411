"""TopkDropout under A-share rules: a case worked out on paper, no look-ahead, ex-dates, data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tzero.backtest.costs import QLIB_PRESET, CostModel
from tzero.backtest.topk import TopkConfig, simulate_topk

A, B, C = "600000.SH", "600004.SH", "000001.SZ"
DAYS = pd.bdate_range("2021-03-01", "2021-03-05")  # Mon..Fri, all XSHG sessions
#: Commission 2.5 bp (min 5 CNY), stamp duty 0.1 % on sells, transfer fee 0.002 % (2021).
COSTS = CostModel(commission_rate=0.00025, min_commission=5.0, slippage_bps=0.0)


def _bars(rows: dict[str, list[tuple[float, float] | None]]) -> pd.DataFrame:
    out = []
    for code, ocs in rows.items():
        for d, oc in zip(DAYS, ocs, strict=True):
            if oc is not None:  # None: suspended, no bar
                out.append((code, d, oc[0], oc[1]))
    return pd.DataFrame(out, columns=["ts_code", "trade_time", "open", "close"])


def _membership(codes, start="2020-01-01", end="2023-12-31") -> pd.DataFrame:
    return pd.DataFrame({"ts_code": list(codes), "start": pd.Timestamp(start),
                         "end": pd.Timestamp(end)})


# (open, close) per day; B opens at limit-up on day 3 (prev close 5.00 -> 5.50);
# C has no bar on day 5 (suspended).
HAND_BARS = _bars({
    A: [(9.90, 10.00), (10.00, 10.20), (10.10, 10.00), (10.00, 9.90), (10.00, 10.10)],
    B: [(4.70, 4.80), (4.80, 5.00), (5.50, 5.50), (5.40, 5.30), (5.30, 5.20)],
    C: [(19.50, 19.80), (19.80, 20.00), (20.00, 19.80), (20.00, 20.50), None],
})
HAND_SCORES = pd.DataFrame(
    [[3, 2, 1], [2, 3, 1], [1, 2, 3], [3, 2, 1], [3, 2, 1]], index=DAYS, columns=[A, B, C],
    dtype=float)


def _hand(costs=COSTS):
    cfg = TopkConfig(topk=1, n_drop=1, initial_cash=100_000.0, risk_degree=0.95, costs=costs)
    return simulate_topk(HAND_SCORES, HAND_BARS, membership=_membership([A, B, C]), config=cfg)


def test_hand_computed_three_stocks_five_days():
    """Worked on paper (CNY; fees rounded to the fen):

    day 1 close: scores A>B>C -> buy A.
    day 2 open: buy A 9,500 sh @ 10.00 (95,000 × 0.95 budget = 95,000 / 10.00):
        commission 23.75, transfer 1.90 -> fees 25.65; cash 4,974.35.
        close 10.20 -> equity 4,974.35 + 96,900 = 101,874.35.  scores B>A>C: sell A, buy B.
    day 3 open: sell A 9,500 @ 10.10 = 95,950: commission 23.99, stamp 95.95,
        transfer 1.92 -> 121.86; cash 100,802.49; pnl 95,950 - 121.86 - 95,025.65 = 802.49.
        B opens at 5.50 = limit-up of 5.00 × 1.1 -> buy rejected. equity 100,802.49.
        scores C>B>A, nothing held -> buy C.
    day 4 open: budget 100,802.49 × 0.95 = 95,762.37 -> 4,788 -> 4,700 sh @ 20.00 = 94,000:
        commission 23.50, transfer 1.88 -> 25.38; cash 6,777.11.
        close 20.50 -> equity 6,777.11 + 96,350 = 103,127.11. scores A>B>C: sell C, buy A.
    day 5: C suspended -> cannot sell. Buy A: budget 6,777.11 × 0.95 = 6,438.25 ->
        600 sh @ 10.00 = 6,000: commission max(1.50, 5) = 5.00 (minimum), transfer 0.12
        -> 5.12; cash 771.99. equity 771.99 + 600 × 10.10 + 4,700 × 20.50 = 103,181.99.
    """
    r = _hand()
    eq = [101_874.35, 100_802.49, 103_127.11, 103_181.99]
    np.testing.assert_allclose(r.equity.to_numpy(), eq, atol=1e-6)
    np.testing.assert_allclose(r.returns.to_numpy(),
                               np.array(eq) / np.array([100_000.0] + eq[:-1]) - 1.0, atol=1e-12)
    t = r.trades
    assert list(zip(t["trade_date"], t["ts_code"], t["side"], t["shares"], strict=True)) == [
        (DAYS[1], A, "buy", 9500), (DAYS[2], A, "sell", 9500), (DAYS[3], C, "buy", 4700),
        (DAYS[4], A, "buy", 600)]
    np.testing.assert_allclose(t["fees"], [25.65, 121.86, 25.38, 5.12], atol=1e-9)
    np.testing.assert_allclose(t["commission"], [23.75, 23.99, 23.50, 5.00], atol=1e-9)
    np.testing.assert_allclose(t["stamp_duty"], [0.0, 95.95, 0.0, 0.0], atol=1e-9)
    assert t["pnl"].iloc[1] == pytest.approx(802.49, abs=1e-6)
    assert t["pnl"].drop(index=1).isna().all()
    rej = r.rejected
    assert list(zip(rej["trade_date"], rej["ts_code"], rej["side"], rej["reason"],
                    strict=True)) == [(DAYS[2], B, "buy", "limit_up"),
                                      (DAYS[4], C, "sell", "suspended")]
    assert r.positions.loc[DAYS[4]].to_dict() == {A: 600.0, C: 4700.0}
    np.testing.assert_allclose(r.fees.to_numpy(), [25.65, 121.86, 25.38, 5.12], atol=1e-9)
    assert r.turnover.iloc[0] == pytest.approx(95_000 / 100_000)


def test_zero_volume_bar_counts_as_suspended():
    c5 = pd.DataFrame({"ts_code": [C], "trade_time": [DAYS[4]], "open": [20.5], "close": [20.5]})
    bars = pd.concat([HAND_BARS, c5], ignore_index=True).assign(volume=1e6)
    bars.loc[bars.index[-1], "volume"] = 0.0
    cfg = TopkConfig(topk=1, n_drop=1, initial_cash=100_000.0, costs=COSTS)
    r = simulate_topk(HAND_SCORES, bars, membership=_membership([A, B, C]), config=cfg)
    assert r.rejected.iloc[-1].to_dict() == {"trade_date": DAYS[4], "ts_code": C, "side": "sell",
                                             "reason": "suspended"}
    assert r.equity.iloc[-1] == pytest.approx(103_181.99)


def test_qlib_preset_charges_flat_rates_with_minimum():
    r = _hand(QLIB_PRESET)
    t = r.trades
    # buy 9,500 @ 10.00: 95,000 × 5 bp = 47.50; sell 95,950 × 15 bp = 143.925 -> 143.93
    assert t["fees"].iloc[0] == pytest.approx(47.50)
    assert t["fees"].iloc[1] == pytest.approx(143.93)
    assert t["fees"].iloc[-1] == pytest.approx(5.00)  # small last buy pays the 5 CNY minimum


def _random_market(n_codes=12, n_days=60, seed=3):
    rng = np.random.default_rng(seed)
    days = pd.DatetimeIndex(pd.bdate_range("2021-01-04", periods=n_days * 2))
    from tzero.market.calendar import session_mask
    days = days[session_mask(days)][:n_days]
    codes = [f"60{i:04d}.SH" for i in range(n_codes)]
    rows = []
    for code in codes:
        c = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, n_days)))
        o = c * np.exp(rng.normal(0, 0.005, n_days))
        for k, d in enumerate(days):
            if rng.random() > 0.05:
                rows.append((code, d, o[k], c[k], 1.0))
    bars = pd.DataFrame(rows, columns=["ts_code", "trade_time", "open", "close", "adj_factor"])
    scores = pd.DataFrame(rng.normal(size=(n_days, n_codes)), index=days, columns=codes)
    return bars, scores, codes, days


def test_no_look_ahead_changes_after_d_do_not_change_results_up_to_d():
    bars, scores, codes, days = _random_market()
    cfg = TopkConfig(topk=4, n_drop=1, initial_cash=1e6)
    mem = _membership(codes)
    base = simulate_topk(scores, bars, membership=mem, config=cfg)
    d = days[30]
    rng = np.random.default_rng(9)
    s2 = scores.copy()
    s2.loc[s2.index > d] = rng.normal(size=s2.loc[s2.index > d].shape)
    b2 = bars.copy()
    late = b2["trade_time"] > d
    b2.loc[late, ["open", "close"]] *= rng.uniform(0.9, 1.1, size=(late.sum(), 1))
    b2 = b2.drop(index=b2[late].sample(frac=0.2, random_state=1).index)
    other = simulate_topk(s2, b2, membership=mem, config=cfg)
    pd.testing.assert_series_equal(base.returns.loc[:d], other.returns.loc[:d])
    t1 = base.trades[base.trades["trade_date"] <= d].reset_index(drop=True)
    t2 = other.trades[other.trades["trade_date"] <= d].reset_index(drop=True)
    pd.testing.assert_frame_equal(t1, t2)
    assert not base.returns.loc[d:].iloc[1:].equals(other.returns.loc[d:].iloc[1:])


def test_fills_are_at_next_open_not_todays_close():
    bars, scores, codes, days = _random_market(n_codes=5, n_days=10)
    bars = bars.assign(adj_factor=1.0)
    r = simulate_topk(scores, bars, membership=_membership(codes),
                      config=TopkConfig(topk=2, n_drop=1, initial_cash=1e6,
                                        costs=CostModel(slippage_bps=0.0)))
    first = r.trades.iloc[0]
    assert first["trade_date"] > days[0]
    bar = bars[(bars["ts_code"] == first["ts_code"]) & (bars["trade_time"] == first["trade_date"])]
    assert first["price"] == pytest.approx(bar["open"].iloc[0])


def test_ex_date_split_creates_no_false_pnl():
    """A 2-for-1 split on day 3: raw price halves, the hfq factor doubles, hfq is flat."""
    days = DAYS
    bars = pd.DataFrame({"ts_code": A, "trade_time": days,
                         "open": [10.0, 10.0, 5.0, 5.0, 5.0], "close": [10.0, 10.0, 5.0, 5.0, 5.0],
                         "adj_factor": [1.0, 1.0, 2.0, 2.0, 2.0]})
    scores = pd.DataFrame({A: [1.0] * 5}, index=days)
    r = simulate_topk(scores, bars, membership=None,
                      config=TopkConfig(topk=1, n_drop=0, initial_cash=1e5,
                                        costs=CostModel(slippage_bps=0.0)))
    assert r.returns.iloc[1:].abs().max() < 1e-12       # no P&L after the buy day
    assert r.positions[A].iloc[-1] == pytest.approx(2 * r.trades["shares"].iloc[0])
    assert r.rejected.empty                            # open 5.00 is not limit-down of 10.00


def test_only_members_on_the_decision_date_are_bought():
    mem = pd.DataFrame({"ts_code": [A, B, C],
                        "start": pd.to_datetime(["2020-01-01", "2021-03-03", "2020-01-01"]),
                        "end": pd.to_datetime(["2023-01-01", "2023-01-01", "2023-01-01"])})
    scores = pd.DataFrame([[1, 9, 2]] * 5, index=DAYS, columns=[A, B, C], dtype=float)
    bars = HAND_BARS.assign(open=HAND_BARS["close"])  # no limit hits
    r = simulate_topk(scores, bars, membership=mem,
                      config=TopkConfig(topk=1, n_drop=1, initial_cash=1e5))
    # B (best score) joins the index on day 3: before that C is bought, then swapped for B.
    t = r.trades
    assert t.iloc[0]["ts_code"] == C and t.iloc[0]["trade_date"] == DAYS[1]
    assert (t[t["ts_code"] == B]["trade_date"] >= DAYS[3]).all()


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="n_drop"):
        TopkConfig(topk=5, n_drop=6)
    with pytest.raises(ValueError, match="fill"):
        TopkConfig(fill="close")


# ----------------------------------------------------------------------------- real data
#: A few real CSI 300 members (some left the index in 2015–2023) and the index itself.
REAL_CODES = ("600000.SH", "600004.SH", "600009.SH", "600010.SH", "600015.SH", "600016.SH",
              "600018.SH", "600019.SH", "600028.SH", "600030.SH", "600031.SH", "600036.SH",
              "600048.SH", "600050.SH", "600104.SH", "600519.SH", "000001.SZ", "000002.SZ",
              "000063.SZ", "000333.SZ", "000651.SZ", "000725.SZ", "000858.SZ", "002415.SZ",
              "300059.SZ")


@pytest.fixture(scope="module")
def real_panel(data_dir, tdx_dir, tmp_path_factory):
    """A market store with REAL_CODES + 000300.SH (symlinked TDX files) and their adj factors."""
    from tzero.backtest.scores import load_csi300_panel
    from tzero.data.ingest import ingest_table, ingest_tdx
    from tzero.data.store import MarketStore

    root = tmp_path_factory.mktemp("csi")
    for code in (*REAL_CODES, "000300.SH"):
        num, ex = code.split(".")
        src = tdx_dir / "vipdoc" / ex.lower() / "lday" / f"{ex.lower()}{num}.day"
        dst = root / "tdx" / "vipdoc" / ex.lower() / "lday" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
    adj = pd.read_parquet(data_dir / "reference" / "adj_factor.parquet",
                          filters=[("ts_code", "in", list(REAL_CODES))])
    adj.to_parquet(root / "adj.parquet", index=False)
    store = MarketStore(root / "market")
    ingest_tdx(store, root / "tdx")
    ingest_table(store, root / "adj.parquet", "adj_factor")
    return load_csi300_panel(store, data_dir / "reference" / "csi300_membership.txt")


@pytest.mark.data
def test_panel_is_raw_plus_hfq_factor(real_panel):
    b = real_panel.bars
    assert set(b["ts_code"]) == set(REAL_CODES)
    assert (b["adj_factor"] > 0).all()
    moutai = b[(b["ts_code"] == "600519.SH") & (b["trade_time"] == "2023-02-24")]
    assert moutai["close"].iloc[0] == pytest.approx(1776.0, abs=50)   # raw price, not adjusted
    assert real_panel.benchmark is not None and real_panel.benchmark.abs().max() < 0.1


@pytest.mark.data
@pytest.mark.parametrize("kind", ["momentum", "reversal", "ridge"])
def test_scores_use_data_up_to_t_only(real_panel, kind):
    from tzero.backtest.scores import DailyPanel, walk_forward_scores
    from tzero.backtest.walkforward import rolling_windows

    p = real_panel
    windows = rolling_windows(p.sessions, 242, 60, gap=5)[:6]
    full = walk_forward_scores(p, windows, kind)
    d = windows[3].test_start + (windows[3].test_end - windows[3].test_start) / 2
    cut = DailyPanel(p.bars[p.bars["trade_time"] <= d], p.close.loc[:d], p.membership)
    part = walk_forward_scores(cut, windows, kind)
    assert full.loc[:d].notna().to_numpy().sum() > 100
    pd.testing.assert_frame_equal(full.loc[:d], part.loc[:d])


@pytest.mark.data
@pytest.mark.parametrize("kind", ["momentum", "ridge"])
def test_in_sample_scores_cover_each_train_part(real_panel, kind):
    from tzero.backtest.scores import in_sample_scores, walk_forward_scores
    from tzero.backtest.walkforward import rolling_windows

    windows = rolling_windows(real_panel.sessions, 242, 121, gap=5)[2:4]
    iss = in_sample_scores(real_panel, windows, kind)
    assert set(iss) == {w.index for w in windows}
    for w in windows:
        s = iss[w.index]
        assert s.index.min() >= w.train_start and s.index.max() <= w.train_end
        assert s.notna().to_numpy().sum() > 1000
    oos = walk_forward_scores(real_panel, windows, kind)
    assert oos.index.min() == windows[0].test_start


@pytest.mark.data
def test_real_topk_walk_forward_runs_and_is_judged(real_panel):
    from tzero.backtest.gates import judge
    from tzero.backtest.scores import walk_forward_scores
    from tzero.backtest.walkforward import rolling_windows

    p = real_panel
    windows = rolling_windows(p.sessions, 242, 121, gap=5)
    s = walk_forward_scores(p, windows, "momentum")
    r = simulate_topk(s, p.bars, membership=p.membership, benchmark=p.benchmark,
                      config=TopkConfig(topk=5, n_drop=1))
    perf = r.performance(n_trials=3)
    assert perf["n_days"] > 1000 and perf["n_trades"] > 100
    assert r.positions.gt(0).sum(axis=1).max() <= 7
    # never buys a stock that was not an index member on the decision day
    from tzero.data.universe import membership_matrix
    mm = membership_matrix(p.membership, p.sessions)
    prev = {d: p.sessions[i - 1] for i, d in enumerate(p.sessions) if i}
    buys = r.trades[r.trades["side"] == "buy"]
    assert all(mm.at[prev[d], c] for d, c in zip(buys["trade_date"], buys["ts_code"], strict=True))
    assert judge(perf).status in {"kept", "watch", "blocked"}


@pytest.mark.parametrize("costs", [CostModel(), QLIB_PRESET, CostModel(fee_scale=2.0),
                                   CostModel(fee_scale=0.5)],
                         ids=["ashare", "qlib", "ashare-x2", "ashare-x0.5"])
def test_fast_fee_table_equals_cost_model_fees(costs):
    from tzero.backtest.topk import _FeeTable
    from tzero.market.calendar import sessions

    codes = ["600000.SH", "000001.SZ", "688001.SH", "300750.SZ", "510300.SH"]
    days = sessions("2015-07-20", "2023-09-15")
    table = _FeeTable(costs, codes, days)
    rng = np.random.default_rng(4)
    for _ in range(400):
        j, t = int(rng.integers(len(codes))), int(rng.integers(len(days)))
        side = "buy" if rng.random() < 0.5 else "sell"
        price, shares = float(np.round(rng.uniform(1, 300), 2)), float(rng.integers(1, 500) * 100)
        assert table(j, t, side, price, shares) == costs.fees(codes[j], side, price, shares,
                                                               days[t])


def test_fee_scale_multiplies_every_fee_term():
    base, double = CostModel(), CostModel(fee_scale=2.0)
    f1 = base.fees("600000.SH", "sell", 10.0, 10_000, "2023-09-01")
    f2 = double.fees("600000.SH", "sell", 10.0, 10_000, "2023-09-01")
    assert f2.commission == pytest.approx(2 * f1.commission)
    assert f2.stamp_duty == pytest.approx(2 * f1.stamp_duty)
    assert f2.transfer_fee == pytest.approx(2 * f1.transfer_fee, abs=0.011)
    with pytest.raises(ValueError, match="fee_scale"):
        CostModel(fee_scale=-1.0)
