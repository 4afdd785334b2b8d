"""scikit-learn's 8x8 handwritten digits: a small image dataset that needs no download.

The 1,797 images (pixel values 0..16) are split once, stratified by class, with
``train_test_split(test_size=0.2, random_state=0)``: 1,437 train and 360 test images, the
same on every machine. Pixels are divided by 16 into [0, 1]. ``image_size`` > 8 upsamples
bilinearly (``align_corners=False``, no antialiasing: it only matters when shrinking) and
clamps to [0, 1].

The metric reference is the train split, as for CIFAR-10; the test split is held out, e.g.
for a real-versus-real baseline (test against train) that tells how low a metric can go on
this little data. ``root`` is ignored (the data ships with scikit-learn).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from scorebench.data.base import TensorDataset, check_positive_int, check_split

__all__ = ["DIGITS_RANDOM_STATE", "DIGITS_TEST_SIZE", "digits"]

DIGITS_TEST_SIZE = 0.2
DIGITS_RANDOM_STATE = 0


def _split_arrays(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        bunch.images,
        bunch.target,
        test_size=DIGITS_TEST_SIZE,
        random_state=DIGITS_RANDOM_STATE,
        stratify=bunch.target,
    )
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    images = torch.as_tensor(x, dtype=torch.float32).div_(16.0).unsqueeze(1)
    return images.contiguous(), torch.as_tensor(y, dtype=torch.long)


def digits(
    root: str | Path | None = None, split: str = "train", *, image_size: int = 8
) -> TensorDataset:
    """The digits as ``(1, image_size, image_size)`` float images in [0, 1].

    ``image_size`` is at least 8 (16 is the usual choice for a network with two
    downsamplings). Labels are in ``targets``."""
    check_split("digits", split)
    check_positive_int("digits", "image_size", image_size, minimum=8)
    images, labels = _split_arrays(split)
    if image_size != 8:
        images = F.interpolate(
            images,
            size=(image_size, image_size),
            mode="bilinear",
            align_corners=False,
            antialias=False,
        ).clamp_(0.0, 1.0)
    return TensorDataset(
        "digits", split, images, targets=labels, reference_split="train", extractor="digits-cnn"
    )
