"""Stages of a run as library functions (train -> sample -> evaluate -> report)."""

from __future__ import annotations

from typing import Any

import torch

from scorebench import distributed
from scorebench.runs import RunDir


def _progress(enabled: bool):
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
    dist = distributed.setup(requested)
    try:
        dev = distributed.resolve_device(requested, dist)
        total = n or config.sample.n
        with _progress(dist.is_main and not quiet) as bar:
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
            every = load_samples(run)
            samples = torch.from_numpy(every[:64] if every.ndim == 4 else every[:2000])
            if samples.dtype == torch.uint8:
                samples = samples.float() / 255
            save_grid(samples, run.path / "samples.png")
        return record
    finally:
        distributed.teardown(dist)


def eval_stage(
    run: RunDir,
    *,
    device: str | None = None,
    inception_weights: str | None = None,
    cross_check: bool | None = None,
) -> dict[str, Any]:
    """Evaluate the run's samples; writes ``results.json`` and appends it to the history."""
    import json

    from scorebench.evaluate import evaluate_config
    from scorebench.files import append_jsonl, atomic_write_json
    from scorebench.sample import load_samples

    config = run.load_config()
    samples = load_samples(run)
    dev = str(distributed.resolve_device(device or config.runtime.device, distributed.Dist()))
    record = evaluate_config(
        samples,
        config,
        device=dev,
        inception_weights=inception_weights,
        cross_check=config.eval.cross_check if cross_check is None else cross_check,
    )
    record["run"] = {
        "path": str(run.path),
        "recipe": config.recipe,
        "dataset": config.dataset,
        "sampling": json.loads((run.samples / "samples.json").read_text()),
        "manifest": json.loads(run.manifest.read_text()),
        "train_steps": config.train.steps,
    }
    atomic_write_json(run.results, record)
    append_jsonl(run.path.parent / "history.jsonl", record)
    return record


def report_stage(run_dirs: list[RunDir], out_dir, *, baselines: list[str]) -> dict[str, Any]:
    """Leaderboard of the runs' results beside the named baselines: Markdown, JSON, HTML."""
    import json
    from pathlib import Path

    from scorebench.errors import ScorebenchError
    from scorebench.files import atomic_write_bytes, atomic_write_json
    from scorebench.report import html, leaderboard
    from scorebench.report.baselines import load_baselines

    results = []
    for run in run_dirs:
        if not run.results.is_file():
            raise ScorebenchError(f"{run.path} has no results.json: run `scorebench eval` first")
        results.append(json.loads(run.results.read_text()))
    board = leaderboard.build(results, load_baselines(baselines))
    out = Path(out_dir)
    atomic_write_json(out / "leaderboard.json", board)
    atomic_write_bytes(out / "leaderboard.md", leaderboard.markdown(board).encode())
    atomic_write_bytes(out / "report.html", html.render(board, [r.path for r in run_dirs]).encode())
    return board


def run_pipeline(
    config,
    run: RunDir,
    *,
    force: bool = False,
    argv: list[str] | None = None,
    inception_weights: str | None = None,
    log=print,
) -> dict[str, Any]:
    """train -> sample -> eval -> report, skipping each stage whose artifacts exist.

    ``force`` moves an existing run directory aside (nothing is deleted) and starts over."""
    import json
    import time

    from scorebench.components import check_components
    from scorebench.plugins import registry
    from scorebench.runs import move_aside
    from scorebench.train import train

    if force and (aside := move_aside(run)):
        log(f"moved the previous run to {aside}")
    check_components(config)  # a misspelt sampler fails now, not after training
    timings: dict[str, Any] = {}

    steps = run.checkpoint_steps()
    if steps and steps[-1] >= config.train.steps:
        run.prepare(config, argv=argv)  # same checks as training: refuses a changed config
        log(f"train: done (checkpoint at step {steps[-1]}), skipped")
    else:
        start = time.perf_counter()
        train(config, run, argv=argv)  # loads the dataset first: fails in seconds if absent
        timings["train_s"] = round(time.perf_counter() - start, 1)

    if config.eval.select_every:
        select_stage(run, inception_weights=inception_weights, log=log)
    start = time.perf_counter()
    if sample_stage(run)["drawn_now"]:
        timings["sample_s"] = round(time.perf_counter() - start, 1)
    else:  # every shard was already drawn with this spec
        log("sample: done, skipped")

    if not distributed.is_main_process():  # under torchrun, rank 0 evaluates and reports
        return {"board": {"groups": []}, "timings": timings, "report_dir": None}
    meta = run.samples / "samples.json"
    sampled = json.loads(meta.read_text())
    current = json.loads(run.results.read_text()) if run.results.is_file() else None
    if current and current.get("run", {}).get("sampling") == sampled:
        log("eval: done, skipped")
    else:
        start = time.perf_counter()
        eval_stage(run, inception_weights=inception_weights)
        timings["eval_s"] = round(time.perf_counter() - start, 1)

    recipe = registry("recipes").load(config.recipe)()
    board = report_stage(
        [run], run.path / "report", baselines=recipe.baselines.get(config.dataset, [])
    )
    return {"board": board, "timings": timings, "report_dir": str(run.path / "report")}


def select_stage(run: RunDir, *, inception_weights: str | None = None, log=print) -> dict[str, Any]:
    """The paper's checkpoint selection: every ``eval.select_every`` steps, FID (images) or
    sliced Wasserstein distance (points) on ``eval.select_n`` samples; the best step is
    written to ``selection.json`` for ``sample.checkpoint=best``."""
    import json

    from scorebench.components import build_sampler
    from scorebench.evaluate import evaluate_config
    from scorebench.files import atomic_write_json
    from scorebench.sample import draw_many, load_model

    config = run.load_config()
    every, n = config.eval.select_every, config.eval.select_n
    steps = [s for s in run.checkpoint_steps() if s % every == 0 or s == config.train.steps]
    path = run.path / "selection.json"
    done = json.loads(path.read_text()) if path.is_file() else {"values": {}}
    if done.get("n") != n:
        done = {"values": {}}
    device = distributed.resolve_device(config.runtime.device, distributed.Dist())
    sampler = build_sampler(config)
    metric = done.get("metric")
    for step in (s for s in steps if str(s) not in done["values"]):
        model = load_model(run, device, str(step))
        metric = "fid" if len(model.shape) == 3 else "swd"
        samples = draw_many(model, sampler, n, device)
        record = evaluate_config(
            samples,
            config,
            metrics=("fid",),
            device=str(device),
            inception_weights=inception_weights,
        )
        done["values"][str(step)] = record["metrics"][metric]
        log(f"select: step {step}: {metric} {record['metrics'][metric]:.4g} (n={n})")
    best = min(done["values"], key=done["values"].get)
    selection = {"metric": metric, "n": n, "values": done["values"], "best_step": int(best)}
    atomic_write_json(path, selection)
    return selection
