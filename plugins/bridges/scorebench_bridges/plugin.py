"""Registers the diffusers bridge through the same hooks a third-party plugin uses.

Factories are "module:attr" strings: nothing here imports torch or diffusers.
"""

from scorebench import hookimpl
from scorebench.registry import Component

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
