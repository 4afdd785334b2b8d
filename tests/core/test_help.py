"""Every command's --help shows what each option does when it is not given."""

import re

import pytest
import typer
from typer.testing import CliRunner

from scorebench import cli


def _commands(group, path: tuple[str, ...] = ()):
    """(argv path, command) for every leaf command, plugin commands included."""
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, group


def _app() -> typer.Typer:
    """The app with the installed plugins' commands, as `scorebench` builds it."""
    from scorebench.plugins import get_plugin_manager

    del cli.app.registered_commands[cli._CORE_COMMANDS :]
    get_plugin_manager().add_commands(cli.app)
    return cli.app


COMMANDS = list(_commands(typer.main.get_command(_app())))


def _option_blocks(text: str) -> dict[str, str]:
    """Help text per option, keyed by its first long name (rich's table rows, joined)."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        body = line.strip("│ ")
        found = re.match(r"^\*?\s*(--[\w-]+)", body)
        if found:
            current = found.group(1)
            blocks[current] = body
        elif current and body and not line.startswith(("╰", "╭")):
            blocks[current] += " " + body
        elif line.startswith("╰"):
            current = None
    return blocks


def test_the_walk_finds_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"train", "run", "sample", "eval", "report", "compare", "bench"} <= names
    assert {"baselines compute", "config show", "export", "list", "plugins"} <= names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_shows_its_default(path, command):
    result = CliRunner().invoke(_app(), [*path, "--help"], env={"COLUMNS": "200"}, color=False)
    assert result.exit_code == 0, result.output
    blocks = _option_blocks(result.output)
    options = [
        p
        for p in command.params
        if p.param_type_name == "option" and not p.hidden and p.name != "help"
    ]
    assert options, f"{path}: no options found"
    for option in options:
        name = next(o for o in option.opts if o.startswith("--"))
        assert name in blocks, f"{' '.join(path)} --help does not list {name}:\n{result.output}"
        text = blocks[name]
        assert "[default:" in text or "[required]" in text, (
            f"`scorebench {' '.join(path)} --help` gives no default for {name}: {text!r}"
        )
        assert " ." not in text.replace("e.g. ", ""), f"markup swallowed text in {text!r}"


def test_compare_help_names_its_default_gates():
    result = CliRunner().invoke(_app(), ["compare", "--help"], env={"COLUMNS": "200"})
    for metric in ("fid", "isc_mean", "swd", "mode_weight_error"):
        assert metric in result.output
    assert "10%" in result.output


def test_help_paragraphs_flow_instead_of_keeping_the_docstring_line_breaks():
    """A command's description is re-wrapped to the terminal, not broken where the
    docstring's source lines end (issue 26)."""
    result = CliRunner().invoke(_app(), ["bench", "--help"], env={"COLUMNS": "200"}, color=False)
    assert result.exit_code == 0, result.output
    assert "rerunning computes only what is missing. Under torchrun" in result.output


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_at_80_columns_cuts_nothing(path, command):
    """rich ends a word too long for its column with '…': no example may be that long."""
    result = CliRunner().invoke(_app(), [*path, "--help"], env={"COLUMNS": "80"}, color=False)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, result.output
