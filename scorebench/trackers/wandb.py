"""Weights & Biases (``train.wandb=true``; ``pip install 'scorebench[wandb]'``).

W&B's own environment variables choose where runs go: ``WANDB_PROJECT`` (default
``scorebench``), ``WANDB_ENTITY``, and ``WANDB_MODE=offline`` to log without an account or
network (``wandb sync RUN/wandb/offline-run-*`` uploads later). Its local files live in
``RUN/wandb``.

A training run is one W&B run (job type ``train``) in a group named after the run
directory; a resumed training continues it (its id is kept in ``RUN/wandb-id``). Its rows
are plotted against ``train/step``, so rows a killed run logged past its checkpoint (W&B
cannot delete them) overlap the resumed ones instead of shifting them. Each evaluation is
a W&B run of the same group (job type ``eval``), named by its sampler and parameters, with
the hyper-parameters, the metrics and the sample grid.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scorebench.errors import ConfigError
from scorebench.files import atomic_write_bytes
from scorebench.trackers.naming import evaluation_hparams, evaluation_name, numeric_metrics

ID_FILE = "wandb-id"


def _start(run_path: Path, **settings: Any):
    """A W&B run, or a ConfigError that says why W&B could not start one."""
    try:
        import wandb
    except ImportError as exc:
        raise ConfigError(
            "train.wandb=true needs the wandb package: pip install 'scorebench[wandb]'"
        ) from exc
    try:
        return wandb.init(
            project=os.environ.get("WANDB_PROJECT", "scorebench"),
            dir=str(run_path),
            group=run_path.resolve().name,
            reinit="create_new",
            **settings,
        )
    except Exception as exc:  # wandb raises its own error types for a missing login, etc.
        raise ConfigError(
            f"train.wandb=true: W&B could not start a run ({type(exc).__name__}: {exc}). "
            "Log in with `wandb login`, or set WANDB_MODE=offline to log locally and "
            "`wandb sync` later; or turn it off with --set train.wandb=false."
        ) from exc


class WandbTraining:
    """The W&B run of one training run; a resumed training continues the same run."""

    def __init__(self, run_path: Path, config: dict[str, Any], start: int) -> None:
        id_file = run_path / ID_FILE
        run_id = id_file.read_text().strip() if start and id_file.is_file() else None
        self.run = _start(
            run_path,
            job_type="train",
            name=run_path.resolve().name,
            config=config,
            id=run_id,
            resume="allow" if run_id else None,
        )
        atomic_write_bytes(id_file, self.run.id.encode())
        self.run.define_metric("train/step")
        self.run.define_metric("train/*", step_metric="train/step")

    def scalars(self, record: dict[str, Any]) -> None:
        row = {f"train/{k}": record[k] for k in ("loss", "lr", "images_per_s")}
        row.update(
            {
                f"train/loss_level/{i:02d}": value
                for i, value in enumerate(record["loss_per_level"])
                if value is not None
            }
        )
        self.run.log({"train/step": record["step"], **row})

    def grid(self, png: Path, step: int) -> None:
        import wandb

        self.run.log({"train/step": step, "train/samples": wandb.Image(str(png))})

    def close(self) -> None:
        self.run.finish()


def wandb_evaluation(
    run_path: Path, config: dict[str, Any], record: dict[str, Any], grid: Path
) -> None:
    """One evaluation as its own W&B run: hyper-parameters, metrics and sample grid."""
    import wandb

    run = _start(
        run_path,
        job_type="eval",
        name=evaluation_name(record),
        config={**evaluation_hparams(config, record), "config": config},
    )
    try:
        metrics = numeric_metrics(record)
        run.log({**metrics, **({"eval/samples": wandb.Image(str(grid))} if grid.is_file() else {})})
        run.summary.update(metrics)
    finally:
        run.finish()
