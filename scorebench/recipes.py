"""Recipes: named experiment protocols (components, per-dataset presets, baselines)."""

from __future__ import annotations

from scorebench.config import build_config
from scorebench.contracts import Recipe
from scorebench.plugins import registry

__all__ = ["Recipe", "resolve_config"]  # Recipe is a contract: it lives in scorebench.contracts


def resolve_config(recipe: str, dataset: str, config_file=None, overrides=()):
    """The validated config of ``recipe`` on ``dataset`` with a file and ``key=value`` overrides."""
    found = registry("recipes").load(recipe)()
    return build_config(found.preset(dataset), config_file, overrides)
