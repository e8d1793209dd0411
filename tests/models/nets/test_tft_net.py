"""``TftNet`` (encoder-only Temporal Fusion Transformer) and ``quantile_loss`` on CPU."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from tzero.models.nets import QUANTILES
from tzero.models.nets.tft import TftNet, quantile_loss

B, T, F, H = 6, 12, 5, 3
N_SYMBOLS, LEVELS = 20, (3, 4)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is far faster than several contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_net(seed: int = 0, dropout: float = 0.0) -> TftNet:
    torch.manual_seed(seed)
    return TftNet(F, N_SYMBOLS, LEVELS, H, hidden_size=16, nhead=4, dropout=dropout, embed_dim=4)


def make_batch(b: int = B, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, T, F, generator=g)
    sym = torch.randint(1, N_SYMBOLS + 1, (b,), generator=g)
    st = torch.stack([torch.randint(1, n + 1, (b,), generator=g) for n in LEVELS], dim=1)
    return x, sym, st


def test_output_keys_and_shapes() -> None:
    out = make_net()(*make_batch())
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {"quantiles": (B, H, len(QUANTILES)), "ret": (B, H), "logits": (B, 2),
                      "score": (B,), "importance": (B, F), "attn_time": (B, T)}
    assert TftNet.cross_sectional is False
    assert all(torch.isfinite(v).all() for v in out.values())


def test_quantiles_monotone() -> None:
    net = make_net()
    q = net(*make_batch())["quantiles"]
    assert (q[..., 1:] > q[..., :-1]).all()
    with torch.no_grad():       # large raw offsets: softplus may round to 0, never below
        net.fc_quantiles.weight.mul_(50.0)
    q = net(*make_batch())["quantiles"]
    assert (q[..., 1:] >= q[..., :-1]).all()


def test_importance_and_attention_sum_to_one() -> None:
    out = make_net(dropout=0.1).train()(*make_batch())
    assert torch.allclose(out["importance"].sum(-1), torch.ones(B), atol=1e-5)
    assert torch.allclose(out["attn_time"].sum(-1), torch.ones(B), atol=1e-5)
    assert (out["importance"] >= 0).all() and (out["attn_time"] >= 0).all()


def test_attention_is_causal() -> None:
    net = make_net().eval()
    x, sym, st = make_batch()
    t0 = 7
    x2 = x.clone()
    x2[:, t0:] = torch.randn(B, T - t0, F) * 3.0
    with torch.no_grad():
        a, b = net.encode(x, sym, st), net.encode(x2, sym, st)
    for key in ("seq", "attn", "weights"):
        assert torch.allclose(a[key][:, :t0], b[key][:, :t0], atol=1e-6), key
    assert not torch.allclose(a["seq"][:, t0], b["seq"][:, t0])      # the test can fail
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    assert (a["attn"][:, future] == 0).all()
    assert torch.allclose(a["attn"].sum(-1), torch.ones(B, T), atol=1e-5)


def test_gradients_reach_every_parameter() -> None:
    net = make_net(dropout=0.1).train()
    out = net(*make_batch())
    target = torch.randn(B, H)
    loss = (quantile_loss(out["quantiles"], target) + out["ret"].pow(2).mean()
            + out["logits"].logsumexp(-1).mean() + out["score"].pow(2).mean())
    loss.backward()
    missing = [n for n, p in net.named_parameters()
               if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


def test_batch_of_one_and_unseen_ids() -> None:
    net = make_net().eval()
    x, _, _ = make_batch(b=1)
    out = net(x, torch.zeros(1, dtype=torch.long), torch.zeros(1, len(LEVELS), dtype=torch.long))
    assert out["quantiles"].shape == (1, H, len(QUANTILES)) and out["score"].shape == (1,)
    assert all(torch.isfinite(v).all() for v in out.values())
    # id 0 is a zero vector
    assert (net.symbol.weight[0] == 0).all() and all((e.weight[0] == 0).all() for e in net.static)


def test_no_static_fields() -> None:
    net = TftNet(F, N_SYMBOLS, (), H, hidden_size=8, nhead=2)
    x, sym, _ = make_batch()
    out = net(x, sym, torch.zeros(B, 0, dtype=torch.long))
    assert out["quantiles"].shape == (B, H, len(QUANTILES))


def test_overfits_a_small_set() -> None:
    net = make_net(seed=3)
    x, sym, st = make_batch(b=64, seed=4)
    target = torch.randn(64, H, generator=torch.Generator().manual_seed(5)) * 2.0
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = quantile_loss(net(x, sym, st)["quantiles"], target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])


def test_quantile_loss_hand_computed() -> None:
    zeros = torch.zeros(1, 1, len(QUANTILES))
    # y above every quantile: loss q * (y - 0); below: (1 - q) * (0 - y)
    assert quantile_loss(zeros, torch.ones(1, 1)).item() == pytest.approx(sum(QUANTILES) / 5)
    assert quantile_loss(zeros, -torch.ones(1, 1)).item() == pytest.approx(
        sum(1 - q for q in QUANTILES) / 5)
    pred = torch.tensor([[[-2.0, -1.0, 0.0, 1.0, 2.0]]])
    # y = 0.5: errors 2.5, 1.5, 0.5 (q·e) and -0.5, -1.5 ((q - 1)·e)
    expected = (0.1 * 2.5 + 0.25 * 1.5 + 0.5 * 0.5 + 0.25 * 0.5 + 0.1 * 1.5) / 5
    assert quantile_loss(pred, torch.tensor([[0.5]])).item() == pytest.approx(expected)


def test_quantile_loss_ignores_missing_targets() -> None:
    pred = torch.tensor([[[-2.0, -1.0, 0.0, 1.0, 2.0]] * 2])
    full = quantile_loss(pred[:, :1], torch.tensor([[0.5]]))
    assert quantile_loss(pred, torch.tensor([[0.5, float("nan")]])).item() == pytest.approx(
        full.item())
    with pytest.raises(ValueError, match="quantiles"):
        quantile_loss(pred[..., :3], torch.zeros(1, 2))


def test_rejects_hidden_size_not_divisible_by_heads() -> None:
    with pytest.raises(ValueError, match="multiple of nhead"):
        TftNet(F, N_SYMBOLS, LEVELS, H, hidden_size=10, nhead=4)
