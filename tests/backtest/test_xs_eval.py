"""The universe-model yardstick: IC by hand, the T+1 label, leakage of the baselines, real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tzero.backtest.xs_eval import (
    LABEL_GAP,
    baseline_scores,
    cross_sectional_ic,
    equal_weight_returns,
    evaluate_universe_scores,
    fallback_features,
    linear_scores,
    topk_excess,
    tradeable_labels,
)
from tzero.market.calendar import sessions


def _wide(values, days, codes) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, dtype=float), index=days, columns=codes)


CODES12 = [f"60{i:04d}.SH" for i in range(12)]
DAYS4 = pd.DatetimeIndex(["2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04"])


def _tiny_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """3 scored dates × 12 stocks (one score and one label missing), then a 9-stock date."""
    rng = np.random.default_rng(7)
    s = rng.normal(size=(4, 12))
    y = 0.5 * s[:, ::-1] + rng.normal(scale=0.5, size=(4, 12))
    s[0, 3] = np.nan               # date 1: 11 stocks with both
    y[1, 5] = np.nan               # date 2: 11 stocks with both
    s[2, 7] = s[2, 8]              # date 3: a tie in the scores
    s[3, :3] = np.nan              # date 4: 9 stocks -> skipped
    return _wide(s, DAYS4, CODES12), _wide(y, DAYS4, CODES12)


def test_ic_and_rank_ic_match_scipy_per_date():
    s, y = _tiny_frames()
    out = cross_sectional_ic(s, y)
    ics, rics = [], []
    for d in DAYS4[:3]:
        ok = s.loc[d].notna() & y.loc[d].notna()
        ics.append(stats.pearsonr(s.loc[d][ok], y.loc[d][ok])[0])
        rics.append(stats.spearmanr(s.loc[d][ok], y.loc[d][ok])[0])
    daily = out["daily"]
    np.testing.assert_allclose(daily["ic"].iloc[:3], ics, atol=1e-12)
    np.testing.assert_allclose(daily["rank_ic"].iloc[:3], rics, atol=1e-12)
    assert np.isnan(daily["ic"].iloc[3]) and daily["n"].tolist() == [11, 11, 12, 9]
    assert out["n_dates"] == 3 and out["n_skipped"] == 1
    assert out["ic"] == pytest.approx(np.mean(ics))
    assert out["rank_ic"] == pytest.approx(np.mean(rics))
    assert out["icir"] == pytest.approx(np.mean(ics) / np.std(ics, ddof=1))   # not annualised
    assert out["rank_icir"] == pytest.approx(np.mean(rics) / np.std(rics, ddof=1))


def test_constant_scores_are_skipped_not_nan():
    s, y = _tiny_frames()
    s.iloc[0] = 1.0
    out = cross_sectional_ic(s, y)
    assert out["n_dates"] == 2 and out["n_skipped"] == 2 and np.isfinite(out["ic"])


def _random_close(n_codes=30, n_days=160, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = sessions("2021-01-04", "2021-12-31")[:n_days]
    codes = [f"60{i:04d}.SH" for i in range(n_codes)]
    c = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, n_codes)), axis=0))
    c[rng.random(c.shape) < 0.03] = np.nan            # suspended days: no bar
    return _wide(c, days, codes)


def test_tradeable_label_is_next_close_to_the_close_after():
    close = _random_close(n_codes=3, n_days=10).ffill()
    y = tradeable_labels(close)
    d, code = close.index[4], close.columns[1]
    assert y.at[d, code] == pytest.approx(close.iloc[6, 1] / close.iloc[5, 1] - 1.0)
    assert y.iloc[-LABEL_GAP:].isna().all().all()
    # the label at t uses the closes at t+1 and t+2 only: changing t's (and earlier) leaves it
    c2 = close.copy()
    c2.iloc[:5] *= 1.7
    pd.testing.assert_frame_equal(y.iloc[4:], tradeable_labels(c2).iloc[4:])
    c3 = close.copy()
    c3.iloc[5, 1] *= 1.1
    assert tradeable_labels(c3).at[d, code] != y.at[d, code]


def test_a_score_equal_to_the_future_label_has_rank_ic_one():
    close = _random_close()
    y = tradeable_labels(close)
    out = cross_sectional_ic(y, y)
    assert out["rank_ic"] == pytest.approx(1.0) and out["ic"] == pytest.approx(1.0)
    assert out["n_dates"] == len(close) - LABEL_GAP
    # a score of today's return (known at t) is not the label
    assert abs(cross_sectional_ic(close / close.shift(1) - 1, y)["rank_ic"]) < 0.2


def _volume(close: pd.DataFrame, seed=2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return close.notna() * rng.uniform(1e5, 1e6, close.shape)


def test_baselines_use_data_up_to_t_only():
    close = _random_close()
    vol = _volume(close)
    fit_end, t = close.index[90], close.index[120]
    base = baseline_scores(close, fit_end=fit_end, volume_wide=vol)
    c2, v2 = close.copy(), vol.copy()
    rng = np.random.default_rng(5)
    c2.loc[c2.index > t] *= rng.uniform(0.8, 1.2, c2.loc[c2.index > t].shape)
    v2.loc[v2.index > t] *= 3.0
    other = baseline_scores(c2, fit_end=fit_end, volume_wide=v2)
    for k in ("momentum", "reversal", "linear"):
        assert base[k].loc[:t].notna().to_numpy().sum() > 500
        pd.testing.assert_frame_equal(base[k].loc[:t], other[k].loc[:t])
        assert not base[k].loc[t:].iloc[1:].equals(other[k].loc[t:].iloc[1:])
    assert base["linear"].loc[:fit_end].isna().all().all()
    assert base["momentum"].iloc[25, 0] == pytest.approx(
        close.ffill().iloc[25, 0] / close.ffill().iloc[5, 0] - 1.0)


def test_linear_fit_uses_labels_that_end_by_fit_end():
    """Same features, closes changed after fit_end: the fit (hence every score) is unchanged;
    a change at fit_end itself reaches the label of fit_end − 2 sessions and moves the fit."""
    close = _random_close().ffill()
    feats = fallback_features(close)
    i = 90
    fit_end = close.index[i]
    base = linear_scores(close, feats, fit_end)
    after = close.copy()
    after.iloc[i + 1:] *= np.random.default_rng(3).uniform(0.8, 1.2, after.iloc[i + 1:].shape)
    pd.testing.assert_frame_equal(base, linear_scores(after, feats, fit_end))
    at = close.copy()
    at.iloc[i] *= np.where(np.arange(close.shape[1]) % 2, 1.05, 0.95)
    assert not base.equals(linear_scores(at, feats, fit_end))
    assert base.loc[:fit_end].isna().all().all() and base.iloc[i + 1:].notna().any().any()


def test_linear_refuses_too_little_history_and_bad_features():
    close = _random_close()
    with pytest.raises(ValueError, match="fit rows"):
        linear_scores(close, fallback_features(close), close.index[3])
    with pytest.raises(ValueError, match="ts_code, trade_time"):
        linear_scores(close, pd.DataFrame({"ts_code": ["600000.SH"]}), close.index[90])


def test_equal_weight_benchmark_uses_members_of_the_day_before():
    days = sessions("2021-03-01", "2021-03-04")
    close = _wide([[10, 20, 5], [11, 20, 5], [11, np.nan, 6], [12.1, 22, 6]], days, CODES12[:3])
    members = _wide([[1, 1, 0], [1, 1, 1], [1, 1, 1], [0, 0, 0]], days, CODES12[:3]).astype(bool)
    b = equal_weight_returns(close, members)
    assert np.isnan(b.iloc[0])
    assert b.iloc[1] == pytest.approx((0.1 + 0.0) / 2)            # C not a member on day 1
    assert b.iloc[2] == pytest.approx((0.0 + 0.0 + 0.2) / 3)      # B suspended: last close
    assert b.iloc[3] == pytest.approx((0.1 + 0.1 + 0.0) / 3)


def _bars_from(close: pd.DataFrame, vol: pd.DataFrame) -> pd.DataFrame:
    long = close.stack().rename("close").reset_index()
    long.columns = ["trade_time", "ts_code", "close"]
    v = vol.stack().rename("volume").reset_index()
    v.columns = ["trade_time", "ts_code", "volume"]
    b = long.merge(v, on=["trade_time", "ts_code"])
    b["open"] = b["close"] * 0.999
    return b.sort_values(["ts_code", "trade_time"]).reset_index(drop=True)


def test_evaluate_is_json_safe_and_topk_beats_benchmark_with_perfect_foresight():
    close = _random_close()
    bars = _bars_from(close, _volume(close))
    members = pd.DataFrame(True, index=close.index, columns=close.columns)
    start, end = close.index[100], close.index[150]
    oracle = tradeable_labels(close)
    out = evaluate_universe_scores(oracle, bars, members, start, end, fit_end=close.index[95],
                                   topk=5, n_drop=2)
    json.dumps(out, allow_nan=False)
    m = out["metrics"]
    assert set(out["baselines"]) == {"momentum", "reversal", "linear"}
    assert {"ic", "icir", "rank_ic", "rank_icir", "topk_excess_annual", "n_dates"} <= set(m)
    assert m["n_dates"] == 51 and m["rank_ic"] > 0.9
    # the oracle knows close[t+2]/close[t+1] but fills at t+1's open: still far ahead
    assert m["topk_excess_annual"] > 1.0
    tk = topk_excess(oracle.loc[start:end], bars, members, topk=5, n_drop=2)
    assert tk["topk_excess_annual"] == pytest.approx(m["topk_excess_annual"])
    assert tk["fees_cny"] > 0 and 0 < tk["turnover"] < 2


# ----------------------------------------------------------------------------- real data
#: CSI 300 members through 2022 (and 600004.SH, which left in 2021: never a candidate here).
REAL_CODES = ("600000.SH", "600004.SH", "600009.SH", "600010.SH", "600011.SH", "600015.SH",
              "600016.SH", "600018.SH", "600019.SH", "600025.SH", "600028.SH", "600029.SH",
              "600030.SH", "600031.SH", "600036.SH", "600048.SH", "600050.SH", "600104.SH",
              "600519.SH", "000001.SZ", "000002.SZ", "000063.SZ", "000333.SZ", "000651.SZ",
              "000858.SZ", "002415.SZ", "300059.SZ")


@pytest.fixture(scope="module")
def real_panel(data_dir, tdx_dir, tmp_path_factory):
    """A market store with REAL_CODES (symlinked TDX files) and their adj factors, as a panel."""
    from tzero.backtest.scores import load_csi300_panel
    from tzero.data.ingest import ingest_table, ingest_tdx
    from tzero.data.store import MarketStore

    root = tmp_path_factory.mktemp("xs")
    for code in REAL_CODES:
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
    return load_csi300_panel(store, data_dir / "reference" / "csi300_membership.txt",
                             benchmark_code=None)


@pytest.mark.data
def test_real_momentum_on_csi300_members(real_panel):
    p = real_panel
    mom = baseline_scores(p.close)["momentum"]
    out = evaluate_universe_scores(mom, p.bars, p.membership, "2022-09-01", "2022-12-30",
                                   fit_end="2022-06-30", topk=5, n_drop=1)
    json.dumps(out, allow_nan=False)
    n = len(sessions("2022-09-01", "2022-12-30"))
    assert n == 81
    for name, m in [("model", out["metrics"]), *out["baselines"].items()]:
        assert m["n_dates"] == n, name
        for k in ("ic", "icir", "rank_ic", "rank_icir", "topk_excess_annual",
                  "topk_annual_return", "topk_sharpe", "turnover", "fees_cny"):
            assert isinstance(m[k], float) and np.isfinite(m[k]), (name, k)
        assert -1 < m["ic"] < 1 and m["fees_cny"] > 0
    assert out["metrics"] == out["baselines"]["momentum"]     # the model here is momentum
    assert out["benchmark"]["n_sessions"] == n and np.isfinite(out["benchmark"]["annual_return"])
