"""``DeepArNet``, ``crps_from_samples`` and ``sample_summary`` on CPU."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tzero.models.nets import QUANTILES
from tzero.models.nets.deepar import (
    DeepArNet,
    _standard_student_t,
    crps_from_samples,
    sample_summary,
)

B, T, F, H = 6, 10, 4, 3
N_SYMBOLS, LEVELS = 20, (3, 4)
CONTRACT_KEYS = {"loc", "scale", "df", "ret", "score", "logits"}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is far faster than several contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_net(likelihood: str = "studentt", seed: int = 0, dropout: float = 0.0) -> DeepArNet:
    torch.manual_seed(seed)
    return DeepArNet(F, N_SYMBOLS, LEVELS, H, hidden_size=16, num_layers=2, dropout=dropout,
                     likelihood=likelihood, embed_dim=4)


def make_batch(b: int = B, seed: int = 1
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs and ``y`` (decimal step returns, about 2 % a day)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, T, F, generator=g)
    sym = torch.randint(1, N_SYMBOLS + 1, (b,), generator=g)
    st = torch.stack([torch.randint(1, n + 1, (b,), generator=g) for n in LEVELS], dim=1)
    y = torch.randn(b, H, generator=g) * 0.02
    return x, sym, st, y


@pytest.mark.parametrize("likelihood", ["studentt", "gaussian"])
def test_output_keys_and_shapes(likelihood: str) -> None:
    net = make_net(likelihood)
    x, sym, st, y = make_batch()
    out = net(x, sym, st)
    assert set(out) == CONTRACT_KEYS
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "loc": (B, H), "scale": (B, H), "df": (B, H), "ret": (B, H), "score": (B,),
        "logits": (B, 2)}
    assert (out["scale"] > 0).all()
    if likelihood == "studentt":
        assert (out["df"] > 2).all() and torch.isfinite(out["df"]).all()
    else:
        assert torch.isinf(out["df"]).all()
    assert torch.equal(out["ret"], out["loc"])
    assert torch.allclose(out["score"], out["loc"].sum(-1))
    with_y = net(x, sym, st, y)
    assert set(with_y) == CONTRACT_KEYS | {"aux_loss", "tf_loc", "tf_scale", "tf_df"}
    assert with_y["aux_loss"].shape == () and torch.isfinite(with_y["aux_loss"])
    assert DeepArNet.cross_sectional is False


@pytest.mark.parametrize("likelihood", ["studentt", "gaussian"])
def test_logits_are_the_normal_approximation_of_the_cumulative_sign(likelihood: str) -> None:
    out = make_net(likelihood)(*make_batch()[:3])
    loc, scale, df = (out[k].double() for k in ("loc", "scale", "df"))
    var = scale**2 * (df / (df - 2) if likelihood == "studentt" else 1.0)
    p_up = torch.distributions.Normal(0.0, 1.0).cdf(loc.sum(-1) / var.sum(-1).sqrt())
    probs = out["logits"].double().exp()
    assert torch.allclose(probs.sum(-1), torch.ones(B, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(probs[:, 1], p_up, atol=1e-5)


def test_mean_path_outputs_never_depend_on_y() -> None:
    net = make_net().eval()
    x, sym, st, y = make_batch()
    with torch.no_grad():
        free, forced = net(x, sym, st), net(x, sym, st, y)
        forced2 = net(x, sym, st, y * 5.0)
    for k in CONTRACT_KEYS:
        assert torch.allclose(free[k], forced[k]) and torch.allclose(free[k], forced2[k]), k


def test_teacher_forcing_feeds_the_previous_step_only() -> None:
    net = make_net().eval()
    x, sym, st, y = make_batch()
    y2 = y.clone()
    y2[:, 1] += 0.05
    with torch.no_grad():
        a, b = net(x, sym, st, y)["tf_loc"], net(x, sym, st, y2)["tf_loc"]
    assert torch.allclose(a[:, :2], b[:, :2])         # steps 1, 2 see y_0 (start) and y_1
    assert not torch.allclose(a[:, 2], b[:, 2])       # step 3 sees y_2


def test_nll_matches_torch_distributions_and_skips_missing_targets() -> None:
    net = make_net("gaussian").eval()
    x, sym, st, y = make_batch()
    with torch.no_grad():
        out = net(x, sym, st, y)
        nll = -torch.distributions.Normal(out["tf_loc"], out["tf_scale"]).log_prob(y * 100.0)
        assert out["aux_loss"].item() == pytest.approx(nll.mean().item(), rel=1e-5)
        y_nan = y.clone()
        y_nan[:, -1] = float("nan")                   # the last step is unknown
        partial = net(x, sym, st, y_nan)["aux_loss"]
    assert partial.item() == pytest.approx(nll[:, :-1].mean().item(), rel=1e-5)


def test_gradients_reach_every_parameter() -> None:
    net = make_net(dropout=0.1).train()
    x, sym, st, y = make_batch()
    out = net(x, sym, st, y)
    loss = (out["aux_loss"] + out["ret"].pow(2).mean() + out["logits"].logsumexp(-1).mean()
            + out["score"].pow(2).mean())
    loss.backward()
    missing = [n for n, p in net.named_parameters()
               if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


def test_batch_of_one_and_unseen_ids() -> None:
    net = make_net().eval()
    x, _, _, y = make_batch(b=1)
    sym, st = torch.zeros(1, dtype=torch.long), torch.zeros(1, len(LEVELS), dtype=torch.long)
    out = net(x, sym, st, y)
    assert out["loc"].shape == (1, H) and out["logits"].shape == (1, 2)
    assert all(torch.isfinite(out[k]).all() for k in CONTRACT_KEYS | {"aux_loss"})
    assert net.sample(x, sym, st, 5).shape == (5, 1, H)
    assert (net.symbol.weight[0] == 0).all() and all((e.weight[0] == 0).all() for e in net.static)


@pytest.mark.parametrize("likelihood", ["studentt", "gaussian"])
def test_nll_decreases_when_trained(likelihood: str) -> None:
    net = make_net(likelihood, seed=3)
    x, sym, st, _ = make_batch(b=64, seed=4)
    # a target the inputs explain: 1 % times the sign of the last session's first channel
    y = 0.01 * torch.sign(x[:, -1, :1]).expand(-1, H) + 0.001 * torch.randn(64, H)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = net(x, sym, st, y)["aux_loss"]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 1.0, (losses[0], losses[-1])


def test_sample_shape_and_reproducibility() -> None:
    net = make_net().eval()
    x, sym, st, _ = make_batch()
    a = net.sample(x, sym, st, 50, generator=torch.Generator().manual_seed(7))
    b = net.sample(x, sym, st, 50, generator=torch.Generator().manual_seed(7))
    c = net.sample(x, sym, st, 50, generator=torch.Generator().manual_seed(8))
    assert a.shape == (50, B, H) and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not a.requires_grad


@pytest.mark.parametrize("likelihood", ["studentt", "gaussian"])
def test_sample_mean_is_loc_when_the_scale_is_small(likelihood: str) -> None:
    net = make_net(likelihood).eval()
    with torch.no_grad():                     # scale = softplus(-30) + SCALE_EPS ≈ 1e-3 %
        net.fc_params.weight[1].zero_()
        net.fc_params.bias[1] = -30.0
    x, sym, st, _ = make_batch()
    samples = net.sample(x, sym, st, 200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loc = net(x, sym, st)["loc"]
    assert torch.allclose(samples.mean(0), loc, atol=2e-3)


def test_sample_spread_matches_a_gaussian_scale() -> None:
    net = make_net("gaussian").eval()
    x, sym, st, _ = make_batch(b=1)
    samples = net.sample(x, sym, st, 4000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scale = net(x, sym, st)["scale"]
    # the first step is a plain normal draw (its input, the start token, is fixed)
    assert samples[:, 0, 0].std().item() == pytest.approx(scale[0, 0].item(), rel=0.05)


def test_standard_student_t_sampler_matches_the_distribution() -> None:
    df = torch.full((40000,), 4.0, dtype=torch.float64)
    t = _standard_student_t(df, torch.Generator().manual_seed(0)).numpy()
    # quantiles of t_4: 0.75 → 0.7407, 0.9 → 1.5332, 0.975 → 2.7764
    for q, ref in ((0.75, 0.7407), (0.9, 1.5332), (0.975, 2.7764)):
        assert np.quantile(t, q) == pytest.approx(ref, rel=0.04)
    assert abs(np.median(t)) < 0.03


def test_crps_hand_computed() -> None:
    # samples {0, 1}, y = 0: E|X - y| = 0.5, ½ E|X - X'| = ½ · 2/4 = 0.25 → 0.25
    assert crps_from_samples(torch.tensor([[0.0], [1.0]]), torch.tensor([0.0])).item() == (
        pytest.approx(0.25))
    point = crps_from_samples(torch.full((7, 2), 1.5), torch.tensor([1.5, -0.5]))
    assert point[0].item() == pytest.approx(0.0) and point[1].item() == pytest.approx(2.0)


def test_crps_matches_the_brute_force_formula() -> None:
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(37, 9, generator=g, dtype=torch.float64) * 2 + 0.3
    y = torch.randn(9, generator=g, dtype=torch.float64)
    brute = ((samples - y).abs().mean(0)
             - 0.5 * (samples[:, None, :] - samples[None, :, :]).abs().mean((0, 1)))
    assert torch.allclose(crps_from_samples(samples, y), brute, atol=1e-12)


def test_crps_of_many_normal_samples_is_the_closed_form() -> None:
    samples = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0),
                          dtype=torch.float64)
    # N(0, 1) at y = 0: 2 φ(0) - 1 / √π
    closed = 2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi)
    assert crps_from_samples(samples, torch.zeros(1, dtype=torch.float64)).item() == (
        pytest.approx(closed, abs=0.01))


def test_sample_summary_against_numpy() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.1, 2.0, size=(500, 3, 4))            # percent
    out = sample_summary(torch.from_numpy(r))
    cum = np.cumprod(1 + r / 100, axis=-1) - 1            # decimal
    np.testing.assert_allclose(out["ret_mean"].numpy(), r.mean(0))
    np.testing.assert_allclose(out["cum_mean"].numpy(), cum.mean(0))
    np.testing.assert_allclose(out["cum_std"].numpy(), cum.std(0))
    np.testing.assert_allclose(out["p_up"].numpy(), (cum > 0).mean(0))
    np.testing.assert_allclose(out["cum_quantiles"].numpy(),
                               np.moveaxis(np.quantile(cum, QUANTILES, axis=0), 0, -1))
    # two steps by hand: +10 % then -10 % compounds to -1 %
    two = sample_summary(torch.tensor([[[10.0, -10.0]]], dtype=torch.float64))
    assert two["cum_mean"][0, 1].item() == pytest.approx(-0.01)
    assert two["p_up"][0].tolist() == [1.0, 0.0]


def test_rejects_unknown_likelihood() -> None:
    with pytest.raises(ValueError, match="studentt"):
        DeepArNet(F, N_SYMBOLS, LEVELS, H, likelihood="poisson")
