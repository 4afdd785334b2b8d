"""The samplers against closed forms: Gaussian targets, whose score is exact at every sigma.

Tolerances come from the sampling error of n draws: the mean's chi-square statistic, the
pooled variance's standard error sqrt(2 / (n d)) and the correlations' 1/sqrt(n).
"""

import math

import pytest
import torch
from scorebench_samplers.dpm import dpmpp_2m
from scorebench_samplers.edm import edm_stochastic, pf_euler, pf_heun
from scorebench_samplers.grids import sampling_grid
from scorebench_samplers.langevin import cas, pc, pc_corrector, pc_predictor

from scorebench.noise import SampleNoise

N, D = 4000, 16
MU = torch.linspace(-1.0, 1.0, D)
S = 0.5  # the data's standard deviation
# The model's levels: sigma_max = 100 >> S, so the prior N(0, sigma_max^2 I) misses the
# noised data N(mu, (S^2 + sigma_max^2) I) by much less than the sampling error.
MODEL = torch.logspace(2, -2, 10)


def assert_gaussian(samples: torch.Tensor, mean: torch.Tensor, var: float) -> None:
    """``samples`` [n, d] look like N(mean, var I) drawn n times."""
    n, d = samples.shape
    chi2 = (n * ((samples.mean(0) - mean) ** 2).sum() / var).item()  # ~ chi-square(d)
    assert chi2 < d + 6 * math.sqrt(2 * d), f"mean off: chi2={chi2:.1f} for {d} dof"
    rel = (samples.var(0).mean() / var - 1).item()
    se = math.sqrt(2 / (n * d))
    assert abs(rel) < 4 * se, f"variance off by {rel:+.4f} ({rel / se:+.1f} standard errors)"
    corr = torch.corrcoef(samples.T) - torch.eye(d)
    assert corr.abs().max().item() < 5 / math.sqrt(n), "coordinates are correlated"


def standard_normal(seed: int = 0) -> tuple[torch.Tensor, SampleNoise]:
    """N samples' start, x ~ N(0, I), and their noise."""
    noise = SampleNoise(seed, range(N))
    return noise.normal((D,)), noise


@pytest.mark.parametrize(
    "sampler, params, var_factor",
    [
        (pf_euler, {"steps": 2000}, 1.0),
        (pf_heun, {"steps": 64}, 1.0),
        (dpmpp_2m, {"steps": 100}, 1.0),
        (edm_stochastic, {"steps": 256, "S_churn": 80.0, "S_tmin": 0.05, "S_tmax": 50.0}, 1.0),
        (pc_predictor, {}, 1.0),
        # Langevin with batch-mean SNR steps eps = 2 snr^2 v^2 / v' settles at v' = v (1 + snr^2).
        (pc, {"snr_norm": "batch"}, 1 + 0.16**2),
        (pc, {"snr_norm": "batch", "snr": 0.05, "steps": 500, "corrector_steps": 2}, 1 + 0.05**2),
    ],
)
def test_samples_a_gaussian(sampler, params, var_factor, gaussian_score):
    x, noise = standard_normal()
    out = sampler(gaussian_score(MU, S), x, MODEL, noise=noise, **params)
    assert_gaussian(out, MU, S**2 * var_factor)


def test_snr_corrector_is_stationary_at_its_predicted_variance(gaussian_score):
    # One level sigma = 1: many corrector steps from N(0, 1) settle at v (1 + snr^2).
    x, noise = standard_normal()
    sigmas = torch.tensor([1.0, 0.5])
    out = pc_corrector(
        gaussian_score(MU, S), x, sigmas, noise=noise, steps=1, corrector_steps=300,
        snr_norm="batch",
    )  # fmt: skip
    assert_gaussian(out, MU, (S**2 + 1.0) * (1 + 0.16**2))


@pytest.mark.parametrize("snr_norm", ["sample", "batch"])
def test_snr_step_rule(snr_norm, gaussian_score):
    """One corrector step is x + eps s + sqrt(2 eps) z, eps = 2 (snr ||z|| / ||s||)^2."""
    score = gaussian_score(MU, S)
    x, _ = standard_normal()
    x = x[:5]
    out = pc_corrector(
        score, x, MODEL, noise=SampleNoise(1, range(5)), steps=1, snr=0.3,
        snr_norm=snr_norm,
    )  # fmt: skip
    start = x * 100.0  # from the prior N(0, sigma_max^2 I)
    grad = score(start, torch.full((5,), 100.0))
    z = SampleNoise(1, range(5))(x)  # the corrector's first draw
    z_norm, grad_norm = z.norm(dim=1), grad.norm(dim=1)
    if snr_norm == "batch":
        z_norm, grad_norm = z_norm.mean(), grad_norm.mean()
    eps = (2 * (0.3 * z_norm / grad_norm) ** 2).expand(5)[:, None]
    torch.testing.assert_close(out, start + eps * grad + (2 * eps).sqrt() * z)


# --- consistent annealed sampling -------------------------------------------------------


@pytest.mark.parametrize(
    "params, eta",
    [
        ({}, 1.0),  # default step_lr = sigma_L^2
        ({"step_lr": 0.5 * 0.01**2}, 0.5),
        ({"steps": 40, "step_lr": 0.2 * 0.01**2}, 0.2),
        ({"steps": 25, "schedule": "karras", "step_lr": 1.4 * 0.01**2}, 1.4),
    ],
)
def test_cas_is_consistent_for_a_point_mass(params, eta, gaussian_score):
    """The paper's consistency: started at N(mu, sigma_1^2 I), each step lands exactly at the
    next level's noise, so the last step leaves N(mu, (1 - eta)^2 sigma_L^2 I)."""
    sigmas = torch.logspace(0, -2, 10)  # 1 -> 0.01
    score = gaussian_score(MU, 0.0)
    x, noise = standard_normal()
    out = cas(score, MU + x, sigmas, noise=noise, denoise=False, **params)
    if eta == 1.0:  # no noise left at all
        torch.testing.assert_close(out, MU.expand(N, D), rtol=0, atol=1e-5)
    else:
        assert_gaussian(out, MU, (1 - eta) ** 2 * 0.01**2)
    # The final denoising step then returns the point itself.
    x, noise = standard_normal()
    out = cas(score, MU + x, sigmas, noise=noise, denoise=True, **params)
    torch.testing.assert_close(out, MU.expand(N, D), rtol=0, atol=1e-5)


def test_cas_on_a_gaussian_follows_its_linear_recursion(gaussian_score):
    """For N(mu, S^2 I) data each CAS step is linear in x: the output's mean and variance
    follow in closed form from the paper's update (CAS is consistent only for point masses)."""
    sigmas, steps, eta = torch.logspace(0, -2, 10), 20, 0.6
    grid = sampling_grid(sigmas, steps=steps, schedule="geometric")
    x, noise = standard_normal()
    start_mean, start_var = 0.3, 2.0  # any start: x ~ N(0.3, 2 I)
    out = cas(
        gaussian_score(MU, S), start_mean + math.sqrt(start_var) * x, sigmas,
        noise=noise, steps=steps, step_lr=eta * grid[-1] ** 2,
    )  # fmt: skip
    offset, var = start_mean - MU, start_var  # of x - mu
    for i, sigma in enumerate(grid):
        keep = 1 - eta * sigma**2 / (S**2 + sigma**2)  # x + alpha_i s(x) = mu + keep (x - mu)
        offset, var = keep * offset, keep**2 * var
        if i + 1 < len(grid):
            gamma = sigma / grid[i + 1]
            var += (1 - (gamma * (1 - eta)) ** 2) * grid[i + 1] ** 2
    keep = S**2 / (S**2 + grid[-1] ** 2)  # the final denoising step
    assert_gaussian(out, MU + keep * offset, keep**2 * var)


# --- order of convergence of the ODE solvers ----------------------------------------------


def final_errors(sampler, steps_list) -> list[float]:
    """Max error at sigma = 0 against the exact flow of N(mu, s^2) data, 1-D, float64:
    x(sigma) = mu + (x_T - mu) sqrt((s^2 + sigma^2) / (s^2 + sigma_max^2))."""
    mu, s, sigma_max = 0.7, 0.5, 80.0
    sigmas = torch.tensor([sigma_max, 0.002], dtype=torch.float64)
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)[:, None]  # x_T / sigma_max

    def score(y, sigma):
        return -(y - mu) / (s**2 + sigma[:, None] ** 2)

    exact = mu + (sigma_max * x - mu) * s / math.sqrt(s**2 + sigma_max**2)
    return [
        (sampler(score, x, sigmas, noise=None, steps=n) - exact).abs().max().item()
        for n in steps_list
    ]


@pytest.mark.parametrize(
    "sampler, low, high", [(pf_euler, 1.6, 2.6), (pf_heun, 3.0, 5.5), (dpmpp_2m, 3.0, 5.5)]
)
def test_order_of_convergence(sampler, low, high):
    """Doubling the steps divides the error by about 2 (first order) or 4 (second order)."""
    errors = final_errors(sampler, [16, 32, 64, 128])
    ratios = [a / b for a, b in zip(errors, errors[1:], strict=False)]
    assert all(low <= r <= high for r in ratios), f"error ratios per doubling: {ratios}"


def test_dpmpp_2m_takes_the_papers_multistep_update(gaussian_score):
    """Three steps by hand (Algorithm 2, alpha = 1): DDIM first, then the 2M extrapolation
    with r = h_0 / h_1 (not 1 on a Karras grid), then D at the last level (the step to 0)."""
    score = gaussian_score(MU, S)
    x, _ = standard_normal()
    grid = sampling_grid(MODEL, steps=3, schedule="karras")
    out = dpmpp_2m(score, x, MODEL, noise=None, steps=3)

    def denoise(y, t):
        return y + t**2 * score(y, torch.full((y.shape[0],), t))

    t0, t1, t2 = grid
    h0, h1 = math.log(t0 / t1), math.log(t1 / t2)
    x0 = t0 * x
    d0 = denoise(x0, t0)
    x1 = (t1 / t0) * x0 + (1 - t1 / t0) * d0
    d1 = denoise(x1, t1)
    r = h0 / h1
    x2 = (t2 / t1) * x1 + (1 - t2 / t1) * ((1 + 1 / (2 * r)) * d1 - d0 / (2 * r))
    torch.testing.assert_close(out, denoise(x2, t2))
