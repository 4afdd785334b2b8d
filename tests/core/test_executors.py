"""``bench --executor local|slurm``: cells on worker processes through submitit, with the
leaderboard of an inline bench; ``--status``; Slurm tested through a fake ``sbatch``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MATRIX = ["--sampler", "annealed_langevin:steps_per_level=2,4", "--seeds", "4", "-n", "64"]


def scorebench(*args, cwd, **env):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    command = [sys.executable, "-m", "scorebench.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    trained = scorebench(
        "train", "ncsn", "--dataset", "toy-gmm", "--run-dir", "run", "--set", "train.steps=50",
        cwd=root,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    return root


def _metrics(out: Path):
    board = json.loads((out / "leaderboard.json").read_text())
    rows = [r for g in board["groups"] for r in g["rows"] if r.get("cells")]
    return sorted((r["sampler_label"], json.dumps(r["metrics"], sort_keys=True)) for r in rows)


def _fresh(toy: Path, name: str) -> Path:
    """A copy of the trained run without cells, so each bench computes all of them."""
    import shutil

    copy = toy / name
    shutil.copytree(toy / "run", copy, ignore=shutil.ignore_patterns("evals", ".lock"))
    return copy


def test_two_local_workers_give_the_inline_leaderboard_to_the_bit(toy):
    """One thread per worker, and one for the inline bench: the same arithmetic."""
    inline = scorebench("bench", str(_fresh(toy, "a")), *MATRIX, "--out", "inline", cwd=toy)
    assert inline.returncode == 0, inline.stderr
    run = _fresh(toy, "b")
    local = scorebench(
        "bench", str(run), *MATRIX, "--out", "local", "--executor", "local", "--workers", "2",
        cwd=toy,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert "8 missing cells to the local executor" in local.stderr
    assert _metrics(toy / "inline") == _metrics(toy / "local")
    states = [json.loads(p.read_text()) for p in run.glob("evals/*/executor.json")]
    assert len(states) == 8 and {s["state"] for s in states} == {"done"}
    assert len({s["pid"] for s in states}) == 2  # two workers shared the cells
    assert not list(run.rglob("*.tmp"))
    status = scorebench("bench", "--status", "local", cwd=toy, COLUMNS="200")
    assert status.returncode == 0, status.stderr
    assert status.stdout.count(" done ") == 8 and "steps_per_level=4" in status.stdout


def test_a_failed_cell_is_shown_with_its_error_and_a_rerun_computes_only_it(toy):
    run = _fresh(toy, "c")
    args = ["bench", str(run), *MATRIX, "--out", "broken", "--executor", "local"]
    first = scorebench(*args, cwd=toy)
    assert first.returncode == 0, first.stderr
    victim = sorted(run.glob("evals/*"))[0]
    done_before = {p: p.stat().st_mtime_ns for p in run.glob("evals/*/results/*")}
    import shutil

    shutil.rmtree(victim / "samples")
    shutil.rmtree(victim / "results")
    (victim / "samples").write_text("not a directory")  # the cell cannot store its samples
    failed = scorebench(*args, cwd=toy)
    assert failed.returncode == 2, failed.stderr
    assert "1 worker(s) failed" in failed.stderr and "--status" in failed.stderr
    status = scorebench("bench", "--status", "broken", cwd=toy, COLUMNS="200")
    assert status.returncode == 0, status.stderr
    assert " failed " in status.stdout and status.stdout.count(" done ") == 7
    assert f"failed {victim.name[:8]}" in status.stdout
    assert "to compute what is missing: scorebench bench" in status.stdout

    (victim / "samples").unlink()
    again = scorebench(*args, cwd=toy)
    assert again.returncode == 0, again.stderr
    assert "1 missing cells to the local executor" in again.stderr
    unchanged = {p: p.stat().st_mtime_ns for p in done_before if p.parent.parent != victim}
    assert all(done_before[p] == t for p, t in unchanged.items())
    assert len(_metrics(toy / "broken")) == 2


def test_slurm_submits_one_array_over_the_missing_cells(toy, tmp_path, fake_slurm):
    run = _fresh(toy, "d")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "executor: {name: slurm, partition: gpu, cpus_per_cell: 4, timeout_min: 90,\n"
        "  array_parallelism: 3, slurm_additional: {account: lab}}\n"
    )
    inline = scorebench("bench", str(run), *MATRIX[:2], "--seeds", "1", "-n", "64", cwd=toy)
    assert inline.returncode == 0, inline.stderr  # 2 of the 8 cells exist already
    result = scorebench(
        "bench", str(run), *MATRIX, "--spec", str(spec), "--out", str(tmp_path / "out"),
        cwd=toy, **fake_slurm,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "submitted Slurm array job 4242 (6 cells)" in " ".join(result.stdout.split())
    submission = (tmp_path / "submission.sh").read_text()
    for line in (
        "#SBATCH --array=0-5%3",
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=90",
        "#SBATCH --account=lab",
    ):
        assert line in submission
    status = scorebench("bench", "--status", str(tmp_path / "out"), cwd=toy, COLUMNS="200")
    assert status.stdout.count(" pending ") == 6 and status.stdout.count(" done ") == 2
    assert "4242_" in status.stdout


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (["--executor", "cluster"], {}, "executor.name"),
        (["--executor", "local", "--workers", "0"], {}, "executor.workers"),
        (["--executor", "slurm"], {"PATH": "/usr/bin:/bin"}, "needs Slurm's sbatch and srun"),
    ],
)
def test_bad_executors_exit_2_before_anything_runs(toy, extra, env, message):
    result = scorebench("bench", "run", *MATRIX, "--out", "never", *extra, cwd=toy, **env)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert not (toy / "never").exists()


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ("{name: slurm}", "needs a partition"),
        ("{name: slurm, partition: nope}", "unknown Slurm partition 'nope'"),
        ("{name: local, gpus_per_cell: 1}", "gpus_per_cell=1 with --device cpu"),
    ],
)
def test_bad_executor_settings_exit_2(toy, tmp_path, fake_slurm, executor, message):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"executor: {executor}\n")
    result = scorebench(
        "bench", "run", *MATRIX, "--spec", str(spec), "--device", "cpu", "--out", "never",
        cwd=toy, **fake_slurm,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert not (tmp_path / "submission.sh").exists()


def test_an_unwritable_output_directory_exits_2(toy, tmp_path):
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "out"  # cannot be created, even by root
    args = ["bench", "run", *MATRIX, "--out", str(out), "--executor", "local"]
    result = scorebench(*args, cwd=toy)
    assert result.returncode == 2, result.stderr
    assert "is not writable" in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


def test_a_worker_killed_mid_cell_loses_nothing_and_a_rerun_computes_only_the_rest(toy):
    """SIGKILL a worker while it draws a cell: the bench reports it, and the same command
    again computes only the cells without a result, leaves no temporary file and gives the
    inline bench's leaderboard."""
    import signal
    import time

    slow = ["--sampler", "annealed_langevin:steps_per_level=100,200", "--seeds", "2", "-n", "400"]
    inline = scorebench("bench", str(_fresh(toy, "k-inline")), *slow, "--out", "k-in", cwd=toy)
    assert inline.returncode == 0, inline.stderr
    run = _fresh(toy, "k")
    args = ["bench", str(run), *slow, "--out", "k-out", "--executor", "local", "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "scorebench.cli", *args]
    bench = subprocess.Popen(command, cwd=toy, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    victim, end = None, time.time() + 300
    while victim is None and time.time() < end and bench.poll() is None:
        for status in run.glob("evals/*/executor.json"):
            state = json.loads(status.read_text() or "{}")
            if state.get("state") == "running":
                victim = state["pid"]
                break
        time.sleep(0.02)
    assert victim is not None, "no worker was seen drawing a cell"
    os.kill(victim, signal.SIGKILL)
    _, stderr = bench.communicate(timeout=600)
    assert bench.returncode == 2 and "worker(s) failed" in stderr, stderr
    done = {p.parent.parent.name for p in run.glob("evals/*/results/*.json")}
    assert len(done) < 4
    again = scorebench(*args, cwd=toy)
    assert again.returncode == 0, again.stderr
    assert f"{4 - len(done)} missing cells to the local executor" in again.stderr
    assert not list(run.rglob("*.tmp"))
    assert _metrics(toy / "k-in") == _metrics(toy / "k-out")


def test_reference_statistics_are_computed_once_by_racing_workers(tmp_path):
    """An image protocol: two workers need the same reference statistics; one computes them
    under the cache entry's lock, every other evaluation finds them cached."""
    cache = tmp_path / "cache"
    env = {"SCOREBENCH_CACHE_DIR": str(cache)}
    sets = ["network.params.ngf=4", "train.steps=2", "data.batch_size=16",
            "sample.sampler.params.steps_per_level=1", "runtime.precision=fp32"]  # fmt: skip
    trained = scorebench(
        "train", "ncsn", "-d", "digits", "--run-dir", "run",
        *[a for s in sets for a in ("--set", s)], cwd=tmp_path, **env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    bench = scorebench(
        "bench", "run", "--seeds", "4", "-n", "40", "--out", "out", "--executor", "local",
        cwd=tmp_path, **env,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    records = [json.loads(p.read_text()) for p in tmp_path.glob("run/evals/*/results/*.json")]
    assert len(records) == 4
    assert sorted(r["reference_cache"]["hit"] for r in records) == [False, True, True, True]
    assert len({r["reference_cache"]["path"] for r in records}) == 1
