"""CIFAR-10, MNIST and CelebA loaded from generated files in their real on-disk formats."""

from __future__ import annotations

import hashlib
import pickle
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from scorebench.data import images
from scorebench.errors import ConfigError, DataUnavailableError


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _no_download(root):
    raise AssertionError("no download expected")


def _offline(root):
    raise urllib.error.URLError("offline (test)")


# --------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_reads_python_batches(tmp_path, formats, monkeypatch, protocol):
    written = formats.cifar10(tmp_path, n_per_batch=3, protocol=protocol)
    monkeypatch.setattr(images, "_download_cifar10", _no_download)
    train = images.cifar10(tmp_path, "train", verify=False)
    test = images.cifar10(tmp_path, "test", verify=False)
    assert (len(train), len(test)) == (15, 3)
    assert train.shape == (3, 32, 32) and train.channels == 3
    assert (train.name, train.split, train.reference_split) == ("cifar10", "train", "train")
    assert test.split == "test" and test.reference_split == "train"
    # Item 4 is the second image of data_batch_2; rows are R, G, B planes of 32x32.
    data, labels = written["data_batch_2"]
    item = train[4]
    assert item.dtype == torch.float32 and item.shape == (3, 32, 32)
    expected = torch.from_numpy(data[1].reshape(3, 32, 32).astype(np.float32) / 255)
    torch.testing.assert_close(item, expected)
    assert train.targets[4].item() == labels[1]
    assert 0.0 <= float(train.batch(range(15)).min()) and float(train.batch([0, 1]).max()) <= 1.0


def test_cifar10_agrees_with_torchvision_reader(tmp_path, formats, monkeypatch):
    """torchvision's own CIFAR10 class (md5 check waived for generated files) yields the same
    images through PIL + ToTensor as scorebench's tensor path."""
    import torchvision.datasets.cifar as tv_cifar
    from torchvision.transforms import ToTensor

    formats.cifar10(tmp_path, n_per_batch=2)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: True)
    reference = tv_cifar.CIFAR10(str(tmp_path), train=False, transform=ToTensor())
    ours = images.cifar10(tmp_path, "test", download=False, verify=False)
    for i in range(len(ours)):
        image, label = reference[i]
        torch.testing.assert_close(ours[i], image)
        assert ours.targets[i].item() == label


def test_cifar10_verified_files_load(tmp_path, formats, monkeypatch):
    """With checksums that match (here: the generated files' own md5, standing in for the
    official ones), verification passes and the files load."""
    formats.cifar10(tmp_path, n_per_batch=2, legacy_numpy_names=True)
    folder = tmp_path / "cifar-10-batches-py"
    sums = {p.name: _md5(p) for p in folder.iterdir()}
    monkeypatch.setattr(images, "_cifar10_checksums", lambda: sums)
    monkeypatch.setattr(images, "_download_cifar10", _no_download)
    assert len(images.cifar10(tmp_path, "train")) == 10


def test_cifar10_legacy_numpy_pickles_load_unverified(tmp_path, formats):
    """Files pickled by numpy 1 (``numpy.core`` globals, as the official ones) pass the safe
    unpickler."""
    written = formats.cifar10(tmp_path, n_per_batch=2, legacy_numpy_names=True)
    raw = (tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes()
    assert b"numpy.core.multiarray" in raw
    test = images.cifar10(tmp_path, "test", download=False, verify=False)
    assert np.array_equal(test.data.reshape(2, -1).numpy(), written["test_batch"][0])


def test_cifar10_checksum_mismatch_is_reported(tmp_path, formats):
    formats.cifar10(tmp_path, n_per_batch=2)  # generated files never match the official md5
    with pytest.raises(DataUnavailableError) as info:
        images.cifar10(tmp_path, "test", download=False)
    message = str(info.value)
    assert "test_batch has md5" in message and "40351d587109b95175f43aff81a1287e" in message
    assert "download=false" in message


def test_cifar10_unverified_pickle_cannot_run_code(tmp_path, formats):
    formats.cifar10(tmp_path, n_per_batch=2)
    marker = tmp_path / "created-by-pickle"

    class Evil:
        def __reduce__(self):
            import os

            return (os.mkdir, (str(marker),))

    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}, protocol=2))
    with pytest.raises(DataUnavailableError, match="refusing to unpickle"):
        images.cifar10(tmp_path, "test", download=False, verify=False)
    assert not marker.exists()


def test_cifar10_malformed_batch(tmp_path, formats):
    formats.cifar10(tmp_path, n_per_batch=2)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}))
    with pytest.raises(DataUnavailableError, match=r"shape \(2, 100\)"):
        images.cifar10(tmp_path, "test", download=False, verify=False)


def test_cifar10_offline_download_failure_says_what_and_where(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_download_cifar10", _offline)
    root = tmp_path / "data"
    with pytest.raises(DataUnavailableError) as info:
        images.cifar10(root, "train")
    message = str(info.value)
    for needle in (
        str(root),
        str(root / "cifar-10-batches-py"),
        "data_batch_1",
        "test_batch",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "--data-dir",
        "SCOREBENCH_DATA_DIR",
        "offline (test)",
    ):
        assert needle in message, needle


def test_cifar10_real_torchvision_download_offline(tmp_path, monkeypatch):
    """Through torchvision's actual downloader, with urlopen failing as it does offline."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no route to host (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(DataUnavailableError, match="Downloading it failed") as info:
        images.cifar10(tmp_path, "test")
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)


def test_cifar10_download_then_load(tmp_path, formats, monkeypatch):
    calls = []

    def fake_download(root):
        calls.append(root)
        formats.cifar10(root, n_per_batch=1)

    monkeypatch.setattr(images, "_download_cifar10", fake_download)
    data = images.cifar10(tmp_path, "test", verify=False)
    assert calls == [tmp_path.resolve()] and len(data) == 1


def test_cifar10_default_root_is_data_dir(tmp_path, formats, monkeypatch):
    formats.cifar10(tmp_path, n_per_batch=1)
    monkeypatch.setenv("SCOREBENCH_DATA_DIR", str(tmp_path))
    assert len(images.cifar10(None, "test", download=False, verify=False)) == 1


# --------------------------------------------------------------------------- MNIST


def test_mnist_reads_idx_files(tmp_path, formats):
    written = formats.mnist(tmp_path, n_train=5, n_test=3)
    train = images.mnist(tmp_path, "train", download=False)
    test = images.mnist(tmp_path, "test", download=False)
    assert (len(train), len(test)) == (5, 3)
    assert train.shape == (1, 28, 28) and train.reference_split == "train"
    pixels, labels = written["t10k"]
    torch.testing.assert_close(test[2], torch.from_numpy(pixels[2:3].astype(np.float32) / 255))
    assert test.targets.tolist() == labels.tolist()


def test_mnist_agrees_with_torchvision_class(tmp_path, formats):
    from torchvision.datasets import MNIST
    from torchvision.transforms import ToTensor

    formats.mnist(tmp_path)
    reference = MNIST(str(tmp_path), train=True, transform=ToTensor())
    ours = images.mnist(tmp_path, "train", download=False)
    for i in range(len(ours)):
        torch.testing.assert_close(ours[i], reference[i][0])


def test_mnist_one_split_is_enough(tmp_path, formats):
    formats.mnist(tmp_path)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (tmp_path / "MNIST" / "raw" / name).unlink()
    assert len(images.mnist(tmp_path, "test", download=False)) == 3


def test_mnist_offline_failure_names_files_and_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_download_mnist", _offline)
    with pytest.raises(DataUnavailableError) as info:
        images.mnist(tmp_path, "test")
    message = str(info.value)
    raw = str(tmp_path / "MNIST" / "raw")
    for needle in (
        raw,
        "t10k-images-idx3-ubyte",
        "train-labels-idx1-ubyte.gz",
        "9fb629c4189551a2d022fa330f9573f3",
        "--data-dir",
        "offline (test)",
    ):
        assert needle in message, needle


def test_mnist_real_torchvision_download_offline(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no route to host (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(DataUnavailableError, match="Downloading it failed"):
        images.mnist(tmp_path, "train")


def test_mnist_malformed_file(tmp_path, formats):
    formats.mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataUnavailableError, match="malformed"):
        images.mnist(tmp_path, "test", download=False)


# --------------------------------------------------------------------------- CelebA


def test_celeba_crops_resizes_and_splits(tmp_path, formats):
    formats.celeba(tmp_path, {"000001.jpg": 0, "000002.jpg": 1, "000003.jpg": 2, "000004.jpg": 0})
    train = images.celeba(tmp_path, "train", download=False, verify=False)
    test = images.celeba(tmp_path, "test", download=False, verify=False)
    assert (len(train), len(test)) == (2, 1)  # the "valid" partition (1) is not used
    assert [p.name for p in train.files] == ["000001.jpg", "000004.jpg"]
    assert train.shape == (3, 32, 32) and train.reference_split == "train"
    item = train[0]
    assert item.shape == (3, 32, 32) and item.dtype == torch.float32
    # The central 140x140 square is white: after the crop the whole image is (JPEG-)white.
    assert float(item.min()) > 0.85 and float(item.mean()) > 0.98
    # A larger crop takes in the black border.
    wide = images.celeba(tmp_path, "train", crop=178, image_size=16, download=False, verify=False)
    assert wide[0].shape == (3, 16, 16) and float(wide[0].min()) < 0.1


def test_celeba_verifies_partition_file(tmp_path, formats, monkeypatch):
    folder = formats.celeba(tmp_path, {"000001.jpg": 2})
    with pytest.raises(DataUnavailableError, match="list_eval_partition.txt has md5"):
        images.celeba(tmp_path, "test", download=False)
    sums = {"list_eval_partition.txt": _md5(folder / "list_eval_partition.txt")}
    monkeypatch.setattr(images, "_celeba_checksums", lambda: sums)
    assert len(images.celeba(tmp_path, "test", download=False)) == 1


def test_celeba_partial_unzip(tmp_path, formats):
    folder = formats.celeba(tmp_path, {"000001.jpg": 0, "000002.jpg": 0})
    (folder / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DataUnavailableError, match="000002.jpg"):
        images.celeba(tmp_path, "train", download=False, verify=False)


def test_celeba_download_failure_without_gdown(tmp_path):
    """torchvision's real CelebA download (Google Drive via gdown) fails here; the message
    says what to fetch and where."""
    with pytest.raises(DataUnavailableError) as info:
        images.celeba(tmp_path, "train")
    message = str(info.value)
    for needle in (
        str(tmp_path / "celeba"),
        "img_align_celeba.zip",
        "list_eval_partition.txt",
        "00d2c5bc6d35e252742224ab0c1e8fcb",
        "drive.google.com",
        "--data-dir",
    ):
        assert needle in message, needle


def test_celeba_bad_params(tmp_path):
    with pytest.raises(ConfigError, match="crop"):
        images.celeba(tmp_path, "train", crop=300)
    with pytest.raises(ConfigError, match="image_size"):
        images.celeba(tmp_path, "train", image_size=0)


@pytest.mark.parametrize("factory", [images.cifar10, images.mnist, images.celeba])
def test_unknown_split_and_bad_download_flag(tmp_path, factory):
    with pytest.raises(ConfigError, match="allowed splits: train, test"):
        factory(tmp_path, "valid")
    with pytest.raises(ConfigError, match="download"):
        factory(tmp_path, "train", download="yes")
