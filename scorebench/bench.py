"""``scorebench bench``: a matrix of score sources x samplers x parameter grids x seeds.

Each point of the matrix is a cell (:mod:`scorebench.cells`), cached under its run by its
full spec: a killed bench, rerun, computes only the cells that are missing, and a finished
bench computes nothing and prints the same table. A spec file (YAML or TOML)::

    sources:                              # trained run directories, or oracles:
      - runs/ncsn-digits
      - score_function: toy-gmm           # a registered analytic score (exact at every sigma)
        params: {}
        config:                           # over the oracle's base config (OracleSource)
          schedule: {name: geometric, params: {sigma_max: 20, sigma_min: 0.1}}
    samplers:
      - name: annealed_langevin
        grid: {steps_per_level: [5, 10, 20]}   # one cell per value (product over keys)
        params: {step_lr: 1.0e-4}              # fixed for every cell of this sampler
      - name: my_sampler                       # any registered sampler, a plugin's too
    seeds: 3                              # 0, 1, 2; or a list such as [0, 7, 11]
    n: 360                                # samples per cell (default: each run's sample.n)
    set: ["eval.reference_count=1000"]    # sample.* / eval.* overrides for every cell

The flags give the common case without a file; on the command line a sampler is
``NAME[:KEY=V1,V2,...]...``, e.g. ``annealed_langevin:steps_per_level=5,10,20``. Plugins
ship named specs (``register_benches``; ``--preset NAME``).

An oracle source samples an analytic score function instead of a network, so every
difference between samplers is the sampler's: its cells live in a directory of its own
under the bench's output, and its reference set is exact samples of the same n (dataset
``oracle``); exact samples of another stream are its "exact samples" row.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    ValidationError,
    field_validator,
)

from scorebench import executors, safe_yaml
from scorebench.cells import make_cell
from scorebench.checks import MIN_SAMPLES
from scorebench.config import MAXIMA, build_config, check_device, merge, read_file
from scorebench.done import read_derived
from scorebench.errors import ConfigError, ScorebenchError, UnknownComponentError, problems
from scorebench.executors import ExecutorSpec
from scorebench.files import atomic_write_json
from scorebench.metrics.extractors import InceptionWeights, Weights
from scorebench.metrics.protocol import canonical_json, protocol_fingerprint
from scorebench.plugins import get_plugin_manager, registry
from scorebench.report.baselines import measured_baselines
from scorebench.runs import RunDir, locked
from scorebench.stores import cached_result, plan, plan_key
from scorebench.workflow import measure, report_stage

MAX_SEED = MAXIMA["sample.seed"][0]
MAX_SEED_COUNT = 1000  # cells are full sampling jobs: more is surely a typo
BENCH_FILE = "bench.json"  # the spec and cells of a bench; marks its --out as a bench's
ORACLES = "oracles"  # under --out: one pseudo-run directory per oracle source


class SamplerGrid(BaseModel):
    """One sampler of a bench: fixed parameters and a grid of values to sweep."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    params: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"the grid of {key!r} is empty: give at least one value")
        return grid

    def points(self) -> list[dict[str, Any]]:
        """Every parameter combination of the grid, over the fixed parameters."""
        keys = list(self.grid)
        return [
            {**self.params, **dict(zip(keys, values, strict=True))}
            for values in itertools.product(*(self.grid[k] for k in keys))
        ]


def _plain_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        canonical_json(value)  # these enter the cell spec and its hash
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be plain JSON data with finite numbers ({exc})") from None
    return value


class _ConfiguredSource(BaseModel):
    """A source that is not a trained run, with a ``config`` merged over its own; the keys
    in ``FIXED`` label its rows and cannot be changed there (``FIXED_BY`` says why)."""

    model_config = ConfigDict(extra="forbid")

    FIXED: ClassVar[tuple[str, ...]] = ("recipe", "dataset", "score_function")
    FIXED_BY: ClassVar[str] = ""

    config: dict[str, Any] = {}

    @field_validator("config")
    @classmethod
    def _fixed_keys(cls, config: dict[str, Any]) -> dict[str, Any]:
        fixed = sorted(set(cls.FIXED) & set(_plain_json(config)))
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot be set in config: {cls.FIXED_BY}")
        return config


class OracleSource(_ConfiguredSource):
    """An analytic score function as a score source, with the config its cells run under."""

    FIXED_BY: ClassVar[str] = (
        "an oracle's rows are labelled by its score function (give it as score_function, "
        "its parameters as params)"
    )

    score_function: str = Field(min_length=1)
    params: dict[str, Any] = {}

    @field_validator("params")
    @classmethod
    def _plain(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _plain_json(value)

    def base_config(self) -> dict[str, Any]:
        """The pseudo-run's config: the oracle, its levels and the oracle reference set."""
        base = {
            "recipe": "oracle",
            "dataset": self.score_function,
            "schedule": {"name": "geometric", "params": {}},
            "score_function": {"name": self.score_function, "params": self.params},
            "data": {
                "name": "oracle",
                "params": {"score_function": self.score_function, "params": self.params},
            },
        }
        return merge(base, self.config)


class DiffusersSource(_ConfiguredSource):
    """A diffusers checkpoint (plugin ``scorebench-bridges``) measured under the protocol
    of ``dataset``: the data, metrics and sample counts of ``protocol``'s preset for it;
    ``config`` is merged over the protocol's (data.root, eval.*...)."""

    FIXED: ClassVar[tuple[str, ...]] = (*_ConfiguredSource.FIXED, "schedule")
    FIXED_BY: ClassVar[str] = "the model, its levels and its protocol are the source's own"

    diffusers: str = Field(min_length=1)  # a pipeline directory or a hub id
    subfolder: str = "unet"
    revision: str | None = None
    dtype: str = "float32"
    dataset: str | None = Field(default=None, validate_default=True)
    protocol: str = "ncsn"  # the recipe whose dataset preset sets the protocol

    @field_validator("dataset")
    @classmethod
    def _named(cls, dataset: str | None) -> str:
        if not dataset:
            raise ValueError(
                "a diffusers source is measured under a dataset's protocol: give dataset "
                "(--dataset cifar10 on the command line)"
            )
        return dataset

    @property
    def score_function(self) -> str:
        return "diffusers"

    def base_config(self) -> dict[str, Any]:

        try:
            recipe = registry("recipes").load(self.protocol)()
            preset = recipe.preset(self.dataset)
        except ScorebenchError as exc:
            raise ConfigError(f"diffusers source {self.diffusers!r}: {exc}") from exc
        params = {
            "model": self.diffusers,
            "subfolder": self.subfolder,
            "revision": self.revision,
            "dtype": self.dtype,
        }
        sample = {k: v for k, v in preset.get("sample", {}).items() if k in ("n", "batch_size")}
        base = {
            "recipe": "diffusers",
            "dataset": self.dataset,
            "schedule": {"name": "diffusers", "params": params},
            "score_function": {"name": "diffusers", "params": params},
            "data": preset["data"],
            "eval": preset.get("eval", {}),
            "sample": {**sample, "sampler": {"name": "pf_heun", "params": {}}},
        }
        return merge(base, self.config)


def _source_kind(value: Any) -> str:
    if isinstance(value, (dict, DiffusersSource, OracleSource)):
        is_model = (
            "diffusers" in value if isinstance(value, dict) else isinstance(value, DiffusersSource)
        )
        return "diffusers" if is_model else "oracle"
    return "run"


Source = Annotated[
    Annotated[str, Tag("run")]
    | Annotated[OracleSource, Tag("oracle")]
    | Annotated[DiffusersSource, Tag("diffusers")],
    Discriminator(_source_kind),
]


class BenchSpec(BaseModel):
    """What a bench measures. Every field is checked before anything is computed."""

    model_config = ConfigDict(extra="forbid")

    sources: list[Source] = []
    samplers: list[SamplerGrid] = []  # none: each run's own sampler
    seeds: StrictInt | list[StrictInt] = 1  # strict: true is not a seed
    n: StrictInt | None = Field(default=None, ge=MIN_SAMPLES)
    set: list[str] = []
    executor: ExecutorSpec = ExecutorSpec()  # where cells run; never part of a cell

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: int | list[int]) -> int | list[int]:
        if isinstance(seeds, int):
            if not 1 <= seeds <= MAX_SEED_COUNT:
                raise ValueError(f"a seed count must be in 1..{MAX_SEED_COUNT}, got {seeds}")
            return seeds
        if not seeds:
            raise ValueError("the seed list is empty")
        if any(not 0 <= s <= MAX_SEED for s in seeds):
            raise ValueError(f"seeds must be in 0..{MAX_SEED}, got {seeds}")
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            raise ValueError(f"seed(s) {repeated} are listed twice: each seed is one cell")
        return seeds

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


def _validated(data: Any, where: str) -> BenchSpec:
    try:
        return BenchSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {problems(exc)}") from exc


def parse_sampler(text: str) -> dict[str, Any]:
    """``NAME[:KEY=V1,V2,...]...`` -> a sampler grid (values are YAML scalars). NAME may be
    qualified by its plugin, ``PLUGIN:NAME`` (e.g. ``samplers:dpmpp_2m``)."""
    name, *parts = text.split(":")
    plugins = {p.name for p in get_plugin_manager().plugins}
    if parts and "=" not in parts[0] and name.strip() in plugins:
        name += ":" + parts.pop(0)
    grid: dict[str, list[Any]] = {}
    for part in parts:
        key, sep, values = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--sampler {text!r}: expected NAME[:KEY=V1,V2,...], e.g. "
                "annealed_langevin:steps_per_level=5,10,20"
            )
        if key.strip() in grid:
            raise ConfigError(
                f"--sampler {text!r}: {key.strip()!r} is given twice; list every value once "
                f"({key.strip()}=V1,V2,...)"
            )
        try:
            grid[key.strip()] = [safe_yaml.load(v) for v in values.split(",") if v.strip()]
        except (yaml.YAMLError, ValueError) as exc:
            raise ConfigError(f"--sampler {text!r}: a value is not valid YAML ({exc})") from exc
    return {"name": name.strip(), "grid": grid}


def parse_seeds(text: str) -> int | list[int]:
    """``3`` (seeds 0, 1, 2) or ``0,7,11`` (those seeds): ASCII digits only (``int`` would
    also read ``1_000`` and other scripts' digits)."""
    parts = [p.strip() for p in text.split(",")] if "," in text else [text.strip()]
    if not all(re.fullmatch(r"[0-9]+", p, re.ASCII) for p in parts if p) or not any(parts):
        raise ConfigError(f"--seeds {text!r}: give a count (3) or a list (0,7,11)")
    numbers = [int(p) for p in parts if p]
    return numbers if "," in text else numbers[0]


def load_spec(
    file: str | None,
    *,
    preset: str | None = None,
    sources: list[str] = (),
    samplers: list[str] = (),
    seeds: str | None = None,
    n: int | None = None,
    overrides: list[str] = (),
    source_settings: list[str] = (),
    dataset: str | None = None,
    executor: str | None = None,
    workers: int | None = None,
) -> BenchSpec:
    """The bench spec from an optional file, then the flags (sources and samplers add to
    the file's; seeds and n replace them). A source ``diffusers:PATH_OR_HUB_ID`` is a
    diffusers model, with ``source_settings`` (``KEY=V``) and ``dataset`` applied to it."""
    data: dict[str, Any] = preset_spec(preset) if preset else {}
    data.update(read_file(file) if file else {})
    where = f"bench spec {file!r}" if file else f"bench preset {preset!r}" if preset else "flags"
    if not isinstance(data.get("sources", []), list) or not isinstance(
        data.get("samplers", []), list
    ):
        raise ConfigError(f"{where}: sources and samplers must be lists")
    models = _source_settings(source_settings, dataset)
    data["sources"] = [
        *data.get("sources", []),
        *(
            {"diffusers": s.removeprefix(DIFFUSERS_PREFIX), **models}
            if s.startswith(DIFFUSERS_PREFIX)
            else s
            for s in sources
        ),
    ]
    data["samplers"] = [*data.get("samplers", []), *map(parse_sampler, samplers)]
    data["set"] = [*data.get("set", []), *overrides]
    if seeds is not None:
        data["seeds"] = parse_seeds(seeds)
    if n is not None:
        data["n"] = n
    chosen = {"name": executor, "workers": workers}
    if any(v is not None for v in chosen.values()):
        given = data.get("executor", {})
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: executor must be a mapping, e.g. {{name: local}}")
        data["executor"] = {**given, **{k: v for k, v in chosen.items() if v is not None}}
    spec = _validated(data, where)
    if not spec.sources:
        raise ConfigError(f"{where}: no score source; give run directories")
    return spec


DIFFUSERS_PREFIX = "diffusers:"
FILE_ONLY = ("diffusers", "config")  # source fields --source-set does not take


def _source_settings(settings: list[str], dataset: str | None) -> dict[str, Any]:
    """``--source-set KEY=V`` (and ``--dataset``) for the diffusers sources of the flags."""
    values: dict[str, Any] = {} if dataset is None else {"dataset": dataset}
    for text in settings:
        key, sep, value = text.partition("=")
        if not sep or key.strip() not in DiffusersSource.model_fields or key.strip() in FILE_ONLY:
            fields = ", ".join(f for f in DiffusersSource.model_fields if f not in FILE_ONLY)
            raise ConfigError(f"--source-set {text!r}: expected KEY=VALUE with KEY one of {fields}")
        values[key.strip()] = value.strip()
    return values


def preset_spec(name: str) -> dict[str, Any]:
    """A bench spec registered by a plugin (``register_benches``)."""
    try:
        spec = registry("benches").load(name)()
    except UnknownComponentError as exc:
        raise ConfigError(f"--preset: {exc}") from exc
    if not isinstance(spec, dict):
        raise ConfigError(f"bench preset {name!r} did not give a spec mapping")
    return spec


def cell_overrides(spec: BenchSpec) -> list[list[str]]:
    """The ``key=value`` overrides of every cell of the matrix, for one source."""

    def setting(key: str, value: Any) -> str:
        return f"{key}={json.dumps(value)}"  # JSON is YAML: the value round-trips exactly

    samplers: list[list[str]] = [] if spec.samplers else [[]]  # [[]]: the run's own
    for grid in spec.samplers:
        for params in grid.points():
            samplers.append(
                [setting("sample.sampler.name", grid.name)]
                + [setting(f"sample.sampler.params.{k}", v) for k, v in params.items()]
            )
    common = list(spec.set) + ([setting("sample.n", spec.n)] if spec.n else [])
    return [
        common + sampler + [setting("sample.seed", seed)]
        for sampler in samplers
        for seed in spec.seed_list()
    ]


def source_run(source: OracleSource | DiffusersSource, root: Path) -> Any:
    """The directory under ``root`` holding the cells of a source that is not a trained run
    (an oracle, a diffusers model), with its config: one directory per source."""
    config = build_config(source.base_config())
    key = protocol_fingerprint(source.model_dump())
    run = RunDir(root / f"{source.score_function}-{key[:8]}")
    if not run.config.is_file():
        atomic_write_json(run.config, config.to_dict())
    return run


def model_source(text: str, settings: list[str], dataset: str | None) -> DiffusersSource:
    """``diffusers:PATH_OR_HUB_ID`` with ``--source-set KEY=V`` and ``--dataset``, checked."""
    data = {"diffusers": text.removeprefix(DIFFUSERS_PREFIX), **_source_settings(settings, dataset)}
    try:
        return DiffusersSource.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"source {text!r}: {problems(exc)}") from exc


def plan_cells(spec: BenchSpec, out_dir: str | Path) -> list[Any]:
    """Every cell of the bench, built (names, parameters, checkpoints checked) before any
    is computed."""
    cells = []
    for source in spec.sources:
        if isinstance(source, (OracleSource, DiffusersSource)):
            run = source_run(source, Path(out_dir) / ORACLES)
        else:
            run = RunDir(source)
            run.load_config()  # a clear error when it is not a run directory
        for overrides in cell_overrides(spec):
            cell = make_cell(run, overrides)
            if all(c.path != cell.path for c in cells):
                cells.append(cell)
    return cells


def run_bench(
    spec: BenchSpec,
    out_dir: str | Path,
    *,
    device: str = "auto",
    inception_weights: Weights = None,
    log=print,
    command: str | None = None,
) -> dict[str, Any] | None:
    """Measure every cell (cached ones are skipped) on the spec's executor and write the
    leaderboard to ``out_dir``. Returns the board (None on non-zero torchrun ranks), or
    ``{"submitted": ...}`` when the cells went to Slurm."""
    from contextlib import ExitStack

    out = Path(out_dir)
    check_device(device, "--device")
    executors.check_executor(spec.executor, device)
    check_output(out)  # before an oracle's config is written there
    if spec.executor.name != "inline":
        executors.check_writable(out)
    cells = plan_cells(spec, out)
    log(f"bench: {len(cells)} cells ({len(spec.sources)} sources)")
    with ExitStack() as stack:
        stack.enter_context(locked(claim_output(out), "bench"))
        for run in {str(c.run.path): c.run for c in cells}.values():
            stack.enter_context(locked(run, "bench"))
        if spec.executor.name != "inline":
            submitted = _dispatch(spec, cells, out, device, inception_weights, log, command)
            if submitted is not None:
                return submitted
        records = measure(cells, device=device, inception_weights=inception_weights, log=log)
        if records is None:
            return None
        return _report(spec, cells, records, out, inception_weights, command)


def _dispatch(spec: BenchSpec, cells, out: Path, device: str, weights: Weights, log, command):
    """Hand the missing cells to the spec's executor (cells whose result is stored are
    left out). Local workers are waited for; a Slurm submission returns what was
    submitted."""
    plans: dict[str, Any] = {}
    todo = []
    for cell in cells:
        if plan_key(cell) not in plans:
            plans[plan_key(cell)] = plan(cell, device="cpu", inception_weights=weights)
        if cached_result(cell, plans[plan_key(cell)].key) is None:
            todo.append(cell)
    if not todo:
        return None
    bench = _portable(spec)
    summary = {
        "spec": bench,
        "cells": [c.key for c in cells],
        "command": command,
        "inception_weights": _weights_record(weights),  # --status finds the same cells
    }
    atomic_write_json(out / BENCH_FILE, summary)
    cells_of = functools.partial(_planned, bench, str(out.resolve()))
    keys = [c.key for c in todo]
    name = spec.executor.name
    log(f"bench: {len(todo)} missing cells to the {name} executor")
    if name == "slurm":
        jobs = executors.submit_slurm(
            spec.executor, cells_of, out, {c.key: c.path for c in todo}, device, weights
        )
        return {"submitted": len(jobs), "job_id": jobs[0].job_id.split("_")[0]}
    failures = executors.submit_local(spec.executor, cells_of, out, keys, device, weights)
    if failures:
        raise ScorebenchError(
            f"{len(failures)} worker(s) failed: {'; '.join(failures)}. See `scorebench bench "
            f"--status {out}`; the same command again computes only the missing cells."
        )
    return None


def _weights_record(weights: Weights) -> dict[str, Any] | None:
    """The Inception weights a bench was given, as ``bench --status`` reuses them."""
    if isinstance(weights, InceptionWeights):
        path, trusted = weights.path, weights.trusted
    else:
        path, trusted = weights, False
    return {"path": str(Path(path).resolve()), "trusted": trusted} if path else None


def _planned(spec: dict[str, Any], out_dir: str) -> list[Any]:
    """The cells of a bench spec as a worker rebuilds them (what it is handed to call)."""
    return plan_cells(BenchSpec.model_validate(spec), out_dir)


def _portable(spec: BenchSpec) -> dict[str, Any]:
    """The spec as workers in another directory (a Slurm node) read it: run directories
    as absolute paths."""
    data = spec.model_dump()
    data["sources"] = [str(Path(s).resolve()) if isinstance(s, str) else s for s in data["sources"]]
    return data


def check_output(out: Path) -> None:
    """``--out`` is new, empty, or a bench's output (``bench.json``): a bench never
    replaces an unrelated ``leaderboard.json``."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory for the bench's output.")
    if not out.is_dir():
        return
    mine = read_derived(out / BENCH_FILE)
    others = sorted(p.name for p in out.iterdir() if p.name not in (".lock", ORACLES))
    if others and not (isinstance(mine, dict) and "spec" in mine):
        raise ConfigError(
            f"--out {out} holds files that are not a scorebench bench's output "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); give an empty "
            "or new directory, or a previous bench's --out."
        )


def claim_output(out: Path) -> Any:
    """The output directory (checked by :func:`check_output`) as a lockable directory,
    marked as a bench's."""
    out.mkdir(parents=True, exist_ok=True)
    if read_derived(out / BENCH_FILE) is None:
        atomic_write_json(out / BENCH_FILE, {"spec": None, "cells": None})
    return RunDir(out)


def _report(
    spec: BenchSpec,
    cells: list[Any],
    records: list[dict],
    out: Path,
    weights: Weights,
    command: str | None,
):
    """The bench's leaderboard, beside the baselines of its recipes and oracles, and what
    was run (the command and the whole spec)."""
    baselines: list[str] = []
    tables: dict[str, dict[str, Any]] = {}
    for cell, record in zip(cells, records, strict=True):
        if cell.config.score_function is not None:
            fingerprint = record["fingerprint"]
            if fingerprint not in tables:
                tables[fingerprint] = oracle_baselines(cell, fingerprint, weights)
            continue
        recipe = registry("recipes").load(cell.config.recipe)()
        wanted = recipe.baselines.get(cell.config.dataset, [])
        baselines += [b for b in wanted if b not in baselines]
    runs = list({str(c.run.path): c.run for c in cells}.values())
    summary = {"spec": spec.model_dump(), "cells": [c.key for c in cells], "command": command}
    atomic_write_json(out / BENCH_FILE, summary)
    return report_stage(
        runs,
        out,
        baselines=baselines,
        records=records,
        tables=[*tables.values()],
        bench={"command": command, "spec": summary["spec"]},
    )


def oracle_baselines(cell: Any, fingerprint: str, inception_weights: Weights = None) -> dict:
    """Reference rows of a score-function source's protocol (an oracle's exact samples of
    another stream, or a dataset's held-out split; a fitted Gaussian; noise), measured once
    per protocol and kept beside the source's cells."""
    path = cell.run.path / f"baselines-{fingerprint}.json"
    table = read_derived(path)  # a damaged one is measured again
    if isinstance(table, dict) and isinstance(table.get("rows"), list):
        return table
    source = {"command": "scorebench bench (score-function source)", "oracle": cell.spec["source"]}
    table = measured_baselines(cell.config, source=source, inception_weights=inception_weights)
    atomic_write_json(path, table)
    return table


def bench_status(out_dir: str | Path, weights: Weights = None) -> tuple[dict, BenchSpec, list]:
    """``bench --status OUT``: the bench's summary, its spec and each cell's state
    (:func:`scorebench.executors.cell_states`)."""
    summary = read_derived(Path(out_dir) / BENCH_FILE)
    if not isinstance(summary, dict) or not isinstance(summary.get("spec"), dict):
        raise ScorebenchError(
            f"--status {out_dir}: no bench has been started there ({BENCH_FILE} is missing "
            "or from a bench that has not finished planning)."
        )
    given = weights.path if isinstance(weights, InceptionWeights) else weights
    recorded = summary.get("inception_weights")
    if given is None and isinstance(recorded, dict) and recorded.get("path"):
        weights = InceptionWeights(recorded["path"], bool(recorded.get("trusted")))
    spec = BenchSpec.model_validate(summary["spec"])
    return summary, spec, executors.cell_states(plan_cells(spec, out_dir), weights)
