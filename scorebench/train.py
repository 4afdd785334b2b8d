"""The generic trainer: one process on a CPU or N DDP ranks under torchrun, resumable.

It knows no particular model: network, noise schedule, loss and dataset come from the
registries through the run's config. Resuming restores model, optimizer, EMA, step and
every RNG state; the data order is a function of (seed, step), so a resumed run ends with
the same weights as an uninterrupted one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from scorebench import distributed
from scorebench.components import (
    autocast,
    build_dataset,
    build_loss,
    build_network,
    build_optimizer,
    build_sampler,
    build_sigmas,
    check_components,
    compiled,
    network_score,
)
from scorebench.config import RunConfig
from scorebench.contracts import IMAGES, kind_of
from scorebench.data.transforms import preprocess
from scorebench.errors import ConfigError, ScorebenchError
from scorebench.files import append_jsonl, atomic_save_torch, read_jsonl, rewrite_jsonl
from scorebench.runs import RunDir, latest_valid_checkpoint
from scorebench.sample import data_space, draw, save_grid
from scorebench.trackers import training_trackers


class TrainingDiverged(ScorebenchError):
    exit_code = 1


class StepSampler(Sampler[int]):
    """Dataset indices for one rank from ``start_step`` on: epoch ``e`` is a permutation
    seeded by ``(seed, e)``, split across ranks; batches run across epoch boundaries."""

    def __init__(self, n: int, batch: int, seed: int, start_step: int, rank: int, world: int):
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.rank, self.world = start_step, rank, world
        self.per_epoch = n // world
        if self.per_epoch < 1:
            raise ConfigError(f"dataset has {n} items: too few for {world} ranks")

    def __iter__(self) -> Iterator[int]:
        offset = self.start * self.batch
        epoch, position = divmod(offset, self.per_epoch)
        while True:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            order = torch.randperm(self.n, generator=g)[self.rank :: self.world][: self.per_epoch]
            yield from order[position:].tolist()
            epoch, position = epoch + 1, 0

    def __len__(self) -> int:  # infinite stream; DataLoader only needs a number
        return sys.maxsize


@dataclass
class TrainResult:
    step: int
    final_loss: float | None
    images_per_s: float | None
    resumed_from: int | None


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"].cpu())
    generator.set_state(state["generator"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


class _Log:
    """Rich progress bar on a terminal, plain lines otherwise; only rank 0 speaks."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=total, completed=start, status="")

    def update(self, step: int, record: dict[str, Any] | None) -> None:
        if not self.enabled:
            return
        status = ""
        if record:
            status = f"loss {record['loss']:.4g}  {record['images_per_s']:.1f} img/s"
        if self.progress is not None:
            self.progress.update(
                self.task, completed=step, **({"status": status} if status else {})
            )
        elif record:
            print(f"step {step}: {status}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def train(
    config: RunConfig,
    run: RunDir,
    *,
    resume: bool = True,
    argv: list[str] | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train ``config`` into ``run`` (continuing from its newest valid checkpoint if any)."""
    dist = distributed.setup(config.runtime.device)
    try:
        return _train(config, run, dist, resume=resume, argv=argv, quiet=quiet)
    finally:
        distributed.teardown(dist)


@dataclass
class _Parts:
    """What one rank trains with, built from the config (in this order: the initial
    weights depend on the global seed)."""

    dataset: Any
    shape: tuple[int, ...]
    per_rank_batch: int
    network: torch.nn.Module
    sigmas: torch.Tensor
    loss_fn: Any
    optimizer: Any
    ema: Any
    generator: torch.Generator


def _build(config: RunConfig, run: RunDir, dist, device, argv) -> _Parts:
    check_components(config)
    dataset = build_dataset(config, "train")  # first: a missing dataset fails in seconds
    if dist.is_main:
        run.prepare(config, argv=argv)
    distributed.barrier(dist)
    seed = config.runtime.seed
    torch.manual_seed(seed)  # same initial weights on every rank (DDP also broadcasts them)
    if config.data.batch_size % dist.world_size:
        raise ConfigError(
            f"data.batch_size={config.data.batch_size} is the global batch; it must divide "
            f"evenly across {dist.world_size} ranks"
        )
    network = build_network(config, device)
    sigmas, loss_fn = build_sigmas(config, device), build_loss(config)
    optimizer = build_optimizer(config, network, device)
    ema = None
    if config.train.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(config.train.ema))
    return _Parts(
        dataset=dataset,
        shape=tuple(dataset.shape),
        per_rank_batch=config.data.batch_size // dist.world_size,
        network=network,
        sigmas=sigmas,
        loss_fn=loss_fn,
        optimizer=optimizer,
        ema=ema,
        generator=torch.Generator(device).manual_seed(seed * 1009 + dist.rank),
    )


def _resume(parts: _Parts, run: RunDir, dist, device, resume: bool) -> int | None:
    """Load the newest intact checkpoint into ``parts``; its step, or None."""
    if not resume and run.checkpoint_steps():
        raise ConfigError(
            f"{run.path} already holds checkpoints {run.checkpoint_steps()}: continue it, or "
            "start over with --force (the old run is moved aside) or a new --run-dir"
        )
    found = latest_valid_checkpoint(run, map_location=device) if resume else None
    if found is None:
        return None
    step, state = found
    parts.network.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.ema is not None and state.get("ema") is not None:
        parts.ema.module.load_state_dict(state["ema"])
        parts.ema.n_averaged.copy_(state["ema_updates"])
    _restore_rng(state["rng"][min(dist.rank, len(state["rng"]) - 1)], parts.generator)
    return step


def _wrapped(network: torch.nn.Module, config: RunConfig, dist, device) -> torch.nn.Module:
    """What runs the forward pass: the network, compiled and/or under DDP."""
    model = compiled(network, inference=False) if config.runtime.compile else network
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return model


def _loader(parts: _Parts, config: RunConfig, start: int, dist, device) -> DataLoader:
    seed = config.runtime.seed
    return DataLoader(
        parts.dataset,
        batch_size=parts.per_rank_batch,
        sampler=StepSampler(
            len(parts.dataset), parts.per_rank_batch, seed, start, dist.rank, dist.world_size
        ),
        num_workers=config.data.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.data.num_workers > 0,
        # Its own generator: the DataLoader draws a base seed when iterated, which would
        # otherwise advance the global RNG that checkpoints save.
        generator=torch.Generator().manual_seed(seed),
    )


class _Interval:
    """What happened since the last log row, summed on the device (no sync per step); time
    spent on checkpoints and grids is kept apart from the training throughput."""

    def __init__(self, levels: int, device: torch.device) -> None:
        self.sums = torch.zeros(levels, device=device)
        self.counts = torch.zeros(levels, device=device)
        self.loss = torch.zeros((), device=device)
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=device)
        self.steps, self.tick, self.paused = 0, time.perf_counter(), 0.0

    def add(self, out) -> None:
        detached = out.per_sample.detach().float()
        self.sums.index_add_(0, out.levels, detached)
        self.counts.index_add_(0, out.levels, torch.ones_like(detached))
        self.loss += out.loss.detach().float()
        self.nonfinite |= ~torch.isfinite(out.loss.detach())
        self.steps += 1

    def check_finite(self, step: int, run: RunDir) -> None:
        if bool(self.nonfinite):  # checked before anything is written
            raise TrainingDiverged(
                f"the loss became NaN or infinite before step {step}. The last good "
                f"checkpoint in {run.checkpoints} is intact; lower train.lr, set "
                "train.grad_clip, or use runtime.precision=fp32."
            )

    def row(self, step: int, lr: float, batch: int, device: torch.device) -> dict[str, Any]:
        """The log row of the interval ending at ``step``; starts the next interval."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - self.tick
        per_level = (self.sums / self.counts.clamp(min=1)).tolist()
        record = {
            "step": step,
            "loss": float(self.loss) / self.steps,
            "loss_per_level": [
                round(v, 6) if c else None
                for v, c in zip(per_level, self.counts.tolist(), strict=True)
            ],
            "lr": lr,
            "images_per_s": self.steps * batch / (elapsed - self.paused),
            "time": time.time(),
        }
        self.sums.zero_()
        self.counts.zero_()
        self.loss.zero_()
        self.steps, self.tick, self.paused = 0, time.perf_counter(), 0.0
        return record


def _train(
    config: RunConfig,
    run: RunDir,
    dist: distributed.Dist,
    *,
    resume: bool,
    argv: list[str] | None,
    quiet: bool,
) -> TrainResult:
    device = distributed.resolve_device(config.runtime.device, dist)
    parts = _build(config, run, dist, device, argv)
    resumed_from = _resume(parts, run, dist, device, resume)
    start = resumed_from or 0
    if dist.is_main:
        truncate_metrics(run, start)  # rows a killed run logged past its last checkpoint
    if start >= config.train.steps:
        if dist.is_main and not run.grid_path(start).is_file():  # killed before drawing it
            _grid(config, parts, run, start, device)
        return TrainResult(start, None, None, resumed_from)
    trackers = training_trackers(config, run.path, start) if dist.is_main else []
    log = _Log(config.train.steps, start, dist.is_main and not quiet)
    try:
        last = _steps(config, run, dist, device, parts, start, trackers, log)
    finally:
        log.close()
        for tracker in trackers:
            tracker.close()
    loss, speed = (last["loss"], last["images_per_s"]) if last else (None, None)
    return TrainResult(config.train.steps, loss, speed, resumed_from)


def _steps(config, run, dist, device, parts: _Parts, start: int, trackers, log) -> dict | None:
    """Train from ``start`` to ``train.steps``: log rows, checkpoints, grids; the last row."""
    model = _wrapped(parts.network, config, dist, device)
    model.train()
    batches = iter(_loader(parts, config, start, dist, device))
    interval, last = _Interval(len(parts.sigmas), device), None
    t = config.train
    for step in range(start + 1, t.steps + 1):
        x = next(batches).to(device, non_blocking=True)
        interval.add(
            train_step(
                model,
                parts.network,
                parts.optimizer,
                parts.ema,
                parts.loss_fn,
                x,
                parts.sigmas,
                parts.generator,
                config,
                step,
            )
        )
        at_log = step % t.log_every == 0 or step == t.steps
        selected = config.eval.select_every and step % config.eval.select_every == 0
        at_checkpoint = step % t.checkpoint_every == 0 or step == t.steps or selected
        if at_log or at_checkpoint:
            interval.check_finite(step, run)
        if at_log:
            lr = parts.optimizer.param_groups[0]["lr"]
            last = interval.row(step, lr, config.data.batch_size, device)
            if dist.is_main:
                append_jsonl(run.metrics, last)
                for tracker in trackers:
                    tracker.scalars(last)
        pause = time.perf_counter()
        if at_checkpoint:
            _checkpoint(config, run, dist, parts, step)
        if dist.is_main and ((t.grid_every and step % t.grid_every == 0) or step == t.steps):
            _grid(config, parts, run, step, device)
            model.train()
            for tracker in trackers:
                tracker.grid(run.grid_path(step), step)
        interval.paused += time.perf_counter() - pause
        log.update(step, last if at_log else None)
    if dist.enabled:
        _log_rank_difference(run, dist, parts.network, t.steps)
    return last


def _checkpoint(config: RunConfig, run: RunDir, dist, parts: _Parts, step: int) -> None:
    rng = _gather_rng(_rng_state(parts.generator), dist)  # a collective: every rank joins
    if dist.is_main:
        _save_checkpoint(
            run,
            step,
            parts.network,
            parts.optimizer,
            parts.ema,
            rng,
            parts.shape,
            config.train.keep_checkpoints,
            config.eval.select_every,
        )


def _log_rank_difference(run: RunDir, dist, network: torch.nn.Module, step: int) -> None:
    difference = _rank_difference(network)  # a collective: every rank joins
    if dist.is_main:
        record = {
            "step": step,
            "event": "ddp_check",
            "world_size": dist.world_size,
            "max_rank_difference": difference,
        }
        append_jsonl(run.metrics, record)


def train_step(
    model: torch.nn.Module,
    network: torch.nn.Module,
    optimizer,
    ema,
    loss_fn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    generator: torch.Generator,
    config: RunConfig,
    step: int | None = None,
):
    """One optimisation step (number ``step``, counted from 1) on a raw batch ``x``:
    preprocessing (images), the loss under the configured precision, backward, optional
    clipping, the warmed-up learning rate, Adam, optional EMA.

    ``model`` is what runs the forward pass (maybe DDP- or compile-wrapped), ``network``
    the plain module whose parameters are clipped and averaged."""
    if kind_of(x.shape[1:]) == IMAGES:
        x = preprocess(
            x,
            generator,
            dequantize=config.data.dequantize,
            hflip=config.data.hflip,
            logit=config.data.logit_transform,
        )
        if config.runtime.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
    with autocast(x.device, config.runtime.precision):
        out = loss_fn(model, x, sigmas, generator)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    if config.train.grad_clip:
        torch.nn.utils.clip_grad_norm_(network.parameters(), config.train.grad_clip)
    if config.train.warmup and step is not None:  # a function of the step: resume is exact
        for group in optimizer.param_groups:
            group["lr"] = config.train.lr * min(1.0, step / config.train.warmup)
    optimizer.step()
    if ema is not None:
        ema.update_parameters(network)
    return out


def _rank_difference(network: torch.nn.Module) -> float:
    """Largest difference of any weight between ranks (0.0: DDP kept them identical)."""
    import torch.distributed as tdist

    flat = torch.cat([p.detach().float().flatten() for p in network.parameters()])
    high, low = flat.clone(), flat.clone()
    tdist.all_reduce(high, op=tdist.ReduceOp.MAX)
    tdist.all_reduce(low, op=tdist.ReduceOp.MIN)
    return float((high - low).max())


def _gather_rng(state: dict[str, Any], dist: distributed.Dist) -> list[dict[str, Any]]:
    """Every rank's RNG state, so each rank resumes its own noise stream."""
    if not dist.enabled:
        return [state]
    import torch.distributed as tdist

    states: list[Any] = [None] * dist.world_size
    tdist.all_gather_object(
        states,
        {
            k: v.cpu() if isinstance(v, torch.Tensor) else [t.cpu() for t in v]
            for k, v in state.items()
        },
    )
    return states


def _save_checkpoint(
    run: RunDir,
    step: int,
    network: torch.nn.Module,
    optimizer,
    ema,
    rng: list[dict[str, Any]],
    shape: tuple[int, ...],
    keep: int,
    select_every: int,
) -> None:
    """Save atomically; prune all but the last ``keep``, sparing checkpoint-selection steps."""
    state = {
        "step": step,
        "model": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        # The averaged weights as a plain state dict (what sampling loads) and the count.
        "ema": ema.module.state_dict() if ema is not None else None,
        "ema_updates": ema.n_averaged if ema is not None else None,
        "rng": rng,
        "shape": list(shape),
    }
    atomic_save_torch(state, run.checkpoint_path(step))
    for old in run.checkpoint_steps()[:-keep]:
        if not (select_every and old % select_every == 0):
            run.checkpoint_path(old).unlink(missing_ok=True)


def _grid(config: RunConfig, parts: _Parts, run: RunDir, step: int, device) -> None:
    """A sample grid with the run's own sampler (fixed seed, so grids are comparable)."""
    parts.network.eval()
    score = network_score(parts.network, parts.sigmas, config, device)
    shape = parts.shape
    n = config.train.grid_size if kind_of(shape) == IMAGES else max(config.train.grid_size, 1000)
    samples, _ = draw(score, build_sampler(config), config, parts.sigmas, shape, range(n))
    save_grid(data_space(samples, config), run.grid_path(step))


def truncate_metrics(run: RunDir, step: int) -> None:
    """Drop the log rows past ``step`` (the checkpoint training continues from), so a resumed
    run logs each step once."""
    if run.metrics.is_file():
        rows = read_jsonl(run.metrics)
        rewrite_jsonl(
            run.metrics, [r for r in rows if isinstance(r.get("step"), int) and r["step"] <= step]
        )
