"""TensorBoard (``train.tensorboard=true``), for ``tensorboard --logdir runs``.

Training events go into the run directory itself, so TensorBoard names the run after it:
``train/loss``, ``train/loss_level/NN``, ``train/lr``, ``train/images_per_s``, the sample
grids (``train/samples``) and the resolved config as text. Each evaluation is an hparams
session in ``RUN/evals/tensorboard/NAME``, named by its sampler and parameters: the
sampler, seed, n and step lead its hyper-parameters, beside the final metrics.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from scorebench.errors import ConfigError
from scorebench.trackers.naming import (
    evaluation_hparams,
    evaluation_name,
    numeric_metrics,
    safe_name,
)

#: Where evaluations' sessions go, inside the run directory.
EVAL_DIR = Path("evals") / "tensorboard"


def _writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError(
            "train.tensorboard=true needs the tensorboard package: "
            "pip install 'scorebench[tensorboard]'"
        ) from exc
    return SummaryWriter


class TensorBoardTraining:
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
            self.writer.add_scalar(f"train/{key}", record[key], step)
        for i, value in enumerate(record["loss_per_level"]):
            if value is not None:
                self.writer.add_scalar(f"train/loss_level/{i:02d}", value, step)

    def grid(self, png: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"))
        self.writer.add_image("train/samples", pixels, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def tensorboard_evaluation(run_path: Path, config: dict[str, Any], record: dict[str, Any]) -> None:
    """One evaluation as an hparams session, its hyper-parameters in the order
    :func:`evaluation_hparams` gives them. The protos are built here because torch's
    ``hparams()`` stores a boolean as the number 1.0 (and TensorBoard's own helper needs
    TensorFlow)."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    hparams, metrics = evaluation_hparams(config, record), numeric_metrics(record)
    kinds = {bool: api_pb2.DATA_TYPE_BOOL, str: api_pb2.DATA_TYPE_STRING}
    experiment = api_pb2.Experiment(
        hparam_infos=[
            api_pb2.HParamInfo(name=k, type=kinds.get(type(v), api_pb2.DATA_TYPE_FLOAT64))
            for k, v in hparams.items()
        ],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metrics],
    )
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for key, value in hparams.items():
        kind = {bool: "bool_value", str: "string_value"}.get(type(value), "number_value")
        setattr(start.hparams[key], kind, value)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    step = record["cell"]["spec"]["source"].get("step")
    directory = run_path / EVAL_DIR / safe_name(evaluation_name(record))
    with _writer_class()(log_dir=str(directory)) as writer:
        writer.file_writer.add_summary(_hparams_summary(experiment=experiment), step)
        writer.file_writer.add_summary(_hparams_summary(session_start_info=start), step)
        for key, value in metrics.items():  # the hparams table reads these scalars
            writer.add_scalar(key, value, step)
        writer.file_writer.add_summary(_hparams_summary(session_end_info=end), step)


def _hparams_summary(**data: Any):
    """A summary holding one HParamsPluginData field (experiment, session start or end)."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    (field,) = data
    tag = {
        "experiment": metadata.EXPERIMENT_TAG,
        "session_start_info": metadata.SESSION_START_INFO_TAG,
        "session_end_info": metadata.SESSION_END_INFO_TAG,
    }[field]
    plugin = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(**data))
    return Summary(value=[Summary.Value(tag=tag, metadata=plugin, tensor=metadata.NULL_TENSOR)])
