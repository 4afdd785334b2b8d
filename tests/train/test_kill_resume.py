"""SIGKILL a training run again and again (half of the kills while a checkpoint is being
written) and resume it each time: the final model, optimizer and RNG state must equal an
uninterrupted run's bit for bit, with no temporary file left and every step logged once."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

KILLS = 12
STEPS = 150
ARGS = [
    "train",
    "ncsn",
    "-d",
    "toy-gmm",
    # A wide MLP: a ~40 MB checkpoint, so a kill can land while one is being written.
    "--set",
    "network.params.hidden=1024",
    "--set",
    f"train.steps={STEPS}",
    "--set",
    "train.checkpoint_every=5",
    "--set",
    "train.log_every=5",
    "--set",
    "train.keep_checkpoints=2",
    "--set",
    "sample.sampler.params.steps_per_level=2",
]


def start(run_dir, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "scorebench.cli", *ARGS, "--run-dir", str(run_dir)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def temp_files(run_dir):
    return sorted(run_dir.rglob(".*.tmp"))


def kill_mid_checkpoint(process, run_dir, deadline):
    """SIGKILL as soon as a checkpoint's temporary file appears; True if one was there."""
    checkpoints = run_dir / "checkpoints"
    while process.poll() is None and time.monotonic() < deadline:
        if checkpoints.is_dir() and any(p.name.endswith(".tmp") for p in checkpoints.iterdir()):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.0005)
    return False


def kill_while_training(process, run_dir, pause: float, deadline) -> bool:
    """SIGKILL ``pause`` seconds after the process logged a step past the newest checkpoint
    it started from (a kill that lands in training, however fast the machine); True if it
    did."""
    metrics, checkpoints = run_dir / "metrics.jsonl", run_dir / "checkpoints"
    start = max((int(p.stem[5:]) for p in checkpoints.glob("step-*.pt")), default=0)
    while process.poll() is None and time.monotonic() < deadline:
        lines = metrics.read_text().splitlines() if metrics.is_file() else []
        steps = [json.loads(line).get("step", 0) for line in lines if line.endswith("}")]
        if any(step > start for step in steps):
            time.sleep(pause)
            if process.poll() is not None:
                return False
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    return False


def same(a, b) -> bool:
    """Bit-identical nested states (tensors compared exactly, dtype included)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def final_state(run_dir):
    return torch.load(run_dir / "checkpoints" / f"step-{STEPS:08d}.pt", weights_only=True)


def log_rows(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows]


@pytest.mark.slow
def test_killed_training_resumes_bit_identically(tmp_path):
    reference = tmp_path / "reference"
    done = start(reference, tmp_path)
    assert done.wait(timeout=600) == 0, done.stderr.read()

    run = tmp_path / "killed"
    rng = random.Random(15)
    kills = {"mid_checkpoint": 0, "at_random": 0}
    while sum(kills.values()) < KILLS:
        process = start(run, tmp_path)
        if sum(kills.values()) % 2 == 0:
            hit = kill_mid_checkpoint(process, run, time.monotonic() + 120)
            kills["mid_checkpoint"] += hit
        else:
            hit = kill_while_training(process, run, rng.uniform(0.0, 0.3), time.monotonic() + 120)
            kills["at_random"] += hit
        if process.returncode == 0:  # finished before the kill: start over for more kills
            break
        assert process.returncode == -signal.SIGKILL, process.stderr.read()
    finish = start(run, tmp_path)
    assert finish.wait(timeout=600) == 0, finish.stderr.read()
    print(json.dumps({"kills": kills}))

    assert sum(kills.values()) >= 10 and kills["mid_checkpoint"] >= 5, kills
    a, b = final_state(reference), final_state(run)
    for key in ("model", "optimizer", "ema", "ema_updates", "rng", "step"):
        assert same(a[key], b[key]), f"{key} differs after {kills} kills"
    assert temp_files(run) == []
    assert log_rows(run) == log_rows(reference)  # every step once, the same losses
    assert (run / "grids" / f"step-{STEPS:08d}.png").is_file()
