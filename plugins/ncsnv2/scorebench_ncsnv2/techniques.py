"""Techniques 1, 2 and 4 of NCSNv2 (Song & Ermon 2020, section 3), computed from data.

* T1, the largest noise level: sigma_1 = the largest Euclidean distance between two
  training points (:func:`max_pairwise_distance`).
* T2, the number of levels: a geometric sequence with ratio gamma such that
  ``Phi(sqrt(2D)(gamma - 1) + 3 gamma) - Phi(sqrt(2D)(gamma - 1) - 3 gamma) ~ 0.5``
  (:func:`overlap`, :func:`num_levels`). The text says ~ 0.5; every official config
  (CIFAR-10 232 levels, CelebA 500, church 788, bedroom/tower 1086, FFHQ 2311) gives
  0.566-0.567 under this formula, so :data:`OVERLAP` = 0.5669 is the default: it reproduces
  them (0.5 gives CIFAR-10 220 levels). The criterion comes from a high-dimensional
  analysis: in very low dimension (2-D toys) it holds for any gamma, so it gives L = 2.
* T4, the Langevin step: for T steps per level, the epsilon that brings
  ``(1 - eps/sL^2)^(2T) (gamma^2 - 2 eps / (sL^2 - sL^2 (1 - eps/sL^2)^2))
  + 2 eps / (sL^2 - sL^2 (1 - eps/sL^2)^2)`` closest to 1 (:func:`langevin_step`).

T3 (the network divided by sigma) is :mod:`scorebench_ncsnv2.network`; T5 (EMA 0.999 of
the weights, used for sampling) is the trainer's ``train.ema``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

#: T2's overlap target that reproduces the official configs (see the module docstring).
OVERLAP = 0.5669

#: Points compared exactly; beyond this a random subset gives a lower bound.
EXACT_LIMIT = 20_000


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def max_pairwise_distance(
    x: torch.Tensor, *, limit: int = EXACT_LIMIT, seed: int = 0
) -> tuple[float, str]:
    """(sigma_1, how it was computed) for points ``x`` of shape [N, ...].

    Exact for N <= ``limit`` (chunked distances in float64). Larger sets: the exact value
    on a random subset of ``limit`` points, a lower bound; ``2 max |x - mean|`` is an
    upper bound, reported in the method string."""
    flat = x.reshape(len(x), -1).double()
    n = len(flat)
    if n < 2:
        raise ValueError(f"T1 needs at least 2 training points, got {n}")
    method = f"exact over all {n} points"
    if n > limit:
        upper = 2 * float((flat - flat.mean(0)).norm(dim=1).max())
        chosen = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
        flat = flat[chosen]
        method = (
            f"exact over a random {limit} of {n} points (a lower bound; upper bound {upper:.4g})"
        )
    best = 0.0
    for start in range(0, len(flat), 2048):
        chunk = torch.cdist(flat[start : start + 2048], flat)
        best = max(best, float(chunk.max()))
    return best, method


def overlap(gamma: float, dim: int) -> float:
    """T2's criterion for ratio ``gamma`` between neighbouring levels in dimension ``dim``."""
    a = math.sqrt(2 * dim) * (gamma - 1)
    return _phi(a + 3 * gamma) - _phi(a - 3 * gamma)


def num_levels(sigma_max: float, sigma_min: float, dim: int, target: float = OVERLAP) -> int:
    """The fewest geometric levels from ``sigma_max`` to ``sigma_min`` whose ratio keeps
    :func:`overlap` >= ``target``."""
    if not sigma_max > sigma_min > 0:
        raise ValueError(f"need sigma_max > sigma_min > 0, got {sigma_max}, {sigma_min}")
    span = math.log(sigma_max / sigma_min)
    if overlap(sigma_max / sigma_min, dim) >= target:
        return 2  # low dimension: even one step from sigma_max to sigma_min overlaps enough
    lo, hi = 1.0, sigma_max / sigma_min  # overlap(lo) >= target > overlap(hi)
    for _ in range(200):
        mid = math.sqrt(lo * hi) if hi / lo > 1 + 1e-15 else (lo + hi) / 2
        if overlap(mid, dim) >= target:
            lo = mid
        else:
            hi = mid
    return math.ceil(1 + span / math.log(lo) - 1e-9)


def langevin_objective(eps: float, gamma: float, sigma_min: float, steps: int) -> float:
    """T4's expression; the paper picks epsilon to bring it as close to 1 as possible."""
    s2 = sigma_min**2
    decay = (1 - eps / s2) ** 2
    term = 2 * eps / (s2 - s2 * decay)
    return decay**steps * (gamma**2 - term) + term


def langevin_step(gamma: float, sigma_min: float, steps: int) -> float:
    """The epsilon in (0, sigma_min^2) whose :func:`langevin_objective` is closest to 1: a
    log-spaced scan, then golden-section refinement around the best point."""
    s2 = sigma_min**2

    def miss(log_eps: float) -> float:
        return abs(langevin_objective(math.exp(log_eps), gamma, sigma_min, steps) - 1)

    grid = [math.log(s2) - 20 + 20 * k / 2000 for k in range(1, 2000)]
    best = min(range(len(grid)), key=lambda k: miss(grid[k]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if miss(a) < miss(b):
            hi = b
        else:
            lo = a
    return math.exp((lo + hi) / 2)


@dataclass
class Techniques:
    """What T1, T2 and T4 give for one dataset."""

    dim: int
    sigma_max: float
    sigma_max_method: str
    sigma_min: float
    num_levels: int
    gamma: float
    overlap: float
    steps_per_level: int
    step_lr: float
    objective: float

    def as_dict(self) -> dict:
        return asdict(self)


def from_sigmas(
    dim: int,
    sigma_max: float,
    sigma_min: float,
    steps_per_level: int,
    *,
    levels: int | None = None,
    method: str = "given",
    target: float = OVERLAP,
) -> Techniques:
    """T2 (unless ``levels`` is given) and T4 for a known sigma_1."""
    levels = levels or num_levels(sigma_max, sigma_min, dim, target)
    gamma = (sigma_max / sigma_min) ** (1 / (levels - 1))
    eps = langevin_step(gamma, sigma_min, steps_per_level)
    return Techniques(
        dim=dim,
        sigma_max=sigma_max,
        sigma_max_method=method,
        sigma_min=sigma_min,
        num_levels=levels,
        gamma=gamma,
        overlap=overlap(gamma, dim),
        steps_per_level=steps_per_level,
        step_lr=eps,
        objective=langevin_objective(eps, gamma, sigma_min, steps_per_level),
    )


def from_data(
    x: torch.Tensor, sigma_min: float, steps_per_level: int, target: float = OVERLAP
) -> Techniques:
    """T1, T2 and T4 for training points ``x`` [N, ...]."""
    sigma_max, method = max_pairwise_distance(x)
    return from_sigmas(
        x[0].numel(), sigma_max, sigma_min, steps_per_level, method=method, target=target
    )
