"""Stages of a run as library functions (train -> sample -> evaluate -> report).

Sampling and evaluation work on cells (:mod:`scorebench.cells`): a run's config plus
sampling overrides. ``scorebench run`` is the one-cell case of ``scorebench bench``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from scorebench import distributed, done
from scorebench.cells import Cell, make_cell, sampler_component
from scorebench.components import check_before_training
from scorebench.done import read_derived
from scorebench.errors import ScorebenchError
from scorebench.evaluate import check_eval_config, evaluate_config, ranking_metric
from scorebench.files import atomic_write_bytes, atomic_write_json
from scorebench.metrics.extractors import Weights
from scorebench.plugins import registry
from scorebench.report import html, leaderboard
from scorebench.report.baselines import load_baselines
from scorebench.report.terminal import sampler_text
from scorebench.runs import RunDir, locked
from scorebench.sample import draw_many, load_model
from scorebench.stores import (
    cached_result,
    evaluate_cell,
    finish_sampling,
    plan,
    plan_key,
    run_results,
    sample_cell,
)
from scorebench.train import train


def progress_bar(enabled: bool):
    """A rich progress bar on stderr (None when disabled)."""
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    return Progress(*columns, console=Console(stderr=True), transient=False)


def _bar_label(cell: Cell) -> str:
    """The sampler by the parameters that differ from the run's own sampler (a bench's grid,
    a --sampler given), kept short enough for an 80-column bar."""
    s = cell.config.sample.sampler
    own = {}
    if cell.run.config.is_file():
        own = cell.run.saved_config().get("sample", {}).get("sampler") or {}
    same = own.get("params", {}) if own.get("name") == s.name else {}
    asked = {k: v for k, v in s.params.items() if k not in same or same[k] != v}
    label = sampler_text({"name": s.name, "params": asked})
    return label if len(label) <= 40 else label[:39] + "…"


def sample_cells(cells: Sequence[Cell], dist, device, bar=None, keep_bars=True) -> list[int]:
    """Draw every cell's missing shards (this rank's share), then write each sampling
    record on rank 0. Returns the samples drawn now per cell."""
    drawn = []
    for cell in cells:
        task = None
        if bar:
            task = bar.add_task(
                f"sampling {_bar_label(cell)}", total=cell.config.sample.n, detail=""
            )
        drawn.append(
            sample_cell(
                cell,
                device=device,
                rank=dist.rank,
                world_size=dist.world_size,
                progress=(lambda k, t=task: bar.advance(t, k)) if bar else None,
                evaluations=(lambda e, t=task: bar.update(t, detail=f"{e} NFE")) if bar else None,
            )
        )
        distributed.barrier(dist)
        if dist.is_main:
            finish_sampling(cell, device=device, world_size=dist.world_size)
        distributed.barrier(dist)
        if bar and not keep_bars:
            bar.remove_task(task)
    return drawn


def sample_stage(
    run: RunDir, overrides: Sequence[str] = (), *, device: str | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Draw the samples of one cell of ``run`` (sharded across torchrun ranks)."""
    import json

    cell = make_cell(run, overrides)
    check_eval_config(cell.config)  # drawn to be evaluated: a bad eval.* fails now
    with (
        locked(run, "sample"),
        distributed.session(device or cell.config.runtime.device) as (dist, dev),
        progress_bar(dist.is_main and not quiet) as bar,
    ):
        drawn = sample_cells([cell], dist, dev, bar)[0]
    record = json.loads(cell.sampling_record.read_text())
    return {
        **record,
        "drawn_now": drawn,
        "cell": cell.key,
        "path": str(cell.path),
        "samples": str(cell.samples),
        "grid": str(cell.grid),
    }


def eval_stage(
    run: RunDir,
    overrides: Sequence[str] = (),
    *,
    device: str | None = None,
    inception_weights: Weights = None,
    cross_check: bool | None = None,
) -> tuple[dict[str, Any], bool]:
    """Evaluate one sampled cell of ``run``; returns (record, whether it was cached)."""
    cell = make_cell(run, overrides)
    check = cell.config.eval.cross_check if cross_check is None else cross_check
    dev = str(distributed.resolve_device(device or cell.config.runtime.device, distributed.Dist()))
    evaluation = plan(cell, device=dev, inception_weights=inception_weights, cross_check=check)
    cached = cached_result(cell, evaluation.key, cross_check=check)
    if cached is not None:
        return cached, True

    with locked(run, "eval"):
        return evaluate_cell(cell, evaluation), False


def report_stage(
    run_dirs: list[RunDir],
    out_dir,
    *,
    baselines: list[str],
    records: list | None = None,
    tables: Sequence[dict] = (),
    bench: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Leaderboard of every evaluation of the runs (or of ``records``) beside the named
    baselines: Markdown, JSON, HTML. ``bench``: the command and spec of the bench that
    measured them, which the report shows."""
    from pathlib import Path

    if records is None:  # the runs' stored evaluations; runs without any are skipped
        records, empty = [], []
        for run in run_dirs:
            found = run_results(run)
            records += found
            if not found:
                empty.append(run)
        if not records:
            names = ", ".join(str(r.path) for r in empty)
            raise ScorebenchError(f"{names}: no evaluations yet. Run `scorebench eval` first.")
        for run in empty:
            log(f"skipped {run.path}: no evaluations yet (`scorebench eval {run.path}`)")
        run_dirs = [r for r in run_dirs if r not in empty]
    board = leaderboard.build(records, [*load_baselines(baselines), *tables])
    if bench is not None:
        board["bench"] = bench
    out = Path(out_dir)
    atomic_write_json(out / "leaderboard.json", board)
    atomic_write_bytes(out / "leaderboard.md", leaderboard.markdown(board).encode())
    atomic_write_bytes(out / "report.html", html.render(board, [r.path for r in run_dirs]).encode())
    for name, png in html.nfe_plots(board).items():
        atomic_write_bytes(out / name, png)
    return board


def measure(
    cells: Sequence[Cell],
    *,
    device: str,
    inception_weights: Weights = None,
    quiet: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]] | None:
    """Sample and evaluate ``cells``; a cell whose result exists is neither sampled nor
    evaluated again. Under torchrun every rank samples, rank 0 evaluates and returns the
    records (other ranks return None)."""
    with distributed.session(device) as (dist, dev):
        shared: dict[str, Any] = {}
        for c in cells:
            if plan_key(c) not in shared:
                shared[plan_key(c)] = plan(c, device=str(dev), inception_weights=inception_weights)
        plans = [shared[plan_key(c)] for c in cells]
        done = [cached_result(c, p.key) for c, p in zip(cells, plans, strict=True)]
        todo = [c for c, r in zip(cells, done, strict=True) if r is None]
        if len(todo) < len(cells):
            log(f"{len(cells) - len(todo)} of {len(cells)} evaluations cached, skipped")
        with progress_bar(dist.is_main and not quiet and bool(todo)) as bar:
            overall = bar.add_task("cells", total=len(todo), detail="") if bar else None
            for cell in todo:
                sample_cells([cell], dist, dev, bar, keep_bars=False)
                if dist.is_main:
                    i = cells.index(cell)
                    if bar:
                        metrics = ", ".join(
                            plans[i].protocol["metrics"] + [*plans[i].model_metrics]
                        )
                        bar.update(overall, detail=f"evaluating {metrics}")
                    done[i] = evaluate_cell(cell, plans[i])
                if bar:
                    bar.update(overall, advance=1, detail="")
        return done if dist.is_main else None


def train_stage(config, run: RunDir, *, force: bool = False, argv=None, log=print):
    """Train ``run`` to ``config``'s steps, continuing from its newest valid checkpoint;
    ``force`` moves an existing run directory aside and starts over."""
    check_before_training(config)  # before the lock creates the run directory
    with locked(run, "train", start_over=force, log=log):
        return train(config, run, argv=argv)


def run_pipeline(
    config,
    run: RunDir,
    *,
    force: bool = False,
    argv: list[str] | None = None,
    inception_weights: Weights = None,
    log=print,
) -> dict[str, Any]:
    """train -> sample -> eval -> report, skipping each stage whose artifacts exist.

    ``force`` moves an existing run directory aside (nothing is deleted) and starts over."""
    check_before_training(config)  # a bad sampler value fails now, not after training
    with locked(run, "run", start_over=force, log=log):
        return _run_locked(config, run, argv=argv, inception_weights=inception_weights, log=log)


def _run_locked(config, run: RunDir, *, argv, inception_weights, log) -> dict[str, Any]:
    import time

    timings: dict[str, float | None] = {}  # seconds per stage; None: skipped as done
    start = time.perf_counter()

    def lap(stage: str, skipped: bool = False) -> None:
        nonlocal start
        timings[stage] = None if skipped else round(time.perf_counter() - start, 1)
        start = time.perf_counter()

    if done.trained(run, config):
        run.prepare(config, argv=argv)  # same checks as training: refuses a changed config
        log(f"train: done (checkpoint at step {run.intact_checkpoint_steps()[-1]}), skipped")
        lap("train", skipped=True)
    else:
        train(config, run, argv=argv)  # loads the dataset first: fails in seconds if absent
        lap("train")
    if config.eval.select_every:
        select_stage(run, inception_weights=inception_weights, log=log)
        lap("checkpoint selection")
    cached = []

    def skipped(_) -> None:
        cached.append(True)
        log("sample and eval: done (this spec was evaluated before), skipped")

    records = measure(
        [make_cell(run)],
        device=config.runtime.device,
        inception_weights=inception_weights,
        log=skipped,
    )
    if records is None:  # a non-zero torchrun rank: rank 0 reports
        return {"board": {"groups": []}, "timings": timings, "report_dir": None}
    lap("sample and eval", skipped=bool(cached))
    recipe = registry("recipes").load(config.recipe)()
    board = report_stage([run], run.report, baselines=recipe.baselines.get(config.dataset, []))
    lap("report")
    return {"board": board, "timings": timings, "report_dir": str(run.report)}


def select_stage(run: RunDir, *, inception_weights: Weights = None, log=print) -> dict[str, Any]:
    """The paper's checkpoint selection: every ``eval.select_every`` steps, the metric that
    ranks the run's tables (FID for images, as in the paper) on ``eval.select_n`` samples;
    the best step is written to ``selection.json`` for ``sample.checkpoint=best``."""
    config = run.load_config()
    every, n = config.eval.select_every, config.eval.select_n
    steps = [s for s in run.intact_checkpoint_steps() if s % every == 0 or s == config.train.steps]
    path = run.selection
    done = read_derived(path)  # a damaged file is redone
    name, metric, lower = ranking_metric(config)
    same = isinstance(done, dict) and (done.get("n"), done.get("metric")) == (n, metric)
    if not same or not isinstance(done.get("values"), dict):
        done = {"values": {}}
    device = distributed.resolve_device(config.runtime.device, distributed.Dist())
    sampler = sampler_component(config)[1]
    for step in (s for s in steps if str(s) not in done["values"]):
        model = load_model(run, device, step)
        samples = draw_many(model, sampler, n)
        record = evaluate_config(
            samples,
            config,
            metrics=(name,),
            device=str(device),
            inception_weights=inception_weights,
        )
        done["values"][str(step)] = record["metrics"][metric]
        log(f"select: step {step}: {metric} {record['metrics'][metric]:.4g} (n={n})")
    best = (min if lower else max)(done["values"], key=done["values"].get)
    selection = {"metric": metric, "n": n, "values": done["values"], "best_step": int(best)}
    atomic_write_json(path, selection)
    return selection
