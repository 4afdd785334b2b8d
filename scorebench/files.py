"""Atomic file writes and JSON-lines logs: a reader never sees half a file.

Every file scorebench writes that someone else reads (checkpoints, sample shards, caches,
results, reports) goes through :func:`atomic_write`: a temporary file beside the target,
fsync, then ``os.replace``. A killed process leaves at most a stray hidden temp file, named
so that it cannot be mistaken for a file of the user's.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from scorebench.errors import DiskFullError, ScorebenchError

_UMASK = os.umask(0)
os.umask(_UMASK)

#: Temporary files of :func:`atomic_write` are ``.NAME.RANDOM.scorebench.tmp`` beside their
#: target (RANDOM: mkstemp's 8 characters); nothing else is ever removed as a stale temp.
TEMP_SUFFIX = ".scorebench.tmp"
TEMP_GLOB = f".*{TEMP_SUFFIX}"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def atomic_write(
    path: str | Path, write: Callable[[BinaryIO], Any], *, size_hint: int | None = None
) -> Path:
    """Write ``path`` through ``write(fileobj)``, all or nothing. A full disk is a
    :class:`DiskFullError` saying how much was needed and where; the old file stays."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give what open() would
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
        except (OSError, RuntimeError) as exc:  # the with's close may raise it again
            if _disk_full(exc, path.parent):
                written = os.path.getsize(tmp) if os.path.exists(tmp) else 0
                Path(tmp).unlink(missing_ok=True)  # before measuring what is free
                raise disk_full(path, max(size_hint or 0, written)) from exc
            raise
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _disk_full(exc: BaseException, directory: Path) -> bool:
    """ENOSPC, or a library's own error (torch.save: "unexpected pos") on a full disk."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        return shutil.disk_usage(directory).free < 1 << 20
    except OSError:
        return False


def disk_full(path: Path, needed: int) -> DiskFullError:
    try:
        free = f"{shutil.disk_usage(path.parent).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    return DiskFullError(
        f"no space left on the device holding {path.parent} while writing {path.name} "
        f"(needs at least {needed / 1e6:.1f} MB; {free}). Free some space there and run the "
        "command again: it continues where it stopped, and the previous file is intact."
    )


def remove_stale_temps(root: Path, subdirs: tuple[str, ...] = ()) -> list[Path]:
    """Delete the temporary files killed :func:`atomic_write` calls left in ``root`` itself
    and anywhere under its ``subdirs`` (directories scorebench made there). Only names the
    writer makes are touched, never a user's ``.draft.tmp``. Call it only while holding the
    directory's lock: then no live writer owns one."""
    candidates = list(root.glob(TEMP_GLOB))
    for sub in subdirs:
        if (root / sub).is_dir() and not (root / sub).is_symlink():
            candidates += (root / sub).rglob(TEMP_GLOB)
    stale = [p for p in candidates if _TEMP_NAME.match(p.name) and p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def read_json(path: Path, what: str, fix: str) -> Any:
    """A JSON file scorebench wrote; damage is a clear error naming the file and ``fix``."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ScorebenchError(f"{what} {path} is missing. {fix}") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise ScorebenchError(f"{what} {path} is damaged ({exc}). {fix}") from None
    except RecursionError:
        raise ScorebenchError(f"{what} {path} is damaged (nested too deep). {fix}") from None


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_torch(obj: Any, path: str | Path) -> Path:
    """``torch.save`` streamed into the temporary file (no second copy in memory)."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh), size_hint=_tensor_bytes(obj))


def _tensor_bytes(obj: Any) -> int:
    """About what ``torch.save(obj)`` needs on disk: the bytes of its tensors."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one line with a single checked, fsynced write. A torn last line left by a
    killed writer is closed first, so this record never glues onto it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = _jsonl_line(record)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            written = os.write(fd, line)
        except OSError as exc:
            if _disk_full(exc, path.parent):
                raise disk_full(path, len(line)) from exc
            raise
        if written != len(line):  # a full disk: never leave a record half-written
            os.ftruncate(fd, size)
            raise disk_full(path, len(line))
        os.fsync(fd)
    finally:
        os.close(fd)


def _jsonl_line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True) + "\n").encode()


def rewrite_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace a JSON-lines file with ``records`` atomically (unchanged files are left as
    they are)."""
    text = b"".join(_jsonl_line(r) for r in records)
    if not path.is_file() or path.read_bytes() != text:
        atomic_write_bytes(path, text)


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
