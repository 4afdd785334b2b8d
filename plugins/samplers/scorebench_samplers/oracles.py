"""Oracle score functions: Gaussian mixtures with full covariances, exact at every noise level.

A sampler run on an oracle has no network error: whatever is left is the sampler's own
(discretisation, step sizes, noise schedule). The mixture ``p = sum_k w_k N(mu_k, C_k)``
perturbed by ``N(0, sigma^2 I)`` is again a mixture, of ``N(mu_k, C_k + sigma^2 I)``, so its
score and density are known in closed form, and i.i.d. samples of ``p`` are exact.

``digits-gmm`` is such a mixture in 64 dimensions, fitted once to scikit-learn's digits
train split (:mod:`scorebench_samplers.fit_digits_gmm`) and shipped as a checksummed file.
Its samples are Gaussian, so not confined to [0, 1] like the digits (about 30% of sampled
pixels fall outside, mostly blank border pixels jittering around 0 with the fit's variance
floor): the evaluation clamps and quantises images anyway, as for any sampler's output.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scorebench.api import ConfigError, ScorebenchError
from scorebench.checks import integer

__all__ = [
    "DIGITS_GMM_FILE",
    "DIGITS_GMM_SHA256",
    "DIGITS_SHAPE",
    "FIT_COMMAND",
    "FullCovarianceGMM",
    "digits_gmm",
]

#: The shipped digits mixture (package data) and its checksum: the same file on every machine.
DIGITS_GMM_FILE = Path(__file__).parent / "data" / "digits-gmm-v1.npz"
DIGITS_GMM_SHA256 = "5333056512b2ece44db104aeba3bf82c837a5928a716b3391cb1dbd637b67940"
#: The command that produced DIGITS_GMM_FILE (also recorded inside it), run from the repository
#: root with one thread.
FIT_COMMAND = (
    "python -m scorebench_samplers.fit_digits_gmm "
    "--out plugins/samplers/scorebench_samplers/data/digits-gmm-v1.npz"
)
DIGITS_SHAPE = (1, 8, 8)

#: A covariance whose eigenvalues spread wider than this is singular in float64 terms: its
#: score at sigma = 0 would be dominated by rounding error.
MAX_CONDITION = 1e12
#: Relative asymmetry tolerated in a covariance (rounding in whoever computed it).
SYMMETRY_TOL = 1e-10


def _float64(name: str, value: Any) -> torch.Tensor:
    try:
        t = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be an array of numbers ({exc}).") from exc
    if t.dtype == torch.bool or t.is_complex():
        raise ConfigError(f"{name} must be an array of numbers, got dtype {t.dtype}.")
    t = t.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{name} must be finite.")
    return t


class FullCovarianceGMM:
    """``p(x) = sum_k w_k N(x; mu_k, C_k)`` and its exact score at any noise level.

    ``means`` has shape ``[K, D]``, ``covariances`` ``[K, D, D]`` (symmetric positive
    definite), ``weights`` ``[K]`` (positive; normalised here). ``shape`` is one sample's
    shape (default ``(D,)``); ``x`` may be given as ``[B, *shape]`` or ``[B, D]``.

    ``gmm(x, sigma)`` is the score of ``p * N(0, sigma^2 I)``, for ``sigma`` a scalar or one
    value per sample: ``sum_k r_k(x) (C_k + sigma^2 I)^-1 (mu_k - x)``, responsibilities ``r``
    by a softmax of log-weights plus log-densities, so it stays finite far from the data and
    down to ``sigma = 0``. It is computed in float64 in each component's eigenbasis
    ``C_k = U_k diag(lam_k) U_k^T`` (found once), where ``C_k + sigma^2 I`` is diagonal for
    every sigma; the result comes back in x's dtype and shape.
    """

    def __init__(
        self,
        means: Sequence[Sequence[float]] | torch.Tensor | np.ndarray,
        covariances: Sequence[Sequence[Sequence[float]]] | torch.Tensor | np.ndarray,
        weights: Sequence[float] | torch.Tensor | np.ndarray,
        shape: Sequence[int] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        means = _float64("means", means)
        covariances = _float64("covariances", covariances)
        weights = _float64("weights", weights)
        if means.dim() != 2 or 0 in means.shape:
            raise ConfigError(f"means must have shape [components, dim], got {tuple(means.shape)}.")
        k, d = means.shape
        if covariances.shape != (k, d, d):
            raise ConfigError(
                f"covariances must have shape [components, dim, dim] = {(k, d, d)}, got "
                f"{tuple(covariances.shape)}."
            )
        if weights.shape != (k,):
            raise ConfigError(
                f"weights must have one entry per component ({k}), got shape "
                f"{tuple(weights.shape)}."
            )
        if not bool((weights > 0).all()):
            raise ConfigError(f"weights must be > 0, got {weights.tolist()}.")
        shape = (d,) if shape is None else tuple(shape)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape) or (
            math.prod(shape) != d
        ):
            raise ConfigError(
                f"shape must be positive integers whose product is the dimension {d}, got {shape}."
            )

        scale = covariances.abs().amax(dim=(1, 2))
        asymmetry = (covariances - covariances.mT).abs().amax(dim=(1, 2))
        asymmetric = torch.nonzero(asymmetry > SYMMETRY_TOL * scale).flatten().tolist()
        if asymmetric:
            i = asymmetric[0]
            raise ConfigError(
                f"covariance {i} is not symmetric (max |C - C^T| {asymmetry[i]:.3g})."
            )
        covariances = (covariances + covariances.mT) / 2
        lam, vectors = torch.linalg.eigh(covariances)
        for i in range(k):
            if not lam[i, 0] > lam[i, -1] / MAX_CONDITION:
                raise ConfigError(
                    f"covariance {i} is not positive definite (eigenvalues from "
                    f"{lam[i, 0]:.3g} to {lam[i, -1]:.3g}; the smallest must be > 0 and above "
                    f"1/{MAX_CONDITION:g} of the largest)."
                )

        self._means = means
        self._covariances = covariances
        self._weights = weights / weights.sum()
        self._lam = lam
        self._vectors = vectors
        self._shape = shape
        self.metadata = dict(metadata or {})
        self._cache: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    @property
    def dim(self) -> int:
        return self._means.shape[1]

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def means(self) -> torch.Tensor:
        """``[K, D]`` float64."""
        return self._means

    @property
    def covariances(self) -> torch.Tensor:
        """``[K, D, D]`` float64 (symmetrised)."""
        return self._covariances

    @property
    def weights(self) -> torch.Tensor:
        """``[K]`` float64, summing to 1."""
        return self._weights

    def __repr__(self) -> str:
        return (
            f"FullCovarianceGMM(components={self._means.shape[0]}, dim={self.dim}, "
            f"shape={self._shape})"
        )

    def _params(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        # Moved once per device: samplers call the score thousands of times.
        if device not in self._cache:
            self._cache[device] = tuple(
                t.to(device) for t in (self._means, self._vectors, self._lam, self._weights.log())
            )
        return self._cache[device]

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ConfigError(
                f"expected a floating-point tensor [batch, *{self._shape}], got {got}."
            )
        if x.shape[1:] not in (self._shape, (self.dim,)):
            raise ConfigError(
                f"x must have shape [batch, *{self._shape}] or [batch, {self.dim}], got "
                f"{tuple(x.shape)}."
            )
        return x.reshape(x.shape[0], self.dim).to(torch.float64)

    def _noise_variance(self, sigma: Any, batch: int, device: torch.device) -> torch.Tensor:
        """sigma^2 per sample, shape [B]."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=device)
        if sigma.dim() > 1 or (sigma.dim() == 1 and sigma.shape[0] not in (1, batch)):
            raise ConfigError(
                f"sigma must be a scalar or have one value per sample ({batch}), got shape "
                f"{tuple(sigma.shape)}."
            )
        return (sigma * sigma).expand(batch)

    def _components(self, flat: torch.Tensor, sigma: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(log w_k + log N(x; mu_k, C_k + s^2 I) [B, K], (C_k + s^2 I)^-1 (x - mu_k) in the
        eigenbasis of C_k [B, K, D])."""
        means, vectors, lam, log_w = self._params(flat.device)
        noise = self._noise_variance(sigma, flat.shape[0], flat.device)
        # Coordinates of x - mu_k along C_k's eigenvectors: there C_k + s^2 I is diagonal.
        y = torch.einsum("bkd,kde->bke", flat[:, None, :] - means, vectors)
        var = lam + noise[:, None, None]
        white = y / var
        quad = (y * white).sum(-1)
        log_det = var.log().sum(-1)
        log_joint = log_w - 0.5 * (quad + log_det + self.dim * math.log(2 * math.pi))
        return log_joint, white

    def __call__(self, x: torch.Tensor, sigma: Any) -> torch.Tensor:
        flat = self._flatten(x)
        log_joint, white = self._components(flat, sigma)
        resp = torch.softmax(log_joint, dim=1)
        _, vectors, _, _ = self._params(flat.device)
        # Back from each eigenbasis: -sum_k r_k U_k white_k = sum_k r_k (C_k + s^2 I)^-1 (mu_k - x).
        score = -torch.einsum("bke,kde->bd", resp[..., None] * white, vectors)
        return score.to(x.dtype).reshape(x.shape)

    def log_prob(self, x: torch.Tensor, sigma: Any = 0.0) -> torch.Tensor:
        """Log density of ``p * N(0, sigma^2 I)`` per sample, shape [B], in x's dtype."""
        flat = self._flatten(x)
        log_joint, _ = self._components(flat, sigma)
        return torch.logsumexp(log_joint, dim=1).to(x.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` i.i.d. draws from p, float32 ``[n, *shape]``, on the generator's device."""
        integer("n", n)
        device = generator.device if generator is not None else torch.device("cpu")
        means, vectors, lam, log_w = self._params(device)
        idx = torch.multinomial(log_w.exp(), n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, device=device, dtype=torch.float64)
        out = torch.empty(n, self.dim, device=device, dtype=torch.float64)
        for k in range(means.shape[0]):
            rows = idx == k
            # x = mu_k + U_k diag(sqrt(lam_k)) z, written for row vectors.
            out[rows] = means[k] + (z[rows] * lam[k].sqrt()) @ vectors[k].T
        return out.to(torch.float32).reshape(n, *self._shape)


def digits_gmm(points: bool = False) -> FullCovarianceGMM:
    """Component ``digits-gmm``: the shipped 64-D mixture fitted to the digits train split,
    shape ``(1, 8, 8)``, pixel scale [0, 1] (samples are not clamped). The file's recipe and
    train/test log-likelihoods are in ``metadata``.

    ``points=True`` gives the same mixture as 64-D points: samples are then stored as they
    are drawn. As images they are stored clamped to [0, 1] and 8-bit, which moves 29% of the
    mixture's coordinates: measuring a sampler against the exact density needs points."""
    if not isinstance(points, bool):
        raise ConfigError(f"digits-gmm: points must be true or false, got {points!r}.")
    path = DIGITS_GMM_FILE
    try:
        data = path.read_bytes()  # read once: the bytes checked are the bytes loaded
    except OSError as exc:
        raise ScorebenchError(
            f"the digits-gmm file {str(path)!r} cannot be read ({exc}). Reinstall "
            "scorebench-samplers (the file ships with it)."
        ) from exc
    sha = hashlib.sha256(data).hexdigest()
    if sha != DIGITS_GMM_SHA256:
        raise ScorebenchError(
            f"the shipped digits-gmm file {path} is damaged or replaced (SHA-256 {sha[:16]}..., "
            f"expected {DIGITS_GMM_SHA256[:16]}...). Reinstall scorebench-samplers; a refitted "
            f"mixture ({FIT_COMMAND}) is another oracle."
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        params = {key: arrays[key] for key in ("means", "covariances", "weights")}
        metadata = {key: arrays[key].item() for key in arrays.files if key not in params}
    shape = (math.prod(DIGITS_SHAPE),) if points else DIGITS_SHAPE
    return FullCovarianceGMM(**params, shape=shape, metadata=metadata)
