"""Parameter checks for components (samplers, schedules, score functions): each returns the
checked value or raises :class:`ConfigError` naming the parameter and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from scorebench.errors import ConfigError


def integer(name: str, value: Any, minimum: int = 1) -> int:
    """An int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def number(name: str, value: Any, *, minimum: float = 0.0, inclusive: bool = False) -> float:
    """A finite number > ``minimum`` (>= with ``inclusive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}.")
    if value < minimum or (value == minimum and not inclusive):
        relation = ">=" if inclusive else ">"
        raise ConfigError(f"{name} must be {relation} {minimum:g}, got {value!r}.")
    return float(value)


def choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """One of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")
    return value
