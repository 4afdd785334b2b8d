"""An installed scorebench (wheels, not this checkout) runs the toy preset from a folder
outside the repository: its baselines, leaderboards, templates and weights are package data."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(args, **kwargs):
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding wheels of scorebench and its first-party plugins. The heavy
    dependencies (torch...) come from this environment through a path in a .pth file, which
    does not run this environment's editable-install hooks: scorebench itself is the wheel."""
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    plugins = sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file())
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, REPO, *plugins])
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv])
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
        + sorted(wheels.glob("*.whl"))
    )
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return venv, elsewhere


def test_the_wheel_is_what_runs(installed):
    venv, elsewhere = installed
    where = _run(
        [venv / "bin/python", "-c", "import scorebench; print(scorebench.__file__)"], cwd=elsewhere
    )
    assert where.stdout.startswith(str(venv)), where.stdout


def test_the_toy_preset_runs_outside_the_repository(installed):
    venv, elsewhere = installed
    small = ["train.steps=20", "sample.n=200", "sample.sampler.params.steps_per_level=5"]
    args = [venv / "bin/scorebench", "run", "ncsn", "-d", "toy-gmm"]
    _run([*args, *(a for s in small for a in ("--set", s))], cwd=elsewhere)
    report = elsewhere / "runs" / "ncsn-toy-gmm" / "report"
    board = (report / "leaderboard.md").read_text()
    assert "real data (held-out test split) [measured]" in board  # shipped baselines
    assert (report / "report.html").stat().st_size > 10_000
    shipped = _run([venv / "bin/scorebench", "compare", "toy-gmm", "toy-gmm"], cwd=elsewhere)
    assert "REGRESSED" not in shipped.stdout  # a shipped leaderboard, found by name
