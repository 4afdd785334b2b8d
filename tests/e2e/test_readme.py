"""Every command of the README, in the order written, on a scratch copy of the repository.

The commands are read from the README itself: its ``bash`` blocks and the commands its
"Next:" paragraph recommends. Long ones get small overrides (fewer steps, a smaller
network, fewer samples); those that need what an offline CPU machine lacks run on
stand-ins: ``--device cpu`` for ``cuda``, a generated CIFAR-10 in its on-disk format
(``data.params.verify=false``: its checksums are not the official ones), a generated
Inception weights file, a tiny diffusers pipeline saved locally for a Hub id, and Slurm's
commands faked on PATH. A README command that ``HOW`` does not list fails the test: a new
command must say here how it runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fake_datasets import write_cifar10
from fake_inception import write_random_inception_weights

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

TINY_NCSN = (
    "--set train.steps=20 --set train.log_every=10 --set train.checkpoint_every=10 "
    "--set network.params.ngf=8 --set sample.n=60 --set sample.batch_size=60 "
    "--set sample.sampler.params.steps_per_level=2"
)
TINY_NCSNV2 = (
    "--set train.steps=20 --set train.log_every=10 --set network.params.ngf=8 "
    "--set sample.n=60 --set sample.batch_size=60"
)
TINY_SDE = (
    "--set train.steps=20 --set train.log_every=10 --set train.warmup=5 --set network.params.nf=8 "
    "--set sample.n=60 --set sample.batch_size=60 --set sample.sampler.params.steps=20 "
    "--set eval.nll.n=20 --set eval.nll.rtol=1e-3 --set eval.nll.atol=1e-3"
)
TRAIN_CIFAR = (
    "--set train.steps=2 --set train.log_every=1 --set network.params.ngf=4 "
    "--set data.batch_size=8 --set train.grid_size=4 --set data.params.verify=false"
)
INCEPTION = "--inception-weights {weights} --trust-weights"
CIFAR_DATA = f"--set data.params.verify=false {INCEPTION}"
TINY_CIFAR = (
    f"{TRAIN_CIFAR} --set sample.n=10 --set sample.batch_size=10 "
    f"--set sample.sampler.params.steps_per_level=1 {INCEPTION}"
)


def _with(extra: str, replace: tuple[tuple[str, str], ...] = ()):
    def how(command: str, paths: dict[str, str]) -> str:
        for old, new in replace:
            command = command.replace(old, new)
        return f"{command} {extra}".format(**paths)

    return how


AS_WRITTEN = _with("")

#: How the test runs each README command (None: it does not, for the reason in the comment).
HOW = {
    "bash scripts/bootstrap && .venv/bin/scorebench run ncsn --dataset digits": _with(TINY_NCSN),
    "bash scripts/test": None,  # the test suite this test is part of
    "scorebench run ncsnv2 --dataset digits": _with(TINY_NCSNV2),
    "scorebench run score-sde-ve --dataset digits": _with(TINY_SDE),
    "scorebench bench runs/ncsn-digits --sampler pf_heun:steps=10,25,50 --seeds 3": _with(
        "-n 20 --seeds 1"
    ),
    "scorebench bench --preset oracle-toy": _with("-n 100 --seeds 1"),
    "scorebench run ncsn --dataset cifar10 --device cuda --run-dir runs/ncsn-cifar10-bf16 "
    "--set runtime.precision=bf16": _with(TINY_CIFAR, (("--device cuda", "--device cpu"),)),
    "scorebench run ncsn --dataset cifar10": _with(TINY_CIFAR),
    "scorebench run ncsn --dataset toy-gmm": _with("--set train.steps=100 --set sample.n=200"),
    "scorebench toy": AS_WRITTEN,
    "scorebench train ncsn -d digits --run-dir runs/ncsn-digits-lr1e-4 --set train.lr=1e-4 "
    "--set runtime.precision=fp32": _with(TINY_NCSN),
    "torchrun --nproc_per_node 2 -m scorebench.cli train ncsn -d digits "
    "--run-dir runs/ncsn-digits-ddp": _with(TINY_NCSN),
    "scorebench sample runs/ncsn-digits": AS_WRITTEN,
    "scorebench sample runs/ncsn-digits --sampler langevin --set sample.sampler.params.steps=200": (
        _with("--set sample.n=20")
    ),
    "scorebench eval runs/ncsn-digits --inception-weights PATH": _with(
        "", (("PATH", "{weights}"),)
    ),
    "scorebench bench runs/ncsn-digits --sampler annealed_langevin:steps_per_level=5,10,20 "
    "--sampler langevin:steps=100,400 --seeds 3": _with("-n 20 --seeds 1"),
    "scorebench report runs/* -b ncsn-paper-table1 --markdown": AS_WRITTEN,
    "scorebench compare old/leaderboard.json runs/ncsn-digits -t fid=5%": AS_WRITTEN,
    "scorebench export runs/ncsn-digits --png png --reference ref": AS_WRITTEN,
    "scorebench plugins": AS_WRITTEN,
    "scorebench list samplers": AS_WRITTEN,
    "scorebench list presets": AS_WRITTEN,
    "scorebench list --json": AS_WRITTEN,
    "scorebench config show ncsn -d digits --set train.lr=2e-4": AS_WRITTEN,
    "scorebench config schema -o scorebench.schema.json": AS_WRITTEN,
    # Submitted to the fake sbatch: nothing runs, the submission is what is checked.
    "scorebench train ncsn -d cifar10 --device cuda --executor slurm --partition gpu --nodes 2 "
    "--gpus-per-node 4 --slurm-set account=lab": _with(TRAIN_CIFAR),
    "scorebench bench runs/ncsn-cifar10 --sampler pf_heun:steps=9,18,35 --seeds 3 "
    "--spec cluster.yaml --device cuda --out bench/cifar10": _with(INCEPTION),
    "scorebench bench --status bench/cifar10": AS_WRITTEN,
    "scorebench bench --preset oracle-digits": _with("-n 50 --seeds 1"),
    "scorebench bench diffusers:google/ddpm-cifar10-32 --dataset cifar10 --device cuda "
    # The Hub model is a tiny local pipeline, given in a spec beside its data's settings
    # (the generated CIFAR-10 does not have the official checksums).
    "--sampler pf_heun:steps=5,10,25 --sampler diffusers:dpmpp_2m:steps=10,20,50 --seeds 3": _with(
        "-n 4 --seeds 1 " + INCEPTION,
        (
            ("diffusers:google/ddpm-cifar10-32 --dataset cifar10", "--spec {pipeline_spec}"),
            ("--device cuda", "--device cpu"),
        ),
    ),
    "scorebench bench --preset diffusers-parity": _with("-n 20 --seeds 1"),
}

#: What each command must leave behind, beyond exiting 0 (the shell's view is not enough).
CHECKS = {
    "scorebench report runs/* -b ncsn-paper-table1 --markdown": "ncsn-digits",
    "scorebench compare old/leaderboard.json runs/ncsn-digits -t fid=5%": "fid",
    "scorebench bench --status bench/cifar10": "pending",
    "scorebench list --json": '"samplers"',
}


def readme_commands(text: str) -> list[str]:
    """The README's commands in the order written: each line of a ``bash`` block (with its
    continuations, without its comment) and the ``scorebench`` commands of "Next:"."""
    found = []
    for block in re.finditer(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.group(1).replace("\\\n", " ").splitlines():
            command = " ".join(re.sub(r"(^|\s)#.*$", "", line).split())
            if command:
                found.append((block.start(), command))
    next_steps = re.search(r"^Next: .*?(?:\n\n|\Z)", text, flags=re.S | re.M)
    assert next_steps, "the README's 'Next:' paragraph is gone: update this test"
    for command in re.findall(r"`(scorebench [^`]+)`", next_steps.group(0)):
        found.append((next_steps.start(), " ".join(command.split())))
    return [command for _, command in sorted(found, key=lambda pair: pair[0])]


def cluster_yaml(text: str) -> str:
    """The ``cluster.yaml`` the README describes in its prose."""
    match = re.search(r"`cluster\.yaml` holds `([^`]+)`", text)
    assert match, "the README no longer says what cluster.yaml holds: update this test"
    return " ".join(match.group(1).split()) + "\n"


def test_every_readme_command_is_known_here():
    commands = readme_commands(README.read_text())
    assert set(commands) <= set(HOW), f"new README commands: {set(commands) - set(HOW)}"
    assert set(HOW) <= set(commands), f"gone from the README: {set(HOW) - set(commands)}"


def _bootstrap_is_a_no_op() -> None:
    """The scratch copy shares this environment (a link to it): its ``bash scripts/bootstrap``
    must find it installed from these very files, or it would reinstall this environment
    from the scratch copy."""
    installed = Path(sys.prefix) / ".scorebench-installed"
    files = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]
    want = hashlib.sha256(b"".join(p.read_bytes() for p in [*files, ROOT / "constraints.txt"]))
    if not installed.is_file() or installed.read_text().strip() != want.hexdigest():
        pytest.fail(
            "this environment is older than pyproject.toml/constraints.txt: run `bash scripts/bootstrap` (scripts/test does)"
        )


@pytest.mark.slow
def test_every_readme_command_works_in_order_on_a_scratch_copy(tmp_path, fake_slurm):
    from scorebench_bridges.tiny import save_tiny_pipeline

    text = README.read_text()
    _bootstrap_is_a_no_op()
    scratch = tmp_path / "scorebench"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        if (ROOT / name).is_file():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, scratch / name)
    (scratch / ".venv").symlink_to(Path(sys.prefix))  # bootstrap finds it installed
    (scratch / "cluster.yaml").write_text(cluster_yaml(text))
    data = tmp_path / "data"
    write_cifar10(data, n_per_batch=4)
    pipeline = save_tiny_pipeline(tmp_path / "ddpm", size=32, channels=3)
    source = {"diffusers": str(pipeline), "dataset": "cifar10"}
    source["config"] = {"data": {"params": {"verify": False}}}
    (tmp_path / "ddpm.yaml").write_text(yaml.safe_dump({"sources": [source]}))
    paths = {
        "weights": str(write_random_inception_weights(tmp_path / "inception.pth")),
        "pipeline_spec": str(tmp_path / "ddpm.yaml"),
    }
    env = {
        **os.environ,
        "PATH": f"{scratch / '.venv' / 'bin'}:{fake_slurm['PATH']}",
        "SBATCH_LOG": fake_slurm["SBATCH_LOG"],
        "SCOREBENCH_DATA_DIR": str(data),
        "SCOREBENCH_CACHE_DIR": str(tmp_path / "cache"),
        "SCOREBENCH_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "100",
    }
    for command in readme_commands(text):
        how = HOW[command]
        if how is None:
            continue
        if command.startswith("scorebench compare old/"):  # a leaderboard kept from before
            (scratch / "old").mkdir(exist_ok=True)
            shutil.copy(scratch / "runs/ncsn-digits/report/leaderboard.json", scratch / "old")
        shell = how(command, paths)
        start = time.perf_counter()
        result = subprocess.run(
            ["bash", "-c", shell], cwd=scratch, env=env, capture_output=True, text=True
        )
        print(f"{time.perf_counter() - start:6.1f} s  $ {shell}", flush=True)
        said = result.stdout + result.stderr
        assert result.returncode == 0, f"README command failed: {shell}\n{said[-4000:]}"
        assert "Traceback" not in said, f"{shell}\n{said[-4000:]}"
        assert CHECKS.get(command, "") in said, f"{shell} did not say {CHECKS[command]!r}"
    runs = sorted(p.name for p in (scratch / "runs").iterdir() if p.is_dir())
    assert {"ncsn-digits", "ncsn-digits-ddp", "ncsn-cifar10", "score-sde-ve-digits"} <= set(runs)
    leaderboard = json.loads((scratch / "bench/leaderboard.json").read_text())
    assert leaderboard["groups"], "the README's bench wrote an empty leaderboard"
