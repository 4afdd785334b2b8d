"""diffusers' schedulers as samplers (``diffusers:euler`` ...), and scorebench's samplers
against diffusers' own sampling loops on the same UNet: the parity the bridge promises."""

from __future__ import annotations

import pytest
import torch

from scorebench.noise import SampleNoise

pytest.importorskip(
    "diffusers", reason="the bridge's extra: pip install 'scorebench-bridges[diffusers]'"
)

from diffusers import HeunDiscreteScheduler, ScoreSdeVeScheduler  # noqa: E402
from scorebench_bridges import schedulers  # noqa: E402
from scorebench_bridges.diffusers_source import DiffusersScore  # noqa: E402
from scorebench_bridges.tiny import save_tiny_pipeline  # noqa: E402
from scorebench_samplers import dpm, edm, langevin  # noqa: E402
from scorebench_samplers.grids import sampling_grid  # noqa: E402

from scorebench.errors import ConfigError  # noqa: E402
from scorebench.score import CountingScore  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(no_network):
    """The bridge never touches the network (the fixture is in the repository's conftest)."""


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {
        kind: DiffusersScore(str(save_tiny_pipeline(root / kind, kind)), dtype="float64")
        for kind in ("epsilon", "ve")
    }


def _noise(seed=1, shape=(3, 1, 8, 8)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _relative(a, b):
    return float((a - b).abs().max() / b.abs().max())


TWINS = [
    (schedulers.euler, edm.pf_euler),
    (schedulers.heun, edm.pf_heun),
    (schedulers.dpmpp_2m, dpm.dpmpp_2m),
    (schedulers.edm_euler, edm.pf_euler),  # EDMEulerScheduler's own Karras grid is the same
]


@pytest.mark.parametrize("kind", ["epsilon", "ve"])
@pytest.mark.parametrize("steps", [3, 6, 12])
@pytest.mark.parametrize("theirs, ours", TWINS, ids=lambda f: f.__name__)
def test_diffusers_scheduler_rows_equal_their_scorebench_twins(sources, kind, steps, theirs, ours):
    """Same score, same grid, same start: equal to diffusers' float32 sigmas (measured max
    relative difference 5e-7 over these cases)."""
    src = sources[kind]
    z = _noise()
    a = theirs(src, z, src.levels, noise=None, steps=steps)
    b = ours(src, z, src.levels, noise=None, steps=steps)
    assert a.dtype == z.dtype and _relative(a, b) < 2e-6


def test_the_scheduler_samplers_run_on_any_score_source_an_oracle_too():
    from scorebench.plugins import load

    oracle = load("score_functions", "toy-gmm")()
    levels = torch.logspace(1.3, -1, 10, dtype=torch.float64)  # 20 -> 0.1
    z = _noise(shape=(64, 2))
    for theirs, ours in TWINS:
        a = theirs(oracle, z, levels, noise=None, steps=8)
        b = ours(oracle, z, levels, noise=None, steps=8)
        assert _relative(a, b) < 2e-6, theirs.__name__


@pytest.mark.parametrize(
    "sampler, params, nfe",
    [
        (schedulers.euler, {"steps": 7}, 7),
        (schedulers.heun, {"steps": 7}, 13),
        (schedulers.dpmpp_2m, {"steps": 7}, 7),
        (schedulers.edm_euler, {"steps": 7}, 7),
        (schedulers.sde_ve_pc, {"steps": 7, "correct_steps": 2}, 21),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_each_score_call_is_one_counted_nfe_and_reported(sources, sampler, params, nfe):
    counted = CountingScore(sources["ve"])
    seen = []
    z = _noise()
    sampler(
        counted, z, sources["ve"].levels, noise=SampleNoise(0, range(len(z))),
        callback=seen.append, **params,
    )  # fmt: skip
    assert counted.nfe == nfe and len(seen) == nfe
    assert all(set(info) == {"level", "step", "sigma"} for info in seen)
    assert seen[0]["sigma"] == pytest.approx(float(sources["ve"].levels[0]), rel=1e-6)


def test_heun_matches_diffusers_heun_discrete_driving_the_unet(sources):
    """scorebench's pf_heun against HeunDiscreteScheduler in diffusers' own loop. The
    scheduler must not inherit two settings of the DDPM pipeline's config: its
    ``timestep_spacing="leading"`` starts the Karras grid at t = 833 (sigma 33 instead of
    the model's 157), and its ``clip_sample=True`` clamps every x0 prediction to [-1, 1].
    With ``linspace`` spacing and no clipping the samples agree to round-off; the 500x
    mismatch seen before is the clipping."""
    src = sources["epsilon"]
    z = _noise()
    for steps in (3, 6, 12):
        finals = {}
        for clip in (False, True):
            scheduler = HeunDiscreteScheduler.from_config(
                src.scheduler_config,
                use_karras_sigmas=True,
                timestep_spacing="linspace",
                clip_sample=clip,
            )
            scheduler.set_timesteps(steps)
            grid = [2 * s for s in sampling_grid(src.levels, steps, schedule="karras")]
            assert _relative(scheduler.sigmas[::2][:steps].double(), torch.tensor(grid)) < 1e-6
            latents = z * grid[0] - 1  # scorebench's prior, in the model's pixels
            with torch.no_grad():
                for t in scheduler.timesteps:
                    model_in = scheduler.scale_model_input(latents, t)
                    out = src.unet(model_in, t.double()).sample
                    latents = scheduler.step(out, t, latents).prev_sample
            finals[clip] = latents
        ours = 2 * edm.pf_heun(src, z, src.levels, noise=None, steps=steps) - 1
        assert _relative(ours, finals[False]) < 2e-6
        assert _relative(ours, finals[True]) > 1e-2  # the inherited clipping changes the samples


def _score_sde_ve_pipeline(unet, scheduler, z, generator):
    """ScoreSdeVePipeline's loop, on a UNet in float32."""
    x = z * scheduler.init_noise_sigma
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            sigma = scheduler.sigmas[i] * torch.ones(x.shape[0])
            for _ in range(scheduler.config.correct_steps):
                out = unet(x, sigma).sample
                x = scheduler.step_correct(out, x, generator=generator).prev_sample
            step = scheduler.step_pred(unet(x, sigma).sample, t, x, generator=generator)
            x, mean = step.prev_sample, step.prev_sample_mean
    return mean


@pytest.mark.parametrize("steps", [5, 20, 100])
def test_pc_matches_score_sde_ve_scheduler_with_the_same_noise(tmp_path, steps):
    """The driver reproduces diffusers' pipeline loop exactly; scorebench's ``pc`` (batch-mean
    SNR step, corrector first, no noise on the last step) on the scheduler's sigmas agrees to
    float32 and the sampling_eps gap between its two sigma tables (measured 3e-6)."""
    src = DiffusersScore(str(save_tiny_pipeline(tmp_path / "ve", "ve")), dtype="float32")
    scheduler = ScoreSdeVeScheduler.from_config(src.scheduler_config)
    scheduler.set_timesteps(steps)
    scheduler.set_sigmas(steps)
    z = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    theirs = _score_sde_ve_pipeline(src.unet, scheduler, z, SampleNoise(5, range(4)).generators)
    c = scheduler.config
    driven = schedulers.sde_ve_pc(
        src, z, src.levels.float(), noise=SampleNoise(5, range(4)), steps=steps
    )
    assert torch.equal(driven, theirs)
    ours = langevin.pc(
        src,
        z,
        scheduler.sigmas,
        noise=SampleNoise(5, range(4)),  # the same draws as the generators above
        schedule="levels",
        snr=c.snr,
        corrector_steps=c.correct_steps,
    )
    assert _relative(ours, theirs) < 2e-5


def test_the_stochastic_scheduler_follows_its_noise(sources):
    src, z = sources["ve"], _noise()

    def draw(seed):
        return schedulers.sde_ve_pc(
            src, z, src.levels, noise=SampleNoise(seed, range(len(z))), steps=6
        )

    assert torch.equal(draw(3), draw(3)) and not torch.equal(draw(3), draw(4))


@pytest.mark.parametrize(
    "sampler, params, needle",
    [
        (schedulers.edm_euler, {"steps": 1}, "steps"),
        (schedulers.edm_euler, {"sigma_schedule": "linear"}, "sigma_schedule"),
        (schedulers.edm_euler, {"sigma_max": 0.001}, "sigma_min must be smaller"),
        (schedulers.sde_ve_pc, {"snr": -1.0}, "snr"),
        (schedulers.sde_ve_pc, {"correct_steps": -1}, "correct_steps"),
        (schedulers.euler, {"schedule": "nope"}, "schedule"),
        (schedulers.dpmpp_2m, {"steps": 0}, "steps"),
    ],
    ids=str,
)
def test_bad_parameters_are_refused_with_their_name(sources, sampler, params, needle):
    with pytest.raises(ConfigError, match=needle):
        sampler(sources["ve"], _noise(), sources["ve"].levels, noise=None, **params)
