"""Windows and labels: shapes, hand-checked labels, no look-ahead; losses and CV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tzero.training import cv
from tzero.training.losses import LOSS_KINDS, full_loss, regression_loss, volatility_loss
from tzero.training.metrics import cv_score, information_coefficients
from tzero.training.windows import direction_label, forward_returns, make_windows


def test_forward_returns_hand_case() -> None:
    close = np.array([10.0, 11.0, 9.9, 9.9, 10.89])
    fwd = forward_returns(close, 2)
    np.testing.assert_allclose(fwd[0], [0.1, -0.1])
    np.testing.assert_allclose(fwd[2], [0.0, 0.1])
    assert np.isnan(fwd[3, 1]) and np.isnan(fwd[4]).all()
    assert direction_label(np.nan_to_num(fwd[:1])).tolist() == [0]  # 1.1 * 0.9 = 0.99 < 1


def test_windows_shapes_and_labels() -> None:
    T, F = 30, 3
    feats = np.arange(T * F, dtype=np.float32).reshape(T, F)
    valid = np.ones(T, bool)
    valid[2] = False
    close = np.linspace(10, 13, T)
    ws = make_windows(feats, valid, close, np.arange(T).astype("datetime64[D]"), seq_len=5, horizon=2)
    assert ws.X.shape[1:] == (5, 3)
    assert ws.end[0] == 7  # first window after the invalid row 2
    np.testing.assert_array_equal(ws.X[0], feats[3:8])
    lab = ws.labelled()
    assert lab.end.max() == T - 3 and (lab.y_dir == 1).all()
    assert (ws.y_dir[ws.end > T - 3] == -1).all()


def test_windows_do_not_see_the_future() -> None:
    rng = np.random.default_rng(0)
    T = 80
    feats = rng.normal(size=(T, 4)).astype(np.float32)
    close = 10 * np.cumprod(1 + rng.normal(0, 0.01, T))
    times = np.arange(T).astype("datetime64[D]")
    a = make_windows(feats, np.ones(T, bool), close, times, 10, 5)
    f2, c2 = feats.copy(), close.copy()
    f2[50:] *= 7
    c2[50:] *= 3
    b = make_windows(f2, np.ones(T, bool), c2, times, 10, 5)
    past = a.end <= 49
    np.testing.assert_array_equal(a.X[past], b.X[past])
    # labels of windows ending at t <= 44 use closes up to t+5 <= 49 only
    lab = a.end <= 44
    np.testing.assert_array_equal(a.y_ret[lab], b.y_ret[lab])


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_losses_finite_and_differentiable(kind: str) -> None:
    torch.manual_seed(0)
    pred = torch.randn(16, 5, requires_grad=True)
    target = torch.randn(16, 5)
    loss = regression_loss(kind)(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and pred.grad is not None


def test_loss_terms() -> None:
    t = torch.tensor([[1.0, -1.0, 2.0], [-2.0, 1.0, -1.0]])
    assert float(full_loss(t.clone(), t)) < float(full_loss(torch.zeros_like(t), t))
    # a flat forecast is penalised by the volatility loss beyond its MSE
    z = torch.zeros_like(t)
    assert float(volatility_loss(z, t)) == pytest.approx(float(torch.mean(t**2)) + 0.2 * 0.7)
    with pytest.raises(ValueError, match="reg_loss_type"):
        regression_loss("l1")


def test_grid_and_score() -> None:
    assert len(cv.expand_grid(cv.DEFAULT_PARAM_GRID)) == 8
    assert cv.expand_grid(cv.FAST_PARAM_GRID) == [{"batch_size": 32, "epochs": 25, "hidden_size": 32, "lr": 5e-4}]
    assert cv_score(0.6, 0.0) == pytest.approx(0.6)
    assert cv_score(0.6, 1.0) == pytest.approx(0.6 - 0.1 * np.log(2))
    seen = []

    def fold(params, tr, te):
        seen.append((tr.max(), te.min()))
        return {"f1": params["lr"], "mse": 0.0}
    res = cv.grid_search(100, {"lr": [0.1, 0.3], "batch_size": 32}, 3, 5, fold)
    assert res.best_params["lr"] == 0.3
    assert all(te_min - tr_max > 5 for tr_max, te_min in seen)  # gap of 5 samples


def test_information_coefficients() -> None:
    import pandas as pd
    df = pd.DataFrame({"as_of": [1] * 4 + [2] * 4, "pred": [1, 2, 3, 4, 1, 2, 3, 4],
                       "actual": [0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1]})
    ic = information_coefficients(df)
    assert ic["n_dates"] == 2 and ic["rank_ic"] == pytest.approx(0.0)
