"""The Inception path, offline, with a generated weights file of the right keys/shapes."""

import pytest
import torch
from fake_inception import write_random_inception_weights
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from scorebench.errors import DataUnavailableError
from scorebench.evaluate import evaluate_images
from scorebench.metrics import extractors
from scorebench.metrics.extractors import (
    INCEPTION_WEIGHTS_FILE,
    INCEPTION_WEIGHTS_URL,
    InceptionWeights,
)
from scorebench.metrics.protocol import file_sha256


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def count_images(monkeypatch):
    """Counts the images torch-fidelity's Inception sees."""
    seen = []
    forward = FeatureExtractorInceptionV3.forward

    def counting(self, x):
        seen.append(len(x))
        return forward(self, x)

    monkeypatch.setattr(FeatureExtractorInceptionV3, "forward", counting)
    return seen


@pytest.mark.slow  # ~10 s: three 2048-d FID eigendecompositions on one CPU thread
def test_pipeline_caches_reference_and_fingerprints(
    inception_weights, digits_test_images, fresh_cache, count_images
):
    x = digits_test_images[:4]
    kwargs = dict(
        dataset="digits",
        extractor="inception-v3",
        reference_count=4,
        inception_weights=InceptionWeights(inception_weights, trusted=True),
        batch_size=8,
    )
    first = evaluate_images(x, **kwargs)
    assert sum(count_images) == 8  # 4 samples + 4 reference images
    assert first["reference_cache"]["hit"] is False
    assert set(first["metrics"]) == {
        "isc_mean",
        "isc_std",
        "fid",
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "f_score",
    }
    assert first["metrics"]["fid"] > 0
    protocol = first["protocol"]
    assert protocol["extractor"]["weights_sha256"] == file_sha256(inception_weights)
    assert protocol["extractor"]["weights_trusted"] is True  # random weights: not the standard
    assert protocol["extractor"]["fidelity_name"] == "inception-v3-compat"
    assert "tensorflow1x" in protocol["extractor"]["resize"]
    assert protocol["reference"]["n_reference"] == 4
    assert protocol["reference"]["split"] == "train"
    assert protocol["settings"]["kid"]["subset_size"] == 4
    assert (first["n_samples"], first["n_reference"]) == (4, 4)

    count_images.clear()
    second = evaluate_images(x, **kwargs, cross_check=True)
    # Only the samples went through torch-fidelity's Inception: the reference came from
    # the cache (torchmetrics' cross-check has its own forward, not counted here).
    assert sum(count_images) == 4
    assert second["reference_cache"] == {"path": first["reference_cache"]["path"], "hit": True}
    assert second["metrics"] == first["metrics"]
    assert second["fingerprint"] == first["fingerprint"]
    check = second["cross_check"]
    assert check["fid_torch_fidelity"] == first["metrics"]["fid"]
    assert check["rel_diff"] < 1e-3  # same weights, same TF resize, different code

    # A different reference count is a different protocol: new cache entry, new fingerprint.
    count_images.clear()
    third = evaluate_images(x, **{**kwargs, "reference_count": 5}, metrics=("kid",))
    assert third["reference_cache"]["hit"] is False
    assert third["reference_cache"]["path"] != first["reference_cache"]["path"]
    assert third["fingerprint"] != first["fingerprint"]


def test_fingerprint_changes_with_the_weights_file(
    inception_weights, digits_test_images, tmp_path, fresh_cache
):
    other = write_random_inception_weights(tmp_path / "inception-b.pth", seed=1)
    x = digits_test_images[:2]
    a = evaluate_images(
        x,
        dataset="digits",
        extractor="inception-v3",
        metrics=("isc",),
        inception_weights=InceptionWeights(inception_weights, trusted=True),
    )
    b = evaluate_images(
        x,
        dataset="digits",
        extractor="inception-v3",
        metrics=("isc",),
        inception_weights=InceptionWeights(other, trusted=True),
    )
    assert (
        a["protocol"]["extractor"]["weights_sha256"] != b["protocol"]["extractor"]["weights_sha256"]
    )
    assert a["fingerprint"] != b["fingerprint"]
    assert a["n_reference"] == 0 and a["reference_cache"] is None  # IS needs no reference


def test_weights_come_from_env_then_cache(inception_weights, fresh_cache, monkeypatch):
    monkeypatch.setenv("SCOREBENCH_INCEPTION_WEIGHTS", str(inception_weights))
    assert extractors.resolve_inception_weights(None, fresh_cache) == inception_weights
    monkeypatch.delenv("SCOREBENCH_INCEPTION_WEIGHTS")
    cached = fresh_cache / "weights" / INCEPTION_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.symlink_to(inception_weights)
    assert extractors.resolve_inception_weights(None, fresh_cache) == cached


def test_missing_weights_say_what_to_fetch_and_where(fresh_cache, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "no-hub"))
    with pytest.raises(DataUnavailableError) as info:
        extractors.resolve_inception_weights(None, fresh_cache)
    message = str(info.value)
    assert INCEPTION_WEIGHTS_URL in message
    assert str(fresh_cache / "weights" / INCEPTION_WEIGHTS_FILE) in message
    assert "--inception-weights" in message

    # Online but the download fails (no network): same advice, with the reason.
    monkeypatch.setenv("SCOREBENCH_OFFLINE", "0")

    def no_network(dest):
        raise OSError("network is unreachable")

    monkeypatch.setattr(extractors, "_download_inception", no_network)
    with pytest.raises(DataUnavailableError, match="network is unreachable") as info:
        extractors.resolve_inception_weights(None, fresh_cache)
    assert INCEPTION_WEIGHTS_URL in str(info.value)

    with pytest.raises(DataUnavailableError, match="does not exist"):
        extractors.resolve_inception_weights(tmp_path / "nope.pth", fresh_cache)
