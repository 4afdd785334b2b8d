"""NCSNv2: techniques 1, 2 and 4 against hand-computed cases and the official configs, the
network's size and sigma conditioning, the presets, and a digits run end to end."""

import json
import math
import subprocess
import sys

import pytest
import torch
from scorebench_ncsnv2 import techniques as t
from scorebench_ncsnv2.network import NCSNv2


def test_t1_is_the_largest_distance_between_two_points():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [-1.0, 0.0]])
    value, method = t.max_pairwise_distance(x)
    assert value == pytest.approx(math.hypot(4, 4))  # (-1, 0) to (3, 4)
    assert method == "exact over all 4 points"


def test_t1_on_a_subset_is_a_lower_bound_and_says_so():
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    exact, _ = t.max_pairwise_distance(x)
    bound, method = t.max_pairwise_distance(x, limit=50)
    assert bound <= exact and "lower bound" in method and "upper bound" in method
    upper = float(method.rsplit("upper bound ", 1)[1].rstrip(")"))
    assert exact <= upper * (1 + 1e-3)


def test_t2_overlap_by_hand():
    # gamma = 1 + 3 gamma / sqrt(2D) puts the second argument at 0: overlap ~ 1 - 0.5.
    dim = 3072
    gamma = math.sqrt(2 * dim) / (math.sqrt(2 * dim) - 3)
    assert t.overlap(gamma, dim) == pytest.approx(0.5, abs=1e-6)
    assert t.overlap(1.0, dim) == pytest.approx(math.erf(3 / math.sqrt(2)))  # Phi(3) - Phi(-3)


@pytest.mark.parametrize(
    ("dim", "sigma_max", "target", "levels"),
    [
        (3072, 50.0, 0.5, 220),  # the text's literal 0.5 on CIFAR-10
        (3072, 50.0, t.OVERLAP, 232),  # the official CIFAR-10 config
        (64 * 64 * 3, 90.0, t.OVERLAP, 500),  # the official CelebA config
        (2, 20.0, t.OVERLAP, 2),  # 2-D: the high-dimensional criterion always holds
    ],
)
def test_t2_number_of_levels(dim, sigma_max, target, levels):
    found = t.num_levels(sigma_max, 0.01, dim, target)
    assert found == levels
    if levels > 2:  # the fewest levels that meet the target
        ratio = (sigma_max / 0.01) ** (1 / (levels - 1))
        fewer = (sigma_max / 0.01) ** (1 / (levels - 2))
        assert t.overlap(ratio, dim) >= target > t.overlap(fewer, dim)


@pytest.mark.parametrize(
    ("sigma_max", "levels", "paper_eps"), [(50.0, 232, 6.2e-6), (90.0, 500, 3.3e-6)]
)
def test_t4_gives_the_papers_step(sigma_max, levels, paper_eps):
    gamma = (sigma_max / 0.01) ** (1 / (levels - 1))
    eps = t.langevin_step(gamma, 0.01, 5)
    assert float(f"{eps:.2g}") == paper_eps
    best = abs(t.langevin_objective(eps, gamma, 0.01, 5) - 1)
    for other in (eps * 0.9, eps * 1.1):
        assert abs(t.langevin_objective(other, gamma, 0.01, 5) - 1) > best


def test_parameter_counts():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(NCSNv2(3, 128, 32)) == 29_694_083  # official NCSNv2, configs/cifar10.yml
    assert count(NCSNv2(3, 128, 64, deeper=True)) == 83_445_379  # official NCSNv2Deeper
    assert count(NCSNv2(1, 32, 8)) == 1_858_977  # the digits preset


@pytest.mark.parametrize("kind", ["images", "points"])
def test_outputs_scale_as_one_over_sigma(kind):
    from scorebench_ncsnv2.toy_network import ToyScoreNetV2

    net = (NCSNv2(1, 8, 8) if kind == "images" else ToyScoreNetV2(2, 16)).eval()
    x = torch.rand(3, 1, 8, 8) if kind == "images" else torch.randn(3, 2)
    sigma = torch.tensor([0.05, 0.5, 2.0])
    with torch.no_grad():
        once, twice = net(x, sigma), net(x, 2 * sigma)
    assert torch.allclose(once, 2 * twice, rtol=1e-6, atol=0)


def test_a_sigma_off_the_grid_is_asked_exactly():
    from scorebench.score import NetworkScore

    net = NCSNv2(1, 8, 8).eval()
    sigmas = torch.tensor([1.0, 0.1, 0.01])
    x, sigma = torch.rand(2, 1, 8, 8), torch.tensor([0.37, 0.037])
    with torch.no_grad():
        assert torch.equal(NetworkScore(net, sigmas)(x, sigma), net(x, sigma))


def test_presets():
    from scorebench_ncsnv2.recipe import digits_techniques

    from scorebench.recipes import resolve_config

    cifar = resolve_config("ncsnv2", "cifar10")
    assert cifar.schedule.params == {"sigma_max": 50.0, "sigma_min": 0.01, "num_levels": 232}
    sampler = cifar.sample.sampler.params
    assert (sampler["step_lr"], sampler["steps_per_level"], sampler["denoise"]) == (6.2e-6, 5, True)
    assert (cifar.train.ema, cifar.train.steps, cifar.data.batch_size) == (0.999, 300_000, 128)
    found = digits_techniques()
    digits = resolve_config("ncsnv2", "digits")
    assert digits.schedule.params["num_levels"] == found.num_levels == 23
    assert digits.schedule.params["sigma_max"] == pytest.approx(found.sigma_max, abs=1e-4)
    assert digits.sample.sampler.params["step_lr"] == pytest.approx(found.step_lr, rel=1e-2)
    toy = resolve_config("ncsnv2", "toy-gmm")  # T2 in 2-D: two levels, as documented
    assert toy.schedule.params["num_levels"] == 2 and toy.network.name == "ncsnv2-toy-mlp"


@pytest.mark.slow
def test_digits_end_to_end_samples_with_the_averaged_weights(tmp_path):
    from scorebench.cells import checkpoint_identity
    from scorebench.runs import RunDir, load_checkpoint
    from scorebench.sample import checkpoint_weights

    tiny = {
        "network.params.ngf": 4,
        "train.steps": 4,
        "train.log_every": 2,
        "sample.n": 40,
        "sample.batch_size": 20,
    }
    args = [f"--set={k}={v}" for k, v in tiny.items()]
    result = subprocess.run(
        [sys.executable, "-m", "scorebench.cli", "run", "ncsnv2", "-d", "digits"]
        + ["--run-dir", "run", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("run/evals/*/results/*.json")]
    assert record["metrics"]["fid"] > 0
    sampler = record["cell"]["spec"]["sampler"]["params"]
    assert sampler["denoise"] is True and sampler["steps_per_level"] == 5
    assert record["cell"]["sampling"]["nfe_per_sample"] == 23 * 5 + 1
    run = RunDir(tmp_path / "run")
    state = load_checkpoint(run.checkpoint_path(4))
    assert any(not torch.equal(state["ema"][k], state["model"][k]) for k in state["model"])
    assert checkpoint_weights(state) is state["ema"]  # what load_model samples with
    assert record["cell"]["spec"]["source"]["weights_sha256"] == checkpoint_identity(run, 4)[0]
    assert record["cell"]["spec"]["source"]["sigma_query"] == "exact (sigma-conditioned)"
