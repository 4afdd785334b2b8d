"""Cells made, sampled and evaluated: evaluations keyed by their full spec (the Cell itself
and its file names are in :mod:`scorebench.cell`).

A *cell* is one evaluation: a score source (a run's checkpoint, identified by the SHA-256
of its weights) x a sampler (name, every parameter, the plugin that provides it and its
version) x n x seed x chain initialisation x precision, measured under one metric protocol.
The samples depend on everything but the protocol, so they live in a directory named by the
hash of the *sampling spec*; each protocol's result lives beside them, named by its
fingerprint::

    RUN/evals/<sampling key>/
        spec.json                    the sampling spec (the key is its hash)
        samples/shard-XXXXX.npy      uint8 images or float32 points, sample.shard_size of them
                                     (sample i drawn from its own generator, seeded by (seed, i))
        samples/shard-XXXXX.json     that shard's NFE and drawing time
        samples/samples.json         the sampling record (written when every shard is there)
        samples.png                  a grid (images) or scatter (points) of the samples
        results/<fingerprint>.json   the evaluation record of one protocol

The cell key is the hash of (sampling spec, fingerprint); it is in every record. A spec's
directory is never deleted or overwritten by another spec: trying a new sampler on a run
adds cells beside the old ones.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from scorebench import done
from scorebench.cell import GRID_FILE, Cell
from scorebench.checks import sample_count
from scorebench.config import RunConfig, build_config
from scorebench.contracts import IMAGES, kind_of
from scorebench.done import read_derived
from scorebench.errors import ConfigError, ScorebenchError
from scorebench.files import append_jsonl, atomic_write, atomic_write_json, read_json
from scorebench.metrics.extractors import Weights
from scorebench.metrics.protocol import canonical_json, protocol_fingerprint
from scorebench.noise import depends_on_batch, takes_noise
from scorebench.records import ResultRecord, checked
from scorebench.runs import RunDir

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
    from scorebench.components import build_sampler
    from scorebench.plugins import registry

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
    from scorebench.runs import load_checkpoint
    from scorebench.sample import checkpoint_weights

    path = run.checkpoint_path(step)
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _weights_memo:
        import hashlib

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
    from scorebench.components import dry_run, sampling_numerics
    from scorebench.plugins import get_plugin_manager, registry
    from scorebench.sample import init_spec, sampling_seed

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
    from scorebench.components import check_batch_memory, check_memory

    n = config.sample.n
    stored = (
        n * math.prod(shape) * (1 if kind_of(shape) == IMAGES else 4)
    )  # uint8 images, fp32 points
    check_memory("sample.n", n, 2 * stored, "the samples, held in memory to evaluate them")
    check_batch_memory(config.sample.batch_size, shape, "sample.batch_size")


#: How a network trained on discrete levels answers a sigma off its grid (scorebench.score).
NEAREST_LEVEL = "nearest trained level in log sigma"


def _run_source(run: RunDir, config: RunConfig) -> tuple[int, tuple[int, ...], dict[str, Any]]:
    """A trained network: the checkpoint step, sample shape and source spec."""
    from scorebench.plugins import registry
    from scorebench.sample import resolve_step

    step = resolve_step(run, config.sample.checkpoint)
    weights, shape = checkpoint_identity(run, step)
    conditioning = getattr(registry("networks").load(config.network.name), "conditioning", "sigma")
    source = {
        "kind": "run",
        "recipe": config.recipe,
        "dataset": config.dataset,
        "step": step,
        "weights_sha256": weights,
        "sigma_query": NEAREST_LEVEL if conditioning == "level" else "exact (sigma-conditioned)",
    }
    return step, shape, source


def _oracle_source(config: RunConfig, versions: dict[str, str]):
    """A registered score function (an oracle, or a model from a bridge such as diffusers');
    its levels, and whatever identity it declares (``identity``: weights hashes, library
    version...), are part of the source."""
    from scorebench.components import (
        build_dataset,
        build_score_function,
        build_sigmas,
        sample_shape,
    )
    from scorebench.plugins import registry

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


# ---------------------------------------------------------------- sampling


def sample_cell(
    cell: Cell,
    *,
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Draw this rank's missing shards of ``cell``; returns how many samples it drew."""
    from scorebench.sample import draw_shard, load_model

    if rank == 0 and read_derived(cell.spec_file) != cell.spec:  # key: its hash
        atomic_write_json(cell.spec_file, cell.spec)
    n = cell.config.sample.n
    model, sampler, drawn = None, None, 0
    for k in (k for k in range(cell.shard_count) if k % world_size == rank):
        if not done.shard_done(cell, k):
            if model is None:  # loaded only when something is left to draw
                model = load_model(cell.run, device, cell.step, cell.config)
                sampler = sampler_component(cell.config)[1]
            start = time.perf_counter()
            array, nfe = draw_shard(model, sampler, k, n)
            seconds = time.perf_counter() - start  # to_storage's .cpu() has synchronised
            base = cell.shard(k)
            atomic_write(base.with_suffix(".npy"), lambda fh, a=array: np.save(fh, a))
            meta = {"n": len(array), "nfe_per_sample": nfe, "seconds": round(seconds, 4)}
            atomic_write_json(base.with_suffix(".json"), meta)
            drawn += len(array)
        if progress:
            progress(cell.shard_size(k))
    return drawn


def finish_sampling(cell: Cell, *, device: torch.device, world_size: int) -> dict[str, Any]:
    """The sampling record of a cell whose shards are all drawn (written once, by rank 0)."""
    record = done.sampled(cell)
    if record is not None:
        return record
    missing = done.missing_shards(cell)
    if missing:
        raise ScorebenchError(f"{cell.samples} lacks shards {missing[:5]}: sample again.")
    count = cell.shard_count
    metas = [read_derived(cell.shard(k).with_suffix(".json")) for k in range(count)]
    seconds = sum(m["seconds"] for m in metas)
    n = cell.config.sample.n
    nfe = metas[0]["nfe_per_sample"]
    record = {
        "n": n,
        "shards": count,
        "checkpoint_step": cell.step,
        "sampler": cell.spec["sampler"],
        "nfe_per_sample": nfe,
        "seconds": round(seconds, 3),
        "samples_per_s": round(n / seconds, 3) if seconds else None,
        "nfe_per_s": round(n * nfe / seconds, 3) if seconds else None,
        "device": str(device),
        "world_size": world_size,
        "precision": cell.spec["precision"],
    }
    atomic_write_json(cell.sampling_record, record)
    _save_grid(cell)
    return record


def load_samples(cell: Cell) -> np.ndarray:
    """Every sample of a finished cell, in shard order."""
    if not cell.sampling_record.is_file():
        raise ScorebenchError(
            f"{cell.run.path} has no samples for this spec ({cell.path}): run "
            f"`scorebench sample {cell.run.path}` with the same options first."
        )
    damaged = done.missing_shards(cell)
    if damaged:
        raise ScorebenchError(
            f"{cell.samples}: shard(s) {damaged[:5]} are missing or damaged. Run `scorebench "
            f"sample {cell.run.path}` with the same options: it draws them again."
        )
    parts = [np.load(cell.shard(k).with_suffix(".npy")) for k in range(cell.shard_count)]
    return np.concatenate(parts)


def _save_grid(cell: Cell) -> None:
    from scorebench.sample import save_grid

    first = np.load(cell.shard(0).with_suffix(".npy"))
    samples = torch.from_numpy(first[:64] if kind_of(first.shape[1:]) == IMAGES else first[:2000])
    if samples.dtype == torch.uint8:
        samples = samples.float() / 255
    save_grid(samples, cell.grid)


# ---------------------------------------------------------------- evaluation


def plan(
    cell: Cell,
    *,
    device: str = "cpu",
    inception_weights: Weights = None,
    cross_check: bool = False,
):
    """The evaluation plan (protocol and fingerprint) of ``cell`` under its eval config."""
    from scorebench.evaluate import plan_config

    return plan_config(
        cell.config,
        cell.config.sample.n,
        cell.shape,
        device=device,
        inception_weights=inception_weights,
        cross_check=cross_check,
    )


def plan_key(cell: Cell) -> str:
    """What a cell's evaluation plan depends on: cells that share it share one plan (the
    reference data and the feature extractor are prepared once per bench, not per cell)."""
    config = cell.config.to_dict()
    return canonical_json(
        {
            "data": config["data"],
            "eval": config["eval"],
            "n": cell.config.sample.n,
            "shape": cell.shape,
        }
    )


def cached_result(cell: Cell, fingerprint: str, *, cross_check: bool = False) -> dict | None:
    """The stored record of ``cell`` under protocol ``fingerprint``, if whole, labelled by
    where its run is now."""
    record = done.evaluated(cell, fingerprint, cross_check=cross_check)
    return None if record is None else _located(record, cell.run)


def _located(record: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """A stored record labelled by where its run is now (a moved or copied run directory
    keeps the path it was evaluated under only in its history)."""
    if isinstance(record.get("run"), dict):
        record["run"] = {**record["run"], "path": str(run.path), "name": run.path.resolve().name}
    cell = record.get("cell")
    if isinstance(cell, dict) and isinstance(cell.get("sampling_key"), str):
        record["cell"] = {**cell, "grid": str(run.evals / cell["sampling_key"] / GRID_FILE)}
    return record


def evaluate_cell(cell: Cell, evaluation) -> dict[str, Any]:
    """Measure a sampled cell under ``evaluation`` (a plan from :func:`plan`); writes its
    record and appends it to the history of the run's parent directory."""
    samples = load_samples(cell)
    sampling = read_derived(cell.sampling_record)
    if not isinstance(sampling, dict):
        raise ScorebenchError(
            f"{cell.sampling_record} is damaged. Run `scorebench sample "
            f"{cell.run.path}` with the same options: it writes it again."
        )
    manifest = (
        read_json(
            cell.run.manifest,
            "the run's manifest",
            "It records how the run was made: restore it from a backup, or delete it (results "
            "will then carry no manifest).",
        )
        if cell.run.manifest.is_file()
        else None
    )
    record = evaluation.run(samples)
    record["cell"] = {
        "key": protocol_fingerprint({"sampling": cell.spec, "fingerprint": record["fingerprint"]}),
        "sampling_key": cell.key,
        "spec": cell.spec,
        "sampling": sampling,
        "grid": str(cell.grid),
    }
    record["run"] = {
        "path": str(cell.run.path),
        "name": cell.run.path.resolve().name,
        "recipe": cell.config.recipe,
        "dataset": cell.config.dataset,
        "train_steps": cell.config.train.steps,
        "manifest": manifest,
    }
    atomic_write_json(cell.result_path(record["fingerprint"]), record)
    append_jsonl(cell.run.history, record)
    if cell.config.train.tensorboard:
        from scorebench.tensorboard import log_evaluation

        log_evaluation(cell.path, cell.config.to_dict(), record)
    return record


def run_results(run: RunDir) -> list[dict[str, Any]]:
    """Every evaluation record stored under ``run`` (oldest first); a damaged one is a
    clear error naming it."""
    paths = sorted(run.evals.glob("*/results/*.json"), key=lambda p: p.stat().st_mtime_ns)
    fix = "Delete it and evaluate again (`scorebench eval` computes it anew)."
    return [
        _located(checked(ResultRecord, read_json(path, "result record", fix), path, fix), run)
        for path in paths
    ]
