"""Every hook a scorebench plugin can implement.

A plugin is a module (or object) with functions decorated by ``scorebench.hookimpl`` and
named like the specs below. ``register_*`` hooks return a list of
:class:`scorebench.registry.Component`; the plugin manager records which plugin gave each
one. What each component's factory makes is typed in :mod:`scorebench.api`. Keep these hooks cheap: point factories at ``"module:attr"`` strings so that listing
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
def missing_requirements() -> list[str]:
    """Install commands this plugin still needs before its components work (e.g. an extra
    that is not installed); ``scorebench plugins`` shows them. Check without importing."""


@hookspec
def register_networks() -> list[Component]:
    """Score networks: ``factory(**params)`` -> :class:`scorebench.api.Network`."""


@hookspec
def register_schedules() -> list[Component]:
    """Noise schedules: ``factory(**params)`` -> :class:`scorebench.api.Schedule`."""


@hookspec
def register_losses() -> list[Component]:
    """Training losses: ``factory(**params)`` -> :class:`scorebench.api.Loss`, which returns
    :class:`scorebench.score.LossOutput`."""


@hookspec
def register_samplers() -> list[Component]:
    """Samplers, registered as themselves: :class:`scorebench.api.Sampler`. Every call of
    ``score`` is one function evaluation (NFE): the driver counts them, do not cache calls."""


@hookspec
def register_score_functions() -> list[Component]:
    """Analytic score functions (no training): ``factory(**params)`` ->
    :class:`scorebench.api.ScoreFunction`."""


@hookspec
def register_datasets() -> list[Component]:
    """Datasets: ``factory(root, split, **params)`` -> :class:`scorebench.api.Dataset`."""


@hookspec
def register_metrics() -> list[Component]:
    """Feature extractors (:class:`scorebench.api.FeatureExtractor`), torch-fidelity's
    feature metrics (:class:`scorebench.api.FeatureMetric`) and metrics of the samples
    themselves (:class:`scorebench.api.SampleMetric`); each component declares what it is,
    the data it measures and its values in ``meta`` (:class:`scorebench.api.MetricMeta`)."""


@hookspec
def register_recipes() -> list[Component]:
    """Recipes, named experiment protocols: :class:`scorebench.api.RecipeFactory`."""


@hookspec
def register_benches() -> list[Component]:
    """Bench presets, run by ``scorebench bench --preset NAME``:
    :class:`scorebench.api.BenchFactory` (sources, samplers with parameter grids, seeds, n)."""


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add CLI commands to scorebench's Typer app (``@app.command()``).

    Import heavy modules inside the command, not at module level, so ``--help`` stays fast.
    """
