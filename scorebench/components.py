"""Build a run's components (dataset, network, noise levels, loss, sampler) from its config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from scorebench.config import ComponentConfig, RunConfig, check_params
from scorebench.errors import ConfigError, ScorebenchError, UnknownComponentError
from scorebench.evaluate import check_eval_config, extractor_spec
from scorebench.noise import SampleNoise, randomness
from scorebench.paths import cache_dir
from scorebench.plugins import registry
from scorebench.score import NetworkScore


def instantiate(kind: str, spec: ComponentConfig, key: str, **extra: Any) -> Any:
    """Build a component from the registry, checking its parameters against the factory.

    ``extra`` are arguments scorebench passes itself (e.g. a dataset's root and split).
    """
    factory = registry(kind).load(spec.name)
    check_params(factory, spec.params, f"{key}.params", spec.name)
    try:
        return factory(**extra, **spec.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {spec.name!r} rejected its parameters: {exc}") from exc


def build_dataset(config: RunConfig, split: str = "train") -> Any:
    """The configured dataset (its root: data.root, else scorebench's data directory)."""
    spec = ComponentConfig(name=config.data.name, params=config.data.params)
    return instantiate("datasets", spec, "data", root=config.data.root, split=split)


def build_network(config: RunConfig, device: torch.device) -> torch.nn.Module:
    if config.network is None:
        raise ConfigError("this config has no network to build (it samples a score_function)")
    model = instantiate("networks", config.network, "network")
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"network {config.network.name!r} did not build a torch.nn.Module")
    model = model.to(device)
    if config.runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def build_sigmas(config: RunConfig, device: torch.device) -> torch.Tensor:
    schedule = instantiate("schedules", config.schedule, "schedule")
    sigmas = torch.as_tensor(schedule.sigmas(), dtype=torch.float32).to(device)
    if sigmas.ndim != 1 or not len(sigmas) or bool((sigmas <= 0).any()):
        raise ConfigError(f"schedule {config.schedule.name!r} gave invalid sigmas {sigmas}")
    return sigmas


def build_score_function(config: RunConfig) -> Any:
    """The analytic score function a config samples instead of a network (an oracle)."""
    return instantiate("score_functions", config.score_function, "score_function")


def sample_shape(score_function: Any) -> tuple[int, ...]:
    """The shape of one sample of an analytic score function's distribution."""
    shape = getattr(score_function, "shape", None)
    return tuple(shape) if shape is not None else (int(score_function.dim),)


def build_loss(config: RunConfig) -> Any:
    return instantiate("losses", config.loss, "loss")


def build_sampler(config: RunConfig) -> Any:
    """The sampler function, with its configured parameters checked."""
    spec = config.sample.sampler
    try:
        sampler = registry("samplers").load(spec.name)
    except UnknownComponentError as exc:  # say which key held the name
        raise ConfigError(f"sample.sampler.name: {exc}") from exc
    check_params(sampler, spec.params, "sample.sampler.params", spec.name)
    return sampler


def autocast(device: torch.device, precision: str):
    """bf16 autocast when asked for; weights and optimizer state stay fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def check_components(config: RunConfig) -> None:
    """Every component name and parameter of ``config`` exists, checked before any work."""
    specs = [
        ("networks", config.network, "network"),
        ("schedules", config.schedule, "schedule"),
        ("losses", config.loss, "loss"),
        ("score_functions", config.score_function, "score_function"),
        ("samplers", config.sample.sampler, "sample.sampler"),
        ("datasets", ComponentConfig(name=config.data.name, params=config.data.params), "data"),
    ]
    for kind, spec, key in (s for s in specs if s[1] is not None):
        try:
            factory = registry(kind).load(spec.name)
        except UnknownComponentError as exc:  # say which key held the name
            raise ConfigError(f"{key}.name: {exc}") from exc
        check_params(factory, spec.params, f"{key}.params", spec.name)
    if config.eval.extractor != "auto":
        try:
            extractor_spec(config.eval.extractor)
        except UnknownComponentError as exc:
            raise ConfigError(f"eval.extractor: {exc}") from exc


def check_before_training(config: RunConfig) -> None:
    """All that can be checked before a run trains: component names and parameters, and the
    sampler's parameter values (a dry run on the dataset's shape), so a bad ``step_lr``
    fails now and not when the first grid is drawn after training."""
    check_components(config)
    shape = tuple(build_dataset(config).shape)
    check_batch_memory(config.data.batch_size, shape, "data.batch_size")
    check_network_fits(config, shape)
    dry_run(config, build_sampler(config), shape)
    check_eval_config(config)


def check_network_fits(config: RunConfig, shape: tuple[int, ...]) -> None:
    """The network takes the dataset's shape at every noise level of the schedule: one
    forward pass on one item at the largest and the smallest sigma (a network built for
    another number of levels, or for points when the data are images, fails here)."""
    if config.network is None:
        return
    cpu = torch.device("cpu")
    network = build_network(config, cpu).eval()
    sigmas = build_sigmas(config, cpu)
    levels = getattr(network, "num_levels", None)
    if getattr(network, "conditioning", "sigma") == "level" and levels not in (None, len(sigmas)):
        raise ConfigError(
            f"network {config.network.name!r} is built for {levels} noise levels but schedule "
            f"{config.schedule.name!r} has {len(sigmas)}; make network.params.num_levels and "
            "the schedule's levels agree."
        )
    score = network_score(network, sigmas, config, cpu)
    x = torch.zeros((1, *shape))
    for sigma in (sigmas[0], sigmas[-1]):
        try:
            with torch.no_grad():
                out = score(x, sigma.reshape(1))
        except (IndexError, RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"network {config.network.name!r} cannot score dataset {config.data.name!r} "
                f"(items of shape {list(shape)}) under schedule {config.schedule.name!r} "
                f"({len(sigmas)} levels): {type(exc).__name__}: {exc}. Check network.params "
                "against the schedule's levels and the data."
            ) from None
        if tuple(out.shape) != tuple(x.shape):
            raise ConfigError(
                f"network {config.network.name!r} maps items of shape {list(shape)} to "
                f"{list(out.shape[1:])}; a score has the data's shape."
            )


def check_batch_memory(batch: int, shape: tuple[int, ...], key: str) -> None:
    """A batch of ``shape`` items in fp32, with room for the activations (16x the inputs)."""
    import math

    check_memory(key, batch, batch * math.prod(shape) * 4 * 16, f"items of shape {list(shape)}")


def check_memory(key: str, value: int, need: int, what: str) -> None:
    """``need`` bytes must fit in this machine's memory, else a clear error on ``key``."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: let it try
        return
    if need > total:
        raise ConfigError(
            f"{key}={value} ({what}) needs about {need / 1e9:.3g} GB of memory; this machine "
            f"has {total / 1e9:.3g} GB. Lower it."
        )


def build_optimizer(
    config: RunConfig, network: torch.nn.Module, device: torch.device
) -> torch.optim.Optimizer:
    """Adam as configured: ``runtime.fused_adam`` (default: fused on CUDA), else foreach."""
    fused = config.runtime.fused_adam
    if fused is None:
        fused = device.type == "cuda"
    return torch.optim.Adam(
        network.parameters(),
        lr=config.train.lr,
        betas=tuple(config.train.betas),
        weight_decay=config.train.weight_decay,
        **({"fused": True} if fused else {"foreach": True}),
    )


def network_score(
    network: torch.nn.Module,
    sigmas: torch.Tensor,
    config: RunConfig,
    device: torch.device,
    *,
    compile_network: bool = False,
):
    """The network as ``score(x, sigma)`` for sampling, returning fp32 so the sampler's
    chain stays fp32.

    With ``runtime.precision=bf16`` the network runs under autocast, as in training, or with
    ``sample.bf16_weights`` as a bf16 copy of itself: weights cast once, activations bf16
    throughout, nothing re-cast per call. ``compile_network``: through
    ``torch.compile`` for inference (:func:`compiled`)."""
    import copy

    cast = _bf16_copy(config)
    if cast:
        network = copy.deepcopy(network).to(torch.bfloat16)
    if compile_network:
        network = compiled(network, inference=True)
    inner = NetworkScore(network, sigmas, torch.bfloat16 if cast else None)
    channels_last = config.runtime.channels_last

    def score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, "fp32" if cast else config.runtime.precision):
            return inner(x, sigma).float()

    return score


def compiled(network: torch.nn.Module, *, inference: bool) -> torch.nn.Module:
    """``torch.compile(network)`` with inductor's compile cache in scorebench's cache dir
    (``$TORCHINDUCTOR_CACHE_DIR`` if set), so the compile cost is paid once per machine, not
    per run. ``inference``: also freeze the weights into the graph (inductor folds and
    prepacks them; gradients are then unavailable) and, on CUDA, replay each step as a CUDA
    graph (what ``mode="reduce-overhead"`` does)."""
    import os

    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # Inductor writes its default into the environment once used: that is not a user's choice.
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR") in (None, "", default_cache_dir()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir() / "inductor")
    if not inference:
        return torch.compile(network)
    on_cuda = next(network.parameters()).is_cuda
    return torch.compile(network, options={"freezing": True, "triton.cudagraphs": on_cuda})


def _bf16_copy(config: RunConfig) -> bool:
    return config.runtime.precision == "bf16" and config.sample.bf16_weights


def sampling_numerics(config: RunConfig) -> str:
    """How a run's network computes scores when sampling, as a cell's spec records it: the
    precision, then each switch that changes the arithmetic (``fp32``,
    ``bf16-weights+compiled+channels_last``, ...)."""
    runtime = config.runtime
    numerics = "bf16-weights" if _bf16_copy(config) else runtime.precision
    switches = {"compiled": runtime.compile, "channels_last": runtime.channels_last}
    return "+".join([numerics, *(name for name, on in switches.items() if on)])


class _FirstScoreCall(Exception):
    """Raised by the dry run's score function: the sampler got past its checks."""


def dry_run(config: RunConfig, sampler: Callable, shape: tuple[int, ...]) -> None:
    """Run the sampler on one chain up to its first score call, so that parameter values are
    checked before any cell is drawn (the sampler contract asks samplers to check them
    first)."""

    def stop(x, sigma):
        raise _FirstScoreCall

    name, params = config.sample.sampler.name, config.sample.sampler.params
    try:
        sampler(
            stop,
            torch.zeros((1, *shape)),
            build_sigmas(config, torch.device("cpu")),
            **randomness(sampler, SampleNoise(0, range(1))),
            **params,
        )
    except _FirstScoreCall:
        pass
    except ConfigError as exc:
        raise ConfigError(f"sample.sampler.params of {name!r}: {exc}") from exc
    except Exception as exc:
        raise ScorebenchError(
            f"sampler {name!r} failed on its parameters {params} before sampling "
            f"({type(exc).__name__}: {exc}). Fix the parameters, or report it to its plugin."
        ) from exc
