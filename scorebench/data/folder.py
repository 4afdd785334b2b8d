"""Any directory of images as a dataset.

Every ``.png``, ``.jpg`` and ``.jpeg`` file (any letter case) below the directory, searched
recursively and sorted by relative path, is one item: converted to RGB (``channels=3``) or
grayscale (``channels=1``), resized so that its shorter side is ``image_size`` (bilinear,
antialiased) and center-cropped to ``image_size`` x ``image_size``.

Splits: if the directory has a ``train/`` or ``test/`` subdirectory, the split ``s`` is the
images under ``s/`` (asking for a split whose subdirectory is missing is an error). Otherwise
the whole directory serves as both ``train`` and ``test``. The metric reference is
``train``.

The directory is ``path`` if given, else ``root`` (the ``--data-dir`` the CLI passes).
"""

from __future__ import annotations

from pathlib import Path

from scorebench.data.base import SPLITS, ImageFileDataset, check_positive_int, check_split
from scorebench.errors import ConfigError, DataUnavailableError

__all__ = ["IMAGE_SUFFIXES", "ImageFolderDataset", "folder"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


def _find_images(directory: Path) -> list[Path]:
    return sorted(
        (p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
        key=lambda p: p.relative_to(directory).as_posix(),
    )


def _split_dir(base: Path, split: str) -> Path:
    present = [s for s in SPLITS if (base / s).is_dir()]
    if not present:
        return base
    if split not in present:
        raise DataUnavailableError(
            f"image folder {base} has {'/'.join(present)}/ but no {split}/ subdirectory; add "
            f"{base / split} or, to use the whole folder for every split, move the images out "
            f"of {'/'.join(present)}/"
        )
    return base / split


class ImageFolderDataset(ImageFileDataset):
    """Images from files: shorter side resized to ``image_size``, then center-cropped."""

    def __init__(
        self, directory: Path, split: str, files: list[Path], image_size: int, channels: int
    ) -> None:
        super().__init__("folder", split, files, channels, image_size)
        self.directory = directory

    def fit(self, img):
        from torchvision.transforms import functional as F

        img = F.resize(img, self.image_size, antialias=True)  # shorter side
        return F.center_crop(img, [self.image_size, self.image_size])

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset({str(self.directory)!r}, split={self.split!r}, n={len(self)}, "
            f"shape={self.shape})"
        )


def folder(
    root: str | Path | None = None,
    split: str = "train",
    *,
    path: str | Path | None = None,
    image_size: int = 32,
    channels: int = 3,
) -> ImageFolderDataset:
    """The images under ``path`` (or ``root``) as ``(channels, image_size, image_size)``."""
    check_split("folder", split)
    check_positive_int("folder", "image_size", image_size)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ConfigError(f"dataset 'folder': channels must be 1 or 3, got {channels!r}")
    given = path if path is not None else root
    if given is None:
        raise ConfigError(
            "dataset 'folder' needs a directory: pass --data-dir DIR or set dataset param path"
        )
    base = Path(given).expanduser().resolve()
    if not base.is_dir():
        raise DataUnavailableError(f"image folder {base} does not exist or is not a directory")
    directory = _split_dir(base, split)
    files = _find_images(directory)
    if not files:
        raise DataUnavailableError(
            f"image folder {directory} contains no images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}, searched recursively)"
        )
    return ImageFolderDataset(directory, split, files, image_size, channels)
