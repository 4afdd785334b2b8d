"""The analytic score of an isotropic Gaussian mixture at any noise level.

A ground truth for samplers: no training, exact scores, exact samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from scorebench.api import ConfigError
from scorebench.checks import integer, number

#: How the mixture's components widen with the noise level sigma.
#: "convolved": the true perturbed density p * N(0, sigma^2 I); component variance
#: std^2 + sigma^2 (what a perfectly trained DSM network learns).
#: "sigma": components of standard deviation sigma (the paper's toy experiment and the official
#: code's analytic score), so at sigma = std the density is p itself.
COMPONENT_STDS = ("convolved", "sigma")


class GaussianMixtureScore:
    """``p(x) = sum_k w_k N(x; mu_k, std^2 I)`` and its score at noise level sigma.

    ``means`` has shape ``[K, D]``, ``weights`` shape ``[K]`` (positive; normalised here).
    Calling the object, ``gmm(x, sigma)``, gives the score of the mixture at level ``sigma``
    (see :data:`COMPONENT_STDS`) for ``x`` of shape ``[B, D]`` (or ``[B, *shape]`` with
    ``prod(shape) == D``) and ``sigma`` a scalar or one value per sample. The score is
    ``sum_k r_k(x) (mu_k - x) / var`` with responsibilities ``r`` computed by a softmax of
    log-weights, so it stays finite far from every component.
    """

    def __init__(
        self,
        means: Sequence[Sequence[float]] | torch.Tensor,
        weights: Sequence[float] | torch.Tensor,
        std: float = 1.0,
        component_std: str = "convolved",
    ) -> None:
        means = torch.as_tensor(means, dtype=torch.float64)
        weights = torch.as_tensor(weights, dtype=torch.float64)
        if means.dim() != 2 or means.shape[0] == 0 or means.shape[1] == 0:
            raise ConfigError(f"means must have shape [components, dim], got {tuple(means.shape)}.")
        if weights.shape != (means.shape[0],):
            raise ConfigError(
                f"weights must have one entry per component ({means.shape[0]}), got shape "
                f"{tuple(weights.shape)}."
            )
        if not bool(torch.isfinite(means).all()):
            raise ConfigError("means must be finite.")
        if not bool(torch.isfinite(weights).all()) or not bool((weights > 0).all()):
            raise ConfigError(f"weights must be finite and > 0, got {weights.tolist()}.")
        number("std", std)
        if component_std not in COMPONENT_STDS:
            raise ConfigError(
                f"unknown component_std {component_std!r}; choose one of "
                f"{', '.join(repr(c) for c in COMPONENT_STDS)}."
            )
        self.means = means
        self.weights = weights / weights.sum()
        self.std = float(std)
        self.component_std = component_std
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def __repr__(self) -> str:
        return (
            f"GaussianMixtureScore(components={self.means.shape[0]}, dim={self.dim}, "
            f"std={self.std!r}, component_std={self.component_std!r})"
        )

    def _params(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        # Moved once per device and dtype: samplers call the score thousands of times.
        key = (device, dtype)
        if key not in self._cache:
            means = self.means.to(device=device, dtype=dtype)
            self._cache[key] = (means, self.weights.log().to(device=device, dtype=dtype))
        return self._cache[key]

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
            raise ConfigError(
                "expected a floating-point tensor of shape [batch, dim], got "
                f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}."
            )
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] != self.dim:
            raise ConfigError(
                f"the mixture is {self.dim}-dimensional but x has shape {tuple(x.shape)}."
            )
        return flat

    def _variance(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """Per-sample component variance, shape [B]."""
        batch = x.shape[0]
        if sigma is None:
            return torch.full((batch,), self.std**2, device=x.device, dtype=x.dtype)
        sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
        if sigma.dim() > 1 or (sigma.dim() == 1 and sigma.shape[0] not in (1, batch)):
            raise ConfigError(
                f"sigma must be a scalar or have one value per sample ({batch}), got shape "
                f"{tuple(sigma.shape)}."
            )
        sigma = sigma.expand(batch)
        if self.component_std == "convolved":
            return self.std**2 + sigma**2
        return sigma**2

    def _log_joint(self, flat: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(x; mu_k, var I) for every sample and component, shape [B, K]."""
        means, log_w = self._params(flat.device, flat.dtype)
        sq_dist = (flat[:, None, :] - means[None]).pow(2).sum(dim=-1)
        log_norm = -0.5 * self.dim * torch.log(2 * math.pi * var)
        return log_w[None] - sq_dist / (2 * var[:, None]) + log_norm[:, None]

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        flat = self._flatten(x)
        var = self._variance(flat, sigma)
        means, _ = self._params(flat.device, flat.dtype)
        resp = torch.softmax(self._log_joint(flat, var), dim=1)
        score = (resp @ means - flat) / var[:, None]
        return score.view_as(x)

    def log_prob(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """Log density at noise level ``sigma`` (``None``: the data density p), shape [B]."""
        flat = self._flatten(x)
        return torch.logsumexp(self._log_joint(flat, self._variance(flat, sigma)), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` i.i.d. draws from p, shape ``[n, D]``, on the generator's device (CPU if none)."""
        integer("n", n)
        device = generator.device if generator is not None else torch.device("cpu")
        means, _ = self._params(device, torch.float32)
        weights = self.weights.to(device=device, dtype=torch.float32)
        idx = torch.multinomial(weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, device=device)
        return means[idx] + self.std * noise


def toy_gmm(**overrides) -> GaussianMixtureScore:
    """The paper's toy mixture ``p = 0.2 N((-5,-5), I) + 0.8 N((5,5), I)`` (section 3.2).

    Keyword arguments override the constructor's (``means``, ``weights``, ``std``,
    ``component_std``); the paper's annealed experiment uses ``component_std="sigma"``.
    """
    allowed = {"means", "weights", "std", "component_std"}
    unknown = set(overrides) - allowed
    if unknown:
        raise ConfigError(
            f"unknown toy_gmm argument(s) {sorted(unknown)}; allowed: {sorted(allowed)}."
        )
    from scorebench.api import TOY_GMM  # the one definition of the paper's mixture

    params = {"means": TOY_GMM.means, "weights": TOY_GMM.weights, "std": TOY_GMM.std}
    params.update(overrides)
    return GaussianMixtureScore(**params)
