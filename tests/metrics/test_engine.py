"""The engine is torch-fidelity: check its numbers against independent formulas."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from scorebench.errors import ConfigError
from scorebench.evaluate import evaluate_images


def _fid_sqrtm(f1: np.ndarray, f2: np.ndarray) -> float:
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


# Dead ReLU units make the covariances singular; sqrtm still converges on them.
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_engine_fid_equals_scipy_sqrtm_on_the_same_features(digits_test_images):
    from scorebench.metrics import engine
    from scorebench.metrics.digits_cnn import DigitsCNNSpec
    from scorebench.paths import cache_dir

    samples = digits_test_images[:200]
    record = evaluate_images(samples, dataset="digits", metrics=("fid",))
    prepared = DigitsCNNSpec().prepare(cache_dir=cache_dir())
    layer = prepared.layers["fid"]
    f_samples = engine.extract_features(prepared, engine.ImagesDataset(samples, 1), layers=[layer])[
        layer
    ]
    ref_dir = Path(record["reference_cache"]["path"])
    f_ref = torch.from_numpy(np.load(ref_dir / f"features-{layer}.npy"))
    assert len(f_ref) == record["n_reference"] == 1437
    direct = _fid_sqrtm(f_samples.double().numpy(), f_ref.double().numpy())
    assert record["metrics"]["fid"] == pytest.approx(direct, rel=1e-3)
    assert set(record["metrics"]) == {"fid"}


def test_inception_score_of_constructed_logits():
    k, n = 10, 1000
    uniform = torch.zeros(n, k)  # every prediction uniform: IS = 1
    out = isc_features_to_metric(uniform, splits=10)
    assert out["inception_score_mean"] == pytest.approx(1.0, abs=1e-9)
    # Confident one-hot predictions spread evenly over k classes: IS = k.
    labels = torch.arange(n) % k
    onehot = torch.full((n, k), -1e4).scatter_(1, labels[:, None], 0.0)
    out = isc_features_to_metric(onehot, splits=1)
    assert out["inception_score_mean"] == pytest.approx(k, rel=1e-6)


def test_kid_subset_size_follows_small_sample_counts(digits_test_images):
    record = evaluate_images(digits_test_images[:50], dataset="digits", metrics=("kid", "isc"))
    settings = record["protocol"]["settings"]
    assert settings["kid"]["subset_size"] == 50
    assert settings["kid"]["subset_size_rule"] == "min(1000, n_samples, n_reference)"
    assert settings["isc"]["splits"] == 10
    assert np.isfinite(record["metrics"]["kid_mean"])
    assert record["n_samples"] == 50


def test_bad_inputs_are_clear_errors(digits_test_images):
    x = digits_test_images[:8]
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        evaluate_images(x * 2 - 1, dataset="digits")
    with pytest.raises(ConfigError, match="shape"):
        evaluate_images(torch.rand(8, 1, 16, 16), dataset="digits")
    with pytest.raises(ConfigError, match="unknown image metric"):
        evaluate_images(x, dataset="digits", metrics=("fid", "lpips"))
    with pytest.raises(ConfigError, match="must be >= 2"):
        evaluate_images(x[:1], dataset="digits")
    with pytest.raises(ConfigError, match="points, not images"):
        evaluate_images(x, dataset="toy-gmm")
    with pytest.raises(ConfigError, match="exceeds"):
        evaluate_images(x, dataset="digits", reference_count=10**6)
    with pytest.raises(ConfigError, match="cross_check"):
        evaluate_images(x, dataset="digits", metrics=("isc",), cross_check=True)
    with pytest.raises(ConfigError, match="device"):
        evaluate_images(x, dataset="digits", metrics=("fid",), device="mps")


def test_incomplete_or_foreign_cache_entry_is_recomputed(digits_test_images, tmp_path, monkeypatch):
    import json

    from scorebench.metrics.digits_cnn import DigitsCNNSpec
    from scorebench.paths import cache_dir

    # Reuse the session's trained digits-cnn instead of retraining it in the fresh cache.
    session_cache = cache_dir()
    prepare = DigitsCNNSpec.prepare

    def prepare_in_session_cache(self, *, weights=None, cache_dir, data_root=None):
        return prepare(self, weights=weights, cache_dir=session_cache, data_root=data_root)

    monkeypatch.setattr(DigitsCNNSpec, "prepare", prepare_in_session_cache)
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path))
    x = digits_test_images[:20]
    first = evaluate_images(x, dataset="digits", metrics=("fid",), reference_count=100)
    ref = Path(first["reference_cache"]["path"])
    assert first["reference_cache"]["hit"] is False
    assert (
        json.loads((ref / "protocol.json").read_text())["protocol"]
        == (first["protocol"]["reference"])
    )
    (ref / "fid-mu.npy").unlink()  # a crash between writes
    again = evaluate_images(x, dataset="digits", metrics=("fid",), reference_count=100)
    assert again["reference_cache"]["hit"] is False
    assert again["metrics"]["fid"] == pytest.approx(first["metrics"]["fid"], rel=1e-9)
    manifest = json.loads((ref / "protocol.json").read_text())
    manifest["protocol"]["n_reference"] = 99  # not what this key stands for
    (ref / "protocol.json").write_text(json.dumps(manifest))
    third = evaluate_images(x, dataset="digits", metrics=("fid",), reference_count=100)
    assert third["reference_cache"]["hit"] is False
    assert evaluate_images(x, dataset="digits", metrics=("fid",), reference_count=100)[
        "reference_cache"
    ]["hit"]


def _fresh_reference(digits_test_images, tmp_path, monkeypatch):
    """An evaluation with its own reference cache under tmp_path; returns (record, dir)."""
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path))
    record = evaluate_images(digits_test_images[:20], dataset="digits", metrics=("fid", "kid"))
    return record, Path(record["reference_cache"]["path"])


class _Payload:
    """Unpickling this object would create ``path``: the probe of a code-executing cache."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_pickle_in_the_reference_cache_is_never_executed(
    digits_test_images, tmp_path, monkeypatch
):
    first, ref = _fresh_reference(digits_test_images, tmp_path, monkeypatch)
    marker = tmp_path / "executed"
    for target in ref.glob("*.npy"):
        torch.save({"evil": _Payload(marker)}, target)  # a pickle where arrays belong
    with pytest.warns(UserWarning, match="changed since scorebench wrote it"):
        again = evaluate_images(digits_test_images[:20], dataset="digits", metrics=("fid", "kid"))
    assert not marker.exists()
    assert again["reference_cache"]["hit"] is False
    assert again["metrics"] == first["metrics"]


def test_altered_reference_statistics_are_recomputed_not_trusted(
    digits_test_images, tmp_path, monkeypatch
):
    first, ref = _fresh_reference(digits_test_images, tmp_path, monkeypatch)
    mu = np.load(ref / "fid-mu.npy")
    np.save(ref / "fid-mu.npy", mu * 10)  # still loads, numbers changed
    with pytest.warns(UserWarning, match="fid-mu.npy changed"):
        again = evaluate_images(digits_test_images[:20], dataset="digits", metrics=("fid", "kid"))
    assert again["reference_cache"]["hit"] is False
    assert again["metrics"]["fid"] == first["metrics"]["fid"]
    cached = evaluate_images(digits_test_images[:20], dataset="digits", metrics=("fid", "kid"))
    assert cached["reference_cache"]["hit"] is True and cached["metrics"] == first["metrics"]
