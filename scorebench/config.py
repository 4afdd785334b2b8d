"""Typed, validated run configuration.

A run's config is built in layers: the recipe's preset for the dataset, then an optional
file (YAML or TOML), then ``--set key=value`` overrides. Every layer is checked against
the dataclasses below before any work starts; a wrong key, type or value raises
:class:`ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scorebench.errors import ConfigError


@dataclass
class ComponentConfig:
    """A registered component by name, and the keyword arguments for its factory."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    name: str = "digits"
    root: str | None = None  # None: scorebench's data directory
    params: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 128
    num_workers: int = 0
    dequantize: bool = True  # x*255/256 + U[0,1)/256, as the official NCSN code
    hflip: bool = False
    logit_transform: bool = False


@dataclass
class TrainConfig:
    steps: int = 200_000
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    grad_clip: float | None = None
    ema: float | None = None  # EMA decay of the weights; None: off (as in NCSN)
    log_every: int = 100
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    grid_every: int = 0  # sample a grid every N steps; 0: only at the end
    grid_size: int = 64
    tensorboard: bool = False


@dataclass
class RuntimeConfig:
    device: str = "auto"  # auto: cuda if available, else cpu
    precision: str = "fp32"  # fp32 or bf16 (autocast; weights and sampler state stay fp32)
    compile: bool = False
    channels_last: bool = False
    seed: int = 0


@dataclass
class SampleConfig:
    sampler: ComponentConfig = field(default_factory=lambda: ComponentConfig("annealed_langevin"))
    n: int = 1000
    batch_size: int = 100
    checkpoint: str = "final"  # final, best (needs eval.select_every), or a step number
    init: str = "uniform"  # the chain's start: uniform on [init_low, init_high] or gaussian
    init_low: float = 0.0  # (NCSN: uniform on [0, 1]; gaussian: N(0, sigma_max^2))
    init_high: float = 1.0
    seed: int | None = None  # the chains' seed (shard k: (seed, k)); None: runtime.seed


@dataclass
class EvalConfig:
    #: None: every metric of the data's kind (images: isc, fid, kid, prc; points: swd, mmd,
    #: mode weights and log-likelihood where the data define them).
    metrics: list[str] | None = None
    extractor: str = "auto"
    split: str | None = None  # None: the dataset's reference split
    reference_count: int | None = None  # None: the whole split
    cross_check: bool = False
    select_every: int = 0  # the paper's checkpoint selection: FID every N steps (0: off)
    select_n: int = 1000
    seed: int = 0  # IS shuffling, KID subsets: part of the protocol, not a sampling seed


@dataclass
class RunConfig:
    recipe: str
    dataset: str
    schedule: ComponentConfig
    network: ComponentConfig | None = None  # None only with score_function
    loss: ComponentConfig | None = None
    #: An analytic score function (an oracle) in place of a trained network: nothing is
    #: trained, samplers query it exactly (``scorebench bench`` oracle sources).
    score_function: ComponentConfig | None = None
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {
    "runtime.precision": ("fp32", "bf16"),
    "sample.init": ("uniform", "gaussian"),
    "runtime.device": None,  # checked at run time: auto, cpu, cuda, cuda:N
    "eval.extractor": None,  # checked against the metrics registry
}
POSITIVE = {
    "data.batch_size",
    "train.steps",
    "train.lr",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.grid_size",
    "sample.n",
    "sample.batch_size",
    "eval.select_n",
}
NON_NEGATIVE = {
    "data.num_workers",
    "train.weight_decay",
    "train.grid_every",
    "eval.select_every",
    "eval.seed",
    "runtime.seed",
}
#: Upper bounds, with why. Seeds: what numpy's and every framework's generators accept.
#: Steps: checkpoint files are named step-XXXXXXXX.pt. Adam diverges far below lr 1.
MAXIMA = {
    "runtime.seed": (2**32 - 1, "seeds are 32-bit"),
    "eval.seed": (2**32 - 1, "seeds are 32-bit"),
    "sample.seed": (2**32 - 1, "seeds are 32-bit"),
    "train.steps": (99_999_999, "checkpoint names have 8 digits"),
    "train.lr": (1.0, "Adam diverges with larger learning rates"),
}
#: Any other integer: far above every sensible value, and below what C code overflows on.
MAX_INT = 2**31 - 1


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file (YAML, TOML or JSON), for editors: every key is
    optional (a file is merged over a preset), unknown keys are rejected, and choices and
    bounds are the ones checked here. Component parameters are checked against their
    factories at run time, not by the schema."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(RunConfig).json_schema()
    for node in [schema, *schema["$defs"].values()]:
        node.pop("required", None)
        node["additionalProperties"] = False
    for section, hint in _hints(RunConfig).items():
        if not dataclasses.is_dataclass(hint):
            continue
        for key, prop in schema["$defs"][hint.__name__]["properties"].items():
            full = f"{section}.{key}"
            if CHOICES.get(full):
                prop["enum"] = list(CHOICES[full])
            if full in POSITIVE:
                prop["exclusiveMinimum"] = 0
            if full in NON_NEGATIVE:
                prop["minimum"] = 0
            types = {prop.get("type"), *(t.get("type") for t in prop.get("anyOf", ()))}
            if types & {"integer", "number"}:
                prop["maximum"] = MAXIMA.get(full, (MAX_INT,))[0]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "scorebench run config",
    }


# ---------------------------------------------------------------- parsing


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported config type {hint!r} at {key}")  # a bug in this module


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "config"
    if isinstance(data, cls):
        data = dataclasses.asdict(data)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {data!r}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown key {_join(prefix, key)!r}.{hint} Allowed keys in {where}: "
            f"{', '.join(fields)}."
        )
    kwargs = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {key!r} in {where}")
    return cls(**kwargs)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _check_values(config: RunConfig) -> None:
    flat = flatten(config.to_dict())
    for key, value in flat.items():
        if isinstance(value, float) and not math.isfinite(value) and ".params." not in key:
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
    for key in POSITIVE:
        if flat[key] <= 0:
            raise ConfigError(f"{key} must be positive, got {flat[key]!r}")
    for key in NON_NEGATIVE:
        if flat[key] < 0:
            raise ConfigError(f"{key} must be >= 0, got {flat[key]!r}")
    for key, value in flat.items():
        top, why = MAXIMA.get(key, (MAX_INT, "larger values are surely a mistake"))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and ".params." not in key and value > top:
            raise ConfigError(f"{key} must be <= {top} ({why}), got {value!r}")
    for key, allowed in CHOICES.items():
        if allowed and flat[key] not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {flat[key]!r}")
    check_device(config.runtime.device)
    if len(config.train.betas) != 2 or not all(0 <= b < 1 for b in config.train.betas):
        raise ConfigError(f"train.betas must be two numbers in [0, 1); got {config.train.betas}")
    if config.train.grad_clip is not None and not config.train.grad_clip > 0:
        raise ConfigError(
            f"train.grad_clip must be > 0 (the largest gradient norm) or null, got "
            f"{config.train.grad_clip}"
        )
    if config.train.ema is not None and not 0 < config.train.ema < 1:
        raise ConfigError(f"train.ema must be in (0, 1) or null; got {config.train.ema}")
    if config.eval.reference_count is not None and config.eval.reference_count < 2:
        raise ConfigError(
            f"eval.reference_count must be >= 2 or null (the whole split), got "
            f"{config.eval.reference_count}"
        )
    if config.sample.seed is not None and config.sample.seed < 0:
        raise ConfigError(f"sample.seed must be >= 0 or null, got {config.sample.seed}")
    if config.score_function is None and (config.network is None or config.loss is None):
        raise ConfigError("a config needs network and loss (or a score_function to sample)")
    checkpoint = config.sample.checkpoint
    if checkpoint not in ("final", "best") and not str(checkpoint).isdigit():
        raise ConfigError(f"sample.checkpoint must be final, best or a step; got {checkpoint!r}")
    if checkpoint == "best" and not config.eval.select_every:
        raise ConfigError(
            "sample.checkpoint=best needs eval.select_every > 0 (checkpoint selection)"
        )


def check_device(device: str, key: str = "runtime.device") -> str:
    """auto, cpu, cuda or cuda:N."""
    if device not in ("auto", "cpu", "cuda") and not (
        device.startswith("cuda:") and device[5:].isdigit()
    ):
        raise ConfigError(f"{key} must be auto, cpu, cuda or cuda:N; got {device!r}")
    return device


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}`` (component params included)."""
    out = {}
    for k, v in d.items():
        key = _join(prefix, k)
        out.update(flatten(v, key) if isinstance(v, dict) and v else {key: v})
    return out


# ---------------------------------------------------------------- layers


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``. A component's ``params`` merge too,
    unless the override changes the component's ``name`` (then its params start empty)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None and isinstance(out.get(key), dict):
            continue  # an empty section (`train:` holding only comments) changes nothing
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            if "name" in value and value["name"] != out[key].get("name"):
                out[key] = {"params": {}} if "params" in out[key] else {}
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``train.lr=1e-4`` -> ``{"train": {"lr": 0.0001}}``; values are YAML scalars/lists."""
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.lr=1e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({exc})") from exc
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads 1e-4 as a string
    nested: dict[str, Any] = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_file(path: str | Path) -> dict[str, Any]:
    """A config file (``.yaml``/``.yml`` or ``.toml``) as a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist (or is not a file)")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not a readable text file: {exc}") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config file {str(path)!r}: use .yaml, .yml or .toml")
    except ConfigError:
        raise
    except Exception as exc:  # yaml.YAMLError, tomllib.TOMLDecodeError
        raise ConfigError(f"config file {str(path)!r} could not be parsed: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys at top level")
    return data


def build_config(
    preset: dict[str, Any],
    file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> RunConfig:
    """The validated RunConfig from a recipe preset, an optional file and ``key=value`` overrides."""
    layers = [(f"config file {str(file)!r}", read_file(file))] if file is not None else []
    layers += [(f"--set {text!r}", parse_override(text)) for text in overrides]
    data = preset
    for where, layer in layers:
        fixed = {"recipe", "dataset"} & set(layer)
        if fixed:
            raise ConfigError(
                f"{where}: {', '.join(sorted(fixed))} cannot be overridden: the command names "
                "them (scorebench train RECIPE --dataset NAME); set data.* to change the data."
            )
        data = merge(data, layer)
    config = _build(RunConfig, data, "")
    _check_values(config)
    return config


def from_dict(data: dict[str, Any]) -> RunConfig:
    """A RunConfig from its saved form (``config.json`` in a run directory)."""
    config = _build(RunConfig, data, "")
    _check_values(config)
    return config


# ---------------------------------------------------------------- components


def instantiate(kind: str, spec: ComponentConfig, key: str, **extra: Any) -> Any:
    """Build a component from the registry, checking its parameters against the factory.

    ``extra`` are arguments scorebench passes itself (e.g. a dataset's root and split).
    """
    from scorebench.plugins import registry

    factory = registry(kind).load(spec.name)
    check_params(factory, spec.params, f"{key}.params", spec.name)
    try:
        return factory(**extra, **spec.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {spec.name!r} rejected its parameters: {exc}") from exc


def check_params(factory: Any, params: dict[str, Any], key: str, name: str) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # builtins without a signature: let the call decide
    accepted = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        return
    allowed = [
        n for n, p in accepted.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    for param in params:
        if param not in accepted:
            close = difflib.get_close_matches(param, allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{key}.{param}: {name!r} takes no parameter {param!r}.{hint} "
                f"Its parameters: {', '.join(allowed) or '(none)'}."
            )
