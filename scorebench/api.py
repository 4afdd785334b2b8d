"""What a plugin author imports: every contract, the helpers a plugin needs, and every rule.

First-party plugins import the core only through this module and :mod:`scorebench.checks`
(parameter checks); a test holds them to it. The types are in :mod:`scorebench.contracts`;
importing this module imports no torch (the torch-backed helpers load on first use), so
listing plugins stays fast.

A plugin registers components from its ``register_<kind>`` hooks (decorated with
:data:`hookimpl`, listed in :mod:`scorebench.hookspecs`), each a :class:`Component`: a name,
a factory (a callable, or a ``"module:attr"`` string imported only when used) and a summary.

The rules a sampler follows (:class:`Sampler`):

* **Signature.** ``sampler(score, x, sigmas, *, noise, callback=None, **params) -> Tensor``.
  ``x`` is the initial state, drawn by the driver and never modified in place; ``sigmas``
  are the model's levels, largest first. Return the final samples, not clamped.
* **Initial state.** The driver draws the run's configured ``sample.init``; a sampler that
  starts from its own prior is decorated with :func:`starts_from_prior` (attribute
  ``init = "standard_normal"``): it gets x ~ N(0, I) and scales it itself.
* **Randomness.** Every draw comes from ``noise(x)`` or ``noise.uniform(x)``
  (:class:`Noise`): row j from sample j's own generator, so a sample never depends on its
  batch. A sampler whose update reads the whole batch declares ``couples_batch(params) ->
  bool``; its cells then record the batch layout.
* **NFE.** Every call of ``score`` is one function evaluation, whatever the batch; the
  driver counts the calls, so a sampler's documented NFE formula must match them.
* **Progress.** ``callback(info)`` is called once per score evaluation with a
  :class:`StepInfo` (plain numbers, no tensors).
* **The spec.** Every keyword parameter with a default, except ``noise``, ``generator`` and
  ``callback``, enters each cell's spec with its value (given or default): defaults must be
  JSON-representable, and any of them can be swept by ``scorebench bench --sampler
  NAME:PARAM=V1,V2``. Two specs that differ only in spelling out a default are one cell.
* **Dry run.** Before any cell is drawn the core calls the sampler once on one chain with a
  score that stops it at its first call: check parameters before the first score call and
  raise :class:`ConfigError` with the reason, so a bad value fails before any work.

A score source (:class:`ScoreFunction`) answers ``score(x, sigma)`` at any sigma and declares
``shape``; a metric declares :class:`MetricMeta`; a recipe factory returns a :class:`Recipe`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scorebench import hookimpl
from scorebench.config import merge
from scorebench.contracts import (
    CONTRACTS,
    IMAGES,
    POINTS,
    STANDARD_NORMAL,
    BenchFactory,
    DataKind,
    Dataset,
    FeatureExtractor,
    FeatureMetric,
    Loss,
    MetricMeta,
    ModelMetric,
    Network,
    Noise,
    Recipe,
    RecipeFactory,
    SampleMetric,
    Sampler,
    Schedule,
    ScoreFn,
    ScoreFunction,
    StepInfo,
    kind_of,
    starts_from_prior,
)
from scorebench.errors import ConfigError, ScorebenchError
from scorebench.files import atomic_write
from scorebench.metrics.protocol import file_sha256
from scorebench.paths import cache_dir
from scorebench.plugins import load, registry
from scorebench.registry import Component

if TYPE_CHECKING:
    pass

#: Helpers that import torch, loaded on first use: name -> module.
_LAZY = {
    "LossOutput": "scorebench.score",
    "network_condition": "scorebench.score",
    "unwrap": "scorebench.score",
    "SampleNoise": "scorebench.noise",
    "TOY_GMM": "scorebench.data.toys",
    "toy_gmm": "scorebench.data.toys",
    "digits": "scorebench.data.digits",
    "mode_weight_error": "scorebench.metrics.points",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scorebench.api' has no attribute {name!r}")


__all__ = [
    "CONTRACTS",
    "IMAGES",
    "POINTS",
    "STANDARD_NORMAL",
    "BenchFactory",
    "Component",
    "ConfigError",
    "DataKind",
    "Dataset",
    "FeatureExtractor",
    "FeatureMetric",
    "Loss",
    "MetricMeta",
    "Network",
    "Noise",
    "Recipe",
    "RecipeFactory",
    "ModelMetric",
    "SampleMetric",
    "Sampler",
    "Schedule",
    "ScoreFn",
    "ScoreFunction",
    "ScorebenchError",
    "StepInfo",
    "atomic_write",
    "cache_dir",
    "file_sha256",
    "hookimpl",
    "kind_of",
    "load",
    "merge",
    "registry",
    "starts_from_prior",
    *_LAZY,
]
