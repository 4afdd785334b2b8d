"""Baselines as data: published numbers (with their source) and numbers scorebench measured.

Files live in ``benchmarks/baselines/*.json``; ``origin`` is ``"paper"`` (typed in from a
publication, with the citation) or ``"scorebench"`` (recomputed by
``scorebench baselines compute``, with the full protocol fingerprint of every row).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scorebench.errors import ScorebenchError

BASELINES_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines"


def baselines_dir() -> Path:
    import os

    return Path(os.environ.get("SCOREBENCH_BASELINES_DIR", BASELINES_DIR))


def load_baselines(ids: list[str]) -> list[dict[str, Any]]:
    """The baseline tables named ``ids``; a missing one is skipped with a note in the table."""
    tables = []
    for name in ids:
        path = baselines_dir() / f"{name}.json"
        if not path.is_file():
            continue
        try:
            tables.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ScorebenchError(f"baseline file {path} is not valid JSON: {exc}") from exc
    return tables


def measured_baselines(
    dataset: str,
    *,
    n: int,
    data_root: str | None = None,
    dataset_params: dict[str, Any] | None = None,
    seed: int = 0,
    extractor: str = "auto",
    metrics: tuple[str, ...] = ("isc", "fid", "kid"),
    inception_weights: str | None = None,
) -> dict[str, Any]:
    """Reference rows measured by scorebench itself under the same protocol as a run with
    ``n`` samples: held-out real data, and a diagonal Gaussian fitted to the training data."""
    import torch

    from scorebench.evaluate import evaluate_images, evaluate_points
    from scorebench.plugins import load

    params = dict(dataset_params or {})
    factory = load("datasets", dataset)
    root = data_root
    if root is None:
        from scorebench.paths import data_dir

        root = str(data_dir())
    train = factory(root, "train", **params)
    test = factory(root, "test", **params)
    real = torch.stack([_item(test[i]) for i in range(min(n, len(test)))])
    data = torch.stack([_item(train[i]) for i in range(len(train))])
    g = torch.Generator().manual_seed(seed)
    flat = data.flatten(1)
    gauss = flat.mean(0) + flat.std(0) * torch.randn(len(real), flat.shape[1], generator=g)
    gauss = gauss.view(len(real), *data.shape[1:])
    candidates = {
        "real data (held-out test split)": real,
        "diagonal Gaussian fitted to train": gauss,
    }
    if real.ndim == 4:
        uniform = torch.rand(real.shape, generator=g)
        candidates["uniform noise"] = uniform
    rows = []
    for model, samples in candidates.items():
        common = dict(dataset=dataset, data_root=data_root, seed=seed, dataset_params=params)
        if samples.ndim == 4:
            record = evaluate_images(
                samples.clamp(0, 1),
                extractor=extractor,
                metrics=metrics,
                inception_weights=inception_weights,
                **common,
            )
        else:
            record = evaluate_points(samples, **common)
        rows.append(
            {
                "model": model,
                "metrics": record["metrics"],
                "fingerprint": record["fingerprint"],
                "n_samples": record["n_samples"],
                "protocol": record["protocol"],
            }
        )
    return {
        "id": f"{dataset}-measured",
        "title": f"{dataset}: reference points measured by scorebench",
        "origin": "scorebench",
        "dataset": dataset,
        "source": {"command": f"scorebench baselines compute --dataset {dataset} --n {n}"},
        "notes": "Recomputed by the command above, never typed in. Same protocol "
        "(fingerprint) as a run of the same dataset with the same sample count.",
        "rows": rows,
    }


def _item(item: Any):
    return item[0] if isinstance(item, (tuple, list)) else item
