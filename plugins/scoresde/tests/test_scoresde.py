"""score-sde-ve: the network's shapes and conditioning, the continuous loss, the presets,
exact resume, and the toy mixture learned to the toy experiment's quality."""

import json
import subprocess
import sys

import pytest
import torch
from scorebench_scoresde.loss import dsm_continuous
from scorebench_scoresde.network import NCSNpp

from scorebench.errors import ConfigError
from scorebench.recipes import resolve_config
from scorebench.runs import RunDir, load_checkpoint
from scorebench.train import train

TINY = [
    "network.params.nf=8",
    "network.params.num_res_blocks=1",
    "data.batch_size=16",
    "train.log_every=2",
    "train.checkpoint_every=3",
    "train.grid_size=4",
    "train.warmup=4",
    "sample.sampler.params.steps=2",
]


def test_paper_network_and_digits_network_shapes():
    paper = NCSNpp()  # the paper's CIFAR-10 settings are the defaults
    assert sum(p.numel() for p in paper.parameters()) == 62_579_203
    net = NCSNpp(channels=1, image_size=8, nf=8, ch_mult=[1, 2], attn_resolutions=[4])
    x, sigma = torch.rand(3, 1, 8, 8), torch.tensor([0.01, 1.0, 50.0])
    out = net(x, sigma)
    assert out.shape == x.shape and torch.equal(out, torch.zeros_like(out))  # zero output layer
    torch.nn.init.normal_(net.conv_out.weight)
    scaled = net(x, sigma)
    assert not torch.allclose(scaled[0] * 0.01, scaled[2] * 50.0)  # sigma enters beyond 1/sigma


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"image_size": 10, "ch_mult": [1, 2, 2]}, "divisible by 2\\^2"),
        ({"attn_resolutions": [5]}, "not among the resolutions"),
        ({"dropout": 1.0}, "dropout"),
        ({"ch_mult": []}, "ch_mult"),
    ],
)
def test_bad_network_parameters_are_named(params, message):
    with pytest.raises(ConfigError, match=message):
        NCSNpp(**params)


def test_continuous_loss_draws_sigma_log_uniformly_over_the_schedules_interval():
    seen = []

    class Probe(torch.nn.Module):
        conditioning = "sigma"

        def forward(self, x, sigma):
            seen.append(sigma)
            return torch.zeros_like(x)

    sigmas = torch.tensor([20.0, 2.0, 0.2])
    out = dsm_continuous()(Probe(), torch.zeros(20000, 2), sigmas, torch.Generator().manual_seed(0))
    u = (seen[0].log() - torch.tensor(0.2).log()) / (torch.tensor(100.0).log())
    assert 0 <= float(u.min()) and float(u.max()) <= 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005
    # A zero score leaves 1/2 ||z||^2: D / 2 on average, whatever sigma.
    assert abs(float(out.loss) - 1.0) < 0.03
    assert set(out.levels.tolist()) == {0, 1, 2}


def test_continuous_loss_refuses_a_level_conditioned_network():
    class Levels(torch.nn.Module):
        conditioning = "level"

    with pytest.raises(ConfigError, match="level indices"):
        dsm_continuous()(Levels(), torch.zeros(2, 2), torch.tensor([1.0, 0.1]))


def test_config_show_has_the_papers_settings():
    config = resolve_config("score-sde-ve", "cifar10")
    assert config.schedule.params == {"sigma_max": 50.0, "sigma_min": 0.01, "num_levels": 10}
    assert config.loss.name == "dsm-continuous" and config.network.name == "ncsnpp"
    assert config.network.params["attn_resolutions"] == [16]
    t = config.train
    assert (t.steps, t.lr, t.warmup, t.grad_clip, t.ema) == (1_300_000, 2e-4, 5000, 1.0, 0.999)
    assert (config.data.batch_size, config.data.hflip, config.data.dequantize) == (128, True, False)
    sampler = config.sample.sampler
    assert sampler.name == "pc" and sampler.params == {
        "steps": 1000,
        "corrector_steps": 1,
        "snr": 0.16,
        "denoise": True,
    }
    shown = subprocess.run(
        [sys.executable, "-m", "scorebench.cli", "config", "show", "score-sde-ve", "-d", "cifar10"],
        capture_output=True,
        text=True,
    )
    assert (
        shown.returncode == 0
        and "dsm-continuous" in shown.stdout
        and "warmup: 5000" in shown.stdout
    )


def test_resume_is_exact_with_warmup_ema_and_dropout(tmp_path):
    def config(steps):
        return resolve_config("score-sde-ve", "digits", overrides=[*TINY, f"train.steps={steps}"])

    straight, interrupted = RunDir(tmp_path / "straight"), RunDir(tmp_path / "interrupted")
    train(config(6), straight, quiet=True)
    train(config(3), interrupted, quiet=True)
    assert train(config(6), interrupted, quiet=True).resumed_from == 3
    a, b = (load_checkpoint(r.checkpoint_path(6)) for r in (straight, interrupted))
    for part in ("model", "ema"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    rows = [json.loads(line) for line in straight.metrics.read_text().splitlines()]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3 * 2 / 4, 1e-3, 1e-3])  # warm-up


@pytest.mark.slow
def test_toy_preset_learns_the_mixture_to_the_toy_experiments_quality(tmp_path):
    """Continuous DSM on the paper's mixture, then its native PC sampler: the mode weights
    come back as well as exact samples get them (within the 2000-sample noise)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scorebench.cli",
            "run",
            "score-sde-ve",
            "--dataset",
            "toy-gmm",
            "--run-dir",
            str(tmp_path / "toy"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = list((tmp_path / "toy" / "evals").glob("*/results/*.json"))
    metrics = json.loads(records[0].read_text())["metrics"]
    assert metrics["mode_weight_error"] < 0.03  # exact draws: about 0.01 at n = 2000
    assert metrics["mmd2"] < 0.02 and metrics["swd"] < 0.6


def test_every_registered_sampler_runs_on_the_model(tmp_path):
    """The zoo's samplers (and the bridge's schedulers) each draw from a tiny score-sde-ve
    run: every one passes make_cell's dry run and draws finite samples."""
    from scorebench.cells import make_cell, sampler_component
    from scorebench.plugins import registry
    from scorebench.sample import draw_shard, load_model

    run = RunDir(tmp_path / "run")
    train(
        resolve_config("score-sde-ve", "digits", overrides=[*TINY, "train.steps=2"]),
        run,
        quiet=True,
    )
    names = [c.name for c in registry("samplers")]
    assert {"pc", "pf_heun", "dpmpp_2m", "annealed_langevin"} <= set(names)
    for name in names:
        base = [f"sample.sampler.name={name}", "sample.n=2", "sample.batch_size=2"]
        for few in ("steps=4", "steps_per_level=1", None):  # a short chain, in its own words
            try:
                cell = make_cell(run, [*base, f"sample.sampler.params.{few}"] if few else base)
                break
            except ConfigError:
                continue
        model = load_model(run, torch.device("cpu"), cell.step, cell.config)
        array, nfe = draw_shard(model, sampler_component(cell.config)[1], 0, 2)
        assert array.shape == (2, 1, 8, 8) and nfe > 0, name
