"""Long runs survive one bad series (issue 12 item 17).

The failure that stopped ``tzero research report`` after ~15 minutes is real and
reproduced here: 000333.SZ read **unadjusted** (a store with no adj_factor) has a
−38 % jump at its 2016-05-06 10-for-10 bonus issue; the daily family's first
window fits the HMM (seed 42) on its 630 sessions 2016-03-30..2018-12-21, EM
leaves one state with a singular covariance (hmmlearn's full-covariance M-step
has no floor), and SciPy's ``multivariate_normal`` in the forward filter raised
"When `allow_singular is False`, the input matrix must be symmetric positive
definite." out of the whole run. Now the HMM floors that covariance
(``HmmConfig.min_covar``); with the floor off (``min_covar=0``, hmmlearn's raw
output) the same fit still fails, which is how every surface below is shown to
record one series' failure and go on: research (daily variants), compare
(``score_model``), train (``train_and_publish`` and the CLI) and replay (a stock
listed the day before: no source can forecast it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tzero.backtest import gates
from tzero.errors import ModelError
from tzero.models import table
from tzero.models.base import fit_series
from tzero.models.hmm import HmmConfig, HmmForecaster
from tzero.research import daily as rd
from tzero.research import failures

pytestmark = [pytest.mark.data, pytest.mark.slow]

BAD, GOOD, OTHER = "000333.SZ", "600519.SH", "000001.SZ"
#: The daily family's window 0 fit of the research run that stopped (DAILY_TRAIN + warm-up).
FIT_START, FIT_END = "2016-03-30", "2018-12-21"
#: hmmlearn's covariances as EM leaves them (the HMM before the floor).
NO_FLOOR = HmmConfig(min_covar=0.0)
SINGULAR = r"LinAlgError: When `allow_singular is False`, the input matrix must be symmetric positive"


def _day(tdx_dir: Path, code: str) -> pd.DataFrame:
    from tzero.data.tdx import read_day

    num, mk = code.split(".")
    return read_day(tdx_dir / "vipdoc" / mk.lower() / "lday" / f"{mk.lower()}{num}.day")


@pytest.fixture(scope="module")
def raw(tdx_dir: Path) -> pd.DataFrame:
    """Unadjusted daily bars of the bad series and two healthy ones, 2016-01-04..2019-12-31."""
    df = pd.concat([_day(tdx_dir, c) for c in (BAD, GOOD, OTHER)], ignore_index=True)
    df = df.loc[(df["trade_time"] >= "2016-01-01") & (df["trade_time"] <= "2019-12-31")]
    return df.sort_values(["ts_code", "trade_time"], ignore_index=True)


def _window(raw: pd.DataFrame, code: str, start=FIT_START, end=FIT_END) -> pd.DataFrame:
    b = raw.loc[(raw["ts_code"] == code) & (raw["trade_time"] >= start)
                & (raw["trade_time"] <= end)]
    return b.reset_index(drop=True)


class HmmNoFloor(HmmForecaster):
    """The HMM as it was: hmmlearn's covariances unfloored (a test-only row of the table)."""

    name = "hmm_nofloor"

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> HmmConfig:
        """:data:`NO_FLOOR` with ``seed``."""
        return HmmConfig(seed=seed, min_covar=0.0)


@pytest.fixture
def nofloor_row():
    spec = table.register(table.ModelSpec(HmmNoFloor, "HMM without the covariance floor (test)"))
    yield spec
    table.unregister(spec.name)


# ------------------------------------------------------------------------ the HMM itself
def test_the_real_singular_state_fails_unfloored_and_fits_floored(raw) -> None:
    bars = _window(raw, BAD)
    assert len(bars) == 630 and bars["close"].pct_change().min() < -0.38     # the ex-date jump
    last = bars["trade_time"].iloc[-1]
    unfloored = HmmForecaster(NO_FLOOR).fit(bars)
    eig = [np.linalg.eigvalsh(c).min() for c in unfloored.models_[BAD].covars]
    assert min(eig) < 1e-9                                        # one state is singular
    with pytest.raises(ModelError, match=rf"000333\.SZ: hmm forecast failed \({SINGULAR}"):
        unfloored.predict(bars, last)                             # named, a ModelError now
    floored = HmmForecaster().fit(bars)
    covars = floored.models_[BAD].covars
    assert all(np.linalg.eigvalsh(c).min() > 5e-4 for c in covars)
    for k, e in enumerate(eig):                                   # only the singular one moved
        if e > 1e-6:
            np.testing.assert_array_equal(covars[k], unfloored.models_[BAD].covars[k])
    fc = floored.predict(bars, last)
    assert fc[["mean", "cum_mean", "std", "prob_up"]].notna().all().all()
    good = _window(raw, GOOD)                                     # a healthy fit is unchanged
    np.testing.assert_array_equal(HmmForecaster().fit(good).models_[GOOD].covars,
                                  HmmForecaster(NO_FLOOR).fit(good).models_[GOOD].covars)


class _SingularFit(HmmForecaster):
    """Raises numpy's own error for one series at fit time (no real series does, after the floor)."""

    name = "hmm_singular_fit"

    def _fit_series(self, code, bars, progress=None):
        if code == BAD:
            raise np.linalg.LinAlgError("Singular matrix")
        return super()._fit_series(code, bars, progress)


def test_the_per_series_loop_records_any_numerical_error(raw) -> None:
    panel = pd.concat([_window(raw, BAD), _window(raw, GOOD)], ignore_index=True)
    model = _SingularFit()
    fitted, errors = fit_series(model, panel, errors="collect")
    assert list(fitted) == [GOOD]
    assert errors == {BAD: f"{BAD}: hmm_singular_fit fit failed (LinAlgError: Singular matrix)"}
    with pytest.raises(ModelError, match=r"000333\.SZ: hmm_singular_fit fit failed") as info:
        fit_series(model, panel, errors="raise")
    assert isinstance(info.value.__cause__, np.linalg.LinAlgError)

    class _OutOfMemory(HmmForecaster):
        name = "hmm_oom"

        def _fit_series(self, code, bars, progress=None):
            raise MemoryError

    with pytest.raises(MemoryError):                              # the machine's failure, not a series'
        fit_series(_OutOfMemory(), panel, errors="collect")


# ------------------------------------------------------------------------------- research
def _daily(raw: pd.DataFrame, codes, end: str, **kw):
    r = raw.loc[raw["ts_code"].isin(codes)].reset_index(drop=True)
    return rd.run_daily_bars(r.assign(adj_factor=1.0), r, start="2019-01-01", end=end,
                             models=(rd.HMM,), **kw)


def test_daily_family_records_the_failed_window_and_judges_the_rest(raw) -> None:
    rows, fc = _daily(raw, [BAD, GOOD], "2019-07-03", hmm_config=NO_FLOOR)   # one window
    [f] = fc.attrs["failures"]
    assert (f["strategy"], f["series"], f["model"], f["window"]) == ("daily", BAD, "hmm", 0)
    assert f["reason"].startswith("LinAlgError: When `allow_singular")
    oos = fc.loc[fc["sample"] == "oos"]
    assert oos.loc[oos["ts_code"] == BAD, "hmm"].isna().all()          # that window: untimed
    assert oos.loc[oos["ts_code"] == GOOD, "hmm"].notna().all()        # the other holding: timed
    assert len(rows) == len(rd.DAILY_VARIANTS)
    by = {r["variant"]: r for r in rows}
    for name, r in by.items():
        reads_hmm = r["model"] in ("hmm", "combined")
        assert r["fits"] == {"total": 2, "failed": 1 if reads_hmm else 0}, name
        v = failures.verdict(r, gates.judge(r["oos_metrics"], r["is_metrics"]))
        assert v.status in ("kept", "watch", "blocked"), name          # half fitted: still judged
        assert ("model fits failed on 1 of 2 series × windows" in v.reasons[-1]) == reads_hmm
    # the bad holding alone: nothing fitted, so no verdict can rest on it
    rows, _ = _daily(raw, [BAD], "2019-07-03", hmm_config=NO_FLOOR)
    for r in rows:
        v = failures.verdict(r, gates.judge(r["oos_metrics"], r["is_metrics"]))
        if r["model"] in ("hmm", "combined"):
            assert v.status == "failed" and "fewer than 50% fitted" in v.reasons[0]
            assert "000333.SZ hmm window 0: LinAlgError" in v.reasons[0]
        else:
            assert v.status != "failed"
    # the default HMM (floored) fits that window
    _, fc = _daily(raw, [BAD], "2019-07-03")
    assert fc.attrs["failures"] == [] and fc.loc[fc["sample"] == "oos", "hmm"].notna().all()


def _invoke(home: Path, *args: str):
    """The Typer app in-process on ``home`` (SQLite app store there)."""
    from tzero import cli_models, cli_research  # noqa: F401  (register their commands)
    from tzero.cli import app

    r = CliRunner().invoke(app, list(args), env={"TZERO_HOME": str(home), "TZERO_DB_URL": None,
                                                 "COLUMNS": "250", "NO_COLOR": "1"})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def test_research_report_stores_every_variant_and_prints_the_failure(raw, tmp_path, monkeypatch):
    """`tzero research report --strategies daily`: the HMM of one holding fails in one window;
    the run finishes, stores all 10 variants, and prints / returns the failure."""
    from tzero.data.appdb import open_app_store
    from tzero.settings import get_settings

    def daily_family(settings, *, codes=None, progress=None, **kw):   # the store's bars, unadjusted
        rows, _ = _daily(raw, codes, "2019-07-03", hmm_config=NO_FLOOR, progress=progress)
        return rows

    monkeypatch.setattr(rd, "run_daily_family", daily_family)
    home = tmp_path / "home"
    r = _invoke(home, "research", "report", "--strategies", "daily", "--symbols", BAD,
                "--symbols", GOOD, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert [(f["series"], f["model"], f["window"]) for f in res["failures"]] == [(BAD, "hmm", 0)]
    assert res["failures"][0]["reason"].startswith("LinAlgError: When `allow_singular")
    assert len(res["variants"]) == len(rd.DAILY_VARIANTS)
    hmm = next(v for v in res["variants"] if v["variant"] == "hmm-m0.02")
    assert hmm["fits"] == {"total": 2, "failed": 1} and hmm["failures"] == res["failures"]
    assert "1 of 2 series × windows" in hmm["reasons"][-1]
    saved = json.loads((home / "reports" / "research" / "research.json").read_text())
    assert saved["failures"] == res["failures"]
    engine, Session = open_app_store(get_settings(home=home).app_db_url)
    try:
        stored = gates.latest_verdicts(Session, "daily")
    finally:
        engine.dispose()
    assert len(stored) == len(rd.DAILY_VARIANTS) and stored["run_id"].iloc[0] == res["run_id"]
    params = stored.set_index("variant").loc["2 holdings · hmm-m0.02", "params"]
    assert params["fits"] == {"total": 2, "failed": 1} and params["failures"][0]["series"] == BAD
    r = _invoke(home, "research", "report", "--strategies", "daily", "--symbols", BAD,
                "--symbols", GOOD)
    assert r.exit_code == 0, r.output
    lines = [x for x in r.stdout.splitlines() if x.startswith("fit failed:")]
    assert lines == [f"fit failed: daily {BAD} hmm window 0: {res['failures'][0]['reason']}"]


# -------------------------------------------------------------------------------- compare
def test_compare_scores_the_other_stocks_and_names_the_failed_one(raw, nofloor_row) -> None:
    from tzero.registry.train import UniverseData
    from tzero.research.compare_fit import score_model

    panel = raw.loc[raw["trade_time"] >= FIT_START].reset_index(drop=True)
    data = UniverseData("test", panel, pd.DataFrame(), None, {}, [])
    days = pd.DatetimeIndex(sorted(panel["trade_time"].unique()))
    rng = days[(days >= "2019-01-03") & (days <= "2019-03-29")]    # fit to 2018-12-21
    ms = score_model(nofloor_row, data, rng, days, sample=[BAD, GOOD, OTHER])
    assert ms.fits[0]["fit_end"] == FIT_END                       # the very fit of the research run
    assert list(ms.errors) == [BAD] and "LinAlgError" in ms.errors[BAD]
    assert ms.errors[BAD].startswith("forecast 2019-01-03..2019-03-29: 000333.SZ: hmm_nofloor")
    assert set(ms.long["ts_code"]) == {GOOD, OTHER} and ms.n_series == 3
    assert ms.long["score"].notna().all() and ms.long["as_of"].nunique() == len(rng)
    with pytest.raises(ModelError, match=r"only 0 of 1 stocks could be fitted and forecast"):
        score_model(nofloor_row, data, rng, days, sample=[BAD])


# ---------------------------------------------------------------------------------- train
def _train_panel(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.loc[raw["ts_code"].isin([BAD, GOOD]) & (raw["trade_time"] >= FIT_START)
                   & (raw["trade_time"] <= "2019-03-29")].reset_index(drop=True)


def test_train_publishes_the_others_and_records_the_failure(raw, nofloor_row, tmp_path,
                                                           monkeypatch) -> None:
    """The holdout fit of 000333.SZ (data to 2018-12-21) is the singular one: that run fails
    with its reason, 600519.SH is trained, gated and stored; the CLI prints it and exits 1."""
    from sqlalchemy import select

    from tzero.data.appdb import TrainingFailure, open_app_store
    from tzero.registry import train as reg_train
    from tzero.registry import versions
    from tzero.registry.publish import train_and_publish
    from tzero.settings import get_settings

    def train_model(Session_, store, name, *, symbols=None, **kw):     # unadjusted bars
        return train_and_publish(Session_, table.get_spec(name).make(), _train_panel(raw),
                                 keys=symbols)

    monkeypatch.setattr(reg_train, "train_model", train_model)
    home = tmp_path / "home"
    r = _invoke(home, "train", "--model", "hmm_nofloor", "--symbols", BAD, "--symbols", GOOD,
                "--json")
    assert r.exit_code == 1                                       # some run failed, all recorded
    runs = {x["key"]: x for x in json.loads(r.stdout)}
    assert runs[BAD]["status"] == "failed" and runs[GOOD]["status"] == "succeeded"
    assert "LinAlgError: When `allow_singular is False`" in runs[BAD]["reason"]
    assert runs[GOOD]["version_id"]
    engine, Session = open_app_store(get_settings(home=home).app_db_url)
    try:
        with Session() as s:
            stored = {v["version_id"] for v in versions.list_versions(s, "hmm_nofloor")}
            fails = s.scalars(select(TrainingFailure.symbol)).all()
    finally:
        engine.dispose()
    assert fails == [BAD] and runs[GOOD]["version_id"] in stored
    r = _invoke(home, "train", "--model", "hmm_nofloor", "--symbols", BAD, "--symbols", GOOD)
    assert r.exit_code == 1
    lines = [x for x in r.stdout.splitlines() if x.startswith("failed:")]
    assert len(lines) == 1 and lines[0].startswith(f"failed: hmm_nofloor {BAD}: ")
    assert "positive definite" in lines[0]
    assert "1 of 2 runs trained" in r.stdout


# --------------------------------------------------------------------------------- replay
def test_replay_goes_on_past_a_stock_no_source_can_forecast(tdx_dir, tmp_path) -> None:
    """300750.SZ listed on 2018-06-11: too short for the LSTM, ARIMA and the technical rules.
    Each day it is a recorded failure; 600519.SH is trained, predicted and scored."""
    from tzero.data.appdb import open_app_store
    from tzero.models.lstm import LstmConfig
    from tzero.registry.replay import replay
    from tzero.training.loop import TrainConfig

    new = "300750.SZ"
    panel = pd.concat([_day(tdx_dir, GOOD), _day(tdx_dir, new)], ignore_index=True)
    panel = panel.loc[panel["trade_time"] <= "2018-06-30"].sort_values(
        ["ts_code", "trade_time"], ignore_index=True)
    tiny = LstmConfig(cv=False, history=400, holdout_sessions=30, train=TrainConfig(seed=3),
                      params={"lr": 1e-3, "hidden_size": 8, "epochs": 2, "batch_size": 64})
    engine, S = open_app_store(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        res = replay(S, panel, [GOOD, new], "2018-06-12", "2018-06-15", config=tiny, history=400)
    finally:
        engine.dispose()
    days = ["2018-06-12", "2018-06-13", "2018-06-14", "2018-06-15"]
    assert [p["date"] for p in res["predictions"]] == days         # 600519.SH every day
    assert {p["symbol"] for p in res["predictions"]} == {GOOD}
    summary = res["summary"]
    assert summary["prediction_failures"] == len(days)
    pred_fails = [f for f in summary["failures"] if f["what"] == "prediction"]
    assert [(f["date"], f["symbol"]) for f in pred_fails] == [(d, new) for d in days]
    assert all("too few for the RSI/MACD rules" in f["reason"] for f in pred_fails)
    trained = [e for e in res["events"] if e["type"] == "training"]
    assert {(e["symbol"], e["status"]) for e in trained} >= {(GOOD, "succeeded"), (new, "failed")}
    assert any(f["what"] == "training" and f["symbol"] == new for f in summary["failures"])
    json.dumps(res, default=str)


def test_failure_records_are_one_line_and_collected_once() -> None:
    err = np.linalg.LinAlgError("Singular\nmatrix")
    f = failures.fit_failure("daily", BAD, "hmm", 3, err)
    assert f == {"strategy": "daily", "series": BAD, "model": "hmm", "window": 3,
                 "reason": "LinAlgError: Singular matrix"}
    rows = [{"failures": [f]}, {"failures": [f]}, {}]
    assert failures.collect(rows) == [f]
    row: dict = {}
    failures.attach(row, [f, {**f, "model": "lstm"}], 10, ["hmm"])
    assert row == {"failures": [f], "fits": {"total": 10, "failed": 1}}
    judged = gates.Verdict("kept", ["passes"])
    assert failures.verdict({}, judged) is judged
    v = failures.verdict(row, judged)
    assert v.status == "kept" and "1 of 10" in v.reasons[-1] and "window 3" in v.reasons[-1]
