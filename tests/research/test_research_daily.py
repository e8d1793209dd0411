"""Daily research family: the timing simulator on paper, no look-ahead, a tiny real run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.backtest import gates
from tzero.backtest.costs import CostModel
from tzero.backtest.walkforward import Window
from tzero.research import daily as rd
from tzero.research import daily_paths

#: A 2-epoch, 8-unit LSTM without CV: fits in about a second, same code path.
TINY = dict(mode="fast", cv=False, params={"lr": 1e-3, "hidden_size": 8, "epochs": 2,
                                           "batch_size": 64})


def _tiny_lstm():
    from tzero.models.lstm import LstmConfig
    from tzero.training.loop import TrainConfig

    return LstmConfig(**TINY, train=TrainConfig(seed=1))


# ------------------------------------------------------------------ simulator on paper
def test_timing_simulator_five_sessions_by_hand() -> None:
    """10,000 CNY of a main-board stock (1,000 shares at 10.00), slippage 10 bps.

    d0 close: bearish (target 0.5). d1: open 9.00 = limit-down: the sell is
    refused. d2: suspended: refused again. d3: sells 500 at 10.00 → 9.99:
    value 4,995; commission 0.025% = 1.25 → the 5.00 minimum; stamp duty 0.1%
    (before 2023-08-28) 4.995 → 5.00; transfer fee 0.001% 0.04995 → 0.05;
    fees 10.05. d3 close: bullish (1.0). d4: buys 500 at 10.10 → 10.1101:
    5,055.05; commission 5.00 (minimum), transfer 0.05, no stamp duty: 5.05.
    """
    days = pd.DatetimeIndex(["2023-03-01", "2023-03-02", "2023-03-03", "2023-03-06",
                             "2023-03-07"])
    open_ = [10.00, 9.00, np.nan, 10.00, 10.10]
    close = [10.00, 9.50, 9.50, 10.20, 10.30]          # d2: last known close
    has = [True, True, False, True, True]
    down = [9.00, 9.00, 8.55, 8.55, 9.18]
    up = [11.00, 11.00, 10.45, 10.45, 11.22]
    target = [0.5, np.nan, np.nan, 1.0, np.nan]
    res = rd.simulate_timing("600000.SH", days, open_, close, np.ones(5), has, down, up, target,
                             costs=CostModel(slippage_bps=10.0), base_value=10_000.0)
    assert res.base_shares == 1000
    assert [(d.date().isoformat(), s, r) for d, s, r in res.rejected] == [
        ("2023-03-02", "sell", "limit_down"), ("2023-03-03", "sell", "suspended")]
    t = res.trades
    assert list(t["side"]) == ["sell", "buy"] and list(t["shares"]) == [500, 500]
    assert t["price"].tolist() == pytest.approx([9.99, 10.1101])
    assert t["fees"].tolist() == pytest.approx([10.05, 5.05])
    d = res.daily
    # level = held × close + cash − hold × close; d3: 500×10.2 + (4995 − 10.05) − 1000×10.2
    assert d["excess_pnl"].tolist() == pytest.approx([0, 0, 0, -115.05, 39.90])
    assert d["hold_prev"].tolist() == pytest.approx([10_000, 10_000, 9_500, 9_500, 10_200])
    assert d["ret"].iloc[3] == pytest.approx(-115.05 / 9_500)
    assert d["cash"].iloc[-1] == pytest.approx(4995 - 10.05 - 5055.05 - 5.05)
    assert d["fees"].sum() == pytest.approx(15.10)
    assert math.isnan(t["pnl"].iloc[0]) and t["pnl"].iloc[1] == pytest.approx(-75.15)


def test_ex_date_creates_no_false_pnl_and_limit_up_refuses_the_buy() -> None:
    days = pd.DatetimeIndex(["2023-03-01", "2023-03-02", "2023-03-03", "2023-03-06"])
    # 10-for-10 bonus shares on d2: the raw price halves, the hfq factor doubles
    open_ = close = [10.0, 10.0, 5.0, 5.0]
    factor = [1.0, 1.0, 2.0, 2.0]
    kw = dict(costs=CostModel(slippage_bps=0.0), base_value=10_000.0)
    tgt = [0.5, np.nan, 1.0, np.nan]
    res = rd.simulate_timing("600000.SH", days, open_, close, factor, [True] * 4,
                             [np.nan] * 4, [11.0, 11.0, 5.5, 5.5], tgt, **kw)
    d = res.daily
    assert d["hold_shares"].tolist() == [1000, 1000, 2000, 2000]
    assert d["shares"].tolist() == [1000, 500, 1000, 2000]      # bonus shares on the 500 held
    # no price move in hfq terms: the only excess P&L is the fees, sell 5,000
    # (5.00 + 5.00 + 0.05) and buy 1,000 × 5.00 (5.00 + 0.05)
    assert d["excess_pnl"].iloc[2] == pytest.approx(0.0)
    assert d["excess_pnl"].sum() == pytest.approx(-10.05 - 5.05)
    # a buy at a limit-up open is refused
    res2 = rd.simulate_timing("600000.SH", days, open_, close, factor, [True] * 4,
                              [np.nan] * 4, [11.0, 11.0, 5.5, 5.0], tgt, **kw)
    assert [r[1:] for r in res2.rejected] == [("buy", "limit_up")]
    assert list(res2.trades["side"]) == ["sell"]


def test_targets_hysteresis_and_unknown_rule() -> None:
    v = rd.DailyVariant("x", "lstm", {"margin": 0.05, "f": 0.5})
    out = rd.targets(np.array([0.40, 0.50, 0.60, np.nan]), v)
    assert out[0] == 0.5 and math.isnan(out[1]) and out[2] == 1.0 and math.isnan(out[3])
    mom = rd.targets(np.array([-0.03, 0.0, 0.03]), rd.DailyVariant("m", "momentum",
                                                                   {"x": 0.02, "f": 0.5}))
    assert mom[0] == 0.5 and math.isnan(mom[1]) and mom[2] == 1.0
    with pytest.raises(ValueError, match="unknown daily rule"):
        rd.targets(np.zeros(2), rd.DailyVariant("z", "nope", {}))
    assert "daily" in gates.STRATEGIES
    assert len({v.name for v in rd.DAILY_VARIANTS}) == len(rd.DAILY_VARIANTS)
    assert {v.model for v in rd.DAILY_VARIANTS} == {"lstm", "arima", "hmm", "combined",
                                                     "daily_momentum"}


# ------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def moutai(tdx_dir: Path, adj_slice: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real 600519.SH daily bars 2019-01..2022-12: ``(raw with adj_factor, hfq)``."""
    from tzero.data.tdx import read_day

    raw = read_day(tdx_dir / "vipdoc" / "sh" / "lday" / "sh600519.day")
    raw = raw.loc[(raw["trade_time"] >= "2019-01-01") & (raw["trade_time"] <= "2022-12-31")]
    adj = adj_slice.loc[adj_slice["ts_code"] == "600519.SH"].copy()
    adj["trade_time"] = pd.to_datetime(adj["trade_date"].astype(str))
    raw = pd.merge_asof(raw.sort_values("trade_time"), adj[["trade_time", "adj_factor"]]
                        .sort_values("trade_time"), on="trade_time").reset_index(drop=True)
    raw["adj_factor"] = raw["adj_factor"].astype(float).bfill()
    hfq = raw.drop(columns="adj_factor").copy()
    for c in ("open", "high", "low", "close"):
        hfq[c] = raw[c] * raw["adj_factor"]
    return raw, hfq


@pytest.mark.data
def test_paths_equal_the_models_own_predict(moutai) -> None:
    """The fast forecast paths equal ``predict(bars ≤ t, t)``; combined = build_signal's prob_up."""
    from tzero.models.arima import ArimaForecaster
    from tzero.models.hmm import HmmForecaster
    from tzero.signals.signal import build_signal

    _, hfq = moutai
    fit = hfq.iloc[:600].reset_index(drop=True)
    pred = hfq.iloc[:700].reset_index(drop=True)
    when = pd.DatetimeIndex(pred["trade_time"].iloc[[620, 650, 699]])
    a, h = ArimaForecaster().fit(fit), HmmForecaster().fit(fit)
    pa = daily_paths.arima_path(a, "600519.SH", pred, when)
    ph = daily_paths.hmm_path(h, "600519.SH", pred, when)
    for t in when:
        fa, fh = a.predict(pred, t), h.predict(pred, t)
        assert pa[t] == pytest.approx(float(fa["prob_up"].iloc[-1]), abs=1e-12)
        assert ph[t] == pytest.approx(float(fh["prob_up"].iloc[-1]), abs=1e-12)
        sig = build_signal("600519.SH", t, {"arima": fa, "hmm": fh}, {})
        assert sig.prob_up == pytest.approx((pa[t] + ph[t]) / 2, abs=1e-12)


@pytest.mark.data
def test_no_look_ahead_in_forecasts_actions_and_returns(moutai) -> None:
    """Bars after day d changed wildly: forecasts, targets and returns up to d do not move."""
    raw, hfq = moutai
    days = pd.DatetimeIndex(hfq["trade_time"])
    w = Window(0, days[0], days[479], days[485], days[560])
    d = days[520]
    later = hfq["trade_time"] > d
    hfq2, raw2 = hfq.copy(), raw.copy()
    for frame in (hfq2, raw2):
        frame.loc[later, ["open", "high", "low", "close"]] *= 1.3
        frame.loc[later, "volume"] *= 3.0
    kw = dict(models=rd.MODELS, lstm_config=_tiny_lstm(), seed=1)
    f1 = rd.symbol_forecasts("600519.SH", hfq, [w], **kw)
    f2 = rd.symbol_forecasts("600519.SH", hfq2, [w], **kw)
    upto = (f1["trade_date"] <= d).to_numpy()
    assert upto.sum() > 400 and (~upto).any()
    cols = list(rd.FORECAST_COLUMNS)
    assert f1.loc[f1["sample"] == "oos", cols].notna().all().all()
    pd.testing.assert_frame_equal(f1.loc[upto, cols], f2.loc[upto, cols])
    assert not np.allclose(f1.loc[~upto, "momentum"], f2.loc[~upto, "momentum"])
    sessions = days[days >= w.test_start]
    m1 = rd.daily_market(raw, days, ["600519.SH"])
    m2 = rd.daily_market(raw2, days, ["600519.SH"])
    for v in rd.DAILY_VARIANTS:
        o1 = f1.loc[f1["sample"] == "oos"]
        o2 = f2.loc[f2["sample"] == "oos"]
        r1 = rd.simulate_book(o1, m1, v, CostModel(), sessions)["returns"]
        r2 = rd.simulate_book(o2, m2, v, CostModel(), sessions)["returns"]
        pd.testing.assert_series_equal(r1[r1.index <= d], r2[r2.index <= d])


@pytest.mark.data
def test_tiny_real_run_returns_well_formed_rows(moutai) -> None:
    raw, hfq = moutai
    rows, fc = rd.run_daily_bars(raw, hfq, start="2021-07-01", end="2022-06-30",
                                 lstm_config=_tiny_lstm(), seed=1)
    assert len(rows) == len(rd.DAILY_VARIANTS)
    assert set(fc["sample"]) == {"is", "oos"}
    oos_days = fc.loc[fc["sample"] == "oos", "trade_date"]
    assert oos_days.min() >= pd.Timestamp("2021-07-01")
    keys = {"strategy", "variant", "model", "series", "params", "oos_metrics", "is_metrics",
            "equity"}
    for r in rows:
        assert keys <= set(r) and r["strategy"] == "daily" and r["series"] == "1 holdings"
        assert r["oos_metrics"]["n_trials"] == len(rd.DAILY_VARIANTS)
        assert r["oos_metrics"]["n_days"] == oos_days.nunique()
        assert isinstance(r["equity"], pd.Series) and len(r["equity"]) == oos_days.nunique()
        assert r["is_metrics"] is not None
        assert gates.judge(r["oos_metrics"], r["is_metrics"]).status in gates.STATUSES
    mom = next(r for r in rows if r["variant"] == "momentum-x2%")
    assert mom["oos_metrics"]["n_trades"] > 0 and mom["oos_metrics"]["fees"] > 0
