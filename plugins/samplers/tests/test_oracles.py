"""The full-covariance mixture oracle is exact: its score is the gradient of its log-density
at every noise level, its samples have the mixture's moments, and the shipped digits
mixture is the pinned file and reproduces the log-likelihoods recorded in it."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from scorebench_samplers import oracles
from scorebench_samplers.oracles import FullCovarianceGMM, digits_gmm

from scorebench.errors import ConfigError, ScorebenchError

SIGMAS = [0.0, 0.05, 0.7, 100.0]


def random_spd(d: int, generator: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=generator, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


@pytest.fixture
def small() -> FullCovarianceGMM:
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[-3.0, 0.0, 1.0], [2.0, 1.0, -1.0]], dtype=torch.float64)
    covs = torch.stack([random_spd(3, g), random_spd(3, g)])
    return FullCovarianceGMM(means, covs, [0.3, 0.7])


@pytest.fixture(scope="module")
def digits() -> FullCovarianceGMM:
    return digits_gmm()


def digits_split(split: str) -> torch.Tensor:
    from scorebench.plugins import load

    ds = load("datasets", "digits")(None, split)
    return torch.stack([ds[i] for i in range(len(ds))])


def autograd_score(gmm: FullCovarianceGMM, x: torch.Tensor, sigma) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(gmm.log_prob(x, sigma).sum(), x)
    return grad


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rel: float) -> None:
    err = (actual - expected).abs().max() / expected.abs().max()
    assert err <= rel, f"relative error {err:.3g} > {rel:g}"


def mixture_moments(gmm: FullCovarianceGMM) -> tuple[torch.Tensor, torch.Tensor]:
    w, mu = gmm.weights, gmm.means
    mean = w @ mu
    second = torch.einsum("k,kij->ij", w, gmm.covariances + mu[:, :, None] * mu[:, None, :])
    return mean, second - torch.outer(mean, mean)


# --- the score is exact ------------------------------------------------------------------


def test_log_prob_matches_torch_distributions(small):
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    for sigma in SIGMAS:
        eye = torch.eye(3, dtype=torch.float64)
        comps = torch.distributions.MultivariateNormal(
            small.means, covariance_matrix=small.covariances + sigma**2 * eye
        )
        expected = torch.logsumexp(comps.log_prob(x[:, None, :]) + small.weights.log(), dim=1)
        torch.testing.assert_close(small.log_prob(x, sigma), expected, rtol=1e-10, atol=1e-10)


def test_score_is_gradient_of_log_prob(small):
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    per_sample = torch.tensor([0.0, 0.01, 0.5, 3.0, 100.0], dtype=torch.float64)
    for sigma in [*SIGMAS, per_sample]:
        assert_rel_close(small(x, sigma), autograd_score(small, x, sigma), 1e-6)
    # One batched call with per-sample sigmas equals one call per sample.
    batched = small(x, per_sample)
    for i, s in enumerate(per_sample.tolist()):
        torch.testing.assert_close(batched[i : i + 1], small(x[i : i + 1], s), rtol=1e-12, atol=0)


def test_single_component_score_at_sigma_zero_is_linear():
    g = torch.Generator().manual_seed(3)
    mu, cov = torch.randn(1, 4, generator=g, dtype=torch.float64), random_spd(4, g)[None]
    gmm = FullCovarianceGMM(mu, cov, [1.0])
    x = torch.randn(7, 4, generator=g, dtype=torch.float64)
    expected = -torch.linalg.solve(cov[0], (x - mu).T).T
    torch.testing.assert_close(gmm(x, 0.0), expected, rtol=1e-10, atol=1e-12)


def test_score_finite_far_away_and_keeps_dtype_and_shape(small):
    far = torch.tensor([[1e6, -1e6, 3e5], [0.0, 0.0, 0.0]])  # float32
    for sigma in (0.0, 100.0):
        score = small(far, sigma)
        assert score.dtype == torch.float32 and score.shape == far.shape
        assert torch.isfinite(score).all()
        assert torch.isfinite(small.log_prob(far, sigma)).all()
    # Far away the nearest-in-Mahalanobis component dominates: the score points back inwards.
    assert (small(far[:1].double(), 0.0) * far[:1]).sum() < 0


# --- samples are exact -------------------------------------------------------------------


def test_samples_have_the_mixture_moments(small):
    n = 40_000
    x = small.sample(n, torch.Generator().manual_seed(4)).double()
    assert x.shape == (n, 3)
    mean, cov = mixture_moments(small)
    # Tolerances from n: 5 standard errors of each estimated mean and covariance entry.
    mean_se = (cov.diagonal() / n).sqrt()
    assert ((x.mean(0) - mean).abs() < 5 * mean_se).all()
    centred = x - mean
    products = centred[:, :, None] * centred[:, None, :]
    cov_se = products.std(0) / math.sqrt(n)
    assert ((products.mean(0) - cov).abs() < 5 * cov_se).all()


def test_sample_dtype_shape_and_reproducibility():
    gmm = FullCovarianceGMM(
        torch.zeros(2, 4), torch.eye(4).expand(2, 4, 4), [1, 1], shape=(1, 2, 2)
    )
    a = gmm.sample(5, torch.Generator().manual_seed(5))
    b = gmm.sample(5, torch.Generator().manual_seed(5))
    assert a.dtype == torch.float32 and a.shape == (5, 1, 2, 2)
    assert torch.equal(a, b)
    assert gmm(a, 0.0).shape == a.shape and gmm(a.reshape(5, 4), 0.0).shape == (5, 4)


# --- validation ----------------------------------------------------------------------------

MU = [[0.0, 0.0]]
EYE = [[[1.0, 0.0], [0.0, 1.0]]]


@pytest.mark.parametrize(
    "means, covs, weights, shape, match",
    [
        ([0.0, 0.0], EYE, [1.0], None, "means must have shape"),
        (MU, [[1.0, 0.0], [0.0, 1.0]], [1.0], None, "covariances must have shape"),
        (MU, EYE, [1.0, 1.0], None, "one entry per component"),
        (MU, EYE, [-1.0], None, "weights must be > 0"),
        (MU, EYE, [0.0], None, "weights must be > 0"),
        ([[float("nan"), 0.0]], EYE, [1.0], None, "means must be finite"),
        (MU, [[[1.0, 0.5], [0.0, 1.0]]], [1.0], None, "not symmetric"),
        (MU, [[[1.0, 2.0], [2.0, 1.0]]], [1.0], None, "not positive definite"),  # eig -1, 3
        (MU, [[[1.0, 1.0], [1.0, 1.0]]], [1.0], None, "not positive definite"),  # singular
        (MU, EYE, [1.0], (3,), "shape must be"),
        (MU, "abc", [1.0], None, "covariances must be an array of numbers"),
    ],
)
def test_bad_parameters_raise_config_error(means, covs, weights, shape, match):
    with pytest.raises(ConfigError, match=match):
        FullCovarianceGMM(means, covs, weights, shape=shape)


def test_bad_calls_raise_config_error(small):
    x = torch.zeros(4, 3)
    with pytest.raises(ConfigError, match="one value per sample"):
        small(x, torch.ones(3))
    with pytest.raises(ConfigError, match="x must have shape"):
        small(torch.zeros(4, 2), 0.1)
    with pytest.raises(ConfigError, match="floating-point"):
        small(torch.zeros(4, 3, dtype=torch.long), 0.1)
    with pytest.raises(ConfigError, match="n must be"):
        small.sample(0)


# --- the shipped digits mixture ------------------------------------------------------------


def test_digits_gmm_is_the_pinned_file(digits):
    assert digits.dim == 64 and digits.shape == (1, 8, 8)
    assert digits.means.shape[0] >= 10
    assert digits.metadata["command"] == oracles.FIT_COMMAND
    assert digits.metadata["n_components"] == digits.means.shape[0]
    assert oracles.DIGITS_GMM_FILE.stat().st_size < 1_000_000


def test_digits_gmm_refuses_a_damaged_or_missing_file(tmp_path, monkeypatch):
    damaged = tmp_path / "digits-gmm-v1.npz"
    shutil.copyfile(oracles.DIGITS_GMM_FILE, damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 1  # one bit inside the covariances
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(oracles, "DIGITS_GMM_FILE", damaged)
    with pytest.raises(ScorebenchError, match="damaged or replaced.*Reinstall"):
        digits_gmm()
    monkeypatch.setattr(oracles, "DIGITS_GMM_FILE", tmp_path / "missing.npz")
    with pytest.raises(ScorebenchError, match="Reinstall"):
        digits_gmm()


def test_digits_score_is_gradient_of_log_prob(digits):
    g = torch.Generator().manual_seed(6)
    images = digits_split("test")[:6].double()
    x = images + 0.1 * torch.randn(images.shape, generator=g, dtype=torch.float64)
    per_sample = torch.tensor([0.0, 0.01, 0.1, 0.5, 5.0, 100.0], dtype=torch.float64)
    for sigma in [0.0, 0.02, 1.0, per_sample]:
        score = digits(x, sigma)
        assert score.shape == x.shape
        assert_rel_close(score, autograd_score(digits, x, sigma), 1e-6)
    samples = digits.sample(4, torch.Generator().manual_seed(7))
    assert samples.shape == (4, 1, 8, 8) and torch.isfinite(digits(samples, 0.0)).all()


def test_digits_log_likelihoods(digits):
    train = digits.log_prob(digits_split("train").double()).mean().item()
    test = digits.log_prob(digits_split("test").double()).mean().item()
    recorded_train = digits.metadata["train_log_likelihood"]
    recorded_test = digits.metadata["test_log_likelihood"]
    print(f"digits-gmm mean log-likelihood: train {train:.4f}, test {test:.4f} (nats/image)")
    # The oracle's density is the one scikit-learn fitted (its own evaluation, in the file).
    assert train == pytest.approx(recorded_train, rel=1e-9)
    assert test == pytest.approx(recorded_test, rel=1e-9)
    # Held-out images are a little less likely, not wildly: the mixture generalises.
    assert math.isfinite(test) and recorded_train - 20 < test < recorded_train
