"""Spec 001 hybrid Stage 1 (CrossSectionalEncoder) and Stage 2 (ResidualBoost):
output shapes, attention distributions, V1/V2/V3 extractors, the supervised-contrastive
loss by hand, gradients, determinism, overfit."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from tzero.models.nets.hybrid import (
    STAGE1_SIZES,
    CrossSectionalEncoder,
    ResidualBoost,
    contrastive_loss,
)

FS, N_IND = 6, 4


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is far faster than several contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_net(**kw) -> CrossSectionalEncoder:
    torch.manual_seed(0)
    kw.setdefault("d_model", 16)
    kw.setdefault("nhead", 4)
    kw.setdefault("num_layers", 2)
    kw.setdefault("rel_dim", 8)
    return CrossSectionalEncoder(n_features=FS, n_industries=N_IND, **kw)


def make_day(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, FS, generator=g), torch.randint(0, N_IND + 1, (n,), generator=g)


@pytest.mark.parametrize("n", [1, 9])
@pytest.mark.parametrize("extractors,r", [(("v2",), 8), (("v1",), 3), (("v1", "v2", "v3"), 19)])
def test_output_keys_and_shapes(n, extractors, r):
    net = make_net(extractors=extractors).eval()
    out = net(*make_day(n))
    assert set(out) == {"embedding", "attention", "market", "baseline", "relationship"}
    assert out["embedding"].shape == (n, 16)
    assert out["attention"].shape == (4, n + 1, n + 1)
    assert out["market"].shape == (16,)
    assert out["baseline"].shape == (n,)
    assert out["relationship"].shape == (n, r) and net.relationship_dim == r
    assert all(torch.isfinite(v).all() for v in out.values())
    assert CrossSectionalEncoder.cross_sectional is True


def test_attention_is_a_distribution_even_in_training():
    out = make_net(dropout=0.3).train()(*make_day(7))
    a = out["attention"]
    assert (a >= 0).all()
    assert torch.allclose(a.sum(dim=-1), torch.ones(4, 8), atol=1e-6)


def test_v1_features_follow_the_attention():
    snap, ind = make_day(9)
    out = make_net(extractors=("v1",)).eval()(snap, ind)
    w = out["attention"].mean(dim=0)[1:]                       # [N, N+1]
    rel = out["relationship"]
    assert torch.allclose(rel[:, 0], w[:, 0])                  # attention to the market token
    for i in range(9):
        peers = [j for j in range(9) if j != i and ind[i] > 0 and ind[j] == ind[i]]
        assert torch.allclose(rel[i, 1], w[i, [1 + j for j in peers]].sum(), atol=1e-6)
    assert ((rel[:, 2] >= 0) & (rel[:, 2] <= 1 + 1e-6)).all()  # entropy / log(N+1)
    assert torch.allclose(rel[ind == 0, 1], torch.zeros(int((ind == 0).sum())))


def test_v3_projection_is_unit_norm_and_aux_loss_only_in_training():
    net = make_net(extractors=("v3",))
    snap, ind = make_day(9)
    out = net.train()(snap, ind)
    assert out["aux_loss"].shape == () and out["aux_loss"] > 0
    assert torch.allclose(out["relationship"].norm(dim=-1), torch.ones(9), atol=1e-5)
    assert "aux_loss" not in net.eval()(snap, ind)
    assert "aux_loss" not in make_net(extractors=("v2",)).train()(snap, ind)


def test_contrastive_loss_by_hand():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    tau = 0.1
    good = contrastive_loss(z, torch.tensor([1, 1, 2]), tau)
    # anchors 0 and 1: positive sim 1/tau against one orthogonal negative (sim 0)
    assert torch.allclose(good, torch.tensor(math.log1p(math.exp(-10.0))), atol=1e-6)
    swapped = contrastive_loss(z, torch.tensor([1, 2, 1]), tau)
    # anchor 0: positive (orthogonal, 0) against a negative at 10; anchor 2: two ties at 0
    expected = (math.log1p(math.exp(10.0)) + math.log(2.0)) / 2
    assert torch.allclose(swapped, torch.tensor(expected), atol=1e-4)
    assert good < swapped


def test_contrastive_loss_is_zero_without_positives():
    z = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1).requires_grad_()
    for ind in (torch.tensor([1, 2, 3, 4]), torch.tensor([0, 0, 0, 0]), torch.tensor([1])):
        loss = contrastive_loss(z[: len(ind)], ind)
        assert loss.item() == 0.0
        loss.backward()                                        # attached, so a trainer can add it


def test_gradients_reach_every_parameter():
    net = make_net(extractors=("v1", "v2", "v3")).train()
    snap, _ = make_day(10)
    ind = torch.tensor([1, 1, 2, 2, 3, 3, 4, 4, 1, 2])
    out = net(snap, ind)
    loss = (out["baseline"].sum() + out["relationship"].sum() + out["market"].sum()
            + out["aux_loss"])
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_deterministic():
    day = make_day(8)
    a = make_net(extractors=("v1", "v2", "v3")).eval()(*day)
    b = make_net(extractors=("v1", "v2", "v3")).eval()(*day)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_stage1_sizes_build():
    for size in STAGE1_SIZES.values():
        net = CrossSectionalEncoder(n_features=FS, n_industries=N_IND, extractors=("v1", "v2"),
                                    **size)
        assert net.relationship_dim == 3 + size["rel_dim"]
    assert STAGE1_SIZES["medium"] == dict(d_model=128, nhead=8, num_layers=3, rel_dim=32)


def test_bad_extractors_are_refused():
    for bad in ((), ("v4",), ("v2", "v2")):
        with pytest.raises(ValueError, match="extractors"):
            make_net(extractors=bad)


def test_baseline_overfits_a_fixed_target():
    net = make_net(dropout=0.0)
    snap, ind = make_day(20)
    target = torch.randn(20, generator=torch.Generator().manual_seed(3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(100):
        loss = torch.nn.functional.mse_loss(net(snap, ind)["baseline"], target)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_residual_boost_fits_the_baseline_residual():
    torch.manual_seed(0)
    stage1 = make_net().eval()
    boost = ResidualBoost(n_features=FS, d_model=16, hidden=16)
    snap, ind = make_day(20)
    with torch.no_grad():
        out = stage1(snap, ind)
    target = torch.randn(20, generator=torch.Generator().manual_seed(4))
    residual = target - out["baseline"]
    assert boost(snap, out["embedding"]).shape == (20,)
    opt = torch.optim.Adam(boost.parameters(), lr=1e-2)
    first = None
    for _ in range(100):
        loss = torch.nn.functional.mse_loss(boost(snap, out["embedding"]), residual)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
