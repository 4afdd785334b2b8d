"""``oracle``: exact draws from a registered analytic score function's distribution.

The reference set of oracle benchmarks: when the score is exact, the only error left is the
sampler's, measured against i.i.d. samples of the true distribution. Each split is its own
stream (generator seeded by ``seed * 1000003 + k``, k = 0 train, 1 test). Images are clamped
to [0, 1] like every image dataset. The dataset carries the distribution's ``mixture``
(2-D point mixtures: per-mode metrics) and ``log_likelihood`` (the exact log density, where
the score function has one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from scorebench.components import sample_shape
from scorebench.contracts import IMAGES, POINTS, kind_of
from scorebench.data.base import TensorDataset, check_positive_int, check_split
from scorebench.errors import ConfigError
from scorebench.plugins import registry

_SPLIT_STREAM = {"train": 0, "test": 1}


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
    data = truth.sample(n, generator).to(torch.float32).reshape(n, *shape)
    if kind_of(shape) == IMAGES:
        data = data.clamp(0, 1)
    ds = TensorDataset("oracle", split, data.contiguous())
    if kind_of(shape) == POINTS and hasattr(truth, "means") and hasattr(truth, "weights"):
        ds.mixture = truth
    if callable(getattr(truth, "log_prob", None)):
        ds.log_likelihood = lambda x: truth.log_prob(x.to(torch.float64).reshape(len(x), *shape))
    return ds
