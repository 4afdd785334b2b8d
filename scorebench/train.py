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
    network_score,
)
from scorebench.config import RunConfig
from scorebench.errors import ConfigError, ScorebenchError
from scorebench.files import append_jsonl, atomic_save_torch
from scorebench.runs import RunDir, latest_valid_checkpoint


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
    check_components(config)
    dataset = build_dataset(config, "train")  # first: a missing dataset fails in seconds
    if dist.is_main:
        run.prepare(config, argv=argv)
    distributed.barrier(dist)
    seed = config.runtime.seed
    torch.manual_seed(seed)  # same initial weights on every rank (DDP also broadcasts them)
    shape = tuple(dataset.shape)
    if config.data.batch_size % dist.world_size:
        raise ConfigError(
            f"data.batch_size={config.data.batch_size} is the global batch; it must divide "
            f"evenly across {dist.world_size} ranks"
        )
    per_rank_batch = config.data.batch_size // dist.world_size
    network = build_network(config, device)
    sigmas = build_sigmas(config, device)
    loss_fn = build_loss(config)
    optimizer = build_optimizer(config, network, device)
    ema = None
    if config.train.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(config.train.ema))
    generator = torch.Generator(device).manual_seed(seed * 1009 + dist.rank)

    start, resumed_from = 0, None
    if not resume and run.checkpoint_steps():
        raise ConfigError(
            f"{run.path} already holds checkpoints {run.checkpoint_steps()}: continue it, or "
            "start over with --force (the old run is moved aside) or a new --run-dir"
        )
    found = latest_valid_checkpoint(run, map_location=device) if resume else None
    if found is not None:
        start, state = found
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.module.load_state_dict(state["ema"])
            ema.n_averaged.copy_(state["ema_updates"])
        _restore_rng(state["rng"][min(dist.rank, len(state["rng"]) - 1)], generator)
        resumed_from = start
    if dist.is_main:
        truncate_metrics(run, start)  # rows a killed run logged past its last checkpoint
    if start >= config.train.steps:
        if dist.is_main and not run.grid_path(start).is_file():  # killed before drawing it
            _grid(config, network, sigmas, shape, run, start, device)
        return TrainResult(start, None, None, resumed_from)

    model: torch.nn.Module = network
    if config.runtime.compile:
        model = torch.compile(model)
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    loader = DataLoader(
        dataset,
        batch_size=per_rank_batch,
        sampler=StepSampler(len(dataset), per_rank_batch, seed, start, dist.rank, dist.world_size),
        num_workers=config.data.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.data.num_workers > 0,
        # Its own generator: the DataLoader draws a base seed when iterated, which would
        # otherwise advance the global RNG that checkpoints save.
        generator=torch.Generator().manual_seed(seed),
    )
    board = None
    if dist.is_main and config.train.tensorboard:
        from scorebench.tensorboard import TrainingBoard

        board = TrainingBoard(run.path, config.to_dict(), start)
    log = _Log(config.train.steps, start, dist.is_main and not quiet)
    levels = len(sigmas)
    sums = torch.zeros(levels, device=device)
    counts = torch.zeros(levels, device=device)
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)
    interval_loss, interval_steps, tick = torch.zeros((), device=device), 0, time.perf_counter()
    paused = 0.0  # seconds of checkpoints and grids in the interval: not training throughput
    last_record: dict[str, Any] | None = None
    step = start
    model.train()
    batches = iter(loader)
    try:
        while step < config.train.steps:
            x = next(batches).to(device, non_blocking=True)
            out = train_step(model, network, optimizer, ema, loss_fn, x, sigmas, generator, config)
            step += 1
            detached = out.per_sample.detach().float()
            sums.index_add_(0, out.levels, detached)
            counts.index_add_(0, out.levels, torch.ones_like(detached))
            interval_loss += out.loss.detach().float()
            nonfinite |= ~torch.isfinite(out.loss.detach())
            interval_steps += 1

            at_log = step % config.train.log_every == 0 or step == config.train.steps
            at_checkpoint = (
                step % config.train.checkpoint_every == 0
                or step == config.train.steps
                or (config.eval.select_every and step % config.eval.select_every == 0)
            )
            if at_log or at_checkpoint:
                if bool(nonfinite):  # checked before anything is written
                    raise TrainingDiverged(
                        f"the loss became NaN or infinite before step {step}. The last good "
                        f"checkpoint in {run.checkpoints} is intact; lower train.lr, set "
                        "train.grad_clip, or use runtime.precision=fp32."
                    )
            if at_log:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                elapsed = time.perf_counter() - tick
                per_level = (sums / counts.clamp(min=1)).tolist()
                last_record = {
                    "step": step,
                    "loss": float(interval_loss) / interval_steps,
                    "loss_per_level": [
                        round(v, 6) if c else None
                        for v, c in zip(per_level, counts.tolist(), strict=True)
                    ],
                    "lr": optimizer.param_groups[0]["lr"],
                    "images_per_s": interval_steps * config.data.batch_size / (elapsed - paused),
                    "time": time.time(),
                }
                if dist.is_main:
                    append_jsonl(run.metrics, last_record)
                    if board is not None:
                        board.scalars(last_record)
                sums.zero_()
                counts.zero_()
                interval_loss.zero_()
                interval_steps, tick, paused = 0, time.perf_counter(), 0.0
            pause = time.perf_counter()
            if at_checkpoint:
                rng = _gather_rng(_rng_state(generator), dist)
                if dist.is_main:
                    _save_checkpoint(
                        run,
                        step,
                        network,
                        optimizer,
                        ema,
                        rng,
                        shape,
                        config.train.keep_checkpoints,
                        config.eval.select_every,
                    )
            grid_due = config.train.grid_every and step % config.train.grid_every == 0
            if dist.is_main and (grid_due or step == config.train.steps):
                _grid(config, network, sigmas, shape, run, step, device)
                model.train()
                if board is not None:
                    board.grid(run.grid_path(step), step)
            paused += time.perf_counter() - pause
            log.update(step, last_record if at_log else None)
        if dist.enabled:
            difference = _rank_difference(network)
            if dist.is_main:
                append_jsonl(
                    run.metrics,
                    {
                        "step": step,
                        "event": "ddp_check",
                        "world_size": dist.world_size,
                        "max_rank_difference": difference,
                    },
                )
    finally:
        log.close()
        if board is not None:
            board.close()
    return TrainResult(
        step,
        last_record["loss"] if last_record else None,
        last_record["images_per_s"] if last_record else None,
        resumed_from,
    )


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
):
    """One optimisation step on a raw batch ``x``: preprocessing (images), the loss under
    the configured precision, backward, optional clipping, Adam, optional EMA.

    ``model`` is what runs the forward pass (maybe DDP- or compile-wrapped), ``network``
    the plain module whose parameters are clipped and averaged."""
    if x.ndim == 4:
        from scorebench.data.transforms import preprocess

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


def _grid(
    config: RunConfig,
    network: torch.nn.Module,
    sigmas: torch.Tensor,
    shape: tuple[int, ...],
    run: RunDir,
    step: int,
    device: torch.device,
) -> None:
    """A sample grid with the run's own sampler (fixed seed, so grids are comparable)."""
    from scorebench.sample import draw, save_grid

    network.eval()
    score = network_score(network, sigmas, config, device)
    n = config.train.grid_size if len(shape) == 3 else max(config.train.grid_size, 1000)
    generator = torch.Generator(device).manual_seed(config.runtime.seed)
    samples, _ = draw(score, build_sampler(config), config, sigmas, shape, n, generator)
    save_grid(samples, run.grid_path(step))


def is_trained(run: RunDir, config: RunConfig) -> bool:
    """Training is done: an intact checkpoint at or past ``train.steps`` and its final grid
    (a run killed between the two is finished by ``train``)."""
    steps = run.intact_checkpoint_steps()
    return bool(steps) and steps[-1] >= config.train.steps and run.grid_path(steps[-1]).is_file()


def truncate_metrics(run: RunDir, step: int) -> None:
    """Drop the log rows past ``step`` (the checkpoint training continues from), so a resumed
    run logs each step once."""
    from scorebench.files import read_jsonl, rewrite_jsonl

    if run.metrics.is_file():
        rows = read_jsonl(run.metrics)
        rewrite_jsonl(
            run.metrics, [r for r in rows if isinstance(r.get("step"), int) and r["step"] <= step]
        )
