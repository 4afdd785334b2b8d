"""Writers of the datasets' real on-disk formats, filled with generated data: what the
dataset tests and the offline protocol checks read instead of a download."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_cifar10(
    root: Path,
    n_per_batch: int = 3,
    *,
    protocol: int = 2,
    legacy_numpy_names: bool = False,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write ``root/cifar-10-batches-py`` in CIFAR-10's python format: one pickled dict per
    batch with ``data`` (N, 3072) uint8, channel-major rows, and ``labels``.

    ``legacy_numpy_names`` rewrites numpy 2's ``numpy._core`` globals to ``numpy.core``, as in
    files pickled by older numpy (the official files). Returns ``{file: (data, labels)}``.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n_per_batch)]
        entry = {
            "batch_label": f"generated {name}",
            "labels": labels,
            "data": data,
            "filenames": [f"img_{i}.png" for i in range(n_per_batch)],
        }
        raw = pickle.dumps(entry, protocol=protocol)
        if legacy_numpy_names:
            assert protocol <= 2, "text GLOBAL opcodes only (protocols 0-2)"
            raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        (folder / name).write_bytes(raw)
        written[name] = (data, labels)
    meta = {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": n_per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return written


def _idx(magic_dtype: int, array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, magic_dtype, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1").tobytes()


def write_mnist(root: Path, n_train: int = 5, n_test: int = 3, seed: int = 0) -> dict:
    """Write ``root/MNIST/raw`` idx files (magic 0x00000803 images, 0x00000801 labels)."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    written = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(0x08, images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(0x08, labels))
        written[prefix] = (images, labels)
    return written


def write_celeba(root: Path, partitions: dict[str, int]) -> Path:
    """Write ``root/celeba`` with aligned-size (178x218) JPEGs and list_eval_partition.txt.

    Each image is black except its central 140x140 square, which is white."""
    from PIL import Image

    folder = root / "celeba"
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    pixels = np.zeros((218, 178, 3), dtype=np.uint8)
    top, left = (218 - 140) // 2, (178 - 140) // 2
    pixels[top : top + 140, left : left + 140] = 255
    lines = []
    for filename, code in partitions.items():
        Image.fromarray(pixels).save(images / filename, quality=95)
        lines.append(f"{filename} {code}")
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return folder
