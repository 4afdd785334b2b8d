"""What every built-in dataset shares: split validation and an in-memory tensor dataset.

Every dataset object has the attributes

* ``name``: the registered name (``"cifar10"``);
* ``split``: ``"train"`` or ``"test"``;
* ``kind``: ``"images"`` or ``"points"``;
* ``extractor``: images only, the feature network their metrics use by default;
* ``shape``: one item's shape, ``(C, H, W)`` for images, ``(D,)`` for points;
* ``channels``: ``C`` for images, ``None`` for points;
* ``reference_split``: the split whose statistics metrics compare samples against;
* ``targets``: class labels as a 1-D integer tensor where the data has them, else ``None``.

Items are the data alone (a float32 tensor; images in [0, 1]): the models are
unconditional, labels stay available through ``targets``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from scorebench.checks import integer
from scorebench.contracts import kind_of
from scorebench.errors import ConfigError, DataUnavailableError

__all__ = ["SPLITS", "TensorDataset", "check_split", "check_positive_int"]

SPLITS: tuple[str, ...] = ("train", "test")


def check_split(name: str, split: str) -> str:
    """Return ``split`` if it is one of :data:`SPLITS`, else raise :class:`ConfigError`."""
    if split not in SPLITS:
        raise ConfigError(
            f"dataset {name!r} has no split {split!r}; allowed splits: {', '.join(SPLITS)}"
        )
    return split


def check_positive_int(dataset: str, param: str, value: object, minimum: int = 1) -> int:
    """An integer parameter of a dataset factory."""
    return integer(f"dataset {dataset!r}: {param}", value, minimum)


def items(ds: object, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Items ``indices`` of any dataset as one tensor: its ``batch`` where it has one."""
    if hasattr(ds, "batch"):
        return ds.batch(indices)
    return torch.stack([ds[int(i)] for i in indices])


class TensorDataset(Dataset):
    """A dataset held in one tensor.

    ``data`` is either uint8 images ``(N, C, H, W)``, scaled to [0, 1] one item at a time
    (keeping CIFAR-10 at 150 MB instead of 600 MB of float32), or float32 items returned as
    they are (points, or images already in [0, 1]).
    """

    def __init__(
        self,
        name: str,
        split: str,
        data: torch.Tensor,
        *,
        targets: torch.Tensor | None = None,
        reference_split: str = "train",
        extractor: str = "inception-v3",
    ) -> None:
        if data.dtype not in (torch.uint8, torch.float32):
            raise TypeError(f"{name}: data must be uint8 or float32, got {data.dtype}")
        if targets is not None and len(targets) != len(data):
            raise ValueError(f"{name}: {len(targets)} targets for {len(data)} items")
        self.name = name
        self.split = split
        self.data = data
        self.targets = targets
        self.reference_split = reference_split
        self.shape: tuple[int, ...] = tuple(data.shape[1:])
        self.kind = kind_of(self.shape)
        self.channels: int | None = self.shape[0] if self.kind == "images" else None
        self.extractor: str | None = extractor if self.kind == "images" else None

    def __len__(self) -> int:
        return len(self.data)

    def _to_float(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.to(torch.float32).div_(255.0)
        return x

    def __getitem__(self, index: int) -> torch.Tensor:
        return self._to_float(self.data[index])

    def batch(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Several items at once as one float32 tensor (no per-item collation)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return self._to_float(self.data[index])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"shape={self.shape}, reference_split={self.reference_split!r})"
        )


class ImageFileDataset(Dataset):
    """Images read from files one at a time (PIL) into [0, 1]; a subclass's ``fit`` crops
    and resizes each to ``(image_size, image_size)``."""

    def __init__(self, name: str, split: str, files: list, channels: int, image_size: int) -> None:
        self.name, self.split, self.files = name, split, files
        self.channels, self.image_size = channels, image_size
        self.shape: tuple[int, ...] = (channels, image_size, image_size)
        self.kind, self.extractor = "images", "inception-v3"
        self.reference_split = "train"
        self.targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms import functional as F

        path = self.files[index]
        try:
            with Image.open(path) as img:
                img = img.convert("RGB" if self.channels == 3 else "L")
        except OSError as exc:
            raise DataUnavailableError(f"{self.name} image {path} cannot be read: {exc}") from exc
        return F.pil_to_tensor(self.fit(img)).to(torch.float32).div_(255.0)

    def fit(self, img):
        raise NotImplementedError
