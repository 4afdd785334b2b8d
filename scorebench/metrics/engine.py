"""The one metric engine: torch-fidelity's feature extractors and metric functions over
scorebench's cached, protocol-keyed reference features.

Reference features are computed once (torch-fidelity's extractor and extraction loop) into a
directory named by the hash of the FULL reference protocol, as plain ``.npy`` arrays (no
pickle: a cache file can never run code) whose SHA-256 are recorded in the entry's
``protocol.json``, written last. A file that is missing, altered or unreadable makes the
entry a miss: it is recomputed, never trusted. Metrics come from torch-fidelity's own
functions (``isc_features_to_metric``, ``fid_statistics_to_metric``,
``kid_features_to_metric``, ``prc_features_to_metric``) with the same arguments that
``calculate_metrics`` passes them; torch-fidelity never reads scorebench's cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from scorebench.errors import ConfigError
from scorebench.files import atomic_write, atomic_write_json
from scorebench.metrics.extractors import PreparedExtractor
from scorebench.metrics.protocol import PROTOCOL_VERSION, protocol_fingerprint
from scorebench.plugins import load

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
QUANTIZATION = "uint8 = round(clamp(x, 0, 1) * 255)"
#: The feature metrics this engine computes, in torch-fidelity's order (a protocol lists them so).
FEATURE_METRICS = ("isc", "fid", "kid", "prc")
#: The metric the torchmetrics cross-check recomputes.
CROSS_CHECKED = "fid"


def in_order(metrics: tuple[str, ...]) -> tuple[str, ...]:
    """Feature metrics in the engine's order; one it does not compute is an error."""
    unknown = [m for m in metrics if m not in FEATURE_METRICS]
    if unknown:
        raise ConfigError(
            f"feature metric(s) {unknown} are registered but torch-fidelity's engine computes "
            f"only {', '.join(FEATURE_METRICS)}; register a sample metric instead"
        )
    return tuple(m for m in FEATURE_METRICS if m in metrics)


def needs_reference(metrics: tuple[str, ...]) -> bool:
    """Whether the metrics compare with reference features (the Inception score does not)."""
    return bool(set(metrics) - {"isc"})


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


def _sha256(path: Path) -> str:
    """SHA-256 of a file, read now (no memo: a cache file may change under us)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
            feature_extractor_weights_path=prepared.weights_argument(),
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
) -> tuple[Path, dict[str, np.ndarray], bool]:
    """The reference features per layer (``features-<layer>``) and FID statistics
    (``fid-mu``, ``fid-sigma``) of ``reference_protocol``: loaded from the cache when the
    entry is whole and every file has its recorded SHA-256, else computed and written
    (atomically, under a lock, so processes racing for one entry compute it once). Returns
    ``(directory, arrays, was_cached)``. ``make_dataset()`` builds the reference Dataset
    (uint8)."""
    root = cache_dir / "reference" / protocol_fingerprint(reference_protocol)
    layers = reference_layers(prepared)
    names = [f"features-{layer}" for layer in layers] + ["fid-mu", "fid-sigma"]
    cached = _load_entry(root, reference_protocol, names)
    if cached is not None:
        return root, cached, True
    with _entry_lock(root):  # workers of one bench: the first computes, the others wait
        cached = _load_entry(root, reference_protocol, names)
        if cached is not None:
            return root, cached, True
        arrays = _compute_entry(
            prepared, reference_protocol, make_dataset, root, layers, device, batch_size
        )
    return root, arrays, False


@contextmanager
def _entry_lock(root: Path):
    """An exclusive lock (flock, released by the kernel if its holder dies) on one cache
    entry, beside it."""
    root.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(root.parent / f".{root.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _compute_entry(
    prepared, reference_protocol, make_dataset, root: Path, layers, device: str, batch_size: int
) -> dict[str, np.ndarray]:
    """Extract the reference features, write them and their FID statistics atomically,
    the manifest last."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    features = extract_features(
        prepared, make_dataset(), layers=layers, device=device, batch_size=batch_size
    )
    stats = fid_features_to_statistics(features[prepared.layers["fid"]])
    arrays = {f"features-{layer}": features[layer].numpy() for layer in layers}
    arrays.update({"fid-mu": stats["mu"], "fid-sigma": stats["sigma"]})
    hashes = {}
    for name, array in arrays.items():
        path = root / f"{name}.npy"
        atomic_write(path, lambda fh, a=array: np.save(fh, a, allow_pickle=False))
        hashes[name] = _sha256(path)
    # Written last: its presence says the entry is complete, its hashes what it holds.
    manifest = {"protocol": reference_protocol, "sha256": hashes}
    atomic_write_json(root / "protocol.json", manifest)
    return arrays


def _load_entry(
    root: Path, reference_protocol: dict[str, Any], names: list[str]
) -> dict[str, np.ndarray] | None:
    """A whole, unaltered cache entry for this protocol, or None (then it is recomputed)."""
    try:
        manifest = json.loads((root / "protocol.json").read_text())
        if manifest.get("protocol") != json.loads(json.dumps(reference_protocol)):
            return None  # another protocol under this (64-bit) key
        arrays = {}
        for name in names:
            path = root / f"{name}.npy"
            if _sha256(path) != manifest["sha256"][name]:
                warnings.warn(
                    f"{path} changed since scorebench wrote it; recomputing the reference.",
                    stacklevel=3,
                )
                return None
            arrays[name] = np.load(path, allow_pickle=False)
        return arrays
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing, unreadable, or an older cache format


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
        if min(n, m) < 4:
            raise ConfigError(
                f"precision/recall (k=3 neighbours) needs >= 4 samples and reference "
                f"images, got {n} and {m}"
            )
        settings["prc"] = {"neighborhood": 3, "convention": "input1=samples, input2=reference"}
    return settings


def compute_metrics(
    prepared: PreparedExtractor,
    samples: torch.Tensor,
    reference: dict[str, np.ndarray] | None,
    *,
    metrics: tuple[str, ...],
    settings: Mapping[str, Any],
    seed: int,
    device: str,
    batch_size: int,
) -> dict[str, float]:
    """IS/FID/KID/PRC of ``samples`` (uint8) against the reference arrays of
    :func:`ensure_reference`, by torch-fidelity's metric functions."""
    layer = prepared.layers
    features = extract_features(
        prepared,
        ImagesDataset(samples, prepared.channels),
        layers=sorted({layer[m] for m in metrics}),
        device=device,
        batch_size=batch_size,
    )
    raw: dict[str, Any] = {}
    for metric in metrics:
        compute = load("metrics", metric)
        raw.update(compute(features[layer[metric]], reference, layer[metric], settings, seed))
    return {RESULT_KEYS[k]: float(v) for k, v in raw.items() if k in RESULT_KEYS}


# The registered feature metrics (scorebench.api.FeatureMetric): (sample features, reference
# arrays, layer, settings, seed) -> raw results, as torch-fidelity's calculate_metrics passes.
def isc_metric(features, reference, layer, settings, seed) -> dict[str, Any]:
    from torch_fidelity.metric_isc import isc_features_to_metric

    isc = settings["isc"]
    return isc_features_to_metric(features, isc["splits"], isc["shuffle"], seed)


def fid_metric(features, reference, layer, settings, seed) -> dict[str, Any]:
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    ref_stats = {"mu": reference["fid-mu"], "sigma": reference["fid-sigma"]}
    stats = fid_features_to_statistics(features)
    return fid_statistics_to_metric(stats, ref_stats, verbose=False)


def kid_metric(features, reference, layer, settings, seed) -> dict[str, Any]:
    from torch_fidelity.metric_kid import kid_features_to_metric

    return kid_features_to_metric(
        features,
        torch.from_numpy(reference[f"features-{layer}"]),
        kid_subsets=settings["kid"]["subsets"],
        kid_subset_size=settings["kid"]["subset_size"],
        rng_seed=seed,
        verbose=False,
    )


def prc_metric(features, reference, layer, settings, seed) -> dict[str, Any]:
    from torch_fidelity.metric_prc import prc_features_to_metric

    return prc_features_to_metric(
        features,
        torch.from_numpy(reference[f"features-{layer}"]),
        prc_neighborhood=settings["prc"]["neighborhood"],
        save_cpu_ram=True,
        verbose=False,
    )


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


__all__ = [
    "PROTOCOL_VERSION",
    "compute_metrics",
    "cross_check_fid",
    "ensure_reference",
    "extract_features",
    "metric_settings",
    "to_uint8",
]
