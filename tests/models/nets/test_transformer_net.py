"""TransformerNet (MASTER-style, spec 000 §3.4): contract shapes, per-sample
independence without inter-stock attention, attention maps, gradients, overfit."""

from __future__ import annotations

import pytest
import torch

from tzero.models.nets.transformer import TransformerNet

F, T, H = 6, 20, 5
STATIC = (3, 4)


def make_net(**kw) -> TransformerNet:
    torch.manual_seed(0)
    kw.setdefault("d_model", 16)
    kw.setdefault("nhead", 2)
    kw.setdefault("num_layers", 2)
    kw.setdefault("dim_feedforward", 32)
    return TransformerNet(n_features=F, n_symbols=10, static_levels=STATIC, horizon=H, **kw)


def make_batch(b: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, T, F, generator=g)
    sym = torch.randint(1, 11, (b,), generator=g)
    static = torch.stack([torch.randint(1, n + 1, (b,), generator=g) for n in STATIC], dim=1)
    return x, sym, static


@pytest.mark.parametrize("b", [1, 7])
@pytest.mark.parametrize("opts", [{}, {"inter_stock": False}, {"market_gate": True},
                                  {"pos_encoding": "learned"}])
def test_output_keys_and_shapes(b, opts):
    net = make_net(**opts).eval()
    out = net(*make_batch(b))
    assert out["logits"].shape == (b, 2)
    assert out["ret"].shape == (b, H)
    assert out["score"].shape == (b,)
    assert out["attn_time"].shape == (b, T)
    torch.testing.assert_close(out["attn_time"].sum(-1), torch.ones(b))
    assert ("attn_stock" in out) == opts.get("inter_stock", True)
    assert ("importance" in out) == opts.get("market_gate", False)
    if "importance" in out:
        assert out["importance"].shape == (b, F)
        torch.testing.assert_close(out["importance"].sum(-1), torch.ones(b))
    assert TransformerNet.cross_sectional is True


@pytest.mark.parametrize("b", [1, 5])
def test_attn_stock_rows_sum_to_one(b):
    net = make_net(inter_stock=True).train()   # no dropout on the weights, even in training
    w = net(*make_batch(b))["attn_stock"]
    assert w.shape == (b, b)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(b))


def test_samples_independent_without_inter_stock():
    net = make_net(inter_stock=False, market_gate=False).eval()
    x, sym, static = make_batch(6)
    before = net(x, sym, static)
    x2 = x.clone()
    x2[3] = torch.randn(T, F) * 5
    after = net(x2, sym, static)
    keep = [i for i in range(6) if i != 3]
    for key in ("logits", "ret", "score", "attn_time"):
        torch.testing.assert_close(after[key][keep], before[key][keep])
        assert not torch.allclose(after[key][3], before[key][3])


def test_inter_stock_mixes_samples():
    net = make_net(inter_stock=True).eval()
    x, sym, static = make_batch(6)
    x2 = x.clone()
    x2[3] = torch.randn(T, F) * 5
    assert not torch.allclose(net(x2, sym, static)["ret"][0], net(x, sym, static)["ret"][0])


def test_unseen_symbol_is_zero_embedding():
    net = make_net()
    x, sym, static = make_batch(4)
    sym[0] = 0
    static[0] = 0
    net(x, sym, static)["ret"].sum().backward()
    torch.optim.SGD(net.parameters(), lr=1.0).step()
    assert torch.equal(net.symbol(torch.tensor([0])), torch.zeros(1, 8))
    assert torch.equal(net.condition(sym[:1], static[:1]), torch.zeros(1, 8))
    for emb in net.static:
        assert torch.equal(emb.weight[0], torch.zeros(8))


@pytest.mark.parametrize("opts", [{}, {"market_gate": True, "pos_encoding": "learned"}])
def test_gradients_reach_every_parameter(opts):
    net = make_net(**opts).train()
    x, sym, static = make_batch(5)
    out = net(x, sym, static)
    (out["logits"].sum() + out["ret"].sum() + out["score"].sum()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_deterministic_with_same_seed():
    batch = make_batch(4)
    a = make_net(market_gate=True).eval()(*batch)
    b = make_net(market_gate=True).eval()(*batch)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_rejects_bad_config_and_long_window():
    with pytest.raises(ValueError, match="divisible"):
        make_net(d_model=10, nhead=4)
    with pytest.raises(ValueError, match="pos_encoding"):
        make_net(pos_encoding="rotary")
    with pytest.raises(ValueError, match="max_len"):
        make_net(max_len=10)(*make_batch(2))


def test_works_without_static_fields():
    torch.manual_seed(0)
    net = TransformerNet(n_features=F, n_symbols=3, static_levels=(), horizon=H, d_model=16,
                         nhead=2, num_layers=1, dim_feedforward=16).eval()
    x = torch.randn(3, T, F)
    out = net(x, torch.tensor([1, 2, 0]), torch.zeros(3, 0, dtype=torch.long))
    assert out["ret"].shape == (3, H)


def test_overfits_small_batch():
    net = make_net(dropout=0.0, market_gate=True)
    x, sym, static = make_batch(64)
    target = torch.randn(64, H, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
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
