"""What the samplers share: one counted score call, Tweedie's denoiser, per-sample values.

The sampler rules (signature, initial state, noise, NFE, callback, spec, dry run) are stated
once in :mod:`scorebench.api`. What this package adds: ``sigmas`` are the model's training
levels, the default range of each sampler's own grid (see :mod:`scorebench_samplers.grids`;
:func:`~scorebench_samplers.grids.walks_grid` declares the grid parameters once for all of
them). ``steps=None`` is each sampler's usual count (18 for EDM's samplers, 20 for
DPM-Solver++, 1000 for the PC family, the number of levels for CAS), and always the number
of levels with ``schedule="levels"``. Chains run under ``torch.no_grad()`` in x's dtype
(score outputs are cast).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from scorebench.api import ScoreFn, StepInfo

Callback = Callable[[StepInfo], None]


def evaluate(
    score: ScoreFn,
    x: torch.Tensor,
    sigma: float,
    callback: Callback | None,
    level: int,
    step: int = 0,
) -> torch.Tensor:
    """One score evaluation at ``sigma`` for the whole batch, in x's dtype; reported to
    ``callback``."""
    sigma_t = torch.full((x.shape[0],), sigma, device=x.device, dtype=x.dtype)
    out = score(x, sigma_t).to(x.dtype)
    if callback is not None:
        callback({"level": level, "step": step, "sigma": sigma})
    return out


def denoised(
    score: ScoreFn,
    x: torch.Tensor,
    sigma: float,
    callback: Callback | None,
    level: int,
    step: int = 0,
) -> torch.Tensor:
    """Tweedie's posterior mean ``E[x_0 | x] = x + sigma^2 s(x, sigma)`` (EDM's D(x; sigma) for
    the variance-exploding process): one score evaluation."""
    return x + sigma**2 * evaluate(score, x, sigma, callback, level, step)


def per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A [batch] tensor shaped to broadcast against x ([batch, 1, 1, ...])."""
    return values.reshape(-1, *([1] * (x.dim() - 1)))
