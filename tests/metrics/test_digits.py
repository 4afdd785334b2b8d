"""digits-cnn: trained by scorebench, registered in torch-fidelity, used by the same engine."""

import pytest
import torch
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from scorebench.evaluate import evaluate_images
from scorebench.metrics.digits_cnn import FIDELITY_NAME, DigitsCNNFeatureExtractor, DigitsCNNSpec
from scorebench.metrics.protocol import file_sha256
from scorebench.paths import cache_dir


def test_the_shipped_digits_cnn_is_the_pinned_file():
    from scorebench.metrics import digits_cnn

    prepared = DigitsCNNSpec().prepare(cache_dir=cache_dir())
    assert prepared.weights_path == digits_cnn.WEIGHTS_FILE
    assert prepared.protocol["weights_sha256"] == digits_cnn.WEIGHTS_SHA256
    assert prepared.protocol["test_accuracy"] >= 0.97
    assert prepared.protocol["n_test"] == 360
    assert FEATURE_EXTRACTORS_REGISTRY[FIDELITY_NAME] is DigitsCNNFeatureExtractor
    # The recorded accuracy is what the file's network really reaches.
    checkpoint = digits_cnn.load_checkpoint(prepared.weights_path)
    net = digits_cnn.DigitsCNN()
    net.load_state_dict(checkpoint["state_dict"])
    _, _, test_x, test_y = digits_cnn._train_and_test_data(None, 8)
    assert digits_cnn.accuracy(net, test_x, test_y, 8) == checkpoint["test_accuracy"]
    assert checkpoint["command"] == digits_cnn.TRAIN_COMMAND


def test_a_damaged_shipped_file_is_refused(tmp_path, monkeypatch):
    from scorebench.errors import ScorebenchError
    from scorebench.metrics import digits_cnn

    damaged = tmp_path / "digits-cnn-v1.pt"
    data = bytearray(digits_cnn.WEIGHTS_FILE.read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(digits_cnn, "WEIGHTS_FILE", damaged)
    with pytest.raises(ScorebenchError, match="damaged or replaced"):
        DigitsCNNSpec().prepare(cache_dir=cache_dir())


def test_the_training_command_reproduces_the_recipe(tmp_path):
    from scorebench.metrics import digits_cnn

    out = tmp_path / "retrained.pt"
    digits_cnn.main(["--out", str(out)])
    retrained = DigitsCNNSpec(weights=str(out)).prepare(cache_dir=cache_dir())
    shipped = DigitsCNNSpec().prepare(cache_dir=cache_dir())
    assert retrained.protocol["recipe_hash"] == shipped.protocol["recipe_hash"]
    assert retrained.protocol["test_accuracy"] >= 0.97
    # The file's own checksum identifies it: another file is another protocol.
    assert retrained.protocol["weights_sha256"] == file_sha256(out)
    same_file = retrained.protocol["weights_sha256"] == shipped.protocol["weights_sha256"]
    assert (retrained.protocol == shipped.protocol) == same_file


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


@pytest.mark.parametrize("bad", [{"weights": 3}, {"weights": "/nonexistent/digits.pt"}])
def test_bad_weights_are_a_clear_error(bad):
    from scorebench.errors import ScorebenchError

    with pytest.raises(ScorebenchError):
        DigitsCNNSpec(**bad).prepare(cache_dir=cache_dir())
