"""The probability-flow ODE and EDM's samplers: Karras, Aittala, Aila and Laine 2022,
"Elucidating the design space of diffusion-based generative models" (EDM, arXiv 2206.00364).

For the variance-exploding process (EDM's ``s(t) = 1``, ``sigma(t) = t``) the probability-flow
ODE is ``dx/dsigma = (x - D(x; sigma)) / sigma = -sigma s(x, sigma)`` with the denoiser
``D(x; sigma) = x + sigma^2 s(x, sigma)``. Each sampler walks its grid t_0 > ... > t_{N-1}
and then t_N = 0, starting from the prior N(0, t_0^2 I). See
:mod:`scorebench_samplers.common` for the sampler contract.
"""

from __future__ import annotations

import math

import torch

from scorebench import checks
from scorebench.api import ConfigError, Noise, ScoreFn, starts_from_prior
from scorebench_samplers.common import Callback, evaluate
from scorebench_samplers.grids import walks_grid


def _churn_params(
    S_churn: object, S_tmin: object, S_tmax: object, S_noise: object
) -> tuple[float, float, float, float]:
    """EDM's stochasticity parameters, checked; ``S_tmax=None`` means no upper bound."""
    S_churn = checks.number("S_churn", S_churn, inclusive=True)
    S_tmin = checks.number("S_tmin", S_tmin, inclusive=True)
    S_tmax = math.inf if S_tmax is None else checks.number("S_tmax", S_tmax, inclusive=True)
    S_noise = checks.number("S_noise", S_noise)
    if S_tmin > S_tmax:
        raise ConfigError(
            f"S_tmin must not exceed S_tmax, got S_tmin={S_tmin!r} and S_tmax={S_tmax!r}."
        )
    return S_churn, S_tmin, S_tmax, S_noise


def _edm_sampler(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    heun: bool,
    noise: Noise | None,
    callback: Callback | None,
    S_churn: float = 0.0,
    S_tmin: float = 0.0,
    S_tmax: float = math.inf,
    S_noise: float = 1.0,
) -> torch.Tensor:
    """EDM Algorithm 2 (Algorithm 1 when ``S_churn=0``; Euler when not ``heun``)."""

    def slope(y: torch.Tensor, t: float, level: int, step: int) -> torch.Tensor:
        # (y - D(y; t)) / t, written without D to avoid cancelling x against D at large t.
        return -t * evaluate(score, y, t, callback, level, step)

    ts = [*grid, 0.0]
    gamma_max = min(S_churn / len(grid), math.sqrt(2) - 1)
    with torch.no_grad():
        x = x * ts[0]  # x ~ N(0, I) from the driver: the prior N(0, t_0^2 I)
        for i, (t, t_next) in enumerate(zip(ts, ts[1:], strict=False)):
            gamma = gamma_max if S_tmin <= t <= S_tmax else 0.0
            t_hat = t * (1 + gamma)
            if gamma > 0:  # churn: raise the noise level from t to t_hat with fresh noise
                x = x + S_noise * math.sqrt(t_hat**2 - t**2) * noise(x)
            d = slope(x, t_hat, i, 0)
            x_next = x + (t_next - t_hat) * d
            if heun and t_next > 0:  # the step to sigma = 0 stays an Euler step
                d_next = slope(x_next, t_next, i, 1)
                x_next = x + (t_next - t_hat) * (d + d_next) / 2
            x = x_next
    return x


@starts_from_prior
@walks_grid(18, "karras")
def pf_euler(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Euler's method on the probability-flow ODE ``dx/dsigma = -sigma s(x, sigma)`` of the VE
    SDE (Song et al. 2021, arXiv 2011.13456, Section 4.3), in the form of EDM's Algorithm 1
    without its second-order correction (Karras et al. 2022, arXiv 2206.00364).

    From x_0 ~ N(0, t_0^2 I) over the grid t_0 > ... > t_{N-1} (``steps`` levels of
    ``schedule``, default Karras rho=7 over the model's range) and t_N = 0:
    ``x_{i+1} = x_i + (t_{i+1} - t_i) (-t_i s(x_i, t_i))``. First order: the error at sigma = 0
    halves when ``steps`` doubles. Deterministic: ``noise`` is unused.

    Score evaluations: ``steps``.
    """
    return _edm_sampler(score, x, grid, heun=False, noise=noise, callback=callback)


@starts_from_prior
@walks_grid(18, "karras")
def pf_heun(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Heun's second-order method on the probability-flow ODE: EDM's deterministic sampler,
    Karras, Aittala, Aila and Laine 2022 (arXiv 2206.00364), Algorithm 1.

    From x_0 ~ N(0, t_0^2 I) over the grid t_0 > ... > t_{N-1} (``steps`` levels of
    ``schedule``; the defaults are the paper's CIFAR-10 setting, 18 Karras levels with rho=7,
    here over the model's range) and t_N = 0: an Euler step to t_{i+1}, corrected with the
    average of the slopes at both ends; the last step, to sigma = 0, stays an Euler step.
    Second order: the error at sigma = 0 quarters when ``steps`` doubles. Deterministic.

    Score evaluations: ``2 * steps - 1``.
    """
    return _edm_sampler(score, x, grid, heun=True, noise=noise, callback=callback)


@starts_from_prior
@walks_grid(18, "karras")
def edm_stochastic(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    S_churn: float = 0.0,
    S_tmin: float = 0.0,
    S_tmax: float | None = None,
    S_noise: float = 1.0,
) -> torch.Tensor:
    """EDM's stochastic sampler: Karras, Aittala, Aila and Laine 2022 (arXiv 2206.00364),
    Algorithm 2, with the paper's parameter names.

    Heun steps as in :func:`pf_heun`, but before each step from t_i with
    ``S_tmin <= t_i <= S_tmax`` the noise level is raised to ``t_hat = (1 + gamma) t_i``,
    ``gamma = min(S_churn / steps, sqrt(2) - 1)``, by adding
    ``S_noise * sqrt(t_hat^2 - t_i^2) * z``; the step then starts from t_hat. ``S_tmax=None``
    means no upper bound; ``S_churn=0`` (the default) is exactly :func:`pf_heun`. The paper
    tunes these four per dataset and model.

    Score evaluations: ``2 * steps - 1``.
    """
    S_churn, S_tmin, S_tmax, S_noise = _churn_params(S_churn, S_tmin, S_tmax, S_noise)
    return _edm_sampler(
        score,
        x,
        grid,
        heun=True,
        noise=noise,
        callback=callback,
        S_churn=S_churn,
        S_tmin=S_tmin,
        S_tmax=S_tmax,
        S_noise=S_noise,
    )
