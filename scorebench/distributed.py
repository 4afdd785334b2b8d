"""torchrun integration: the same code runs as one process or as N DDP ranks."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from scorebench.config import check_device
from scorebench.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


def setup(requested_device: str) -> Dist:
    """Join the process group when started by torchrun (nccl on GPU, gloo on CPU)."""
    on_gpu = requested_device.startswith("cuda") or (
        requested_device == "auto" and torch.cuda.is_available()
    )
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if on_gpu else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(requested_device: str):
    """(Dist, device) for the body, under torchrun joined to the process group."""
    d = setup(requested_device)
    try:
        yield d, resolve_device(requested_device, d)
    finally:
        teardown(d)


def resolve_device(requested: str, d: Dist) -> torch.device:

    check_device(requested, "device")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"runtime.device={requested} but no CUDA GPU is available here; "
                "use --set runtime.device=cpu (or auto)."
            )
        if requested == "cuda":
            return torch.device("cuda", d.local_rank)
    return torch.device(requested)
