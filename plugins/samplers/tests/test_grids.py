import math

import pytest
import torch
from scorebench_samplers.grids import KarrasSchedule, sampling_grid

from scorebench.errors import ConfigError

MODEL = torch.tensor([50.0, 5.0, 0.5, 0.05])


def test_karras_matches_edm_eq5():
    sched = KarrasSchedule(sigma_max=80.0, sigma_min=0.002, num_levels=18, rho=7.0)
    got = sched.sigmas(dtype=torch.float64)
    top, bottom = 80.0 ** (1 / 7), 0.002 ** (1 / 7)
    expected = [(top + i / 17 * (bottom - top)) ** 7 for i in range(18)]
    assert len(sched) == 18 and got.shape == (18,)
    assert got.tolist() == pytest.approx(expected, rel=1e-12)
    assert got[0].item() == pytest.approx(80.0) and got[-1].item() == pytest.approx(0.002)
    assert bool((got[1:] < got[:-1]).all())
    assert sched.sigmas().dtype == torch.float32


def test_karras_rho_one_is_linear():
    got = KarrasSchedule(sigma_max=3.0, sigma_min=1.0, num_levels=3, rho=1.0).sigmas(
        dtype=torch.float64
    )
    assert got.tolist() == pytest.approx([3.0, 2.0, 1.0])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_levels": 1}, "num_levels"),
        ({"num_levels": 2.0}, "num_levels"),
        ({"sigma_min": 0.0}, "sigma_min"),
        ({"sigma_max": float("inf")}, "sigma_max"),
        ({"rho": -1.0}, "rho"),
        ({"sigma_max": 1.0, "sigma_min": 2.0}, "sigma_min"),
    ],
)
def test_karras_rejects_bad_parameters(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        KarrasSchedule(**kwargs)


def test_levels_schedule_is_the_models_own():
    assert sampling_grid(MODEL, steps=None, schedule="levels") == pytest.approx(MODEL.tolist())
    assert sampling_grid(MODEL, steps=4, schedule="levels") == pytest.approx(MODEL.tolist())


def test_registered_schedules_span_the_models_range_by_default():
    karras = sampling_grid(MODEL, steps=6, schedule="karras", rho=3.0)
    expected = KarrasSchedule(50.0, 0.05, 6, rho=3.0).sigmas(dtype=torch.float64).tolist()
    assert karras == pytest.approx(expected)
    geometric = sampling_grid(MODEL, steps=7, schedule="geometric", rho=3.0)  # rho: not its own
    assert geometric == pytest.approx(torch.logspace(math.log10(50), -math.log10(20), 7).tolist())
    # steps=None: as many levels as the model has.
    assert len(sampling_grid(MODEL, steps=None, schedule="karras")) == 4


def test_range_overrides_and_one_step():
    grid = sampling_grid(MODEL, steps=5, schedule="karras", sigma_max=10, sigma_min=0.1)
    assert grid[0] == pytest.approx(10.0) and grid[-1] == pytest.approx(0.1) and len(grid) == 5
    assert sampling_grid(MODEL, steps=1, schedule="geometric") == pytest.approx([50.0])
    assert sampling_grid(MODEL, steps=1, schedule="karras", sigma_max=3.0) == pytest.approx([3.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0, "schedule": "karras"}, "steps"),
        ({"steps": -3, "schedule": "karras"}, "steps"),
        ({"steps": 2.5, "schedule": "karras"}, "steps"),
        ({"steps": True, "schedule": "karras"}, "steps"),
        ({"steps": 3, "schedule": "levels"}, "steps"),
        ({"steps": None, "schedule": "levels", "sigma_max": 10.0}, "sigma_max"),
        ({"steps": 5, "schedule": "karras", "sigma_min": -1.0}, "sigma_min"),
        ({"steps": 5, "schedule": "karras", "sigma_max": 0.01}, "sigma_min"),
        ({"steps": 5, "schedule": "karras", "rho": 0}, "rho"),
        ({"steps": 5, "schedule": "cosine"}, "schedule"),
    ],
)
def test_sampling_grid_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sampling_grid(MODEL, **kwargs)


def test_unknown_schedule_lists_the_choices():
    with pytest.raises(ConfigError) as info:
        sampling_grid(MODEL, steps=5, schedule="cosine")
    for name in ("'levels'", "'karras'", "'geometric'"):
        assert name in str(info.value)


@pytest.mark.parametrize(
    "sigmas", [torch.tensor([]), torch.tensor([[1.0, 0.5]]), torch.tensor([0.5, 1.0])]
)
def test_model_levels_are_checked(sigmas):
    with pytest.raises(ConfigError, match="sigmas"):
        sampling_grid(sigmas, steps=None, schedule="levels")
