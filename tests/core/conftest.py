"""Fixtures of the command-line tests: in-process invocations and a finished toy run."""

import hashlib
import shutil
from pathlib import Path

import pytest
from bad_inputs import SPEC_FILES

TOY = [
    "--set",
    "train.steps=4",
    "--set",
    "train.log_every=2",
    "--set",
    "train.checkpoint_every=2",
    "--set",
    "sample.n=50",
    "--set",
    "sample.batch_size=25",
    "--set",
    "sample.shard_size=25",
    "--set",
    "sample.sampler.params.steps_per_level=2",
]


def _invoke(argv):
    """(exit code, stderr text) of ``scorebench ARGV`` run in this process; an exception a
    user would see as a traceback propagates."""
    import contextlib
    import io
    import sys

    from scorebench import cli

    stderr = io.StringIO()
    old = sys.argv
    sys.argv = ["scorebench", *argv]
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    return code, stderr.getvalue()


def _snapshot(root: Path) -> dict[str, str]:
    """Content hash of every file under ``root`` (the lock file excepted: taking a lock
    rewrites it)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def toy_overrides():
    """The --set flags of the workspace's toy run (a small, fast configuration)."""
    return list(TOY)


@pytest.fixture
def invoke():
    return _invoke


@pytest.fixture
def snapshot():
    return _snapshot


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """(root, cache): ``root/R`` is a trained, sampled, evaluated and reported toy run;
    beside it a run without checkpoints and files to misuse."""
    root = tmp_path_factory.mktemp("workspace")
    cache = tmp_path_factory.mktemp("workspace-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("SCOREBENCH_CACHE_DIR", str(cache))
        mp.setenv("SCOREBENCH_DATA_DIR", str(cache / "data"))
        code, err = _invoke(["run", "ncsn", "-d", "toy-gmm", "--run-dir", "R", *TOY])
        assert code == 0, err
        assert _invoke(["report", "R", "-o", "rep"])[0] == 0
    (root / "untrained").mkdir()
    shutil.copy(root / "R" / "config.json", root / "untrained" / "config.json")
    (root / "afile").write_text("not a directory\n")
    (root / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (root / "notjson.json").write_text("{oops")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "bad.toml").write_text("[train\nlr = \n")
    oracle = "sources:\n  - score_function: toy-gmm\n"
    for name, text in SPEC_FILES.items():
        (root / name).write_text(text.format(oracle=oracle))
    return root, cache


@pytest.fixture
def damaged(workspace, tmp_path, monkeypatch):
    """A copy of the finished toy run ``R`` (and its report ``rep``) in which a test may
    damage files; the working directory is its parent."""
    root, cache = workspace
    shutil.copytree(root / "R", tmp_path / "R")
    shutil.copytree(root / "rep", tmp_path / "rep")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(cache))
    monkeypatch.setenv("SCOREBENCH_DATA_DIR", str(cache / "data"))
    return tmp_path / "R"
