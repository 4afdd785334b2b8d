"""The sampler contract: NFE formulas, reproducibility, callbacks, dtypes, init, parameter
checks."""

import inspect
import json

import pytest
import torch
from scorebench_samplers.dpm import dpmpp_2m
from scorebench_samplers.edm import edm_stochastic, pf_euler, pf_heun
from scorebench_samplers.langevin import cas, pc, pc_corrector, pc_predictor

from scorebench.errors import ConfigError
from scorebench.noise import SampleNoise
from scorebench.score import CountingScore

MODEL = torch.logspace(0, -2, 10)  # 1 -> 0.01
SAMPLERS = [cas, pc, pc_predictor, pc_corrector, pf_euler, pf_heun, edm_stochastic, dpmpp_2m]
#: Parameters that make each sampler use its generator.
STOCHASTIC = {
    cas: {},
    pc: {"steps": 20},
    pc_predictor: {"steps": 20},
    pc_corrector: {"steps": 20},
    edm_stochastic: {"steps": 10, "S_churn": 5.0},
}


def run(sampler, score=None, x=None, seed=0, **params):
    score = score or (lambda y, sigma: -y / (1 + sigma[:, None] ** 2))
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(99)) if x is None else x
    return sampler(score, x, MODEL, noise=SampleNoise(seed, range(len(x))), **params)


# The docstring's formula for each sampler, checked for several parameter values.
NFE_CASES = [
    (cas, {}, 10 + 1),
    (cas, {"denoise": False}, 10),
    (cas, {"steps": 31, "step_lr": 5e-5}, 31 + 1),
    (pc, {"steps": 7}, 7 * 2),
    (pc, {"steps": 7, "corrector_steps": 3, "denoise": False}, 7 * 4),
    (pc, {"steps": 5, "corrector_steps": 0}, 5),
    (pc_predictor, {"steps": 9}, 9),
    (pc_predictor, {"steps": 9, "denoise": False}, 9),
    (pc_corrector, {"steps": 6, "corrector_steps": 2}, 12),
    (pc_corrector, {"steps": 6, "corrector_steps": 2, "denoise": True}, 13),
    (pf_euler, {"steps": 1}, 1),
    (pf_euler, {"steps": 12}, 12),
    (pf_heun, {"steps": 1}, 1),
    (pf_heun, {"steps": 12}, 23),
    (edm_stochastic, {"steps": 12, "S_churn": 10.0}, 23),
    (edm_stochastic, {"steps": 5, "schedule": "geometric", "S_churn": 1.0}, 9),
    (dpmpp_2m, {"steps": 1}, 1),
    (dpmpp_2m, {"steps": 2}, 2),
    (dpmpp_2m, {"steps": 15}, 15),
    (pf_heun, {"steps": None, "schedule": "levels"}, 2 * 10 - 1),
]


@pytest.mark.parametrize("sampler, params, nfe", NFE_CASES)
def test_nfe_matches_the_docstring(sampler, params, nfe):
    score = CountingScore(lambda y, sigma: -y / (1 + sigma[:, None] ** 2))
    seen = []
    run(sampler, score, callback=seen.append, **params)
    assert score.nfe == nfe
    assert len(seen) == nfe  # one callback per evaluation
    assert all(set(info) == {"level", "step", "sigma"} for info in seen)
    json.dumps(seen)  # small and plain: no tensors


def test_docstrings_state_paper_and_nfe():
    for sampler in SAMPLERS:
        doc = sampler.__doc__
        assert "arXiv" in doc and "Score evaluations:" in doc, sampler.__name__


def test_defaults_are_json_values():
    for sampler in SAMPLERS:
        params = list(inspect.signature(sampler).parameters.values())[3:]  # after score, x, sigmas
        defaults = {p.name: p.default for p in params if p.name not in ("noise", "callback")}
        assert json.loads(json.dumps(defaults)) == defaults, sampler.__name__


def test_init_attribute():
    for sampler in SAMPLERS:
        expected = None if sampler is cas else "standard_normal"
        assert getattr(sampler, "init", None) == expected, sampler.__name__


@pytest.mark.parametrize("sampler", list(STOCHASTIC))
def test_same_noise_same_samples(sampler):
    params = STOCHASTIC[sampler]
    first, again, other = (run(sampler, seed=s, **params) for s in (0, 0, 1))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("sampler", [pf_euler, pf_heun, dpmpp_2m, edm_stochastic])
def test_deterministic_samplers_ignore_the_noise(sampler):
    torch.testing.assert_close(run(sampler, seed=0), run(sampler, seed=1), rtol=0, atol=0)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_input_untouched_dtype_kept(sampler):
    x = torch.randn(4, 2, 3)
    before = x.clone()
    # A score computed in float64 (as in lower or higher precision) is cast to the chain's dtype.
    out = run(sampler, score=lambda y, sigma: (-y / (1 + sigma.view(-1, 1, 1) ** 2)).double(), x=x)
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert torch.isfinite(out).all()


BAD_PARAMS = [
    (pf_heun, {"steps": 0}, "steps"),
    (pf_euler, {"steps": -2}, "steps"),
    (dpmpp_2m, {"steps": 2.0}, "steps"),
    (pc, {"steps": "10"}, "steps"),
    (pf_heun, {"schedule": "cosine"}, "schedule"),
    (dpmpp_2m, {"rho": 0.0}, "rho"),
    (pf_heun, {"sigma_min": 2.0}, "sigma_min"),
    (edm_stochastic, {"S_churn": -1.0}, "S_churn"),
    (edm_stochastic, {"S_noise": 0.0}, "S_noise"),
    (edm_stochastic, {"S_tmin": 2.0, "S_tmax": 1.0}, "S_tmin"),
    (edm_stochastic, {"S_tmax": "inf"}, "S_tmax"),
    (pc, {"corrector_steps": -1}, "corrector_steps"),
    (pc_corrector, {"corrector_steps": 0}, "corrector_steps"),
    (pc, {"snr": 0.0}, "snr"),
    (pc_corrector, {"snr_norm": "mean"}, "snr_norm"),
    (pc_predictor, {"denoise": 1}, "denoise"),
    (cas, {"denoise": "yes"}, "denoise"),
    (cas, {"step_lr": -1.0}, "step_lr"),
    (cas, {"step_lr": 1e-5}, "step_lr"),  # eta = 0.1 < 1 - 1/gamma = 0.4: no consistent noise
    (cas, {"steps": 4, "schedule": "levels"}, "steps"),
]


@pytest.mark.parametrize("sampler, params, name", BAD_PARAMS)
def test_bad_parameters_raise_before_any_evaluation(sampler, params, name):
    score = CountingScore(lambda y, sigma: -y)
    with pytest.raises(ConfigError, match=name):
        run(sampler, score, **params)
    assert score.nfe == 0


def test_bad_state_is_refused():
    with pytest.raises(ConfigError, match="initial state"):
        pf_heun(lambda y, s: -y, torch.zeros(3, dtype=torch.long), MODEL, noise=None)
