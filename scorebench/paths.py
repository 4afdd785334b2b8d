"""Where scorebench keeps downloaded and derived files.

* :func:`cache_dir`: ``$SCOREBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/scorebench``, else
  ``~/.cache/scorebench``.
* :func:`data_dir`: ``$SCOREBENCH_DATA_DIR``, else ``cache_dir()/data``. Datasets live here
  unless a directory is passed explicitly (``--data-dir`` or a dataset factory's ``root``).

An environment variable set to the empty string counts as unset. Nothing is created here:
callers create directories when they write.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "DATA_DIR_ENV", "cache_dir", "data_dir"]

CACHE_DIR_ENV = "SCOREBENCH_CACHE_DIR"
DATA_DIR_ENV = "SCOREBENCH_DATA_DIR"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The root of scorebench's cache (weights, reference statistics, datasets)."""
    explicit = _env_path(CACHE_DIR_ENV)
    if explicit is not None:
        return explicit
    xdg = _env_path("XDG_CACHE_HOME")
    base = xdg if xdg is not None else Path.home() / ".cache"
    return base / "scorebench"


def data_dir() -> Path:
    """The default directory of datasets."""
    explicit = _env_path(DATA_DIR_ENV)
    return explicit if explicit is not None else cache_dir() / "data"
