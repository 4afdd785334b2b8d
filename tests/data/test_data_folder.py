"""The image-folder dataset on PNG and JPEG files written with PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from scorebench.data.folder import folder
from scorebench.errors import ConfigError, DataUnavailableError


def _band_image(path, width, height, fmt=None):
    """White in a central band twice as long as the shorter side, black at both ends of the
    longer side (a plain resize without the crop would show black)."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    side = min(width, height)
    if width >= 4 * side:
        pixels[:, width // 2 - side : width // 2 + side] = 255
    elif height >= 4 * side:
        pixels[height // 2 - side : height // 2 + side, :] = 255
    else:
        pixels[:] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)


def test_folder_resize_center_crop_recursive(tmp_path):
    _band_image(tmp_path / "a.png", 80, 20)  # landscape
    _band_image(tmp_path / "nested" / "deeper" / "b.PNG", 20, 80)  # portrait, upper-case suffix
    _band_image(tmp_path / "c.jpg", 32, 32, fmt="JPEG")
    (tmp_path / "notes.txt").write_text("not an image")
    data = folder(tmp_path, "train", image_size=8)
    assert len(data) == 3 and data.shape == (3, 8, 8) and data.reference_split == "train"
    assert [p.name for p in data.files] == ["a.png", "c.jpg", "b.PNG"]  # sorted relative paths
    for i in (0, 2):  # shorter side -> 8, then the centre 8x8: only the white band is left
        with Image.open(data.files[i]) as raw:
            assert np.asarray(raw).min() == 0  # the black ends are really there
        item = data[i]
        assert item.shape == (3, 8, 8) and item.dtype == torch.float32
        assert float(item.min()) == 1.0
    assert float(data[1].min()) > 0.9  # c.jpg: JPEG, lossy


def test_folder_grayscale_and_path_param(tmp_path):
    images = tmp_path / "imgs"
    _band_image(images / "x.png", 10, 10)
    data = folder("/nonexistent/root", "test", path=images, image_size=4, channels=1)
    assert data.shape == (1, 4, 4) and data[0].shape == (1, 4, 4) and data.channels == 1


def test_folder_train_test_subdirs(tmp_path):
    for name in ("train/1.png", "train/2.png", "test/3.png"):
        _band_image(tmp_path / name, 8, 8)
    assert len(folder(tmp_path, "train", image_size=8)) == 2
    assert len(folder(tmp_path, "test", image_size=8)) == 1


def test_folder_without_subdirs_serves_both_splits(tmp_path):
    _band_image(tmp_path / "only.png", 8, 8)
    assert len(folder(tmp_path, "train")) == len(folder(tmp_path, "test")) == 1


def test_folder_errors(tmp_path):
    with pytest.raises(DataUnavailableError, match="does not exist"):
        folder(tmp_path / "missing", "train")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataUnavailableError, match="contains no images"):
        folder(tmp_path / "empty", "train")
    _band_image(tmp_path / "half" / "train" / "a.png", 8, 8)
    with pytest.raises(DataUnavailableError, match="no test/ subdirectory"):
        folder(tmp_path / "half", "test")
    with pytest.raises(ConfigError, match="needs a directory"):
        folder(None, "train")
    with pytest.raises(ConfigError, match="channels"):
        folder(tmp_path / "half", "train", channels=2)
    with pytest.raises(ConfigError, match="allowed splits"):
        folder(tmp_path / "half", "all")


def test_folder_unreadable_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    data = folder(tmp_path, "train")
    with pytest.raises(DataUnavailableError, match="broken.png"):
        data[0]
