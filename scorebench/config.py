"""Typed, validated run configuration.

A run's config is built in layers: the recipe's preset for the dataset, then an optional
file (YAML or TOML), then ``--set key=value`` overrides. The merged dict is validated once
by the pydantic models below: types are strict (a bool is not a number, a string is not a
number), bounds and choices are field constraints, and the rules that span fields are
validators. The first problem pydantic reports becomes one :class:`ConfigError` naming the
key (``train.lr``) and what is allowed there. The same models give ``json_schema()``.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from scorebench import safe_yaml
from scorebench.errors import ConfigError

#: Any number but those in MAXIMA: far above every sensible value, below C's overflow.
MAX_INT = 2**31 - 1
MAX_SEED = 2**32 - 1  # what numpy's and every framework's generators accept
#: Upper bounds other than MAX_INT, with why (both shown in the error).
MAXIMA = {
    "runtime.seed": (MAX_SEED, "seeds are 32-bit"),
    "eval.seed": (MAX_SEED, "seeds are 32-bit"),
    "sample.seed": (MAX_SEED, "seeds are 32-bit"),
    "train.steps": (99_999_999, "checkpoint names have 8 digits"),  # step-XXXXXXXX.pt
    "train.lr": (1.0, "Adam diverges with larger learning rates"),
}
#: What a few keys must be, where the bare bound would not say it.
MUST = {
    "train.grad_clip": "> 0 (the largest gradient norm) or null",
    "train.ema": "in (0, 1) or null",
    "eval.reference_count": ">= 2 or null (the whole split)",
    "sample.seed": ">= 0 or null",
    "sample.checkpoint": "final, best or a step",
    "runtime.device": "auto, cpu, cuda or cuda:N",
}
DEVICE = r"^(auto|cpu|cuda|cuda:[0-9]+)$"


# ---------------------------------------------------------------- types
# Every model is strict; these few conversions are what a YAML or TOML file needs.


def _integral(value: Any) -> Any:  # YAML reads 1e6 as a float
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _to_str(value: Any) -> Any:  # a name or a checkpoint step written as a number
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _to_list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _int(low: Any, high: int = MAX_INT) -> Any:
    # The conversion comes last so that it wraps the bounds (they stay in the JSON schema).
    return Annotated[int, low, Le(high), BeforeValidator(_integral)]


def _str(pattern: str | None = None) -> Any:
    return Annotated[str, StringConstraints(pattern=pattern), BeforeValidator(_to_str)]


Count = _int(Gt(0))
Every = _int(Ge(0))  # 0: off
Seed = _int(Ge(0), MAX_SEED)
Float = Annotated[float, AllowInfNan(False), Le(MAX_INT)]
Str = _str()
Params = dict[str, Any]  # checked against the component's factory by check_params


def _optional(schema: dict[str, Any]) -> None:
    schema.pop("required", None)  # a file is merged over a preset: it may leave out any key


class _Config(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, validate_assignment=True, json_schema_extra=_optional
    )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class ComponentConfig(_Config):
    """A registered component by name, and the keyword arguments for its factory."""

    name: Str
    params: Params = {}


class DataConfig(_Config):
    name: Str  # a registered dataset
    root: Str | None = None  # None: scorebench's data directory
    params: Params = {}
    batch_size: Count = 128
    num_workers: Every = 0
    dequantize: bool = True  # x*255/256 + U[0,1)/256, as the official NCSN code
    hflip: bool = False
    logit_transform: bool = False


class TrainConfig(_Config):
    steps: _int(Gt(0), MAXIMA["train.steps"][0]) = 200_000
    lr: Annotated[Float, Gt(0), Le(MAXIMA["train.lr"][0])] = 1e-3
    betas: Annotated[list[Float], BeforeValidator(_to_list)] = [0.9, 0.999]
    weight_decay: Annotated[Float, Ge(0)] = 0.0
    grad_clip: Annotated[Float, Gt(0)] | None = None
    warmup: Every = 0  # linear learning-rate warm-up over the first N steps; 0: none
    ema: Annotated[Float, Gt(0), Lt(1)] | None = None  # EMA decay of the weights; None: off
    log_every: Count = 100
    checkpoint_every: Count = 5000
    keep_checkpoints: Count = 3
    grid_every: Every = 0  # sample a grid every N steps; 0: only at the end
    grid_size: Count = 64
    tensorboard: bool = False  # log training and evaluations for TensorBoard
    wandb: bool = False  # ... and for Weights & Biases (WANDB_* variables pick where)

    @field_validator("betas")
    @classmethod
    def _betas(cls, betas: list[float]) -> list[float]:
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"train.betas must be two numbers in [0, 1); got {betas}")
        return betas


class RuntimeConfig(_Config):
    device: _str(DEVICE) = "auto"  # auto: cuda if available, else cpu
    #: bf16: autocast; weights and sampler state stay fp32.
    precision: Literal["fp32", "bf16"] = "fp32"
    #: torch.compile training and sampling: about 2.5x the official step in bf16 on a CPU,
    #: but a cold compile takes minutes (cached per machine afterwards), so it is opt-in.
    compile: bool = False
    #: Off: on CPU no faster compiled, slower eager (CIFAR-10 NCSN, interleaved).
    channels_last: bool = False
    #: Adam's fused kernel; None: on CUDA only. Off on CPU: no faster over a whole CIFAR-10
    #: training step (interleaved with foreach), and it rounds differently from foreach.
    fused_adam: bool | None = None
    seed: Seed = 0


class SampleConfig(_Config):
    sampler: ComponentConfig = ComponentConfig(name="annealed_langevin")
    n: Count = 1000
    #: Samples per forward pass (memory); a sample does not depend on it (scorebench.noise).
    batch_size: Count = 100
    #: Samples per stored shard: the unit of resuming and of the ranks' shares.
    shard_size: Count = 1000
    #: final, best (needs eval.select_every), or a step number.
    checkpoint: _str(r"^(final|best|[0-9]+)$") = "final"
    #: The chains' start: uniform on [init_low, init_high] (NCSN: [0, 1]), or gaussian:
    #: N(0, sigma_max^2).
    init: Literal["uniform", "gaussian"] = "uniform"
    init_low: Float = 0.0
    init_high: Float = 1.0
    seed: Seed | None = None  # the chains' seed (sample i: (seed, i)); None: runtime.seed
    #: With runtime.precision=bf16: sample a bf16 copy of the network (weights cast once)
    #: instead of autocast. Off: on CPU (CIFAR-10 NCSN, batch 100, interleaved) no faster.
    bf16_weights: bool = False


class NLLConfig(_Config):
    """The ``nll`` metric's estimator (scorebench.metrics.nll): all of it is in the protocol."""

    solver: Literal["dopri5", "rk45"] = "dopri5"  # torchdiffeq's dopri5, scipy's RK45
    rtol: Annotated[Float, Gt(0)] = 1e-5
    atol: Annotated[Float, Gt(0)] = 1e-5
    divergence: Literal["auto", "exact", "hutchinson"] = "auto"  # auto: exact up to 16-D
    probes: Count = 1  # Rademacher probes of the Hutchinson-Skilling estimator
    split: Str = "test"  # held-out data
    n: Count | None = None  # the split's first n items; None: all
    batch_size: Count = 500


class EvalConfig(_Config):
    #: Registered metric names; None: every metric that applies to the data (each metric
    #: declares the data kinds it measures and what it needs, e.g. a known mixture).
    metrics: Annotated[list[Str], BeforeValidator(_to_list)] | None = None
    extractor: Str = "auto"  # checked against the metrics registry
    split: Str | None = None  # None: the dataset's reference split
    reference_count: _int(Ge(2)) | None = None  # None: the whole split
    cross_check: bool = False
    select_every: Every = 0  # the paper's checkpoint selection: FID every N steps (0: off)
    select_n: Count = 1000
    seed: Seed = 0  # IS shuffling, KID subsets: part of the protocol, not a sampling seed
    nll: NLLConfig = NLLConfig()  # used when metrics name nll


class RunConfig(_Config):
    recipe: Str
    dataset: Str
    schedule: ComponentConfig
    network: ComponentConfig | None = None  # None only with score_function
    loss: ComponentConfig | None = None
    #: An analytic score function (an oracle) in place of a trained network: nothing is
    #: trained, samplers query it exactly (``scorebench bench`` oracle sources).
    score_function: ComponentConfig | None = None
    data: DataConfig
    train: TrainConfig = TrainConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    sample: SampleConfig = SampleConfig()
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.score_function is None and (self.network is None or self.loss is None):
            raise ValueError("a config needs network and loss (or a score_function to sample)")
        if self.sample.checkpoint == "best" and not self.eval.select_every:
            raise ValueError(
                "sample.checkpoint=best needs eval.select_every > 0 (checkpoint selection)"
            )
        return self


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file (YAML, TOML or JSON), for editors: every key is
    optional (a file is merged over a preset), unknown keys are rejected, and choices and
    bounds are the ones checked here. Component parameters are checked against their
    factories at run time, not by the schema."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **RunConfig.model_json_schema(),
        "title": "scorebench run config",
    }


# ---------------------------------------------------------------- errors


def _validate(data: Any) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown key first: it explains the "missing" errors a misspelling causes.
        first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
        raise ConfigError(_message(first)) from None


def _message(error: dict[str, Any]) -> str:
    *path, last = error["loc"] or ("",)
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])[1:]
    where = ".".join(map(str, path)) or "config"
    kind, value, ctx = error["type"], error["input"], error.get("ctx", {})
    if kind == "extra_forbidden":
        fields = list(_model_at(path).model_fields)
        close = difflib.get_close_matches(str(last), fields, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown key {key!r}.{hint} Allowed keys in {where}: {', '.join(fields)}."
    if kind == "missing":
        return f"missing key {key!r} in {where}"
    expected = {
        "bool_type": "true or false",
        "int_type": "an integer",
        "float_type": "a number",
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping of keys",
    }
    if kind in expected:
        return f"{key or 'config'}: expected {expected[kind]}, got {value!r}"
    if kind == "literal_error":
        allowed = get_args(_model_at(path).model_fields[last].annotation)
        return f"{key} must be one of {', '.join(allowed)}; got {value!r}"
    if kind == "finite_number":
        return f"{key} must be a finite number, got {value!r}"
    if kind == "less_than_equal":
        top, why = MAXIMA.get(key, (MAX_INT, "larger values are surely a mistake"))
        return f"{key} must be <= {top} ({why}), got {value!r}"
    if key in MUST:
        return f"{key} must be {MUST[key]}, got {value!r}"
    if kind == "greater_than" and ctx.get("gt") == 0:
        return f"{key} must be positive, got {value!r}"
    if kind == "greater_than_equal":
        return f"{key} must be >= {ctx['ge']}, got {value!r}"
    if kind == "value_error":
        return str(ctx["error"])
    return f"{key or 'config'}: {error['msg']}"


def _model_at(path: list[Any]) -> type[BaseModel]:
    """The model of the section at ``path`` (``["sample", "sampler"]``)."""
    model: type[BaseModel] = RunConfig
    for name in path:
        annotation = model.model_fields[name].annotation
        model = next(t for t in (annotation, *get_args(annotation)) if _is_model(t))
    return model


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def check_device(device: str, key: str = "runtime.device") -> str:
    """auto, cpu, cuda or cuda:N."""
    if not re.fullmatch(DEVICE, device):
        raise ConfigError(f"{key} must be {MUST['runtime.device']}; got {device!r}")
    return device


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}`` (component params included)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, dict) and v else {key: v})
    return out


# ---------------------------------------------------------------- layers


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``. A component's ``params`` merge too,
    unless the override changes the component's ``name`` (then its params start empty); a
    section that names nothing yet (a recipe's shared ``data`` settings) keeps its keys."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None and isinstance(out.get(key), dict):
            continue  # an empty section (`train:` holding only comments) changes nothing
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            if "name" in value and out[key].get("name") not in (None, value["name"]):
                out[key] = {"params": {}} if "params" in out[key] else {}
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``train.lr=1e-4`` -> ``{"train": {"lr": 0.0001}}``; values are YAML scalars/lists."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.lr=1e-4")
    try:
        value = safe_yaml.load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({exc})") from exc
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads 1e-4 as a string
    nested: dict[str, Any] = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


_DECIMAL = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)", re.I | re.A)


def _looks_numeric(text: str) -> bool:
    """A plain ASCII decimal number, or nan/inf (then refused as not finite by name);
    ``float`` alone would also take ``1_000`` and other scripts' digits."""
    return _DECIMAL.fullmatch(text.strip()) is not None


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
            safe_yaml.too_deep(data)
        elif path.suffix in (".yaml", ".yml"):
            data = safe_yaml.load(text) or {}
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
    return _validate(data)


def from_dict(data: dict[str, Any]) -> RunConfig:
    """A RunConfig from its saved form (``config.json`` in a run directory)."""
    return _validate(data)


# ---------------------------------------------------------------- components


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
