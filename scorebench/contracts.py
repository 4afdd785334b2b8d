"""The typed contracts of every component kind, and the rules the core holds them to.

A plugin's ``register_*`` hooks (:mod:`scorebench.hookspecs`) return
:class:`scorebench.registry.Component` objects; each component's factory makes one of the
objects typed below. :data:`CONTRACTS` maps each component kind to its contract, and
``scorebench.registry.KINDS`` is derived from it. Plugin authors read them through
:mod:`scorebench.api`, which also states the rules in prose. This module imports no torch:
the types are for readers and type checkers (``typing.Protocol``, structural: nothing to
inherit), except :class:`Recipe` and :class:`MetricMeta`, the dataclasses a recipe factory
returns and a metric component declares.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    Protocol,
    TypedDict,
    TypeVar,
    get_args,
    runtime_checkable,
)

from scorebench.config import merge
from scorebench.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from scorebench.metrics.extractors import PreparedExtractor, Weights
    from scorebench.score import LossOutput


class ScoreFn(Protocol):
    """A score: ``score(x, sigma)`` estimates grad log p_sigma(x), with one sigma per sample
    (``sigma`` of shape ``[batch]``). Every call is one function evaluation (NFE)."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...


class Network(Protocol):
    """A score network (a ``torch.nn.Module``). ``forward(x, cond)`` returns a tensor of
    x's shape; ``conditioning`` says what ``cond`` is: ``"level"`` (the integer index of a
    trained noise level, as in NCSN) or ``"sigma"`` (the noise level itself, the default
    when the attribute is absent)."""

    conditioning: Literal["level", "sigma"]

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor: ...


#: How a network trained on discrete levels answers a sigma off its grid (scorebench.score).
NEAREST_LEVEL = "nearest trained level in log sigma"


def network_sigma_query(network: Any) -> str:
    """How a network class answers a sigma, as its cells' specs record it (``sigma_query``):
    a level-conditioned one only at its trained levels (the nearest is taken)."""
    level = getattr(network, "conditioning", "sigma") == "level"
    return NEAREST_LEVEL if level else "exact (sigma-conditioned)"


@runtime_checkable
class Schedule(Protocol):
    """A noise schedule: ``sigmas()`` is a 1-D float tensor of noise levels, largest first."""

    def sigmas(self) -> torch.Tensor: ...


class Loss(Protocol):
    """A training loss: ``loss(model, x, sigmas, generator)`` draws noise levels and noise
    with ``generator`` and returns :class:`scorebench.score.LossOutput` (the scalar to
    minimise, per-sample values and their level indices, for the per-level log)."""

    def __call__(
        self,
        model: torch.nn.Module,
        x: torch.Tensor,
        sigmas: torch.Tensor,
        generator: torch.Generator | None,
    ) -> LossOutput: ...


class Noise(Protocol):
    """A sampler's randomness, sample by sample (:class:`scorebench.noise.SampleNoise`):
    ``noise(x)`` is N(0, I) of x's shape, dtype and device, and ``noise.uniform(x)`` U[0, 1),
    row j drawn from sample j's own generator (seeded by the cell's seed and the sample's
    index), so a sample never depends on the batch it is drawn in. ``generators`` is that
    list, for a library that takes one generator per sample (diffusers)."""

    generators: list[torch.Generator]

    def __len__(self) -> int: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def uniform(self, x: torch.Tensor) -> torch.Tensor: ...


_F = TypeVar("_F", bound=Callable[..., Any])

#: The value of a sampler's ``init`` attribute that asks the driver for x ~ N(0, I).
STANDARD_NORMAL = "standard_normal"


def starts_from_prior(sampler: _F) -> _F:
    """Mark a sampler that starts from its grid's prior N(0, sigma_max^2 I): the driver then
    passes x ~ N(0, I) and the sampler scales it by its own sigma_max."""
    sampler.init = STANDARD_NORMAL  # type: ignore[attr-defined]
    return sampler


class StepInfo(TypedDict, total=False):
    """What a sampler passes to ``callback`` once per score evaluation: plain numbers, no
    tensors, so reporting progress costs nothing. ``level`` and ``step`` are required; a
    sampler may add its own numbers (NCSN's Langevin adds ``step_size``)."""

    level: int  # the index of the grid step (or noise level) being walked
    step: int  # the evaluation's index within that grid step
    sigma: float  # the noise level the score was asked at
    step_size: float


class Sampler(Protocol):
    """A sampler, registered as itself (no factory call).

    ``x`` is the initial state (the driver draws it, so a sampler stays pure); ``sigmas``
    are the model's levels, largest first; ``callback(info)`` reports progress. Every random
    draw comes from ``noise`` (:class:`Noise`): same noise in, same samples out. A sampler
    whose update reads the whole batch (a batch-mean step size) says so with the attribute
    ``couples_batch(params) -> bool``; its cells then record the batch layout. (A sampler
    with a ``generator`` parameter instead of ``noise``, the older contract, gets one
    ``torch.Generator`` per batch, and its cells record the batch layout too.) Every keyword
    parameter, with its default, is part of an evaluation's spec: give JSON-representable
    defaults, and any of them can be swept by ``scorebench bench --sampler
    NAME:PARAM=V1,V2``. A sampler that starts from its own prior sets the attribute
    ``init = "standard_normal"``."""

    def __call__(
        self,
        score: ScoreFn,
        x: torch.Tensor,
        sigmas: torch.Tensor,
        *,
        noise: Noise | None,
        callback: Callable[[StepInfo], None] | None = None,
        **params: Any,
    ) -> torch.Tensor: ...


class ScoreFunction(ScoreFn, Protocol):
    """A score with nothing to train: an analytic one (an oracle, exact at every sigma) or
    a model a bridge loads (a diffusers checkpoint). It declares ``shape`` (or ``dim``), the
    shape of one sample, and may offer ``sample(n, generator)``: i.i.d. draws, the reference
    of oracle benchmarks. A model says how it answers a sigma in ``sigma_query`` (default
    "exact") and what identifies it in ``identity`` (a dict: weights hashes, library
    version...); both enter every cell's spec."""


#: What a dataset holds: images (items of shape (C, H, W), values in [0, 1]) or points
#: (items of shape (D,)). Metrics declare the kinds they apply to.
DataKind = Literal["images", "points"]
IMAGES: DataKind = "images"
POINTS: DataKind = "points"


def kind_of(shape: Sequence[int]) -> DataKind:
    """The kind of data whose items have ``shape``: the one place the core tells stored
    samples apart (a dataset declares its ``kind``; it is checked against its shape)."""
    return IMAGES if len(shape) == 3 else POINTS


@runtime_checkable
class Dataset(Protocol):
    """A dataset, made by ``factory(root, split, **params)``.

    Items are float tensors: images in [0, 1] of shape (C, H, W), or points of shape (D,);
    no labels. ``kind`` says which (:data:`DataKind`). An image dataset names its default
    feature network in ``extractor`` (a registered feature extractor, used when
    ``eval.extractor`` is ``auto``). Optional attributes the core reads: ``targets``
    (labels), ``mixture`` (a toy's true Gaussian mixture: ``means``, ``weights``, ``std``;
    metrics that need it say so), ``gaussian_mixture`` (a
    :class:`scorebench.metrics.exact.GaussianMixture`: the exact density, for the distances to
    it), ``log_likelihood(x)`` (the exact log density) with ``log_likelihood_reference()``
    (E_p[log p]),
    ``batch(indices)`` (many items at once, for point sets) and ``files`` (the files behind
    a file-backed dataset: their names and sizes are part of the reference protocol)."""

    name: str
    split: str
    kind: DataKind
    shape: tuple[int, ...]  # one item's
    reference_split: str  # the split that metrics compare samples against

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> torch.Tensor: ...


@runtime_checkable
class FeatureExtractor(Protocol):
    """A feature network for the feature metrics, made by ``factory(**params)`` (component
    ``MetricMeta.type == "feature-extractor"``). ``prepare`` loads it and says what identifies
    it (:class:`scorebench.metrics.extractors.PreparedExtractor`); set
    ``accepts_inception_weights = True`` to receive ``--inception-weights`` (a path, or an
    :class:`~scorebench.metrics.extractors.InceptionWeights` saying whether a file of
    another hash is trusted)."""

    name: str
    accepts_inception_weights: bool

    def prepare(
        self, *, weights: Weights, cache_dir: Path, data_root: str | Path | None
    ) -> PreparedExtractor: ...


class FeatureMetric(Protocol):
    """IS, FID, KID or precision/recall of image features (``MetricMeta.type ==
    "feature-metric"``), registered as itself and called by torch-fidelity's engine
    (:mod:`scorebench.metrics.engine`) with the arguments ``calculate_metrics`` passes."""

    def __call__(
        self,
        features: torch.Tensor,
        reference: dict[str, Any],
        layer: str,
        settings: dict,
        seed: int,
    ) -> dict[str, float]: ...


@runtime_checkable
class SampleMetric(Protocol):
    """A metric of the samples themselves (``MetricMeta.type == "sample-metric"``), made by
    ``factory()``. ``settings(dataset, seed)`` is what the protocol records (and
    fingerprints); the call returns the values, with ``reference()`` giving the reference
    items as one tensor and ``dataset`` the reference dataset. Its component declares
    :class:`MetricMeta`."""

    def settings(self, dataset: Dataset, seed: int) -> dict[str, Any]: ...

    def __call__(
        self,
        samples: torch.Tensor,
        *,
        reference: Callable[[], torch.Tensor],
        dataset: Dataset,
        seed: int,
    ) -> dict[str, float]: ...


@runtime_checkable
class ModelMetric(Protocol):
    """A metric of the model itself, not of its samples (``MetricMeta.type ==
    "model-metric"``), such as held-out likelihood; made by ``factory(**params)`` with the
    run config's ``eval.<name>`` section. It is computed once per model (not per sampler) and
    is opt-in: it runs only when ``eval.metrics`` names it. ``check`` refuses a source or
    data it cannot measure; ``settings`` is what the protocol records; the call measures the
    loaded :class:`scorebench.sample.Model` on the ``held_out`` dataset (its ``split``)."""

    split: str

    def check(self, held_out: Dataset, *, sigma_query: str, logit_transform: bool) -> None: ...

    def settings(self, held_out: Dataset, seed: int) -> dict[str, Any]: ...

    def __call__(
        self, model: Any, *, held_out: Dataset, seed: int, analytic: bool
    ) -> dict[str, float]: ...


MetricType = Literal["feature-extractor", "feature-metric", "sample-metric", "model-metric"]


@dataclass(frozen=True)
class MetricMeta:
    """What a metric component (kind ``metrics``) declares, as ``Component(..., meta=...)``.

    ``type`` says what the component is; a metric also declares ``kinds`` (the
    :data:`DataKind` values it measures), ``values`` (``{key: (label, "lower" or
    "higher")}``: which is better), ``order`` (tables' column order: the first column a table
    has ranks it), ``needs`` (a dataset attribute it reads, such as ``mixture``, or ``{kind: attribute}``
    where only one kind of data needs it), ``gates``
    (``{key: allowed relative change}`` that ``scorebench compare`` flags by default) and
    ``scale`` (a sentence for the report). Tables, plots, checkpoint selection and the
    regression gate read them."""

    type: MetricType
    kinds: tuple[DataKind, ...] = ()
    values: Mapping[str, tuple[str, Literal["lower", "higher"]]] = field(default_factory=dict)
    order: int = 100
    needs: str | Mapping[str, str] | None = None
    gates: Mapping[str, float] = field(default_factory=dict)
    scale: str | None = None

    def __post_init__(self) -> None:
        if self.type not in get_args(MetricType):
            raise TypeError(
                f"MetricMeta.type is {self.type!r}; use one of "
                f"{', '.join(repr(t) for t in get_args(MetricType))}"
            )
        if isinstance(self.kinds, str) or not set(self.kinds) <= {IMAGES, POINTS}:
            raise TypeError(
                f"MetricMeta.kinds is {self.kinds!r}; use a tuple of 'images', 'points'"
            )
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if isinstance(self.needs, Mapping) and not set(self.needs) <= set(self.kinds):
            raise TypeError(f"MetricMeta.needs names kinds {sorted(self.needs)} not in kinds")
        for key, declared in dict(self.values).items():
            if not (isinstance(declared, tuple | list) and len(declared) == 2):
                raise TypeError(f"MetricMeta.values[{key!r}] is {declared!r}; use (label, better)")
            if declared[1] not in ("lower", "higher"):
                raise TypeError(
                    f"MetricMeta.values[{key!r}] says {declared[1]!r} is better; use 'lower' "
                    "or 'higher'"
                )

    def needed(self, kind: str) -> str | None:
        """The dataset attribute this metric needs for data of ``kind``."""
        return self.needs.get(kind) if isinstance(self.needs, Mapping) else self.needs


@dataclass
class Recipe:
    """``base`` holds what every dataset shares; ``presets[dataset]`` is merged on top.

    A preset may be a function returning the dict, called only when that dataset is asked
    for (presets computed from data, such as NCSNv2's, then cost nothing elsewhere).

    ``baselines`` names the baseline tables (shipped in ``scorebench/published/baselines``) that
    runs of this recipe are compared with, per dataset.
    """

    name: str
    summary: str
    base: dict[str, Any]
    presets: dict[str, dict[str, Any] | Callable[[], dict[str, Any]]]
    baselines: dict[str, list[str]] = field(default_factory=dict)

    def preset(self, dataset: str) -> dict[str, Any]:
        if dataset not in self.presets:
            close = difflib.get_close_matches(dataset, self.presets, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"recipe {self.name!r} has no preset for dataset {dataset!r}.{hint} "
                f"Presets: {', '.join(self.presets)}."
            )
        preset = self.presets[dataset]
        preset = preset() if callable(preset) else preset
        return merge(self.base, {"recipe": self.name, "dataset": dataset, **preset})


class RecipeFactory(Protocol):
    """``factory()`` -> :class:`Recipe`."""

    def __call__(self) -> Recipe: ...


class BenchFactory(Protocol):
    """``factory()`` -> a bench spec (the YAML/TOML format of :mod:`scorebench.bench`)."""

    def __call__(self) -> dict[str, Any]: ...


#: Component kind -> (its contracts, what a factory makes, in one line).
CONTRACTS: dict[str, tuple[tuple[type, ...], str]] = {
    "networks": ((Network,), "score networks: factory(**params) -> torch.nn.Module"),
    "schedules": ((Schedule,), "noise schedules: factory(**params) -> object with .sigmas()"),
    "losses": ((Loss,), "training losses: factory(**params) -> loss(model, x, sigmas, generator)"),
    "samplers": ((Sampler,), "samplers: sampler(score, x, sigmas, *, noise, **params)"),
    "score_functions": ((ScoreFunction,), "analytic scores: factory(**params) -> score(x, sigma)"),
    "datasets": ((Dataset,), "datasets: factory(root, split, **params) -> Dataset"),
    "metrics": (
        (FeatureExtractor, FeatureMetric, SampleMetric, ModelMetric),
        "feature extractors: factory(**params); metrics: factory()(samples, ...) -> values",
    ),
    "recipes": ((RecipeFactory,), "recipes: factory() -> scorebench.api.Recipe"),
    "benches": ((BenchFactory,), "bench presets: factory() -> a spec for `bench --preset`"),
}
