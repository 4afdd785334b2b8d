"""2-D point datasets, drawn once with a fixed seed.

* ``toy-gmm``: the NCSN paper's toy (section 3.2), ``0.2 N((-5,-5), I) + 0.8 N((5,5), I)``;
  :data:`TOY_GMM` holds its parameters so that metrics can compute per-mode weights (also
  attached to the dataset as ``mixture``).
* ``rings``: two concentric circles (``make_circles``, radius 1 and ``factor``, noise ``noise``).
* ``moons``: two interleaving half circles (``make_moons``, noise ``noise``).

Each split is drawn from its own stream: ``numpy.random.SeedSequence([seed, k])`` with
``k = 0`` for train and ``1`` for test, so train and test never share points and every
``(seed, split)`` pair is reproducible. Items are float32 tensors of shape ``(2,)``; the
component (toy-gmm) or class (rings, moons) of each point is in ``targets``. The metric
reference is the train split. ``root`` is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scorebench.checks import number
from scorebench.data.base import TensorDataset, check_positive_int, check_split
from scorebench.errors import ConfigError

__all__ = ["TOY_GMM", "GaussianMixture2D", "moons", "rings", "toy_gmm"]

_SPLIT_STREAM = {"train": 0, "test": 1}


@dataclass(frozen=True)
class GaussianMixture2D:
    """An isotropic 2-D Gaussian mixture: component k has mean ``means[k]``, weight
    ``weights[k]`` and covariance ``std**2 * I``."""

    means: tuple[tuple[float, float], ...]
    weights: tuple[float, ...]
    std: float


#: The NCSN toy mixture (Song & Ermon 2019, section 3.2).
TOY_GMM = GaussianMixture2D(means=((-5.0, -5.0), (5.0, 5.0)), weights=(0.2, 0.8), std=1.0)


def _rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_STREAM[split]]))


def _check_common(name: str, split: str, n: int, seed: int) -> None:
    check_split(name, split)
    check_positive_int(name, "n", n)
    check_positive_int(name, "seed", seed, minimum=0)


def _check_noise(name: str, noise: float) -> float:
    return number(f"dataset {name!r}: noise", noise, minimum=0, inclusive=True)


def _points(name: str, split: str, x: np.ndarray, y: np.ndarray) -> TensorDataset:
    data = torch.as_tensor(x, dtype=torch.float32).contiguous()
    return TensorDataset(
        name, split, data, targets=torch.as_tensor(y, dtype=torch.long), reference_split="train"
    )


def toy_gmm(
    root: str | Path | None = None, split: str = "train", *, n: int = 10000, seed: int = 0
) -> TensorDataset:
    """``n`` i.i.d. draws from :data:`TOY_GMM`; ``targets`` is each draw's component."""
    _check_common("toy-gmm", split, n, seed)
    rng = _rng(seed, split)
    means = np.asarray(TOY_GMM.means)
    component = rng.choice(len(TOY_GMM.weights), size=n, p=TOY_GMM.weights)
    x = means[component] + TOY_GMM.std * rng.standard_normal((n, 2))
    data = _points("toy-gmm", split, x, component)
    data.mixture = TOY_GMM  # the true distribution, for per-mode metrics
    return data


def rings(
    root: str | Path | None = None,
    split: str = "train",
    *,
    n: int = 10000,
    seed: int = 0,
    noise: float = 0.05,
    factor: float = 0.5,
) -> TensorDataset:
    """Two concentric circles (radii 1 and ``factor``), half the points each."""
    from sklearn.datasets import make_circles

    _check_common("rings", split, n, seed)
    noise = _check_noise("rings", noise)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
        raise ConfigError(f"dataset 'rings': factor must be in (0, 1), got {factor!r}")
    x, y = make_circles(
        n_samples=n, noise=noise, factor=float(factor), random_state=_sklearn_state(seed, split)
    )
    return _points("rings", split, x, y)


def moons(
    root: str | Path | None = None,
    split: str = "train",
    *,
    n: int = 10000,
    seed: int = 0,
    noise: float = 0.05,
) -> TensorDataset:
    """Two interleaving half circles, half the points each."""
    from sklearn.datasets import make_moons

    _check_common("moons", split, n, seed)
    noise = _check_noise("moons", noise)
    x, y = make_moons(n_samples=n, noise=noise, random_state=_sklearn_state(seed, split))
    return _points("moons", split, x, y)


def _sklearn_state(seed: int, split: str) -> np.random.RandomState:
    # scikit-learn wants a RandomState; seed it from the same per-split stream.
    return np.random.RandomState(int(_rng(seed, split).integers(0, 2**32 - 1)))
