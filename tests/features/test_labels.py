"""Triple-barrier labels: worked on paper, no look-ahead, fast, and on a real stock."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from tzero.features.labels import triple_barrier_labels

DAYS = pd.bdate_range("2024-01-02", periods=8)


def _paper_close() -> pd.DataFrame:
    """Five stocks share s0..s3 = 100, 101, 99.99, 100: vol at s2 = std(+1%, −1%) = 0.01·√2.

    With max_hold=4 the width is 0.01·√2·√4 = 2.8284%; the entry (s3 close,
    T+1 of a decision at s2) is 100, so pt = 102.8284 and sl = 97.1716.
    """
    head = [100.0, 101.0, 99.99, 100.0]
    return pd.DataFrame({
        "A": head + [101.0, 103.0, 90.0, 90.0],        # 103 ≥ 102.83 at s5: pt
        "B": head + [99.0, 97.0, 110.0, 110.0],        # 97 ≤ 97.17 at s5: sl
        "C": head + [101.0, 102.0, 98.0, 100.5],       # untouched: time at s7, +0.5%
        "D": head + [101.0, 102.0, 98.0, 100.0],       # untouched, flat: label 0
        "E": head + [101.0, 102.0, 98.0, np.nan],      # suspended on the vertical: settles s6
    }, index=DAYS)


def test_pt_sl_time_by_hand() -> None:
    close = _paper_close()
    ev = pd.DataFrame({"ts_code": list("ABCDE"), "trade_date": DAYS[2]})
    out = triple_barrier_labels(close, ev, max_hold=4, vol_window=2)
    assert out["width"].tolist() == pytest.approx([0.01 * np.sqrt(2) * 2] * 5)
    assert (out["t_entry"] == DAYS[3]).all()
    assert out["barrier"].tolist() == ["pt", "sl", "time", "time", "time"]
    assert out["label"].tolist() == [1, -1, 1, 0, -1]
    assert out["t1"].tolist() == [DAYS[5], DAYS[5], DAYS[7], DAYS[7], DAYS[6]]
    assert out["ret"].tolist() == pytest.approx([0.03, -0.03, 0.005, 0.0, -0.02])


def test_asymmetric_barriers_by_hand() -> None:
    """pt = 2 widths (105.66) is out of reach; sl = 0.25 width (99.29): A's 90 at s6, B's 99 at s4."""
    close = _paper_close()
    ev = pd.DataFrame({"ts_code": ["A", "B"], "trade_date": DAYS[2]})
    out = triple_barrier_labels(close, ev, pt=2.0, sl=0.25, max_hold=4, vol_window=2)
    assert out["barrier"].tolist() == ["sl", "sl"]
    assert out["t1"].tolist() == [DAYS[6], DAYS[4]]          # A: 90 at s6; B: 99 at s4
    assert out["ret"].tolist() == pytest.approx([-0.10, -0.01])


def test_dropped_and_censored_events() -> None:
    close = _paper_close()
    close.loc[DAYS[5], "B"] = np.nan
    close["F"] = [100.0, 101.0, 99.99, 100.0, 101.0, 99.99, 100.0, 100.2]
    ev = pd.DataFrame({"ts_code": ["A", "A", "B", "F", "C"],
                       "trade_date": [DAYS[1], DAYS[7], DAYS[4], DAYS[5], DAYS[6]],
                       "note": ["short history", "entry beyond data", "no bar at entry",
                                "censored", "no bar after entry"]})
    out = triple_barrier_labels(close, ev, max_hold=4, vol_window=2)
    assert out["note"].tolist() == ["censored", "no bar after entry"]
    assert out.index.tolist() == [3, 4]
    assert out["t1"].tolist() == [DAYS[7], DAYS[7]]           # data end; entry itself
    assert out.loc[3, "ret"] == pytest.approx(0.002) and out.loc[3, "barrier"] == "time"
    assert out.loc[4, ["ret", "label", "barrier"]].tolist() == [0.0, 0, "time"]


def _walk_frame(n_days: int = 300, n_stocks: int = 6, seed: int = 0,
                holes: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.02, size=(n_days, n_stocks))
    c = 10.0 * np.exp(np.cumsum(r, axis=0))
    if holes:
        c[rng.random(c.shape) < 0.05] = np.nan
    return pd.DataFrame(c, index=pd.bdate_range("2020-01-01", periods=n_days),
                        columns=[f"S{i}" for i in range(n_stocks)])


def _all_events(close: pd.DataFrame, every: int = 3) -> pd.DataFrame:
    d = close.index[::every]
    return pd.DataFrame({"ts_code": np.repeat(close.columns, len(d)),
                         "trade_date": np.tile(d, len(close.columns))})


COLS = ["t_entry", "t1", "ret", "width", "barrier", "label"]


def test_no_lookahead_after_t1() -> None:
    """Scrambling every close after an event's settle date leaves its label unchanged."""
    close = _walk_frame()
    ev = _all_events(close)
    base = triple_barrier_labels(close, ev, pt=1.0, sl=1.5, max_hold=8)
    rng = np.random.default_rng(1)
    for i in rng.choice(base.index, size=25, replace=False):
        moved = close.copy()
        after = moved.index > base.at[i, "t1"]
        moved.loc[after] = moved.loc[after] * np.exp(rng.normal(0, 0.5, moved.loc[after].shape))
        again = triple_barrier_labels(moved, ev.loc[[i]], pt=1.0, sl=1.5, max_hold=8)
        pd.testing.assert_frame_equal(again[COLS], base.loc[[i], COLS])


def test_no_lookahead_before_vol_window() -> None:
    """Closes before t − vol_window play no part (no suspensions: the window is sessions)."""
    close = _walk_frame(holes=False)
    ev = _all_events(close)
    base = triple_barrier_labels(close, ev, vol_window=20)
    rng = np.random.default_rng(2)
    pos = close.index.get_indexer(base["trade_date"])
    for i in rng.choice(np.flatnonzero(pos > 40), size=25, replace=False):
        moved = close.copy()
        before = np.arange(len(close)) < pos[i] - 20
        moved.iloc[before] = moved.iloc[before] * 3.0
        again = triple_barrier_labels(moved, base.iloc[[i]][["ts_code", "trade_date"]])
        pd.testing.assert_frame_equal(again[COLS], base.iloc[[i]][COLS])


def test_invariants_on_random_walks() -> None:
    close = _walk_frame(seed=3)
    out = triple_barrier_labels(close, _all_events(close, every=1), pt=1.0, sl=2.0, max_hold=6)
    assert set(out["label"]) <= {-1, 0, 1} and set(out["barrier"]) <= {"pt", "sl", "time"}
    pos = close.index.get_indexer
    held = pos(out["t1"]) - pos(out["t_entry"])
    assert ((held >= 0) & (held <= 6)).all()
    assert (pos(out["t_entry"]) - pos(out["trade_date"]) == 1).all()
    pt, sl = out["barrier"] == "pt", out["barrier"] == "sl"
    tol = 1e-12
    assert (out.loc[pt, "ret"] >= out.loc[pt, "width"] - tol).all()
    assert (out.loc[sl, "ret"] <= -2.0 * out.loc[sl, "width"] + tol).all()
    tm = out[~pt & ~sl]
    assert ((tm["ret"] < tm["width"]) & (tm["ret"] > -2.0 * tm["width"])).all()
    assert (out["label"][~pt & ~sl] == np.sign(tm["ret"]).astype(int)).all()


@pytest.mark.parametrize("kwargs, field", [
    ({"pt": 0.0}, "pt"), ({"sl": -1.0}, "sl"), ({"max_hold": 0}, "max_hold"),
    ({"vol_window": 1}, "vol_window"), ({"entry_lag": 0}, "entry_lag")])
def test_bad_arguments_name_the_field(kwargs, field) -> None:
    close = _paper_close()
    ev = pd.DataFrame({"ts_code": ["A"], "trade_date": [DAYS[2]]})
    with pytest.raises(ValueError, match=field):
        triple_barrier_labels(close, ev, **kwargs)


def test_bad_frames_name_the_field() -> None:
    close = _paper_close()
    ev = pd.DataFrame({"ts_code": ["A"], "trade_date": [DAYS[2]]})
    with pytest.raises(ValueError, match="trade_date"):
        triple_barrier_labels(close, ev[["ts_code"]])
    with pytest.raises(ValueError, match="sorted"):
        triple_barrier_labels(close.iloc[::-1], ev)
    with pytest.raises(ValueError, match="ts_code"):
        triple_barrier_labels(close, ev.assign(ts_code="Z"))
    with pytest.raises(ValueError, match="not sessions"):
        triple_barrier_labels(close, ev.assign(trade_date=pd.Timestamp("2024-01-06")))


def test_hundred_thousand_events_in_seconds() -> None:
    close = _walk_frame(n_days=2000, n_stocks=50, seed=4)
    ev = _all_events(close, every=1)
    assert len(ev) == 100_000
    t = time.perf_counter()
    out = triple_barrier_labels(close, ev)
    assert time.perf_counter() - t < 5.0
    assert len(out) > 80_000


@pytest.mark.data
def test_real_600519(tdx_dir) -> None:
    from tzero.data.tdx import read_day

    path = tdx_dir / "vipdoc" / "sh" / "lday" / "sh600519.day"
    if not path.is_file():
        pytest.skip(f"shared data absent: {path}")
    bars = read_day(path)
    close = pd.DataFrame({"600519.SH": bars["close"].to_numpy()},
                         index=pd.DatetimeIndex(bars["trade_time"]))
    ev = pd.DataFrame({"ts_code": "600519.SH", "trade_date": close.index[::5]})
    out = triple_barrier_labels(close, ev, max_hold=10)
    assert len(out) >= len(ev) - 6                    # the first 20 sessions, the last one
    counts = out["barrier"].value_counts()
    assert {"pt", "sl", "time"} <= set(counts.index)
    assert out["width"].between(0.01, 0.5).all()       # daily vol 0.3%..16% × √10
    at_end = out["t_entry"] == close.index[-1]                # nothing after: settles at entry
    assert (out["t1"] > out["t_entry"])[~at_end].all() and (out["ret"][at_end] == 0).all()
