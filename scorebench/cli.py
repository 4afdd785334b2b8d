"""The ``scorebench`` command line. Thin: every command calls one library function.

Heavy modules (torch, torchvision, the plugins' models) are imported inside commands, so
``--help``, ``plugins`` and ``list`` stay fast and torch-free.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import shlex
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scorebench import __version__
from scorebench.config import json_schema
from scorebench.errors import ScorebenchError
from scorebench.files import atomic_write_bytes, atomic_write_json
from scorebench.metrics.extractors import InceptionWeights
from scorebench.plugins import get_plugin_manager, registry
from scorebench.recipes import resolve_config
from scorebench.registry import KINDS, singular
from scorebench.report.leaderboard import default_gates, rich_tables, with_fidelity_keys
from scorebench.report.leaderboard import markdown as to_markdown
from scorebench.report.terminal import (
    bench_status_notes,
    bench_status_table,
    eval_table,
    sample_summary,
    stage_table,
)
from scorebench.runs import HISTORY_FILE, RunDir

app = typer.Typer(
    name="scorebench",
    help="Train, sample and fairly evaluate score-based generative models.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
# No markup: printed text quotes user input (paths, names, --set values) that may hold
# [brackets]; styles are given explicitly where wanted.
out = Console(markup=False)
err = Console(stderr=True, markup=False)

PANEL_INFO = "Plugins and components"


def _version(value: bool) -> None:
    if value:
        out.print(f"scorebench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool | None = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train, sample and fairly evaluate score-based generative models."""


def _kind(name: str) -> str:
    """Accept 'samplers', 'sampler' and 'score-functions' for the kind names."""
    key = name.strip().lower().replace("-", "_")
    for kind in KINDS:
        if key in (kind, singular(kind)):
            return kind
    raise ScorebenchError(f"unknown component kind {name!r}. Kinds: {', '.join(KINDS)}.")


def _meta(component) -> dict | None:
    return dataclasses.asdict(component.meta) if component.meta else None


@app.command(rich_help_panel=PANEL_INFO)
def plugins(
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON on stdout instead of a table.", show_default="off"
    ),
) -> None:
    """Installed plugins: version, hooks, components provided, and any that failed to load."""
    manager = get_plugin_manager()
    contributions = manager.contributions()
    if as_json:
        payload = {
            "plugins": [
                {
                    "name": p.name,
                    "version": p.version,
                    "source": p.source,
                    "hooks": p.hooks,
                    "components": {
                        k: [c.name for c in cs] for k, cs in contributions.get(p.name, {}).items()
                    },
                }
                for p in manager.plugins
            ],
            "failures": [vars(f) for f in manager.failures],
            "missing_requirements": manager.missing_requirements(),
            "conflicts": [{**vars(c), "message": str(c)} for c in manager.conflicts()],
        }
        out.print_json(json.dumps(payload))
        return
    table = Table(title="scorebench plugins", title_justify="left")
    # Names never break: the plugin and hook columns are as wide as their longest name, and
    # the components wrap between names.
    table.add_column("plugin (version, source)", no_wrap=True)
    table.add_column("hooks", no_wrap=True)
    table.add_column("components", overflow="fold")
    for p in manager.plugins:
        provided = "\n".join(
            f"{kind}: {', '.join(c.name for c in cs)}"
            for kind, cs in contributions.get(p.name, {}).items()
        )
        about = f"{p.name}\n{p.version}, {p.source}"
        table.add_row(about, "\n".join(p.hooks), provided or "-")
    out.print(table)
    for f in manager.failures:
        out.print(f"plugin {f.name!r} failed ({f.stage}): {f.error}", style="red")
    for name, needs in manager.missing_requirements().items():
        out.print(f"plugin {name!r} needs: {'; '.join(needs)}", style="yellow")
    for c in manager.conflicts():
        out.print(f"name conflict: {c}", style="yellow")


@app.command("list", rich_help_panel=PANEL_INFO)
def list_components(
    kind: str | None = typer.Argument(
        None, help=f"One of: {', '.join(KINDS)}, or presets.", show_default="every kind"
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON on stdout instead of tables.", show_default="off"
    ),
) -> None:
    """Registered components by kind, with the plugin that provides each; `list presets`
    shows each recipe's dataset presets."""
    if kind is not None and kind.strip().lower() in ("presets", "preset"):
        _list_presets(as_json)
        return
    kinds = [_kind(kind)] if kind else list(KINDS)
    manager = get_plugin_manager()
    registries = {k: manager.registry(k) for k in kinds}
    if as_json:
        payload = {
            k: [
                {"name": name, "plugin": c.plugin, "summary": c.summary, "meta": _meta(c)}
                for name, c in reg.listing()
            ]
            for k, reg in registries.items()
        }
        out.print_json(json.dumps(payload, default=repr))
        return
    for k, reg in registries.items():
        table = Table(title=k, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("plugin")
        table.add_column("summary")
        for name, c in reg.listing():
            table.add_row(name, c.plugin, c.summary)
        if not len(reg):
            table.add_row("-", "-", "(none registered)")
        out.print(table)
        for c in reg.conflicts:
            out.print(f"name conflict: {c}", style="yellow")


def _list_presets(as_json: bool) -> None:

    rows = []
    for component in registry("recipes"):
        recipe = component.load()()
        for dataset in recipe.presets:
            baselines = recipe.baselines.get(dataset, [])
            rows.append({"recipe": recipe.name, "dataset": dataset, "baselines": baselines})
    if as_json:
        out.print_json(json.dumps({"presets": rows}))
        return
    table = Table(title="presets: scorebench run RECIPE --dataset DATASET", title_justify="left")
    for column in ("recipe", "dataset", "baselines"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r["recipe"], r["dataset"], ", ".join(r["baselines"]) or "-")
    out.print(table)


PANEL_RUN = "Train, sample, evaluate"
DEFAULT_RUNS = "runs"


def _config(recipe, dataset, config_file, overrides, device, data_dir):
    extra = [f"runtime.device={device}"] if device else []
    extra += [f"data.root={data_dir}"] if data_dir else []
    return resolve_config(recipe, dataset, config_file, [*overrides, *extra])


def _run_dir(run_dir, recipe, dataset):
    return RunDir(Path(run_dir) if run_dir else Path(DEFAULT_RUNS) / f"{recipe}-{dataset}")


PANEL_CLUSTER = "On a cluster (submitit)"


def _cluster_option(flag: str, help: str, default: str, metavar: str = "N"):
    return typer.Option(
        None,
        flag,
        metavar=metavar,
        help=help,
        show_default=default,
        rich_help_panel=PANEL_CLUSTER,
    )


TRAIN_EXECUTOR = _cluster_option(
    "--executor",
    "Where training runs: here, local (processes on this machine) or slurm (a job).",
    "inline: here",
    "NAME",
)
NODES = _cluster_option("--nodes", "Nodes of the job.", "1")
GPUS_PER_NODE = _cluster_option("--gpus-per-node", "GPUs per node.", "0")
TASKS_PER_NODE = _cluster_option("--tasks-per-node", "DDP ranks per node.", "one per GPU, or 1")
CPUS_PER_TASK = _cluster_option("--cpus-per-task", "Slurm CPUs per rank.", "8")
PARTITION = _cluster_option("--partition", "Slurm partition.", "none: required for slurm", "NAME")
TIMEOUT_MIN = _cluster_option("--timeout-min", "Time limit of one attempt, in minutes.", "1440")
MAX_REQUEUES = _cluster_option("--max-requeues", "Requeues after preemption or time-out.", "3")
SLURM_SET = typer.Option(
    [],
    "--slurm-set",
    metavar="KEY=V",
    help="Another sbatch option, e.g. account=lab.",
    show_default="none",
    rich_help_panel=PANEL_CLUSTER,
)
RECIPE = typer.Argument(..., help="Recipe name (see `scorebench list recipes`), e.g. ncsn.")
DATASET = typer.Option(..., "--dataset", "-d", help="Dataset preset of the recipe, e.g. digits.")
CONFIG = typer.Option(
    None,
    "--config",
    "-c",
    help="YAML or TOML file merged over the preset.",
    show_default="the preset alone",
)
SET = typer.Option(
    [],
    "--set",
    "-s",
    help="Override one key: --set train.lr=1e-4 (repeatable).",
    show_default="none",
)
RUN_DIR = typer.Option(None, "--run-dir", help="Run directory.", show_default="runs/RECIPE-DATASET")
DEVICE = typer.Option(
    None,
    "--device",
    help="auto, cpu, cuda or cuda:N (= --set runtime.device=...).",
    show_default="the config's runtime.device, auto in every preset",
)
INCEPTION_WEIGHTS = typer.Option(
    None,
    "--inception-weights",
    envvar="SCOREBENCH_INCEPTION_WEIGHTS",
    help="A local copy of torch-fidelity's Inception-v3 weights file (for offline use).",
    show_default="downloaded once into the scorebench cache",
)
TRUST_WEIGHTS = typer.Option(
    False,
    "--trust-weights",
    help="Use Inception weights whose SHA-256 is not the standard file's (the fingerprint "
    "records it). They are loaded as tensors only either way.",
    show_default="off: such a file is refused",
)
FORCE = typer.Option(
    False, "--force", help="Start over (the old run is moved aside).", show_default="off"
)
DATA_DIR = typer.Option(
    None,
    "--data-dir",
    help="Where datasets live (= --set data.root=...).",
    show_default="the config's data.root",
)


def _parameters(*specs) -> list[inspect.Parameter]:
    """(name, type, Typer option) as signature parameters."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return [inspect.Parameter(n, kind, default=d, annotation=t) for n, t, d in specs]


def _grouped(options_class, parameters: list[inspect.Parameter]):
    """A decorator: ``command(options, **own)`` becomes a Typer command taking
    ``parameters`` first (collected into one ``options_class``), then its own. The options
    several commands share are declared once; Typer reads the signature."""

    def decorate(command):
        own = list(inspect.signature(command).parameters.values())[1:]

        @functools.wraps(command)
        def wrapper(**kwargs):
            options = options_class(**{p.name: kwargs.pop(p.name) for p in parameters})
            return command(options, **kwargs)

        wrapper.__signature__ = inspect.Signature([*parameters, *own])
        del wrapper.__wrapped__  # Typer must read __signature__, not the command's own
        return wrapper

    return decorate


@dataclass(frozen=True)
class RunOptions:
    """The options of the commands that make a run (``train``, ``run``)."""

    recipe: str
    dataset: str
    config_file: str | None
    overrides: list[str]
    run_dir: str | None
    device: str | None
    data_dir: str | None
    force: bool

    def config(self):
        o = self
        return _config(o.recipe, o.dataset, o.config_file, o.overrides, o.device, o.data_dir)

    def run(self) -> RunDir:
        return _run_dir(self.run_dir, self.recipe, self.dataset)


_with_run_options = _grouped(
    RunOptions,
    _parameters(
        ("recipe", str, RECIPE),
        ("dataset", str, DATASET),
        ("config_file", str | None, CONFIG),
        ("overrides", list[str], SET),
        ("run_dir", str | None, RUN_DIR),
        ("device", str | None, DEVICE),
        ("data_dir", str | None, DATA_DIR),
        ("force", bool, FORCE),
    ),
)


@app.command(rich_help_panel=PANEL_RUN)
@_with_run_options
def train(
    options: RunOptions,
    executor: str | None = TRAIN_EXECUTOR,
    nodes: int | None = NODES,
    gpus_per_node: int | None = GPUS_PER_NODE,
    tasks_per_node: int | None = TASKS_PER_NODE,
    cpus_per_task: int | None = CPUS_PER_TASK,
    partition: str | None = PARTITION,
    timeout_min: int | None = TIMEOUT_MIN,
    max_requeues: int | None = MAX_REQUEUES,
    slurm_settings: list[str] = SLURM_SET,
) -> None:
    """Train a recipe's network; continues from the newest valid checkpoint in the run dir.

    Under `torchrun --nproc_per_node N` the same command trains with DDP; --executor slurm
    submits it as a Slurm job (--nodes x --gpus-per-node ranks), requeued when preempted."""
    from scorebench.train_jobs import train_executor  # loads torch: imported on use
    from scorebench.workflow import train_stage

    spec = train_executor(
        name=executor,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        tasks_per_node=tasks_per_node,
        cpus_per_task=cpus_per_task,
        partition=partition,
        timeout_min=timeout_min,
        max_requeues=max_requeues,
        slurm_additional=_key_values(slurm_settings, "--slurm-set"),
    )
    config, run = options.config(), options.run()
    if spec.name != "inline":
        _train_job(spec, config, run, options.force)
        return
    start = time.perf_counter()
    result = train_stage(config, run, force=options.force, argv=sys.argv, log=err.print)
    err.print(
        f"trained to step {result.step} in {run.path} in {time.perf_counter() - start:.1f} s"
        + (f" (resumed from step {result.resumed_from})" if result.resumed_from else "")
    )
    err.print(f"next: scorebench sample {run.path}, or `scorebench run` with the same options")


def _train_job(spec, config, run, force: bool) -> None:
    """``train --executor local|slurm``: submit; wait for a local job."""
    from scorebench.train_jobs import launch, wait  # loads torch: imported on use

    job = launch(spec, config, run, sys.argv, force=force, log=err.print)
    ranks = f"{spec.world_size} rank(s) on {spec.nodes} node(s)"
    if spec.name == "slurm":
        out.print(
            f"submitted Slurm job {job.job_id} ({ranks}) training {run.path}; log: "
            f"{job.paths.stderr}. Preempted or timed out, it is requeued (up to "
            f"{spec.max_requeues} times) and continues from the newest checkpoint; after it "
            "ends, the same command continues the run.",
            soft_wrap=True,
        )
        return
    err.print(f"training {run.path} as local job {job.job_id} ({ranks}); log: {job.paths.stderr}")
    result = wait(job)
    err.print(f"trained to step {result['step']} in {run.path}")


def _key_values(items: list[str], flag: str) -> dict[str, str | int]:
    """``KEY=VALUE`` flags as a dict (integers as integers)."""
    found: dict[str, str | int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScorebenchError(f"{flag} {item!r}: expected KEY=VALUE, e.g. account=lab")
        found[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    return found


SAMPLER = typer.Option(
    None,
    "--sampler",
    help="Sampler to use instead of the run's (see `scorebench list samplers`).",
    show_default="the run's",
)
CELL_SET = typer.Option(
    [],
    "--set",
    "-s",
    help="Override a sample.* or eval.* key, e.g. --set sample.n=1000.",
    show_default="none",
)


def _cell_overrides(sampler: str | None, n: int | None, overrides: list[str]) -> list[str]:
    extra = [f"sample.sampler.name={sampler}"] if sampler else []
    if n is not None:
        if n < 1:
            raise ScorebenchError(f"--n must be >= 1, got {n}")
        extra.append(f"sample.n={n}")
    return [*extra, *overrides]


AS_JSON = typer.Option(False, "--json", help="Print the full record as JSON.", show_default="off")
SOURCE_SETTINGS = typer.Option(
    [],
    "--source-set",
    metavar="KEY=V",
    help="For the diffusers sources: subfolder, revision, dtype or protocol (repeatable).",
    show_default="none",
)
MODEL_DATASET = typer.Option(
    None,
    "--dataset",
    help="The dataset protocol a diffusers source is measured under, e.g. cifar10.",
    show_default="none; required with a diffusers source",
)
SAMPLE_COUNT = typer.Option(
    None, "--n", "-n", help="Number of samples.", show_default="the config's sample.n"
)
SOURCE = "A trained run directory, or diffusers:PATH_OR_HUB_ID (cells under runs/diffusers-KEY)."


@dataclass(frozen=True)
class CellOptions:
    """The options that name a cell's samples (``sample``, ``eval``, ``export``)."""

    run_dir: str
    sampler: str | None
    overrides: list[str]
    source_settings: list[str]
    dataset: str | None
    n: int | None

    def source(self):
        return _existing_run(self.run_dir, self.source_settings, self.dataset)

    def cell_overrides(self) -> list[str]:
        return _cell_overrides(self.sampler, self.n, self.overrides)


_with_cell_options = _grouped(
    CellOptions,
    _parameters(
        ("run_dir", str, typer.Argument(..., help=SOURCE)),
        ("sampler", str | None, SAMPLER),
        ("overrides", list[str], CELL_SET),
        ("source_settings", list[str], SOURCE_SETTINGS),
        ("dataset", str | None, MODEL_DATASET),
        ("n", int | None, SAMPLE_COUNT),
    ),
)


@app.command(rich_help_panel=PANEL_RUN)
@_with_cell_options
def sample(
    cell: CellOptions,
    device: str | None = DEVICE,
    as_json: bool = AS_JSON,
) -> None:
    """Draw samples from a trained run into sharded files (resumes finished shards).

    Each sampling spec (sampler and parameters, n, seed...) gets its own directory under
    RUN/evals/: trying another sampler never touches the samples of the first."""
    from scorebench.distributed import is_main_process  # loads torch: imported on use
    from scorebench.workflow import sample_stage

    record = sample_stage(cell.source(), cell.cell_overrides(), device=device)
    if not is_main_process():  # under torchrun, rank 0 speaks
        return
    if as_json:
        out.print_json(json.dumps(record))
        return
    for line in sample_summary(record):
        out.print(line)
    out.print(f"next: scorebench eval {cell.run_dir} (with the same options)")


@app.command("eval", rich_help_panel=PANEL_RUN)
@_with_cell_options
def evaluate(
    cell: CellOptions,
    device: str | None = DEVICE,
    inception_weights: str | None = INCEPTION_WEIGHTS,
    trust_weights: bool = TRUST_WEIGHTS,
    cross_check: bool | None = typer.Option(
        None,
        "--cross-check",
        help="Also compute FID with torchmetrics (--set eval.cross_check=false turns off "
        "a config's).",
        show_default="the config's eval.cross_check",
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Evaluate a run's samples (IS/FID/KID/PRC or point metrics) with their protocol.

    Takes the same --sampler/--set/-n as `sample` to name which samples; a result already
    stored for that spec and protocol is printed, not recomputed."""
    from scorebench.workflow import eval_stage  # loads torch: imported on use

    record, cached = eval_stage(
        cell.source(),
        cell.cell_overrides(),
        device=device,
        inception_weights=InceptionWeights(inception_weights, trust_weights),
        cross_check=cross_check,
    )
    if cached:
        err.print("eval: this spec and protocol were evaluated before; showing the stored result")
    if as_json:
        shown = {k: v for k, v in record.items() if k != "run"}
        out.print_json(json.dumps({**shown, "metrics": with_fidelity_keys(record["metrics"])}))
        return
    _table_console().print(eval_table(record))


@app.command(rich_help_panel=PANEL_RUN)
@_with_cell_options
def export(
    cell: CellOptions,
    png: str = typer.Option(..., "--png", help="Empty folder for the samples as PNG files."),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="Also write the protocol's reference images (same split and subset) here.",
        show_default="not written",
    ),
) -> None:
    """Write a run's samples as PNG files, to cross-check a number with another tool:
    `fidelity --fid --input1 PNG_DIR --input2 REFERENCE_DIR`.

    Takes the same --sampler/--set/-n as `sample` to name which samples."""
    from scorebench.export import export as export_cell  # loads torch: imported on use

    samples, references = export_cell(
        cell.source(),
        cell.cell_overrides(),
        Path(png),
        Path(reference) if reference else None,
    )
    out.print(f"wrote {samples} samples to {png}")
    if references is not None:
        out.print(f"wrote {references} reference images to {reference}")


@app.command(rich_help_panel=PANEL_RUN)
@_with_run_options
def run(
    options: RunOptions,
    inception_weights: str | None = INCEPTION_WEIGHTS,
    trust_weights: bool = TRUST_WEIGHTS,
) -> None:
    """Train, sample, evaluate and report in one go; finished stages are skipped.

    `scorebench run ncsn --dataset cifar10` on a GPU is the paper's experiment."""
    from scorebench.workflow import run_pipeline  # loads torch: imported on use

    start = time.perf_counter()
    result = run_pipeline(
        options.config(),
        options.run(),
        force=options.force,
        argv=sys.argv,
        inception_weights=InceptionWeights(inception_weights, trust_weights),
        log=err.print,
    )
    if result["report_dir"] is None:  # a non-zero torchrun rank
        return

    _print_board(result["board"])
    console = _table_console()
    console.print(stage_table(result["timings"]))
    out.print(f"wall time {time.perf_counter() - start:.1f} s")
    out.print(
        f"report: {result['report_dir']}/report.html, leaderboard.md, leaderboard.json",
        soft_wrap=True,  # a path stays on one line for copying
    )


def _table_console() -> Console:
    """Logs do not wrap lines: give tables room there, unless COLUMNS says how wide the log
    is; a terminal keeps its own width."""
    if out.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return out
    return Console(width=132, markup=False)


def _print_board(board) -> None:

    console = _table_console()
    for table in rich_tables(board, width=console.width):
        console.print(table)


@app.command(rich_help_panel=PANEL_RUN)
def report(
    run_dirs: list[str] = typer.Argument(..., help="Run directories with results."),
    out_dir: str = typer.Option("report", "--out", "-o", help="Where to write the report."),
    baselines: list[str] = typer.Option(
        [],
        "--baselines",
        "-b",
        help="Baseline tables: a shipped table's name (`scorebench list presets` names "
        "them) or the path of a JSON table (repeatable).",
        show_default="none",
    ),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the Markdown on stdout.", show_default="off"
    ),
) -> None:
    """Leaderboard of runs beside baselines: leaderboard.md, leaderboard.json, report.html.

    A ``history.jsonl`` among the arguments (as `runs/*` expands to) is skipped: it is the
    log scorebench keeps beside run directories, not a run."""
    from scorebench.workflow import report_stage  # loads torch: imported on use

    runs = [p for p in run_dirs if not (Path(p).name == HISTORY_FILE and Path(p).is_file())]
    if len(runs) < len(run_dirs) and runs:
        err.print(f"skipped {HISTORY_FILE}: the evaluation log beside the runs, not a run")
    board = report_stage(
        [_existing_run(p) for p in runs or run_dirs], out_dir, baselines=baselines, log=err.print
    )
    if markdown:
        print(to_markdown(board))
    else:
        _print_board(board)


@app.command(rich_help_panel=PANEL_RUN)
def compare(
    base: str = typer.Argument(
        ...,
        help="Run dir, bench dir, leaderboard.json, results record, or a shipped board's "
        "name (e.g. toy-gmm).",
    ),
    new: str = typer.Argument(..., help="Run dir, bench dir, leaderboard.json or results record."),
    thresholds: list[str] = typer.Option(
        [],
        "--threshold",
        "-t",
        help="METRIC=ABS or METRIC=N% allowed worsening, or METRIC=off (repeatable); each "
        "sets or replaces that metric's gate and keeps the others.",
        show_default=", ".join(f"{m}={-g:.0%}" for m, g in default_gates().items()),
    ),
    row: str | None = typer.Option(
        None,
        "--row",
        help="Compare this model row of BASE with every run row of NEW.",
        show_default="rows with the same spec",
    ),
) -> None:
    """Compare results cell by cell (same protocol and spec); exit 1 when a gated metric
    got worse than its threshold.

    The default gates (see --threshold) allow a 10% relative worsening; other metrics are
    shown, not gated."""
    from scorebench.report.compare import compare_paths, table  # loads torch: imported on use

    changes = compare_paths(base, new, thresholds, row)
    _table_console().print(table(changes))
    if any(c.regressed for c in changes):
        raise typer.Exit(1)


SPEC = typer.Option(
    None,
    "--spec",
    help="YAML/TOML bench spec (see `scorebench.bench`); flags add to it.",
    show_default="none",
)
PRESET = typer.Option(
    None,
    "--preset",
    help="A named bench (`scorebench list benches`), e.g. oracle-toy.",
    show_default="none",
)
SAMPLER_GRID = typer.Option(
    [],
    "--sampler",
    help="NAME[:KEY=V1,V2,...]...: a sampler and a parameter grid, e.g. "
    "pf_heun:steps=10,25,50 (repeatable).",
    show_default="each run's own",
)
SEEDS = typer.Option(
    None, "--seeds", help="A count (3: seeds 0,1,2) or a list (0,7,11).", show_default="1"
)


@app.command(rich_help_panel=PANEL_RUN)
def bench(
    sources: list[str] = typer.Argument(
        None, help="Score sources: trained run directories, or diffusers:PATH_OR_HUB_ID."
    ),
    more_sources: list[str] = typer.Option(
        [],
        "--source",
        metavar="SOURCE",
        help="Another score source, as the arguments (repeatable).",
        show_default="none",
    ),
    source_settings: list[str] = SOURCE_SETTINGS,
    dataset: str | None = MODEL_DATASET,
    spec_file: str | None = SPEC,
    preset: str | None = PRESET,
    samplers: list[str] = SAMPLER_GRID,
    seeds: str | None = SEEDS,
    n: int | None = typer.Option(
        None, "--n", "-n", help="Samples per cell.", show_default="each run's sample.n"
    ),
    overrides: list[str] = CELL_SET,
    out_dir: str | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Where to write the leaderboard.",
        show_default="bench/PRESET or bench",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    inception_weights: str | None = INCEPTION_WEIGHTS,
    trust_weights: bool = TRUST_WEIGHTS,
    executor: str | None = typer.Option(
        None,
        "--executor",
        metavar="NAME",
        help="Where cells run: inline, local (worker processes) or slurm (an array job); "
        "the spec's executor: block sets its options.",
        show_default="inline",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        metavar="N",
        help="Worker processes of --executor local.",
        show_default="2",
    ),
    status: str | None = typer.Option(
        None,
        "--status",
        metavar="OUT",
        help="Show the state of each cell of the bench in OUT, and compute nothing.",
        show_default="off: run the bench",
    ),
) -> None:
    """Benchmark samplers x parameter grids x seeds on trained runs, on one protocol.

    Every cell is cached under its run by its full spec: rerunning computes only what is
    missing. Under torchrun each cell's shards are drawn in parallel. Ends with the
    leaderboard (mean ± 95% interval over seeds) and writes leaderboard.md/.json,
    report.html and quality-vs-NFE plots to --out."""
    from scorebench.bench import load_spec, run_bench  # loads torch: imported on use

    if status is not None:
        _bench_status(status, InceptionWeights(inception_weights, trust_weights))
        return
    spec = load_spec(
        spec_file,
        preset=preset,
        sources=[*(sources or []), *more_sources],
        source_settings=source_settings,
        dataset=dataset,
        samplers=samplers,
        seeds=seeds,
        n=n,
        overrides=overrides,
        executor=executor,
        workers=workers,
    )
    out_dir = out_dir or (f"bench/{preset}" if preset else "bench")
    board = run_bench(
        spec,
        out_dir,
        command=shlex.join(["scorebench", *sys.argv[1:]]),
        device=device,
        inception_weights=InceptionWeights(inception_weights, trust_weights),
        log=err.print,
    )
    if board is None:  # a non-zero torchrun rank
        return
    if "submitted" in board:
        out.print(
            f"submitted Slurm array job {board['job_id']} ({board['submitted']} cells). "
            f"Watch it with `scorebench bench --status {out_dir}`; when it is done, the same "
            "command again assembles the leaderboard (and resubmits only what failed).",
            soft_wrap=True,
        )
        return
    _print_board(board)
    out.print(
        f"bench report: {out_dir}/report.html, leaderboard.md, leaderboard.json", soft_wrap=True
    )


def _bench_status(out_dir: str, weights) -> None:
    """The table of ``bench --status OUT``; a failed cell's error tail and the command that
    computes what is missing."""
    from scorebench.bench import bench_status  # loads torch: imported on use

    summary, spec, rows = bench_status(out_dir, weights)
    varied = sorted({key for grid in spec.samplers for key in grid.grid})
    title = f"bench {out_dir}: {len(rows)} cells"
    _table_console().print(bench_status_table(title, varied, rows))
    again = summary.get("command") or f"scorebench bench (the command that made {out_dir})"
    for line, style in bench_status_notes(rows, again):
        out.print(line, style=style or None, soft_wrap=True)


baselines_app = typer.Typer(help="Baselines measured by scorebench itself.", no_args_is_help=True)
app.add_typer(baselines_app, name="baselines", rich_help_panel=PANEL_RUN)


@baselines_app.command("compute")
def baselines_compute(
    recipe: str = typer.Option("ncsn", help="Recipe whose preset sets the protocol."),
    dataset: str = DATASET,
    overrides: list[str] = SET,
    out_file: str | None = typer.Option(
        None,
        "--out",
        help="Where to write the measured table.",
        show_default="DATASET-measured.json here",
    ),
    inception_weights: str | None = INCEPTION_WEIGHTS,
    trust_weights: bool = TRUST_WEIGHTS,
) -> None:
    """Measure reference rows (held-out real data, fitted Gaussian) under a preset's protocol."""
    from scorebench.report.baselines import measured_baselines  # loads torch: imported on use

    config = _config(recipe, dataset, None, overrides, None, None)
    command = " ".join(
        ["scorebench baselines compute --recipe", recipe, "--dataset", dataset]
        + [f"--set {o}" for o in overrides]
    )
    source = {"command": command, "recipe": recipe, "dataset": dataset, "overrides": overrides}
    table = measured_baselines(
        config, source=source, inception_weights=InceptionWeights(inception_weights, trust_weights)
    )
    path = Path(out_file or f"{dataset}-measured.json")
    atomic_write_json(path, table)
    out.print(f"wrote {path}; use it with `scorebench report RUN -b {path}`", soft_wrap=True)


config_app = typer.Typer(help="Resolved configs and their schema.", no_args_is_help=True)
app.add_typer(config_app, name="config", rich_help_panel=PANEL_INFO)


@config_app.command("show")
def config_show(
    recipe: str = RECIPE,
    dataset: str = DATASET,
    config_file: str | None = CONFIG,
    overrides: list[str] = SET,
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON instead of YAML.", show_default="off"
    ),
) -> None:
    """The config a run would use: the recipe's preset, then the file, then each --set."""
    config = _config(recipe, dataset, config_file, overrides, None, None).to_dict()
    if as_json:
        out.print_json(json.dumps(config))
        return
    print(yaml.safe_dump(config, sort_keys=False), end="")


@config_app.command("schema")
def config_schema(
    out_file: str | None = typer.Option(
        None, "--out", "-o", help="Write it to this file.", show_default="standard output"
    ),
) -> None:
    """The JSON Schema of config files, for editors: e.g. `# yaml-language-server:
    $schema=scorebench.schema.json` at the top of a YAML config."""

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out_file is None:
        print(text, end="")
        return
    atomic_write_bytes(Path(out_file), text.encode())
    err.print(f"wrote {out_file}")


def _existing_run(path: str, source_settings: list[str] = (), dataset: str | None = None):
    """A run directory, or the directory of a diffusers source's cells under runs/."""
    from scorebench.bench import (  # loads torch: imported on use
        DIFFUSERS_PREFIX,
        model_source,
        source_run,
    )

    if path.startswith(DIFFUSERS_PREFIX):
        source = model_source(path, source_settings, dataset)
        return source_run(source, Path(DEFAULT_RUNS))
    if source_settings or dataset:
        raise ScorebenchError(
            f"--source-set and --dataset apply to a diffusers:PATH_OR_HUB_ID source; {path!r} "
            "is a run directory, which has its own dataset and settings."
        )
    run = RunDir(path)
    run.load_config()  # a clear error when it is not a run directory
    return run


_CORE_COMMANDS = len(app.registered_commands)


def main() -> None:
    """Console-script entry point: user mistakes print a message, not a traceback."""
    manager = get_plugin_manager()
    del app.registered_commands[_CORE_COMMANDS:]  # a second main() in one process re-adds
    manager.add_commands(app)
    for f in manager.failures:
        err.print(f"warning: plugin {f.name!r} failed ({f.stage}): {f.error}", style="yellow")
    command = typer.main.get_command(app)
    _plain_metavars(command)
    try:
        command()  # standalone: Click reports usage errors itself and exits
    except ScorebenchError as exc:
        _error(str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:  # a path the user gave that cannot be read or written
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"cannot use{where}: {exc.strerror or exc}. Check the path and its permissions.")
        sys.exit(2)


#: What --help shows for a value of each Python type (Typer would print "<list[str]>").
_METAVARS = {"str": "TEXT", "int": "INT", "float": "FLOAT", "Path": "PATH"}


def _plain_metavars(command) -> None:
    """Every option and argument of ``command`` and its subcommands shows a plain metavar:
    TEXT, INT, FLOAT, PATH or the argument's name; a flag shows none."""
    for param in command.params:
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
            continue
        annotation = param.type_descriptor.annotation
        element = (
            typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else annotation
        )
        name = getattr(element, "__name__", str(element))
        if isinstance(param, typer.core.TyperArgument):
            # Typer writes a required argument as "{recipe}" and its type as "<list[str]>".
            shown = param.name.upper() if param.required else f"[{param.name.upper()}]"
            shown += "..." if param.nargs != 1 else ""
            param.metavar = param.name.upper()
            param._usage_display_name = lambda shown=shown: shown
            param.display_type_rich = lambda ctx: None
        else:
            param.metavar = _METAVARS.get(name, name.upper())
    help_option = command.get_help_option  # made per call by Click: a flag too

    def get_help_option(ctx, made=help_option):
        option = made(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


def _error(message: str) -> None:

    # Text, not markup: messages quote user input, which may hold [brackets].
    err.print(Text.assemble(("error: ", "red"), message))


if __name__ == "__main__":
    main()
