"""``oracle``: exact draws from a registered analytic score function's distribution.

The reference set of oracle benchmarks: when the score is exact, the only error left is the
sampler's, measured against i.i.d. samples of the true distribution. Each split is its own
stream (generator seeded by ``seed * 1000003 + k``, k = 0 train, 1 test). Images are 8-bit
like every image dataset, and like stored samples (clamped to [0, 1], rounded). The dataset
carries the distribution's ``mixture`` (2-D point mixtures: per-mode metrics),
``gaussian_mixture`` (any Gaussian mixture: metrics against the exact density),
``log_likelihood`` (the exact log density, where the score function has one) and
``log_likelihood_reference()`` (E_p[log p] of exact draws stored as samples are, for the
likelihood gap).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import torch

from scorebench.components import sample_shape
from scorebench.contracts import IMAGES, POINTS, kind_of
from scorebench.data.base import TensorDataset, check_positive_int, check_split
from scorebench.data.transforms import to_uint8
from scorebench.errors import ConfigError
from scorebench.metrics.exact import GaussianMixture
from scorebench.plugins import registry

_SPLIT_STREAM = {"train": 0, "test": 1}
_REFERENCE_STREAM = 2  # the exact draws behind E_p[log p]
#: Exact draws behind E_p[log p]: its Monte Carlo standard error is then about 1/300 of the
#: spread of log p, far below the gap of any sampler worth ranking.
REFERENCE_DRAWS = 100_000


def oracle(
    root: str | Path | None = None,
    split: str = "train",
    *,
    score_function: str = "",
    params: dict[str, Any] | None = None,
    n: int = 1000,
    seed: int = 0,
) -> TensorDataset:
    """``n`` exact draws from score function ``score_function`` (built with ``params``)."""
    check_split("oracle", split)
    check_positive_int("oracle", "n", n)
    check_positive_int("oracle", "seed", seed, minimum=0)
    if not score_function:
        raise ConfigError("dataset 'oracle' needs params.score_function (a registered name)")
    truth = registry("score_functions").load(score_function)(**(params or {}))
    if not callable(getattr(truth, "sample", None)):
        raise ConfigError(f"score function {score_function!r} cannot draw exact samples")
    shape = sample_shape(truth)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + _SPLIT_STREAM[split])
    ds = TensorDataset("oracle", split, stored(truth.sample(n, generator), shape))
    if kind_of(shape) == POINTS and hasattr(truth, "means") and hasattr(truth, "weights"):
        ds.mixture = truth
    mixture = GaussianMixture.of(truth)
    if mixture is not None:
        ds.gaussian_mixture = mixture
    if callable(getattr(truth, "log_prob", None)):
        ds.log_likelihood = functools.partial(_log_prob, truth, shape)
        key = (score_function, json.dumps(params or {}, sort_keys=True, default=repr), seed)
        ds.log_likelihood_reference = functools.partial(_reference, key, truth, shape)
    return ds


def stored(draws: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Exact draws as a sampler's samples are stored: images 8-bit, points float32."""
    draws = draws.reshape(len(draws), *shape)
    return to_uint8(draws) if kind_of(shape) == IMAGES else draws.to(torch.float32).contiguous()


def _log_prob(truth: Any, shape: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
    return truth.log_prob(x.to(torch.float64).reshape(len(x), *shape))


_references: dict[tuple, dict[str, float]] = {}


def _reference(key: tuple, truth: Any, shape: tuple[int, ...]) -> dict[str, float]:
    """E_p[log p] over REFERENCE_DRAWS exact draws stored as samples are (so exact samples
    score a gap of about 0), with its standard error; computed once per oracle."""
    if key not in _references:
        generator = torch.Generator().manual_seed(key[2] * 1_000_003 + _REFERENCE_STREAM)
        values = []
        for _ in range(REFERENCE_DRAWS // 10_000):  # bounded memory
            x = stored(truth.sample(10_000, generator), shape)
            x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x
            values.append(_log_prob(truth, shape, x).to(torch.float64))
        v = torch.cat(values)
        _references[key] = {
            "mean": float(v.mean()),
            "standard_error": float(v.std() / math.sqrt(len(v))),
            "draws": len(v),
        }
    return _references[key]
