"""TensorBoard logging (``train.tensorboard=true``), for ``tensorboard --logdir runs``.

Training events go into the run directory itself, so TensorBoard names the run after it:
loss, per-level loss, learning rate, throughput, the sample grids as images and the
resolved config as text. Each evaluation adds an hparams session in its cell directory
(``RUN/evals/KEY``): the config and the sampler beside the final metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scorebench.config import flatten
from scorebench.errors import ConfigError


def _writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError(
            "train.tensorboard=true needs the tensorboard package: "
            "pip install 'scorebench[tensorboard]'"
        ) from exc
    return SummaryWriter


class TrainingBoard:
    """The events of one training run; ``start`` is the step it continues from (events
    a killed run wrote past it are purged, as its log rows are; those at ``start`` stay)."""

    def __init__(self, run_path: Path, config: dict[str, Any], start: int) -> None:
        purge = start + 1 if start else None
        self.writer = _writer_class()(log_dir=str(run_path), purge_step=purge)
        if not start:
            text = json.dumps(config, indent=2, sort_keys=True)
            self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)

    def scalars(self, record: dict[str, Any]) -> None:
        step = record["step"]
        for key in ("loss", "lr", "images_per_s"):
            self.writer.add_scalar(key, record[key], step)
        for i, value in enumerate(record["loss_per_level"]):
            if value is not None:
                self.writer.add_scalar(f"loss_level/{i:02d}", value, step)

    def grid(self, png: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"))
        self.writer.add_image("samples", pixels, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def hparam_values(config: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The values TensorBoard's hparams table shows for an evaluation: every scalar of the
    config (lists as text) and the sampler's name and parameters."""
    sampler = record["cell"]["spec"]["sampler"]
    flat = {**flatten(config), "sampler": sampler["name"], "n": record["n_samples"]}
    flat.update({f"sampler.{k}": v for k, v in flatten(sampler.get("params", {})).items()})
    return {
        key: value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
        for key, value in flat.items()
        if value is not None
    }


def log_evaluation(cell_path: Path, config: dict[str, Any], record: dict[str, Any]) -> None:
    metrics = {
        f"eval/{k}": float(v)
        for k, v in record["metrics"].items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    from torch.utils.tensorboard.summary import hparams

    step = record["cell"]["spec"]["source"].get("step")
    with _writer_class()(log_dir=str(cell_path)) as writer:
        for summary in hparams(hparam_values(config, record), metrics):
            writer.file_writer.add_summary(summary, step)
        for key, value in metrics.items():  # the hparams table reads these scalars
            writer.add_scalar(key, value, step)
