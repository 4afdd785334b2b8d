"""Stages of a run as library functions (train -> sample -> evaluate -> report)."""

from __future__ import annotations

from typing import Any

import torch

from scorebench import distributed
from scorebench.runs import RunDir


def _progress(total: int, label: str, enabled: bool):
    """A rich progress bar on stderr (a no-op when disabled)."""
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=False)


def sample_stage(
    run: RunDir, *, n: int | None = None, device: str | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Draw the run's samples (sharded across torchrun ranks) and save a grid of them."""
    from scorebench.sample import load_samples, sample_run, save_grid

    config = run.load_config()
    requested = device or config.runtime.device
    kind = (
        "cuda"
        if requested.startswith("cuda") or (requested == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    dist = distributed.setup(kind)
    try:
        dev = distributed.resolve_device(requested, dist)
        total = n or config.sample.n
        with _progress(total, "sample", dist.is_main and not quiet) as bar:
            task = bar.add_task("sample", total=total) if bar else None
            record = sample_run(
                run,
                n=n,
                device=dev,
                rank=dist.rank,
                world_size=dist.world_size,
                progress=(lambda k: bar.advance(task, k)) if bar else None,
            )
        distributed.barrier(dist)
        if dist.is_main:
            samples = torch.from_numpy(load_samples(run)[:64])
            if samples.dtype == torch.uint8:
                samples = samples.float() / 255
            save_grid(samples, run.path / "samples.png")
        return record
    finally:
        distributed.teardown(dist)
