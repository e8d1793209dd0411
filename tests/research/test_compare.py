"""``tzero compare``: every model and baseline on one yardstick, judged, stored, served."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tzero.research import robustness
from tzero.research.compare_fit import blocks
from tzero.research.yardstick import forecast_metrics, horizon_returns

METRIC_KEYS = {"ic", "icir", "rank_ic", "rank_icir", "direction_accuracy", "mse", "crps",
               "n_dates"}
BOOK_KEYS = {"return_annual", "excess_ew_annual", "excess_csi300_annual", "max_drawdown", "sharpe",
             "psr", "turnover", "n_trades", "fees_cny"}


# ----------------------------------------------------------------------------- pure parts
def test_forecast_metrics_by_hand():
    idx = pd.date_range("2022-01-03", periods=3, freq="B")
    exp = pd.DataFrame({"A": [0.01, -0.02, 0.0], "B": [0.03, 0.01, np.nan]}, index=idx)
    real = pd.DataFrame({"A": [0.02, 0.01, 0.05], "B": [-0.01, 0.02, 0.01]}, index=idx)
    m = forecast_metrics(exp, real)
    # pairs: A0 hit, A1 miss, A2 zero forecast (no direction), B0 miss, B1 hit
    assert m["direction_accuracy"] == pytest.approx(2 / 4)
    sq = [0.01**2, 0.03**2, 0.05**2, 0.04**2, 0.01**2]
    assert m["mse"] == pytest.approx(np.mean(sq)) and m["n_forecasts"] == 5
    zero = forecast_metrics(exp * 0.0, real)
    assert zero["direction_accuracy"] is None and zero["mse"] > 0


def test_horizon_returns_never_look_back_past_t_and_stop_at_h():
    idx = pd.date_range("2022-01-03", periods=8, freq="B")
    close = pd.DataFrame({"A": np.arange(10.0, 18.0)}, index=idx)
    r = horizon_returns(close, 2)
    assert r["A"].iloc[0] == pytest.approx(12 / 10 - 1) and r["A"].iloc[-2:].isna().all()
    moved = close.copy()
    moved.iloc[5:] *= 3.0                 # change the future from session 5
    r2 = horizon_returns(moved, 2)
    pd.testing.assert_series_equal(r["A"].iloc[:3], r2["A"].iloc[:3])  # labels ending ≤ 4


def test_refit_blocks_cover_the_range_once():
    rng = pd.bdate_range("2021-11-01", "2023-02-10")
    for refit in ("none", "yearly", "monthly"):
        parts = blocks(rng, refit)
        assert pd.DatetimeIndex(np.concatenate(parts)).equals(rng)
    assert len(blocks(rng, "yearly")) == 3
    with pytest.raises(ValueError, match="refit"):
        blocks(rng, "weekly")


def test_downgrade_needs_most_cells_negative():
    cells = [{"axis": "year", "cell": str(y), "excess_annual": v}
             for y, v in zip(range(2019, 2024), [0.05, -0.01, -0.02, -0.03, 0.01], strict=True)]
    status, why = robustness.downgrade("kept", cells)
    assert status == "watch" and "3 of 5" in why and "year 2020" in why
    assert robustness.downgrade("kept", cells[:2] + cells[-1:]) == ("kept", None)
    assert robustness.downgrade("blocked", cells) == ("blocked", None)


# ----------------------------------------------------------------------------- a real run
@pytest.mark.data
def test_compare_run_has_every_row_metric_and_verdict(compare_home):
    res = compare_home.result
    names = [r["name"] for r in res["rows"]]
    # the models of the fixture (tests/conftest.py COMPARE_MODELS), then the baselines
    assert names == ["tcn", "arima", "zero", "momentum", "reversal", "linear", "technical"]
    assert res["failed"] == {}
    by = {r["name"]: r for r in res["rows"]}
    for r in res["rows"]:
        assert METRIC_KEYS <= set(r["metrics"]), r["name"]
        assert r["verdict"]["status"] in {"kept", "watch", "blocked"} and r["verdict"]["reasons"]
    for name in ("tcn", "momentum", "reversal", "linear"):
        m = by[name]["metrics"]
        assert {f"k50d5_{k}" for k in BOOK_KEYS} | {f"k30d3_{k}" for k in BOOK_KEYS} <= set(m)
        assert by[name]["members"] == "universe" and m["n_dates"] > 150
        assert -1 <= m["rank_ic"] <= 1 and by[name]["gate"]["n_trials"] == res["n_trials"]
        axes = {c["axis"] for c in by[name]["robustness"]}
        assert axes >= {"year", "cost", "slippage", "trades"}
        costs = {c["cell"]: c["excess_annual"] for c in by[name]["robustness"]
                 if c["axis"] == "cost"}
        assert costs["x2"] <= costs["x1"] <= costs["x0.5"]       # more fees never earn more
    assert by["arima"]["members"] == "sample of 12" and by["arima"]["book"] == "k2d1"
    assert by["tcn"]["fit_seconds"] > 0 and by["tcn"]["predict_ms"] > 0
    assert by["zero"]["metrics"]["mse"] > 0 and by["zero"]["metrics"]["direction_accuracy"] is None
    assert by["tcn"]["metrics"]["direction_accuracy"] is not None
    for name in ("tcn", "arima", "technical"):             # timing around the sample's holdings
        t = by[name]["timing"]
        assert t["verdict"]["status"] in {"kept", "watch", "blocked"}
        assert t["metrics"]["n_trials"] == sum(1 for r in res["rows"] if r.get("timing"))
        assert len(t["curve"]) == len(res["benchmark"]["dates"])
    assert "timing" not in by["zero"] and "timing" not in by["reversal"]
    st = res["settings"]
    assert st["first_fit_end"] < st["start"] == "2022-03-01" and st["end"] <= "2022-12-30"
    assert len(res["benchmark"]["dates"]) == len(by["tcn"]["curves"]["cum_rank_ic"])
    json.dumps(res, allow_nan=False)


@pytest.mark.data
def test_compare_run_is_stored_and_blocked_models_stop_voting(compare_home):
    from tzero.backtest.gates import blocked_models, latest_verdicts
    from tzero.data.appdb import open_app_store
    from tzero.research.compare_store import get_run, list_runs, scores_path
    from tzero.settings import get_settings

    res = compare_home.result
    engine, Session = open_app_store(get_settings(home=compare_home.home).app_db_url)
    try:
        runs = list_runs(Session)
        assert runs[0]["run_id"] == res["run_id"] and runs[0]["universe"] == "CSI_300"
        assert runs[0]["code_version"].startswith("tzero")
        assert get_run(Session)["rows"] == json.loads(json.dumps(res["rows"]))
        v = latest_verdicts(Session, "compare")
        assert set(v["model"]) >= {r["name"] for r in res["rows"]}
        blocked = blocked_models(Session)
    finally:
        engine.dispose()
    for r in res["rows"]:
        statuses = {r["verdict"]["status"], (r.get("timing") or r)["verdict"]["status"]}
        assert (r["name"] in blocked) == (statuses == {"blocked"}), r["name"]
    assert scores_path(compare_home.home, res["run_id"]).is_file()


@pytest.mark.data
def test_second_run_reuses_the_cached_forecasts(compare_home):
    """Same settings, same data: the forecasts come from the cache (no refit), same numbers."""
    from tzero.data.appdb import open_app_store
    from tzero.data.store import MarketStore
    from tzero.research.compare import run_compare
    from tzero.settings import get_settings

    settings = get_settings(home=compare_home.home)
    engine, Session = open_app_store(settings.app_db_url)
    lines: list[str] = []
    try:
        again = run_compare(Session, MarketStore(settings.store_dir), settings, "CSI_300",
                            models=["tcn"], start="2022-03-01", end="2022-12-30", fast=True,
                            sample_size=12, progress=lines.append, save=False, meta=False)
    finally:
        engine.dispose()
    assert any("reused from the cache" in x for x in lines)
    first = {r["name"]: r for r in compare_home.result["rows"]}["tcn"]["metrics"]
    assert again["rows"][0]["metrics"]["rank_ic"] == pytest.approx(first["rank_ic"])


@pytest.mark.data
def test_research_report_includes_the_comparison(compare_home, tmp_path):
    from tzero.research.report import render_html, run_to_dict
    from tzero.research.run import ResearchRun

    run = ResearchRun("r-test", pd.Timestamp("2026-12-02").to_pydatetime(),
                      compare=compare_home.result)
    data = run_to_dict(run)
    c = data["compare"]
    assert c["run_id"] == compare_home.result["run_id"]
    assert [r["name"] for r in c["rows"]] == [r["name"] for r in compare_home.result["rows"]]
    page = render_html(data)
    assert "One yardstick: every model" in page and "technical" in page
    json.dumps(data, allow_nan=False)


def test_timing_z_score_uses_earlier_forecasts_only():
    from tzero.research.compare_timing import Z_MIN, forecast_z

    idx = pd.bdate_range("2022-01-03", periods=90)
    f = pd.DataFrame({"A": np.random.default_rng(0).normal(0, 1e-4, 90)}, index=idx)
    z = forecast_z(f)
    assert z["A"].iloc[:Z_MIN].isna().all() and z["A"].iloc[Z_MIN:].notna().all()
    prev = f["A"].iloc[10:70]                  # the 60 forecasts before session 70
    assert z["A"].iloc[70] == pytest.approx((f["A"].iloc[70] - prev.mean()) / prev.std())
    moved = f.copy()
    moved.iloc[60:] += 1.0                     # the future moves; the past z does not
    pd.testing.assert_series_equal(forecast_z(moved)["A"].iloc[:60], z["A"].iloc[:60])
