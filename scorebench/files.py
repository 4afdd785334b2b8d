"""Atomic file writes and JSON-lines logs: a reader never sees half a file.

Every file scorebench writes that someone else reads (checkpoints, sample shards, caches,
results, reports) goes through :func:`atomic_write`: a temporary file beside the target,
fsync, then ``os.replace``. A killed process leaves at most a stray hidden temp file.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any]) -> Path:
    """Write ``path`` through ``write(fileobj)``, all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_torch(obj: Any, path: str | Path) -> Path:
    """``torch.save`` streamed into the temporary file (no second copy in memory)."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one line with a single checked, fsynced write. A torn last line left by a
    killed writer is closed first, so this record never glues onto it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        written = os.write(fd, line)
        if written != len(line):  # e.g. a full disk: never leave a record half-written
            os.ftruncate(fd, size)
            raise OSError(f"{path}: wrote {written} of {len(line)} bytes (is the disk full?)")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; torn or damaged lines are skipped with a warning."""
    if not path.exists():
        return []
    records, bad = [], 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif line.strip():
            bad += 1
    if bad:
        warnings.warn(f"{path}: skipped {bad} damaged line(s)", stacklevel=2)
    return records
