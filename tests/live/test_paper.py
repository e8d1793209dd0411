"""Paper trading (issue 13; spec 003 §8): bar by bar it fills what the backtest fills.

The bars are real: 600009.SH 1-minute bars of ``intraday/SSE.600009Q_m1.csv``
resampled to 5 minutes. The naive variant needs no model, so these tests feed the
paper run bar by bar the way ``tzero watch`` does and compare it with one
whole-period run of the backtest's simulator on the same actions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from tzero.backtest.costs import CostModel
from tzero.backtest.t0 import simulate_t0
from tzero.data.appdb import PaperFill, PaperOrder, PaperRun, open_app_store
from tzero.data.bars import resample_minutes
from tzero.data.tables import read_minute_csv
from tzero.live import paper
from tzero.research.t0 import T0_VARIANTS, t0_actions, t0_config
from tzero.signals.signal import Signal

NAIVE = next(v for v in T0_VARIANTS if v.rule == "naive")
DAYS = ("2020-03-30", "2020-03-31", "2020-04-01", "2020-04-02")


@pytest.fixture(scope="module")
def bars5(data_dir: Path) -> pd.DataFrame:
    """600009.SH 5-minute bars of four sessions (real, vendor qfq CNY)."""
    m = read_minute_csv(data_dir / "intraday" / "SSE.600009Q_m1.csv")
    day = m["trade_time"].dt.strftime("%Y-%m-%d")
    b = resample_minutes(m.loc[day.isin(DAYS)].reset_index(drop=True), "5m")
    assert b["trade_time"].dt.normalize().nunique() == len(DAYS)
    return b.reset_index(drop=True)


@pytest.fixture
def Session_(tmp_path: Path):
    _, S = open_app_store(f"sqlite:///{tmp_path / 'app.sqlite'}")
    return S


def _signal(t: pd.Timestamp) -> Signal:
    """The Signal fields the order log quotes (the naive rule reads the bars, not these)."""
    return Signal(ts_code="600009.SH", as_of=str(t), horizon=1, prob_up=0.5, prob_flat=0.0,
                  prob_down=0.5, expected_return=0.0, expected_volatility=0.01,
                  return_band=(-0.01, 0.01), regime=None, regime_prob=None,
                  t0_intensity="normal", t0_plan="hold", suggested_position_change=0.0,
                  risk_labels=[], confidence=0.0, model_votes={}, model_versions={},
                  explanation="", horizon_unit="bar:5m")


def _feed(Session_, bars: pd.DataFrame, upto: int | None = None) -> int:
    """Hand bars 0..upto-1 to the running paper runs one at a time, as the live loop does."""
    n = 0
    for i in range(len(bars) if upto is None else upto):
        t = pd.Timestamp(bars["trade_time"].iloc[i])
        n += len(paper.on_signal(Session_, ts_code="600009.SH", bars=bars.iloc[: i + 1],
                                 forecast={"trade_time": t}, signal=_signal(t), signal_id=i + 1,
                                 model_versions={}, freq="5m"))
    return n


def _fills(Session_, run_id: str) -> pd.DataFrame:
    with Session_() as s:
        rows = s.scalars(select(PaperFill).where(PaperFill.run_id == run_id)
                         .order_by(PaperFill.fill_time)).all()
        return pd.DataFrame([{"fill_time": pd.Timestamp(f.fill_time), "side": f.side,
                              "price": f.price, "shares": f.shares, "fees": f.fees} for f in rows])


@pytest.mark.data
def test_bar_by_bar_fills_equal_the_backtest(Session_, bars5: pd.DataFrame) -> None:
    """Every fill, fee and the P&L of a paper run fed bar by bar equal one whole run of
    simulate_t0 on the same actions: the paper log is the backtest, causally."""
    costs = CostModel()
    run_id = paper.start_run(Session_, name="t", symbols=["600009.SH"], rule=NAIVE.name, costs=costs)
    placed = _feed(Session_, bars5)
    acts = t0_actions(pd.DataFrame({"trade_time": bars5["trade_time"]}), bars5, NAIVE)
    assert placed == int((acts != 0).sum()) > 0
    cfg = t0_config("600009.SH", float(bars5["open"].iloc[0]), NAIVE, costs)
    whole = simulate_t0(bars5, acts, cfg)
    assert len(whole.trades) > 0
    got = _fills(Session_, run_id)
    exp = whole.trades.assign(fill_time=pd.to_datetime(whole.trades["fill_time"]))
    assert list(got["fill_time"]) == list(exp["fill_time"])
    assert list(got["side"]) == list(exp["side"])
    assert list(got["shares"]) == [int(x) for x in exp["shares"]]
    np.testing.assert_allclose(got["price"], exp["price"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["fees"], exp["fees"], rtol=0, atol=1e-9)
    rep = paper.stop_run(Session_, run_id)
    assert rep["t0_pnl"] == pytest.approx(whole.summary()["t0_pnl"], abs=1e-6)
    assert rep["round_trips"] == len(whole.round_trip_pnl)
    assert rep["orders"]["filled"] == len(whole.trades) and rep["orders"]["pending"] == 0
    # every order either filled or says why the simulator refused it
    for o in rep["order_log"]:
        assert o["status"] == "filled" or "; refused: " in o["reason"], o
    restores = [o for o in rep["order_log"] if o["signal_id"] is None]
    assert restores and all(o["placed_at"].endswith("14:55:00") for o in restores)


@pytest.mark.data
def test_past_orders_do_not_move_when_the_future_changes(tmp_path: Path, bars5: pd.DataFrame) -> None:
    """Orders and fills recorded through bar k are the same whatever comes after it."""
    k = 48 + 20   # into the second session
    logs = []
    for name, future_scale in (("a", 1.0), ("b", 1.07)):
        _, S = open_app_store(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
        run_id = paper.start_run(S, name=name, symbols=["600009.SH"], rule=NAIVE.name)
        b = bars5.copy()
        for c in ("open", "high", "low", "close"):
            b.loc[k:, c] = b.loc[k:, c] * future_scale
        _feed(S, b)
        f = _fills(S, run_id)
        logs.append(f.loc[f["fill_time"] <= b["trade_time"].iloc[k - 1]].reset_index(drop=True))
    assert len(logs[0]) > 0
    pd.testing.assert_frame_equal(logs[0], logs[1])


@pytest.mark.data
def test_a_day_in_progress_is_not_restored_early(Session_, bars5: pd.DataFrame) -> None:
    """Fed up to 11:30 of a day, an open leg stays open: the restore comes by the session's
    close (14:55 decided, 15:00 filled), not at the last bar seen."""
    run_id = paper.start_run(Session_, name="t", symbols=["600009.SH"], rule=NAIVE.name)
    day = bars5.loc[bars5["trade_time"].dt.strftime("%Y-%m-%d") == DAYS[0]].reset_index(drop=True)
    morning = int((day["trade_time"].dt.strftime("%H:%M") <= "11:30").sum())
    _feed(Session_, day, morning)
    with Session_() as s:
        orders = s.scalars(select(PaperOrder).where(PaperOrder.run_id == run_id)).all()
        assert not [o for o in orders if o.signal_id is None]   # no restore yet
        run = s.get(PaperRun, run_id)
        assert str(run.last_bar)[11:16] == "11:30"


@pytest.mark.data
def test_restart_continues_the_same_run(Session_, bars5: pd.DataFrame) -> None:
    """The run's state lives in the app store: a second loop (a restart) picks it up, and a
    bar handed twice places no second order."""
    run_id = paper.start_run(Session_, name="t", symbols=["600009.SH"], rule=NAIVE.name)
    _feed(Session_, bars5, 60)
    again = _feed(Session_, bars5, 60)          # the same bars again: nothing new
    assert again == 0
    _feed(Session_, bars5)
    one = _fills(Session_, run_id)
    _, S2 = open_app_store(str(Session_.kw["bind"].url))
    run2 = paper.start_run(S2, name="u", symbols=["600009.SH"], rule=NAIVE.name)
    paper.stop_run(S2, run_id)  # stop the first; the second alone trades from now on
    _feed(S2, bars5)
    pd.testing.assert_frame_equal(one, _fills(S2, run2))


def test_errors_name_what_is_wrong(Session_) -> None:
    with pytest.raises(paper.PaperError, match="unknown paper rule 'bogus'"):
        paper.start_run(Session_, name="t", symbols=["600009.SH"], rule="bogus")
    with pytest.raises(paper.PaperError, match="at least one symbol"):
        paper.start_run(Session_, name="t", symbols=[])
    with pytest.raises(paper.PaperError, match="base_value_cny must be a positive"):
        paper.start_run(Session_, name="t", symbols=["600009.SH"], config={"base_value_cny": 0})
    with pytest.raises(paper.PaperError, match="no running paper run"):
        paper.stop_run(Session_)
    with pytest.raises(paper.PaperError, match="no paper run 'nope'"):
        paper.report(Session_, "nope")
    rid = paper.start_run(Session_, name="t", symbols=["600009.SH"])
    paper.stop_run(Session_, rid)
    with pytest.raises(paper.PaperError, match="no running paper run"):
        paper.stop_run(Session_)
    assert paper.report(Session_, rid)["gate"]["status"] == "blocked"


@pytest.mark.data
def test_paper_gate_needs_two_passing_samples_that_do_not_overlap(
        Session_, bars5: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short real samples are blocked by the research gates (too few trades): not ready, and
    the reason says so. The counting of samples is then checked with the gates' verdict
    forced to 'kept': two runs over the same days overlap (not ready), two over different
    days are ready."""
    first, second = bars5.iloc[:96], bars5.iloc[96:]
    a = paper.start_run(Session_, name="a", symbols=["600009.SH"], rule=NAIVE.name)
    _feed(Session_, first)
    paper.stop_run(Session_, a)
    b = paper.start_run(Session_, name="b", symbols=["600009.SH"], rule=NAIVE.name)
    _feed(Session_, first)
    paper.stop_run(Session_, b)
    [g] = paper.gate_status(Session_)
    assert g["rule"] == NAIVE.name and not g["ready"] and g["passing"] == 0
    assert "OOS trades" in g["why"]
    from tzero.backtest.gates import Verdict

    monkeypatch.setattr(paper, "judge", lambda m: Verdict("kept", []))
    [g] = paper.gate_status(Session_)
    assert g["passing"] == 1 and not g["ready"] and "overlap" in g["why"]
    c = paper.start_run(Session_, name="c", symbols=["600009.SH"], rule=NAIVE.name)
    _feed(Session_, second.reset_index(drop=True))
    assert not paper.gate_status(Session_)[0]["ready"]        # still running: not a sample
    paper.stop_run(Session_, c)
    [g] = paper.gate_status(Session_)
    assert g["ready"] and g["passing"] == 2
    with Session_() as s:
        stored = json.loads(s.get(PaperRun, c).summary_json)
    assert stored["report"]["round_trips"] >= 0 and "600009.SH" in stored["symbols"]
