"""Reads what an offline W&B run logged, from its ``run-ID.wandb`` transaction log.

The log is W&B's LevelDB-style record file: a 7-byte header (``:W&B``, magic, version),
then 32 KiB blocks of chunks (CRC-32, length, type: full/first/middle/last), each record a
``wandb_internal_pb2.Record``. wandb no longer ships a Python reader for it, so the tests
read it here.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _records(data: bytes):
    assert data[:4] == b":W&B", "not a W&B transaction log"
    pos, parts = 7, []
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # the block's tail is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        if kind == 0:  # zero padding at the end of a block
            pos += left
            continue
        parts.append(data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length])
        pos += CHUNK_HEADER + length
        if kind in (FULL, LAST):
            yield b"".join(parts)
            parts = []


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read_offline_run(run_dir: Path) -> OfflineRun:
    """The run, config updates, history rows and summary in an ``offline-run-*`` dir."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = run_dir.glob("run-*.wandb")
    run = OfflineRun()
    for raw in _records(log.read_bytes()):
        record = pb.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.id, run.name, run.group, run.job_type = (
                r.run_id,
                r.display_name,
                r.run_group,
                r.job_type,
            )
            run.config.update({_key(i): json.loads(i.value_json) for i in r.config.update})
        elif kind == "config":
            run.config.update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            row = {_key(i): json.loads(i.value_json) for i in record.history.item}
            run.history.append({k: v for k, v in row.items() if not k.startswith("_")})
        elif kind == "summary":
            run.summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
    return run


def offline_runs(root: Path) -> list[OfflineRun]:
    """Every offline run under ``root/wandb``, oldest first."""
    return [read_offline_run(d) for d in sorted((root / "wandb").glob("offline-run-*"))]


def wandb_offline(home: Path) -> dict[str, str]:
    """The environment of a process that logs to W&B offline, its settings kept in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_CONFIG_DIR=str(home / "wandb-config"),
        WANDB_CACHE_DIR=str(home / "wandb-cache"),
        WANDB_DATA_DIR=str(home / "wandb-data"),
        NETRC=str(home / "no-netrc"),  # where wandb would find a login
    )
    return env


def use_wandb_offline(monkeypatch, home: Path) -> None:
    """This process logs to W&B offline, as :func:`wandb_offline` says (wandb reads the
    environment once per process: its settings are torn down so that it reads it again)."""
    import wandb

    wandb.teardown()
    for key in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(key)
    for key, value in wandb_offline(home).items():
        monkeypatch.setenv(key, value)
