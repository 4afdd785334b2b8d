"""Where a cell's samples and results are kept, under its run: drawn, read back, measured.

The samples depend on everything in the sampling spec but the protocol, so they live in a
directory named by the hash of the spec (:attr:`scorebench.cells.Cell.key`); each
protocol's result lives beside them, named by its fingerprint::

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
adds cells beside the old ones. :mod:`scorebench.done` judges what the files hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from scorebench import done
from scorebench.cells import GRID_FILE, Cell, sampler_component
from scorebench.contracts import IMAGES, kind_of
from scorebench.done import read_derived
from scorebench.errors import ScorebenchError
from scorebench.evaluate import plan_config
from scorebench.files import append_jsonl, atomic_write, atomic_write_json, read_json
from scorebench.metrics.extractors import Weights
from scorebench.metrics.protocol import canonical_json, protocol_fingerprint
from scorebench.records import ResultRecord, checked
from scorebench.runs import RunDir
from scorebench.sample import draw_shard, load_model, save_grid
from scorebench.trackers import log_evaluation


def sample_cell(
    cell: Cell,
    *,
    device: torch.device,
    rank: int = 0,
    world_size: int = 1,
    progress: Callable[[int], None] | None = None,
    evaluations: Callable[[int], None] | None = None,
) -> int:
    """Draw this rank's missing shards of ``cell``; returns how many samples it drew.
    ``progress(k)``: k more samples are done; ``evaluations(e)``: the batch being drawn has
    made e score evaluations so far."""
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
            array, nfe = draw_shard(model, sampler, k, n, progress, evaluations)
            seconds = time.perf_counter() - start  # to_storage's .cpu() has synchronised
            base = cell.shard(k)
            atomic_write(base.with_suffix(".npy"), lambda fh, a=array: np.save(fh, a))
            meta = {"n": len(array), "nfe_per_sample": nfe, "seconds": round(seconds, 4)}
            atomic_write_json(base.with_suffix(".json"), meta)
            drawn += len(array)
        elif progress:
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
    return plan_config(
        cell.config,
        cell.config.sample.n,
        cell.shape,
        device=device,
        inception_weights=inception_weights,
        cross_check=cross_check,
        source=cell.spec["source"],
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
            "sigma_query": cell.spec["source"].get("sigma_query"),  # model metrics check it
        }
    )


def cached_result(cell: Cell, key: str, *, cross_check: bool = False) -> dict | None:
    """The stored record of ``cell`` under a plan's ``key`` (its protocol, and its model
    metrics'), if whole, labelled by where its run is now."""
    record = done.evaluated(cell, key, cross_check=cross_check)
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
    record = evaluation.run(samples, measured_model_values(cell, evaluation))
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
    atomic_write_json(cell.result_path(evaluation.key), record)
    append_jsonl(cell.run.history, record)
    log_evaluation(cell.run.path, cell.config, record, cell.grid)
    return record


def measured_model_values(cell: Cell, evaluation) -> dict[str, Any]:
    """The plan's model metrics of the cell's model: measured once per model and protocol
    (every sampler's cell of one checkpoint shares them), kept under ``RUN/evals/model/``."""
    if not evaluation.model_metrics:
        return {}
    key = protocol_fingerprint(
        {"source": cell.spec["source"], "model_metrics": evaluation.model_protocol}
    )
    path = cell.run.evals / "model" / f"{key}.json"
    stored = read_derived(path)
    if isinstance(stored, dict) and isinstance(stored.get("metrics"), dict):
        return stored["metrics"]
    model = load_model(cell.run, torch.device(evaluation.device), cell.step, cell.config)
    started = time.perf_counter()
    values = evaluation.model_values(model, analytic=cell.config.score_function is not None)
    seconds = round(time.perf_counter() - started, 3)
    atomic_write_json(path, {"source": cell.spec["source"], "metrics": values, "seconds": seconds})
    return values


def run_results(run: RunDir) -> list[dict[str, Any]]:
    """Every evaluation record stored under ``run`` (oldest first); a damaged one is a
    clear error naming it."""
    paths = sorted(run.evals.glob("*/results/*.json"), key=lambda p: p.stat().st_mtime_ns)
    fix = "Delete it and evaluate again (`scorebench eval` computes it anew)."
    return [
        _located(checked(ResultRecord, read_json(path, "result record", fix), path, fix), run)
        for path in paths
    ]
