"""The fast training paths against the default, on the same seeds: Adam's fused kernel
(``runtime.fused_adam``) and a compiled training step (``runtime.compile``). Tolerances are
stated per check."""

import pytest
import torch

from scorebench.components import build_network, build_optimizer
from scorebench.files import read_jsonl
from scorebench.recipes import resolve_config
from scorebench.runs import RunDir
from scorebench.train import train

TINY = [
    "network.params.ngf=8",
    "data.batch_size=16",
    "train.log_every=1",
    "train.grid_size=4",
    "sample.sampler.params.steps_per_level=1",
]


def _losses(tmp_path, name, steps, *extra, dataset="digits", base=TINY):
    run = RunDir(tmp_path / name)
    config = resolve_config("ncsn", dataset, overrides=[*base, f"train.steps={steps}", *extra])
    train(config, run, quiet=True)
    return torch.tensor([row["loss"] for row in read_jsonl(run.metrics) if "loss" in row])


@pytest.mark.parametrize(("setting", "fused"), [(None, False), ("true", True), ("false", False)])
def test_fused_adam_is_a_switch_defaulting_to_foreach_on_the_cpu(setting, fused):
    overrides = TINY + ([f"runtime.fused_adam={setting}"] if setting else [])
    config = resolve_config("ncsn", "digits", overrides=overrides)
    network = build_network(config, torch.device("cpu"))
    optimizer = build_optimizer(config, network, torch.device("cpu"))
    assert bool(optimizer.defaults["fused"]) is fused
    assert bool(optimizer.defaults["foreach"]) is not fused


def test_fused_adam_follows_the_foreach_loss_curve(tmp_path):
    # The kernels round differently (about 1 ulp per update), so the curves agree closely
    # without being identical; 60 steps move the loss well away from its start.
    foreach = _losses(tmp_path, "foreach", 60)
    fused = _losses(tmp_path, "fused", 60, "runtime.fused_adam=true")
    assert len(foreach) == len(fused) == 60
    assert foreach[-10:].mean() < 0.8 * foreach[:5].mean()  # it trains
    assert float(((fused - foreach).abs() / foreach).max()) < 1e-3


def test_a_changed_optimizer_kernel_is_refused_on_resume(tmp_path):
    from scorebench.errors import ConfigError

    run = RunDir(tmp_path / "run")
    base = resolve_config("ncsn", "digits", overrides=[*TINY, "train.steps=2"])
    train(base, run, quiet=True)
    fused = resolve_config(
        "ncsn", "digits", overrides=[*TINY, "train.steps=4", "runtime.fused_adam=true"]
    )
    with pytest.raises(ConfigError, match="runtime.fused_adam"):
        train(fused, run, quiet=True)


def test_compiled_training_follows_the_eager_loss_curve(tmp_path, monkeypatch):
    # The toy MLP: compiling the image network's training step takes minutes on a CPU,
    # and the path through the trainer is the same.
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    toy = ["train.log_every=1", "network.params.hidden=32"]
    eager = _losses(tmp_path, "eager", 20, dataset="toy-gmm", base=toy)
    compiled = _losses(
        tmp_path, "compiled", 20, "runtime.compile=true", dataset="toy-gmm", base=toy
    )
    # Inductor fuses and reorders float sums: the same seeds give the same batches and
    # noise, and the losses stay within 1e-3 relative over 20 steps.
    assert float(((compiled - eager).abs() / eager).max()) < 1e-3
    assert any((tmp_path / "cache" / "inductor").rglob("*.py"))  # compiled into the cache
