"""Evaluation: samples in, one result record out, with its protocol fingerprint.

* :func:`evaluate_images`: the feature metrics (Inception score, FID, KID and
  precision/recall), all computed by torch-fidelity (TF-exact resize, the dataset's feature
  network) against reference features cached under scorebench's cache dir and keyed by
  the full protocol (extractor, weights SHA-256, layers, resize, dtype, dataset, split,
  sample count). Optional cross-check of FID through torchmetrics.
* :func:`evaluate_points`: the sample metrics of point datasets (sliced Wasserstein
  distance, Gaussian-kernel MMD, per-mode weight error where the data know their modes).
* :func:`protocol_fingerprint`: the short stable hash every record carries. Numbers with
  different fingerprints were measured differently and must not be ranked together.

Which metrics apply is read from the metric components' meta (``kinds``, ``needs``;
:class:`scorebench.api.MetricMeta`) and the dataset's ``kind`` and ``extractor``: this
module names no metric and no dataset. The record format is documented in
``docs/results-format.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scorebench.checks import integer, sample_count
from scorebench.contracts import IMAGES, POINTS, kind_of, network_sigma_query
from scorebench.errors import ConfigError
from scorebench.metric_choice import (
    choose_metrics,
    model_metrics,
    model_values,
    sample_metrics,
    sample_values,
)
from scorebench.metrics import engine
from scorebench.metrics.engine import REFERENCE_SUBSET_SEED
from scorebench.metrics.extractors import Weights
from scorebench.metrics.protocol import PROTOCOL_VERSION, protocol_fingerprint, result_key
from scorebench.paths import cache_dir
from scorebench.plugins import load, registry
from scorebench.report.leaderboard import metric_values

__all__ = [
    "Plan",
    "evaluate_config",
    "evaluate_images",
    "evaluate_points",
    "plan_config",
    "protocol_fingerprint",
]


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {}
    for dist in ("scorebench", "torch", "torch-fidelity", "torchmetrics"):
        try:
            out[dist] = version(dist)
        except Exception:
            out[dist] = "?"
    return out


def _as_tensor(samples: Any, what: str) -> Any:
    import numpy as np
    import torch

    if isinstance(samples, np.ndarray):
        samples = torch.from_numpy(samples)
    if not isinstance(samples, torch.Tensor):
        raise ConfigError(f"{what} must be a torch.Tensor, got {type(samples).__name__}")
    return samples.detach()


def _check_images(samples: Any) -> Any:
    import torch

    x = _as_tensor(samples, "samples")
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ConfigError(
            f"samples must be images (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}"
        )
    sample_count("the number of samples", x.shape[0])
    if x.dtype == torch.uint8:
        return x.cpu()
    if not x.is_floating_point():
        raise ConfigError(f"samples must be uint8 or float in [0, 1], got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ConfigError("samples contain NaN or infinite values (a diverged sampler?)")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ConfigError(
            f"float samples must lie in [0, 1] (got min {lo:.4g}, max {hi:.4g}); map them "
            "to [0, 1] first (e.g. (x + 1) / 2 for [-1, 1] data) or pass uint8"
        )
    return x.cpu()


def _load_dataset(
    dataset: str, data_root: Any, split: str | None, params: Mapping[str, Any]
) -> tuple[Any, str]:
    """The reference dataset and its split (the dataset's ``reference_split`` by default)."""
    factory = load("datasets", dataset)
    ds = factory(data_root, split or "train", **params)
    reference_split = split or getattr(ds, "reference_split", "train")
    if reference_split != (split or "train"):
        ds = factory(data_root, reference_split, **params)
    _check_kind(ds, dataset)
    return ds, reference_split


def _check_kind(ds: Any, dataset: str) -> None:
    """A dataset declares its kind (scorebench.api.Dataset), and its items have that shape."""
    kind, shape = getattr(ds, "kind", None), tuple(getattr(ds, "shape", ()) or ())
    if kind not in (IMAGES, POINTS):
        raise ConfigError(
            f"dataset {dataset!r} declares kind {kind!r}; a dataset sets kind to "
            f"{IMAGES!r} or {POINTS!r} (see scorebench.api.Dataset)"
        )
    if kind_of(shape) != kind:
        raise ConfigError(
            f"dataset {dataset!r} declares kind {kind!r} but its items have shape {shape}: "
            "images are (C, H, W), points (D,)"
        )


def _data_identity(ds: Any) -> str | None:
    """What names the data beyond (dataset, split, params): for file-backed datasets such as
    ``folder``, a hash of the file names and sizes, so another folder is another key."""
    files = getattr(ds, "files", None)
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        p = Path(f)
        h.update(f"{p.name}\0{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def _reference_dataset(
    dataset: str, data_root: Any, split: str | None, params: dict, sample_shape, kind: str
) -> tuple[Any, str]:
    """The reference dataset and its split, checked against the samples' kind and shape."""
    ds, reference_split = _load_dataset(dataset, data_root, split, params)
    if ds.kind != kind:
        raise ConfigError(
            f"dataset {dataset!r} holds {ds.kind}, not {kind}; use evaluate_{ds.kind} (or "
            "`scorebench eval` picks it for you)"
        )
    shape = tuple(ds.shape)
    if tuple(sample_shape) != shape and kind == IMAGES:
        raise ConfigError(
            f"samples have shape {tuple(sample_shape)} but {dataset!r} images are {shape}; "
            "sample at the dataset's resolution (or pass dataset_params, e.g. image_size)"
        )
    if tuple(sample_shape) != shape:
        raise ConfigError(
            f"samples must be points (N, {shape[0]}) for {dataset!r}, "
            f"got (N, {', '.join(map(str, sample_shape))})"
        )
    return ds, reference_split


def _reference_indices(n_total: int, count: int | None) -> tuple[Any, int, str]:
    import torch

    if count is None or count == n_total:
        return None, n_total, "all"
    integer("reference_count", count, 2)
    if count > n_total:
        raise ConfigError(f"reference_count {count} exceeds the {n_total} items of the split")

    generator = torch.Generator().manual_seed(REFERENCE_SUBSET_SEED)
    indices = torch.randperm(n_total, generator=generator)[:count]
    return indices, count, f"randperm(n, seed={REFERENCE_SUBSET_SEED})[:{count}]"


def extractor_spec(name: str, ds: Any = None) -> Any:
    """The feature-extractor spec ``name`` (``auto``: the one dataset ``ds`` names)."""
    if name == "auto":
        name = getattr(ds, "extractor", None)
        if not name:
            raise ConfigError(
                f"dataset {ds.name!r} names no feature extractor; set eval.extractor (see "
                "`scorebench list metrics`)"
            )
    component = registry("metrics").get(name)
    if component.meta.type != "feature-extractor":
        raise ConfigError(f"metric component {name!r} is not a feature extractor")
    return component.load()()


def ranking_metric(config: Any) -> tuple[str, str, bool]:
    """The metric that ranks a run config's evaluations, by the tables' rule (their first
    column, :func:`scorebench.report.leaderboard.metric_values`): (its name, its value's key,
    lower is better)."""
    ds, _ = _load_dataset(config.data.name, config.data.root, config.eval.split, config.data.params)
    features, sample, _ = choose_metrics(config.eval.metrics, ds)
    produced = {  # value key -> the metric that produces it
        key: name
        for name in (*features, *sample)
        for key in registry("metrics").get(name).meta.values
    }
    columns = metric_values()
    key = next((k for k in columns if k in produced), None)
    if key is None:
        raise ConfigError(f"none of the metrics {[*features, *sample]} declares a value to rank by")
    return produced[key], key, columns[key][1]


@dataclass
class Plan:
    """An evaluation decided but not yet computed: its protocol and fingerprint are known
    before any sample exists (so results can be looked up by fingerprint), and
    ``run(samples)`` computes the record.

    Model metrics (``model_metrics``: name -> (metric, held-out dataset)) are measured on
    the model, not on its samples, by :meth:`model_values`, once per model. Their settings
    are a protocol of their own (``model_protocol``, fingerprint ``model_fingerprint``), so
    adding nll to an evaluation leaves its table, and the baselines measured under it, as
    they were; a result is stored and looked up under ``key``, which names both."""

    protocol: dict[str, Any]
    compute: Callable[[Any], dict[str, Any]]
    model_metrics: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    model_protocol: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"  # where model metrics run

    @property
    def fingerprint(self) -> str:
        return protocol_fingerprint(self.protocol)

    @property
    def model_fingerprint(self) -> str | None:
        return protocol_fingerprint(self.model_protocol) if self.model_protocol else None

    @property
    def key(self) -> str:
        return result_key(self.fingerprint, self.model_fingerprint)

    def model_values(self, model: Any, *, analytic: bool) -> dict[str, Any]:
        """The model metrics of ``model`` (a :class:`scorebench.sample.Model`)."""
        return model_values(self.model_metrics, model, self.protocol["seed"], analytic)

    def run(self, samples: Any, model_values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        record = self.compute(samples)
        if self.model_protocol:
            record["model_metrics"] = {
                "fingerprint": self.model_fingerprint,
                "protocol": self.model_protocol,
                "measured": model_values is not None,  # a baseline's draws have no model
            }
            record["metrics"].update(model_values or {})
        record["seconds"] = round(time.perf_counter() - started, 3)
        return record


def _plan_model_metrics(
    names: tuple[str, ...],
    dataset: str,
    data_root: Any,
    params: dict,
    seed: int,
    options: Mapping[str, Mapping[str, Any]],
    source: Mapping[str, Any] | None,
    logit_transform: bool,
) -> tuple[dict[str, tuple[Any, Any]], dict[str, Any]]:
    """The model metrics and their protocol settings; each refuses, before any work, a
    source it cannot measure (with no source, as for a baseline's draws, none is checked)."""
    made = model_metrics(
        names,
        lambda name: dict(options.get(name, {})),
        lambda split: _load_dataset(dataset, data_root, split, params)[0],
    )
    for metric, held_out in made.values():
        if source is not None:
            sigma_query = str(source.get("sigma_query", "exact"))
            metric.check(held_out, sigma_query=sigma_query, logit_transform=logit_transform)
    settings = {name: metric.settings(held_out, seed) for name, (metric, held_out) in made.items()}
    return made, settings


def plan_images(
    n: int,
    sample_shape: tuple[int, ...],
    *,
    dataset: str,
    data_root: str | Path | None = None,
    split: str | None = None,
    extractor: str = "auto",
    metrics: tuple[str, ...] | None = None,
    reference_count: int | None = None,
    inception_weights: Weights = None,
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    cross_check: bool = False,
    dataset_params: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    source: Mapping[str, Any] | None = None,
    logit_transform: bool = False,
) -> Plan:
    """The image protocol for ``n`` samples of ``sample_shape`` (see :func:`evaluate_images`;
    ``model_options``, ``source`` and ``logit_transform`` are for model metrics)."""
    integer("batch_size", batch_size, 1)
    integer("seed", seed, 0)
    sample_count("the number of samples", n)
    params = dict(dataset_params or {})
    ds, reference_split = _reference_dataset(
        dataset, data_root, split, params, sample_shape, IMAGES
    )
    features, sample, model = choose_metrics(metrics, ds)
    features = engine.in_order(features)
    if cross_check and engine.CROSS_CHECKED not in features:
        raise ConfigError(
            f"cross_check compares {engine.CROSS_CHECKED}: include {engine.CROSS_CHECKED!r} "
            "in metrics"
        )
    spec = extractor_spec(extractor, ds)
    weights = inception_weights if getattr(spec, "accepts_inception_weights", False) else None
    prepared = spec.prepare(weights=weights, cache_dir=cache_dir(), data_root=data_root)
    indices, m, subset_rule = _reference_indices(len(ds), reference_count)
    reference = _image_reference(dataset, params, reference_split, ds, m, subset_rule, prepared)
    made = sample_metrics(sample, ds, seed)
    protocol = _image_protocol(n, sample_shape, seed, features, made, prepared, reference)
    on_model, model_settings = _plan_model_metrics(
        model, dataset, data_root, params, seed, model_options or {}, source, logit_transform
    )
    m = m if protocol["reference"] else 0
    evaluation = _ImageEvaluation(
        protocol,
        prepared,
        ds,
        indices,
        dataset,
        reference_split,
        m,
        device,
        batch_size,
        cross_check,
        {name: metric for name, (metric, _) in made.items()},
    )
    return Plan(protocol, evaluation, on_model, model_settings)


def _image_reference(dataset, params, split, ds, m, subset_rule, prepared) -> dict[str, Any]:
    """What the reference features depend on (their cache is keyed by it)."""
    return {
        "version": PROTOCOL_VERSION,
        "dataset": dataset,
        "dataset_params": params,
        "split": split,
        "data_identity": _data_identity(ds),
        "n_reference": m,
        "reference_subset": subset_rule,
        "quantization": engine.QUANTIZATION,
        "extractor": prepared.protocol,
        "layers": engine.reference_layers(prepared),
    }


def _image_protocol(n, sample_shape, seed, features, made, prepared, reference) -> dict[str, Any]:

    settings = engine.metric_settings(features, n, reference["n_reference"])
    settings.update({name: s for name, (_, s) in made.items()})
    return {
        "version": PROTOCOL_VERSION,
        "kind": IMAGES,
        "engine": f"torch-fidelity {_versions()['torch-fidelity']}",
        "metrics": [*features, *made],
        "settings": settings,
        "layers": {k: prepared.layers[k] for k in features},
        "n_samples": n,
        "sample_shape": list(sample_shape),
        "seed": seed,
        "reference": reference if engine.needs_reference(features) else None,
        "extractor": prepared.protocol,
        "quantization": engine.QUANTIZATION,
    }


@dataclass
class _ImageEvaluation:
    """Computes an image protocol's metrics for the samples it was planned for."""

    protocol: dict[str, Any]
    prepared: Any
    ds: Any
    indices: Any
    dataset: str
    split: str
    n_reference: int
    device: str
    batch_size: int
    cross_check: bool  # also FID with torchmetrics
    sample_metrics: dict[str, Any]

    def reference_images(self) -> Any:

        return engine.ReferenceSubset(self.ds, self.indices, self.prepared.channels)

    def __call__(self, samples: Any) -> dict[str, Any]:
        import torch

        p = self.protocol
        x = _check_images(samples)
        n, shape = p["n_samples"], tuple(p["sample_shape"])
        if len(x) != n or tuple(x.shape[1:]) != shape:
            raise ConfigError(f"planned {n} samples of shape {shape}, got {tuple(x.shape)}")
        cache, reference, hit = cache_dir(), None, None
        if p["reference"] is not None:
            cache, reference, hit = engine.ensure_reference(
                self.prepared,
                p["reference"],
                self.reference_images,
                cache_dir=cache,
                device=self.device,
                batch_size=self.batch_size,
            )
        features = tuple(p["layers"])
        values = (
            engine.compute_metrics(
                self.prepared,
                x,
                reference,
                metrics=features,
                settings=p["settings"],
                seed=p["seed"],
                device=self.device,
                batch_size=self.batch_size,
            )
            if features
            else {}
        )
        values.update(sample_values(self.sample_metrics, x, self._reference, self.ds, p["seed"]))
        record = _record(p, values, self.dataset, self.split, self.n_reference)
        record["extractor"] = self.prepared.name
        binary = p["reference"] is not None
        record["reference_cache"] = {"path": str(cache), "hit": hit} if binary else None
        versions = _versions()
        record["environment"] = {"device": str(torch.device(self.device)), "versions": versions}
        if self.cross_check:
            tf = values[engine.CROSS_CHECKED]
            record["cross_check"] = self._cross_check(x, tf, versions)
        return record

    def _reference(self) -> Any:
        import torch

        images = self.reference_images()
        return torch.stack([images[i] for i in range(len(images))])

    def _cross_check(self, x: Any, tf: float, versions: dict[str, str]) -> dict[str, Any]:

        tm = engine.cross_check_fid(
            self.prepared,
            x,
            self.reference_images(),
            device=self.device,
            batch_size=self.batch_size,
        )
        return {
            "engine": f"torchmetrics {versions['torchmetrics']} FrechetInceptionDistance",
            "fid_torch_fidelity": tf,
            "fid_torchmetrics": tm,
            "abs_diff": abs(tm - tf),
            "rel_diff": abs(tm - tf) / max(abs(tf), 1e-12),
        }


def _record(
    protocol: dict[str, Any], values: dict[str, Any], dataset: str, split: str, m: int
) -> dict[str, Any]:
    """The fields every result record has (docs/results-format.md)."""
    return {
        "kind": protocol["kind"],
        "metrics": values,
        "protocol": protocol,
        "fingerprint": protocol_fingerprint(protocol),
        "n_samples": protocol["n_samples"],
        "n_reference": m,
        "dataset": dataset,
        "split": split,
    }


def evaluate_images(samples: Any, **options: Any) -> dict[str, Any]:
    """IS / FID / KID / precision-recall of image ``samples`` against a dataset split.

    ``samples``: uint8 ``(N, C, H, W)`` or float in [0, 1] (quantised to uint8 as
    ``round(x * 255)``, exactly like the reference). Options (keyword-only, see
    :func:`plan_images`): ``dataset``; ``extractor``: ``"auto"`` (the dataset's
    ``extractor``) or a registered feature extractor; ``metrics`` (None: every metric that
    applies);
    ``reference_count``: a fixed random subset of the split (default: all of it);
    ``inception_weights``: path of ``weights-inception-2015-12-05-6726825d.pth`` (else
    ``$SCOREBENCH_INCEPTION_WEIGHTS``, the cache, a download); ``seed``: IS shuffling and
    KID subsets; ``cross_check``: also compute FID with torchmetrics and report the
    difference (needs ``"fid"``; re-extracts the reference images); ``dataset_params``:
    keyword arguments of the dataset factory (e.g. ``image_size``); ``device``,
    ``batch_size``, ``data_root``, ``split``. Returns the result record
    (docs/results-format.md).
    """
    x = _check_images(samples)
    return plan_images(len(x), tuple(x.shape[1:]), **options).run(x)


def plan_points(
    n: int,
    sample_shape: tuple[int, ...],
    *,
    dataset: str,
    data_root: str | Path | None = None,
    split: str | None = None,
    metrics: tuple[str, ...] | None = None,
    reference_count: int | None = None,
    seed: int = 0,
    dataset_params: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    source: Mapping[str, Any] | None = None,
    logit_transform: bool = False,
) -> Plan:
    """The point-set protocol for ``n`` samples (see :func:`evaluate_points`)."""
    integer("seed", seed, 0)
    sample_count("the number of samples", n)
    params = dict(dataset_params or {})
    ds, reference_split = _reference_dataset(
        dataset, data_root, split, params, sample_shape, POINTS
    )
    indices, m, subset_rule = _reference_indices(len(ds), reference_count)
    _, sample, model = choose_metrics(metrics, ds)  # points have no feature metrics
    made = sample_metrics(sample, ds, seed)
    protocol = {
        "version": PROTOCOL_VERSION,
        "kind": POINTS,
        "engine": "scorebench sample metrics",
        "metrics": list(sample),
        "settings": {name: s for name, (_, s) in made.items()},
        "n_samples": n,
        "seed": seed,
        "reference": {
            "dataset": dataset,
            "dataset_params": params,
            "split": reference_split,
            "n_reference": m,
            "reference_subset": subset_rule,
        },
    }
    on_model, model_settings = _plan_model_metrics(
        model, dataset, data_root, params, seed, model_options or {}, source, logit_transform
    )
    metrics = {name: metric for name, (metric, _) in made.items()}
    evaluation = _PointEvaluation(protocol, ds, indices, tuple(sample_shape), metrics)
    return Plan(protocol, evaluation, on_model, model_settings)


@dataclass
class _PointEvaluation:
    """Computes a point protocol's metrics for the samples it was planned for."""

    protocol: dict[str, Any]
    ds: Any
    indices: Any
    sample_shape: tuple[int, ...]
    metrics: dict[str, Any]

    def reference_points(self) -> Any:
        from scorebench.data.base import items

        return items(self.ds, self.indices if self.indices is not None else range(len(self.ds)))

    def __call__(self, samples: Any) -> dict[str, Any]:
        p, x = self.protocol, _as_points(samples)
        n = p["n_samples"]
        if tuple(x.shape) != (n, *self.sample_shape):
            raise ConfigError(
                f"planned {n} points of dimension {self.sample_shape}, got {tuple(x.shape)}"
            )
        values = sample_values(self.metrics, x, self.reference_points, self.ds, p["seed"])
        ref = p["reference"]
        record = _record(p, values, ref["dataset"], ref["split"], ref["n_reference"])
        record["environment"] = {"device": "cpu", "versions": _versions()}
        return record


def _as_points(samples: Any) -> Any:
    import torch

    x = _as_tensor(samples, "samples")
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if x.dim() != 2:
        raise ConfigError(f"samples must be points (N, D), got shape {tuple(x.shape)}")
    return x.cpu()


def evaluate_points(samples: Any, **options: Any) -> dict[str, Any]:
    """The sample metrics of point ``samples`` (N, D) against a dataset split: by default
    every one that applies (sliced Wasserstein distance, Gaussian-kernel MMD^2, and per-mode
    weight error where the dataset knows its mixture). Options as :func:`plan_points`. Same
    record shape as :func:`evaluate_images`."""
    x = _as_points(samples)
    return plan_points(len(x), tuple(x.shape[1:]), **options).run(x)


def check_eval_config(config: Any) -> None:
    """The ``eval.*`` values of ``config`` fit its data, checked before any training or
    sampling: metric and extractor names for the data's kind, the split and the reference
    count."""
    sample_count("sample.n", config.sample.n)
    ds, _ = _load_dataset(config.data.name, config.data.root, config.eval.split, config.data.params)
    try:
        model = choose_metrics(config.eval.metrics, ds)[2]
        _plan_model_metrics(
            model,
            config.data.name,
            config.data.root,
            dict(config.data.params),
            config.eval.seed,
            model_options(config),
            {"sigma_query": sigma_query(config)},
            config.data.logit_transform,
        )
    except ConfigError as exc:
        raise ConfigError(f"eval.metrics: {exc}") from exc
    if ds.kind == IMAGES:
        extractor_spec(config.eval.extractor, ds)
    _no_extractor_for_points(config, ds.kind)
    _reference_indices(len(ds), config.eval.reference_count)


def _no_extractor_for_points(config: Any, kind: str) -> None:
    if kind == POINTS and config.eval.extractor != "auto":
        raise ConfigError("eval.extractor: points use no feature extractor; use auto")


def reference_images(config: Any) -> Any:
    """The reference images a run config's protocol compares with (its split and its
    ``eval.reference_count`` subset), as a Dataset of uint8 (C, H, W) tensors."""
    ds, _ = _load_dataset(
        config.data.name, config.data.root, config.eval.split, dict(config.data.params)
    )
    if ds.kind != IMAGES:
        raise ConfigError(f"dataset {config.data.name!r} holds {ds.kind}, not images")
    indices, _, _ = _reference_indices(len(ds), config.eval.reference_count)
    return engine.ReferenceSubset(ds, indices, ds.shape[0])


def plan_config(
    config: Any,
    n: int,
    sample_shape: tuple[int, ...],
    *,
    metrics: tuple[str, ...] | None = None,
    device: str = "cpu",
    inception_weights: Weights = None,
    cross_check: bool = False,
    source: Mapping[str, Any] | None = None,
) -> Plan:
    """The evaluation a run config names (dataset, its parameters, split, reference count,
    extractor, metrics, seed) for ``n`` samples of ``sample_shape``: images through
    :func:`plan_images`, points through :func:`plan_points`; ``metrics`` (default: the
    config's ``eval.metrics``)."""
    common = dict(
        dataset=config.data.name,
        data_root=config.data.root,
        split=config.eval.split,
        metrics=metrics or config.eval.metrics,
        reference_count=config.eval.reference_count,
        seed=config.eval.seed,
        dataset_params=config.data.params,
        model_options=model_options(config),
        source=source,
        logit_transform=config.data.logit_transform,
    )
    _no_extractor_for_points(config, kind_of(sample_shape))
    if kind_of(sample_shape) == IMAGES:
        plan = plan_images(
            n,
            tuple(sample_shape),
            extractor=config.eval.extractor,
            inception_weights=inception_weights,
            device=device,
            cross_check=cross_check,
            **common,
        )
    else:
        plan = plan_points(n, tuple(sample_shape), **common)
    return dataclasses.replace(plan, device=device)


def model_options(config: Any) -> dict[str, dict[str, Any]]:
    """The options of the model metrics a run config can name (``eval.nll``)."""
    return {"nll": config.eval.nll.model_dump()}


def sigma_query(config: Any) -> str:
    """How a run config's source answers a sigma (as its cells' specs record it)."""
    if config.score_function is not None:
        function = registry("score_functions").load(config.score_function.name)
        return getattr(function, "sigma_query", "exact")
    return network_sigma_query(registry("networks").load(config.network.name))


def evaluate_config(samples: Any, config: Any, **options: Any) -> dict[str, Any]:
    """Evaluate ``samples`` under the protocol of ``config`` (options as :func:`plan_config`)."""
    return plan_config(config, len(samples), tuple(samples.shape[1:]), **options).run(samples)
