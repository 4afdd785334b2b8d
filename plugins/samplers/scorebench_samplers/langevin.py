"""Annealed samplers with Langevin-type steps: consistent annealed sampling (CAS) and the
predictor-corrector samplers of score SDEs (variance-exploding form).

See :mod:`scorebench_samplers.common` for the contract every sampler follows.
"""

from __future__ import annotations

import math

import torch

from scorebench import checks
from scorebench.api import ConfigError, Noise, ScoreFn, starts_from_prior
from scorebench_samplers.common import (
    Callback,
    denoised,
    evaluate,
    per_sample,
)
from scorebench_samplers.grids import walks_grid

#: Grid steps of the PC family when ``steps`` is None (the paper's VE setting).
DEFAULT_STEPS = 1000


def _cas_betas(grid: list[float], step_lr: float) -> list[float]:
    """CAS's noise scale before each next level: ``beta_i = sqrt(1 - (gamma_i (1 - eta))^2)``
    with ``eta = step_lr / sigma_L^2`` and ``gamma_i = sigma_i / sigma_{i+1}``, so that a sample
    at level i arrives at level i+1 with variance exactly sigma_{i+1}^2 (for a point mass)."""
    eta = step_lr / grid[-1] ** 2
    gammas = [a / b for a, b in zip(grid, grid[1:], strict=False)]
    if gammas and not max(gammas) * abs(1 - eta) < 1:
        inv = 1 / max(gammas)
        low, high = grid[-1] ** 2 * (1 - inv), grid[-1] ** 2 * (1 + inv)
        raise ConfigError(
            f"step_lr must lie strictly between {low:.4g} and {high:.4g} for this grid, i.e. "
            f"sigma_L^2 (1 -/+ 1/gamma) with gamma the largest ratio of consecutive levels; got "
            f"{step_lr!r}, for which no noise scale keeps the annealing consistent."
        )
    # max(0, .) only absorbs rounding right at the bound.
    return [math.sqrt(max(0.0, 1 - (g * (1 - eta)) ** 2)) for g in gammas]


@walks_grid(None, "geometric")
def cas(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    step_lr: float | None = None,
    denoise: bool = True,
) -> torch.Tensor:
    """Consistent annealed sampling (CAS): Jolicoeur-Martineau, Piche-Taillefer, Tachet des
    Combes and Mitliagkas 2021, "Adversarial score matching and improved sampling for image
    generation" (arXiv 2009.05475), Algorithm 2.

    One step per level of the grid sigma_1 > ... > sigma_L (sigma_{L+1} = 0):
    ``x <- x + alpha_i s(x, sigma_i) + beta_i sigma_{i+1} z`` with
    ``alpha_i = step_lr sigma_i^2 / sigma_L^2`` and ``beta_i = sqrt(1 - (gamma_i (1 -
    step_lr / sigma_L^2))^2)``, ``gamma_i = sigma_i / sigma_{i+1}``: the noise that keeps a
    sample at exactly the next level's noise (the paper's consistency condition; on its
    geometric grid gamma is constant, on other grids it is applied level by level). The last
    level adds no noise. ``denoise=True`` (the authors' default) then takes
    ``x <- x + sigma_L^2 s(x, sigma_L)``.

    The grid: ``steps`` levels (default: as many as the model's) from ``schedule`` over the
    model's range; the authors' code uses a geometric grid of ``(L - 1) n_sigma + 1`` levels,
    i.e. ``steps=(len(sigmas) - 1) * n_sigma + 1``. ``step_lr`` must lie strictly between
    ``sigma_L^2 (1 - 1/gamma)`` and ``sigma_L^2 (1 + 1/gamma)``; the default None means
    ``sigma_L^2``, where each step denoises fully (``beta = 1``). The chain starts from the
    run's configured initial state, as in the authors' code (uniform noise).

    Score evaluations: ``steps`` (``len(sigmas)`` if None) + 1 with ``denoise``.
    """
    step_lr = grid[-1] ** 2 if step_lr is None else checks.number("step_lr", step_lr)
    betas = _cas_betas(grid, step_lr)
    denoise = checks.boolean("denoise", denoise)

    eta = step_lr / grid[-1] ** 2
    with torch.no_grad():
        for i, sigma in enumerate(grid):  # out-of-place updates: the driver's x stays as is
            x = x + eta * sigma**2 * evaluate(score, x, sigma, callback, i)
            if i + 1 < len(grid):
                x = x + betas[i] * grid[i + 1] * noise(x)
        if denoise:
            x = denoised(score, x, grid[-1], callback, len(grid) - 1, step=1)
    return x


#: How the corrector's step rule measures ||z|| and ||s||: per sample (the paper's Algorithm 4)
#: or as batch means (the official code).
SNR_NORMS = ("sample", "batch")


def _snr_langevin(
    score: ScoreFn,
    x: torch.Tensor,
    sigma: float,
    *,
    corrector_steps: int,
    snr: float,
    snr_norm: str,
    noise: Noise | None,
    callback: Callback | None,
    level: int,
) -> torch.Tensor:
    """``corrector_steps`` Langevin steps ``x <- x + eps s + sqrt(2 eps) z`` at one level, with
    ``eps = 2 (snr ||z|| / ||s||)^2`` (score SDE paper, Algorithm 4, VE SDE)."""
    for j in range(corrector_steps):
        grad = evaluate(score, x, sigma, callback, level, step=j)
        z = noise(x)
        z_norm, grad_norm = z.flatten(1).norm(dim=1), grad.flatten(1).norm(dim=1)
        if snr_norm == "batch":
            z_norm, grad_norm = z_norm.mean(), grad_norm.mean()
        eps = per_sample((2 * (snr * z_norm / grad_norm) ** 2).expand(x.shape[0]), x)
        x = x + eps * grad + (2 * eps).sqrt() * z
    return x


def _predictor_corrector(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None,
    predictor: bool,
    corrector_steps: int,
    snr: float,
    snr_norm: str,
    denoise: bool,
) -> torch.Tensor:
    """The loop shared by :func:`pc`, :func:`pc_predictor` and :func:`pc_corrector` (their
    parameters checked): at each level the corrector, then (with ``predictor``) reverse
    diffusion to the next level."""
    with torch.no_grad():
        x = x * grid[0]  # x ~ N(0, I) from the driver: the prior N(0, sigma_max^2 I)
        for i, sigma in enumerate(grid):
            x = _snr_langevin(
                score,
                x,
                sigma,
                corrector_steps=corrector_steps,
                snr=snr,
                snr_norm=snr_norm,
                noise=noise,
                callback=callback,
                level=i,
            )
            if predictor:
                # Reverse diffusion (the reverse VE SDE discretised like its forward chain):
                # x + (sigma_i^2 - sigma_{i+1}^2) s + sqrt(same) z, with sigma_N = 0.
                following = grid[i + 1] if i + 1 < len(grid) else 0.0
                g2 = sigma**2 - following**2
                x = x + g2 * evaluate(score, x, sigma, callback, i, step=corrector_steps)
                # Dropping the last step's noise leaves x + sigma_min^2 s(x, sigma_min), the
                # Tweedie denoiser, at no extra evaluation (the official code's noise removal).
                if not (denoise and following == 0.0):
                    x = x + math.sqrt(g2) * noise(x)
        if denoise and not predictor:
            x = denoised(score, x, grid[-1], callback, len(grid) - 1, step=corrector_steps)
    return x


@starts_from_prior
@walks_grid(DEFAULT_STEPS, "geometric")
def pc(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    corrector_steps: int = 1,
    snr: float = 0.16,
    snr_norm: str = "batch",
    denoise: bool = True,
) -> torch.Tensor:
    """Predictor-corrector sampling of the variance-exploding SDE: Song, Sohl-Dickstein,
    Kingma, Kumar, Ermon and Poole 2021, "Score-based generative modeling through stochastic
    differential equations" (arXiv 2011.13456): PC sampling for the VE SDE (Algorithm 2) with
    the reverse-diffusion predictor (Appendix E) and the Langevin corrector (Algorithm 4).

    Starts from the prior N(0, sigma_max^2 I). At each level sigma_i of the grid (largest
    first, sigma_N = 0): ``corrector_steps`` Langevin steps ``x <- x + eps s + sqrt(2 eps) z``
    with ``eps = 2 (snr ||z|| / ||s||)^2``, then the predictor
    ``x <- x + (sigma_i^2 - sigma_{i+1}^2) s(x, sigma_i) + sqrt(sigma_i^2 - sigma_{i+1}^2) z``
    (corrector first, as in the official code). ``denoise=True`` (the official code's noise
    removal) returns the last predictor step's mean, ``x + sigma_min^2 s(x, sigma_min)``:
    Tweedie's denoiser, at no extra evaluation.

    ``snr_norm="batch"`` (default) uses the batch means of both norms, as the official code
    does (a sample then depends on its batch: the batch layout is in its evaluations' specs).
    ``snr_norm="sample"`` takes both norms per sample, as the algorithm writes them; the step
    then depends on the state, which biases the corrector's stationary law by O(1/d) in
    dimension d (measured: +30% variance for a 16-D Gaussian, +9% at 64-D).

    The defaults are the paper's VE setting: 1000 geometric levels over the model's range,
    one corrector step, snr 0.16. ``corrector_steps=0`` is :func:`pc_predictor`.

    Score evaluations: ``steps * (1 + corrector_steps)``.
    """
    return _predictor_corrector(
        score,
        x,
        grid,
        noise=noise,
        callback=callback,
        predictor=True,
        corrector_steps=checks.integer("corrector_steps", corrector_steps, minimum=0),
        snr=checks.number("snr", snr),
        snr_norm=checks.choice("snr_norm", snr_norm, SNR_NORMS),
        denoise=checks.boolean("denoise", denoise),
    )


@starts_from_prior
@walks_grid(DEFAULT_STEPS, "geometric")
def pc_predictor(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    denoise: bool = True,
) -> torch.Tensor:
    """Reverse-diffusion sampling of the variance-exploding SDE, predictor only: Song et al.
    2021 (arXiv 2011.13456), the reverse-diffusion predictor (Appendix E) of PC sampling
    (Algorithm 2) without corrector ("P1000" in Table 1 at the default 1000 steps).

    From the prior N(0, sigma_max^2 I), at each level of the grid (sigma_N = 0):
    ``x <- x + (sigma_i^2 - sigma_{i+1}^2) s(x, sigma_i) + sqrt(sigma_i^2 - sigma_{i+1}^2) z``.
    ``denoise=True`` drops the last step's noise, returning Tweedie's
    ``x + sigma_min^2 s(x, sigma_min)`` at no extra evaluation.

    Score evaluations: ``steps``.
    """
    return _predictor_corrector(
        score,
        x,
        grid,
        noise=noise,
        callback=callback,
        predictor=True,
        corrector_steps=0,
        snr=0.0,  # no corrector: unused
        snr_norm="sample",
        denoise=checks.boolean("denoise", denoise),
    )


@starts_from_prior
@walks_grid(DEFAULT_STEPS, "geometric")
def pc_corrector(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    corrector_steps: int = 1,
    snr: float = 0.16,
    snr_norm: str = "batch",
    denoise: bool = False,
) -> torch.Tensor:
    """Corrector-only sampling of the variance-exploding SDE: Song et al. 2021 (arXiv
    2011.13456), the Langevin corrector of Algorithm 4 without predictor ("C" rows of
    Table 1): annealed Langevin dynamics with the signal-to-noise step rule.

    From the prior N(0, sigma_max^2 I), at each level sigma_i of the grid, ``corrector_steps``
    times ``x <- x + eps s(x, sigma_i) + sqrt(2 eps) z`` with ``eps = 2 (snr ||z|| / ||s||)^2``.
    ``denoise=True`` adds ``x <- x + sigma_min^2 s(x, sigma_min)`` (Tweedie's denoiser; the
    official corrector-only sampler has none, hence off by default). ``snr_norm`` is as in
    :func:`pc`: per sample (the paper's algorithm; O(1/d) bias in dimension d) or batch means
    (the official code).

    Score evaluations: ``steps * corrector_steps`` (+1 with ``denoise``).
    """
    return _predictor_corrector(
        score,
        x,
        grid,
        noise=noise,
        callback=callback,
        predictor=False,
        corrector_steps=checks.integer("corrector_steps", corrector_steps),
        snr=checks.number("snr", snr),
        snr_norm=checks.choice("snr_norm", snr_norm, SNR_NORMS),
        denoise=checks.boolean("denoise", denoise),
    )


def _reads_the_batch(params: dict) -> bool:
    """The batch-mean step rule makes each sample depend on the others of its batch."""
    return params.get("snr_norm") == "batch" and params.get("corrector_steps") != 0


pc.couples_batch = pc_corrector.couples_batch = _reads_the_batch  # type: ignore[attr-defined]
