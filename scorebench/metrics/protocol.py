"""Protocol fingerprints and file checksums.

Torch-free: the report code can fingerprint and compare records without importing torch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: Bump when the meaning of a protocol field changes; it is part of every fingerprint.
PROTOCOL_VERSION = 1

#: Characters of the SHA-256 hex digest kept as the short fingerprint (64 bits).
FINGERPRINT_CHARS = 16


def canonical_json(obj: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, ASCII, no NaN."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def protocol_fingerprint(protocol: dict) -> str:
    """A short stable hash of a protocol dict (first 16 hex digits of SHA-256 of its
    canonical JSON). Equal protocols give equal fingerprints on every machine and Python;
    key order does not matter. Values must be JSON types (str, int, float, bool, None,
    lists, dicts with string keys)."""
    if not isinstance(protocol, dict):
        raise TypeError(f"protocol must be a dict, got {type(protocol).__name__}")
    try:
        text = canonical_json(protocol)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"protocol is not plain JSON data: {exc}") from exc
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:FINGERPRINT_CHARS]


_sha_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, memoised per (path, size, mtime) within the process
    (the Inception weights are ~100 MB and are hashed on every evaluation otherwise)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _sha_memo.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        _sha_memo[key] = digest
    return digest


def result_key(fingerprint: str, model_fingerprint: str | None) -> str:
    """What a stored result is named by: its protocol, and its model metrics' if any."""
    return fingerprint if model_fingerprint is None else f"{fingerprint}+{model_fingerprint}"


def record_key(record: dict[str, Any]) -> str:
    return result_key(record["fingerprint"], (record.get("model_metrics") or {}).get("fingerprint"))
