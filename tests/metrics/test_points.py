"""Hand-written point-set metrics (no torch-fidelity equivalent)."""

import pytest
import torch

from scorebench.errors import ConfigError
from scorebench.evaluate import evaluate_points
from scorebench.metrics.points import mmd_rbf, mode_weight_error, sliced_wasserstein


def _gmm(n, weights, seed, shift=0.0):
    # Exact component counts: with modes 14 apart, the binomial noise of random counts
    # alone moves W2 by ~1 at these sizes, which would hide what the tests look at.
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor([[-5.0, -5.0], [5.0, 5.0]])
    n0 = round(n * weights[0])
    comp = torch.cat([torch.zeros(n0, dtype=torch.long), torch.ones(n - n0, dtype=torch.long)])
    return means[comp] + torch.randn(n, 2, generator=g) + shift


def test_swd_and_mmd_near_zero_for_same_distribution_large_for_shifted():
    a, b = _gmm(2000, [0.2, 0.8], 1), _gmm(1500, [0.2, 0.8], 2)
    shifted = _gmm(1500, [0.2, 0.8], 3, shift=2.0)
    same_swd = sliced_wasserstein(a, b)["swd"]
    far_swd = sliced_wasserstein(a, shifted)["swd"]
    assert same_swd < 0.2
    # A (2, 2) shift moves every projection by 2 cos(angle): sliced W2 = 2 sqrt(2) / sqrt(2).
    assert far_swd == pytest.approx(2.0, rel=0.15)
    same_mmd = mmd_rbf(a, b)["mmd2"]
    far_mmd = mmd_rbf(a, shifted)["mmd2"]
    assert abs(same_mmd) < 5e-3
    assert far_mmd > 0.3


def test_swd_exact_on_a_translation_in_one_dimension():
    x = torch.randn(500, 1, generator=torch.Generator().manual_seed(0))
    # In 1-D every projection is +-x: W2 between x and x + 3 is exactly 3.
    assert sliced_wasserstein(x, x + 3.0)["swd"] == pytest.approx(3.0, abs=1e-9)


def test_mmd_unbiased_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 2, generator=g), torch.randn(5, 2, generator=g) + 1
    k = lambda a, b: torch.exp(-(torch.cdist(a, b) ** 2) / 2)  # noqa: E731
    kxx, kyy = k(x, x).double(), k(y, y).double()
    expected = (
        (kxx.sum() - kxx.trace()) / (7 * 6)
        + (kyy.sum() - kyy.trace()) / (5 * 4)
        - 2 * k(x, y).double().mean()
    )
    assert mmd_rbf(x, y)["mmd2"] == pytest.approx(float(expected), rel=1e-5)


def test_mode_weight_error():
    means, weights = [[-5, -5], [5, 5]], [0.2, 0.8]
    even = torch.cat([torch.full((50, 2), -5.0), torch.full((50, 2), 4.0)])
    out = mode_weight_error(even, means=means, weights=weights)
    assert out["mode_weights"] == [0.5, 0.5]
    assert out["mode_weight_error"] == pytest.approx(0.3)
    right = torch.cat([torch.full((20, 2), -4.0), torch.full((80, 2), 6.0)])
    assert mode_weight_error(right, means=means, weights=weights)["mode_weight_error"] == 0.0


def test_evaluate_points_on_toy_gmm():
    ok = evaluate_points(_gmm(1000, [0.2, 0.8], 5), dataset="toy-gmm", reference_count=2000)
    bad = evaluate_points(_gmm(1000, [0.5, 0.5], 5), dataset="toy-gmm", reference_count=2000)
    assert ok["kind"] == "points" and ok["n_samples"] == 1000 and ok["n_reference"] == 2000
    assert ok["fingerprint"] == bad["fingerprint"]
    assert ok["protocol"]["settings"]["mmd"]["bandwidth"] == 1.0
    assert ok["metrics"]["mode_weight_error"] < 0.05
    assert bad["metrics"]["mode_weight_error"] == pytest.approx(0.3, abs=0.05)
    assert bad["metrics"]["swd"] > 3 * ok["metrics"]["swd"]
    other_seed = evaluate_points(
        _gmm(1000, [0.2, 0.8], 5), dataset="toy-gmm", seed=1, reference_count=2000
    )
    assert other_seed["fingerprint"] != ok["fingerprint"]


def test_moons_has_no_mode_weights_and_bad_points_are_errors():
    rec = evaluate_points(torch.randn(200, 2), dataset="moons", reference_count=500)
    assert "mode_weight_error" not in rec["metrics"] and rec["metrics"]["swd"] > 0
    with pytest.raises(ConfigError, match=r"\(N, 2\)"):
        evaluate_points(torch.randn(10, 3), dataset="moons")
    with pytest.raises(ConfigError, match="NaN"):
        evaluate_points(torch.full((10, 2), float("nan")), dataset="moons")
    with pytest.raises(ConfigError, match="images, not points"):
        evaluate_points(torch.randn(10, 2), dataset="digits")
