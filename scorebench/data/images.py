"""CIFAR-10, MNIST and CelebA in the file layouts torchvision downloads.

Loading is offline-first. The files are read from ``root`` (default
:func:`scorebench.paths.data_dir`); only when they are absent (or fail their checksum) and
``download`` is true does torchvision fetch them. When that fails too (offline, a Google
Drive quota, no ``gdown``), a :class:`~scorebench.errors.DataUnavailableError` says which
files to fetch from where, with their md5 sums, and the exact directory to put them in.

Why scorebench reads CIFAR-10 and CelebA itself rather than through torchvision's classes:
torchvision's classes refuse to load unless every file of every split matches a hard-coded
md5 (CelebA's even the attribute lists no generative model uses), which makes a partial copy
or a generated test fixture unloadable, and their errors do not say what is missing. Here
the official checksums are still torchvision's (read from its classes, so they stay in
sync), checked for the files the requested split needs (``verify=True``, the default);
torchvision does the downloading. CIFAR-10's pickles, verified or not, go through an
unpickler that accepts only numpy arrays, lists and strings, so no file in a data directory
can run code (an md5 match is no proof against a crafted file). MNIST's idx files are parsed
by torchvision's own readers.

CIFAR-10 and MNIST are held as one uint8 tensor and scaled to [0, 1] per item (no PIL per
item); CelebA goes through PIL: center crop 140, resize to 32 (bilinear, antialiased), as
the official NCSN code does with torchvision transforms.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from scorebench.checks import boolean
from scorebench.data.base import ImageFileDataset, TensorDataset, check_positive_int, check_split
from scorebench.errors import ConfigError, DataUnavailableError
from scorebench.paths import DATA_DIR_ENV, data_dir

__all__ = ["CelebADataset", "celeba", "cifar10", "mnist"]

T = TypeVar("T")

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_FILES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}
MNIST_FILES = {
    "train": ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
    "test": ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
}
CELEBA_DIR = "celeba"
CELEBA_IMAGES = "img_align_celeba"
CELEBA_PARTITION = "list_eval_partition.txt"
#: list_eval_partition.txt codes; the official "valid" partition (1) is not exposed.
CELEBA_SPLIT_CODES = {"train": "0", "test": "2"}
CELEBA_ALIGNED_SIZE = (178, 218)  # width, height of every aligned CelebA image


class _Unavailable(Exception):
    """The files are missing or do not verify; ``reason`` says which and how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- helpers


def _resolve_root(root: str | Path | None) -> Path:
    return Path(root).expanduser().resolve() if root is not None else data_dir().resolve()


def _check_bool(name: str, param: str, value: object) -> bool:
    return boolean(f"dataset {name!r}: {param}", value)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = _md5(path)
    if actual != expected:
        raise _Unavailable(
            f"{path} has md5 {actual}, expected {expected} (a partial download or another "
            f"file; delete it and fetch it again)"
        )


def _missing(folder: Path, names: list[str]) -> list[str]:
    return [n for n in names if not (folder / n).is_file()]


def _another_dir_hint() -> str:
    return f"To use another directory, pass --data-dir DIR or set {DATA_DIR_ENV}=DIR."


def _load_or_download(
    load: Callable[[], T],
    fetch: Callable[[], object],
    download: bool,
    help_text: Callable[[str, str], str],
) -> T:
    """``load()``; if the files are unavailable and ``download``, ``fetch()`` then load again.

    ``help_text(reason, what_happened)`` builds the error message."""
    try:
        return load()
    except _Unavailable as exc:
        reason = exc.reason
    if not download:
        raise DataUnavailableError(help_text(reason, "Downloading is off (download=false)."))
    try:
        fetch()
    except Exception as exc:  # offline, HTTP error, quota, missing gdown: all end the same way
        raise DataUnavailableError(
            help_text(reason, f"Downloading it failed: {type(exc).__name__}: {exc}")
        ) from exc
    try:
        return load()
    except _Unavailable as exc:
        raise DataUnavailableError(
            help_text(exc.reason, "The download finished but the files still do not load.")
        ) from None


# --------------------------------------------------------------------------- CIFAR-10


def _cifar10_checksums() -> dict[str, str]:
    """Official md5 of each CIFAR-10 file, from torchvision's CIFAR10 class."""
    from torchvision.datasets import CIFAR10

    pairs = CIFAR10.train_list + CIFAR10.test_list
    return {name: md5 for name, md5 in pairs} | {CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}


def _download_cifar10(root: Path) -> None:
    from torchvision.datasets import CIFAR10

    CIFAR10(str(root), train=True, download=True)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts of numpy arrays, lists and strings and nothing else (no code runs)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # Python 3 pickles of bytes at protocol <= 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy.core."):  # numpy 2 moved numpy.core to numpy._core
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    raw = path.read_bytes()
    try:
        entry = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = [int(v) for v in entry["labels"]]
    except Exception as exc:
        raise _Unavailable(
            f"{path} is not a CIFAR-10 python batch ({type(exc).__name__}: {exc})"
        ) from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise _Unavailable(
            f"{path} holds data of shape {data.shape} and {len(labels)} labels; "
            f"expected (N, 3072) and N labels"
        )
    return data, labels


def _load_cifar10(root: Path, split: str, verify: bool) -> tuple[torch.Tensor, torch.Tensor]:
    folder = root / CIFAR10_DIR
    names = CIFAR10_FILES[split]
    missing = _missing(folder, names)
    if missing:
        raise _Unavailable(f"missing {', '.join(missing)} in {folder}")
    checksums = _cifar10_checksums() if verify else {}
    arrays, labels = [], []
    for name in names:
        path = folder / name
        if verify:
            _verify(path, checksums.get(name))
        data, batch_labels = _read_cifar_batch(path)
        arrays.append(data)
        labels.extend(batch_labels)
    images = np.concatenate(arrays).reshape(-1, 3, 32, 32)  # stored channel-major already
    return torch.from_numpy(np.ascontiguousarray(images)), torch.tensor(labels, dtype=torch.long)


def _cifar10_help(root: Path, split: str) -> Callable[[str, str], str]:
    def text(reason: str, happened: str) -> str:
        from torchvision.datasets import CIFAR10

        return (
            f"CIFAR-10 ({split} split) is not available: {reason}. {happened}\n"
            f"To install it by hand, download {CIFAR10.url} (md5 {CIFAR10.tgz_md5}) and "
            f"extract it in {root}, so that {root / CIFAR10_DIR} holds data_batch_1 ... "
            f"data_batch_5, test_batch and batches.meta (or put {CIFAR10.filename} itself in "
            f"{root}: with downloads on, it is verified and extracted on the next run).\n"
            + _another_dir_hint()
        )

    return text


def cifar10(
    root: str | Path | None = None,
    split: str = "train",
    *,
    download: bool = True,
    verify: bool = True,
) -> TensorDataset:
    """CIFAR-10: 50,000 train / 10,000 test RGB images, ``shape == (3, 32, 32)``.

    ``root`` holds ``cifar-10-batches-py/``. ``verify`` checks the files' md5 against the
    official sums. Labels are in ``targets``; the metric reference is the train split (the
    FID convention of the NCSN paper and its successors)."""
    check_split("cifar10", split)
    _check_bool("cifar10", "download", download)
    _check_bool("cifar10", "verify", verify)
    where = _resolve_root(root)
    images, labels = _load_or_download(
        lambda: _load_cifar10(where, split, verify),
        lambda: _download_cifar10(where),
        download,
        _cifar10_help(where, split),
    )
    return TensorDataset("cifar10", split, images, targets=labels, reference_split="train")


# --------------------------------------------------------------------------- MNIST


def _download_mnist(root: Path) -> None:
    from torchvision.datasets import MNIST

    MNIST(str(root), train=True, download=True)


def _load_mnist(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    folder = root / "MNIST" / "raw"
    names = MNIST_FILES[split]
    missing = _missing(folder, names)
    if missing:
        raise _Unavailable(f"missing {', '.join(missing)} in {folder}")
    image_path, label_path = (folder / n for n in names)
    try:
        images = read_image_file(str(image_path))
        labels = read_label_file(str(label_path))
    except Exception as exc:  # torchvision asserts on a malformed header
        raise _Unavailable(
            f"{folder} holds malformed idx files ({type(exc).__name__}: {exc})"
        ) from None
    if images.ndim != 3 or images.dtype != torch.uint8 or len(labels) != len(images):
        raise _Unavailable(
            f"{image_path} holds {tuple(images.shape)} {images.dtype} with {len(labels)} "
            f"labels; expected (N, H, W) uint8 images and N labels"
        )
    return images.unsqueeze(1).contiguous(), labels.long()


def _mnist_help(root: Path, split: str) -> Callable[[str, str], str]:
    def text(reason: str, happened: str) -> str:
        from torchvision.datasets import MNIST

        raw = root / "MNIST" / "raw"
        sources = "\n".join(
            f"  {MNIST.mirrors[0]}{name}  (md5 {md5})" for name, md5 in MNIST.resources
        )
        return (
            f"MNIST ({split} split) is not available: {reason}. {happened}\n"
            f"To install it by hand, download\n{sources}\n"
            f"(mirror: {', '.join(MNIST.mirrors[1:]) or 'none'}) into {raw} and gunzip them "
            f"there, so that {raw} holds {', '.join(MNIST_FILES['train'] + MNIST_FILES['test'])} "
            f"(with downloads on, .gz files left in {raw} are verified and extracted on the "
            f"next run).\n" + _another_dir_hint()
        )

    return text


def mnist(
    root: str | Path | None = None,
    split: str = "train",
    *,
    download: bool = True,
) -> TensorDataset:
    """MNIST: 60,000 train / 10,000 test grayscale digits, ``shape == (1, 28, 28)``.

    ``root`` holds ``MNIST/raw/`` with the four uncompressed idx files (the layout torchvision
    downloads). Labels are in ``targets``; the metric reference is the train split."""
    check_split("mnist", split)
    _check_bool("mnist", "download", download)
    where = _resolve_root(root)
    images, labels = _load_or_download(
        lambda: _load_mnist(where, split),
        lambda: _download_mnist(where),
        download,
        _mnist_help(where, split),
    )
    return TensorDataset("mnist", split, images, targets=labels, reference_split="train")


# --------------------------------------------------------------------------- CelebA


def _celeba_checksums() -> dict[str, str]:
    from torchvision.datasets import CelebA

    return {filename: md5 for _, md5, filename in CelebA.file_list}


def _download_celeba(root: Path) -> None:
    from torchvision.datasets import CelebA

    CelebA(str(root), split="all", target_type=[], download=True)


def _load_celeba(root: Path, split: str, verify: bool) -> list[Path]:
    folder = root / CELEBA_DIR
    partition = folder / CELEBA_PARTITION
    images = folder / CELEBA_IMAGES
    missing = [str(p) for p in (partition, images) if not p.exists()]
    if missing:
        raise _Unavailable(f"missing {' and '.join(missing)}")
    if verify:
        _verify(partition, _celeba_checksums().get(CELEBA_PARTITION))
    code = CELEBA_SPLIT_CODES[split]
    files = []
    for lineno, line in enumerate(partition.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise _Unavailable(f"{partition}, line {lineno}: expected 'FILE PARTITION'")
        if fields[1] == code:
            files.append(images / fields[0])
    if not files:
        raise _Unavailable(f"{partition} lists no image of partition {code} ({split})")
    # Checking all ~160k files would cost seconds; the first and last catch a partial unzip.
    absent = [str(p) for p in (files[0], files[-1]) if not p.is_file()]
    if absent:
        raise _Unavailable(f"missing {', '.join(absent)} (is {CELEBA_IMAGES}.zip fully extracted?)")
    return files


def _celeba_help(root: Path, split: str) -> Callable[[str, str], str]:
    def text(reason: str, happened: str) -> str:
        from torchvision.datasets import CelebA

        folder = root / CELEBA_DIR
        needed = {f"{CELEBA_IMAGES}.zip", CELEBA_PARTITION}
        sources = "\n".join(
            f"  {filename}: https://drive.google.com/uc?id={file_id}  (md5 {md5})"
            for file_id, md5, filename in CelebA.file_list
            if filename in needed
        )
        return (
            f"CelebA ({split} split) is not available: {reason}. {happened}\n"
            f"To install it by hand, download from the CelebA Google Drive "
            f"(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html)\n{sources}\n"
            f"into {folder}, and unzip {CELEBA_IMAGES}.zip there, so that {folder} holds "
            f"{CELEBA_PARTITION} and {CELEBA_IMAGES}/000001.jpg ... (torchvision's automatic "
            f"download needs the gdown package and often hits Google Drive's quota).\n"
            + _another_dir_hint()
        )

    return text


class CelebADataset(ImageFileDataset):
    """Aligned CelebA faces, center-cropped to ``crop`` then resized (attributes are not
    classes: ``targets`` stays None)."""

    def __init__(self, split: str, files: list[Path], image_size: int, crop: int) -> None:
        super().__init__("celeba", split, files, 3, image_size)
        self.crop = crop

    def fit(self, img):
        from torchvision.transforms import functional as F

        img = F.center_crop(img, [self.crop, self.crop])
        return F.resize(img, [self.image_size, self.image_size], antialias=True)

    def __repr__(self) -> str:
        return (
            f"CelebADataset(split={self.split!r}, n={len(self)}, shape={self.shape}, "
            f"crop={self.crop})"
        )


def celeba(
    root: str | Path | None = None,
    split: str = "train",
    *,
    image_size: int = 32,
    crop: int = 140,
    download: bool = True,
    verify: bool = True,
) -> CelebADataset:
    """CelebA aligned faces: center crop ``crop`` then resize to ``image_size`` (NCSN: 140,
    32). ``shape == (3, image_size, image_size)``.

    ``root`` holds ``celeba/list_eval_partition.txt`` and ``celeba/img_align_celeba/``. The
    official partition gives ``train`` (162,770 images) and ``test`` (19,962); the metric
    reference is the train split. ``verify`` checks the partition file's md5."""
    check_split("celeba", split)
    check_positive_int("celeba", "image_size", image_size)
    check_positive_int("celeba", "crop", crop)
    if crop > min(CELEBA_ALIGNED_SIZE):
        raise ConfigError(
            f"dataset 'celeba': crop {crop} exceeds the aligned images' width "
            f"{min(CELEBA_ALIGNED_SIZE)}; use at most that"
        )
    _check_bool("celeba", "download", download)
    _check_bool("celeba", "verify", verify)
    where = _resolve_root(root)
    files = _load_or_download(
        lambda: _load_celeba(where, split, verify),
        lambda: _download_celeba(where),
        download,
        _celeba_help(where, split),
    )
    return CelebADataset(split, files, image_size, crop)
