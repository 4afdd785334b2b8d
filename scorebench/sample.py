"""The sampling driver: batches, shards across ranks, NFE and time accounting, resume.

Shard ``k`` always draws its samples from a generator seeded by ``(seed, k)``, so the N
samples are the same whatever the number of ranks, and a killed job resumes by skipping the
shards already on disk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scorebench.config import RunConfig
from scorebench.errors import ScorebenchError
from scorebench.files import atomic_write, atomic_write_json
from scorebench.runs import RunDir, load_checkpoint
from scorebench.score import CountingScore

SHARD = "shard-{:05d}.npy"


def shard_generator(seed: int, shard: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device).manual_seed(seed * 1_000_003 + shard)


def initial_state(
    config: RunConfig,
    n: int,
    shape: tuple[int, ...],
    sigma_max: float,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """The chain's start: uniform on [low, high] (NCSN) or N(0, sigma_max^2) (NCSNv2 style)."""
    s = config.sample
    if s.init == "gaussian":
        return sigma_max * torch.randn((n, *shape), generator=generator, device=device)
    u = torch.rand((n, *shape), generator=generator, device=device)
    return s.init_low + (s.init_high - s.init_low) * u


def draw(
    score: Callable,
    sampler: Callable,
    config: RunConfig,
    sigmas: torch.Tensor,
    shape: tuple[int, ...],
    n: int,
    generator: torch.Generator,
    callback: Callable[[dict], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """``n`` samples in one batch; returns (samples in fp32, NFE of this batch)."""
    device = sigmas.device
    counted = CountingScore(score)
    x = initial_state(config, n, shape, float(sigmas[0]), generator, device)
    with torch.no_grad():
        out = sampler(
            counted,
            x,
            sigmas,
            generator=generator,
            callback=callback,
            **config.sample.sampler.params,
        )
    return out.float(), counted.nfe


def to_storage(samples: torch.Tensor, is_image: bool) -> np.ndarray:
    """Images as uint8 (what metrics see), points as float32."""
    if is_image:
        return (samples.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return samples.cpu().numpy().astype(np.float32)


@dataclass
class Model:
    """A trained run's score function, ready to sample from."""

    config: RunConfig
    score: Callable
    sigmas: torch.Tensor
    shape: tuple[int, ...]
    step: int


def load_model(run: RunDir, device: torch.device, checkpoint: str | None = None) -> Model:
    """The network of a run at ``checkpoint`` (final, best or a step; default: the config's
    ``sample.checkpoint``), as score(x, sigma)."""
    from scorebench.components import build_network, build_sigmas, network_score

    config = run.load_config()
    checkpoint = checkpoint or config.sample.checkpoint
    steps = run.checkpoint_steps()
    if not steps:
        raise ScorebenchError(f"{run.path} has no checkpoints: train it first (scorebench train).")
    if checkpoint == "final":
        step = steps[-1]
    elif checkpoint == "best":
        step = selected_step(run)
    else:
        step = int(checkpoint)
        if step not in steps:
            raise ScorebenchError(f"{run.path} has no checkpoint at step {step}; it has {steps}.")
    state = load_checkpoint(run.checkpoint_path(step), map_location=device)
    network = build_network(config, device)
    network.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
    network.eval()
    sigmas = build_sigmas(config, device)
    score = network_score(network, sigmas, config, device)
    return Model(config, score, sigmas, tuple(state["shape"]), step)


def selected_step(run: RunDir) -> int:
    """The checkpoint chosen by checkpoint selection (``selection.json``)."""
    selection = run.path / "selection.json"
    if not selection.is_file():
        raise ScorebenchError(
            f"{selection} is missing: sample.checkpoint=best needs checkpoint selection "
            "(eval.select_every > 0), which `scorebench run` does after training."
        )
    return json.loads(selection.read_text())["best_step"]


def draw_shard(
    model: Model, sampler: Callable, k: int, n: int, device: torch.device
) -> tuple[np.ndarray, int]:
    """Shard ``k`` of ``n`` samples (seeded by (seed, k)) in storage form, and its NFE."""
    batch = model.config.sample.batch_size
    generator = shard_generator(model.config.runtime.seed, k, device)
    size = min(batch, n - k * batch)
    samples, nfe = draw(
        model.score, sampler, model.config, model.sigmas, model.shape, size, generator
    )
    return to_storage(samples, len(model.shape) == 3), nfe


def shard_count(n: int, batch: int) -> int:
    return (n + batch - 1) // batch


def draw_many(model: Model, sampler: Callable, n: int, device: torch.device) -> np.ndarray:
    """``n`` samples with the same shard seeds as ``sample_run``, kept in memory."""
    count = shard_count(n, model.config.sample.batch_size)
    return np.concatenate([draw_shard(model, sampler, k, n, device)[0] for k in range(count)])


def sample_run(
    run: RunDir,
    *,
    n: int | None = None,
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
    progress: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Draw the run's N samples into ``samples/`` shards, skipping shards already there.

    Returns the sampling record (also written to ``samples/samples.json`` by rank 0)."""
    from scorebench.components import build_sampler

    model = load_model(run, device)
    config = model.config
    n = n or config.sample.n
    batch = config.sample.batch_size
    sampler = build_sampler(config)
    shards = list(range(shard_count(n, batch)))
    mine = [k for k in shards if k % world_size == rank]
    _start_or_continue(run, config, model.step, n, rank, world_size, log)
    nfe_per_sample, drawn, seconds = None, 0, 0.0
    for k in mine:
        path = run.samples / SHARD.format(k)
        size = min(batch, n - k * batch)
        if not (path.exists() and np.load(path, mmap_mode="r").shape[0] == size):
            start = time.perf_counter()
            array, nfe_per_sample = draw_shard(model, sampler, k, n, device)
            seconds += time.perf_counter() - start  # to_storage's .cpu() has synchronised
            drawn += size
            atomic_write(path, lambda fh, a=array: np.save(fh, a))
        if progress:
            progress(size)
    record = {
        "n": n,
        "shards": len(shards),
        "checkpoint_step": model.step,
        "sampler": {"name": config.sample.sampler.name, "params": config.sample.sampler.params},
        "nfe_per_sample": nfe_per_sample,
        "drawn_now": drawn,
        "seconds": round(seconds, 3),
        "samples_per_s": round(drawn / seconds, 3) if seconds else None,
        "nfe_per_s": round(drawn * nfe_per_sample / seconds, 3) if seconds else None,
        "device": str(device),
        "world_size": world_size,
        "precision": config.runtime.precision,
    }
    previous = run.samples / "samples.json"
    if drawn == 0 and previous.exists():  # nothing new: keep the timings of the real draw
        return {**json.loads(previous.read_text()), "drawn_now": 0}
    if rank == 0:
        atomic_write_json(previous, record)
    return record


def _start_or_continue(
    run: RunDir,
    config: RunConfig,
    step: int,
    n: int,
    rank: int,
    world_size: int,
    log: Callable[[str], None],
) -> None:
    """Shards on disk are reused only if they were drawn with the same spec; stale ones
    (another checkpoint, sampler, count or seed) are removed: they are derived data."""
    from scorebench.distributed import Dist, barrier

    spec = {
        "checkpoint_step": step,
        "n": n,
        "batch_size": config.sample.batch_size,
        "seed": config.runtime.seed,
        "sampler": config.to_dict()["sample"]["sampler"],
        "init": [config.sample.init, config.sample.init_low, config.sample.init_high],
    }
    path = run.samples / "spec.json"
    if rank == 0:
        old = json.loads(path.read_text()) if path.is_file() else None
        if old != spec and run.samples.is_dir():
            stale = sorted(run.samples.glob("shard-*.npy"))
            if stale:
                log(f"sample: {len(stale)} shards were drawn with another spec; drawing anew")
            for shard in stale:
                shard.unlink()
            (run.samples / "samples.json").unlink(missing_ok=True)
        atomic_write_json(path, spec)
    barrier(Dist(rank, world_size))


def load_samples(run: RunDir) -> np.ndarray:
    """All shards of a run, in order."""
    meta = run.samples / "samples.json"
    if not meta.is_file():
        raise ScorebenchError(f"{run.path} has no samples: run `scorebench sample {run.path}`.")
    info = json.loads(meta.read_text())
    missing = [k for k in range(info["shards"]) if not (run.samples / SHARD.format(k)).exists()]
    if missing:
        raise ScorebenchError(
            f"{run.samples} lacks shards {missing[:5]}: rerun `scorebench sample`."
        )
    parts = [np.load(run.samples / SHARD.format(k)) for k in range(info["shards"])]
    return np.concatenate(parts)[: info["n"]]


def save_grid(samples: torch.Tensor, path: Path) -> None:
    """A PNG grid of image samples (torchvision), or a scatter plot of 2-D points."""
    if samples.ndim == 4:
        from torchvision.utils import make_grid, save_image

        grid = make_grid(samples.float().clamp(0, 1), nrow=int(len(samples) ** 0.5), padding=1)
        atomic_write(path, lambda fh: save_image(grid, fh, format="png"))
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    points = samples.cpu().numpy()
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
    ax.set_aspect("equal")
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
    plt.close(fig)
