"""What the samplers share: the state check, one counted score call, fresh noise.

Every sampler has scorebench's signature
``sampler(score, x, sigmas, *, noise, callback=None, **params) -> Tensor``:

- ``score(x, sigma)`` is the score function, ``sigma`` a tensor with one value per sample; each
  call is one function evaluation (NFE), so a sampler makes exactly the calls its docstring's
  formula counts;
- ``x`` is the initial state drawn by the driver, never modified in place. A sampler marked
  with :func:`starts_from_prior` gets ``x ~ N(0, I)`` and scales it by its grid's sigma_max;
  any other gets the run's configured initial state unchanged;
- ``sigmas`` are the model's training levels (largest first): the default range of the
  sampler's own grid (see :mod:`scorebench_samplers.grids`; :func:`~scorebench_samplers.grids.
  walks_grid` declares the grid parameters once for all of them). ``steps=None`` is each
  sampler's usual count (18 for EDM's samplers, 20 for DPM-Solver++, 1000 for the PC family,
  the number of levels for CAS), and always the number of levels with ``schedule="levels"``;
- all noise comes from ``noise(x)`` (:class:`scorebench.api.Noise`): row j from sample j's
  own generator, so equal noise gives equal samples and a sample never depends on its batch
  (``pc``'s batch-mean step rule, ``snr_norm="batch"``, declares ``couples_batch``);
- ``callback(info)`` is called once per score evaluation with ``level`` (the grid index),
  ``step`` (the evaluation's index within that grid step) and ``sigma``; no tensors.

Chains run under ``torch.no_grad()`` in x's dtype (score outputs are cast); only the final
sample is returned, not clamped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

from scorebench.score import ScoreFn

Callback = Callable[[dict[str, Any]], None]
F = TypeVar("F", bound=Callable[..., torch.Tensor])

#: The value of a sampler's ``init`` attribute that asks the driver for x ~ N(0, I).
STANDARD_NORMAL = "standard_normal"


def starts_from_prior(sampler: F) -> F:
    """Mark a sampler that starts from its grid's prior N(0, sigma_max^2 I): the driver then
    passes x ~ N(0, I) and the sampler scales it by its own sigma_max."""
    sampler.init = STANDARD_NORMAL  # type: ignore[attr-defined]
    return sampler


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
