"""Metrics against a Gaussian mixture's exact density (the oracles'), not a second sample.

For ``p = sum_k w_k N(mu_k, C_k)`` and the Gaussian kernel ``k(x, y) = exp(-|x - y|^2 /
(2 h^2))``, the terms of MMD^2(q, p) that involve p are Gaussian integrals:

* ``E_{x ~ N(mu, C)} k(y, x) = det(I + C / h^2)^(-1/2) exp(-(y - mu)^T (C + h^2 I)^-1 (y - mu) / 2)``;
* ``E_{x, x' ~ p} k(x, x') = sum_kl w_k w_l det(I + (C_k + C_l) / h^2)^(-1/2)
  exp(-d^T (C_k + C_l + h^2 I)^-1 d / 2)``, with ``d = mu_k - mu_l``.

So ``MMD^2 = mean_{i != j} k(y_i, y_j) - 2 mean_i E_p k(y_i, .) + E_pp k``: unbiased, and the
only noise left is the samples' own (under q = p it shrinks as 1/n, a degenerate
U-statistic; under q != p as 1/sqrt(n)). The bandwidth is fixed per mixture: ``h^2`` is the
mean within-component variance ``sum_k w_k tr C_k``, so two draws of one component have
``k`` near ``e^-1``: the kernel sees the shape inside the modes, not only their weights.

The log-likelihood gap ``E_q[log p] - E_p[log p]`` is the other distance here: a sampler
that crowds the modes has a positive gap, one that spreads too wide a negative one, and
exact samples about 0 (``E_p[log p]`` from a large exact draw stored as samples are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from scorebench.metrics.points import checked_points, kernel_sum


@dataclass(frozen=True)
class GaussianMixture:
    """``p = sum_k w_k N(mu_k, C_k)`` in float64: ``means [K, D]``, ``covariances
    [K, D, D]``, ``weights [K]`` (summing to 1)."""

    means: torch.Tensor
    covariances: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def of(cls, truth: Any) -> GaussianMixture | None:
        """The mixture a score function is, when it says so: ``means`` and ``weights``, and
        ``covariances`` or an isotropic ``std`` (a sigma-dependent component std is not a
        fixed density: None)."""
        means, weights = getattr(truth, "means", None), getattr(truth, "weights", None)
        if means is None or weights is None:
            return None
        means = torch.as_tensor(means, dtype=torch.float64)
        covariances = getattr(truth, "covariances", None)
        if covariances is None:
            std = getattr(truth, "std", None)
            if (
                not isinstance(std, (int, float))
                or getattr(truth, "component_std", None) == "sigma"
            ):
                return None
            covariances = std**2 * torch.eye(means.shape[1], dtype=torch.float64).expand(
                len(means), -1, -1
            )
        weights = torch.as_tensor(weights, dtype=torch.float64)
        return cls(
            means, torch.as_tensor(covariances, dtype=torch.float64), weights / weights.sum()
        )

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def bandwidth(self) -> float:
        """``sqrt(sum_k w_k tr C_k)``: the spread of one component."""
        traces = self.covariances.diagonal(dim1=1, dim2=2).sum(1)
        return math.sqrt(float((self.weights * traces).sum()))

    def kernel_mean(self, y: torch.Tensor, h: float) -> torch.Tensor:
        """``E_{x ~ p} k(y_i, x)`` for each row of ``y [n, D]``."""
        eye = torch.eye(self.dim, dtype=torch.float64)
        out = torch.zeros(len(y), dtype=torch.float64)
        for mu, cov, w in zip(self.means, self.covariances, self.weights, strict=True):
            chol = torch.linalg.cholesky(cov + h**2 * eye)
            white = torch.linalg.solve_triangular(chol, (y - mu).T, upper=False)
            log_c = -0.5 * torch.logdet(eye + cov / h**2)
            out += w * torch.exp(log_c - 0.5 * (white**2).sum(0))
        return out

    def kernel_self(self, h: float) -> float:
        """``E_{x, x' ~ p} k(x, x')``."""
        eye = torch.eye(self.dim, dtype=torch.float64)
        total = 0.0
        for k in range(len(self.weights)):
            for m in range(len(self.weights)):
                cov = self.covariances[k] + self.covariances[m]
                d = self.means[k] - self.means[m]
                quad = d @ torch.linalg.solve(cov + h**2 * eye, d)
                log_c = -0.5 * torch.logdet(eye + cov / h**2)
                total += float(self.weights[k] * self.weights[m] * torch.exp(log_c - 0.5 * quad))
        return total


def exact_mmd2(samples: torch.Tensor, mixture: GaussianMixture, h: float) -> float:
    """Unbiased MMD^2 between the points ``samples [n, D]`` and the mixture itself."""
    y = checked_points(samples, "samples")
    n, gamma = len(y), 1.0 / (2.0 * h**2)
    within = (kernel_sum(y, y, gamma) - n) / (n * (n - 1))  # k(y, y) = 1 on the diagonal
    return within - 2.0 * float(mixture.kernel_mean(y, h).mean()) + mixture.kernel_self(h)


# ---------------------------------------------------------------- registered metrics


class ExactMMD:
    """``mmd-exact``: MMD^2 to the true density of a dataset that is a Gaussian mixture."""

    def settings(self, dataset: Any, seed: int) -> dict[str, Any]:
        mixture = dataset.gaussian_mixture
        return {
            "kernel": "gaussian exp(-|x-y|^2 / (2 bandwidth^2))",
            "bandwidth": round(mixture.bandwidth(), 10),
            "bandwidth_rule": "sqrt(sum_k w_k tr C_k): the spread of one component",
            "estimator": "unbiased in the samples; the terms with p in closed form",
        }

    def __call__(
        self, samples: torch.Tensor, *, reference: Any, dataset: Any, seed: int
    ) -> dict[str, float]:
        mixture = dataset.gaussian_mixture
        return {"mmd2_exact": exact_mmd2(samples, mixture, mixture.bandwidth())}
