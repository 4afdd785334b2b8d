"""A cell: one sampling spec of one run, and where its files live (its result also needs
a metric protocol). :mod:`scorebench.evals` makes cells; :mod:`scorebench.done` judges
what their files hold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorebench.config import RunConfig
from scorebench.metrics.protocol import protocol_fingerprint
from scorebench.runs import RunDir

SHARD = "shard-{:05d}"
GRID_FILE = "samples.png"


def shard_count(n: int, size: int) -> int:
    return (n + size - 1) // size


@dataclass
class Cell:
    """One sampling spec of one run (the cell's result also needs a protocol)."""

    run: RunDir
    config: RunConfig  # the run's config with this cell's sampling settings
    step: int
    shape: tuple[int, ...]
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return protocol_fingerprint(self.spec)

    @property
    def path(self) -> Path:
        return self.run.evals / self.key

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def sampling_record(self) -> Path:
        """Written once every shard is drawn: the cell's samples are complete."""
        return self.samples / "samples.json"

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def grid(self) -> Path:
        return self.path / GRID_FILE

    def result_path(self, fingerprint: str) -> Path:
        return self.path / "results" / f"{fingerprint}.json"

    def shard(self, k: int) -> Path:
        """Shard ``k`` without its suffix: ``.npy`` holds the samples, ``.json`` their
        count, NFE and seconds."""
        return self.samples / SHARD.format(k)

    @property
    def shard_count(self) -> int:
        return shard_count(self.config.sample.n, self.config.sample.shard_size)

    def shard_size(self, k: int) -> int:
        size = self.config.sample.shard_size
        return min(size, self.config.sample.n - k * size)
