"""Distances to an oracle's exact density: the closed-form MMD^2 against Monte Carlo, exact
samples about 0, and a sampler that collapses onto the modes worse on every ranked column."""

import math

import pytest
import torch

from scorebench.data.oracle import stored
from scorebench.metrics.exact import ExactMMD, GaussianMixture, exact_mmd2
from scorebench.metrics.points import LogLikelihood
from scorebench.plugins import load

MC_DRAWS = 1_000_000


def _draw(mixture: GaussianMixture, n: int, generator: torch.Generator) -> torch.Tensor:
    idx = torch.multinomial(mixture.weights, n, replacement=True, generator=generator)
    z = torch.randn(n, mixture.dim, generator=generator, dtype=torch.float64)
    out = torch.empty_like(z)
    for k, chol in enumerate(torch.linalg.cholesky(mixture.covariances)):
        rows = idx == k
        out[rows] = mixture.means[k] + z[rows] @ chol.T
    return out


def _kernel(a: torch.Tensor, b: torch.Tensor, h: float) -> torch.Tensor:
    return torch.exp(-torch.cdist(a, b).pow(2) / (2 * h**2))


def _toy() -> GaussianMixture:
    return GaussianMixture.of(load("score_functions", "toy-gmm")())


def _digits() -> GaussianMixture:
    return GaussianMixture.of(load("score_functions", "digits-gmm")())


@pytest.mark.parametrize("make", [_toy, _digits], ids=["2-D toy", "64-D digits"])
def test_closed_form_terms_equal_a_monte_carlo_of_a_million_exact_draws(make):
    mixture = make()
    h = mixture.bandwidth()
    g = torch.Generator().manual_seed(0)
    y = _draw(mixture, 200, g) * 1.1  # samples of another distribution
    # E_{x,x'~p} k(x, x'): independent pairs of draws; E_p k(y_i, .): every draw against y.
    pair_terms, cross_terms = [], []
    for _ in range(MC_DRAWS // 100_000):
        x = _draw(mixture, 100_000, g)
        pair_terms.append(torch.exp(-((x[0::2] - x[1::2]) ** 2).sum(1) / (2 * h**2)))
        cross_terms.append(_kernel(x, y, h).mean(1))  # per draw: the mean over the samples
    pairs, cross = torch.cat(pair_terms), torch.cat(cross_terms)
    for exact, mc in (
        (mixture.kernel_self(h), pairs),
        (float(mixture.kernel_mean(y, h).mean()), cross),
    ):
        standard_error = float(mc.std()) / math.sqrt(len(mc))
        assert abs(exact - float(mc.mean())) < 4 * standard_error, (exact, float(mc.mean()))
    assert standard_error < 1e-3 * abs(float(cross.mean()))  # the check has resolution


def test_exact_mmd2_is_unbiased_for_exact_samples_and_grows_with_the_error():
    mixture = _toy()
    h = mixture.bandwidth()
    g = torch.Generator().manual_seed(1)
    exact = torch.tensor([exact_mmd2(_draw(mixture, 1000, g), mixture, h) for _ in range(20)])
    # Under q = p the estimate is unbiased: its mean is within 3 standard errors of 0.
    assert abs(float(exact.mean())) < 3 * float(exact.std()) / math.sqrt(len(exact))
    shifted = exact_mmd2(_draw(mixture, 1000, g) + 0.5, mixture, h)
    assert shifted > float(exact.max()) + 10 * float(exact.std())


@pytest.mark.parametrize(
    "score_function,params,n",
    [("toy-gmm", {}, 2000), ("digits-gmm", {"points": True}, 1000)],
    ids=["toy", "digits"],
)
def test_collapsing_onto_the_modes_is_worse_than_exact_samples_on_every_ranked_column(
    score_function, params, n
):
    ds = load("datasets", "oracle")(
        None, "train", score_function=score_function, params=params, n=n
    )
    truth = load("score_functions", score_function)(**params)

    def measure(x):
        samples = stored(x, ds.shape)  # as a sampler's samples are stored
        return {
            **ExactMMD()(samples, reference=None, dataset=ds, seed=0),
            **LogLikelihood()(samples, reference=None, dataset=ds, seed=0),
        }

    draws = truth.sample(n, torch.Generator().manual_seed(2)).reshape(n, -1)
    means = truth.means.to(torch.float32)
    exact, worse = measure(draws), measure(means[torch.cdist(draws, means).argmin(1)])
    for key in ("mmd2_exact", "abs_loglik_gap"):
        assert worse[key] > 5 * abs(exact[key]), (key, exact[key], worse[key])
    assert worse["loglik_gap"] > 0  # crowding the modes raises log p: the old column's flaw
    reference = ds.log_likelihood_reference()
    spread = float(ds.log_likelihood(ds.data).std())
    assert abs(exact["loglik_gap"]) < 4 * math.hypot(
        spread / math.sqrt(n), reference["standard_error"]
    )
