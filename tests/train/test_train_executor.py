"""``train --executor local|slurm``: the trainer as a submitit job. Local jobs train
exactly as the command does here, a preempted job is requeued and ends with the weights of
an uninterrupted run, two local ranks are DDP like torchrun's; Slurm through a fake sbatch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scorebench.runs import RunDir, load_checkpoint

TOY = ["train", "ncsn", "--dataset", "toy-gmm", "--device", "cpu", "--set", "train.grid_size=16"]


def scorebench(*args, cwd, wait=True, **env):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    command = [sys.executable, "-m", "scorebench.cli", *args]
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def steps(n: int, every: int) -> list[str]:
    return ["--set", f"train.steps={n}", "--set", f"train.checkpoint_every={every}"]


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    r = RunDir(run)
    return load_checkpoint(r.checkpoint_path(r.checkpoint_steps()[-1]))["model"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def inline(tmp_path_factory):
    """The reference: 1500 steps trained here, in this process's way."""
    root = tmp_path_factory.mktemp("inline")
    done = scorebench(*TOY, *steps(1500, 100), "--run-dir", "run", cwd=root)
    assert done.returncode == 0, done.stderr
    return final_weights(root / "run")


def test_a_local_job_trains_what_the_command_trains_here(inline, tmp_path):
    done = scorebench(*TOY, *steps(1500, 100), "--run-dir", "run", "--executor", "local",
                      cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "as local job" in done.stderr and "trained to step 1500" in done.stderr
    assert same(final_weights(tmp_path / "run"), inline)
    assert list((tmp_path / "run" / "jobs").glob("*/*_0_log.err"))  # the job's own log


def _lock_holder(run: Path, timeout: float = 120) -> int:
    """The PID the run's lock names, once a training task holds it and has checkpointed."""
    end = time.time() + timeout
    while time.time() < end:
        text = (run / ".lock").read_text() if (run / ".lock").is_file() else ""
        if "train (pid" in text and RunDir(run).checkpoint_steps():
            return int(text.rsplit("pid ", 1)[1].rstrip(")"))
        time.sleep(0.05)
    raise AssertionError(f"no training task checkpointed in {run} within {timeout} s")


def test_a_preempted_job_is_requeued_and_ends_with_the_uninterrupted_weights(inline, tmp_path):
    run = tmp_path / "run"
    job = scorebench(*TOY, *steps(1500, 100), "--run-dir", "run", "--executor", "local",
                     cwd=tmp_path, wait=False)  # fmt: skip
    first = _lock_holder(run)
    os.kill(first, signal.SIGUSR2)  # what Slurm sends before preempting or timing out
    stdout, stderr = job.communicate(timeout=600)
    assert job.returncode == 0, stderr
    logs = "".join(p.read_text() for p in (run / "jobs").glob("*/*_log.*"))
    assert "this job is preempted" in logs and "Requeued job" in logs
    metrics = (run / "metrics.jsonl").read_text()
    assert metrics.count('"step": 1500') == 1  # rows past the checkpoint dropped, not doubled
    assert same(final_weights(run), inline)


def test_two_local_ranks_are_ddp_with_identical_replicas(tmp_path):
    done = scorebench(*TOY, *steps(20, 10), "--run-dir", "run", "--executor", "local",
                      "--tasks-per-node", "2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 rank(s) on 1 node(s)" in done.stderr
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert '"world_size": 2' in metrics and '"max_rank_difference": 0.0' in metrics


def test_slurm_submits_one_job_of_nodes_times_gpus_ranks(tmp_path, fake_slurm):
    done = scorebench(
        "train", "ncsn", "--dataset", "toy-gmm", "--run-dir", "run", "--device", "cuda",
        "--executor", "slurm", "--partition", "gpu", "--nodes", "2", "--gpus-per-node", "4",
        "--cpus-per-task", "6", "--timeout-min", "120", "--slurm-set", "account=lab",
        cwd=tmp_path, **fake_slurm,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "submitted Slurm job 4242 (8 rank(s) on 2 node(s))" in " ".join(done.stdout.split())
    submission = (tmp_path / "submission.sh").read_text()
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --cpus-per-task=6",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=120",
        "#SBATCH --account=lab",
        "#SBATCH --signal=USR2@",  # the warning that makes a timed-out job requeue
    ):
        assert line in submission, submission
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained here


@pytest.mark.parametrize(
    ("extra", "slurm", "message"),
    [
        (["--executor", "cluster"], False, "name: Input should be 'inline', 'local' or 'slurm'"),
        (["--nodes", "2"], False, "--nodes apply to --executor local or slurm"),
        (["--executor", "local", "--nodes", "2"], False, "--nodes must be 1"),
        (["--executor", "local", "--tasks-per-node", "0"], False, "tasks_per_node"),
        (["--executor", "local", "--gpus-per-node", "1"], False, "ranks would hold GPUs"),
        (["--executor", "local", "--tasks-per-node", "3"], False, "divide evenly across 3"),
        (["--executor", "slurm", "--partition", "gpu"], False, "needs Slurm's sbatch and srun"),
        (["--executor", "slurm"], True, "needs a partition (--partition NAME)"),
        (["--executor", "slurm", "--partition", "nope"], True, "unknown Slurm partition 'nope'"),
        (["--executor", "slurm", "--partition", "gpu", "--slurm-set", "x"], True, "KEY=VALUE"),
    ],
)
def test_bad_train_executors_exit_2_before_anything_runs(tmp_path, fake_slurm, extra, slurm,
                                                        message):  # fmt: skip
    env = fake_slurm if slurm else {"PATH": "/usr/bin:/bin"}
    done = scorebench(*TOY, "--run-dir", "run", *extra, cwd=tmp_path, **env)
    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.split()) and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "submission.sh").exists()


def test_a_job_on_a_run_in_use_is_refused_before_submission(tmp_path):
    holder = scorebench(*TOY, *steps(100000, 1000), "--run-dir", "run", cwd=tmp_path, wait=False)
    try:
        end = time.time() + 120
        while "train (pid" not in ((tmp_path / "run" / ".lock").read_text()
                                   if (tmp_path / "run" / ".lock").exists() else ""):  # fmt: skip
            assert time.time() < end and holder.poll() is None, holder.stderr.read()
            time.sleep(0.05)
        done = scorebench(*TOY, "--run-dir", "run", "--executor", "local", "--force",
                          cwd=tmp_path)  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "is in use by scorebench train" in " ".join(done.stderr.split())
        assert not (tmp_path / "run" / "jobs").exists()
    finally:
        holder.kill()
        holder.communicate()


def test_a_changed_config_is_refused_before_submission(tmp_path):
    first = scorebench(*TOY, *steps(20, 10), "--run-dir", "run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    done = scorebench(*TOY, *steps(20, 10), "--run-dir", "run", "--set", "train.lr=1e-4",
                      "--executor", "local", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "trained with another config (differs in: train.lr)" in " ".join(done.stderr.split())
    assert not (tmp_path / "run" / "jobs").exists()
