"""The one set of value checks, for the core and for plugins' components alike: each
returns the checked value or raises ``error`` (a :class:`ConfigError` by default) naming the
value and what is allowed. Bools are never numbers: ``True`` is not a size."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from scorebench.errors import ConfigError


def integer(
    name: str,
    value: Any,
    minimum: int = 1,
    *,
    why: str | None = None,
    error: type[Exception] = ConfigError,
) -> int:
    """An int (not a bool) >= ``minimum``; ``why`` says why the bound exists."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        because = f" ({why})" if why else ""
        raise error(f"{name} must be >= {minimum}{because}, got {value!r}.")
    return value


def number(
    name: str,
    value: Any,
    *,
    minimum: float = 0.0,
    inclusive: bool = False,
    error: type[Exception] = ConfigError,
) -> float:
    """A finite number > ``minimum`` (>= with ``inclusive``)."""
    value = finite(name, value, error=error)
    if value < minimum or (value == minimum and not inclusive):
        relation = ">=" if inclusive else ">"
        raise error(f"{name} must be {relation} {minimum:g}, got {value!r}.")
    return value


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def finite(name: str, value: Any, *, error: type[Exception] = ConfigError) -> float:
    """Any finite number."""
    if not is_finite_number(value):
        raise error(f"{name} must be a finite number, got {value!r}.")
    return float(value)


#: Every metric compares a sample set's spread with the reference's: one sample has none.
MIN_SAMPLES = 2


def sample_count(name: str, n: Any) -> int:
    """A number of samples to evaluate: at least :data:`MIN_SAMPLES`."""
    return integer(name, n, MIN_SAMPLES, why="every metric needs a spread of samples")


def boolean(name: str, value: Any, *, error: type[Exception] = ConfigError) -> bool:
    """A bool (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise error(f"{name} must be true or false, got {value!r}.")
    return value


def choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """One of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")
    return value


def sampler_state(x: Any, noise: Any) -> Any:
    """A sampler's initial state: a floating-point tensor [batch, ...], on the device of its
    noise, which has one generator per sample of the batch."""
    import torch

    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1:
        raise ConfigError(
            "the initial state x must be a floating-point tensor of shape [batch, ...], got "
            f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}."
        )
    if noise is None:
        return x
    device = getattr(noise, "device", x.device)
    if device.type != x.device.type:
        raise ConfigError(
            f"the noise is drawn on {device} but the samples are on {x.device}; create it on "
            "the samples' device (SampleNoise(seed, indices, device))."
        )
    if len(noise) != x.shape[0]:
        raise ConfigError(
            f"the noise is for {len(noise)} samples but the batch has {x.shape[0]}: make it "
            "for the batch (SampleNoise(seed, range(batch)))."
        )
    return x
