"""The one metric engine: torch-fidelity's ``calculate_metrics`` over scorebench's cached,
protocol-keyed reference features.

torch-fidelity caches features and statistics under ``<cache_root>/<input name>-<extractor
name>-...`` (keyed by names only). scorebench never uses its global cache: reference
features are computed once (with torch-fidelity's own extractor and extraction loop) into a
directory named by the hash of the FULL reference protocol, written atomically, and each
evaluation points ``calculate_metrics`` at that directory (``cache_root``) with
``input2_cache_name="reference"``. The generated samples (input1) are never cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from scorebench.errors import ConfigError, DataUnavailableError
from scorebench.files import atomic_save_torch, atomic_write_json
from scorebench.metrics.extractors import PreparedExtractor
from scorebench.metrics.protocol import PROTOCOL_VERSION, protocol_fingerprint

REFERENCE_INPUT_NAME = "reference"
#: Seed of the permutation that picks a reference subset (fixed: the subset is part of the
#: protocol, not of one evaluation's randomness).
REFERENCE_SUBSET_SEED = 0

#: torch-fidelity result keys -> scorebench metric names.
RESULT_KEYS = {
    "inception_score_mean": "isc_mean",
    "inception_score_std": "isc_std",
    "frechet_inception_distance": "fid",
    "kernel_inception_distance_mean": "kid_mean",
    "kernel_inception_distance_std": "kid_std",
    "precision": "precision",
    "recall": "recall",
    "f_score": "f_score",
}
METRICS = ("isc", "fid", "kid", "prc")
QUANTIZATION = "uint8 = round(clamp(x, 0, 1) * 255)"


def to_uint8(images: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) uint8, or float in [0, 1], -> uint8 with ``channels`` channels."""
    if images.dtype != torch.uint8:
        images = torch.round(images.to(torch.float32).clamp(0, 1) * 255.0).to(torch.uint8)
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        return images  # the 1-channel extractors convert colour themselves
    raise ConfigError(f"images have {c} channels; the extractor takes {channels}")


class ImagesDataset(Dataset):
    """uint8 images for torch-fidelity (its loop wants a Dataset of tensors)."""

    def __init__(self, images: torch.Tensor, channels: int) -> None:
        self.images = images
        self.channels = channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return to_uint8(self.images[i : i + 1], self.channels)[0]


class ReferenceSubset(Dataset):
    """Items ``indices`` of a scorebench dataset, as uint8 with ``channels`` channels."""

    def __init__(self, dataset: Any, indices: torch.Tensor | None, channels: int) -> None:
        self.dataset = dataset
        self.indices = indices
        self.channels = channels

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.dataset)

    def __getitem__(self, i: int) -> torch.Tensor:
        j = int(self.indices[i]) if self.indices is not None else i
        item = self.dataset[j]
        if isinstance(item, (tuple, list)):  # (image, label) datasets
            item = item[0]
        return to_uint8(item.unsqueeze(0), self.channels)[0]


class _CachedOnly(Dataset):
    """Stands in for the reference inside ``calculate_metrics``: its features are in the
    cache, so torch-fidelity must never read an item. If it does, the cache was removed
    while we ran."""

    def __init__(self, n: int, where: Path) -> None:
        self.n = n
        self.where = where

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        raise DataUnavailableError(
            f"reference features vanished from {self.where} during evaluation; run again."
        )


def _fidelity_device(device: str | torch.device) -> tuple[bool, Any]:
    """torch-fidelity knows only cuda=True/False (current CUDA device)."""
    dev = torch.device(device)
    if dev.type == "cpu":
        return False, nullcontext()
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available")
        return True, torch.cuda.device(dev.index if dev.index is not None else 0)
    raise ConfigError(
        f"device {device!r}: torch-fidelity runs feature extractors on 'cpu' or 'cuda[:N]' only"
    )


def _feature_file(root: Path, fidelity_name: str, layer: str) -> Path:
    # torch-fidelity's naming in utils.extract_featuresdict_from_input_id_cached.
    return root / f"{REFERENCE_INPUT_NAME}-{fidelity_name}-features-{layer}.pt"


def _stat_file(root: Path, fidelity_name: str, layer: str) -> Path:
    # torch-fidelity's naming in metric_fid.fid_featuresdict_to_statistics_cached.
    return root / f"{REFERENCE_INPUT_NAME}-{fidelity_name}-stat-fid-{layer}.pt"


def extract_features(
    prepared: PreparedExtractor,
    dataset: Dataset,
    *,
    layers: list[str],
    device: str = "cpu",
    batch_size: int = 64,
) -> dict[str, torch.Tensor]:
    """Features of a Dataset of uint8 images, through torch-fidelity's extractor and loop."""
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    cuda, ctx = _fidelity_device(device)
    with ctx:
        extractor = create_feature_extractor(
            prepared.fidelity_name,
            list(layers),
            cuda=cuda,
            feature_extractor_weights_path=str(prepared.weights_path),
            verbose=False,
        )
        return get_featuresdict_from_dataset(
            dataset, extractor, batch_size, cuda, save_cpu_ram=True, verbose=False
        )


def reference_layers(prepared: PreparedExtractor) -> list[str]:
    return sorted(set(prepared.layers.values()))


def ensure_reference(
    prepared: PreparedExtractor,
    reference_protocol: dict[str, Any],
    make_dataset: Any,
    *,
    cache_dir: Path,
    device: str,
    batch_size: int,
) -> tuple[Path, bool]:
    """The directory holding the reference features and FID statistics of
    ``reference_protocol``; computed and written (atomically) on a miss. Returns
    ``(directory, was_cached)``. ``make_dataset()`` builds the reference Dataset (uint8)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    key = protocol_fingerprint(reference_protocol)
    root = cache_dir / "reference" / key
    layers = reference_layers(prepared)
    fid_layer = prepared.layers["fid"]
    files = [_feature_file(root, prepared.fidelity_name, layer) for layer in layers]
    stat = _stat_file(root, prepared.fidelity_name, fid_layer)
    manifest = root / "protocol.json"
    if manifest.is_file() and stat.is_file() and all(f.is_file() for f in files):
        try:
            stored = json.loads(manifest.read_text()).get("protocol")
        except (OSError, ValueError):
            stored = None
        if stored == json.loads(json.dumps(reference_protocol)):
            return root, True
        # A corrupt manifest or a (64-bit) key collision: recompute and overwrite.
    features = extract_features(
        prepared, make_dataset(), layers=layers, device=device, batch_size=batch_size
    )
    for layer, path in zip(layers, files, strict=True):
        atomic_save_torch(features[layer], path)
    atomic_save_torch(fid_features_to_statistics(features[fid_layer]), stat)
    # Written last: its presence says the entry is complete.
    atomic_write_json(manifest, {"key": key, "protocol": reference_protocol})
    return root, False


def metric_settings(metrics: tuple[str, ...], n: int, m: int) -> dict[str, Any]:
    """The metric parameters that go into the protocol (and into calculate_metrics)."""
    settings: dict[str, Any] = {}
    if "isc" in metrics:
        # torch-fidelity's 10 splits need >= 10 samples; fewer splits for tiny runs.
        settings["isc"] = {"splits": min(10, n), "shuffle": True}
    if "fid" in metrics:
        settings["fid"] = {"estimator": "torch-fidelity TTUR formula (eigvals), np.cov"}
    if "kid" in metrics:
        settings["kid"] = {
            "subsets": 100,
            "subset_size": min(1000, n, m),
            "subset_size_rule": "min(1000, n_samples, n_reference)",
            "kernel": "poly",
            "degree": 3,
            "gamma": "1/feature_dim",
            "coef0": 1,
            "estimator": "unbiased",
        }
    if "prc" in metrics:
        settings["prc"] = {"neighborhood": 3, "convention": "input1=samples, input2=reference"}
    return settings


def validate_metrics(metrics: Any) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(
            f"unknown image metric(s) {unknown or metrics!r}; choose from {', '.join(METRICS)}"
        )
    return tuple(m for m in METRICS if m in metrics)  # canonical order


def compute_metrics(
    prepared: PreparedExtractor,
    samples: torch.Tensor,
    reference_dir: Path,
    *,
    n_reference: int,
    metrics: tuple[str, ...],
    settings: Mapping[str, Any],
    seed: int,
    device: str,
    batch_size: int,
) -> dict[str, float]:
    """IS/FID/KID/PRC of ``samples`` (uint8) against the cached reference, by
    ``torch_fidelity.calculate_metrics``."""
    import torch_fidelity

    cuda, ctx = _fidelity_device(device)
    kwargs: dict[str, Any] = {
        "input1": ImagesDataset(samples, prepared.channels),
        "input2": _CachedOnly(n_reference, reference_dir) if set(metrics) - {"isc"} else None,
        "input2_cache_name": REFERENCE_INPUT_NAME,
        "cache_root": str(reference_dir),
        "cache": True,
        "feature_extractor": prepared.fidelity_name,
        "feature_extractor_weights_path": str(prepared.weights_path),
        "cuda": cuda,
        "batch_size": batch_size,
        "rng_seed": seed,
        "samples_shuffle": True,
        "save_cpu_ram": True,  # no DataLoader worker processes; same numbers
        "verbose": False,
    }
    for metric in METRICS:
        kwargs[metric] = metric in metrics
        kwargs[f"feature_layer_{metric}"] = prepared.layers[metric]
    if "isc" in metrics:
        kwargs["isc_splits"] = settings["isc"]["splits"]
    if "kid" in metrics:
        kwargs["kid_subsets"] = settings["kid"]["subsets"]
        kwargs["kid_subset_size"] = settings["kid"]["subset_size"]
    if "prc" in metrics:
        kwargs["prc_neighborhood"] = settings["prc"]["neighborhood"]
    with ctx:
        raw = torch_fidelity.calculate_metrics(**kwargs)
    return {RESULT_KEYS[k]: float(v) for k, v in raw.items() if k in RESULT_KEYS}


def cross_check_fid(
    prepared: PreparedExtractor,
    samples: torch.Tensor,
    reference: Dataset,
    *,
    device: str,
    batch_size: int,
) -> float:
    """FID of the same samples and reference images through torchmetrics'
    FrechetInceptionDistance (its own feature pipeline, the same weights)."""
    metric = prepared.torchmetrics_fid(torch.device(device))
    with torch.no_grad():
        for start in range(0, len(reference), batch_size):
            stop = min(start + batch_size, len(reference))
            batch = torch.stack([reference[i] for i in range(start, stop)])
            metric.update(batch.to(device), real=True)
        for batch in to_uint8(samples, prepared.channels).split(batch_size):
            metric.update(batch.to(device), real=False)
        return float(metric.compute())


def reference_manifest(reference_dir: Path) -> dict[str, Any]:
    return json.loads((reference_dir / "protocol.json").read_text())


__all__ = [
    "PROTOCOL_VERSION",
    "compute_metrics",
    "cross_check_fid",
    "ensure_reference",
    "extract_features",
    "metric_settings",
    "to_uint8",
    "validate_metrics",
]
