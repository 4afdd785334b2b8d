"""Per-sample noise: row j of every draw is the next draw of sample j's own generator (on the
CPU a row of a multiple of 16 values), also where rows are drawn ahead in blocks, whatever
the order of draws; seeds never collide within a cell."""

import random

import pytest
import torch

from scorebench.noise import SampleNoise, block_rows, row_width, sample_seed
from scorebench.plugins import registry
from scorebench.recipes import resolve_config
from scorebench.sample import draw, initial_state


def _reference(seed, indices):
    return [torch.Generator().manual_seed(sample_seed(seed, i)) for i in indices]


@pytest.mark.parametrize("trial", range(6))
def test_any_sequence_of_draws_equals_drawing_row_by_row(trial):
    rng = random.Random(trial)
    batch = rng.choice([1, 3, 8])
    indices = range(100, 100 + batch)
    noise, reference = SampleNoise(7, indices), _reference(7, indices)
    for _ in range(300):
        kind = rng.choice(["normal", "uniform", "generators"])
        dtype = rng.choice([torch.float32, torch.float64])
        shape = rng.choice([(2,), (5,), (16,), (1, 8, 8), (3, 5)])
        x = torch.empty((batch, *shape), dtype=dtype)
        draw = torch.rand if kind == "uniform" else torch.randn
        if kind == "generators":  # what diffusers does with the list
            want = torch.stack([draw(shape, generator=g, dtype=dtype) for g in reference])
            got = torch.stack([draw(shape, generator=g, dtype=dtype) for g in noise.generators])
        else:  # a row of a multiple of 16 values, of which the first are used
            numel = x[0].numel()
            width = row_width(numel, torch.device("cpu"))
            rows = [draw(width, generator=g, dtype=dtype)[:numel] for g in reference]
            want = torch.stack(rows).reshape(x.shape)
            got = noise(x) if kind == "normal" else noise.uniform(x)
        assert torch.equal(got, want), (kind, dtype, shape)


def test_rows_are_padded_to_16_values_on_the_cpu_and_drawn_in_blocks():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert [row_width(n, cpu) for n in (2, 16, 17, 64, 3072)] == [16, 16, 32, 64, 3072]
    assert row_width(2, cuda) == 2 and block_rows(2, cuda) == 1
    assert block_rows(16, cpu) == 256 and block_rows(64, cpu) == 64 and block_rows(3072, cpu) == 1


def test_a_split_batch_draws_the_same_samples():
    whole = SampleNoise(3, range(10))
    left, right = SampleNoise(3, range(7)), SampleNoise(3, range(7, 10))
    start = initial_state({"kind": "uniform", "low": 0.0, "high": 1.0}, (2,), 1.0, whole)
    parts = [
        initial_state({"kind": "uniform", "low": 0.0, "high": 1.0}, (2,), 1.0, n)
        for n in (left, right)
    ]
    assert torch.equal(start, torch.cat(parts))
    x = torch.empty(10, 2)
    for _ in range(50):
        assert torch.equal(whole(x), torch.cat([left(x[:7]), right(x[7:])]))


def test_seeds_are_distinct_within_a_cell_and_between_cell_seeds():
    n = 200_000
    for seed in (0, 1, 2**32 - 1):
        assert len({sample_seed(seed, i) for i in range(n)}) == n
    assert all(0 <= sample_seed(s, i) < 2**32 for s in (0, 5, 2**32 - 1) for i in (0, n))
    assert torch.equal(torch.randn(3, generator=torch.Generator().manual_seed(2**32 + 5)),
                       torch.randn(3, generator=torch.Generator().manual_seed(5)))  # fmt: skip
    shared = {sample_seed(0, i) for i in range(n)} & {sample_seed(1, i) for i in range(n)}
    assert not shared  # two seeds' cells share no stream


def test_noise_for_another_batch_is_refused():
    with pytest.raises(ValueError, match="for the whole batch"):
        SampleNoise(0, range(4))(torch.empty(3, 2))


@pytest.mark.parametrize(
    "name, params",
    [
        ("annealed_langevin", {"steps_per_level": 5}),
        ("cas", {"steps": 20}),
        ("pc", {"steps": 20, "snr_norm": "sample"}),
        ("pc_predictor", {"steps": 20}),
        ("edm_stochastic", {"steps": 10, "S_churn": 5.0}),
    ],
)
def test_sample_i_is_the_same_at_batch_sizes_1_7_and_64(name, params):
    """Through the driver, on the toy mixture's exact score (its arithmetic is the same
    row by row at any batch size): every stochastic sampler, bit for bit."""
    from scorebench_ncsn.gmm import toy_gmm

    config = resolve_config(
        "ncsn", "toy-gmm", overrides=[f"sample.sampler.name={name}", "sample.seed=11"]
    )
    config.sample.sampler.params = params
    sigmas = torch.tensor([20.0, 5.0, 1.0, 0.1])
    sampler, score = registry("samplers").load(name), toy_gmm(component_std="sigma")

    def batches(size):
        ranges = [range(i, min(64, i + size)) for i in range(0, 64, size)]
        return torch.cat([draw(score, sampler, config, sigmas, (2,), r)[0] for r in ranges])

    one = batches(1)
    assert torch.isfinite(one).all() and len(one.unique(dim=0)) > 1
    assert torch.equal(batches(7), one) and torch.equal(batches(64), one)


def test_a_sampler_of_the_older_contract_gets_one_generator_per_batch():
    """A third party's sampler written with ``generator`` still runs; its samples depend on
    its batch, which the cell then records (``depends_on_batch``)."""
    from scorebench.noise import depends_on_batch, randomness, takes_noise

    def older(score, x, sigmas, *, generator, callback=None, step=0.1):
        return x + step * torch.randn(x.shape, generator=generator, device=x.device)

    def newer(score, x, sigmas, *, noise, callback=None):
        return x + noise(x)

    assert not takes_noise(older) and depends_on_batch(older, {})
    assert takes_noise(newer) and not depends_on_batch(newer, {})
    given = randomness(older, SampleNoise(0, range(5, 9)))
    assert isinstance(given["generator"], torch.Generator)
    config = resolve_config("ncsn", "toy-gmm")
    config.sample.sampler.params = {}
    sigmas = torch.tensor([1.0])
    a, _ = draw(lambda x, s: -x, older, config, sigmas, (2,), range(4))
    b, _ = draw(lambda x, s: -x, older, config, sigmas, (2,), range(4))
    assert torch.equal(a, b)  # deterministic for a given batch
