"""Every hook a scorebench plugin can implement.

A plugin is a module (or object) with functions decorated by ``scorebench.hookimpl`` and
named like the specs below. ``register_*`` hooks return a list of
:class:`scorebench.registry.Component`; the plugin manager records which plugin gave each
one. Keep these hooks cheap: point factories at ``"module:attr"`` strings so that listing
components never imports torch.

Expose a plugin to scorebench through an entry point in the group ``scorebench``::

    [project.entry-points.scorebench]
    my_sampler = "my_package.plugin"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from scorebench.registry import Component

hookspec = pluggy.HookspecMarker("scorebench")


@hookspec
def register_networks() -> list[Component]:
    """Score networks. Factory: ``factory(**params) -> torch.nn.Module``.

    The module's ``forward(x, cond)`` returns a tensor of x's shape. Its attribute
    ``conditioning`` says what ``cond`` is: ``"level"`` (integer noise-level index, as in
    NCSN) or ``"sigma"`` (the noise level itself, one per sample; the default).
    """


@hookspec
def register_schedules() -> list[Component]:
    """Noise schedules. Factory: ``factory(**params)`` -> object whose ``sigmas()``
    returns a 1-D float tensor of noise levels, largest first."""


@hookspec
def register_losses() -> list[Component]:
    """Training losses. Factory: ``factory(**params)`` -> callable
    ``loss(model, x, sigmas, generator) -> scorebench.types.LossOutput``."""


@hookspec
def register_samplers() -> list[Component]:
    """Samplers. Factory: the sampler itself,
    ``sampler(score, x, sigmas, *, generator, callback=None, **params) -> Tensor``.

    ``score(x, sigma)`` takes one sigma per sample; ``x`` is the initial state (the driver
    draws it, so a sampler stays pure); ``callback(info: dict)`` reports progress. Same
    generator state in, same samples out. Every call of ``score`` is one function
    evaluation (NFE): the driver counts them, do not cache calls. The keyword ``params``
    (with their defaults) are the sampler's part of an evaluation's spec: all of them are
    recorded (so give them JSON-representable defaults) and any can be swept by
    ``scorebench bench --sampler NAME:PARAM=V1,V2``.
    """


@hookspec
def register_score_functions() -> list[Component]:
    """Analytic score functions (no training). Factory: ``factory(**params)`` -> callable
    ``score(x, sigma)``; may also offer ``sample(n, generator)`` for i.i.d. draws."""


@hookspec
def register_datasets() -> list[Component]:
    """Datasets. Factory: ``factory(root, split, **params) -> torch.utils.data.Dataset``.

    Items are float tensors: images in [0, 1] of shape (C, H, W), or points of shape (D,)
    (unconditional: no label in the item). The dataset has attributes ``name``, ``split``,
    ``shape`` (one item's shape), ``reference_split`` (the split metrics compare against)
    and, where known, ``targets`` (labels) and ``mixture`` (a toy's true mixture)."""


@hookspec
def register_metrics() -> list[Component]:
    """Feature extractors and metrics. See ``scorebench.evaluate`` for the factory protocol."""


@hookspec
def register_recipes() -> list[Component]:
    """Recipes: named experiment protocols. Factory: ``factory() -> scorebench.recipes.Recipe``."""


@hookspec
def register_benches() -> list[Component]:
    """Bench presets: named benchmarks. Factory: ``factory() -> dict``, a bench spec (the
    YAML/TOML format of ``scorebench.bench``: sources, samplers with parameter grids, seeds,
    n, set), run by ``scorebench bench --preset NAME``."""


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add CLI commands to scorebench's Typer app (``@app.command()``).

    Import heavy modules inside the command, not at module level, so ``--help`` stays fast.
    """
