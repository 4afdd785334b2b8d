"""digits-cnn: trained by scorebench, registered in torch-fidelity, used by the same engine."""

import pytest
import torch
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from scorebench.evaluate import evaluate_images
from scorebench.metrics.digits_cnn import FIDELITY_NAME, DigitsCNNFeatureExtractor, DigitsCNNSpec
from scorebench.paths import cache_dir


def test_digits_cnn_accuracy_and_cache():
    prepared = DigitsCNNSpec().prepare(cache_dir=cache_dir())
    assert prepared.protocol["test_accuracy"] >= 0.97
    assert prepared.protocol["n_test"] == 360
    assert prepared.weights_path.name == f"digits-cnn-{prepared.protocol['recipe_hash']}.pt"
    assert FEATURE_EXTRACTORS_REGISTRY[FIDELITY_NAME] is DigitsCNNFeatureExtractor
    mtime = prepared.weights_path.stat().st_mtime_ns
    again = DigitsCNNSpec().prepare(cache_dir=cache_dir())  # cached: not retrained
    assert again.weights_path.stat().st_mtime_ns == mtime
    assert again.protocol == prepared.protocol
    # Another recipe is another cache entry.
    assert DigitsCNNSpec(epochs=1).recipe("x") != DigitsCNNSpec().recipe("x")


def test_extractor_resizes_to_its_training_size():
    prepared = DigitsCNNSpec().prepare(cache_dir=cache_dir())
    fe = DigitsCNNFeatureExtractor(FIDELITY_NAME, ["logits", "penultimate"], prepared.weights_path)
    small = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    logits, feats = fe(small)
    assert logits.shape == (3, 10) and feats.shape == (3, 128)
    big = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)  # RGB, 32x32: still works
    assert fe(big)[0].shape == (3, 10)


def test_real_digits_score_well_and_noise_scores_badly(digits_test_images):
    real = evaluate_images(digits_test_images, dataset="digits", cross_check=True)
    noise = evaluate_images(torch.rand_like(digits_test_images), dataset="digits")
    assert real["extractor"] == "digits-cnn"
    assert real["protocol"]["extractor"]["test_accuracy"] >= 0.97
    assert real["fingerprint"] == noise["fingerprint"]  # same protocol, different samples
    r, z = real["metrics"], noise["metrics"]
    assert r["fid"] < 0.05 * z["fid"]
    assert r["kid_mean"] < 0.05 * z["kid_mean"]
    assert r["isc_mean"] > 8.0  # ten well-separated classes: close to 10
    assert r["precision"] > 0.8 and z["precision"] < 0.1
    # torchmetrics with the same network agrees with torch-fidelity.
    assert real["cross_check"]["rel_diff"] < 1e-3


def test_upsampled_digits_are_resized_to_the_training_size():
    from scorebench.plugins import load

    ds = load("datasets", "digits")(None, "test", image_size=16)
    x16 = torch.stack([ds[i] for i in range(len(ds))])
    record = evaluate_images(
        x16, dataset="digits", dataset_params={"image_size": 16}, metrics=("isc", "fid")
    )
    assert record["protocol"]["extractor"]["input_size"] == 8  # the network's size
    assert record["protocol"]["sample_shape"] == [1, 16, 16]
    assert record["protocol"]["reference"]["dataset_params"] == {"image_size": 16}
    assert record["metrics"]["isc_mean"] > 8.0
    assert record["metrics"]["fid"] < 20.0  # noise scores > 1000 on this scale


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"image_size": 4}, {"batch_size": True}])
def test_bad_recipe_is_a_config_error(bad):
    from scorebench.errors import ConfigError

    with pytest.raises(ConfigError):
        DigitsCNNSpec(**bad)
