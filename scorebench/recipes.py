"""Recipes: named experiment protocols (components, per-dataset presets, baselines)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scorebench.config import merge
from scorebench.errors import ConfigError


@dataclass
class Recipe:
    """``base`` holds what every dataset shares; ``presets[dataset]`` is merged on top.

    A preset may be a function returning the dict, called only when that dataset is asked
    for (presets computed from data, such as NCSNv2's, then cost nothing elsewhere).

    ``baselines`` names the baseline tables (shipped in ``scorebench/published/baselines``) that
    runs of this recipe are compared with, per dataset.
    """

    name: str
    summary: str
    base: dict[str, Any]
    presets: dict[str, dict[str, Any] | Callable[[], dict[str, Any]]]
    baselines: dict[str, list[str]] = field(default_factory=dict)

    def preset(self, dataset: str) -> dict[str, Any]:
        if dataset not in self.presets:
            close = difflib.get_close_matches(dataset, self.presets, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"recipe {self.name!r} has no preset for dataset {dataset!r}.{hint} "
                f"Presets: {', '.join(self.presets)}."
            )
        preset = self.presets[dataset]
        preset = preset() if callable(preset) else preset
        return merge(self.base, {"recipe": self.name, "dataset": dataset, **preset})


def resolve_config(recipe: str, dataset: str, config_file=None, overrides=()):
    """The validated config of ``recipe`` on ``dataset`` with a file and ``key=value`` overrides."""
    from scorebench.config import build_config
    from scorebench.plugins import registry

    found = registry("recipes").load(recipe)()
    return build_config(found.preset(dataset), config_file, overrides)
