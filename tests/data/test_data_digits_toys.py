"""scikit-learn digits and the 2-D toy datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorebench.data import digits as digits_module
from scorebench.data.digits import digits
from scorebench.data.toys import TOY_GMM, moons, rings, toy_gmm
from scorebench.errors import ConfigError


@pytest.fixture(scope="module")
def digit_splits():
    return digits(None, "train"), digits(None, "test")


def test_digits_split_sizes_shape_range(digit_splits):
    train, test = digit_splits
    assert (len(train), len(test)) == (1437, 360)
    assert train.shape == test.shape == (1, 8, 8) and train.channels == 1
    assert (train.reference_split, test.reference_split) == ("train", "train")
    assert train[0].dtype == torch.float32 and train[0].shape == (1, 8, 8)
    assert float(train.data.min()) == 0.0 and float(train.data.max()) == 1.0  # 16 / 16


def test_digits_split_is_a_stratified_partition(digit_splits):
    from sklearn.datasets import load_digits

    train, test = digit_splits
    full = load_digits()
    both = torch.cat([train.data, test.data]).reshape(-1, 64).numpy() * 16
    assert np.array_equal(np.sort(both, axis=0), np.sort(full.data, axis=0))
    assert sorted(torch.cat([train.targets, test.targets]).tolist()) == sorted(full.target)
    test_counts = torch.bincount(test.targets, minlength=10)
    assert int(test_counts.min()) >= 35 and int(test_counts.max()) <= 37  # ~20% of ~180


def test_digits_is_deterministic(digit_splits):
    again = digits("/ignored", "test")
    assert torch.equal(again.data, digit_splits[1].data)
    assert digits_module.DIGITS_RANDOM_STATE == 0 and digits_module.DIGITS_TEST_SIZE == 0.2


def test_digits_upsampled_to_16(digit_splits):
    small = digit_splits[1]
    big = digits(None, "test", image_size=16)
    assert big.shape == (1, 16, 16) and big[0].shape == (1, 16, 16)
    assert float(big.data.min()) >= 0.0 and float(big.data.max()) <= 1.0
    # Bilinear, align_corners=False, scale 2: output corners sample the input corners exactly.
    torch.testing.assert_close(big.data[:, :, 0, 0], small.data[:, :, 0, 0])
    torch.testing.assert_close(big.data[:, :, -1, -1], small.data[:, :, -1, -1])
    # Output pixels (1, 1) blend input (0, 0) and (1, 1) with weights 3/4 and 1/4 per axis.
    s = small.data[:, 0]
    expected = (9 * s[:, 0, 0] + 3 * s[:, 0, 1] + 3 * s[:, 1, 0] + s[:, 1, 1]) / 16
    torch.testing.assert_close(big.data[:, 0, 1, 1], expected)
    assert torch.equal(big.targets, small.targets)


def test_digits_bad_params():
    with pytest.raises(ConfigError, match="image_size"):
        digits(None, "train", image_size=4)
    with pytest.raises(ConfigError, match="allowed splits"):
        digits(None, "val")


def test_toy_gmm_shape_and_mode_weights():
    data = toy_gmm(None, "train", n=20000, seed=3)
    assert data.shape == (2,) and data[0].shape == (2,) and data[0].dtype == torch.float32
    assert len(data) == 20000 and data.channels is None and data.reference_split == "train"
    assert data.mixture is TOY_GMM
    # Points by nearest mode: the (5,5) mode holds 0.8 of the mass (std of the estimate 0.003).
    in_upper = (data.data.sum(dim=1) > 0).float().mean().item()
    assert abs(in_upper - TOY_GMM.weights[1]) < 0.015
    assert abs((data.targets == 1).float().mean().item() - 0.8) < 0.015
    for k, mean in enumerate(TOY_GMM.means):
        points = data.data[data.targets == k]
        torch.testing.assert_close(points.mean(0), torch.tensor(mean), atol=0.1, rtol=0)
        torch.testing.assert_close(points.std(0), torch.full((2,), TOY_GMM.std), atol=0.06, rtol=0)


def test_toy_gmm_constant():
    assert TOY_GMM.means == ((-5.0, -5.0), (5.0, 5.0))
    assert TOY_GMM.weights == (0.2, 0.8) and TOY_GMM.std == 1.0


@pytest.mark.parametrize("factory", [toy_gmm, rings, moons])
def test_toys_seeded_and_split_apart(factory):
    a = factory(None, "train", n=200, seed=1)
    b = factory(None, "train", n=200, seed=1)
    test = factory(None, "test", n=200, seed=1)
    other = factory(None, "train", n=200, seed=2)
    assert torch.equal(a.data, b.data)
    assert not torch.equal(a.data, test.data) and not torch.equal(a.data, other.data)
    assert a.data.dtype == torch.float32 and a.shape == (2,) and len(test) == 200


def test_rings_radii():
    data = rings(None, "train", n=2000, noise=0.0, factor=0.5)
    radius = data.data.norm(dim=1)
    torch.testing.assert_close(radius[data.targets == 0], torch.ones(1000), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        radius[data.targets == 1], torch.full((1000,), 0.5), atol=1e-5, rtol=0
    )


def test_moons_balanced_and_bounded():
    data = moons(None, "test", n=1001)
    counts = torch.bincount(data.targets).tolist()
    assert sorted(counts) == [500, 501]
    assert float(data.data[:, 0].min()) > -1.5 and float(data.data[:, 0].max()) < 2.5


@pytest.mark.parametrize(
    ("factory", "params", "message"),
    [
        (toy_gmm, {"n": 0}, "n must be"),
        (toy_gmm, {"seed": -1}, "seed must be"),
        (rings, {"factor": 1.5}, "factor"),
        (moons, {"noise": -0.1}, "noise"),
        (moons, {"n": 2.5}, "n must be"),
    ],
)
def test_toys_bad_params(factory, params, message):
    with pytest.raises(ConfigError, match=message):
        factory(None, "train", **params)


def test_default_collate_batches_items(digit_splits):
    from torch.utils.data import DataLoader

    batch = next(iter(DataLoader(digit_splits[0], batch_size=5, shuffle=False)))
    assert batch.shape == (5, 1, 8, 8)
    torch.testing.assert_close(batch, digit_splits[0].batch(range(5)))
