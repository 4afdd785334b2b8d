"""Samples (and the reference images of their protocol) as PNG files, for other tools:
torch-fidelity's ``fidelity --input1 DIR --input2 DIR``, clean-fid, an image viewer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from scorebench.cells import make_cell
from scorebench.errors import ScorebenchError
from scorebench.evaluate import reference_images
from scorebench.runs import RunDir
from scorebench.stores import load_samples


def write_pngs(images: Iterable[np.ndarray], out: Path) -> int:
    """uint8 (C, H, W) arrays as ``000000.png``, ``000001.png``... (lossless); returns the
    count. Refuses a folder that already holds PNGs: mixing two exports would go unseen."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.png")):
        raise ScorebenchError(f"{out} already holds PNG files: export into an empty folder")
    count = 0
    for count, image in enumerate(images, 1):
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[0] not in (1, 3):
            raise ScorebenchError(
                f"only images export as PNG (uint8, 1 or 3 channels); got {array.dtype} "
                f"{array.shape}: these samples are not images"
            )
        pixels = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
        Image.fromarray(pixels).save(out / f"{count - 1:06d}.png")
    return count


def export_samples(cell, out: Path) -> int:
    """The samples of a finished cell (see :func:`scorebench.stores.load_samples`)."""
    samples = load_samples(cell)
    if samples.ndim != 4:
        raise ScorebenchError(
            f"{cell.run.path} holds 2-D points, not images: there is nothing to write as PNG"
        )
    return write_pngs(samples, out)


def export_reference(cell, out: Path) -> int:
    """The reference images the cell's protocol compares with, the same split and subset."""
    reference = reference_images(cell.config)
    return write_pngs((reference[i].numpy() for i in range(len(reference))), out)


def export(
    run: RunDir, overrides: list[str], png: Path, reference: Path | None
) -> tuple[int, int | None]:
    """``scorebench export``: the samples of ``run``'s cell under ``overrides`` into ``png``,
    and its protocol's reference images into ``reference`` when given; returns the counts."""
    cell = make_cell(run, overrides)
    written = export_samples(cell, png)
    return written, None if reference is None else export_reference(cell, reference)
