"""Experiment trackers: TensorBoard (``train.tensorboard=true``) and Weights & Biases
(``train.wandb=true``) log a run's training and its evaluations beside its own files.

Both implement one interface: ``scalars`` and ``grid`` while training, ``close`` at its end,
and ``log_evaluation`` once per evaluated cell. Trackers only mirror what the run directory
already records, so turning one on never changes a checkpoint, a cell or a fingerprint.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Protocol

from scorebench.config import RunConfig
from scorebench.errors import ConfigError


class TrainingTracker(Protocol):
    def scalars(self, record: dict[str, Any]) -> None:
        """One row of the run's metrics.jsonl (step, loss, lr, images_per_s, ...)."""

    def grid(self, png: Path, step: int) -> None:
        """The sample grid drawn at ``step``."""

    def close(self) -> None: ...


def training_trackers(config: RunConfig, run_path: Path, start: int) -> list[TrainingTracker]:
    """The trackers the config turns on, continuing from step ``start``."""
    trackers: list[TrainingTracker] = []
    if config.train.tensorboard:
        from scorebench.trackers.tensorboard import TensorBoardTraining

        trackers.append(TensorBoardTraining(run_path, config.to_dict(), start))
    if config.train.wandb:
        from scorebench.trackers.wandb import WandbTraining

        trackers.append(WandbTraining(run_path, config.to_dict(), start))
    return trackers


def log_evaluation(run_path: Path, config: RunConfig, record: dict[str, Any], grid: Path) -> None:
    """Hand one evaluation (its record and sample grid) to every tracker the config turns
    on. The record is already stored: a tracker that cannot take it is a warning."""
    settings = config.to_dict()
    try:
        if config.train.tensorboard:
            from scorebench.trackers.tensorboard import tensorboard_evaluation

            tensorboard_evaluation(run_path, settings, record)
        if config.train.wandb:
            from scorebench.trackers.wandb import wandb_evaluation

            wandb_evaluation(run_path, settings, record, grid)
    except ConfigError as exc:
        warnings.warn(
            f"{exc} This evaluation is stored; only its tracker copy is missing.", stacklevel=2
        )
