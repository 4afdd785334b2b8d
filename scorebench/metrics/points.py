"""Metrics for 2-D (or any D) point sets, written here because torch-fidelity has none.

* :func:`sliced_wasserstein`: sliced 2-Wasserstein distance. ``n_projections`` directions
  uniform on the unit sphere (seeded); along each, the 1-D W2 between the two empirical
  distributions, computed from their quantile functions at ``max(n, m)`` mid-point levels
  (linear interpolation); SWD = sqrt(mean over directions of W2^2). Same units as the data.
* :func:`mmd_rbf`: squared maximum mean discrepancy with the Gaussian kernel
  ``k(x, y) = exp(-|x - y|^2 / (2 bandwidth^2))``, unbiased estimate (diagonals dropped; can
  be slightly negative when the sets match). The bandwidth is FIXED (default 1.0, the
  standard deviation of the NCSN toy's components), never a median heuristic, so values of
  different runs are comparable.
* :func:`mode_weight_error`: each sample goes to its nearest mode; the fraction per mode is
  compared with the mixture's weights; the error is the largest absolute difference.
* :func:`log_likelihood_gap`: the mean exact log density of the samples, minus that of
  exact draws (``E_q[log p] - E_p[log p]``), for datasets that know their density; its
  absolute value is the ranked distance (a sampler cannot win it by crowding the modes).

The classes at the end are the registered sample metrics (:class:`scorebench.api.SampleMetric`):
each says what goes into the protocol and computes its values from the samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from scorebench.errors import ConfigError

SWD_PROJECTIONS = 256
MMD_BANDWIDTH = 1.0


def checked_points(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{name} must be a torch.Tensor of points (N, D), got {type(x).__name__}")
    if x.dim() != 2 or x.shape[0] < 2:
        raise ConfigError(f"{name} must have shape (N, D) with N >= 2, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ConfigError(f"{name} contains NaN or infinite values")
    return x.to(torch.float64)


def sliced_wasserstein(
    samples: torch.Tensor,
    reference: torch.Tensor,
    *,
    n_projections: int = SWD_PROJECTIONS,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    x, y = checked_points(samples, "samples"), checked_points(reference, "reference")
    if x.shape[1] != y.shape[1]:
        raise ConfigError(f"samples have {x.shape[1]} dimensions, reference {y.shape[1]}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    directions = torch.randn(
        n_projections, x.shape[1], generator=generator, dtype=torch.float64, device="cpu"
    ).to(x.device)
    directions = directions / directions.norm(dim=1, keepdim=True)
    k = max(len(x), len(y))
    levels = (torch.arange(k, dtype=torch.float64, device=x.device) + 0.5) / k
    w2_sq = []
    for d in directions.split(32):  # bounded memory for large N
        px = torch.quantile((x @ d.T).T, levels, dim=1)
        py = torch.quantile((y @ d.T).T, levels, dim=1)
        w2_sq.append(((px - py) ** 2).mean(dim=0))
    return {"swd": float(torch.cat(w2_sq).mean().sqrt())}


def kernel_sum(a: torch.Tensor, b: torch.Tensor, gamma: float, block: int = 4096) -> float:
    """sum_ij exp(-gamma |a_i - b_j|^2), in blocks (N x M never materialised whole)."""
    total = 0.0
    for ab in a.split(block):
        for bb in b.split(block):
            total += float(torch.exp(-gamma * torch.cdist(ab, bb).pow(2)).sum())
    return total


def mmd_rbf(
    samples: torch.Tensor, reference: torch.Tensor, *, bandwidth: float = MMD_BANDWIDTH
) -> dict[str, float]:
    x, y = checked_points(samples, "samples"), checked_points(reference, "reference")
    if x.shape[1] != y.shape[1]:
        raise ConfigError(f"samples have {x.shape[1]} dimensions, reference {y.shape[1]}")
    if not bandwidth > 0:
        raise ConfigError(f"MMD bandwidth must be > 0, got {bandwidth!r}")
    gamma = 1.0 / (2.0 * bandwidth**2)
    n, m = len(x), len(y)
    kxx = (kernel_sum(x, x, gamma) - n) / (n * (n - 1))  # k(x, x) = 1 on the diagonal
    kyy = (kernel_sum(y, y, gamma) - m) / (m * (m - 1))
    kxy = kernel_sum(x, y, gamma) / (n * m)
    return {"mmd2": kxx + kyy - 2.0 * kxy}


def mode_weight_error(
    samples: torch.Tensor, *, means: Sequence[Sequence[float]], weights: Sequence[float]
) -> dict[str, float | list[float]]:
    """Against the known mixture (``means`` (K, D), ``weights`` (K,)): no reference set."""
    x = checked_points(samples, "samples")
    mu = torch.as_tensor(means, dtype=torch.float64, device=x.device)
    w = torch.as_tensor(weights, dtype=torch.float64)
    if mu.dim() != 2 or mu.shape[1] != x.shape[1] or len(w) != len(mu):
        raise ConfigError("mode_weight_error: means (K, D) and weights (K,) must match the data")
    nearest = torch.cdist(x, mu).argmin(dim=1).cpu()
    found = torch.bincount(nearest, minlength=len(mu)).to(torch.float64) / len(x)
    return {
        "mode_weights": [float(v) for v in found],
        "mode_weight_error": float((found - w).abs().max()),
    }


def log_likelihood_gap(samples: torch.Tensor, dataset: Any) -> dict[str, float]:
    """``E_q[log p]`` over the samples (uint8 images scaled to [0, 1], as the data are), and
    its gap to ``E_p[log p]`` (``dataset.log_likelihood_reference()``)."""
    x = samples.to(torch.float32) / 255.0 if samples.dtype == torch.uint8 else samples
    mean = float(dataset.log_likelihood(x).mean())
    gap = mean - dataset.log_likelihood_reference()["mean"]
    return {"log_likelihood": mean, "loglik_gap": gap, "abs_loglik_gap": abs(gap)}


# ---------------------------------------------------------------- registered metrics


class SlicedWasserstein:
    def settings(self, dataset: Any, seed: int) -> dict[str, Any]:
        return {
            "p": 2,
            "projections": SWD_PROJECTIONS,
            "directions": f"normal(seed={seed}) normalised",
            "quantile_levels": "(i + 0.5) / max(n, m), linear interpolation",
        }

    def __call__(
        self, samples: torch.Tensor, *, reference: Callable, dataset: Any, seed: int
    ) -> dict[str, float]:
        generator = torch.Generator().manual_seed(seed)
        return sliced_wasserstein(samples, reference(), generator=generator)


class MMD:
    def settings(self, dataset: Any, seed: int) -> dict[str, Any]:
        return {
            "kernel": "gaussian exp(-|x-y|^2 / (2 bandwidth^2))",
            "bandwidth": MMD_BANDWIDTH,
            "estimator": "unbiased (U-statistic within sets)",
        }

    def __call__(
        self, samples: torch.Tensor, *, reference: Callable, dataset: Any, seed: int
    ) -> dict[str, float]:
        return mmd_rbf(samples, reference(), bandwidth=MMD_BANDWIDTH)


class ModeWeights:
    def settings(self, dataset: Any, seed: int) -> dict[str, Any]:
        mixture = dataset.mixture
        return {
            "means": [list(map(float, mu)) for mu in mixture.means],
            "weights": [float(w) for w in mixture.weights],
            "assignment": "nearest mean (Euclidean)",
            "error": "max_k |fraction_k - weight_k|",
        }

    def __call__(
        self, samples: torch.Tensor, *, reference: Callable, dataset: Any, seed: int
    ) -> dict[str, float | list[float]]:
        mixture = dataset.mixture
        return mode_weight_error(samples, means=mixture.means, weights=mixture.weights)


class LogLikelihood:
    def settings(self, dataset: Any, seed: int) -> dict[str, Any]:
        reference = dataset.log_likelihood_reference()
        return {
            "density": "the dataset's exact log density (sigma = 0)",
            "of": "the samples as stored (images: uint8 / 255)",
            "reduction": "mean over samples, minus E_p[log p]",
            "E_p[log p]": round(reference["mean"], 6),
            "E_p[log p] from": f"{reference['draws']} exact draws stored as samples are",
        }

    def __call__(
        self, samples: torch.Tensor, *, reference: Callable, dataset: Any, seed: int
    ) -> dict[str, float]:
        return log_likelihood_gap(samples, dataset)
