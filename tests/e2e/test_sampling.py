"""The sampling driver: resumable shards, and the same samples whatever the number of ranks."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from scorebench.cells import SHARD, make_cell
from scorebench.errors import ConfigError
from scorebench.recipes import resolve_config
from scorebench.runs import RunDir
from scorebench.stores import load_samples
from scorebench.train import train
from scorebench.workflow import sample_stage

TINY = [
    "network.params.ngf=4",
    "train.steps=2",
    "train.log_every=1",
    "data.batch_size=8",
    "sample.sampler.params.steps_per_level=2",
    "sample.n=30",
    "sample.batch_size=8",
    "sample.shard_size=8",
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
    shutil.rmtree(target.evals, ignore_errors=True)
    return target


def _sample(run, *overrides):
    return sample_stage(run, list(overrides), device="cpu", quiet=True)


def test_sampling_records_nfe_and_throughput(trained, tmp_path):
    run = _copy(trained, tmp_path, "a")
    record = _sample(run)
    assert record["n"] == 30 and record["shards"] == 4
    assert record["nfe_per_sample"] == 10 * 2
    assert record["samples_per_s"] > 0 and record["nfe_per_s"] > 0
    samples = load_samples(make_cell(run))
    assert samples.shape == (30, 1, 8, 8) and samples.dtype == np.uint8


def test_the_spec_names_source_sampler_and_settings(trained, tmp_path):
    run = _copy(trained, tmp_path, "spec")
    cell = make_cell(run)
    spec = cell.spec
    assert spec["source"]["step"] == 2 and len(spec["source"]["weights_sha256"]) == 64
    assert spec["sampler"]["name"] == "annealed_langevin"
    assert spec["sampler"]["plugin"] == "ncsn" and spec["sampler"]["plugin_version"] != "?"
    # every parameter, defaults included: spelling out a default is the same cell
    assert spec["sampler"]["params"]["convention"] == "code"
    assert make_cell(run, ["sample.sampler.params.convention=code"]).key == cell.key
    assert (spec["n"], spec["seed"], spec["precision"]) == (30, 0, "fp32")
    assert make_cell(run, ["sample.seed=1"]).key != cell.key
    with pytest.raises(ConfigError, match="train.lr"):
        make_cell(run, ["train.lr=0.1"])  # changes training, not sampling


def test_another_sampler_spec_never_touches_the_first(trained, tmp_path):
    run = _copy(trained, tmp_path, "two")
    _sample(run)
    first = make_cell(run)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.samples.iterdir()}
    other = _sample(run, "sample.sampler.params.steps_per_level=1")
    assert other["nfe_per_sample"] == 10 and other["path"] != str(first.path)
    assert {p.name: p.stat().st_mtime_ns for p in first.samples.iterdir()} == stamps
    assert len(list(run.evals.iterdir())) == 2


def test_an_interrupted_job_resumes_without_redoing_finished_shards(trained, tmp_path):
    run = _copy(trained, tmp_path, "b")
    _sample(run)
    cell = make_cell(run)
    full = load_samples(cell)
    shard = cell.samples / (SHARD.format(2) + ".npy")
    shard.unlink()  # killed before shard 2 was written
    (cell.samples / "samples.json").unlink()
    kept = {k: (cell.samples / (SHARD.format(k) + ".npy")).stat().st_mtime_ns for k in (0, 1, 3)}
    record = _sample(run)
    assert record["drawn_now"] == 8  # only the missing shard
    assert record["nfe_per_sample"] == 20 and record["seconds"] > 0  # from every shard's log
    assert {k: (cell.samples / (SHARD.format(k) + ".npy")).stat().st_mtime_ns for k in kept} == kept
    assert np.array_equal(load_samples(cell), full)


def test_a_damaged_shard_is_drawn_again(trained, tmp_path):
    run = _copy(trained, tmp_path, "damaged")
    _sample(run)
    cell = make_cell(run)
    full = load_samples(cell)
    (cell.samples / (SHARD.format(1) + ".npy")).write_bytes(b"\x93NUMPY torn")
    (cell.samples / "samples.json").unlink()
    assert _sample(run)["drawn_now"] == 8
    assert np.array_equal(load_samples(cell), full)


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
    assert np.array_equal(load_samples(make_cell(single)), load_samples(make_cell(double)))
    assert make_cell(double).grid.stat().st_size > 0


def test_another_checkpoint_is_another_cell(trained, tmp_path):
    run = _copy(trained, tmp_path, "c")
    _sample(run)
    before = make_cell(run)
    train(resolve_config("ncsn", "digits", overrides=[*TINY, "train.steps=4"]), run, quiet=True)
    record = _sample(run)
    assert record["checkpoint_step"] == 4 and record["drawn_now"] == 30
    after = make_cell(run)
    assert after.key != before.key
    assert not np.array_equal(load_samples(after), load_samples(before))  # both kept


@pytest.mark.parametrize("logit", [False, True])
def test_samples_of_a_logit_transformed_run_are_stored_in_data_space(logit):
    """The network of a ``data.logit_transform`` run samples in logit space; what is stored
    (and measured) is the data: sigmoid-inverted as the official code does."""
    import torch

    from scorebench.data.transforms import logit_transform
    from scorebench.sample import Model, draw_shard

    config = resolve_config(
        "ncsn", "digits", overrides=[f"data.logit_transform={str(logit).lower()}"]
    )
    quarter = torch.full((3, 1, 8, 8), 0.25)

    def sampler(score, x, sigmas, *, generator=None, callback=None, **params):
        return logit_transform(quarter) if logit else quarter  # the network's space

    model = Model(config, lambda x, s: torch.zeros_like(x), torch.tensor([1.0, 0.1]), (1, 8, 8), 0)
    stored, _ = draw_shard(model, sampler, 0, 3)
    assert stored.dtype == np.uint8 and (stored == 64).all()  # round(0.25 * 255)


def test_a_cell_drawn_at_one_batch_size_is_finished_at_another(trained, tmp_path):
    """Neither the batch size nor its split into forward passes is part of a cell: shards
    drawn at batch 8 stay, and the missing one is drawn at batch 3 (the samples themselves
    are checked for equality across batch sizes in tests/core/test_noise.py)."""
    run = _copy(trained, tmp_path, "batches")
    _sample(run)
    cell = make_cell(run)
    assert "batch" not in cell.spec and cell.spec["noise"] == "per sample"
    assert make_cell(run, ["sample.batch_size=3"]).key == cell.key
    (cell.samples / (SHARD.format(2) + ".npy")).unlink()
    (cell.samples / "samples.json").unlink()
    assert _sample(run, "sample.batch_size=3")["drawn_now"] == 8


def test_samplers_whose_samples_depend_on_their_batch_record_its_layout(trained, tmp_path):
    """The batch-mean step rule of score_sde's corrector, and a sampler of the older
    contract (one generator per batch), make the batch layout part of the cell."""
    run = _copy(trained, tmp_path, "layout")
    pc = ["sample.sampler.name=pc", "sample.sampler.params.steps=3"]
    batch_mean = make_cell(run, pc)
    assert batch_mean.spec["batch"] == {"shard_size": 8, "batch_size": 8}
    assert make_cell(run, [*pc, "sample.batch_size=4"]).key != batch_mean.key
    per_sample = [*pc, "sample.sampler.params.snr_norm=sample"]
    assert "batch" not in make_cell(run, per_sample).spec
    assert (
        make_cell(run, [*per_sample, "sample.batch_size=4"]).key == make_cell(run, per_sample).key
    )
