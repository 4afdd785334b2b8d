import pytest
import torch
from scorebench_ncsn.samplers import annealed_langevin, annealed_step_sizes, langevin
from scorebench_ncsn.schedules import GeometricSchedule

from scorebench.errors import ConfigError
from scorebench.noise import SampleNoise
from scorebench.score import CountingScore

SIGMAS = GeometricSchedule(sigma_max=1.0, sigma_min=0.01, num_levels=10).sigmas()


def gaussian_score(mean: float, std: float):
    """Exact score of N(mean, std^2 I) perturbed with N(0, sigma^2 I)."""

    def score(x, sigma):
        return -(x - mean) / (std**2 + sigma[:, None] ** 2)

    return score


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def noise(seed: int, n: int) -> SampleNoise:
    """The noise of samples 0..n-1 of a cell seeded by ``seed``."""
    return SampleNoise(seed, range(n))


@pytest.mark.parametrize("convention, factor", [("code", 1.0), ("paper", 0.5)])
def test_step_sizes_per_convention(convention, factor):
    eps = 2e-5
    sizes = annealed_step_sizes(SIGMAS, eps, convention)
    expected = factor * eps * SIGMAS.double() ** 2 / SIGMAS.double()[-1] ** 2
    torch.testing.assert_close(sizes, expected)
    # The official CIFAR-10 setting: a = 2e-5 * 1^2 / 0.01^2 = 0.2 at the largest level.
    if convention == "code":
        assert sizes[0].item() == pytest.approx(0.2) and sizes[-1].item() == pytest.approx(eps)


def test_callback_reports_every_step_with_its_step_size():
    seen = []
    annealed_langevin(
        gaussian_score(0.0, 1.0),
        torch.zeros(4, 2),
        SIGMAS,
        noise=noise(0, 4),
        callback=seen.append,
        steps_per_level=3,
        step_lr=1e-4,
        convention="paper",
    )
    assert len(seen) == 30
    assert [(d["level"], d["step"]) for d in seen[:4]] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    sizes = annealed_step_sizes(SIGMAS, 1e-4, "paper")
    for d in seen:
        assert d["sigma"] == pytest.approx(SIGMAS[d["level"]].item())
        assert d["step_size"] == pytest.approx(sizes[d["level"]].item())


@pytest.mark.parametrize("denoise", [False, True])
def test_annealed_nfe(denoise):
    score = CountingScore(gaussian_score(0.0, 1.0))
    annealed_langevin(
        score, torch.zeros(3, 2), SIGMAS, noise=noise(0, 3), steps_per_level=7, denoise=denoise
    )
    assert score.nfe == 10 * 7 + int(denoise)


def test_langevin_nfe_and_default_sigma():
    sigmas_seen = []

    def score(x, sigma):
        sigmas_seen.append(sigma)
        return -x

    counted = CountingScore(score)
    langevin(counted, torch.zeros(5, 2), SIGMAS, noise=noise(0, 5), steps=13)
    assert counted.nfe == 13
    assert sigmas_seen[0].shape == (5,)
    torch.testing.assert_close(sigmas_seen[0], torch.full((5,), SIGMAS[-1].item()))


@pytest.mark.parametrize("sampler", [annealed_langevin, langevin])
def test_same_seed_same_samples_and_input_untouched(sampler):
    x0 = torch.randn(16, 2, generator=gen(9))
    kept = x0.clone()
    kwargs = {"steps_per_level": 5} if sampler is annealed_langevin else {"steps": 20}
    a = sampler(gaussian_score(1.0, 0.5), x0, SIGMAS, noise=noise(1, 16), **kwargs)
    b = sampler(gaussian_score(1.0, 0.5), x0, SIGMAS, noise=noise(1, 16), **kwargs)
    c = sampler(gaussian_score(1.0, 0.5), x0, SIGMAS, noise=noise(2, 16), **kwargs)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    torch.testing.assert_close(x0, kept, rtol=0, atol=0)


def test_code_convention_with_eps_equals_paper_with_twice_eps():
    x0 = torch.randn(8, 3, generator=gen(3))
    score = gaussian_score(0.0, 0.7)
    code = annealed_langevin(
        score, x0, SIGMAS, noise=noise(4, 8), steps_per_level=4, step_lr=2e-5, convention="code"
    )
    paper = annealed_langevin(
        score, x0, SIGMAS, noise=noise(4, 8), steps_per_level=4, step_lr=4e-5, convention="paper"
    )
    torch.testing.assert_close(code, paper, rtol=0, atol=0)


def test_one_step_follows_the_update_rule():
    # One level, one step: x + a s(x) + sqrt(2a) z with the sampler's own noise.
    x0 = torch.randn(6, 2, generator=gen(5))
    score = gaussian_score(2.0, 1.0)
    sigmas = torch.tensor([0.5])
    out = annealed_langevin(score, x0, sigmas, noise=noise(6, 6), steps_per_level=1, step_lr=0.3)
    z = noise(6, 6)(x0)  # the sampler's first draw
    a = 0.3
    expected = x0 + a * score(x0, torch.full((6,), 0.5)) + (2 * a) ** 0.5 * z
    torch.testing.assert_close(out, expected)
    # Plain Langevin writes the same step as (eps/2) s + sqrt(eps) z.
    out = langevin(score, x0, sigmas, noise=noise(6, 6), steps=1, step_size=2 * a)
    torch.testing.assert_close(out, expected)


def test_denoise_adds_a_tweedie_step():
    x0 = torch.randn(8, 2, generator=gen(7))
    score = gaussian_score(0.0, 1.0)
    plain = annealed_langevin(score, x0, SIGMAS, noise=noise(8, 8), steps_per_level=3)
    denoised = annealed_langevin(
        score, x0, SIGMAS, noise=noise(8, 8), steps_per_level=3, denoise=True
    )
    s_min = SIGMAS[-1].item()
    expected = plain + s_min**2 * score(plain, torch.full((8,), s_min))
    torch.testing.assert_close(denoised, expected)


def test_chain_stays_in_the_state_dtype():
    def low_precision_score(x, sigma):
        return (-x).to(torch.bfloat16)

    x0 = torch.randn(4, 2, generator=gen())
    out = annealed_langevin(low_precision_score, x0, SIGMAS, noise=noise(0, 4), steps_per_level=2)
    assert out.dtype == torch.float32
    out = langevin(low_precision_score, x0.double(), SIGMAS, noise=noise(0, 4), steps=2)
    assert out.dtype == torch.float64


def test_annealed_langevin_samples_a_gaussian():
    mean, std = 0.3, 0.5
    x0 = torch.rand(4000, 2, generator=gen(0))
    out = annealed_langevin(gaussian_score(mean, std), x0, SIGMAS, noise=noise(1, 4000))
    assert out.mean().item() == pytest.approx(mean, abs=0.03)
    assert out.std().item() == pytest.approx(std, rel=0.05)


def test_langevin_samples_a_gaussian():
    mean, std = -1.0, 2.0
    x0 = torch.zeros(4000, 2)
    score = gaussian_score(mean, std)
    out = langevin(score, x0, SIGMAS, noise=noise(2, 4000), steps=500, step_size=0.1, sigma=1e-3)
    assert out.mean().item() == pytest.approx(mean, abs=0.1)
    assert out.std().item() == pytest.approx(std, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"convention": "Paper"}, "'code', 'paper'"),
        ({"steps_per_level": 0}, "steps_per_level"),
        ({"steps_per_level": 2.0}, "steps_per_level"),
        ({"step_lr": 0.0}, "step_lr"),
        ({"step_lr": -1e-5}, "step_lr"),
        ({"step_lr": float("inf")}, "step_lr"),
        ({"denoise": "yes"}, "denoise"),
    ],
)
def test_annealed_langevin_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        annealed_langevin(
            gaussian_score(0, 1), torch.zeros(2, 2), SIGMAS, noise=noise(0, 2), **kwargs
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [({"steps": 0}, "steps"), ({"step_size": 0}, "step_size"), ({"sigma": -1.0}, "sigma")],
)
def test_langevin_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        langevin(gaussian_score(0, 1), torch.zeros(2, 2), SIGMAS, noise=noise(0, 2), **kwargs)


def test_rejects_bad_sigmas_and_state():
    score = gaussian_score(0, 1)
    with pytest.raises(ConfigError, match="largest to smallest"):
        annealed_langevin(score, torch.zeros(2, 2), SIGMAS.flip(0), noise=noise(0, 2))
    with pytest.raises(ConfigError, match="> 0"):
        annealed_langevin(score, torch.zeros(2, 2), torch.tensor([1.0, 0.0]), noise=noise(0, 2))
    with pytest.raises(ConfigError, match="non-empty"):
        langevin(score, torch.zeros(2, 2), torch.tensor([]), noise=noise(0, 2))
    with pytest.raises(ConfigError, match="floating-point"):
        langevin(score, torch.zeros(2, 2, dtype=torch.long), SIGMAS, noise=noise(0, 2))
    with pytest.raises(ConfigError, match="convention"):
        annealed_step_sizes(SIGMAS, 1e-5, "k-diffusion")
