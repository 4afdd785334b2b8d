"""The built-in plugin scorebench.data: lazy registration, names, the common contract."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scorebench.errors import ConfigError
from scorebench.plugins import BUILTIN_PLUGINS, PluginManager

NAMES = {"cifar10", "mnist", "celeba", "digits", "folder", "toy-gmm", "rings", "moons", "oracle"}


def test_importing_the_plugin_imports_no_heavy_module():
    code = (
        "import sys, scorebench.data.plugin as p\n"
        "names = [c.name for c in p.register_datasets()]\n"
        "heavy = [m for m in ('torch', 'torchvision', 'sklearn', 'numpy', 'PIL') "
        "if m in sys.modules]\n"
        "print(len(names), heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == f"{len(NAMES)} []"


def test_registered_through_the_plugin_manager():
    assert BUILTIN_PLUGINS["scorebench.data"] == "scorebench.data.plugin"
    registry = PluginManager(autoload=False).registry("datasets")
    ours = [c for c in registry if c.plugin == "scorebench.data"]
    assert {c.name for c in ours} == NAMES
    for component in ours:
        assert isinstance(component.factory, str) and component.summary
        assert callable(component.load())


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_factory_validates_the_split(tmp_path, name):
    factory = PluginManager(autoload=False).registry("datasets").load(name)
    with pytest.raises(ConfigError, match=r"allowed splits: train, test"):
        factory(tmp_path, "validation")


@pytest.mark.parametrize(
    ("name", "params", "shape"),
    [("digits", {}, (1, 8, 8)), ("toy-gmm", {"n": 10}, (2,)), ("moons", {"n": 10}, (2,))],
)
def test_contract_attributes(tmp_path, name, params, shape):
    factory = PluginManager(autoload=False).registry("datasets").load(name)
    data = factory(tmp_path, "test", **params)
    assert (data.name, data.split, data.shape, data.reference_split) == (
        name,
        "test",
        shape,
        "train",
    )
    assert tuple(data[0].shape) == shape and data.targets is not None
