"""`scorebench config schema`: editors and scorebench agree on what a config file may hold."""

import json

import jsonschema
import pytest

from scorebench.config import json_schema
from scorebench.errors import ConfigError
from scorebench.plugins import registry
from scorebench.recipes import resolve_config

SCHEMA = json_schema()


def _presets():
    for component in registry("recipes"):
        recipe = component.load()()
        for dataset in recipe.presets:
            yield recipe.name, dataset


@pytest.mark.parametrize("recipe,dataset", list(_presets()))
def test_every_resolved_preset_is_valid(recipe, dataset):
    jsonschema.validate(resolve_config(recipe, dataset).to_dict(), SCHEMA)


def test_a_partial_file_is_valid():
    jsonschema.validate(
        {"train": {"lr": 2e-4}, "sample": {"sampler": {"params": {"x": 1}}}}, SCHEMA
    )


@pytest.mark.parametrize(
    "override,bad",
    [
        ("runtime.precision=fp16", {"runtime": {"precision": "fp16"}}),
        ("train.steps=0", {"train": {"steps": 0}}),
        ("train.stepz=10", {"train": {"stepz": 10}}),
        (f"runtime.seed={2**33}", {"runtime": {"seed": 2**33}}),
        ("data.num_workers=-1", {"data": {"num_workers": -1}}),
        ("train.lr=2", {"train": {"lr": 2}}),
    ],
)
def test_what_scorebench_refuses_the_schema_refuses(override, bad):
    with pytest.raises(ConfigError):
        resolve_config("ncsn", "toy-gmm", overrides=[override])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_the_command_writes_the_schema(tmp_path, invoke):
    out = tmp_path / "scorebench.schema.json"
    code, err = invoke(["config", "schema", "-o", str(out)])
    assert code == 0, err
    assert json.loads(out.read_text()) == SCHEMA
