"""ARIMA and HMM forecasters on real TDX daily bars (spec 000 §3.1-3.2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecaster_contract import check_forecaster
from hmmlearn.hmm import GaussianHMM
from scipy.stats import norm
from statsforecast.models import AutoARIMA

from tzero.errors import ModelError
from tzero.models.arima import ArimaConfig, ArimaForecaster, psi_weights
from tzero.models.base import panel_until
from tzero.models.hmm import (
    HmmConfig,
    HmmForecaster,
    HmmParams,
    emission_log_likelihood,
    filtered_state_probs,
    forecast_from_probs,
    forward_filter,
    hmm_features,
    label_states,
)
from tzero.settings import get_settings

pytestmark = pytest.mark.data

SYMBOLS = ("sh600519", "sh601318", "sh600000")
T = pd.Timestamp("2021-06-30")          # a session; models are fitted on bars <= T


def _read_day(path: Path) -> pd.DataFrame:
    """One TDX ``.day`` file as a Bars frame (raw, unadjusted prices)."""
    a = np.fromfile(path, dtype="<u4").reshape(-1, 8)
    code = f"{path.stem[2:]}.{path.stem[:2].upper()}"
    return pd.DataFrame({
        "ts_code": code,
        "trade_time": pd.to_datetime(a[:, 0].astype(str), format="%Y%m%d"),
        "open": a[:, 1] / 100, "high": a[:, 2] / 100, "low": a[:, 3] / 100,
        "close": a[:, 4] / 100,
        "volume": a[:, 6].astype(float),
        "amount": a[:, 5].view("<f4").astype(float),
    })


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    data_dir = get_settings().data_dir
    if data_dir is None:
        pytest.skip("no shared data dir (set TZERO_DATA_DIR to ../shared/data)")
    paths = [data_dir / "tdx" / "vipdoc" / s[:2] / "lday" / f"{s}.day" for s in SYMBOLS]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"TDX day files missing under {data_dir}")
    df = pd.concat([_read_day(p) for p in paths], ignore_index=True)
    return df.sort_values(["ts_code", "trade_time"], ignore_index=True)


@pytest.fixture(scope="module")
def arima(panel: pd.DataFrame) -> ArimaForecaster:
    return ArimaForecaster().fit(panel_until(panel, T))


@pytest.fixture(scope="module")
def hmm(panel: pd.DataFrame) -> HmmForecaster:
    return HmmForecaster().fit(panel_until(panel, T))


def _future_doubled(panel: pd.DataFrame) -> pd.DataFrame:
    """Copy with every bar after ``T`` corrupted (prices x2, volume x3)."""
    bad = panel.copy()
    after = bad["trade_time"] > T
    bad.loc[after, ["open", "high", "low", "close"]] *= 2
    bad.loc[after, "volume"] *= 3
    return bad


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("factory", [ArimaForecaster, HmmForecaster], ids=["arima", "hmm"])
def test_contract(factory, panel: pd.DataFrame) -> None:
    out = check_forecaster(factory, panel_until(panel, T), T)
    assert out["as_of"].eq(T).all()


@pytest.mark.parametrize("name", ["arima", "hmm"])
def test_no_look_ahead(name: str, request: pytest.FixtureRequest, panel: pd.DataFrame) -> None:
    model = request.getfixturevalue(name)
    bad = _future_doubled(panel)
    clean = model.predict(panel, T)
    pd.testing.assert_frame_equal(model.predict(bad, T), clean, check_exact=True)
    # the corruption is visible to a forecast that is allowed to see it
    end = panel["trade_time"].max()
    assert not model.predict(bad, end).equals(model.predict(panel, end))


@pytest.mark.parametrize("name", ["arima", "hmm"])
def test_state_round_trip(name: str, request: pytest.FixtureRequest, panel: pd.DataFrame) -> None:
    model = request.getfixturevalue(name)
    restored = type(model).from_state(model.state_dict())
    for day in (T, panel["trade_time"].max()):
        pd.testing.assert_frame_equal(restored.predict(panel, day), model.predict(panel, day),
                                      check_exact=True)


@pytest.mark.parametrize("factory", [ArimaForecaster, HmmForecaster], ids=["arima", "hmm"])
def test_too_short_history_raises(factory, panel: pd.DataFrame) -> None:
    short = panel.groupby("ts_code").head(40)
    with pytest.raises(ModelError, match=r"600000\.SH has \d+ "):
        factory().fit(short)


@pytest.mark.parametrize("name", ["arima", "hmm"])
def test_predict_before_enough_history_raises(name: str, request: pytest.FixtureRequest,
                                              panel: pd.DataFrame) -> None:
    model = request.getfixturevalue(name)
    early = panel["trade_time"].min() + pd.Timedelta(days=40)
    with pytest.raises(ModelError, match="fewer than min_obs"):
        model.predict(panel, early)


# --------------------------------------------------------------------- ARIMA
def test_arima_extra_columns(arima: ArimaForecaster, panel: pd.DataFrame) -> None:
    out = arima.predict(panel, T)
    assert out["regime"].isna().all() and out["regime_prob"].isna().all()
    g = panel_until(panel, T)
    close = g.loc[g["ts_code"] == "600519.SH", "close"].to_numpy()
    row = out[out["ts_code"] == "600519.SH"]
    assert np.allclose(row["deviation"], np.log(close[-1] / close[-20:].mean()))
    assert np.allclose(row["sigma2"], arima.models_["600519.SH"].sigma2)
    assert (out["sigma2"] > 0).all()


def test_arima_reapplies_fixed_model_to_data_up_to_as_of(arima: ArimaForecaster,
                                                         panel: pd.DataFrame) -> None:
    later = panel.loc[panel["trade_time"] > T, "trade_time"].drop_duplicates().iloc[30]
    before = {c: f.coef for c, f in arima.models_.items()}
    a, b = arima.predict(panel, T), arima.predict(panel, later)
    assert {c: f.coef for c, f in arima.models_.items()} == before
    assert b["as_of"].eq(later).all()
    assert not np.allclose(a["deviation"], b["deviation"])
    # The rebuilt fixed-coefficient ARIMA equals AutoARIMA.forward of the original fit.
    code = "601318.SH"
    f = arima.models_[code]
    auto = AutoARIMA(season_length=1).fit(np.asarray(f.train_y))
    cut = panel_until(panel, later)
    y = np.diff(np.log(cut.loc[cut["ts_code"] == code, "close"].to_numpy()))[-500:]
    want = auto.forward(y=y, h=5, level=[95])
    got = arima.arimas_[code].forward(y=y, h=5, level=[95])
    assert np.allclose(got["mean"], want["mean"], rtol=0, atol=1e-12)
    assert np.allclose(got["hi-95"], want["hi-95"], rtol=0, atol=1e-12)


def test_arima_std_matches_psi_weights(arima: ArimaForecaster, panel: pd.DataFrame) -> None:
    out = arima.predict(panel, T)
    for code, g in out.groupby("ts_code"):
        f = arima.models_[code]
        psi = psi_weights(f.order, f.seasonal_order, f.coef, 1, 5)
        log_var = f.sigma2 * np.cumsum(psi**2)
        # invert the log-normal conversion: sd^2 / (1 + mean)^2 = exp(s^2) - 1
        back = np.log1p(g["std"].to_numpy() ** 2 / (1 + g["mean"].to_numpy()) ** 2)
        assert np.allclose(back, log_var, rtol=1e-6)


def test_psi_weights_hand_cases() -> None:
    assert np.allclose(psi_weights((1, 0, 0), (0, 0, 0), {"ar1": 0.5}, 1, 4),
                       [1, 0.5, 0.25, 0.125])
    assert np.allclose(psi_weights((0, 0, 1), (0, 0, 0), {"ma1": -0.3}, 1, 3), [1, -0.3, 0])
    assert np.allclose(psi_weights((0, 1, 0), (0, 0, 0), {}, 1, 3), [1, 1, 1])
    # ARMA(1,1): psi_1 = phi + theta, psi_j = phi psi_{j-1}
    assert np.allclose(psi_weights((1, 0, 1), (0, 0, 0), {"ar1": 0.5, "ma1": 0.2}, 1, 3),
                       [1, 0.7, 0.35])


# ----------------------------------------------------------------------- HMM
def test_hmm_states_sorted_and_labelled(hmm: HmmForecaster) -> None:
    for code, p in hmm.models_.items():
        mu = p.ret_mean
        assert np.all(np.diff(mu) >= 0), f"{code}: states not sorted by mean return"
        bull = mu[[lab == "bull" for lab in p.labels]]
        bear = mu[[lab == "bear" for lab in p.labels]]
        assert (bull > 0).all() and (bear < 0).all()
        if bull.size and bear.size:
            assert bull.min() > bear.max()
    assert any(set(p.labels) != {"sideways"} for p in hmm.models_.values())
    assert label_states(np.array([-0.01, 0.0, 0.0005, 0.02]), 0.001) == (
        "bear", "sideways", "sideways", "bull")


def test_hmm_prediction_columns(hmm: HmmForecaster, panel: pd.DataFrame) -> None:
    out = hmm.predict(panel, T)
    for code, g in out.groupby("ts_code"):
        p = hmm.models_[code]
        probs = np.asarray(g["state_probs"].iloc[0])
        assert probs.shape == (len(p.labels),) and np.isclose(probs.sum(), 1)
        k = int(g["state"].iloc[0])
        assert k == int(np.argmax(probs))
        assert (g["regime"] == p.labels[k]).all()
        assert np.allclose(g["regime_prob"], probs[k])


def test_hmm_filter_is_causal_and_not_smoothed(hmm: HmmForecaster, panel: pd.DataFrame) -> None:
    code = "600519.SH"
    p = hmm.models_[code]
    g = panel[panel["ts_code"] == code]
    x = hmm_features(g["close"].to_numpy(), g["volume"].to_numpy(), 20, 5)
    filt = filtered_state_probs(p, x)
    assert np.allclose(filt.sum(axis=1), 1)
    assert np.allclose(filtered_state_probs(p, x[:600]), filt[:600], rtol=0, atol=1e-12)

    ref = GaussianHMM(n_components=len(p.labels), covariance_type="full")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = (
        p.startprob, p.transmat, p.means, p.covars)
    ref.n_features = p.means.shape[1]
    z = (x - p.scale_mean) / p.scale_std
    assert np.allclose(emission_log_likelihood(p, x), ref._compute_log_likelihood(z))
    smooth = ref.predict_proba(z)
    assert np.allclose(smooth[-1], filt[-1], atol=1e-8)      # equal only at the last row
    assert np.abs(smooth[:-1] - filt[:-1]).max() > 1e-3


def test_forward_filter_hand_case() -> None:
    start = np.array([0.5, 0.5])
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    lik = np.array([[0.6, 0.1], [0.3, 0.4]])
    a1 = start * lik[0]
    a1 /= a1.sum()
    a2 = (a1 @ a) * lik[1]
    a2 /= a2.sum()
    assert np.allclose(forward_filter(start, a, np.log(lik)), [a1, a2])


def test_hmm_forecast_matches_simulation() -> None:
    p = HmmParams(
        startprob=np.array([0.5, 0.5]),
        transmat=np.array([[0.9, 0.1], [0.3, 0.7]]),
        means=np.array([[-1.0], [1.0]]), covars=np.array([[[1.0]], [[2.25]]]),
        labels=("bear", "bull"), scale_mean=np.array([0.001]), scale_std=np.array([0.01]),
        bic=0.0,
    )
    probs = np.array([0.2, 0.8])
    fc = forecast_from_probs(p, probs, 3)
    rng = np.random.default_rng(0)
    n = 400_000
    s = rng.choice(2, size=n, p=probs)
    cum = np.zeros(n)
    step = []
    for _ in range(3):
        s = (rng.random(n) < p.transmat[s, 1]).astype(int)
        r = rng.normal(p.ret_mean[s], np.sqrt(p.ret_var[s]))
        cum = cum + r
        step.append((np.expm1(r), np.expm1(cum), cum))
    for k, (simple, cum_simple, cum_log) in enumerate(step):
        assert np.isclose(fc["mean"][k], simple.mean(), atol=1e-4)
        assert np.isclose(fc["std"][k], simple.std(), rtol=1e-2)
        assert np.isclose(fc["cum_mean"][k], cum_simple.mean(), atol=2e-4)
        # prob_up is the normal approximation with the exact mean and variance of S_k
        assert np.isclose(fc["prob_up"][k], norm.cdf(cum_log.mean() / cum_log.std()), atol=3e-3)


def test_hmm_bic_choice_and_seed(panel: pd.DataFrame) -> None:
    one = panel_until(panel[panel["ts_code"] == "600000.SH"], T)
    cfg = HmmConfig(n_states=None, covariance_type="diag", window=500)
    a, b = HmmForecaster(cfg).fit(one), HmmForecaster(cfg).fit(one)
    assert a.state_dict() == b.state_dict()
    assert 2 <= len(a.models_["600000.SH"].labels) <= 5


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="min_obs"):
        ArimaConfig(window=30)
    with pytest.raises(ValueError, match="n_states"):
        HmmConfig(n_states=6)
    with pytest.raises(ValueError, match="covariance_type"):
        HmmConfig(covariance_type="tied")  # type: ignore[arg-type]


def test_forward_filter_survives_impossible_observations_and_dead_states() -> None:
    """A state no other state enters (zero column) and an observation impossible under
    every state used to turn every later probability into NaN."""
    import numpy as np

    from tzero.models.hmm import forward_filter

    start = np.array([0.5, 0.5, 0.0])
    trans = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.3, 0.3, 0.4]])   # state 2 is dead
    ll = np.log(np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [1e-300, 1e-300, 1e-300],
                          [0.3, 0.3, 0.3]]))
    ll[2] = -np.inf                                                           # impossible
    p = forward_filter(start, trans, ll)
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1.0)
    assert (p[:, 2] == 0).all()
    # the impossible step keeps the prediction: P(s_2) = P(s_1) @ A
    assert np.allclose(p[2], p[1] @ trans)
    # an ordinary sequence is unchanged by the guard (normalised forward algorithm)
    t2 = trans[:2, :2] / trans[:2, :2].sum(1, keepdims=True)
    q = forward_filter(np.array([0.5, 0.5]), t2, np.log(np.array([[0.2, 0.5], [0.6, 0.1]])))
    a0 = np.array([0.5 * 0.2, 0.5 * 0.5])
    a0 = a0 / a0.sum()
    a1 = (a0 @ t2) * np.array([0.6, 0.1])
    assert np.allclose(q, np.vstack([a0, a1 / a1.sum()]))


def _forward_reference(startprob, transmat, log_lik):
    """The forward filter step by step in numpy (the loop the compiled kernel replaced)."""
    def lse(b):
        top = b.max(axis=0)
        shift = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            return shift + np.log(np.exp(b - shift).sum(axis=0))

    def update(pred, ll):
        la = pred + ll
        z = lse(la[:, None])[0]
        return pred - lse(pred[:, None])[0] if not np.isfinite(z) else la - z

    with np.errstate(divide="ignore"):
        log_a, la = np.log(transmat), update(np.log(startprob), log_lik[0])
    out = [la]
    for t in range(1, len(log_lik)):
        la = update(lse(la[:, None] + log_a), log_lik[t])
        out.append(la)
    return np.exp(np.array(out))


def test_compiled_forward_filter_equals_the_numpy_recursion() -> None:
    """Random 3-state chains with impossible observations and a dead state: the kernel gives
    the numpy recursion's numbers (to rounding)."""
    from tzero.models.hmm import forward_filter

    rng = np.random.default_rng(11)
    for _ in range(20):
        k, n = 3, 400
        trans = rng.dirichlet(np.ones(k), size=k)
        trans[:, 2] = 0.0 if rng.random() < 0.3 else trans[:, 2]
        trans /= trans.sum(axis=1, keepdims=True)
        start = rng.dirichlet(np.ones(k))
        ll = rng.normal(-2, 3, size=(n, k))
        ll[rng.random(n) < 0.02] = -np.inf
        np.testing.assert_allclose(forward_filter(start, trans, ll),
                                   _forward_reference(start, trans, ll), rtol=0, atol=1e-12)
    assert forward_filter(start, trans, ll[:0]).shape == (0, k)
