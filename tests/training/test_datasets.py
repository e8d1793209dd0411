"""Tests of tzero.training.datasets: lazy windows equal eager ones, validity, labels, views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tzero.features.cross_section import ALPHA_RELATIVE, alpha_inputs, input_rows
from tzero.training.datasets import ArrayData, SeriesArrays, SeriesInput, series_labels
from tzero.training.samplers import DateBatchSampler
from tzero.training.trainer import TrainConfig, Trainer
from tzero.training.windows import make_windows

L = 10


def _bars(code: str, n: int, seed: int, start: str = "2021-01-04") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * (1 + rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.001, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.001, 0.02, n))
    vol = rng.integers(1_000, 9_000, n).astype(np.float64) * 100
    return pd.DataFrame({"ts_code": code, "trade_time": pd.bdate_range(start, periods=n),
                         "open": open_, "high": high, "low": low, "close": close,
                         "volume": vol, "amount": vol * close})


def _inputs(bars: pd.DataFrame) -> SeriesInput:
    return SeriesInput(str(bars["ts_code"].iloc[0]), bars["trade_time"].to_numpy(),
                       input_rows(bars).rows, series_labels(bars["close"].to_numpy(), 5))


@pytest.fixture(scope="module")
def universe() -> list[pd.DataFrame]:
    return [_bars("000001.SZ", 60, 0), _bars("600000.SH", 45, 1, "2021-01-18"),
            _bars("300750.SZ", 8, 2)]          # shorter than a window: no samples


@pytest.fixture(scope="module")
def ds(universe) -> SeriesArrays:
    return SeriesArrays.from_series([_inputs(b) for b in universe], L, relative=ALPHA_RELATIVE)


def test_layout_is_one_contiguous_row_array(ds: SeriesArrays, universe) -> None:
    assert ds.rows.shape == (60 + 45 + 8, 6) and ds.rows.dtype == np.float32
    assert ds.rows.flags.c_contiguous
    np.testing.assert_array_equal(ds.offsets, [0, 60, 105, 113])
    assert ds.ts_codes == ["000001.SZ", "600000.SH", "300750.SZ"]
    np.testing.assert_array_equal(ds.series_dates(1), universe[1]["trade_time"].to_numpy())
    # labelled windows: T - (L - 1) ends, minus the last 5 rows without a full horizon
    assert len(ds) == (60 - L + 1 - 5) + (45 - L + 1 - 5)
    assert ds.nbytes() < 2 * ds.rows.nbytes + 40 * ds.rows.shape[0]


def test_batch_equals_the_eager_windows_and_labels(ds: SeriesArrays, universe) -> None:
    idx = np.arange(len(ds))
    b = ds.batch(idx)
    assert b["x"].shape == (len(ds), L, 6) and b["x"].dtype == torch.float32
    for k, (i, bars) in enumerate(zip(ds.sample_series, ds.sample_codes(), strict=True)):
        frame = universe[int(i)]
        assert frame["ts_code"].iloc[0] == bars
        t = int(ds.end_row[k] - ds.offsets[i])
        eager = alpha_inputs(frame, L)[t]
        np.testing.assert_allclose(b["x"][k].numpy(), eager, atol=2e-6)
        lab = series_labels(frame["close"].to_numpy(), 5)
        assert b["y_tradeable"][k].item() == pytest.approx(lab["y_tradeable"][t])
        np.testing.assert_allclose(b["y_ret"][k].numpy(), lab["y_ret"][t])
        assert b["y_dir"][k].item() == lab["y_dir"][t]
        assert b["symbol_id"][k].item() == i
        assert ds.dates[b["date_idx"][k]] == frame["trade_time"].iloc[t]
    assert b["y_dir"].dtype == torch.int64 and b["y_ret"].shape == (len(ds), 5)


def test_sample_index_matches_make_windows(universe) -> None:
    frame = universe[0]
    rows = input_rows(frame).rows
    rows[[20, 41], 2] = np.nan                     # invalid rows cut the windows around them
    one = SeriesArrays.from_series(
        [SeriesInput("000001.SZ", frame["trade_time"].to_numpy(), rows,
                     series_labels(frame["close"].to_numpy(), 5))], L, ALPHA_RELATIVE)
    ws = make_windows(rows, np.isfinite(rows).all(1), frame["close"].to_numpy(),
                      frame["trade_time"].to_numpy(), L, 5).labelled()
    ends = ws.end[~np.isnan(series_labels(frame["close"].to_numpy(), 5)["y_tradeable"][ws.end])]
    np.testing.assert_array_equal(one.end_row, ends)
    assert not set(range(20, 20 + L)) & set(one.end_row.tolist())


def test_unlabelled_windows_are_kept_when_labels_are_not_required(universe) -> None:
    s = [_inputs(b) for b in universe]
    full = SeriesArrays.from_series(s, L, ALPHA_RELATIVE, require_labels=False)
    assert len(full) == (60 - L + 1) + (45 - L + 1)
    assert full.end_row[-1] == 104


def test_select_views_share_rows(ds: SeriesArrays) -> None:
    cut = np.datetime64("2021-02-15")
    early = ds.select(ds.sample_dates() < cut)
    assert early.rows is ds.rows and 0 < len(early) < len(ds)
    assert (early.sample_dates() < cut).all()
    np.testing.assert_array_equal(ds.select(np.array([3, 1])).end_row, ds.end_row[[3, 1]])


def test_scaler_is_fitted_on_the_selection_and_applied(ds: SeriesArrays) -> None:
    train = ds.select(ds.sample_dates() < np.datetime64("2021-03-01"))
    params = train.fit_scaler(max_windows=50, seed=0)
    assert params.center.shape == (6,)
    scaled = train.with_scaler(params)
    x = scaled.batch(np.arange(len(scaled)))["x"].numpy()
    raw = train.batch(np.arange(len(train)))["x"].numpy()
    np.testing.assert_allclose(x, params.transform(raw), rtol=1e-6, atol=1e-6)
    assert np.abs(x).max() <= params.clip
    assert train.scaler is None


def test_normalised_labels_per_date(ds: SeriesArrays) -> None:
    n = ds.with_normalised_label("y_tradeable", "zscore")
    b = n.batch(np.arange(len(n)))
    d, y = b["date_idx"].numpy(), b["y_tradeable_zscore"].numpy()
    for date in np.unique(d):
        vals = y[d == date]
        if len(vals) > 1:
            assert abs(vals.mean()) < 1e-6 and vals.std() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(KeyError):
        ds.with_normalised_label("nope")


def test_symbol_ids_and_errors(universe) -> None:
    s = [_inputs(b) for b in universe[:2]]
    ids = {"000001.SZ": 7, "600000.SH": 3}
    d = SeriesArrays.from_series(s, L, ALPHA_RELATIVE, symbol_ids=ids)
    np.testing.assert_array_equal(d.symbol_ids, [7, 3])
    with pytest.raises(ValueError, match="symbol_ids"):
        SeriesArrays.from_series(s, L, symbol_ids={"000001.SZ": 0})
    with pytest.raises(ValueError, match="relative"):
        SeriesArrays.from_series(s, L, relative=((0, 6),))
    with pytest.raises(ValueError, match="no series"):
        SeriesArrays.from_series([], L)
    bad = SeriesInput("X", s[0].dates[::-1], s[0].features, s[0].labels)
    with pytest.raises(ValueError, match="ascending"):
        SeriesArrays.from_series([bad], L)
    with pytest.raises(ValueError, match="same length"):
        ArrayData({"a": np.zeros(3), "b": np.zeros(4)})


@pytest.fixture
def one_thread():
    """Tiny steps run fastest (and steadiest on a busy machine) on one torch thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_trainer_with_date_batches_over_lazy_windows(ds: SeriesArrays, one_thread) -> None:
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(6, 4, batch_first=True)
            self.emb = nn.Embedding(3, 4)
            self.head = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor, sid: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)                          # [B, L, F] -> [B, L, H]
            return self.head(out[:, -1] + self.emb(sid)).squeeze(-1)   # [B]

    seen_dates: list[int] = []

    def loss(out: torch.Tensor, batch: dict) -> torch.Tensor:
        seen_dates.append(len(torch.unique(batch["date_idx"])))
        return nn.functional.mse_loss(out, batch["y_tradeable"] * 100)

    cfg = TrainConfig(epochs=2, seed=0, augment=False)
    res = Trainer(cfg, device="cpu").fit(Tiny(), loss, ds, DateBatchSampler(ds.date_idx(), seed=0),
                                         inputs=("x", "symbol_id"))
    assert res.samples_seen == 2 * len(ds) and set(seen_dates) == {1}
