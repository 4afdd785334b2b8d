"""The pydantic config models: one clear ConfigError per mistake, and the layers in order."""

import copy

import pytest

from scorebench.config import build_config, from_dict
from scorebench.errors import ConfigError
from scorebench.recipes import resolve_config


def _error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_config("ncsn", "toy-gmm", overrides=list(overrides))
    return str(info.value)


def test_an_unknown_nested_key_suggests_the_closest_and_lists_the_allowed():
    message = _error("sample.sampler.parms.x=1")
    assert message.startswith("unknown key 'sample.sampler.parms'. Did you mean 'params'?")
    assert "Allowed keys in sample.sampler: name, params." in message


def test_an_unknown_section_lists_the_top_level_keys():
    message = _error("evall.x=1")
    assert "unknown key 'evall'. Did you mean 'eval'?" in message
    assert "Allowed keys in config: recipe, dataset, schedule," in message


def test_a_bool_is_not_an_integer():
    assert _error("train.steps=true") == "train.steps: expected an integer, got True"


def test_an_integral_float_is_an_integer_and_a_fraction_is_not():
    assert resolve_config("ncsn", "toy-gmm", overrides=["train.steps=3.0"]).train.steps == 3
    assert type(resolve_config("ncsn", "toy-gmm", overrides=["train.steps=1e3"]).train.steps) is int
    assert _error("train.steps=3.5") == "train.steps: expected an integer, got 3.5"


def test_an_integer_is_a_number_and_a_string_is_not():
    config = resolve_config("ncsn", "toy-gmm", overrides=["sample.init_low=-3"])
    assert config.sample.init_low == -3.0 and isinstance(config.sample.init_low, float)
    assert _error("sample.init_low=low") == "sample.init_low: expected a number, got 'low'"


def test_a_choice_lists_the_allowed_values():
    assert _error("runtime.precision=fp16") == (
        "runtime.precision must be one of fp32, bf16; got 'fp16'"
    )
    assert "must be one of uniform, gaussian" in _error("sample.init=bogus")


def test_an_upper_bound_says_why():
    assert _error("train.lr=2") == (
        "train.lr must be <= 1.0 (Adam diverges with larger learning rates), got 2"
    )
    assert "(seeds are 32-bit)" in _error(f"runtime.seed={2**33}")
    assert "(checkpoint names have 8 digits)" in _error("train.steps=1e9")
    assert "(larger values are surely a mistake)" in _error("sample.n=1e12")


def test_cross_field_rules():
    assert "needs eval.select_every > 0" in _error("sample.checkpoint=best")
    assert "train.betas must be two numbers in [0, 1)" in _error("train.betas=[0.9]")
    assert "runtime.device must be auto, cpu, cuda or cuda:N" in _error("runtime.device=tpu")
    config = resolve_config("ncsn", "toy-gmm", overrides=["sample.checkpoint=7"])
    assert config.sample.checkpoint == "7"  # a step written as a number


def test_a_wrong_section_type_is_one_clear_error():
    assert _error("sample.sampler=3") == "sample.sampler: expected a mapping of keys, got 3"
    with pytest.raises(ConfigError, match="^config: expected a mapping of keys"):
        from_dict([1])


def test_layers_apply_in_order_preset_file_set(tmp_path):
    preset = resolve_config("ncsn", "toy-gmm").to_dict()
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  lr: 0.0002\n  steps: 50\n")
    from_file = build_config(preset, file)
    assert (from_file.train.lr, from_file.train.steps) == (2e-4, 50)
    assert from_file.train.log_every == preset["train"]["log_every"]  # the preset's, kept
    both = build_config(preset, file, ["train.lr=1e-4"])
    assert (both.train.lr, both.train.steps) == (1e-4, 50)


def test_to_dict_round_trips_through_from_dict():
    config = resolve_config("ncsn", "toy-gmm", overrides=["train.ema=0.999"])
    data = config.to_dict()
    assert isinstance(data["sample"]["sampler"], dict) and data["network"] is not None
    assert data["train"]["grad_clip"] is None  # None kept
    assert from_dict(data) == config
    assert build_config(data) == config
    assert copy.deepcopy(config) == config
