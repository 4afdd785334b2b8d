"""The shapes of the JSON files scorebench reads back: evaluation records, leaderboards,
run manifests. A file that does not fit is damaged: derived files are computed again, the
others are a clear error naming the file (never a TypeError deep in the report code).

The models check what the code reads, and let other keys through (a record carries the
protocol and environment it was made under, which readers only show).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from scorebench.errors import ScorebenchError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    what: ClassVar[str] = "part of a scorebench file"


class _CellPart(_Open):
    key: StrictStr
    sampling_key: StrictStr
    spec: dict[str, Any]
    sampling: dict[str, Any]


class _RunPart(_Open):
    path: StrictStr
    name: StrictStr


class ResultRecord(_Open):
    """One evaluation of one cell under one protocol (``results/<fingerprint>.json``)."""

    what: ClassVar[str] = "scorebench result record"

    fingerprint: StrictStr = Field(min_length=1)
    metrics: dict[str, Any]
    protocol: dict[str, Any]
    # optional (a record made by the library API has neither), but never null
    cell: _CellPart = Field(default=None, validate_default=False)
    run: _RunPart = Field(default=None, validate_default=False)


class BoardRow(_Open):
    model: StrictStr
    origin: StrictStr
    metrics: dict[str, Any]


class BoardGroup(_Open):
    fingerprint: StrictStr = Field(min_length=1)
    rows: list[BoardRow] = Field(min_length=1)


class Board(_Open):
    """A leaderboard (``leaderboard.json``): rows grouped by protocol fingerprint."""

    what: ClassVar[str] = "leaderboard"

    groups: list[BoardGroup]


class Manifest(_Open):
    """What produced a run (``manifest.json``); every field is optional to a reader."""

    what: ClassVar[str] = "run manifest"

    command: list[StrictStr] | None = None
    git_commit: StrictStr | None = None


def problems(model: type[BaseModel], data: Any) -> str | None:
    """Why ``data`` does not fit ``model`` (its first few errors), or None if it does."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}" for e in exc.errors()[:3]
        )
    except RecursionError:
        return "nested too deep"
    return None


def checked(model: type[BaseModel], data: Any, path: Path | str, fix: str) -> Any:
    """``data`` (read from ``path``) if it fits ``model``, else a clear error saying ``fix``."""
    why = problems(model, data)
    if why is not None:
        raise ScorebenchError(f"{path} is damaged: not a {model.what} ({why}). {fix}")
    return data
