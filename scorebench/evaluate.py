"""Evaluation: samples in, one result record out, with its protocol fingerprint.

* :func:`evaluate_images`: Inception score, FID, KID and precision/recall, all computed by
  ``torch_fidelity.calculate_metrics`` (TF-exact resize, the standard Inception weights)
  against reference features cached under scorebench's cache dir and keyed by the full
  protocol (extractor, weights SHA-256, layers, resize, dtype, dataset, split, sample
  count). Optional cross-check of FID through torchmetrics.
* :func:`evaluate_points`: sliced Wasserstein distance, Gaussian-kernel MMD and per-mode
  weight error for 2-D point datasets (:mod:`scorebench.metrics.points`).
* :func:`protocol_fingerprint`: the short stable hash every record carries. Numbers with
  different fingerprints were measured differently and must not be ranked together.

The record format is documented in ``docs/results-format.md``.

Feature-extractor components (``register_metrics`` hook, ``meta["type"] ==
"feature-extractor"``): ``factory(**params)`` returns an object with ``name`` and
``prepare(*, weights, cache_dir, data_root) -> scorebench.metrics.extractors.PreparedExtractor``
whose ``fidelity_name`` is a class registered in torch-fidelity's feature-extractor
registry. Point metrics (``meta["type"] == "point-metric"``): ``factory(samples, reference,
**params) -> dict``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorebench.checks import integer
from scorebench.errors import ConfigError
from scorebench.metrics.protocol import PROTOCOL_VERSION, protocol_fingerprint
from scorebench.paths import cache_dir

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
    if x.shape[0] < 2:
        raise ConfigError(f"need at least 2 samples to evaluate, got {x.shape[0]}")
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
    from scorebench.plugins import load

    factory = load("datasets", dataset)
    ds = factory(data_root, split or "train", **params)
    reference_split = split or getattr(ds, "reference_split", "train")
    if reference_split != (split or "train"):
        ds = factory(data_root, reference_split, **params)
    return ds, reference_split


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
    dataset: str, data_root: Any, split: str | None, params: dict, sample_shape, *, images: bool
) -> tuple[Any, str]:
    """The reference dataset and its split, checked against the samples' kind and shape."""
    ds, reference_split = _load_dataset(dataset, data_root, split, params)
    shape = tuple(getattr(ds, "shape", ()) or ())
    if images and len(shape) != 3:
        raise ConfigError(
            f"dataset {dataset!r} holds points, not images; use evaluate_points (or "
            "`scorebench eval` picks it for you)"
        )
    if not images and len(shape) != 1:
        raise ConfigError(f"dataset {dataset!r} holds images, not points; use evaluate_images")
    if images and tuple(sample_shape) != shape:
        raise ConfigError(
            f"samples have shape {tuple(sample_shape)} but {dataset!r} images are {shape}; "
            "sample at the dataset's resolution (or pass dataset_params, e.g. image_size)"
        )
    if not images and tuple(sample_shape) != shape:
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
    from scorebench.metrics.engine import REFERENCE_SUBSET_SEED

    generator = torch.Generator().manual_seed(REFERENCE_SUBSET_SEED)
    indices = torch.randperm(n_total, generator=generator)[:count]
    return indices, count, f"randperm(n, seed={REFERENCE_SUBSET_SEED})[:{count}]"


def extractor_spec(name: str, dataset: str) -> Any:
    """The feature-extractor spec ``name`` (``auto``: digits-cnn for digits, else Inception)."""
    from scorebench.plugins import registry

    if name == "auto":
        name = "digits-cnn" if dataset == "digits" else "inception-v3"
    component = registry("metrics").get(name)
    if component.meta.get("type") != "feature-extractor":
        raise ConfigError(f"metric component {name!r} is not a feature extractor")
    return component.load()()


@dataclass
class Plan:
    """An evaluation decided but not yet computed: its protocol and fingerprint are known
    before any sample exists (so results can be looked up by fingerprint), and
    ``run(samples)`` computes the record."""

    protocol: dict[str, Any]
    compute: Callable[[Any], dict[str, Any]]

    @property
    def fingerprint(self) -> str:
        return protocol_fingerprint(self.protocol)

    def run(self, samples: Any) -> dict[str, Any]:
        started = time.perf_counter()
        record = self.compute(samples)
        record["seconds"] = round(time.perf_counter() - started, 3)
        return record


def plan_images(
    n: int,
    sample_shape: tuple[int, ...],
    *,
    dataset: str,
    data_root: str | Path | None = None,
    split: str | None = None,
    extractor: str = "auto",
    metrics: tuple[str, ...] = ("isc", "fid", "kid", "prc"),
    reference_count: int | None = None,
    inception_weights: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    cross_check: bool = False,
    dataset_params: Mapping[str, Any] | None = None,
) -> Plan:
    """The image protocol for ``n`` samples of ``sample_shape`` (see :func:`evaluate_images`)."""
    from scorebench.metrics import engine

    metrics = engine.validate_metrics(metrics)
    integer("batch_size", batch_size, 1)
    integer("seed", seed, 0)
    if n < 2:
        raise ConfigError(f"need at least 2 samples to evaluate, got {n}")
    if cross_check and "fid" not in metrics:
        raise ConfigError("cross_check compares FID: include 'fid' in metrics")
    params = dict(dataset_params or {})
    ds, reference_split = _reference_dataset(
        dataset, data_root, split, params, sample_shape, images=True
    )
    spec = extractor_spec(extractor, dataset)
    weights = inception_weights if getattr(spec, "accepts_inception_weights", False) else None
    prepared = spec.prepare(weights=weights, cache_dir=cache_dir(), data_root=data_root)
    indices, m, subset_rule = _reference_indices(len(ds), reference_count)
    if "prc" in metrics and min(n, m) < 4:
        raise ConfigError(
            f"precision/recall (k=3 neighbours) needs >= 4 samples and reference "
            f"images, got {n} and {m}"
        )
    reference = _image_reference(dataset, params, reference_split, ds, m, subset_rule, prepared)
    protocol = _image_protocol(n, sample_shape, seed, metrics, prepared, ds, reference)
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
    )
    return Plan(protocol, evaluation)


def _image_reference(dataset, params, split, ds, m, subset_rule, prepared) -> dict[str, Any]:
    """What the reference features depend on (their cache is keyed by it)."""
    from scorebench.metrics import engine

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


def _image_protocol(n, sample_shape, seed, metrics, prepared, ds, reference) -> dict[str, Any]:
    from scorebench.metrics import engine

    settings = engine.metric_settings(metrics, n, reference["n_reference"])
    if callable(getattr(ds, "log_likelihood", None)):
        settings["log_likelihood"] = _LOG_LIKELIHOOD
    return {
        "version": PROTOCOL_VERSION,
        "kind": "images",
        "engine": f"torch-fidelity {_versions()['torch-fidelity']}",
        "metrics": list(metrics),
        "settings": settings,
        "layers": {k: prepared.layers[k] for k in metrics},
        "n_samples": n,
        "sample_shape": list(sample_shape),
        "seed": seed,
        "reference": reference if set(metrics) - {"isc"} else None,
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

    def reference_images(self) -> Any:
        from scorebench.metrics import engine

        return engine.ReferenceSubset(self.ds, self.indices, self.prepared.channels)

    def __call__(self, samples: Any) -> dict[str, Any]:
        import torch

        from scorebench.metrics import engine
        from scorebench.plugins import load

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
        values = engine.compute_metrics(
            self.prepared,
            x,
            reference,
            metrics=tuple(p["metrics"]),
            settings=p["settings"],
            seed=p["seed"],
            device=self.device,
            batch_size=self.batch_size,
        )
        if "log_likelihood" in p["settings"]:
            values.update(load("metrics", "log-likelihood")(x, self.ds))
        record = _record(p, values, self.dataset, self.split, self.n_reference)
        record["extractor"] = self.prepared.name
        binary = p["reference"] is not None
        record["reference_cache"] = {"path": str(cache), "hit": hit} if binary else None
        versions = _versions()
        record["environment"] = {"device": str(torch.device(self.device)), "versions": versions}
        if self.cross_check:
            record["cross_check"] = self._cross_check(x, values["fid"], versions)
        return record

    def _cross_check(self, x: Any, tf: float, versions: dict[str, str]) -> dict[str, Any]:
        from scorebench.metrics import engine

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
    :func:`plan_images`): ``dataset``; ``extractor``: ``"auto"`` (digits-cnn for ``digits``,
    inception-v3 otherwise) or a registered feature extractor; ``metrics``;
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


#: A reference dataset that knows its exact density (an oracle) adds this metric.
_LOG_LIKELIHOOD = {
    "density": "the oracle's exact log density of the data (sigma = 0)",
    "of": "the samples as stored (images: uint8 / 255)",
    "reduction": "mean over samples",
}


def _mixture_for(dataset: str, ds: Any) -> Any:
    mixture = getattr(ds, "mixture", None)
    if mixture is None and dataset == "toy-gmm":
        from scorebench.data.toys import TOY_GMM

        mixture = TOY_GMM
    return mixture


def plan_points(
    n: int,
    sample_shape: tuple[int, ...],
    *,
    dataset: str,
    data_root: str | Path | None = None,
    split: str | None = None,
    reference_count: int | None = None,
    seed: int = 0,
    dataset_params: Mapping[str, Any] | None = None,
) -> Plan:
    """The point-set protocol for ``n`` samples (see :func:`evaluate_points`)."""
    integer("seed", seed, 0)
    params = dict(dataset_params or {})
    ds, reference_split = _reference_dataset(
        dataset, data_root, split, params, sample_shape, images=False
    )
    indices, m, subset_rule = _reference_indices(len(ds), reference_count)
    settings = _point_settings(seed, _mixture_for(dataset, ds), ds)
    protocol = {
        "version": PROTOCOL_VERSION,
        "kind": "points",
        "engine": "scorebench.metrics.points",
        "metrics": sorted(settings),
        "settings": settings,
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
    return Plan(protocol, _PointEvaluation(protocol, ds, indices, tuple(sample_shape)))


def _point_settings(seed: int, mixture: Any, ds: Any) -> dict[str, Any]:
    from scorebench.metrics import points

    settings: dict[str, Any] = {
        "swd": {
            "p": 2,
            "projections": points.SWD_PROJECTIONS,
            "directions": f"normal(seed={seed}) normalised",
            "quantile_levels": "(i + 0.5) / max(n, m), linear interpolation",
        },
        "mmd": {
            "kernel": "gaussian exp(-|x-y|^2 / (2 bandwidth^2))",
            "bandwidth": points.MMD_BANDWIDTH,
            "estimator": "unbiased (U-statistic within sets)",
        },
    }
    if mixture is not None:
        settings["mode_weights"] = {
            "means": [list(map(float, mu)) for mu in mixture.means],
            "weights": [float(w) for w in mixture.weights],
            "assignment": "nearest mean (Euclidean)",
            "error": "max_k |fraction_k - weight_k|",
        }
    if callable(getattr(ds, "log_likelihood", None)):
        settings["log_likelihood"] = _LOG_LIKELIHOOD
    return settings


@dataclass
class _PointEvaluation:
    """Computes a point protocol's metrics for the samples it was planned for."""

    protocol: dict[str, Any]
    ds: Any
    indices: Any
    sample_shape: tuple[int, ...]

    def reference_points(self) -> Any:
        import torch

        ds, indices = self.ds, self.indices
        if hasattr(ds, "batch"):
            return ds.batch(indices if indices is not None else range(len(ds)))
        idx = indices.tolist() if indices is not None else range(len(ds))
        return torch.stack([ds[i] for i in idx])

    def __call__(self, samples: Any) -> dict[str, Any]:
        import torch

        from scorebench.metrics import points
        from scorebench.plugins import load

        p, x = self.protocol, _as_points(samples)
        n, settings = p["n_samples"], p["settings"]
        if tuple(x.shape) != (n, *self.sample_shape):
            raise ConfigError(
                f"planned {n} points of dimension {self.sample_shape}, got {tuple(x.shape)}"
            )
        reference = self.reference_points()
        generator = torch.Generator().manual_seed(p["seed"])
        values: dict[str, Any] = {}
        values.update(load("metrics", "swd")(x, reference, generator=generator))
        values.update(load("metrics", "mmd")(x, reference, bandwidth=points.MMD_BANDWIDTH))
        if "mode_weights" in settings:
            mode = settings["mode_weights"]
            values.update(
                load("metrics", "mode-weights")(
                    x, reference, means=mode["means"], weights=mode["weights"]
                )
            )
        if "log_likelihood" in settings:
            values.update(load("metrics", "log-likelihood")(x, self.ds))
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
    """Sliced Wasserstein distance, Gaussian-kernel MMD^2 and (for a dataset with a known
    mixture, such as ``toy-gmm``) per-mode weight error of point ``samples`` (N, D) against
    a dataset split. Options as :func:`plan_points`. Same record shape as
    :func:`evaluate_images`."""
    x = _as_points(samples)
    return plan_points(len(x), tuple(x.shape[1:]), **options).run(x)


#: What a point-set evaluation can report (``eval.metrics`` names a subset of these).
POINT_METRICS = ("swd", "mmd", "mode_weights", "log_likelihood")


def check_eval_config(config: Any, sample_shape: tuple[int, ...]) -> None:
    """The ``eval.*`` values of ``config`` fit its data, checked before any training or
    sampling: metric and extractor names for the data's kind, then the split and the
    reference count against the reference data."""
    _check_eval_names(config, sample_shape)
    ds, _ = _load_dataset(config.data.name, config.data.root, config.eval.split, config.data.params)
    _reference_indices(len(ds), config.eval.reference_count)


def _check_eval_names(config: Any, sample_shape: tuple[int, ...]) -> None:
    """Metric and extractor names for the data's kind (no data read)."""
    if len(sample_shape) == 3:
        from scorebench.metrics import engine

        engine.validate_metrics(tuple(config.eval.metrics or engine.METRICS))
        if config.eval.extractor != "auto":
            extractor_spec(config.eval.extractor, config.data.name)
    else:
        unknown = [m for m in config.eval.metrics or () if m not in POINT_METRICS]
        if unknown:
            raise ConfigError(
                f"eval.metrics: {unknown} are not point-set metrics; choose from "
                f"{', '.join(POINT_METRICS)}"
            )
        if config.eval.extractor != "auto":
            raise ConfigError("eval.extractor: point datasets use no feature extractor; use auto")


def reference_images(config: Any) -> Any:
    """The reference images a run config's protocol compares with (its split and its
    ``eval.reference_count`` subset), as a Dataset of uint8 (C, H, W) tensors."""
    from scorebench.metrics import engine

    ds, _ = _load_dataset(
        config.data.name, config.data.root, config.eval.split, dict(config.data.params)
    )
    shape = tuple(getattr(ds, "shape", ()) or ())
    if len(shape) != 3:
        raise ConfigError(f"dataset {config.data.name!r} holds points, not images")
    indices, _, _ = _reference_indices(len(ds), config.eval.reference_count)
    return engine.ReferenceSubset(ds, indices, shape[0])


def plan_config(
    config: Any,
    n: int,
    sample_shape: tuple[int, ...],
    *,
    metrics: tuple[str, ...] | None = None,
    device: str = "cpu",
    inception_weights: str | Path | None = None,
    cross_check: bool = False,
) -> Plan:
    """The evaluation a run config names (dataset, its parameters, split, reference count,
    extractor, metrics, seed) for ``n`` samples of ``sample_shape``: images through
    :func:`plan_images`, points through :func:`plan_points`."""
    _check_eval_names(config, sample_shape)  # the plans check split and count on the data
    common = dict(
        dataset=config.data.name,
        data_root=config.data.root,
        split=config.eval.split,
        reference_count=config.eval.reference_count,
        seed=config.eval.seed,
        dataset_params=config.data.params,
    )
    if len(sample_shape) == 3:
        from scorebench.metrics import engine

        return plan_images(
            n,
            tuple(sample_shape),
            extractor=config.eval.extractor,
            metrics=metrics or tuple(config.eval.metrics or engine.METRICS),
            inception_weights=inception_weights,
            device=device,
            cross_check=cross_check,
            **common,
        )
    return plan_points(n, tuple(sample_shape), **common)


def evaluate_config(samples: Any, config: Any, **options: Any) -> dict[str, Any]:
    """Evaluate ``samples`` under the protocol of ``config`` (options as :func:`plan_config`)."""
    return plan_config(config, len(samples), tuple(samples.shape[1:]), **options).run(samples)
