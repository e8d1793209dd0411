"""Intraday ARIMA / HMM / LSTM: fit, predict, save/load same output, no look-ahead in paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecaster_contract import check_forecaster

from tzero.data.bars import resample_minutes
from tzero.data.tdx import read_lc
from tzero.errors import ModelError
from tzero.models.intraday_arima import (
    PATH_COLUMNS as ARIMA_COLUMNS,
)
from tzero.models.intraday_arima import (
    IntradayArima,
    IntradayArimaConfig,
    intraday_log_returns,
)
from tzero.models.intraday_hmm import LABELS, IntradayHmm, IntradayHmmConfig
from tzero.models.intraday_hmm import PATH_COLUMNS as HMM_COLUMNS
from tzero.models.intraday_lstm import PATH_COLUMNS as LSTM_COLUMNS
from tzero.models.intraday_lstm import IntradayLstm, IntradayLstmConfig
from tzero.signals.policy import INTENSITIES, MICROSTRUCTURE_INTENSITY, intensity_for

pytestmark = pytest.mark.data
TRAIN_DAYS = 8


@pytest.fixture(scope="module")
def bars(data_dir: Path) -> pd.DataFrame:
    """12 days of real 5-minute bars of 688001.SH (from the 1-minute .lc1 file)."""
    lc1 = read_lc(data_dir / "tdx/vipdoc/sh/minline/sh688001.lc1")
    return resample_minutes(lc1, "5m").reset_index(drop=True)


def _split(bars: pd.DataFrame) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    days = bars["trade_time"].dt.normalize().unique()
    train = bars[bars["trade_time"] < days[TRAIN_DAYS]]
    return train, pd.Timestamp(days[TRAIN_DAYS]), bars["trade_time"].iloc[-1]


def _perturb_after(bars: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    b = bars.copy()
    late = b["trade_time"] > cut
    b.loc[late, ["open", "high", "low", "close"]] *= 1.25
    b.loc[late, ["volume", "amount"]] *= 4
    return b


def _check_path_contract(model, bars: pd.DataFrame, start, end, cols: list[str]) -> pd.DataFrame:
    path = model.predict_path(bars, start, end)
    assert list(path.columns) == cols
    assert path["trade_time"].min() >= start and path["trade_time"].max() <= end
    # no look-ahead: change every bar after cut, forecasts at <= cut stay the same
    cut = path["trade_time"].iloc[len(path) // 3]
    again = model.predict_path(_perturb_after(bars, cut), start, end)
    pd.testing.assert_frame_equal(path[path["trade_time"] <= cut],
                                  again[again["trade_time"] <= cut])
    # save/load: the restored model gives the very same path
    state = model.state_dict()
    restored = type(model).from_state(state)
    pd.testing.assert_frame_equal(restored.predict_path(bars, start, end), path)
    return path


def test_intraday_log_returns_leave_out_overnight(bars: pd.DataFrame) -> None:
    r = intraday_log_returns(bars)
    first = np.r_[True, bars["trade_time"].dt.normalize().to_numpy()[1:]
                  != bars["trade_time"].dt.normalize().to_numpy()[:-1]]
    want = np.log(bars["close"] / bars["open"]).to_numpy()[first]
    assert np.allclose(r[first], want)


def test_intraday_arima(bars: pd.DataFrame) -> None:
    train, start, end = _split(bars)
    model = IntradayArima(IntradayArimaConfig(horizon=3, min_obs=100))
    assert not hasattr(model, "models_")
    model.fit(train)
    path = _check_path_contract(model, bars, start, end, ARIMA_COLUMNS)
    assert len(path) == (bars["trade_time"] >= start).sum()
    assert np.isfinite(path[["mean", "std", "prob_up"]].to_numpy()).all()
    assert (path["std"] > 0).all() and path["prob_up"].between(0, 1).all()
    season = model.season_["688001.SH"]
    assert len(season) == 48 and np.mean(list(season.values())) == pytest.approx(1.0)
    fc = model.predict(bars, end)
    assert fc["step"].tolist() == [1, 2, 3] and (fc["as_of"] == end).all()
    assert fc["deviation"].iloc[0] == pytest.approx(path["deviation"].iloc[-1])
    restored = IntradayArima.from_state(model.state_dict())
    pd.testing.assert_frame_equal(restored.predict(bars, end), fc)


def test_intraday_arima_errors(bars: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="not fitted"):
        IntradayArima().predict_path(bars, bars["trade_time"].iloc[0], bars["trade_time"].iloc[-1])
    with pytest.raises(ModelError, match="min_obs"):
        IntradayArima(IntradayArimaConfig(min_obs=100)).fit(bars.iloc[:50])


def test_intraday_hmm(bars: pd.DataFrame) -> None:
    train, start, end = _split(bars)
    model = IntradayHmm(IntradayHmmConfig(n_states=4, lookback_days=3)).fit(train)
    labels = model.models_["688001.SH"].labels
    assert set(labels) <= set(LABELS)
    assert sum(lab.startswith("liquid") for lab in labels) == 2      # split at the median
    assert model.trained_until("688001.SH") == train["trade_time"].iloc[-1]
    path = _check_path_contract(model, bars, start, end, HMM_COLUMNS)
    assert path["state_prob"].between(0, 1).all() and set(path["state"]) <= set(LABELS)
    fc = model.predict(bars, end)
    assert fc["regime"].iloc[0] == path["state"].iloc[-1]
    assert fc["regime_prob"].iloc[0] == path["state_prob"].iloc[-1]


def test_hmm_intensity_map() -> None:
    """The state → T+0 intensity map is the signal policy's, over every label the model emits."""
    assert set(MICROSTRUCTURE_INTENSITY) == set(LABELS)
    assert set(MICROSTRUCTURE_INTENSITY.values()) == set(INTENSITIES)
    assert intensity_for("liquid-buy", 0.9) == "aggressive"
    assert intensity_for("liquid-buy", 0.5) == "normal"
    assert intensity_for("illiquid-sell", 0.3) == "pause"
    with pytest.raises(ValueError, match="unknown intraday HMM state"):
        intensity_for("bull", 0.9)


def test_intraday_lstm(bars: pd.DataFrame) -> None:
    train, start, end = _split(bars)
    cfg = IntradayLstmConfig.fast(seq_len=24, epochs=2, val_days=2, horizon=3)
    model = IntradayLstm(cfg).fit(train)
    assert model.models_["688001.SH"].train_result.epochs_run <= 2
    path = _check_path_contract(model, bars, start, end, LSTM_COLUMNS)
    assert len(path) == (bars["trade_time"] >= start).sum()
    assert path["prob_up"].between(0, 1).all() and np.isfinite(path["mean"]).all()
    again = IntradayLstm(cfg).fit(train)                  # seeded: same weights, same path
    pd.testing.assert_frame_equal(again.predict_path(bars, start, end), path)
    fc = model.predict(bars, end)
    assert fc["step"].tolist() == [1, 2, 3]


def test_lstm_labels_stay_in_day(bars: pd.DataFrame) -> None:
    train, _, _ = _split(bars)
    model = IntradayLstm(IntradayLstmConfig.fast(seq_len=24, horizon=6))
    from tzero.models.intraday_lstm import lstm_features, standardise
    f = lstm_features(train).reset_index(drop=True)
    x = standardise(f, np.zeros(8), np.ones(8))
    ws = model._windows(x, f["trade_time"], train["close"].to_numpy(float))
    times = f["trade_time"].to_numpy("datetime64[ns]")
    ends = times[ws.end].astype("datetime64[D]")
    label_end = times[ws.end + 6].astype("datetime64[D]")
    assert len(ws) > 100 and (ends == label_end).all()


def _bars_from_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """1-minute OHLCV bars built from trades (auction folded into 09:31), for the HMM test."""
    from tzero.features.intraday import trade_minute_close
    from tzero.market.sessions import bar_close_for
    t = trades.assign(bar=bar_close_for(trade_minute_close(trades["trade_time"]), "1m"))
    g = t.groupby(["ts_code", "bar"], sort=True)
    out = g.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"),
                close=("price", "last"), volume=("volume", "sum"))
    out["amount"] = (t["price"] * t["volume"]).groupby([t["ts_code"], t["bar"]]).sum()
    return out.reset_index().rename(columns={"bar": "trade_time"})


def test_intraday_hmm_with_trade_flow(data_dir: Path) -> None:
    """HMM on trade-flow OFI: 1-minute bars built from the real TDX trade snapshots of
    600000.SH (2019-02-01 and 02-11; the first day only seeds ``rel_volume``)."""
    from tzero.data.tables import read_trades_table
    trades = read_trades_table(data_dir / "trades/tdx_trades_2019.parquet")
    trades = trades[trades["ts_code"] == "600000.SH"].reset_index(drop=True)
    bars = _bars_from_trades(trades)
    assert bars["trade_time"].dt.normalize().nunique() == 2 and len(bars) > 400
    model = IntradayHmm(IntradayHmmConfig(n_states=2, lookback_days=1)).fit(bars, trades=trades,
                                                                         freq="1m")
    day2 = bars[bars["trade_time"] >= pd.Timestamp("2019-02-11")]
    start, end = day2["trade_time"].iloc[0], day2["trade_time"].iloc[-1]
    path = model.predict_path(bars, start, end, trades=trades, freq="1m")
    assert len(path) == len(day2) and set(path["state"]) <= set(LABELS)
    cut = day2["trade_time"].iloc[100]
    late = trades["trade_time"] > cut + pd.Timedelta(minutes=1)
    flipped = trades.assign(direction=np.where(late, "S", trades["direction"]))
    again = model.predict_path(bars, start, end, trades=flipped, freq="1m")
    pd.testing.assert_frame_equal(path[path["trade_time"] <= cut],
                                  again[again["trade_time"] <= cut])
    assert not path.equals(again)                      # the trade flow does move the states
    with pytest.raises(ValueError, match="pass freq="):
        model.predict_path(bars, start, end, trades=trades)


# --------------------------------------------------------------------- the one contract
def _two_symbols(bars: pd.DataFrame) -> pd.DataFrame:
    """The 688001.SH bars plus a second symbol (prices × 0.7): the base's per-series loop."""
    other = bars.assign(ts_code="600000.SH")
    other[["open", "high", "low", "close"]] *= 0.7
    return (pd.concat([bars, other]).sort_values(["ts_code", "trade_time"], kind="stable")
            .reset_index(drop=True))


def _as_of(bars: pd.DataFrame) -> pd.Timestamp:
    """A stamp between two bars of day 11 (not a bar's own stamp): as_of is the bar before."""
    day = bars["trade_time"].dt.normalize().unique()[10]
    return pd.Timestamp(day) + pd.Timedelta(hours=10, minutes=32)


INTRADAY_MODELS = {
    "arima": (lambda: IntradayArima(IntradayArimaConfig(horizon=3, min_obs=100)), None),
    "hmm": (lambda: IntradayHmm(IntradayHmmConfig(n_states=3, lookback_days=2, horizon=2)),
            {None, *LABELS}),
    "lstm": (lambda: IntradayLstm(IntradayLstmConfig.fast(seq_len=24, epochs=2, val_days=2,
                                                          horizon=3)), None),
}


@pytest.mark.parametrize("key", sorted(INTRADAY_MODELS))
def test_intraday_models_pass_the_forecaster_contract(bars: pd.DataFrame, key: str) -> None:
    factory, regimes = INTRADAY_MODELS[key]
    panel, as_of = _two_symbols(bars), _as_of(bars)
    out = check_forecaster(factory, panel, as_of, regimes=regimes)
    model = factory()
    assert model.frequency == "intraday" and model.scope == "local"
    want = panel.loc[panel["trade_time"] <= as_of, "trade_time"].max()
    assert want < as_of and (out["as_of"] == want).all()        # last bar <= as_of
    assert out["step"].max() == model.horizon                   # steps are bars


def test_intraday_fit_is_per_series_and_parallel(bars: pd.DataFrame) -> None:
    """The base's loop fits each symbol alone: two symbols fitted together (or in two
    worker processes) give each the model it gets alone."""
    panel = _two_symbols(bars)
    alone = IntradayArima(IntradayArimaConfig(min_obs=100)).fit(bars).state_dict()
    both = IntradayArima(IntradayArimaConfig(min_obs=100)).fit(panel, n_jobs=2).state_dict()
    assert both["models"]["688001.SH"] == alone["models"]["688001.SH"]
    assert both["season"]["688001.SH"] == alone["season"]["688001.SH"]
    assert sorted(both["models"]) == ["600000.SH", "688001.SH"]
    # errors="collect": a symbol too short to fit is skipped and recorded
    short = pd.concat([bars, panel[panel["ts_code"] == "600000.SH"].iloc[:50]])
    m = IntradayArima(IntradayArimaConfig(min_obs=100)).fit(short, errors="collect")
    assert m.fitted_keys() == ["688001.SH"] and "min_obs" in m.errors_["600000.SH"]


def test_intraday_defaults_scale_with_frequency() -> None:
    assert IntradayArima.default_config() == IntradayArimaConfig()
    assert IntradayHmm.default_config(seed=7) == IntradayHmmConfig(seed=7)
    assert IntradayArima.default_config(freq="30m").window == 20 * 8
    assert IntradayLstm.default_config(fast=True, seed=3) == IntradayLstmConfig.fast(seed=3)
    with pytest.raises(ValueError, match="unknown intraday frequency"):
        IntradayArima.default_config(freq="7m")
