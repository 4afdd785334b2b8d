"""Fixtures of scorebench's own tests (the shared setup is in the repository's conftest.py)."""

import os

import pytest


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory):
    """A weights file with the keys and shapes of torch-fidelity's Inception and random
    values (~95 MB, written once per session)."""
    from fake_inception import write_random_inception_weights

    return write_random_inception_weights(tmp_path_factory.mktemp("w") / "inception-a.pth", 0)


@pytest.fixture
def torchrun():
    """The command prefix that starts 2 local ranks (gloo on this CPU) on a free port."""
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
    ]


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "1.2.3"

[project.entry-points.scorebench]
{name} = "{module}.plugin"
"""


@pytest.fixture(scope="session")
def install_plugins(tmp_path_factory):
    """``install_plugins((dist, entry-point name, module, plugin code), ...)`` builds those
    distributions and pip-installs them into a private directory, returned for PYTHONPATH:
    exactly how a third party's plugin arrives."""
    import subprocess
    import sys
    import textwrap

    def install(*plugins):
        root = tmp_path_factory.mktemp("plugins")
        sources = []
        for dist, name, module, code in plugins:
            src = root / dist
            (src / module).mkdir(parents=True)
            (src / "pyproject.toml").write_text(
                PLUGIN_PYPROJECT.format(dist=dist, name=name, module=module)
            )
            (src / module / "__init__.py").write_text("")
            (src / module / "plugin.py").write_text(textwrap.dedent(code))
            sources.append(str(src))
        target = root / "site"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(target),
                *sources,
            ],
            check=True,
            capture_output=True,
        )
        return target

    return install


FAKE_SBATCH = """#!/bin/sh
# Records what would be submitted; never a cluster.
for last in "$@"; do :; done
cp "$last" "$SBATCH_LOG/submission.sh"
echo "$@" > "$SBATCH_LOG/args"
echo "Submitted batch job 4242"
"""


@pytest.fixture
def fake_slurm(tmp_path):
    """Slurm's commands on PATH as stand-ins: sbatch records the submission script in
    ``tmp_path/submission.sh`` and answers job 4242; sinfo lists partitions gpu and cpu."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (
        ("sbatch", FAKE_SBATCH),
        ("sinfo", "#!/bin/sh\necho 'gpu*'\necho cpu\n"),
        ("srun", "#!/bin/sh\nexit 1\n"),  # submitit looks for it; nothing runs it here
    ):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SBATCH_LOG": str(tmp_path)}
