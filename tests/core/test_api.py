"""The plugin contracts: one module (scorebench.api) that the hooks, the registry kinds and
the docs all point at, and that the built-in components satisfy."""

import importlib
import re
from pathlib import Path

import pytest

from scorebench import api, hookspecs
from scorebench.plugins import load, registry
from scorebench.registry import KINDS

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "scorebench" / "hookspecs.py",
    REPO / "scorebench" / "api.py",
    REPO / "scorebench" / "contracts.py",
]
DOTTED = re.compile(r"\bscorebench(?:\.[A-Za-z_]\w*)+")
FILE_SUFFIXES = {"json", "yaml", "toml", "py", "md", "png", "html", "pt", "tmp"}  # file names


def _resolve(name: str):
    """The object a dotted name means: the longest importable module, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


def _names():
    for path in DOCUMENTS:
        text = path.read_text()
        for match in DOTTED.finditer(text):
            name = match.group(0)
            if name.rsplit(".", 1)[1] not in FILE_SUFFIXES:
                yield path.name, name


NAMES = sorted(set(_names()))


def test_the_documents_name_something():
    assert len(NAMES) > 10 and ("hookspecs.py", "scorebench.api.Sampler") in NAMES


@pytest.mark.parametrize("where,name", NAMES, ids=[f"{w}:{n}" for w, n in NAMES])
def test_every_dotted_name_in_the_docs_resolves(where, name):
    try:
        _resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{where} names {name}, which does not exist: {exc}")


def test_kinds_hooks_and_contracts_are_one_list():
    hooks = {n.removeprefix("register_") for n in dir(hookspecs) if n.startswith("register_")}
    assert set(KINDS) == set(api.CONTRACTS) == hooks - {"commands"}


def test_built_in_schedules_datasets_and_extractors_satisfy_their_contracts():
    for component in registry("schedules"):
        if component.plugin == "diffusers":  # needs a model: checked in the bridge's tests
            continue
        assert isinstance(component.load()(), api.Schedule), component.name
    for name in ("digits", "toy-gmm", "rings", "moons"):
        assert isinstance(load("datasets", name)(None, "train"), api.Dataset), name
    for component in registry("metrics"):
        made = component.load()
        kind = component.meta.type
        if kind == "feature-extractor":
            assert isinstance(made(), api.FeatureExtractor), component.name
        elif kind == "sample-metric":
            assert isinstance(made(), api.SampleMetric), component.name
            assert component.meta.kinds and component.meta.values, component.name
        elif kind == "model-metric":
            assert isinstance(made(), api.ModelMetric), component.name
        else:
            assert kind == "feature-metric" and callable(made), component.name


@pytest.mark.parametrize(
    "meta,message",
    [
        ({"type": "metric"}, "MetricMeta.type is 'metric'"),
        ({"type": "sample-metric", "kinds": "points"}, "use a tuple of"),
        ({"type": "sample-metric", "kinds": ("points",), "values": {"a": ("A", "up")}}, "'up'"),
        ({"type": "sample-metric", "kinds": ("points",), "colour": 1}, "colour"),
    ],
)
def test_a_metric_with_bad_meta_is_a_plugin_failure_named_with_the_reason(meta, message):
    from scorebench.plugins import get_plugin_manager, reset_plugin_manager
    from scorebench.registry import Component

    class Plugin:
        @staticmethod
        def register_metrics():
            return [Component("odd", dict, meta=meta)]

    reset_plugin_manager()
    try:
        api.hookimpl(Plugin.register_metrics)
        get_plugin_manager().register(Plugin(), name="odd-plugin")
        assert "odd" not in registry("metrics")
        (failure,) = [f for f in get_plugin_manager().failures if f.name == "odd-plugin"]
        assert message in failure.error and "'odd'" in failure.error
    finally:
        reset_plugin_manager()
