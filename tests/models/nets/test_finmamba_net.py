"""FinMambaNet (Hu et al. 2025, arXiv 2502.06707): contract shapes, the market-aware
graph, mambapy's scan on non-power-of-two lengths, gradients, determinism, overfit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from mambapy.mamba import Mamba, MambaConfig

from tzero.models.nets.finmamba import (
    FinMambaNet,
    _pool_to_end,
    industry_correlation_graph,
    return_correlation,
)

F, T, H = 5, 16, 4
RET = 0                      # the log-price channel
STATIC = (3, 4)              # field 0 = industry (3 industries)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is far faster than several contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_net(**kw) -> FinMambaNet:
    torch.manual_seed(0)
    kw.setdefault("d_model", 16)
    kw.setdefault("n_layers", 1)
    kw.setdefault("d_state", 8)
    return FinMambaNet(n_features=F, n_symbols=10, static_levels=STATIC, horizon=H,
                       return_channel=RET, **kw)


def make_batch(b: int, t: int = T, seed: int = 1, industry: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, F, generator=g)
    level = torch.randn(b, t, generator=g).cumsum(dim=1) * 0.01
    x[:, :, RET] = level - level[:, -1:]                         # log level relative to window end
    sym = torch.randint(1, 11, (b,), generator=g)
    static = torch.stack([torch.randint(1, n + 1, (b,), generator=g) for n in STATIC], dim=1)
    if industry is not None:
        static[:, 0] = industry
    return x, sym, static


@pytest.mark.parametrize("b", [1, 3, 12])
def test_output_keys_and_shapes(b):
    net = make_net().eval()                                      # b = 3 < top_k = 10
    out = net(*make_batch(b))
    assert set(out) == {"logits", "ret", "score", "attn_stock"}
    assert out["logits"].shape == (b, 2)
    assert out["ret"].shape == (b, H)
    assert out["score"].shape == (b,)
    assert out["attn_stock"].shape == (b, b)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert FinMambaNet.cross_sectional is True


def test_single_stock_graph_is_a_self_loop():
    out = make_net().eval()(*make_batch(1))
    assert torch.allclose(out["attn_stock"], torch.ones(1, 1))


@pytest.mark.parametrize("t", [60, 7, 2, 1])
@pytest.mark.parametrize("levels", [1, 2, 3])
def test_runs_on_any_window_length(t, levels):
    net = make_net(levels=levels)
    out = net(*make_batch(6, t=t))
    assert out["ret"].shape == (6, H) and torch.isfinite(out["ret"]).all()
    out["ret"].sum().backward()                                  # pscan's backward pads too


def test_mambapy_parallel_scan_is_exact_on_non_power_of_two_lengths():
    # mambapy 1.2.0 pads the scan on the right and slices it off: no left padding needed
    torch.manual_seed(0)
    par = Mamba(MambaConfig(d_model=8, n_layers=2, d_state=4))
    seq = Mamba(MambaConfig(d_model=8, n_layers=2, d_state=4, pscan=False))
    seq.load_state_dict(par.state_dict())
    x = torch.randn(3, 60, 8)
    assert torch.allclose(par(x), seq(x), atol=1e-5)


@pytest.mark.parametrize("dense", [True, False])
def test_adjacency_is_row_stochastic_and_industry_masked(dense):
    ind = torch.tensor([1, 1, 1, 2, 2, 3, 0, 0])
    out = make_net(dense_attention=dense).eval()(*make_batch(8, industry=ind))
    a = out["attn_stock"]
    assert (a >= 0).all()
    assert torch.allclose(a.sum(dim=1), torch.ones(8), atol=1e-6)
    if not dense:
        known = ind > 0
        cross = (ind[:, None] != ind[None, :]) & known[:, None] & known[None, :]
        assert (a[cross] == 0).all()
        assert torch.allclose(a[6:, :].diagonal(offset=6), torch.ones(2))   # unknown: self loop only


def test_correlation_graph_by_hand():
    # returns: s0, s1 identical; s2 = s0 negated; s3 partially correlated with s0
    r = torch.tensor([[1.0, -1.0, 2.0, 0.0],
                      [1.0, -1.0, 2.0, 0.0],
                      [-1.0, 1.0, -2.0, 0.0],
                      [1.0, 0.0, 1.0, 0.0]])
    level = torch.cat([torch.zeros(4, 1), r.cumsum(dim=1)], dim=1)      # [4, 5]
    corr = return_correlation(level)
    assert torch.allclose(corr[0, 1], torch.tensor(1.0), atol=1e-6)
    assert torch.allclose(corr[0, 2], torch.tensor(-1.0), atol=1e-6)
    same = torch.tensor([1, 1, 1, 1])
    adj = industry_correlation_graph(corr, same, top_k=1)
    # s0 keeps its strongest edge (s1, weight 1) and its self loop: 1/2 each
    assert torch.allclose(adj[0], torch.tensor([0.5, 0.5, 0.0, 0.0]), atol=1e-6)
    # s2 is anti-correlated with everyone: only its self loop
    assert torch.allclose(adj[2], torch.tensor([0.0, 0.0, 1.0, 0.0]))
    # different industries: no edges unless cross-industry edges are on
    other = torch.tensor([1, 2, 3, 4])
    assert torch.allclose(industry_correlation_graph(corr, other, top_k=3), torch.eye(4))
    cross = industry_correlation_graph(corr, other, top_k=3, cross_industry_topk=1)
    assert torch.allclose(cross[0], torch.tensor([0.5, 0.5, 0.0, 0.0]), atol=1e-6)
    # flat or too-short series: no correlation
    assert torch.equal(return_correlation(torch.zeros(3, 2)), torch.zeros(3, 3))


def test_pool_aligns_buckets_to_the_window_end():
    h = torch.arange(5.0).view(1, 5, 1)                        # steps 0..4
    pooled = _pool_to_end(h, 2)                                # [0,0], [1,2], [3,4]
    assert torch.allclose(pooled.flatten(), torch.tensor([0.0, 1.5, 3.5]))


def test_gradients_reach_every_parameter():
    net = make_net(levels=2, graph_steps=2).train()
    out = net(*make_batch(8, industry=torch.tensor([1, 1, 2, 2, 3, 3, 1, 2])))
    (out["logits"].sum() + out["ret"].sum() + out["score"].sum()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert net.gate.grad.abs() > 0


def test_deterministic():
    batch = make_batch(6)
    a = make_net().eval()(*batch)
    b = make_net().eval()(*batch)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_bad_arguments_say_how_to_fix():
    with pytest.raises(ValueError, match="return_channel"):
        FinMambaNet(n_features=F, n_symbols=3, static_levels=STATIC, return_channel=F)
    with pytest.raises(ValueError, match="industry_field"):
        FinMambaNet(n_features=F, n_symbols=3, static_levels=STATIC, return_channel=0,
                    industry_field=2)


def test_overfits_a_fixed_target():
    net = make_net(dropout=0.0, d_model=8, d_state=4)
    x, sym, static = make_batch(12, t=8)
    target = torch.randn(12, H, generator=torch.Generator().manual_seed(3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(100):
        loss = torch.nn.functional.mse_loss(net(x, sym, static)["ret"], target)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
