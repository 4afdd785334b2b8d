"""Batch-level training preprocessing: dequantization, flips, logit."""

from __future__ import annotations

import pytest
import torch

from scorebench.data.transforms import (
    dequantize,
    inverse_logit_transform,
    logit_transform,
    preprocess,
    random_hflip,
)
from scorebench.errors import ConfigError, ScorebenchError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_dequantize_range_and_mean_shift():
    levels = torch.randint(0, 256, (64, 3, 8, 8), generator=_gen(1)).float() / 255
    levels[0] = 0.0
    levels[1] = 1.0
    out = dequantize(levels, _gen())
    assert out.shape == levels.shape and out.dtype == levels.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) < 1.0
    # Each value lands in [x*255/256, x*255/256 + 1/256): its own 1/256 bin.
    scaled = levels * 255 / 256
    assert bool(((out >= scaled) & (out < scaled + 1 / 256)).all())
    # The uniform noise has mean 1/512 (std of the mean over 12k values: 1e-5).
    shift = (out - scaled).mean().item()
    assert abs(shift - 1 / 512) < 5e-5


def test_dequantize_is_generator_driven():
    x = torch.rand(4, 1, 5, 5, generator=_gen(3))
    assert torch.equal(dequantize(x, _gen(7)), dequantize(x, _gen(7)))
    assert not torch.equal(dequantize(x, _gen(7)), dequantize(x, _gen(8)))


def test_random_hflip_per_sample_and_deterministic():
    x = torch.rand(200, 2, 3, 4, generator=_gen(5))
    out = random_hflip(x, _gen(11))
    assert torch.equal(out, random_hflip(x, _gen(11)))
    flipped = torch.tensor([torch.equal(o, s.flip(-1)) for o, s in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, s) for o, s in zip(out, x, strict=True)])
    assert bool((flipped ^ kept).all())  # each sample is exactly one of the two
    assert 70 <= int(flipped.sum()) <= 130  # p = 1/2 (3.5 std around 100)


def test_random_hflip_needs_images():
    with pytest.raises(ConfigError, match="N, C, H, W"):
        random_hflip(torch.zeros(8, 2), _gen())


def test_generator_type_is_checked():
    with pytest.raises(ScorebenchError, match="torch.Generator"):
        dequantize(torch.zeros(2, 1, 2, 2), 0)


def test_logit_transform_and_inverse():
    x = torch.linspace(0, 1, 101)
    y = logit_transform(x)
    assert bool(torch.isfinite(y).all()) and abs(float(logit_transform(torch.tensor(0.5)))) < 1e-6
    assert float(y[0]) == pytest.approx(
        torch.logit(torch.tensor(1e-6, dtype=torch.float64)).item(), rel=1e-3
    )
    torch.testing.assert_close(inverse_logit_transform(y), x, atol=1e-5, rtol=0)


def test_preprocess_order_and_switches():
    x = torch.rand(16, 3, 4, 4, generator=_gen(2))
    got = preprocess(x, _gen(9), dequantize=True, hflip=True, logit=True)
    g = _gen(9)
    expected = logit_transform(dequantize(random_hflip(x, g), g))
    torch.testing.assert_close(got, expected)
    assert torch.equal(preprocess(x, _gen(9), dequantize=False, hflip=False, logit=False), x)
