"""Registries of components, one per kind, filled from the plugins' ``register_*`` hooks.

A component is a name, a one-line summary and a lazy factory: either a callable or a
``"module:attr"`` string that is imported only when the component is used, so listing
components never imports torch or a plugin's heavy modules.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from scorebench.contracts import CONTRACTS, MetricMeta
from scorebench.errors import ScorebenchError, UnknownComponentError

#: Every component kind (each has the hook ``register_<kind>``) and what its factories make;
#: the contracts themselves are in :mod:`scorebench.contracts`.
KINDS: dict[str, str] = {kind: summary for kind, (_, summary) in CONTRACTS.items()}


def singular(kind: str) -> str:
    """``losses`` -> ``loss``, ``benches`` -> ``bench``, ``samplers`` -> ``sampler``."""
    return kind[:-2] if kind.endswith(("sses", "ches")) else kind.removesuffix("s")


@dataclass(frozen=True)
class Component:
    """One registered component. ``plugin`` is filled in by the plugin manager; a metric
    component declares ``meta`` (:class:`~scorebench.contracts.MetricMeta`, or a dict of
    its fields)."""

    name: str
    factory: str | Callable[..., Any]
    summary: str = ""
    plugin: str = ""
    meta: MetricMeta | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.meta, Mapping):
            try:
                object.__setattr__(self, "meta", MetricMeta(**self.meta))
            except TypeError as exc:
                raise TypeError(f"component {self.name!r}: meta: {exc}") from None
        elif self.meta is not None and not isinstance(self.meta, MetricMeta):
            raise TypeError(f"component {self.name!r}: meta must be a MetricMeta")
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"component name must be a non-empty string, got {self.name!r}")
        if isinstance(self.factory, str):
            module, sep, attr = self.factory.partition(":")
            if not (module and sep and attr):
                raise TypeError(
                    f"component {self.name!r}: factory {self.factory!r} must be 'module:attr'"
                )
        elif not callable(self.factory):
            raise TypeError(f"component {self.name!r}: factory must be callable or 'module:attr'")

    def load(self) -> Callable[..., Any]:
        """Import (if needed) and return the factory."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr_path = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr_path.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ScorebenchError(
                f"{self.name!r} (from plugin {self.plugin or '?'}) could not be loaded from "
                f"{self.factory!r}: {exc}. Reinstall or fix that plugin."
            ) from exc
        return obj


@dataclass(frozen=True)
class Conflict:
    """Two plugins registered one name: ``kept`` answers the plain name, ``shadowed`` only
    its qualified name ``shadowed:name``."""

    kind: str
    name: str
    kept: str
    shadowed: str

    def __str__(self) -> str:
        return (
            f"{singular(self.kind)} {self.name!r} is registered by plugins {self.kept!r} and "
            f"{self.shadowed!r}; {self.name!r} is {self.kept!r}'s, use "
            f"'{self.shadowed}:{self.name}' for the other."
        )


class Registry:
    """Components of one kind, by name. A name registered twice keeps its first component
    (the plugin manager adds first-party plugins first); every component also answers its
    qualified name ``plugin:name``."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        self.kind = kind
        self._entries: dict[str, Component] = {}
        self._qualified: dict[str, Component] = {}
        self.conflicts: list[Conflict] = []

    def add(self, component: Component) -> None:
        if not isinstance(component, Component):
            raise TypeError(
                f"{self.kind}: expected scorebench.registry.Component, got {type(component).__name__}"
            )
        self._qualified.setdefault(f"{component.plugin}:{component.name}", component)
        existing = self._entries.get(component.name)
        if existing is None:
            self._entries[component.name] = component
        else:
            self.conflicts.append(
                Conflict(self.kind, component.name, existing.plugin, component.plugin)
            )

    def get(self, name: str) -> Component:
        found = self._entries.get(name) or self._qualified.get(name)
        if found is not None:
            return found
        known = sorted(self._entries)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownComponentError(
            f"no {singular(self.kind)} named {name!r}.{hint} Known {self.kind}: "
            f"{', '.join(known) or '(none)'}. See `scorebench list {self.kind}`."
        )

    def load(self, name: str) -> Callable[..., Any]:
        return self.get(name).load()

    def canonical(self, name: str) -> str:
        """The one spelling of ``name``'s component: its plain name, or ``plugin:name`` where
        another plugin's component holds the plain name."""
        component = self.get(name)
        if self._entries.get(component.name) is component:
            return component.name
        return f"{component.plugin}:{component.name}"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def listing(self) -> list[tuple[str, Component]]:
        """Every component by the name that reaches it: the plain name, or ``plugin:name``
        for one whose plain name another plugin's component holds."""
        shadowed = sorted({f"{c.shadowed}:{c.name}" for c in self.conflicts})
        return [(c.name, c) for c in self] + [(n, self._qualified[n]) for n in shadowed]

    def __iter__(self) -> Iterator[Component]:
        return iter(sorted(self._entries.values(), key=lambda c: c.name))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
