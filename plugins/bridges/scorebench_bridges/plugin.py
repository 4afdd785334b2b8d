"""Registers the diffusers bridge through the same hooks a third-party plugin uses.

Factories are "module:attr" strings: nothing here imports torch or diffusers.
"""

from scorebench.api import Component, hookimpl

PKG = "scorebench_bridges"
INSTALL = "pip install 'scorebench-bridges[diffusers]'"


@hookimpl
def missing_requirements():
    import importlib.util

    return [] if importlib.util.find_spec("diffusers") else [INSTALL]


@hookimpl
def register_score_functions():
    return [
        Component(
            "diffusers",
            f"{PKG}.diffusers_source:diffusers_model",
            "a diffusers UNet2DModel checkpoint (VE score, epsilon, v or sample prediction) as "
            "score(x, sigma) in [0, 1] pixels",
        )
    ]


@hookimpl
def register_schedules():
    return [
        Component(
            "diffusers",
            f"{PKG}.diffusers_source:DiffusersLevels",
            "a diffusers model's own noise levels (VP timesteps mapped to VE sigmas)",
        )
    ]


@hookimpl
def register_samplers():
    def scheduler(name: str, summary: str) -> Component:
        return Component(name, f"{PKG}.schedulers:{name}", f"diffusers' {summary}")

    return [
        scheduler("euler", "EulerDiscreteScheduler on scorebench's grid (probability-flow Euler)"),
        scheduler("heun", "HeunDiscreteScheduler on scorebench's grid (probability-flow Heun)"),
        scheduler(
            "dpmpp_2m", "DPMSolverMultistepScheduler, dpmsolver++ order 2, on scorebench's grid"
        ),
        scheduler("edm_euler", "EDMEulerScheduler, its own Karras or exponential grid"),
        scheduler("sde_ve_pc", "ScoreSdeVeScheduler, predictor-corrector for the VE SDE"),
    ]


@hookimpl
def register_benches():
    return [
        Component(
            "diffusers-parity",
            f"{PKG}.benches:diffusers_parity",
            "scorebench's samplers beside diffusers' schedulers on two tiny random diffusers "
            "UNets (DDPM and VE): twins agree to float32 round-off",
        )
    ]
