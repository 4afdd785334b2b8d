"""What is done: the one place that decides whether a stage may skip its work.

* **training**: an intact checkpoint at or past ``train.steps``, and that step's grid (a run
  killed between the two is finished by ``train``);
* **sampling**: every shard of a cell whole on disk, and its sampling record written for
  this sample count;
* **evaluation**: the cell's result under a protocol fingerprint (with the torchmetrics
  cross-check when one is asked for).

Files scorebench derived count as not done when they are missing or damaged: the stage
writes them again. Layout (file names) belongs to :class:`scorebench.runs.RunDir` and
:class:`scorebench.cells.Cell`; this module only judges what they hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorebench.contracts import IMAGES, kind_of
from scorebench.metrics.protocol import record_key
from scorebench.records import ResultRecord, problems

if TYPE_CHECKING:
    from scorebench.cells import Cell
    from scorebench.config import RunConfig
    from scorebench.runs import RunDir


def read_derived(path: Path) -> Any:
    """A JSON file scorebench derived (and can derive again), or None if missing or damaged."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def trained(run: RunDir, config: RunConfig) -> bool:
    steps = run.intact_checkpoint_steps()
    return bool(steps) and steps[-1] >= config.train.steps and run.grid_path(steps[-1]).is_file()


def shard_done(cell: Cell, k: int) -> bool:
    """Shard ``k`` and its metadata are on disk and whole: the rows this shard draws, of the
    cell's sample shape and storage dtype (a damaged or replaced shard is redrawn)."""
    import numpy as np

    base = cell.shard(k)
    want = np.uint8 if kind_of(cell.shape) == IMAGES else np.float32
    try:
        array = np.load(base.with_suffix(".npy"), mmap_mode="r", allow_pickle=False)
        meta = json.loads(base.with_suffix(".json").read_bytes())
        whole = (
            array.dtype == want
            and array.shape == (cell.shard_size(k), *cell.shape)
            and meta["n"] == array.shape[0]
            and meta["seconds"] >= 0
            and meta["nfe_per_sample"] >= 0
        )
    except (OSError, ValueError, TypeError, KeyError, IndexError, RecursionError):
        return False
    return bool(whole)


def missing_shards(cell: Cell) -> list[int]:
    return [k for k in range(cell.shard_count) if not shard_done(cell, k)]


def sampled(cell: Cell) -> dict[str, Any] | None:
    """The cell's sampling record, if its samples are complete for this sample count."""
    record = read_derived(cell.sampling_record)
    if isinstance(record, dict) and record.get("n") == cell.config.sample.n:
        return record
    return None


def evaluated(cell: Cell, key: str, *, cross_check: bool = False) -> dict | None:
    """The stored result of ``cell`` under a plan's ``key``, if whole."""
    record = read_derived(cell.result_path(key))
    if problems(ResultRecord, record) is not None or record_key(record) != key:
        return None
    if cross_check and "cross_check" not in record:
        return None
    return record
