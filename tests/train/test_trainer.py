"""The trainer on tiny configs: run directory, exact resume, NaN stop, 2-rank DDP (gloo)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from wandb_records import offline_runs, use_wandb_offline

from scorebench import hookimpl
from scorebench.errors import ConfigError
from scorebench.files import read_jsonl
from scorebench.plugins import get_plugin_manager
from scorebench.recipes import resolve_config
from scorebench.registry import Component
from scorebench.runs import RunDir, load_checkpoint
from scorebench.train import TrainingDiverged, train

# A 1x8x8 NCSN small enough for a few CPU steps per second.
TINY_DIGITS = [
    "network.params.ngf=4",
    "data.batch_size=16",
    "train.log_every=2",
    "train.checkpoint_every=3",
    "train.grid_size=4",
    "sample.sampler.params.steps_per_level=1",
    "runtime.precision=fp32",
]


def tiny_digits(steps, *extra):
    return resolve_config(
        "ncsn", "digits", overrides=[*TINY_DIGITS, f"train.steps={steps}", *extra]
    )


def train_cli(run_dir, steps):
    """`-m scorebench.cli train` arguments for the tiny digits run."""
    sets = [arg for o in [*TINY_DIGITS, f"train.steps={steps}"] for arg in ("--set", o)]
    return [
        "-m",
        "scorebench.cli",
        "train",
        "ncsn",
        "--dataset",
        "digits",
        "--run-dir",
        str(run_dir),
        *sets,
    ]


def weights(run: RunDir, step: int):
    return load_checkpoint(run.checkpoint_path(step))["model"]


def test_run_directory_holds_config_manifest_logs_checkpoints_and_grid(tmp_path):
    run = RunDir(tmp_path / "run")
    result = train(tiny_digits(4), run, quiet=True)
    assert result.step == 4
    assert json.loads(run.config.read_text())["network"]["params"]["ngf"] == 4
    manifest = json.loads(run.manifest.read_text())
    assert manifest["torch"]["version"] == torch.__version__ and manifest["plugins"]["ncsn"]
    records = read_jsonl(run.metrics)
    assert [r["step"] for r in records] == [2, 4]
    assert len(records[0]["loss_per_level"]) == 10 and records[0]["images_per_s"] > 0
    assert run.checkpoint_steps() == [3, 4]
    assert (run.grids / "step-00000004.png").stat().st_size > 0
    state = load_checkpoint(run.checkpoint_path(4))
    assert state["step"] == 4 and state["shape"] == [1, 8, 8]


@pytest.mark.parametrize("extra", [[], ["train.ema=0.9"]], ids=["plain", "ema"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, extra):
    straight = RunDir(tmp_path / "straight")
    train(tiny_digits(6, *extra), straight, quiet=True)
    interrupted = RunDir(tmp_path / "interrupted")
    train(tiny_digits(3, *extra), interrupted, quiet=True)  # "killed" after step 3's checkpoint
    result = train(tiny_digits(6, *extra), interrupted, quiet=True)
    assert result.resumed_from == 3
    a = load_checkpoint(straight.checkpoint_path(6))
    b = load_checkpoint(interrupted.checkpoint_path(6))
    for part in ("model", "ema") if extra else ("model",):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    if extra:  # the average differs from the live weights
        assert any(not torch.equal(a["ema"][k], a["model"][k]) for k in a["model"])


def _events(path):
    """{tag: [(step, value or image shape)]} of the TensorBoard events in ``path``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(path), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    found = {t: [(e.step, e.value) for e in events.Scalars(t)] for t in tags["scalars"]}
    found.update(
        {t: [(e.step, (e.height, e.width)) for e in events.Images(t)] for t in tags["images"]}
    )
    found.update({t: [] for t in tags["tensors"]})  # text and hparams
    return found


def test_tensorboard_logs_scalars_lr_grids_and_config_in_the_run_directory(tmp_path):
    run = RunDir(tmp_path / "run")
    config = tiny_digits(4, "train.tensorboard=true", "train.log_every=2", "train.grid_every=2")
    train(config, run, quiet=True)
    events = _events(run.path)  # in the run directory: TensorBoard names the run after it
    assert [s for s, _ in events["train/loss"]] == [2, 4]
    assert [v for _, v in events["train/lr"]] == pytest.approx([config.train.lr] * 2)
    assert "train/loss_level/00" in events and "config/text_summary" in events
    assert [s for s, _ in events["train/samples"]] == [2, 4]
    assert events["train/samples"][0][1][0] > 8  # the grid picture, not one sample
    rows = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert [r["images_per_s"] for r in rows] == pytest.approx(
        [v for _, v in events["train/images_per_s"]]
    )


def test_a_resumed_run_keeps_the_events_up_to_its_checkpoint_once(tmp_path):
    run = RunDir(tmp_path / "run")
    settings = ["train.tensorboard=true", "train.log_every=2", "train.checkpoint_every=2"]
    train(tiny_digits(4, *settings), run, quiet=True)
    run.checkpoint_path(4).unlink()  # as if killed after logging step 4, before saving it
    train(tiny_digits(4, *settings), run, quiet=True)
    assert [s for s, _ in _events(run.path)["train/loss"]] == [2, 4]


def test_a_resumed_run_continues_its_wandb_run(tmp_path, monkeypatch):
    use_wandb_offline(monkeypatch, tmp_path)
    run = RunDir(tmp_path / "run")
    settings = ["train.wandb=true", "train.log_every=2", "train.checkpoint_every=2"]
    train(tiny_digits(4, *settings), run, quiet=True)
    run.checkpoint_path(4).unlink()  # as if killed after logging step 4, before saving it
    train(tiny_digits(4, *settings), run, quiet=True)
    first, resumed = offline_runs(run.path)
    assert resumed.id == first.id
    assert [r["train/step"] for r in first.history if "train/loss" in r] == [2, 4]
    assert [r["train/step"] for r in resumed.history if "train/loss" in r] == [4]


def test_wandb_that_cannot_start_says_how_to_log_in_or_go_offline(tmp_path, monkeypatch):
    use_wandb_offline(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_MODE", "online")  # and no API key anywhere
    with pytest.raises(ConfigError, match="wandb login.*WANDB_MODE=offline"):
        train(tiny_digits(2, "train.wandb=true"), RunDir(tmp_path / "run"), quiet=True)


def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    train(tiny_digits(6, "train.keep_checkpoints=5"), run, quiet=True)
    run.checkpoint_path(6).write_bytes(b"truncated")
    result = train(tiny_digits(6, "train.keep_checkpoints=5"), run, quiet=True)
    assert result.resumed_from == 3 and result.step == 6
    assert "skipping damaged checkpoint" in capsys.readouterr().err


def test_a_changed_training_config_is_refused_for_an_existing_run(tmp_path):
    run = RunDir(tmp_path / "run")
    train(tiny_digits(2), run, quiet=True)
    with pytest.raises(ConfigError, match="train.lr"):
        train(tiny_digits(2, "train.lr=0.5"), run, quiet=True)


class _NanAfter:
    """A loss that becomes NaN at its 5th call."""

    @hookimpl
    def register_losses(self):
        return [Component("nan-after-4", self.factory, "test loss")]

    @staticmethod
    def factory():
        from scorebench.score import LossOutput

        calls = []

        def loss(model, x, sigmas, generator):
            calls.append(1)
            levels = torch.zeros(len(x), dtype=torch.long)
            value = model(x, levels).pow(2).mean() * (float("nan") if len(calls) > 4 else 1.0)
            return LossOutput(value, value.detach().expand(len(x)), levels)

        return loss


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    get_plugin_manager().register(_NanAfter(), name="test-nan")
    run = RunDir(tmp_path / "run")
    config = tiny_digits(10, "loss.name=nan-after-4")
    with pytest.raises(TrainingDiverged, match="NaN or infinite"):
        train(config, run, quiet=True)
    assert run.checkpoint_steps() == [3]
    good = weights(run, 3)
    assert all(torch.isfinite(v).all() for v in good.values())


@pytest.mark.slow
def test_two_gloo_ranks_end_with_identical_weights(tmp_path, torchrun):
    run = tmp_path / "ddp"
    cmd = [*torchrun, *train_cli(run, 4), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two 2-thread processes would thrash
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_jsonl(RunDir(run).metrics)
    [check] = [r for r in records if r.get("event") == "ddp_check"]
    assert check["world_size"] == 2
    assert check["max_rank_difference"] == 0.0
    assert RunDir(run).checkpoint_steps()[-1] == 4


def test_starting_over_never_overwrites_an_existing_run(tmp_path):
    run = RunDir(tmp_path / "run")
    train(tiny_digits(2), run, quiet=True)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train(tiny_digits(2), run, resume=False, quiet=True)
    args = [sys.executable, *train_cli(run.path, 2), "--force"]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    [old] = list(tmp_path.glob("run.old-*"))
    assert RunDir(old).checkpoint_steps() == [2] and run.checkpoint_steps() == [2]
