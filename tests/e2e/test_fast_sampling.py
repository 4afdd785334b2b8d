"""The fast sampling paths against fp32 eager, from the same chain seeds: bf16 autocast, a
bf16 copy of the network (weights cast once), and torch.compile with frozen weights and a compile
cache in scorebench's cache dir. Tolerances are stated per check."""

import pytest
import torch

from scorebench.components import build_network, build_sampler, build_sigmas, network_score
from scorebench.recipes import resolve_config
from scorebench.sample import draw
from scorebench.score import NetworkScore

DIGITS = ["network.params.ngf=16", "sample.sampler.params.steps_per_level=3"]


def _samples(config, network, sigmas, *, compile_network=False, n=64):
    score = network_score(
        network, sigmas, config, torch.device("cpu"), compile_network=compile_network
    )
    shape = tuple(build_dataset_shape(config))
    with torch.no_grad():
        x, _ = draw(score, build_sampler(config), config, sigmas, shape, range(n))
    return x


def build_dataset_shape(config):
    from scorebench.components import build_dataset

    return build_dataset(config).shape


@pytest.fixture(scope="module")
def digits():
    config = resolve_config("ncsn", "digits", overrides=DIGITS)
    torch.manual_seed(0)
    network = build_network(config, torch.device("cpu")).eval()
    return config, network, build_sigmas(config, torch.device("cpu"))


def _with(config, **runtime_or_sample):
    from scorebench.config import build_config

    overrides = [f"{k.replace('__', '.')}={v}" for k, v in runtime_or_sample.items()]
    return build_config(config.to_dict(), None, overrides)


def test_a_bf16_copy_of_the_network_scores_like_autocast_and_leaves_it_untouched(digits):
    config, network, sigmas = digits
    x = torch.rand(32, *build_dataset_shape(config))
    sigma = sigmas[4].expand(32)
    autocast = _with(config, runtime__precision="bf16")
    copy = _with(autocast, sample__bf16_weights="true")
    with torch.no_grad():
        exact = NetworkScore(network, sigmas)(x, sigma)
        fast = network_score(network, sigmas, copy, x.device)(x, sigma)
        slow = network_score(network, sigmas, autocast, x.device)(x, sigma)
    assert fast.dtype == torch.float32 and next(network.parameters()).dtype == torch.float32
    errors = {
        name: float((out - exact).norm() / exact.norm())
        for name, out in (("cast", fast), ("autocast", slow))
    }
    # bf16 keeps 8 bits of mantissa: a few percent over ~20 layers; the copy within 2x of autocast.
    assert errors["autocast"] < 6e-2 and errors["cast"] < max(6e-2, 2 * errors["autocast"]), errors


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from scorebench.runs import RunDir
    from scorebench.train import train

    run = RunDir(tmp_path_factory.mktemp("fast") / "toy")
    steps = ["train.steps=1500", "train.checkpoint_every=1500", "train.log_every=500"]
    train(
        resolve_config("ncsn", "toy-gmm", overrides=[*steps, "data.params.n=4000"]), run, quiet=True
    )
    return run


MEANS = [[-5, -5], [5, 5]]
VARIANTS = {
    "fp32": {"runtime__precision": "fp32"},
    "bf16 autocast": {"runtime__precision": "bf16"},
    "bf16 weights": {"runtime__precision": "bf16", "sample__bf16_weights": "true"},
}


def test_bf16_chains_from_the_same_seeds_match_fp32_statistics(toy_run):
    from scorebench.metrics.points import mode_weight_error
    from scorebench.sample import draw_many, load_model

    config = toy_run.load_config()
    sampler = build_sampler(config)
    out = {}
    for name, overrides in VARIANTS.items():
        model = load_model(toy_run, torch.device("cpu"), 1500, _with(config, **overrides))
        out[name] = torch.from_numpy(draw_many(model, sampler, 2000))
    exact = out.pop("fp32")
    reference = mode_weight_error(exact, means=MEANS, weights=[0.2, 0.8])["mode_weights"][0]
    for name, fast in out.items():
        found = mode_weight_error(fast, means=MEANS, weights=[0.2, 0.8])["mode_weights"][0]
        # Same seeds: the chains stay close; the statistics that the toy measures agree.
        assert abs(found - reference) < 0.02, name
        assert float((exact.mean(0) - fast.mean(0)).abs().max()) < 0.1, name
        assert float((exact.std(0) / fast.std(0) - 1).abs().max()) < 0.03, name
        assert float((fast - exact).norm(dim=1).median()) < 0.1, name  # data scale ~5


@pytest.mark.slow
def test_compiled_sampling_matches_eager_and_caches_its_compilation(tmp_path, monkeypatch):
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    torch._dynamo.reset()
    config = resolve_config(
        "ncsn",
        "toy-gmm",
        overrides=["data.params.n=200", "sample.sampler.params.steps_per_level=2"],
    )
    torch.manual_seed(0)
    network = build_network(config, torch.device("cpu")).eval()
    sigmas = build_sigmas(config, torch.device("cpu"))
    eager = _samples(config, network, sigmas, n=256)
    fast = _samples(config, network, sigmas, compile_network=True, n=256)
    assert float((fast - eager).abs().max()) < 1e-3  # fp32 either way: reordering only
    cache = tmp_path / "cache" / "inductor"
    assert cache.is_dir() and any(cache.rglob("*")), "the compilation was not cached"
    torch._dynamo.reset()


def test_the_cell_spec_records_how_the_network_computes(tmp_path):
    from scorebench.components import sampling_numerics

    config = resolve_config("ncsn", "digits", overrides=DIGITS)
    assert sampling_numerics(config) == "fp32"
    assert sampling_numerics(_with(config, runtime__precision="bf16")) == "bf16"
    copy = _with(config, runtime__precision="bf16", sample__bf16_weights="true")
    assert sampling_numerics(copy) == "bf16-weights"
    assert sampling_numerics(_with(config, runtime__compile="true")) == "fp32+compiled"
    # channels_last picks other convolution kernels: a cell of its own.
    both = _with(config, runtime__compile="true", runtime__channels_last="true")
    assert sampling_numerics(both) == "fp32+compiled+channels_last"


def test_a_bench_cell_may_compile_sampling_but_not_change_training(tmp_path):
    from scorebench.cells import cell_config
    from scorebench.errors import ConfigError

    config = resolve_config("ncsn", "digits", overrides=DIGITS)
    cell = cell_config(config, ["runtime.compile=true", "runtime.precision=bf16"])
    assert cell.runtime.compile and cell.runtime.precision == "bf16"
    with pytest.raises(ConfigError, match="train another run"):
        cell_config(config, ["runtime.fused_adam=true"])
