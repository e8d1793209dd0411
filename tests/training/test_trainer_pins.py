"""Pins of :func:`tzero.training.loop.train_dual_head` (issue 9 §2).

The numbers below were recorded from the PRE-REFACTOR loop (the specialised
``train_dual_head`` of ``training/loop.py`` before :class:`Trainer` existed),
on CPU with one torch thread. The refactored wrapper must reproduce them: same
random draws in the same order (``randperm`` per epoch, then the augmentation
noise and scale per batch, all from one seeded CPU generator), same optimiser,
scheduler, clipping, validation scores and best-weights restore.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tzero.models.lstm_nets import build_net
from tzero.training.loop import TrainConfig, train_dual_head

N_TRAIN, N_VAL, SEQ, N_FEAT, HORIZON, HIDDEN = 65, 24, 12, 21, 5, 16
BASE = TrainConfig(epochs=4, batch_size=16, patience=2, seed=42)
CASES = {
    "improved_val": (True, True),
    "improved_noval": (True, False),
    "plain_val": (False, True),
    "plain_noval": (False, False),
}


# Recorded from the PRE-REFACTOR loop (training/loop.py as of commit 55825e5, before
# Trainer existed), CPU, one torch thread. History columns: one value per epoch.
PINS = {
    "improved_val": {
        "best_epoch": 0, "epochs_run": 3, "samples_seen": 192,
        "best_score": 0.11660363880646696,
        "weight_sum": -5.723951106483582,
        "weight_abs_sum": 358.1412607592647,
        "history": {
            "epoch": [0, 1, 2],
            "train_loss": [
                3.160776578463041,
                3.156785113994892,
                3.1667064960186297,
            ],
            "val_cls_loss": [
                0.6713103652000427,
                0.6739727854728699,
                0.6764587759971619,
            ],
            "val_vol_match": [
                0.11660363880646696,
                0.11615527878672238,
                0.1155222011958903,
            ],
            "score": [
                0.11660363880646696,
                0.11615527878672238,
                0.1155222011958903,
            ],
        },
    },
    "improved_noval": {
        "best_epoch": 1, "epochs_run": 4, "samples_seen": 256,
        "best_score": -3.156785113994892,
        "weight_sum": -5.704099404698354,
        "weight_abs_sum": 358.10593002940004,
        "history": {
            "epoch": [0, 1, 2, 3],
            "train_loss": [
                3.160776578463041,
                3.156785113994892,
                3.1667064960186297,
                3.1687603877140926,
            ],
            "score": [
                -3.160776578463041,
                -3.156785113994892,
                -3.1667064960186297,
                -3.1687603877140926,
            ],
        },
    },
    "plain_val": {
        "best_epoch": 0, "epochs_run": 3, "samples_seen": 192,
        "best_score": -0.6712979674339294,
        "weight_sum": -5.7214806288830005,
        "weight_abs_sum": 358.1465751192882,
        "history": {
            "epoch": [0, 1, 2],
            "train_loss": [
                3.1607123154860277,
                3.199645467904898,
                3.1665810218224157,
            ],
            "val_cls_loss": [
                0.6712979674339294,
                0.6737760901451111,
                0.6764844059944153,
            ],
            "val_vol_match": [
                0.1166038526370754,
                0.1155047846928341,
                0.11458428668968812,
            ],
            "score": [
                -0.6712979674339294,
                -0.6737760901451111,
                -0.6764844059944153,
            ],
        },
    },
    "plain_noval": {
        "best_epoch": 0, "epochs_run": 4, "samples_seen": 256,
        "best_score": -3.1607123154860277,
        "weight_sum": -5.7214806288830005,
        "weight_abs_sum": 358.1465751192882,
        "history": {
            "epoch": [0, 1, 2, 3],
            "train_loss": [
                3.1607123154860277,
                3.199645467904898,
                3.1665810218224157,
                3.1785322922926684,
            ],
            "score": [
                -3.1607123154860277,
                -3.199645467904898,
                -3.1665810218224157,
                -3.1785322922926684,
            ],
        },
    },
}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    n = N_TRAIN + N_VAL
    X = rng.standard_normal((n, SEQ, N_FEAT)).astype(np.float32)
    y_ret = (rng.standard_normal((n, HORIZON)) * 1.5).astype(np.float32)   # percent units
    y_dir = (y_ret.sum(axis=1) > 0).astype(np.int64)
    return X, y_dir, y_ret


def run_case(name: str) -> dict:
    """Train one pinned case; returns its history, best epoch and weight checksums."""
    improved, with_val = CASES[name]
    X, yd, yr = _data()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(42)
        net = build_net("basic", N_FEAT, HIDDEN, HORIZON)
        val = (X[N_TRAIN:], yd[N_TRAIN:], yr[N_TRAIN:]) if with_val else None
        res = train_dual_head(net, X[:N_TRAIN], yd[:N_TRAIN], yr[:N_TRAIN],
                              replace(BASE, improved=improved), val)
    finally:
        torch.set_num_threads(threads)
    params = [p.detach().double() for p in net.state_dict().values()]
    return {
        "history": [{k: float(v) for k, v in row.items()} for row in res.history],
        "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
        "samples_seen": res.samples_seen, "best_score": float(res.best_score),
        "weight_sum": float(sum(p.sum() for p in params)),
        "weight_abs_sum": float(sum(p.abs().sum() for p in params)),
    }


@pytest.mark.parametrize("name", list(CASES))
def test_train_dual_head_matches_pre_refactor_pins(name: str) -> None:
    got, want = run_case(name), PINS[name]
    for key in ("best_epoch", "epochs_run", "samples_seen"):
        assert got[key] == want[key], key
    hist = {c: [row[c] for row in got["history"]] for c in want["history"]}
    assert hist["epoch"] == want["history"]["epoch"]
    for col, values in want["history"].items():
        torch.testing.assert_close(torch.tensor(hist[col], dtype=torch.float64),
                                   torch.tensor(values, dtype=torch.float64),
                                   rtol=1e-6, atol=1e-9, msg=col)
    assert set(got["history"][0]) == set(want["history"])
    for key in ("best_score", "weight_sum", "weight_abs_sum"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-6, atol=1e-9, msg=key)
