"""Data that ships with scorebench, found wherever it is installed (importlib.resources):

- ``baselines/``: baseline tables, numbers typed in from papers (with their citation) and
  reference rows scorebench measured (with their protocol fingerprint);
- ``leaderboards/``: committed bench boards (``scorebench compare NAME NEW`` gates against
  one by name) and their plots.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def published(kind: str) -> Path:
    """The folder of shipped ``baselines`` or ``leaderboards``."""
    return Path(str(files(__name__) / kind))
