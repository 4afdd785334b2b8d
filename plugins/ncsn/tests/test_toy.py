import math

import pytest
import torch
from rich.console import Console
from rich.table import Table
from scorebench_ncsn.gmm import GaussianMixtureScore, toy_gmm
from scorebench_ncsn.toy import run_toy_experiment, toy_table

from scorebench.errors import ConfigError


def autograd_score(gmm, x, sigma):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(gmm.log_prob(x, sigma).sum(), x)
    return grad


@pytest.mark.parametrize("component_std", ["convolved", "sigma"])
def test_score_is_the_gradient_of_log_prob(component_std):
    gmm = GaussianMixtureScore(
        means=[[0.0, 1.0, -1.0], [2.0, -2.0, 0.5], [-3.0, 0.0, 0.0]],
        weights=[0.5, 0.3, 0.2],
        std=0.7,
        component_std=component_std,
    )
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    per_sample = torch.linspace(0.05, 4.0, 32, dtype=torch.float64)
    for sigma in (per_sample, 0.3, torch.tensor(2.0)):
        torch.testing.assert_close(gmm(x, sigma), autograd_score(gmm, x, sigma))


def test_component_std_modes():
    x = torch.tensor([[0.5, -1.0], [3.0, 3.0]])
    sigma = torch.tensor([2.0, 2.0])
    single = [[1.0, 1.0]]
    convolved = GaussianMixtureScore(single, [1.0], std=1.5, component_std="convolved")
    by_sigma = GaussianMixtureScore(single, [1.0], std=1.5, component_std="sigma")
    # One Gaussian: the score is (mu - x) / variance.
    torch.testing.assert_close(convolved(x, sigma), (1.0 - x) / (1.5**2 + 4.0))
    torch.testing.assert_close(by_sigma(x, sigma), (1.0 - x) / 4.0)
    # log_prob without sigma is the data density p in both modes.
    torch.testing.assert_close(convolved.log_prob(x), by_sigma.log_prob(x))


def test_score_is_stable_far_from_every_component():
    gmm = toy_gmm()
    x = torch.tensor([[1e4, -1e4], [-300.0, -300.0], [0.0, 0.0]])
    for sigma in (0.01, 1.0, 20.0):
        assert torch.isfinite(gmm(x, sigma)).all()
        assert torch.isfinite(gmm.log_prob(x, sigma)).all()
    # Far out the nearest component dominates: score ~ (mu_near - x) / var.
    s = toy_gmm(component_std="sigma")(x[1:2], 1.0)
    torch.testing.assert_close(s, torch.tensor([[295.0, 295.0]]))


def test_log_prob_is_normalised():
    gmm = GaussianMixtureScore([[-2.0], [1.5]], [3.0, 1.0], std=0.8)  # weights get normalised
    grid = torch.linspace(-15, 15, 20001, dtype=torch.float64)[:, None]
    for sigma in (None, 0.5):
        mass = torch.trapezoid(gmm.log_prob(grid, sigma).exp(), grid[:, 0])
        assert mass.item() == pytest.approx(1.0, abs=1e-6)


def test_image_shaped_input_keeps_its_shape():
    gmm = GaussianMixtureScore(torch.zeros(2, 12), [0.5, 0.5])
    x = torch.randn(5, 3, 2, 2)
    out = gmm(x, torch.ones(5))
    assert out.shape == x.shape
    torch.testing.assert_close(out, -x / 2)


def test_sample_matches_the_mixture():
    gmm = toy_gmm()
    draws = gmm.sample(20000, torch.Generator().manual_seed(0))
    assert draws.shape == (20000, 2)
    upper = draws.sum(dim=1) > 0
    assert upper.double().mean().item() == pytest.approx(0.8, abs=0.01)
    assert draws[upper].mean(0).tolist() == pytest.approx([5.0, 5.0], abs=0.03)
    assert draws[upper].std(0).tolist() == pytest.approx([1.0, 1.0], abs=0.03)
    same = gmm.sample(100, torch.Generator().manual_seed(3))
    torch.testing.assert_close(same, gmm.sample(100, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"means": [1.0, 2.0]}, "shape"),
        ({"weights": [0.2, 0.3, 0.5]}, "one entry per component"),
        ({"weights": [-0.2, 1.2]}, "> 0"),
        ({"std": 0.0}, "std"),
        ({"component_std": "paper"}, "'convolved', 'sigma'"),
        ({"mean": [[0.0, 0.0]]}, "unknown toy_gmm argument"),
    ],
)
def test_bad_mixtures_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        toy_gmm(**kwargs)


def test_wrong_dimension_is_a_clear_error():
    with pytest.raises(ConfigError, match="2-dimensional"):
        toy_gmm()(torch.zeros(4, 3), 1.0)
    with pytest.raises(ConfigError, match="one value per sample"):
        toy_gmm()(torch.zeros(4, 2), torch.ones(3))


def test_toy_experiment_reproduces_the_paper():
    # Paper section 3.2: Langevin with the exact score gets the modes but not their weights;
    # annealed Langevin recovers the 0.8 weight of the (5, 5) mode.
    result = run_toy_experiment(n=4000, seed=0)
    frac = {method: f["(5, 5)"] for method, f in result["fractions"].items()}
    assert result["weights"]["(5, 5)"] == pytest.approx(0.8)
    assert abs(frac["iid"] - 0.8) < 0.03
    assert abs(frac["annealed_langevin"] - 0.8) < 0.05
    assert abs(frac["langevin"] - 0.8) > 0.15
    for fractions in result["fractions"].values():
        assert math.fsum(fractions.values()) == pytest.approx(1.0)

    table = toy_table(result)
    assert isinstance(table, Table) and table.row_count == 4
    console = Console(width=120, record=True)
    console.print(table)
    text = console.export_text()
    assert "annealed Langevin dynamics" in text and f"{frac['langevin']:.3f}" in text


def test_toy_experiment_is_reproducible_and_validated():
    a = run_toy_experiment(n=50, seed=3)
    b = run_toy_experiment(n=50, seed=3)
    assert a["fractions"] == b["fractions"]
    with pytest.raises(ConfigError, match="n must be"):
        run_toy_experiment(n=0)
    with pytest.raises(ConfigError, match="run_toy_experiment"):
        toy_table({"fractions": {}})
