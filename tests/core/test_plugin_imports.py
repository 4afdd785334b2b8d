"""First-party plugins reach the core only through its contract module, scorebench.api (and
scorebench.checks for parameter checks), and that module loads no torch."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
ALLOWED = {"scorebench.api", "scorebench.checks"}
SOURCES = sorted(
    p for p in PLUGINS.glob("*/scorebench_*/**/*.py") if "tests" not in p.relative_to(PLUGINS).parts
)


def _core_imports(path: Path) -> list[str]:
    """Every core module ``path`` imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "scorebench":
                found += [f"scorebench.{a.name}" for a in node.names]
            elif node.module.startswith("scorebench."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "scorebench"]
    return found


def test_every_plugin_package_is_read():
    packages = {p.relative_to(PLUGINS).parts[0] for p in SOURCES}
    assert packages == {d.name for d in PLUGINS.iterdir() if (d / "pyproject.toml").is_file()}
    assert sum(len(_core_imports(p)) for p in SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_a_plugin_imports_the_core_only_through_the_api(path):
    outside = sorted(set(_core_imports(path)) - ALLOWED)
    assert not outside, f"{path.name} imports {outside}: take them from scorebench.api"


def test_the_check_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from scorebench.errors import ConfigError\nimport scorebench.score\n"
    )
    assert sorted(_core_imports(bad)) == ["scorebench.errors", "scorebench.score"]


def test_the_api_loads_no_torch_until_a_torch_helper_is_used():
    code = (
        "import sys, scorebench.api as api; a = 'torch' in sys.modules; api.SampleNoise; "
        "print(a, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
