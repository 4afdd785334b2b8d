"""What trackers call an evaluation: its name, its hyper-parameters in display order and
its numeric metrics (shared by the TensorBoard and W&B trackers)."""

from __future__ import annotations

import re
from typing import Any

from scorebench.config import flatten
from scorebench.runs import CHANGEABLE

#: Config keys shown beside the sampler in an evaluation's hyper-parameters: what makes
#: one trained model differ from another (the rest of data.*, sample.* and eval.* do not).
MODEL_KEYS = (
    "schedule.",
    "network.",
    "loss.",
    "score_function",
    "train.",
    "data.batch_size",
    "runtime.precision",
    "runtime.seed",
)
#: Of those, what a run may change without new weights says how it is watched, not what
#: it is (train.steps excepted: how long it trained), like how often it checkpoints.
WATCHING = tuple(k for k in CHANGEABLE if k != "train.steps") + ("train.checkpoint_every",)


def evaluation_name(record: dict[str, Any]) -> str:
    """A person's name for an evaluation: the sampler and its parameters, the seed, n and
    the checkpoint step, e.g. ``annealed_langevin steps_per_level=5 seed=0 n=360 step=1500``."""
    spec = record["cell"]["spec"]
    sampler = spec["sampler"]
    params = [f"{k}={_text(v)}" for k, v in sorted(flatten(sampler.get("params", {})).items())]
    step = spec["source"].get("step")
    parts = [sampler["name"], *params, f"seed={spec['seed']}", f"n={record['n_samples']}"]
    return " ".join(parts + ([f"step={step}"] if step is not None else []))


def evaluation_hparams(config: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's hyper-parameters in the order a table should show them: the sampler
    and its parameters, seed, n and step first, then what distinguishes the trained model."""
    spec = record["cell"]["spec"]
    sampler = spec["sampler"]
    values: dict[str, Any] = {"sampler": sampler["name"]}
    values.update(
        {f"sampler.{k}": v for k, v in sorted(flatten(sampler.get("params", {})).items())}
    )
    values.update(
        {
            "seed": spec["seed"],
            "n": record["n_samples"],
            "step": spec["source"].get("step"),
            "recipe": config.get("recipe"),
            "dataset": config.get("dataset"),
        }
    )
    values.update(
        (key, value)
        for key, value in flatten(config).items()
        if key.startswith(MODEL_KEYS) and not key.startswith(WATCHING)
    )
    return {
        k: v if isinstance(v, (bool, int, float, str)) else _text(v)
        for k, v in values.items()
        if v is not None
    }


def numeric_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The evaluation's metrics that are numbers, as ``eval/NAME``."""
    return {
        f"eval/{k}": float(v)
        for k, v in record["metrics"].items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def safe_name(name: str) -> str:
    """``name`` as one directory name on any file system."""
    return re.sub(r"[^\w.,=+@ -]", "_", name).strip(" .") or "_"


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(_text, value))
    return str(value).lower() if isinstance(value, bool) else str(value)
