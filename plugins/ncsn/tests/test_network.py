"""The NCSN score network (official CondRefineNetDilated) in scorebench_ncsn.network."""

from __future__ import annotations

import pytest
import torch
from scorebench_ncsn.network import NCSN, CondInstanceNormPlus, NCSNConfigError, ncsn

from scorebench.errors import ConfigError


def _tiny(seed: int = 0, **kw) -> NCSN:
    params = dict(channels=1, ngf=8, num_levels=4, image_size=8)
    params.update(kw)
    torch.manual_seed(seed)
    return NCSN(**params)


def _norms(model: torch.nn.Module) -> list[CondInstanceNormPlus]:
    return [m for m in model.modules() if isinstance(m, CondInstanceNormPlus)]


def _randomise_embeddings(model: torch.nn.Module, seed: int) -> None:
    """Move every level's [gamma, alpha, beta] well away from the (near-identical) init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in _norms(model):
            w = norm.embed.weight
            w.copy_(1.0 + 0.5 * torch.randn(w.shape, generator=g))


# ---------------------------------------------------------------- size / layout


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (dict(channels=3, ngf=128, num_levels=10, image_size=32), 30_117_635),  # CIFAR-10
        (dict(channels=1, ngf=64, num_levels=10, image_size=28), 7_638_657),  # MNIST
    ],
)
def test_parameter_count_matches_official(params, expected):
    with torch.device("meta"):  # counting needs no real memory or init work
        model = NCSN(**params)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_every_normalisation_is_level_conditional_with_one_row_per_level():
    model = _tiny(num_levels=7)
    norms = _norms(model)
    # 2 per residual block (8 blocks), 2 per RCU block, 2 per CRP, 1 per fusion input, head
    rcu_blocks = 2 * (1 + 2 + 2 + 2) + (1 + 1 + 1 + 3)  # adapt (2 per input) + output
    assert len(norms) == 16 + 2 * rcu_blocks + 4 * 2 + 3 * 2 + 1
    for norm in norms:
        assert norm.embed.weight.shape == (7, 3 * norm.num_features)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._NormBase) for m in model.modules())


@pytest.mark.parametrize(
    ("channels", "ngf", "size"),
    [(1, 16, 8), (1, 16, 16), (3, 8, 32), (1, 8, 28)],
)
def test_output_shape_equals_input_shape(channels, ngf, size):
    model = _tiny(channels=channels, ngf=ngf, image_size=size)
    x = torch.rand(2, channels, size, size)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 3]))
    assert out.shape == x.shape
    assert out.dtype == x.dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("size", "inner"), [(8, 4), (16, 8), (28, 14)])
def test_spatial_path_halves_once_then_stays(size, inner):
    model = _tiny(image_size=size)
    seen = {}
    for name in ("res1", "res2", "res3", "res4"):
        getattr(model, name)[-1].register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, tuple(out.shape))
        )
    with torch.no_grad():
        model(torch.rand(1, 1, size, size), torch.tensor([1]))
    assert seen["res1"] == (1, 8, size, size)
    assert seen["res2"] == seen["res3"] == seen["res4"] == (1, 16, inner, inner)


def test_encoder_dilations_and_biases():
    model = _tiny()
    for stage, dilation in (("res1", 1), ("res2", 1), ("res3", 2), ("res4", 4)):
        for block in getattr(model, stage):
            for conv in (block.conv1, block.conv2):
                assert conv.dilation == (dilation, dilation) and conv.padding == conv.dilation
                assert conv.bias is not None
    assert model.res3[0].shortcut.kernel_size == (3, 3)
    assert model.res3[0].shortcut.dilation == (2, 2)
    assert model.res2[0].shortcut.kernel_size == (1, 1)
    # RCU and chained-residual-pooling convs have no bias, fusion convs have one
    refine = model.refine4
    assert refine.adapt[0].blocks[0][0].conv.bias is None
    assert refine.crp[0].conv.bias is None
    assert refine.fusion[0].conv.bias is not None
    assert len(refine.output.blocks) == 3 and len(model.refine3.output.blocks) == 1


def test_non_square_even_input_is_accepted():
    model = _tiny()
    x = torch.rand(1, 1, 8, 12)
    with torch.no_grad():
        assert model(x, torch.tensor([2])).shape == x.shape


# ---------------------------------------------------------------- normalisation


def test_cond_instance_norm_plus_matches_its_formula():
    torch.manual_seed(3)
    norm = CondInstanceNormPlus(5, num_levels=3)
    with torch.no_grad():
        norm.embed.weight.normal_()
    x = torch.randn(4, 5, 6, 7) * 3 + torch.randn(1, 5, 1, 1)
    y = torch.tensor([2, 0, 1, 2])
    out = norm(x, y)

    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    h = (x - mean) / torch.sqrt(var + 1e-5)
    mu = mean.flatten(1)
    mu_t = (mu - mu.mean(1, keepdim=True)) / torch.sqrt(
        mu.var(1, unbiased=True, keepdim=True) + 1e-5
    )
    gamma, alpha, beta = (t[:, :, None, None] for t in norm.embed.weight[y].chunk(3, dim=1))
    expected = gamma * (h + alpha * mu_t[:, :, None, None]) + beta
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_cond_instance_norm_plus_init():
    torch.manual_seed(0)
    norm = CondInstanceNormPlus(512, num_levels=10)
    w = norm.embed.weight.detach()
    gamma_alpha, beta = w[:, :1024], w[:, 1024:]
    assert beta.abs().max() == 0
    assert abs(gamma_alpha.mean().item() - 1.0) < 2e-3
    assert abs(gamma_alpha.std().item() - 0.02) < 2e-3


def test_fusion_upsamples_bilinear_with_aligned_corners():
    from scorebench_ncsn.network import _FusionPath

    torch.manual_seed(5)
    path = _FusionPath(4, 6, num_levels=2)
    x = torch.randn(2, 4, 4, 4)
    y = torch.tensor([1, 0])
    with torch.no_grad():
        low = path.conv(path.norm(x, y))
        out = path(x, y, (8, 8))
        expected = torch.nn.functional.interpolate(
            low, size=(8, 8), mode="bilinear", align_corners=True
        )
        torch.testing.assert_close(out, expected)
        # aligned corners: the corner pixels are copied exactly
        torch.testing.assert_close(
            out[..., [0, -1], :][..., [0, -1]], low[..., [0, -1], :][..., [0, -1]]
        )
        torch.testing.assert_close(path(x, y, (4, 4)), low)


def test_samples_in_a_batch_do_not_interact():
    model = _tiny()
    x = torch.rand(3, 1, 8, 8)
    y = torch.tensor([0, 1, 3])
    with torch.no_grad():
        batched = model(x, y)
        single = torch.cat([model(x[i : i + 1], y[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- conditioning


def test_each_level_gives_a_distinct_output():
    model = _tiny(num_levels=6)
    _randomise_embeddings(model, seed=1)
    x = torch.rand(1, 1, 8, 8).expand(6, -1, -1, -1)
    with torch.no_grad():
        out = model(x, torch.arange(6)).flatten(1)
    gaps = torch.cdist(out, out) + torch.eye(6) * 1e9
    assert gaps.min() > 1e-3 * out.norm(dim=1).mean()


def test_level_k_output_uses_row_k_only():
    model = _tiny(num_levels=4)
    _randomise_embeddings(model, seed=2)
    x = torch.rand(2, 1, 8, 8)
    y = torch.tensor([1, 1])
    with torch.no_grad():
        before = model(x, y)
        for norm in _norms(model):  # other levels' rows do not matter
            norm.embed.weight[[0, 2, 3]] += 0.7
        torch.testing.assert_close(model(x, y), before, rtol=0, atol=0)
        for norm in _norms(model):  # level 1's rows do
            norm.embed.weight[1] += 0.7
        assert (model(x, y) - before).abs().max() > 1e-3


def test_identical_level_rows_give_identical_outputs_no_hidden_sigma_scaling():
    model = _tiny(num_levels=5)
    _randomise_embeddings(model, seed=3)
    with torch.no_grad():
        for norm in _norms(model):
            norm.embed.weight.copy_(norm.embed.weight[2].expand_as(norm.embed.weight))
        x = torch.rand(1, 1, 8, 8).expand(5, -1, -1, -1)
        out = model(x, torch.arange(5))
    for k in range(1, 5):
        torch.testing.assert_close(out[k], out[0], rtol=0, atol=0)


def test_conditioning_attribute_and_score_adapter():
    from scorebench.score import NetworkScore, network_condition

    model = _tiny(num_levels=3)
    assert NCSN.conditioning == "level"
    sigmas = torch.tensor([1.0, 0.1, 0.01])
    levels = torch.tensor([2, 0])
    assert torch.equal(network_condition(model, levels, sigmas), levels)
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        out = NetworkScore(model, sigmas)(x, torch.tensor([0.01, 1.0]))
        torch.testing.assert_close(out, model(x, levels))


# ---------------------------------------------------------------- input mapping


def test_input_mapped_to_minus_one_one_unless_logit_transform():
    plain = _tiny(seed=4)
    logit = _tiny(seed=4, logit_transform=True)
    logit.load_state_dict(plain.state_dict())
    x = torch.rand(2, 1, 8, 8)
    y = torch.tensor([0, 2])
    with torch.no_grad():
        torch.testing.assert_close(plain(x, y), logit(2 * x - 1, y), rtol=1e-5, atol=1e-5)
        assert (plain(x, y) - logit(x, y)).abs().max() > 1e-3


# ---------------------------------------------------------------- reproducibility, numerics


def test_same_seed_same_weights_and_output():
    a, b, c = _tiny(seed=7), _tiny(seed=7), _tiny(seed=8)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    x = torch.rand(2, 1, 8, 8)
    y = torch.tensor([1, 2])
    with torch.no_grad():
        assert torch.equal(a(x, y), b(x, y))
        assert not torch.equal(a(x, y), c(x, y))


def test_backward_reaches_every_parameter():
    model = _tiny(num_levels=3)
    out = model(torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 2]))
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bf16_autocast_smoke():
    model = _tiny()
    x = torch.rand(2, 1, 8, 8)
    y = torch.tensor([0, 3])
    with torch.no_grad():
        ref = model(x, y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, y)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max()


def test_channels_last_matches_contiguous():
    model = _tiny(ngf=8, image_size=16)
    x = torch.rand(2, 1, 16, 16)
    y = torch.tensor([2, 1])
    with torch.no_grad():
        ref = model(x, y)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.to(memory_format=torch.channels_last), y)
    assert out.shape == x.shape
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_factory_builds_the_network():
    model = ncsn(channels=1, ngf=4, num_levels=2, image_size=8)
    assert isinstance(model, NCSN)
    assert (model.channels, model.ngf, model.num_levels) == (1, 4, 2)


# ---------------------------------------------------------------- misuse


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (dict(channels=0), "channels must be >= 1"),
        (dict(channels=2.0), "channels must be an int"),
        (dict(ngf=1), "ngf must be >= 2"),
        (dict(num_levels=0), "num_levels must be >= 1"),
        (dict(num_levels=True), "num_levels must be an int"),
        (dict(image_size=27), "divisible by 2"),
        (dict(image_size=2), "image_size must be >= 4"),
        (dict(logit_transform="yes"), "logit_transform must be a bool"),
    ],
)
def test_bad_arguments_raise_clear_errors(params, match):
    with pytest.raises(NCSNConfigError, match=match) as info:
        NCSN(**params)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("x_shape", "y", "match"),
    [
        ((2, 3, 8, 8), [0, 1], r"x must be \[batch, 1"),
        ((2, 1, 8), [0, 1], r"x must be \[batch, 1"),
        ((2, 1, 9, 8), [0, 1], "even"),
        ((2, 1, 8, 8), [0, 1, 2], r"shape \[2\]"),
        ((2, 1, 8, 8), [0.0, 1.0], "integer level indices"),
        ((2, 1, 8, 8), [0, 4], r"0\.\.3"),
        ((2, 1, 8, 8), [-1, 0], r"0\.\.3"),
    ],
)
def test_bad_inputs_raise_clear_errors(x_shape, y, match):
    model = _tiny()
    with pytest.raises(NCSNConfigError, match=match):
        model(torch.rand(x_shape), torch.tensor(y))


def test_the_bf16_elu_is_elu_within_bf16_rounding_and_fp32_is_untouched():
    import torch.nn.functional as F
    from scorebench_ncsn.network import elu

    x = torch.linspace(-20, 20, 100_001)
    assert torch.equal(elu(x), F.elu(x))  # fp32: the same function, bit for bit
    xb = x.to(torch.bfloat16).requires_grad_(True)
    out = elu(xb)
    exact = F.elu(xb.detach().float())
    assert float((out.detach().float() - exact).abs().max()) <= 2**-7  # bf16 step near 1
    out.sum().backward()
    slope = torch.where(x > 0, torch.ones_like(x), torch.exp(xb.detach().float().clamp(max=0)))
    assert torch.isfinite(xb.grad).all()
    assert float((xb.grad.float() - slope).abs().max()) <= 2**-7
