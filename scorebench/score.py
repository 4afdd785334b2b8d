"""The score-function contract: ``score(x, sigma) -> tensor`` with one sigma per sample.

Adapters turn a trained network into a score function and count function evaluations (NFE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class LossOutput:
    """What a loss returns: the scalar to minimise, and per-sample values with their noise
    level index (the trainer logs the loss per level from these)."""

    loss: torch.Tensor
    per_sample: torch.Tensor
    levels: torch.Tensor


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The network inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def network_condition(
    model: torch.nn.Module, levels: torch.Tensor, sigmas: torch.Tensor
) -> torch.Tensor:
    """What to pass as the network's second argument for noise-level indices ``levels``."""
    if getattr(unwrap(model), "conditioning", "sigma") == "level":
        return levels
    return sigmas[levels]


class NetworkScore:
    """A network trained on discrete levels ``sigmas``, seen as ``score(x, sigma)``.

    A sigma-conditioned network is asked at the sigma itself; a level-conditioned one at
    the nearest trained level (in log space).
    """

    def __init__(
        self, model: torch.nn.Module, sigmas: torch.Tensor, dtype: torch.dtype | None = None
    ) -> None:
        self.model = model
        self.sigmas = sigmas
        self.dtype = dtype  # set: the network's own dtype (x and a sigma condition are cast)
        self._log_sigmas = sigmas.log()
        self._exact = getattr(unwrap(model), "conditioning", "sigma") == "sigma"

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, device=x.device, dtype=self.sigmas.dtype).expand(x.shape[0])
        if self._exact:
            cond = sigma
        else:
            levels = (sigma.log()[:, None] - self._log_sigmas.to(x.device)[None]).abs().argmin(1)
            cond = network_condition(self.model, levels, self.sigmas.to(x.device))
        if self.dtype is not None:
            x = x.to(self.dtype)
            cond = cond.to(self.dtype) if cond.is_floating_point() else cond
        return self.model(x, cond)


class CountingScore:
    """Wraps a score function and counts its calls: the number of function evaluations."""

    def __init__(self, score: ScoreFn) -> None:
        self.score = score
        self.nfe = 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.score(x, sigma)
