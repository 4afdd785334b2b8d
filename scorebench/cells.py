"""Cells: a run's config plus sampling overrides, resolved once into a sampling spec.

A *cell* is one evaluation: a score source (a run's checkpoint, identified by the SHA-256
of its weights, or a registered score function) x a sampler (name, every parameter, the
plugin that provides it and its version) x n x seed x chain initialisation x precision,
measured under one metric protocol. :func:`make_cell` resolves it once, checking every
value before anything is drawn; :class:`Cell` holds it, frozen, with the names of its files
(the samples and results stored under them are :mod:`scorebench.stores`'s).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scorebench.checks import sample_count
from scorebench.components import (
    build_dataset,
    build_sampler,
    build_score_function,
    build_sigmas,
    check_batch_memory,
    check_memory,
    dry_run,
    sample_shape,
    sampling_numerics,
)
from scorebench.config import RunConfig, build_config
from scorebench.contracts import IMAGES, kind_of, network_sigma_query
from scorebench.errors import ConfigError
from scorebench.metrics.protocol import canonical_json, protocol_fingerprint
from scorebench.noise import depends_on_batch, takes_noise
from scorebench.plugins import get_plugin_manager, registry
from scorebench.runs import RunDir, load_checkpoint
from scorebench.sample import (
    checkpoint_weights,
    init_spec,
    resolve_step,
    sampling_seed,
    shard_count,
)

SHARD = "shard-{:05d}"
GRID_FILE = "samples.png"


@dataclass(frozen=True)
class Cell:
    """One sampling spec of one run (the cell's result also needs a protocol)."""

    run: RunDir
    config: RunConfig  # the run's config with this cell's sampling settings
    step: int
    shape: tuple[int, ...]
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return protocol_fingerprint(self.spec)

    @property
    def path(self) -> Path:
        return self.run.evals / self.key

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def sampling_record(self) -> Path:
        """Written once every shard is drawn: the cell's samples are complete."""
        return self.samples / "samples.json"

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def grid(self) -> Path:
        return self.path / GRID_FILE

    def result_path(self, fingerprint: str) -> Path:
        return self.path / "results" / f"{fingerprint}.json"

    def shard(self, k: int) -> Path:
        """Shard ``k`` without its suffix: ``.npy`` holds the samples, ``.json`` their
        count, NFE and seconds."""
        return self.samples / SHARD.format(k)

    @property
    def shard_count(self) -> int:
        return shard_count(self.config.sample.n, self.config.sample.shard_size)

    def shard_size(self, k: int) -> int:
        size = self.config.sample.shard_size
        return min(size, self.config.sample.n - k * size)


SPEC_FORMAT = 2  # 2: per-sample noise (sample i seeded by (seed, i))
#: Keys a cell may set over its run's config: they change how samples are drawn and
#: measured, never the trained network.
CELL_KEYS = (
    "sample.",
    "eval.",
    "runtime.precision",
    "runtime.device",
    "runtime.channels_last",
    "runtime.compile",
)


def cell_config(config: RunConfig, overrides: Sequence[str]) -> RunConfig:
    """``config`` with ``key=value`` overrides of sampling/evaluation keys only."""
    for text in overrides:
        key = text.partition("=")[0].strip()
        if not key.startswith(CELL_KEYS):
            allowed = ", ".join(k + "*" if k.endswith(".") else k for k in CELL_KEYS)
            raise ConfigError(
                f"--set {text!r}: only {allowed} can change after training; train another run "
                "for the rest."
            )
    config = build_config(config.to_dict(), None, list(overrides))
    if config.data.name == "oracle":  # an oracle's reference: exact samples of the same n
        config = build_config(config.to_dict(), None, [f"data.params.n={config.sample.n}"])
    return config


def sampler_component(config: RunConfig) -> tuple[Any, Callable]:
    """The configured sampler's registry entry and function, its parameters checked."""

    sampler = build_sampler(config)
    return registry("samplers").get(config.sample.sampler.name), sampler


def _full_params(factory: Callable, given: dict[str, Any]) -> dict[str, Any]:
    """Every parameter the sampler runs with: its signature's defaults, then ``given``. Two
    specs that differ only in spelling out a default are the same cell."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        parameters = []
    defaults = {
        p.name: p.default
        for p in parameters
        if p.default is not p.empty
        and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.name not in ("noise", "generator", "callback")
    }
    return json.loads(json.dumps({**defaults, **given}, default=repr))


_weights_memo: dict[tuple[str, int, int], tuple[str, tuple[int, ...]]] = {}
_shape_memo: dict[tuple[str, str, str], tuple[int, ...]] = {}


def checkpoint_identity(run: RunDir, step: int) -> tuple[str, tuple[int, ...]]:
    """(SHA-256 of the weights a checkpoint samples with, sample shape), memoised per file."""

    path = run.checkpoint_path(step)
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _weights_memo:
        state = load_checkpoint(path)
        h = hashlib.sha256()
        for name, tensor in sorted(checkpoint_weights(state).items()):
            t = tensor.detach().cpu().contiguous()
            h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        _weights_memo[memo] = (h.hexdigest(), tuple(state["shape"]))
    return _weights_memo[memo]


def make_cell(run: RunDir, overrides: Sequence[str] = ()) -> Cell:
    """The cell of ``run`` under its config plus ``overrides`` (``sample.*``, ``eval.*``...)."""

    config = cell_config(run.load_config(), overrides)
    sample_count("sample.n", config.sample.n)  # before anything is drawn or written
    component, factory = sampler_component(config)
    versions = {p.name: p.version for p in get_plugin_manager().plugins}
    if config.score_function is not None:
        step, shape, source = _oracle_source(config, versions)
    else:
        step, shape, source = _run_source(run, config)
    dry_run(config, factory, shape)
    _check_sizes(config, shape)
    s = config.sample
    params = _full_params(factory, s.sampler.params)
    spec = {
        "format": SPEC_FORMAT,
        "source": source,
        "sampler": {
            "name": registry("samplers").canonical(config.sample.sampler.name),
            "params": params,
            "plugin": component.plugin,
            "plugin_version": versions.get(component.plugin, "?"),
        },
        "n": s.n,
        "noise": "per sample" if takes_noise(factory) else "per batch",
        **_batch_layout(factory, params, s),
        "seed": sampling_seed(config),
        "init": init_spec(config, factory),
        "precision": sampling_numerics(config),
    }
    canonical_json(spec)  # a parameter that is not plain JSON fails here, not later
    return Cell(run, config, step, shape, spec)


def _batch_layout(sampler, params: dict[str, Any], s) -> dict[str, Any]:
    """How the samples are grouped into batches, where a sample depends on its batch
    (:func:`scorebench.noise.depends_on_batch`); elsewhere nothing: any batch gives them."""
    if not depends_on_batch(sampler, params):
        return {}
    return {"batch": {"shard_size": s.shard_size, "batch_size": min(s.batch_size, s.shard_size)}}


def _check_sizes(config: RunConfig, shape: tuple[int, ...]) -> None:
    """Sampling batches and the stored samples (evaluation holds them all) fit in memory."""
    n = config.sample.n
    stored = (
        n * math.prod(shape) * (1 if kind_of(shape) == IMAGES else 4)
    )  # uint8 images, fp32 points
    check_memory("sample.n", n, 2 * stored, "the samples, held in memory to evaluate them")
    check_batch_memory(config.sample.batch_size, shape, "sample.batch_size")


def _run_source(run: RunDir, config: RunConfig) -> tuple[int, tuple[int, ...], dict[str, Any]]:
    """A trained network: the checkpoint step, sample shape and source spec."""
    step = resolve_step(run, config.sample.checkpoint)
    weights, shape = checkpoint_identity(run, step)
    network = registry("networks").load(config.network.name)
    source = {
        "kind": "run",
        "recipe": config.recipe,
        "dataset": config.dataset,
        "step": step,
        "weights_sha256": weights,
        "sigma_query": network_sigma_query(network),
    }
    return step, shape, source


def _oracle_source(config: RunConfig, versions: dict[str, str]):
    """A registered score function (an oracle, or a model from a bridge such as diffusers');
    its levels, and whatever identity it declares (``identity``: weights hashes, library
    version...), are part of the source."""

    spec = config.score_function
    function = build_score_function(config)
    plugin = registry("score_functions").get(spec.name).plugin
    shape = sample_shape(function)
    if config.data.name != "oracle":  # a model measured under a dataset's protocol
        data = (config.data.name, canonical_json(config.data.params), str(config.data.root))
        if data not in _shape_memo:  # loaded once per dataset, not once per cell
            _shape_memo[data] = tuple(build_dataset(config, "test").shape)
        wanted = _shape_memo[data]
        if shape != wanted:
            raise ConfigError(
                f"score function {spec.name!r} draws samples of shape {list(shape)}, but the "
                f"{config.dataset!r} protocol's data have shape {list(wanted)}: measure it "
                "under a dataset of its own shape."
            )
    source = {
        "kind": "score_function",
        "name": spec.name,
        "params": json.loads(json.dumps(spec.params, default=repr)),
        "plugin": plugin,
        "plugin_version": versions.get(plugin, "?"),
        "levels": [round(float(v), 8) for v in build_sigmas(config, torch.device("cpu"))],
        "sigma_query": getattr(function, "sigma_query", "exact"),
        **getattr(function, "identity", {}),
    }
    return 0, shape, source
