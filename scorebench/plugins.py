"""The plugin manager: built-in plugins, entry-point plugins, blocking, failures, registries.

Environment switches:

* ``SCOREBENCH_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry-point plugins (built-ins only).
* ``SCOREBENCH_BLOCK_PLUGINS=a,b``: do not load the plugins named ``a`` and ``b``.

A plugin that raises while importing or registering is recorded in :attr:`PluginManager.failures`
(and shown by ``scorebench plugins``); every other plugin keeps working.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from scorebench import __version__, hookimpl, hookspecs
from scorebench.registry import KINDS, Component, Conflict, Registry

__all__ = ["PluginManager", "get_plugin_manager", "hookimpl", "load", "registry"]

ENTRY_POINT_GROUP = "scorebench"
DISABLE_AUTOLOAD_ENV = "SCOREBENCH_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "SCOREBENCH_BLOCK_PLUGINS"

#: Where scorebench's own plugins come from: they win a name clash with any other plugin.
FIRST_PARTY_SOURCES = {"builtin", "scorebench-ncsn", "scorebench-ncsnv2", "scorebench-samplers"}

#: The core's own features, registered as plugins exactly like third-party ones.
BUILTIN_PLUGINS: dict[str, str] = {
    "scorebench.data": "scorebench.data.plugin",
    "scorebench.metrics": "scorebench.metrics.plugin",
}


@dataclass
class PluginInfo:
    name: str
    version: str
    source: str  # "builtin" or the distribution providing the entry point
    hooks: list[str] = field(default_factory=list)


@dataclass
class PluginFailure:
    name: str
    stage: str  # "import", "register_samplers", ...
    error: str


def _blocked_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


class PluginManager:
    """Loads plugins once and builds one :class:`Registry` per component kind on demand."""

    def __init__(self, *, autoload: bool | None = None, blocked: set[str] | None = None) -> None:
        self.pm = pluggy.PluginManager("scorebench")
        self.pm.add_hookspecs(hookspecs)
        self.blocked = _blocked_from_env() if blocked is None else set(blocked)
        self.failures: list[PluginFailure] = []
        self._infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry] = {}
        self._contributions: dict[str, dict[str, list[Component]]] | None = None
        for name in self.blocked:
            self.pm.set_blocked(name)
        for name, module in BUILTIN_PLUGINS.items():
            self._load(name, lambda m=module: importlib.import_module(m), __version__, "builtin")
        if autoload if autoload is not None else not _autoload_disabled():
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                dist = getattr(ep, "dist", None)
                version = dist.version if dist is not None else "?"
                source = dist.metadata["Name"] if dist is not None else "entry point"
                self._load(ep.name, ep.load, version, source)

    def _load(self, name: str, loader: Any, version: str, source: str) -> None:
        if name in self.blocked or name in self._infos:
            return
        try:
            plugin = loader()
            self.pm.register(plugin, name=name)
        except Exception as exc:  # a broken plugin must not take scorebench down
            self.failures.append(PluginFailure(name, "import", f"{type(exc).__name__}: {exc}"))
            return
        hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self._infos[name] = PluginInfo(name, version, source, hooks)

    def register(self, plugin: object, name: str, version: str = "?") -> None:
        """Register a plugin object by hand (tests, notebooks)."""
        self._load(name, lambda: plugin, version, "manual")
        self._contributions = None
        self._registries.clear()

    @property
    def plugins(self) -> list[PluginInfo]:
        return list(self._infos.values())

    def missing_requirements(self) -> dict[str, list[str]]:
        """``{plugin: [install command, ...]}`` for plugins that say they need more."""
        missing: dict[str, list[str]] = {}
        for impl in self.pm.hook.missing_requirements.get_hookimpls():
            try:
                needs = list(impl.function() or [])
            except Exception as exc:
                needs = [f"(its check failed: {type(exc).__name__}: {exc})"]
            if needs:
                missing[impl.plugin_name] = [str(n) for n in needs]
        return missing

    def contributions(self) -> dict[str, dict[str, list[Component]]]:
        """``{plugin: {kind: [components]}}``, calling each plugin's hooks separately."""
        if self._contributions is None:
            self._contributions = {name: {} for name in self._infos}
            for kind in KINDS:
                caller = getattr(self.pm.hook, f"register_{kind}")
                for impl in caller.get_hookimpls():
                    components = self._call_register(impl, kind)
                    if components:
                        self._contributions[impl.plugin_name][kind] = components
        return self._contributions

    def _call_register(self, impl: Any, kind: str) -> list[Component]:
        stage = f"register_{kind}"
        try:
            result = impl.function()
            if result is None:
                return []
            components = list(result)
            bad = [c for c in components if not isinstance(c, Component)]
            if bad:
                raise TypeError(f"returned {type(bad[0]).__name__}, expected Component")
            if kind == "metrics" and (c := next((c for c in components if not c.meta), None)):
                raise TypeError(f"metric {c.name!r} declares no meta (a MetricMeta)")
        except Exception as exc:
            self.failures.append(
                PluginFailure(impl.plugin_name, stage, f"{type(exc).__name__}: {exc}")
            )
            return []
        return [dataclasses.replace(c, plugin=impl.plugin_name) for c in components]

    def registry(self, kind: str) -> Registry:
        """The registry of one kind. First-party plugins are added first, so a third-party
        plugin registering the same name never replaces them (it answers ``plugin:name``)."""
        if kind not in self._registries:
            registry = Registry(kind)
            contributions = self.contributions()
            for name in sorted(contributions, key=lambda n: not self.first_party(n)):
                for component in contributions[name].get(kind, []):
                    registry.add(component)
            self._registries[kind] = registry
        return self._registries[kind]

    def first_party(self, name: str) -> bool:
        info = self._infos.get(name)
        return info is not None and info.source in FIRST_PARTY_SOURCES

    def conflicts(self) -> list[Conflict]:
        """Every name registered by two plugins, in every kind."""
        return [c for kind in KINDS for c in self.registry(kind).conflicts]

    def add_commands(self, app: Any) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(app=app)
            except Exception as exc:
                self.failures.append(
                    PluginFailure(
                        impl.plugin_name, "register_commands", f"{type(exc).__name__}: {exc}"
                    )
                )


_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    global _manager
    if _manager is None:
        _manager = PluginManager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the loaded plugins (tests; after installing a plugin in the same process)."""
    global _manager
    _manager = None


def registry(kind: str) -> Registry:
    return get_plugin_manager().registry(kind)


def load(kind: str, name: str) -> Any:
    """The factory of component ``name`` of ``kind`` (imports it now)."""
    return registry(kind).load(name)
