"""Drawing samples: a run's network as a score function, shards, NFE accounting, grids.

Sample ``i`` draws all of its noise from its own generator, seeded by ``(seed, i)``
(:mod:`scorebench.noise`), so the N samples are the same whatever the batch size or the
number of ranks. They are stored in shards of ``sample.shard_size`` (each drawn in batches
of ``sample.batch_size``), and a killed job resumes by skipping the shards already on disk
(:mod:`scorebench.stores` keeps them, one directory per spec).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scorebench.components import (
    build_network,
    build_score_function,
    build_sigmas,
    network_score,
    sample_shape,
)
from scorebench.config import RunConfig
from scorebench.contracts import IMAGES, STANDARD_NORMAL, kind_of
from scorebench.data.transforms import inverse_logit_transform, to_uint8
from scorebench.errors import ScorebenchError
from scorebench.files import atomic_write, read_json
from scorebench.noise import SampleNoise, randomness
from scorebench.runs import RunDir, load_checkpoint
from scorebench.score import CountingScore


def init_spec(config: RunConfig, sampler: Callable) -> dict[str, Any]:
    """How the chains start: a sampler that starts from its own prior declares it
    (:func:`scorebench.api.starts_from_prior`; it scales N(0, I) by its sigma_max); any
    other sampler gets the configured ``sample.init``."""
    if getattr(sampler, "init", None) == STANDARD_NORMAL:
        return {"kind": STANDARD_NORMAL, "set_by": "sampler"}
    s = config.sample
    if s.init == "gaussian":
        return {"kind": "gaussian", "std": "sigma_max of the levels"}
    return {"kind": s.init, "low": s.init_low, "high": s.init_high}


def initial_state(
    init: dict[str, Any], shape: tuple[int, ...], sigma_max: float, noise: SampleNoise
) -> torch.Tensor:
    """The chains' start (see :func:`init_spec`), one row per sample of ``noise``."""
    if init["kind"] in (STANDARD_NORMAL, "gaussian"):
        scale = sigma_max if init["kind"] == "gaussian" else 1.0
        return scale * noise.normal(shape)
    u = noise.uniform(torch.empty((len(noise), *shape), device=noise.device))
    return init["low"] + (init["high"] - init["low"]) * u


def draw(
    score: Callable,
    sampler: Callable,
    config: RunConfig,
    sigmas: torch.Tensor,
    shape: tuple[int, ...],
    indices: range,
    callback: Callable[[dict], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Samples ``indices`` of the cell seeded by ``config``'s sampling seed, in one batch;
    returns (samples in fp32, NFE of this batch)."""
    noise = SampleNoise(sampling_seed(config), indices, sigmas.device)
    counted = CountingScore(score)
    x = initial_state(init_spec(config, sampler), shape, float(sigmas[0]), noise)
    with torch.no_grad():
        out = sampler(
            counted,
            x,
            sigmas,
            **randomness(sampler, noise),
            callback=callback,
            **config.sample.sampler.params,
        )
    return out.float(), counted.nfe


def data_space(samples: torch.Tensor, config: RunConfig) -> torch.Tensor:
    """Samples of a network trained on logit-transformed data (``data.logit_transform``)
    mapped back to [0, 1], as the official code does before saving them; else as they are."""
    return inverse_logit_transform(samples) if config.data.logit_transform else samples


def to_storage(samples: torch.Tensor) -> np.ndarray:
    """Images as uint8 (what metrics see), points as float32."""
    if kind_of(samples.shape[1:]) == IMAGES:
        return to_uint8(samples).cpu().numpy()
    return samples.cpu().numpy().astype(np.float32)


@dataclass
class Model:
    """A trained run's score function at one checkpoint, ready to sample from."""

    config: RunConfig
    score: Callable
    sigmas: torch.Tensor
    shape: tuple[int, ...]
    step: int


def resolve_step(run: RunDir, checkpoint: str) -> int:
    """The checkpoint step that ``checkpoint`` (final, best or a step number) names."""
    steps = run.intact_checkpoint_steps()
    if not steps:
        raise ScorebenchError(
            f"{run.path} has no intact checkpoint: train it first (scorebench train)."
        )
    if checkpoint == "final":
        return steps[-1]
    if checkpoint == "best":
        return selected_step(run)
    step = int(checkpoint)
    if step not in steps:
        raise ScorebenchError(f"{run.path} has no checkpoint at step {step}; it has {steps}.")
    return step


def shard_count(n: int, size: int) -> int:
    return (n + size - 1) // size


def checkpoint_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a checkpoint samples with: the EMA copy when there is one."""
    return state["ema"] if state.get("ema") is not None else state["model"]


def load_model(
    run: RunDir, device: torch.device, step: int, config: RunConfig | None = None
) -> Model:
    """The score function of ``run`` at checkpoint ``step`` as score(x, sigma), under
    ``config`` (default: the run's own); for an oracle source, its analytic score."""
    config = config or run.load_config()
    sigmas = build_sigmas(config, device)
    if config.score_function is not None:
        oracle = build_score_function(config)
        return Model(config, oracle, sigmas, sample_shape(oracle), step)
    state = load_checkpoint(run.checkpoint_path(step), map_location=device)
    network = build_network(config, device)
    try:
        network.load_state_dict(checkpoint_weights(state))
    except RuntimeError as exc:  # keys or shapes differ
        raise ScorebenchError(
            f"checkpoint {run.checkpoint_path(step)} does not fit network "
            f"{config.network.name!r} with params {config.network.params}: it was trained "
            f"with another network or version ({str(exc).splitlines()[0]}). Sample it with the "
            "scorebench and plugin versions that trained it, or train again."
        ) from None
    network.eval()
    score = network_score(network, sigmas, config, device, compile_network=config.runtime.compile)
    return Model(config, score, sigmas, tuple(state["shape"]), step)


def selected_step(run: RunDir) -> int:
    """The checkpoint chosen by checkpoint selection (``selection.json``)."""
    selection = run.selection
    if not selection.is_file():
        raise ScorebenchError(
            f"{selection} is missing: sample.checkpoint=best needs checkpoint selection "
            "(eval.select_every > 0), which `scorebench run` does after training."
        )
    chosen = read_json(selection, "checkpoint selection", "Delete it; `scorebench run` redoes it.")
    if not isinstance(chosen, dict) or not isinstance(chosen.get("best_step"), int):
        raise ScorebenchError(
            f"{selection} names no best_step. Delete it; `scorebench run` redoes it."
        )
    return chosen["best_step"]


def sampling_seed(config: RunConfig) -> int:
    return config.runtime.seed if config.sample.seed is None else config.sample.seed


def draw_shard(
    model: Model,
    sampler: Callable,
    k: int,
    n: int,
    progress: Callable[[int], None] | None = None,
    evaluations: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Shard ``k`` of a cell of ``n`` samples in storage form, drawn in batches of
    ``sample.batch_size``, and its NFE per sample. ``progress(size)`` after each batch;
    ``evaluations(count)`` after each score evaluation of a batch (for a progress bar)."""
    s = model.config.sample
    first, last = k * s.shard_size, min(n, (k + 1) * s.shard_size)
    parts, calls = [], 0
    for start in range(first, last, s.batch_size):
        indices = range(start, min(last, start + s.batch_size))
        counter = itertools.count(1)
        step = (lambda info, c=counter: evaluations(next(c))) if evaluations else None
        samples, nfe = draw(
            model.score, sampler, model.config, model.sigmas, model.shape, indices, step
        )
        if not bool(torch.isfinite(samples).all()):  # uint8 storage would hide NaN as black
            raise ScorebenchError(
                f"sampler {s.sampler.name!r} produced NaN or infinite values (samples "
                f"{indices.start} to {indices.stop - 1}): it diverged; nothing was stored. "
                "Try a smaller step size."
            )
        parts.append(to_storage(data_space(samples, model.config)))
        calls += nfe * len(indices)
        if progress:
            progress(len(indices))
    return np.concatenate(parts), round(calls / (last - first))


def draw_many(model: Model, sampler: Callable, n: int) -> np.ndarray:
    """The first ``n`` samples of the cell that ``model.config`` samples, kept in memory."""
    count = shard_count(n, model.config.sample.shard_size)
    return np.concatenate([draw_shard(model, sampler, k, n)[0] for k in range(count)])


def save_grid(samples: torch.Tensor, path: Path) -> None:
    """A PNG grid of image samples (torchvision), or a scatter plot of 2-D points."""
    if kind_of(samples.shape[1:]) == IMAGES:
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
