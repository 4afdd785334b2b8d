"""The diffusers bridge, offline: tiny random UNets saved with save_pretrained and loaded
back by path; scorebench's samplers checked against diffusers' schedulers on the same UNet."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip(
    "diffusers", reason="the bridge's extra: pip install 'scorebench-bridges[diffusers]'"
)

from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler  # noqa: E402
from scorebench_bridges.diffusers_source import DiffusersScore, missing_extra  # noqa: E402
from scorebench_bridges.tiny import save_tiny_pipeline  # noqa: E402
from scorebench_samplers.dpm import dpmpp_2m  # noqa: E402
from scorebench_samplers.edm import pf_euler  # noqa: E402
from scorebench_samplers.grids import sampling_grid  # noqa: E402

from scorebench.errors import ConfigError  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(no_network):
    """The bridge never touches the network (the fixture is in the repository's conftest)."""


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {
        kind: save_tiny_pipeline(root / kind, kind)
        for kind in ("epsilon", "v_prediction", "sample", "ve")
    }


def _noise(seed=0):
    return torch.randn(
        2, 1, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def test_extra_is_installed_here():
    assert missing_extra() is None


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_vp_score_at_a_training_timestep_is_the_models_prediction_converted(pipelines, kind):
    """At sigma = the model's sigma_t / 2 the UNet is asked at timestep t exactly, and its
    output, whatever it predicts, becomes the same score 2 * (-(eps) / sigma_model)."""
    src = DiffusersScore(str(pipelines[kind]), dtype="float64")
    t = 400
    s_model = float(src.vp_sigmas[t])
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    root = (1 / (1 + s_model**2)) ** 0.5
    x_vp = (2 * x - 1) * root
    out = src.unet(x_vp, torch.tensor(float(t), dtype=torch.float64)).sample
    x0_vp = None
    if kind == "epsilon":
        eps = out
    elif kind == "v_prediction":
        eps = root * out + (1 - root**2) ** 0.5 * x_vp
    else:
        x0_vp = out
        eps = ((2 * x - 1) - x0_vp) / s_model
    expected = -2 * eps / s_model
    got = src(x, torch.full((2,), s_model / 2, dtype=torch.float64))
    assert float(src.timestep(torch.tensor([s_model], dtype=torch.float64))) == pytest.approx(
        t, abs=1e-9
    )
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_timestep_between_two_levels_is_interpolated_in_log_sigma(pipelines):
    src = DiffusersScore(str(pipelines["epsilon"]), dtype="float64")
    low, high = src.vp_sigmas[100], src.vp_sigmas[101]
    middle = (low.log() * 0.25 + high.log() * 0.75).exp()
    assert float(src.timestep(middle.reshape(1))) == pytest.approx(100.75, abs=1e-9)


def test_ve_model_is_a_score_in_its_own_pixels(pipelines):
    src = DiffusersScore(str(pipelines["ve"]), dtype="float64")
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    sigma = torch.full((2,), 3.0, dtype=torch.float64)
    torch.testing.assert_close(src(x, sigma), src.unet(x, sigma).sample)
    assert float(src.levels[0]) == pytest.approx(50.0) and float(src.levels[-1]) == pytest.approx(
        0.01
    )


def _drive(src, scheduler, latents):
    """diffusers' own sampling loop on the same UNet."""
    with torch.no_grad():
        for t in scheduler.timesteps:
            model_in = scheduler.scale_model_input(latents, t)
            out = src.unet(model_in, t.double()).sample
            latents = scheduler.step(out, t, latents).prev_sample
    return latents


def _relative(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("steps", [3, 6, 12])
def test_pf_euler_matches_diffusers_euler_discrete(pipelines, steps):
    """Same UNet, same Karras grid (passed as explicit sigmas), same start: the samples agree
    to diffusers' float32 sigmas and timesteps (measured max relative difference ~2e-7)."""
    src = DiffusersScore(str(pipelines["epsilon"]), dtype="float64")
    z = _noise()
    grid = [2 * s for s in sampling_grid(src.levels, steps, schedule="karras")]
    scheduler = EulerDiscreteScheduler.from_config(src.scheduler_config)
    scheduler.set_timesteps(sigmas=[*grid, 0.0])
    theirs = _drive(src, scheduler, z * grid[0] - 1)  # scorebench's prior, in model pixels
    ours = 2 * pf_euler(src, z, src.levels, noise=None, steps=steps) - 1
    assert _relative(ours, theirs) < 2e-6


@pytest.mark.parametrize("steps", [3, 6, 12])
def test_dpmpp_2m_matches_diffusers_dpm_solver_with_its_timestep_rounding(pipelines, steps):
    """diffusers' DPMSolverMultistepScheduler (dpmsolver++, order 2, Karras sigmas, final
    sigma 0) places the same grid but asks the UNet at the *rounded* timestep; with that one
    convention applied to the bridge the samples agree to float32 round-off. Without it
    they differ by what the rounding does (measured 2e-3 at 6 steps on this random UNet)."""
    src = DiffusersScore(str(pipelines["epsilon"]), dtype="float64")
    z = _noise()
    grid = [2 * s for s in sampling_grid(src.levels, steps, schedule="karras")]
    scheduler = DPMSolverMultistepScheduler.from_config(
        src.scheduler_config,
        use_karras_sigmas=True,
        algorithm_type="dpmsolver++",
        solver_order=2,
        final_sigmas_type="zero",
    )
    scheduler.set_timesteps(steps)
    assert _relative(scheduler.sigmas[:steps].double(), torch.tensor(grid)) < 1e-6
    start = (z * grid[0] - 1) / (1 + grid[0] ** 2) ** 0.5  # its state is x_VP
    theirs = _drive(src, scheduler, start)
    interpolated = src.timestep
    src.timestep = lambda sigma: interpolated(sigma).round()
    ours = 2 * dpmpp_2m(src, z, src.levels, noise=None, steps=steps) - 1
    assert _relative(ours, theirs) < 2e-6


def test_the_model_levels_are_a_schedule_and_the_model_a_score_function(pipelines):
    from scorebench import api
    from scorebench.plugins import load

    levels = load("schedules", "diffusers")(model=str(pipelines["epsilon"]))
    assert isinstance(levels, api.Schedule) and len(levels) == 1000
    sigmas = levels.sigmas()
    assert bool((sigmas[1:] < sigmas[:-1]).all())  # largest first, in [0, 1] pixels
    function = load("score_functions", "diffusers")(model=str(pipelines["epsilon"]))
    assert callable(function) and function.shape == (1, 8, 8)


def test_identity_names_library_weights_prediction_and_maps(pipelines):
    identity = DiffusersScore(str(pipelines["v_prediction"])).identity
    assert identity["library"].startswith("diffusers ")
    assert identity["prediction_type"] == "v_prediction"
    assert len(identity["weights_sha256"]["diffusion_pytorch_model.safetensors"]) == 64
    assert "log sigma" in identity["sigma_map"] and "[-1, 1]" in identity["pixel_map"]


# ------------------------------------------------------------------ bad input


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ConfigError, match="is not a diffusers model"):
        DiffusersScore(str(tmp_path))


def test_pickle_checkpoint_is_refused(pipelines, tmp_path):
    import shutil

    copy = shutil.copytree(pipelines["epsilon"], tmp_path / "pickled")
    weights = copy / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(ConfigError, match="pickle.*safetensors only"):
        DiffusersScore(str(copy))


def test_unsupported_prediction_type(pipelines, tmp_path):
    import shutil

    copy = shutil.copytree(pipelines["epsilon"], tmp_path / "odd")
    config_file = copy / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text())
    config["prediction_type"] = "flow"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="unsupported scheduler config"):
        DiffusersScore(str(copy))


def test_hub_id_not_in_cache_says_how_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        DiffusersScore("google/ddpm-cifar10-32")
    message = str(caught.value)
    assert "google/ddpm-cifar10-32" in message and "hf download google/ddpm-cifar10-32" in message
    assert "local Hugging Face cache" in message


def test_without_the_extra_plugins_lists_the_install_command_and_a_source_says_it(
    monkeypatch, tmp_path
):
    import importlib.util

    from scorebench.plugins import get_plugin_manager

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "diffusers" else real(name, *a),
    )
    needs = get_plugin_manager().missing_requirements()
    assert needs == {"diffusers": ["pip install 'scorebench-bridges[diffusers]'"]}
    with pytest.raises(ConfigError, match=r"needs the diffusers extra: pip install"):
        DiffusersScore(str(tmp_path))
