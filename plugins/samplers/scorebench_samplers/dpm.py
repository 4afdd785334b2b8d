"""DPM-Solver++(2M): Lu, Zhou, Bao, Chen, Li and Zhu 2022, "DPM-Solver++: fast solver for
guided sampling of diffusion probabilistic models" (arXiv 2211.01095).

See :mod:`scorebench_samplers.common` for the sampler contract.
"""

from __future__ import annotations

import math

import torch

from scorebench.api import Noise, ScoreFn, starts_from_prior
from scorebench_samplers.common import Callback, denoised
from scorebench_samplers.grids import walks_grid


@starts_from_prior
@walks_grid(20, "karras")
def dpmpp_2m(
    score: ScoreFn,
    x: torch.Tensor,
    grid: list[float],
    *,
    noise: Noise | None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M), the multistep second-order solver of the probability-flow ODE in data
    prediction: Lu, Zhou, Bao, Chen, Li and Zhu 2022 (arXiv 2211.01095), Algorithm 2.

    Written for the variance-exploding process (alpha_t = 1, sigma_t = sigma, lambda = -log
    sigma) with the data prediction ``D(x; sigma) = x + sigma^2 s(x, sigma)``. From the prior
    x_0 ~ N(0, t_0^2 I) over the grid t_0 > ... > t_{N-1} (``steps`` levels of ``schedule``,
    default Karras rho=7 over the model's range) and t_N = 0, with ``h_i = log(t_i / t_{i+1})``:
    ``x_{i+1} = (t_{i+1}/t_i) x_i + (1 - t_{i+1}/t_i) D_i`` where
    ``D_i = (1 + 1/(2 r_i)) D(x_i; t_i) - 1/(2 r_i) D(x_{i-1}; t_{i-1})``, ``r_i = h_{i-1}/h_i``.
    The first step is first order (``D_i = D(x_0; t_0)``: DDIM), and so is the last, to
    sigma = 0, where h is infinite: it returns ``D(x_{N-1}; t_{N-1})`` (the k-diffusion
    convention). Second order in the step size. Deterministic: ``noise`` is unused.

    Score evaluations: ``steps``.
    """
    with torch.no_grad():
        x = x * grid[0]  # x ~ N(0, I) from the driver: the prior N(0, t_0^2 I)
        previous = None  # (D(x_{i-1}; t_{i-1}), h_{i-1}) once there is a previous step
        for i, (t, t_next) in enumerate(zip(grid, grid[1:], strict=False)):
            d = denoised(score, x, t, callback, i)
            h = math.log(t / t_next)
            if previous is None:
                d_step = d
            else:
                d_prev, h_prev = previous
                half_inv_r = h / (2 * h_prev)
                d_step = (1 + half_inv_r) * d - half_inv_r * d_prev
            # exp(-h) = t_{i+1} / t_i; -expm1(-h) = 1 - exp(-h) without cancellation.
            x = math.exp(-h) * x - math.expm1(-h) * d_step
            previous = (d, h)
        # The step to sigma = 0 (h infinite): x_N = D(x_{N-1}; t_{N-1}).
        return denoised(score, x, grid[-1], callback, len(grid) - 1)
