"""TcnNet (spec 001 方案C, Bai et al. 2018): contract shapes, causality, receptive
field, gradients, determinism, overfit."""

from __future__ import annotations

import pytest
import torch

from tzero.models.nets.tcn import TcnNet, tcn_levels, tcn_receptive_field

F, T, H = 6, 20, 5
STATIC = (3, 4)


def make_net(**kw) -> TcnNet:
    torch.manual_seed(0)
    kw.setdefault("seq_len", T)
    kw.setdefault("channels", 16)
    return TcnNet(n_features=F, n_symbols=10, static_levels=STATIC, horizon=H, **kw)


def make_batch(b: int, t: int = T, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, F, generator=g)
    sym = torch.randint(1, 11, (b,), generator=g)
    static = torch.stack([torch.randint(1, n + 1, (b,), generator=g) for n in STATIC], dim=1)
    return x, sym, static


@pytest.mark.parametrize("b", [1, 7])
@pytest.mark.parametrize("weight_norm", [True, False])
def test_output_keys_and_shapes(b, weight_norm):
    net = make_net(weight_norm=weight_norm).eval()
    out = net(*make_batch(b))
    assert set(out) == {"logits", "ret", "score"}
    assert out["logits"].shape == (b, 2)
    assert out["ret"].shape == (b, H)
    assert out["score"].shape == (b,)
    assert net.temporal(make_batch(b)[0]).shape == (b, T, 16)
    assert TcnNet.cross_sectional is False


@pytest.mark.parametrize("seq_len", [20, 60])
@pytest.mark.parametrize("kernel_size", [2, 3, 5])
def test_receptive_field_covers_seq_len(seq_len, kernel_size):
    net = make_net(seq_len=seq_len, kernel_size=kernel_size)
    assert net.receptive_field >= seq_len
    assert net.receptive_field == 1 + 2 * (kernel_size - 1) * (2 ** net.levels - 1)
    # the fewest levels: one fewer would not cover the window
    assert net.levels == 1 or tcn_receptive_field(kernel_size, net.levels - 1) < seq_len
    assert len(net.tcn) == net.levels


def test_levels_hand_computed():
    assert tcn_levels(20, 3) == 3 and tcn_receptive_field(3, 3) == 29
    assert tcn_levels(60, 3) == 4 and tcn_receptive_field(3, 4) == 61
    with pytest.raises(ValueError, match="kernel_size"):
        tcn_levels(20, 1)


@pytest.mark.parametrize("t0", [1, 7, 19])
def test_causal(t0):
    net = make_net().eval()
    x = make_batch(4)[0]
    x2 = x.clone()
    x2[:, t0:] = torch.randn_like(x2[:, t0:]) * 10
    a, b = net.temporal(x), net.temporal(x2)
    torch.testing.assert_close(a[:, :t0], b[:, :t0], rtol=0, atol=0)
    assert not torch.allclose(a[:, t0:], b[:, t0:])


def test_last_step_sees_the_first():
    net = make_net(seq_len=T).eval()
    x = make_batch(2)[0]
    x2 = x.clone()
    x2[:, 0] += 10.0
    assert not torch.allclose(net.temporal(x)[:, -1], net.temporal(x2)[:, -1])


def test_samples_independent():
    net = make_net().eval()
    x, sym, static = make_batch(5)
    x2 = x.clone()
    x2[2] = torch.randn(T, F) * 5
    before, after = net(x, sym, static), net(x2, sym, static)
    keep = [0, 1, 3, 4]
    for key in before:
        torch.testing.assert_close(after[key][keep], before[key][keep])


def test_unseen_symbol_is_zero_embedding():
    net = make_net()
    x, sym, static = make_batch(4)
    sym[0] = 0
    static[0] = 0
    net(x, sym, static)["ret"].sum().backward()
    torch.optim.SGD(net.parameters(), lr=1.0).step()
    assert torch.equal(net.symbol(torch.tensor([0])), torch.zeros(1, 8))
    assert torch.equal(net.condition(sym[:1], static[:1]), torch.zeros(1, 8))


@pytest.mark.parametrize("weight_norm", [True, False])
def test_gradients_reach_every_parameter(weight_norm):
    net = make_net(weight_norm=weight_norm, dropout=0.0).train()
    out = net(*make_batch(5))
    (out["logits"].sum() + out["ret"].sum() + out["score"].sum()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_deterministic_with_same_seed():
    batch = make_batch(4)
    a, b = make_net().eval()(*batch), make_net().eval()(*batch)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_overfits_small_batch():
    net = make_net(dropout=0.0)
    x, sym, static = make_batch(64)
    target = torch.randn(64, H, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(100):
        loss = torch.mean((net(x, sym, static)["ret"] - target) ** 2)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = torch.mean((net(x, sym, static)["ret"] - target) ** 2).item()
    assert last < 0.5 * first, (first, last)
