"""The CUDA paths: fused Adam, bf16 training, compiled sampling with CUDA graphs, nccl DDP.

Without a CUDA device every test here is skipped, and pytest's summary (-ra) prints why:
nothing is passed off as checked."""

import subprocess

import pytest
import torch

from scorebench.components import build_network, build_optimizer, build_sampler, build_sigmas
from scorebench.recipes import resolve_config

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device: fused Adam, CUDA graphs, compiled sampling and nccl DDP unchecked",
)
CUDA = torch.device("cuda")
TINY = ["network.params.ngf=16", "train.steps=3", "train.log_every=1", "data.batch_size=16"]


def test_adam_is_fused_on_cuda():
    config = resolve_config("ncsn", "digits", overrides=TINY)
    network = build_network(config, CUDA)
    optimizer = build_optimizer(config, network, CUDA)
    assert optimizer.defaults["fused"] is True


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_on_cuda_writes_finite_losses(tmp_path, precision):
    from scorebench.files import read_jsonl
    from scorebench.runs import RunDir
    from scorebench.train import train

    run = RunDir(tmp_path / "run")
    overrides = [*TINY, f"runtime.precision={precision}", "runtime.device=cuda"]
    train(resolve_config("ncsn", "digits", overrides=overrides), run, quiet=True)
    losses = [row["loss"] for row in read_jsonl(run.metrics) if "loss" in row]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))


def test_compiled_sampling_with_cuda_graphs_matches_eager():
    from scorebench.components import network_score
    from scorebench.sample import draw

    config = resolve_config("ncsn", "digits", overrides=[*TINY, "runtime.device=cuda"])
    torch.manual_seed(0)
    network = build_network(config, CUDA).eval()
    sigmas = build_sigmas(config, CUDA)
    out = []
    for compiled in (False, True):
        score = network_score(network, sigmas, config, CUDA, compile_network=compiled)
        x, _ = draw(score, build_sampler(config), config, sigmas, (1, 8, 8), range(64))
        out.append(x)
    assert float((out[0] - out[1]).abs().max()) < 1e-2


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="nccl DDP needs 2 CUDA devices")
def test_ddp_with_nccl_trains_the_same_weights_on_both_ranks(tmp_path, torchrun):
    run = tmp_path / "ddp"
    command = [
        *torchrun,
        "-m",
        "scorebench",
        "train",
        "ncsn",
        "-d",
        "digits",
        "--run-dir",
        str(run),
    ]
    command += [arg for o in [*TINY, "runtime.device=cuda"] for arg in ("--set", o)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    from scorebench.files import read_jsonl

    checks = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("event") == "ddp_check"]
    assert checks and all(r["world_size"] == 2 for r in checks)
    assert max(r["max_rank_difference"] for r in checks) == 0.0
