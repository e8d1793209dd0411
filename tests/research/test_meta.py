"""Meta-labelling: entries by hand, a learnable synthetic target, no look-ahead, a real run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tzero.features.labels import triple_barrier_labels
from tzero.research.meta import MetaResult, event_features, meta_filter, meta_label, topk_entries

#: 30 Shanghai main-board stocks of the shared TDX folder.
REAL_CODES = ("600000", "600004", "600006", "600007", "600008", "600009", "600010", "600011",
              "600012", "600015", "600016", "600017", "600018", "600019", "600020", "600021",
              "600022", "600023", "600025", "600026", "600027", "600028", "600029", "600030",
              "600031", "600036", "600048", "600050", "600104", "600519")


# ------------------------------------------------------------------ entries by hand
def test_topk_entries_by_hand() -> None:
    """Top 2 of 4. d0: A, B enter. d1: A, C (C enters). d2: A, C (none). d3: B, D (C NaN)."""
    days = pd.bdate_range("2024-01-02", periods=4)
    scores = pd.DataFrame({"A": [4, 4, 4, 1], "B": [3, 1, 1, 3],
                           "C": [1, 3, 3, np.nan], "D": [2, 2, 2, 4]}, index=days, dtype=float)
    out = topk_entries(scores, 2)
    assert list(out.columns) == ["ts_code", "trade_date"]
    assert list(zip(out["trade_date"], out["ts_code"], strict=True)) == [
        (days[0], "A"), (days[0], "B"), (days[1], "C"), (days[3], "B"), (days[3], "D")]
    with pytest.raises(ValueError, match="topk"):
        topk_entries(scores, 0)


def test_event_features_use_the_decision_date_only() -> None:
    days = pd.bdate_range("2024-01-02", periods=70)
    rng = np.random.default_rng(0)
    close = pd.DataFrame(10 * np.exp(np.cumsum(rng.normal(0, 0.02, (70, 3)), axis=0)),
                         index=days, columns=["A", "B", "C"])
    scores = close / close.shift(20) - 1
    ev = pd.DataFrame({"ts_code": ["B", "A"], "trade_date": [days[65], days[61]]})
    out = event_features(close, ev, scores=scores)
    assert out.index.tolist() == [0, 1]
    assert out.loc[0, "ret_5"] == pytest.approx(close.loc[days[65], "B"] / close.loc[days[60], "B"] - 1)
    assert out.loc[1, "ret_60"] == pytest.approx(close.loc[days[61], "A"] / close.loc[days[1], "A"] - 1)
    assert out.loc[0, "score"] == pytest.approx(scores.loc[days[65], "B"])
    assert out.loc[0, "score_pct"] == scores.loc[days[65]].rank(pct=True)["B"]
    moved = close.copy()
    moved.iloc[62:] *= 2.0                                   # after A's date: A's row unchanged
    again = event_features(moved, ev.iloc[[1]], scores=scores)
    pd.testing.assert_frame_equal(again, out.iloc[[1]])


# ------------------------------------------------------------------ synthetic
def _synthetic_events(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """One event a session; the profit barrier is hit exactly when f1 > 0."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2019-01-01", periods=n + 10)
    x = rng.normal(size=(n, 3))
    return pd.DataFrame({"ts_code": "X", "trade_date": days[:n], "t1": days[5:n + 5],
                         "barrier": np.where(x[:, 0] > 0, "pt", "sl"),
                         "f1": x[:, 0], "f2": x[:, 1], "f3": x[:, 2]})


def test_deterministic_target_is_learnt() -> None:
    ev = _synthetic_events()
    res = meta_label(ev, ["f1", "f2", "f3"], n_splits=5, embargo=5)
    assert isinstance(res, MetaResult)
    assert res.auc > 0.9 and res.auc_forward > 0.9
    assert max(res.importance, key=res.importance.get) == "f1"
    assert sum(res.importance.values()) == pytest.approx(1.0)
    assert res.events.index.equals(ev.index)
    again = meta_label(ev.iloc[::-1], ["f1", "f2", "f3"])    # input order does not matter
    pd.testing.assert_frame_equal(again.events.sort_index(), res.events)


def test_meta_label_rejects_bad_inputs() -> None:
    ev = _synthetic_events()
    with pytest.raises(ValueError, match="too few events"):
        meta_label(ev.iloc[:99], ["f1"])
    with pytest.raises(ValueError, match="single class"):
        meta_label(ev.assign(barrier="sl"), ["f1"])
    with pytest.raises(ValueError, match="missing"):
        meta_label(ev.drop(columns="t1"), ["f1"])
    with pytest.raises(ValueError, match="features"):
        meta_label(ev, [])


# ------------------------------------------------------------------ real data
def _hfq_close(tdx_dir, data_dir) -> pd.DataFrame:
    """Closes of REAL_CODES; hfq where ``reference/adj_factor.parquet`` has the factor."""
    from tzero.backtest.xs_eval import hfq_close_wide
    from tzero.data.tdx import read_vipdoc_day

    files = [tdx_dir / "vipdoc" / "sh" / "lday" / f"sh{c}.day" for c in REAL_CODES]
    if not all(f.is_file() for f in files):
        pytest.skip("shared data absent: some sh60*.day files of REAL_CODES are missing")
    bars = read_vipdoc_day(tdx_dir, [f"{c}.SH" for c in REAL_CODES])
    adj_path = data_dir / "reference" / "adj_factor.parquet"
    if adj_path.is_file():
        adj = pd.read_parquet(adj_path, filters=[("ts_code", "in", list(bars["ts_code"].unique()))])
        adj = adj.drop_duplicates(["ts_code", "trade_date"])   # the file repeats rows
        adj["trade_time"] = pd.to_datetime(adj["trade_date"], format="%Y%m%d")
        bars = bars.merge(adj[["ts_code", "trade_time", "adj_factor"]], how="left")
        fill = bars.groupby("ts_code")["adj_factor"].transform(lambda f: f.ffill().bfill())
        bars["adj_factor"] = fill.fillna(1.0)
    return hfq_close_wide(bars)


@pytest.fixture(scope="module")
def real_run(tdx_dir, data_dir):
    close = _hfq_close(tdx_dir, data_dir)
    scores = close / close.shift(20) - 1                          # 20-session momentum
    entries = topk_entries(scores, 5)
    labels = triple_barrier_labels(close, entries, max_hold=10)
    ev = event_features(close, labels, scores=scores)
    feats = ["score", "score_pct", "ret_1", "ret_5", "ret_10", "ret_20", "ret_60", "vol_20"]
    res = meta_label(ev, feats, n_splits=5, embargo=5, sessions=close.index)
    return close, scores, ev, feats, res


@pytest.mark.data
def test_real_meta_label(real_run) -> None:
    close, scores, ev, feats, res = real_run
    assert res.n_events == len(ev) >= 500
    assert 0.0 <= res.auc <= 1.0 and 0.0 <= res.auc_forward <= 1.0
    assert 0.0 < res.base_rate < 1.0
    e = res.events
    assert e["prob_oof"].between(0, 1).all()
    fwd = e["prob_fwd"].dropna()
    assert fwd.between(0, 1).all() and len(res.thresholds) == 4
    first = np.array_split(np.argsort(e["trade_date"].to_numpy(), kind="stable"), 5)[0]
    no_fwd = e["prob_fwd"].isna().to_numpy()
    assert np.array_equal(np.flatnonzero(no_fwd), np.sort(first))   # the first block only
    assert not e["take"].to_numpy()[no_fwd].any()
    assert set(res.importance) == set(feats)


@pytest.mark.data
def test_real_filter_removes_exactly_the_rejected_entries(real_run) -> None:
    close, scores, ev, feats, res = real_run
    out = meta_filter(scores, res)
    newly = out.isna() & scores.notna()
    e = res.events
    rejected = e[e["prob_fwd"].notna() & ~e["take"]]
    cells = set(zip(rejected["trade_date"], rejected["ts_code"], strict=True))
    got = set(newly.stack()[lambda s: s].index)
    assert got == cells and len(cells) > 0
    assert out.index.equals(scores.index) and out.columns.equals(scores.columns)


@pytest.mark.data
def test_real_forward_probs_ignore_later_labels(real_run) -> None:
    """Shuffling the labels of every event after a cut leaves the forward probs before it."""
    close, scores, ev, feats, res = real_run
    cut = ev["trade_date"].sort_values().iloc[int(len(ev) * 0.6)]
    later = (ev["trade_date"] > cut).to_numpy()
    rng = np.random.default_rng(3)
    shuffled = ev.copy()
    for col in ("barrier", "label", "ret"):
        shuffled.loc[later, col] = rng.permutation(shuffled.loc[later, col].to_numpy())
    again = meta_label(shuffled, feats, n_splits=5, embargo=5, sessions=close.index)
    early = ~later
    pd.testing.assert_series_equal(again.events["prob_fwd"][early], res.events["prob_fwd"][early])
    pd.testing.assert_series_equal(again.events["take"][early], res.events["take"][early])
    assert again.thresholds[:2] == res.thresholds[:2]
