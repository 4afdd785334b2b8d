"""The sampling driver: resumable shards, and the same samples whatever the number of ranks."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from scorebench.recipes import resolve_config
from scorebench.runs import RunDir
from scorebench.sample import SHARD, load_samples, sample_run
from scorebench.train import train

TINY = [
    "network.params.ngf=4",
    "train.steps=2",
    "train.log_every=1",
    "data.batch_size=8",
    "sample.sampler.params.steps_per_level=2",
    "sample.n=30",
    "sample.batch_size=8",
    "runtime.precision=fp32",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = RunDir(tmp_path_factory.mktemp("sampling") / "run")
    train(resolve_config("ncsn", "digits", overrides=TINY), run, quiet=True)
    return run


def _copy(run, tmp_path, name):
    target = RunDir(tmp_path / name)
    shutil.copytree(run.path, target.path)
    shutil.rmtree(target.samples, ignore_errors=True)
    return target


def test_sampling_records_nfe_and_throughput(trained, tmp_path):
    import torch

    run = _copy(trained, tmp_path, "a")
    record = sample_run(run, device=torch.device("cpu"))
    assert record["n"] == 30 and record["shards"] == 4
    assert record["nfe_per_sample"] == 10 * 2
    assert record["samples_per_s"] > 0 and record["nfe_per_s"] > 0
    samples = load_samples(run)
    assert samples.shape == (30, 1, 8, 8) and samples.dtype == np.uint8


def test_an_interrupted_job_resumes_without_redoing_finished_shards(trained, tmp_path):
    import torch

    run = _copy(trained, tmp_path, "b")
    sample_run(run, device=torch.device("cpu"))
    full = load_samples(run)
    (run.samples / SHARD.format(2)).unlink()  # killed before shard 2 was written
    kept = {k: (run.samples / SHARD.format(k)).stat().st_mtime_ns for k in (0, 1, 3)}
    record = sample_run(run, device=torch.device("cpu"))
    assert record["drawn_now"] == 8  # only the missing shard
    assert {k: (run.samples / SHARD.format(k)).stat().st_mtime_ns for k in kept} == kept
    assert np.array_equal(load_samples(run), full)


@pytest.mark.slow
def test_one_process_and_two_gloo_ranks_draw_identical_samples(trained, tmp_path, torchrun):
    single = _copy(trained, tmp_path, "single")
    double = _copy(trained, tmp_path, "double")
    base = [sys.executable, "-m", "scorebench.cli", "sample"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [*base, str(single.path), "--device", "cpu"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(
        [
            *torchrun,
            "-m",
            "scorebench.cli",
            "sample",
            str(double.path),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert np.array_equal(load_samples(single), load_samples(double))
    assert (double.path / "samples.png").stat().st_size > 0


def test_shards_of_another_checkpoint_are_not_reused(trained, tmp_path):
    import torch

    run = _copy(trained, tmp_path, "c")
    sample_run(run, device=torch.device("cpu"))
    before = load_samples(run)
    train(resolve_config("ncsn", "digits", overrides=[*TINY, "train.steps=4"]), run, quiet=True)
    record = sample_run(run, device=torch.device("cpu"))
    assert record["checkpoint_step"] == 4 and record["drawn_now"] == 30
    assert not np.array_equal(load_samples(run), before)
