import math

import pytest
import torch
from scorebench_ncsn.schedules import GeometricSchedule

from scorebench.errors import ConfigError

PAPER_SIGMAS = [1.0, 0.5995, 0.3594, 0.2154, 0.1292, 0.0774, 0.0464, 0.0278, 0.0167, 0.01]


def test_default_levels_are_the_papers():
    sigmas = GeometricSchedule().sigmas()
    assert sigmas.dtype == torch.float32
    assert sigmas.shape == (10,)
    torch.testing.assert_close(sigmas, torch.tensor(PAPER_SIGMAS), atol=5e-5, rtol=0)
    assert sigmas[0].item() == pytest.approx(1.0)
    assert sigmas[-1].item() == pytest.approx(0.01)


def test_levels_are_geometric_and_decreasing():
    sched = GeometricSchedule(sigma_max=20.0, sigma_min=1.0, num_levels=10)
    sigmas = sched.sigmas(dtype=torch.float64)
    ratios = sigmas[1:] / sigmas[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 20.0 ** (-1 / 9)))
    assert len(sched) == 10


def test_device_and_dtype():
    sigmas = GeometricSchedule(num_levels=3).sigmas(device="cpu", dtype=torch.float64)
    assert sigmas.dtype == torch.float64 and sigmas.device.type == "cpu"
    assert sigmas.tolist() == pytest.approx([1.0, 0.1, 0.01])


def test_repr_round_trips():
    sched = GeometricSchedule(sigma_max=50.0, sigma_min=0.01, num_levels=232)
    assert repr(sched) == "GeometricSchedule(sigma_max=50.0, sigma_min=0.01, num_levels=232)"
    again = eval(repr(sched), {"GeometricSchedule": GeometricSchedule})
    torch.testing.assert_close(again.sigmas(), sched.sigmas())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sigma_min": 0.0}, "sigma_min"),
        ({"sigma_min": -1.0}, "sigma_min"),
        ({"sigma_max": math.inf}, "sigma_max"),
        ({"sigma_max": 0.01, "sigma_min": 1.0}, "smaller than sigma_max"),
        ({"sigma_max": 1.0, "sigma_min": 1.0}, "smaller than sigma_max"),
        ({"num_levels": 1}, ">= 2"),
        ({"num_levels": 2.5}, "integer"),
        ({"num_levels": True}, "integer"),
        ({"sigma_max": "1"}, "number"),
    ],
)
def test_invalid_schedules_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GeometricSchedule(**kwargs)
