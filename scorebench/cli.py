"""The ``scorebench`` command line. Thin: every command calls one library function.

Heavy modules (torch, torchvision, the plugins' models) are imported inside commands, so
``--help``, ``plugins`` and ``list`` stay fast and torch-free.
"""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from scorebench import __version__
from scorebench.errors import ScorebenchError
from scorebench.plugins import get_plugin_manager
from scorebench.registry import KINDS

app = typer.Typer(
    name="scorebench",
    help="Train, sample and fairly evaluate score-based generative models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

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
        if key in (kind, kind.rstrip("s")):
            return kind
    raise ScorebenchError(f"unknown component kind {name!r}. Kinds: {', '.join(KINDS)}.")


@app.command(rich_help_panel=PANEL_INFO)
def plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout instead of a table."),
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
        }
        out.print_json(json.dumps(payload))
        return
    table = Table(title="scorebench plugins")
    for column in ("plugin", "version", "source", "hooks", "components"):
        table.add_column(column, overflow="fold")
    for p in manager.plugins:
        provided = "\n".join(
            f"{kind}: {', '.join(c.name for c in cs)}"
            for kind, cs in contributions.get(p.name, {}).items()
        )
        table.add_row(p.name, p.version, p.source, "\n".join(p.hooks), provided or "-")
    out.print(table)
    for f in manager.failures:
        out.print(f"[red]plugin {f.name!r} failed ({f.stage}): {f.error}[/red]")


@app.command("list", rich_help_panel=PANEL_INFO)
def list_components(
    kind: str | None = typer.Argument(None, help=f"One of: {', '.join(KINDS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout instead of tables."),
) -> None:
    """Registered components by kind, with the plugin that provides each."""
    kinds = [_kind(kind)] if kind else list(KINDS)
    manager = get_plugin_manager()
    registries = {k: manager.registry(k) for k in kinds}
    if as_json:
        payload = {
            k: [{"name": c.name, "plugin": c.plugin, "summary": c.summary} for c in reg]
            for k, reg in registries.items()
        }
        out.print_json(json.dumps(payload))
        return
    for k, reg in registries.items():
        table = Table(title=k, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("plugin")
        table.add_column("summary")
        for c in reg:
            table.add_row(c.name, c.plugin, c.summary)
        if not len(reg):
            table.add_row("-", "-", "(none registered)")
        out.print(table)


PANEL_RUN = "Train, sample, evaluate"
DEFAULT_RUNS = "runs"


def _config(recipe, dataset, config_file, overrides, device, data_dir):
    from scorebench.recipes import resolve_config

    extra = [f"runtime.device={device}"] if device else []
    extra += [f"data.root={data_dir}"] if data_dir else []
    return resolve_config(recipe, dataset, config_file, [*overrides, *extra])


def _run_dir(run_dir, recipe, dataset):
    from pathlib import Path

    from scorebench.runs import RunDir

    return RunDir(Path(run_dir) if run_dir else Path(DEFAULT_RUNS) / f"{recipe}-{dataset}")


RECIPE = typer.Argument(..., help="Recipe name (see `scorebench list recipes`), e.g. ncsn.")
DATASET = typer.Option(..., "--dataset", "-d", help="Dataset preset of the recipe, e.g. digits.")
CONFIG = typer.Option(None, "--config", "-c", help="YAML or TOML file merged over the preset.")
SET = typer.Option([], "--set", "-s", help="Override one key: --set train.lr=1e-4 (repeatable).")
RUN_DIR = typer.Option(None, "--run-dir", help="Run directory [default: runs/RECIPE-DATASET].")
DEVICE = typer.Option(
    None, "--device", help="auto, cpu, cuda or cuda:N (= --set runtime.device=...)."
)
DATA_DIR = typer.Option(None, "--data-dir", help="Where datasets live (= --set data.root=...).")


@app.command(rich_help_panel=PANEL_RUN)
def train(
    recipe: str = RECIPE,
    dataset: str = DATASET,
    config_file: str | None = CONFIG,
    overrides: list[str] = SET,
    run_dir: str | None = RUN_DIR,
    device: str | None = DEVICE,
    data_dir: str | None = DATA_DIR,
    fresh: bool = typer.Option(False, "--no-resume", help="Ignore existing checkpoints."),
) -> None:
    """Train a recipe's network; continues from the newest valid checkpoint in the run dir.

    Under `torchrun --nproc_per_node N` the same command trains with DDP."""
    from scorebench.train import train as train_run

    config = _config(recipe, dataset, config_file, overrides, device, data_dir)
    run = _run_dir(run_dir, recipe, dataset)
    result = train_run(config, run, resume=not fresh, argv=sys.argv)
    err.print(
        f"trained to step {result.step} in {run.path}"
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else "")
    )


@app.command(rich_help_panel=PANEL_RUN)
def sample(
    run_dir: str = typer.Argument(..., help="A trained run directory."),
    n: int | None = typer.Option(
        None, "--n", "-n", help="Number of samples [default: the config's]."
    ),
    device: str | None = DEVICE,
) -> None:
    """Draw samples from a trained run into sharded files (resumes finished shards)."""
    from scorebench.workflow import sample_stage

    record = sample_stage(_existing_run(run_dir), n=n, device=device)
    out.print_json(json.dumps(record))


def _existing_run(path: str):
    from scorebench.runs import RunDir

    run = RunDir(path)
    run.load_config()  # a clear error when it is not a run directory
    return run


def main() -> None:
    """Console-script entry point: user mistakes print a message, not a traceback."""
    manager = get_plugin_manager()
    manager.add_commands(app)
    for f in manager.failures:
        err.print(f"[yellow]warning: plugin {f.name!r} failed ({f.stage}): {f.error}[/yellow]")
    try:
        app()  # standalone: Typer reports usage errors itself and exits
    except ScorebenchError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
