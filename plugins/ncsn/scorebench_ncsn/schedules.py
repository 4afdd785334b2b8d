"""Noise schedules: the discrete noise levels sigma_1 > ... > sigma_L of an NCSN."""

from __future__ import annotations

import math

import torch

from scorebench.api import ConfigError
from scorebench.checks import integer, number


class GeometricSchedule:
    """``num_levels`` noise levels from ``sigma_max`` down to ``sigma_min``, equally spaced in
    log space (a geometric sequence), as in NCSN: ``exp(linspace(log sigma_max, log sigma_min,
    L))``. The paper's CIFAR-10 levels are the defaults: 1.0, 0.5995, 0.3594, ..., 0.01.

    Levels are ordered from largest to smallest; level index ``i`` is what a level-conditioned
    network receives.
    """

    def __init__(
        self, sigma_max: float = 1.0, sigma_min: float = 0.01, num_levels: int = 10
    ) -> None:
        sigma_max = number("sigma_max", sigma_max)
        sigma_min = number("sigma_min", sigma_min)
        # One level would make the schedule a single sigma: nothing to anneal, and the ratio
        # between levels undefined.
        why = "an annealed schedule; for a single noise level use plain Langevin dynamics"
        integer("num_levels", num_levels, 2, why=why)
        if not sigma_min < sigma_max:
            raise ConfigError(
                f"sigma_min must be smaller than sigma_max, got sigma_min={sigma_min!r} and "
                f"sigma_max={sigma_max!r} (levels run from sigma_max down to sigma_min)."
            )
        self.sigma_max = sigma_max
        self.sigma_min = sigma_min
        self.num_levels = num_levels

    def __len__(self) -> int:
        return self.num_levels

    def sigmas(self, device: torch.device | str | None = None, dtype=torch.float32) -> torch.Tensor:
        """The levels as a 1-D tensor of length ``num_levels``, largest first."""
        # Computed in float64 and then cast, so the levels do not depend on the device or dtype.
        log_sigmas = torch.linspace(
            math.log(self.sigma_max), math.log(self.sigma_min), self.num_levels, dtype=torch.float64
        )
        return log_sigmas.exp().to(device=device, dtype=dtype)

    def __repr__(self) -> str:
        return (
            f"GeometricSchedule(sigma_max={self.sigma_max!r}, sigma_min={self.sigma_min!r}, "
            f"num_levels={self.num_levels!r})"
        )
