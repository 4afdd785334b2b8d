"""Baselines as data: published numbers (with their source) and numbers scorebench measured.

Tables ship with scorebench (``scorebench/published/baselines/*.json``, found by name) or are
any JSON file of the same format (found by path). ``origin`` is ``"paper"`` (typed in from a
publication, with the citation) or ``"scorebench"`` (recomputed by
``scorebench baselines compute``, with the full protocol fingerprint of every row).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scorebench.components import build_dataset
from scorebench.config import build_config
from scorebench.contracts import IMAGES, kind_of
from scorebench.errors import ScorebenchError
from scorebench.evaluate import evaluate_config
from scorebench.metrics.extractors import Weights
from scorebench.published import published
from scorebench.report.leaderboard import EXACT_SAMPLES, mean_metrics

#: Independent exact draws behind an oracle's reference row (mean and 95% band: the
#: protocol's noise floor).
EXACT_DRAWS = 5


def baselines_dir() -> Path:
    """The shipped tables, or ``$SCOREBENCH_BASELINES_DIR`` where set."""
    import os

    return Path(os.environ.get("SCOREBENCH_BASELINES_DIR") or published("baselines"))


def load_baselines(ids: list[str]) -> list[dict[str, Any]]:
    """The baseline tables ``ids``: a shipped table's name, or the path of a JSON file."""
    tables = []
    for name in ids:
        path = Path(name) if name.endswith(".json") else baselines_dir() / f"{name}.json"
        if not path.is_file():
            known = sorted(p.stem for p in baselines_dir().glob("*.json"))
            raise ScorebenchError(
                f"no baseline table {name!r}; known: {', '.join(known)} (in "
                f"{baselines_dir()}), or give the path of a .json table"
            )
        try:
            tables.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ScorebenchError(f"baseline file {path} is not valid JSON: {exc}") from exc
    return tables


def _exact_draws(config: Any) -> list[Any]:
    """EXACT_DRAWS exact draws of an oracle, each of the protocol's n, from streams that
    are neither its reference's nor each other's (the test splits of oracle seeds 1, 2...)."""
    import torch

    draws = []
    for seed in range(1, EXACT_DRAWS + 1):
        other = build_config(config.to_dict(), None, [f"data.params.seed={seed}"])
        test = build_dataset(other, "test")
        draws.append(torch.stack([test[i] for i in range(len(test))]))
    return draws


def measured_baselines(
    config: Any, *, source: dict[str, Any], inception_weights: Weights = None
) -> dict[str, Any]:
    """Reference rows measured by scorebench under the protocol of ``config`` (a run's
        config: same dataset, extractor, metrics, sample count, so the same fingerprint):
        held-out real data, a diagonal Gaussian fitted to the training data and, for images,
        uniform noise. ``source`` (the command, recipe, dataset and overrides that made
    ``config``) is recorded so the table can be recomputed and its protocol checked."""
    import torch

    train, test = build_dataset(config, "train"), build_dataset(config, "test")
    n = config.sample.n
    real = torch.stack([test[i] for i in range(min(n, len(test)))])
    data = torch.stack([train[i] for i in range(len(train))])
    g = torch.Generator().manual_seed(config.runtime.seed)
    flat = data.flatten(1)
    gauss = flat.mean(0) + flat.std(0) * torch.randn(len(real), flat.shape[1], generator=g)
    candidates = {
        "real data (held-out test split)": real,
        "diagonal Gaussian fitted to train": gauss.view(len(real), *data.shape[1:]),
    }
    if kind_of(real.shape[1:]) == IMAGES:
        candidates["uniform noise"] = torch.rand(real.shape, generator=g)
        candidates = {k: v.clamp(0, 1) for k, v in candidates.items()}
    oracle = config.data.name == "oracle"
    if oracle:  # an oracle's test split is one exact draw: measure several
        candidates.pop("real data (held-out test split)")
        candidates = {f"{EXACT_SAMPLES} ({EXACT_DRAWS} draws)": _exact_draws(config), **candidates}
    rows = []
    for model, samples in candidates.items():
        records = [
            evaluate_config(draw, config, inception_weights=inception_weights)
            for draw in (samples if isinstance(samples, list) else [samples])
        ]
        metrics, intervals = mean_metrics([r["metrics"] for r in records])
        rows.append(
            {
                "model": model,
                "metrics": metrics,
                **({"intervals": intervals} if len(records) > 1 else {}),
                "fingerprint": records[0]["fingerprint"],
                "n_samples": records[0]["n_samples"],
                "protocol": records[0]["protocol"],
            }
        )
    dataset = config.dataset
    return {
        "id": f"{dataset}-measured",
        "title": f"{dataset}: reference points measured by scorebench",
        "origin": "scorebench",
        "dataset": dataset,
        "source": source,
        "notes": "Recomputed by the command above, never typed in. Same protocol "
        "(fingerprint) as a run of the same dataset with the same sample count.",
        "rows": rows,
    }
