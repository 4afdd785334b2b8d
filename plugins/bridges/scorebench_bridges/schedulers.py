"""diffusers' own schedulers as scorebench samplers, driven through ``score(x, sigma)``.

Each sampler builds a diffusers scheduler, gives it the grid and runs the library's own
``step``: the update arithmetic is diffusers', on any score source (a diffusers UNet, a
trained run, an oracle). The driver asks the score at the sigma that ``step`` reads
(``scheduler.sigmas[i]`` at call i), hands the scheduler the model output it expects
(epsilon ``-sigma s`` for the discrete schedulers, EDM's network output for
``EDMEulerScheduler``, the score for ``ScoreSdeVeScheduler``), and the counting score
function counts each call as one NFE. Steps are indexed from 0 (``set_begin_index``), so the
schedulers' timesteps are never looked up.

Grids (scorebench's VE sigmas in [0, 1] pixels, largest first; the range defaults to the
model's levels):

- ``EulerDiscreteScheduler`` takes the grid as explicit sigmas (``set_timesteps(sigmas=)``);
- ``HeunDiscreteScheduler`` and ``DPMSolverMultistepScheduler`` take no explicit sigmas: after
  ``set_timesteps`` the driver writes the grid into the ``sigmas`` their ``step`` reads
  (Heun's with its interior levels doubled, as ``set_timesteps`` lays them out);
- ``EDMEulerScheduler`` and ``ScoreSdeVeScheduler`` place their own grids (Karras or
  exponential; geometric with ``sampling_eps``) from ``sigma_max`` and ``sigma_min``.

Conventions kept from scorebench, not from the pipelines: the start is the prior
N(0, sigma_max^2 I) of every scorebench sampler (diffusers' discrete schedulers scale by
``init_noise_sigma = sqrt(sigma_max^2 + 1)``, which assumes data of variance 1 in [-1, 1]
pixels); the state is the VE state x (DPM-Solver's is ``x / sqrt(1 + sigma^2)``, converted
on the way in and out). diffusers keeps its sigmas in float32, so these samplers agree with
their scorebench twins to float32 round-off, not float64.
"""

from __future__ import annotations

import math

import torch
from scorebench_samplers.common import Callback, evaluate
from scorebench_samplers.grids import check_levels, grid_range, walks_grid

from scorebench import checks
from scorebench.api import Noise, SampleNoise, ScoreFn, starts_from_prior
from scorebench_bridges.diffusers_source import _diffusers

#: EDMEulerScheduler's grid placements.
EDM_SCHEDULES = ("karras", "exponential")


def _epsilon(score, x, sigma, callback, level, step=0):
    """The epsilon prediction of the discrete schedulers at VE state x: ``-sigma s(x, sigma)``."""
    return -sigma * evaluate(score, x, sigma, callback, level, step)


def _sigma_grid(grid: list[float]) -> torch.Tensor:
    """The grid and the final sigma 0, in the float32 diffusers keeps its sigmas in."""
    return torch.tensor([*grid, 0.0], dtype=torch.float32)


def _walk(scheduler, score, x: torch.Tensor, callback, where) -> torch.Tensor:
    """A discrete scheduler's loop on the VE state x from its first step: call i is asked at
    ``scheduler.sigmas[i]`` and reported as ``(level, step) = where(i)``."""
    scheduler.set_begin_index(0)
    for i, t in enumerate(scheduler.timesteps):
        _quiet(scheduler, x, t)
        level, step = where(i)
        out = _epsilon(score, x, float(scheduler.sigmas[i]), callback, level, step)
        x = scheduler.step(out, t, x).prev_sample
    return x


def _quiet(scheduler, x: torch.Tensor, t) -> None:
    """``scale_model_input`` initialises the step index and silences diffusers' warning that it
    was not called; its output (the model's input scaling) is not what the score takes."""
    scheduler.scale_model_input(x, t)


@starts_from_prior
@walks_grid(18, "karras")
@torch.no_grad()
def euler(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """diffusers' ``EulerDiscreteScheduler`` (epsilon prediction, no churn) on scorebench's
    grid, passed as explicit sigmas: the probability-flow ODE's Euler steps, to sigma = 0.
    Deterministic. The twin of ``samplers:pf_euler``.

    Score evaluations: ``steps``.
    """
    scheduler = _diffusers().EulerDiscreteScheduler(prediction_type="epsilon")
    scheduler.set_timesteps(sigmas=_sigma_grid(grid).tolist())
    return _walk(scheduler, score, x * grid[0], callback, lambda i: (i, 0))


@starts_from_prior
@walks_grid(18, "karras")
@torch.no_grad()
def heun(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """diffusers' ``HeunDiscreteScheduler`` (epsilon prediction) on scorebench's grid: Heun's
    second-order steps of the probability-flow ODE, the last one (to sigma = 0) an Euler
    step. Deterministic. The twin of ``samplers:pf_heun`` (EDM's Algorithm 1).

    Score evaluations: ``2 steps - 1``.
    """
    scheduler = _diffusers().HeunDiscreteScheduler(prediction_type="epsilon")
    scheduler.set_timesteps(len(grid))
    sigmas = _sigma_grid(grid)
    scheduler.sigmas = torch.cat([sigmas[:1], sigmas[1:-1].repeat_interleave(2), sigmas[-1:]])
    return _walk(scheduler, score, x * grid[0], callback, lambda i: divmod(i, 2))


@starts_from_prior
@walks_grid(20, "karras")
@torch.no_grad()
def dpmpp_2m(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """diffusers' ``DPMSolverMultistepScheduler`` with ``algorithm_type="dpmsolver++"``,
    ``solver_order=2`` and ``final_sigmas_type="zero"`` (epsilon prediction) on scorebench's
    grid: DPM-Solver++(2M), first order at the first and the last step. Deterministic. The
    twin of ``samplers:dpmpp_2m``.

    Score evaluations: ``steps``.
    """
    scheduler = _diffusers().DPMSolverMultistepScheduler(
        prediction_type="epsilon",
        algorithm_type="dpmsolver++",
        solver_order=2,
        final_sigmas_type="zero",
    )
    scheduler.set_timesteps(len(grid))
    scheduler.sigmas = _sigma_grid(grid)
    scheduler.set_begin_index(0)
    sigma = float(scheduler.sigmas[0])
    state = x * grid[0] / math.sqrt(1 + sigma**2)  # DPM-Solver's state x / sqrt(1 + sigma^2)
    for i, t in enumerate(scheduler.timesteps):
        sigma = float(scheduler.sigmas[i])
        out = _epsilon(score, state * math.sqrt(1 + sigma**2), sigma, callback, i)
        state = scheduler.step(out, t, state).prev_sample
    return state  # at sigma = 0 the two states are one


@starts_from_prior
@torch.no_grad()
def edm_euler(
    score: ScoreFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    steps: int = 18,
    sigma_max: float | None = None,
    sigma_min: float | None = None,
    rho: float = 7.0,
    sigma_schedule: str = "karras",
) -> torch.Tensor:
    """diffusers' ``EDMEulerScheduler`` (no churn): Euler steps of the probability-flow ODE
    over the grid the scheduler places itself, ``steps`` levels from ``sigma_max`` to
    ``sigma_min`` (default: the model's range) by ``sigma_schedule`` ("karras" with ``rho``,
    or "exponential"), then sigma = 0. The driver hands it the network output whose EDM
    preconditioning gives the denoiser ``x + sigma^2 s(x, sigma)``. diffusers computes this
    step in float32 whatever the state's dtype. Deterministic.

    Score evaluations: ``steps``.
    """
    levels = check_levels(sigmas)
    steps = checks.integer("steps", steps, minimum=2)
    top, bottom = grid_range(levels, sigma_max, sigma_min)
    checks.choice("sigma_schedule", sigma_schedule, EDM_SCHEDULES)
    x = checks.sampler_state(x, noise)
    scheduler = _diffusers().EDMEulerScheduler(
        sigma_min=bottom,
        sigma_max=top,
        rho=checks.number("rho", rho),
        sigma_schedule=sigma_schedule,
        final_sigmas_type="zero",
        prediction_type="epsilon",
    )
    scheduler.set_timesteps(steps)
    scheduler.set_begin_index(0)
    data = scheduler.config.sigma_data
    x = x * float(scheduler.sigmas[0])
    dtype = x.dtype
    for i, t in enumerate(scheduler.timesteps):
        _quiet(scheduler, x, t)
        sigma = float(scheduler.sigmas[i])
        d = x + sigma**2 * evaluate(score, x, sigma, callback, i)
        c_skip = data**2 / (sigma**2 + data**2)
        c_out = sigma * data / math.sqrt(sigma**2 + data**2)
        x = scheduler.step((d - c_skip * x) / c_out, t, x).prev_sample.to(dtype)
    return x


@starts_from_prior
@torch.no_grad()
def sde_ve_pc(
    score: ScoreFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    steps: int = 1000,
    sigma_max: float | None = None,
    sigma_min: float | None = None,
    snr: float = 0.15,
    correct_steps: int = 1,
    sampling_eps: float = 1e-5,
) -> torch.Tensor:
    """diffusers' ``ScoreSdeVeScheduler``: predictor-corrector sampling of the VE SDE as
    ``ScoreSdeVePipeline`` runs it. At each of ``steps`` geometric levels
    ``sigma_min (sigma_max / sigma_min)^t``, t from 1 to ``sampling_eps`` (default range:
    the model's levels): ``correct_steps`` Langevin steps (``step_correct``, batch-mean SNR
    step rule) then the reverse-diffusion predictor (``step_pred``); the last predictor mean is
    returned (no noise on the last step). The defaults are the scheduler's (snr 0.15).

    The score is asked at the scheduler's ``sigmas`` (t runs down to ``sampling_eps``), but
    ``step_pred`` sizes its step from ``discrete_sigmas``, the same geometric levels with t
    down to 0: the two differ by up to ``sampling_eps * log(sigma_max / sigma_min)``
    relative (8.5e-5 for 50 -> 0.01). Kept, since these are diffusers' numbers;
    ``samplers:pc`` on the scheduler's ``sigmas`` differs from it by less (measured 3e-6
    relative at 5 to 100 steps on a random VE UNet).

    Score evaluations: ``steps * (1 + correct_steps)``.
    """
    levels = check_levels(sigmas)
    steps = checks.integer("steps", steps, minimum=2)
    top, bottom = grid_range(levels, sigma_max, sigma_min)
    correct_steps = checks.integer("correct_steps", correct_steps, minimum=0)
    x = checks.sampler_state(x, noise)
    scheduler = _diffusers().ScoreSdeVeScheduler(
        snr=checks.number("snr", snr),
        sigma_min=bottom,
        sigma_max=top,
        sampling_eps=checks.number("sampling_eps", sampling_eps),
        correct_steps=correct_steps,
    )
    scheduler.set_timesteps(steps, sampling_eps)
    scheduler.set_sigmas(steps, bottom, top, sampling_eps)
    # diffusers draws one sample's noise from each generator of the list; step_correct draws
    # on the CPU, so on a GPU the samples' CPU generators (same seeds) take their place.
    generators = None if noise is None else noise.generators
    if noise is not None and noise.device.type != "cpu":
        generators = SampleNoise(noise.seed, noise.indices).generators
    x = x * top
    mean = x
    for i, t in enumerate(scheduler.timesteps):
        sigma = float(scheduler.sigmas[i])
        for j in range(correct_steps):
            grad = evaluate(score, x, sigma, callback, i, j)
            x = scheduler.step_correct(grad, x, generator=generators).prev_sample
        grad = evaluate(score, x, sigma, callback, i, correct_steps)
        out = scheduler.step_pred(grad, t, x, generator=generators)
        x, mean = out.prev_sample, out.prev_sample_mean
    return mean


# ScoreSdeVeScheduler.step_correct sizes its step from the batch means of the norms.
sde_ve_pc.couples_batch = lambda params: True  # type: ignore[attr-defined]
