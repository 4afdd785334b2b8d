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
