"""The built-in plugin ``scorebench.data``: registers the built-in datasets.

Factories are ``"module:attr"`` strings so that importing this module (listing plugins,
``--help``) imports neither torch, torchvision nor scikit-learn.
"""

from __future__ import annotations

import scorebench
from scorebench.registry import Component

_DATASETS: tuple[tuple[str, str, str], ...] = (
    ("cifar10", "images:cifar10", "CIFAR-10 32x32 RGB (torchvision files; reference: train)"),
    ("mnist", "images:mnist", "MNIST 28x28 grayscale (torchvision files; reference: train)"),
    ("celeba", "images:celeba", "CelebA aligned, center crop 140, resized to 32 (as in NCSN)"),
    ("digits", "digits:digits", "scikit-learn 8x8 digits, offline; optional upsampling to 16"),
    ("folder", "folder:folder", "any directory of PNG/JPEG images, resized and center-cropped"),
    ("toy-gmm", "toys:toy_gmm", "2-D mixture 0.2 N((-5,-5), I) + 0.8 N((5,5), I) (NCSN toy)"),
    ("rings", "toys:rings", "2-D concentric circles (scikit-learn make_circles)"),
    ("moons", "toys:moons", "2-D two moons (scikit-learn make_moons)"),
    ("oracle", "oracle:oracle", "exact draws from a registered score function (oracle benches)"),
)


@scorebench.hookimpl
def register_datasets() -> list[Component]:
    return [
        Component(name, f"scorebench.data.{target}", summary) for name, target, summary in _DATASETS
    ]
