"""Noise grids: the Karras (EDM) schedule, and the grid of sigmas each sampler walks.

A sampler's grid is its own: by default it spans the model's range ``sigmas[0] ..
sigmas[-1]`` with ``steps`` levels placed by a registered schedule ("geometric", "karras",
...), or it is the model's own training levels (``schedule="levels"``).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import torch

from scorebench import checks
from scorebench.api import ConfigError

#: The schedule name meaning "the model's own training levels, as given".
LEVELS = "levels"


class KarrasSchedule:
    """``num_levels`` noise levels from ``sigma_max`` down to ``sigma_min``, equally spaced in
    ``sigma^(1/rho)`` (Karras et al. 2022, EDM, arXiv 2206.00364, eq. 5):
    ``sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``.

    ``rho=7`` (the paper's choice) spends most levels at small sigma; ``rho=1`` is linear.
    The defaults are the paper's CIFAR-10 sampler: 80 -> 0.002 in 18 levels. Levels are
    ordered from largest to smallest, like every scorebench schedule.
    """

    def __init__(
        self,
        sigma_max: float = 80.0,
        sigma_min: float = 0.002,
        num_levels: int = 18,
        rho: float = 7.0,
    ) -> None:
        self.sigma_max = checks.number("sigma_max", sigma_max)
        self.sigma_min = checks.number("sigma_min", sigma_min)
        # Two levels at least, as for the geometric schedule: the formula divides by N - 1.
        self.num_levels = checks.integer("num_levels", num_levels, minimum=2)
        self.rho = checks.number("rho", rho)
        _check_range(self.sigma_max, self.sigma_min)

    def __len__(self) -> int:
        return self.num_levels

    def sigmas(self, device: torch.device | str | None = None, dtype=torch.float32) -> torch.Tensor:
        """The levels as a 1-D tensor of length ``num_levels``, largest first."""
        # Computed in float64 and then cast, so the levels do not depend on the device or dtype.
        ramp = torch.linspace(0.0, 1.0, self.num_levels, dtype=torch.float64)
        top, bottom = self.sigma_max ** (1 / self.rho), self.sigma_min ** (1 / self.rho)
        return ((top + ramp * (bottom - top)) ** self.rho).to(device=device, dtype=dtype)

    def __repr__(self) -> str:
        return (
            f"KarrasSchedule(sigma_max={self.sigma_max!r}, sigma_min={self.sigma_min!r}, "
            f"num_levels={self.num_levels!r}, rho={self.rho!r})"
        )


def _check_range(sigma_max: float, sigma_min: float) -> None:
    if not sigma_min < sigma_max:
        raise ConfigError(
            f"sigma_min must be smaller than sigma_max, got sigma_min={sigma_min!r} and "
            f"sigma_max={sigma_max!r} (the grid runs from sigma_max down to sigma_min)."
        )


def check_levels(values: object, what: str = "sigmas") -> list[float]:
    """Noise levels as floats: a non-empty 1-D sequence, finite, > 0, largest first."""
    levels = torch.as_tensor(values)
    if levels.dim() != 1 or levels.numel() == 0:
        raise ConfigError(
            f"{what} must be a non-empty 1-D tensor, got shape {tuple(levels.shape)}."
        )
    floats = [float(s) for s in levels.detach().cpu().double()]  # one device sync, up front
    if not all(math.isfinite(s) and s > 0 for s in floats):
        raise ConfigError(f"every level of {what} must be finite and > 0, got {floats}.")
    if any(b >= a for a, b in zip(floats, floats[1:], strict=False)):
        raise ConfigError(f"{what} must be strictly decreasing (largest first), got {floats}.")
    return floats


def grid_range(
    levels: list[float], sigma_max: object = None, sigma_min: object = None
) -> tuple[float, float]:
    """A sampler's ``(sigma_max, sigma_min)``, checked: the model's range ``levels[0]`` ..
    ``levels[-1]`` where a bound is None."""
    top = levels[0] if sigma_max is None else float(checks.number("sigma_max", sigma_max))
    bottom = levels[-1] if sigma_min is None else float(checks.number("sigma_min", sigma_min))
    _check_range(top, bottom)
    return top, bottom


def _schedule_factory(schedule: object):
    from scorebench.api import registry

    schedules = registry("schedules")
    checks.choice("schedule", schedule, [LEVELS, *schedules.names()])
    return schedules.load(schedule)


def sampling_grid(
    sigmas: object,
    steps: int | None = None,
    default_steps: int | None = None,
    *,
    schedule: str,
    sigma_max: float | None = None,
    sigma_min: float | None = None,
    rho: float = 7.0,
) -> list[float]:
    """The sampler's noise levels (floats, largest first, ``steps`` of them).

    ``schedule="levels"``: the model's training levels ``sigmas`` as given (``steps`` must then
    be None or ``len(sigmas)``, and ``sigma_max``/``sigma_min`` None). Any other name is a
    registered schedule, built as ``factory(sigma_max=..., sigma_min=..., num_levels=steps)``
    (plus ``rho`` where the factory takes it, as "karras" does). ``steps=None`` means the
    sampler's ``default_steps`` (``len(sigmas)`` when that is None, and always with
    "levels"); ``sigma_max``/``sigma_min`` default to the model's range
    ``sigmas[0]``/``sigmas[-1]``. One step is the grid ``[sigma_max]`` whatever the schedule.
    """
    levels = check_levels(sigmas)
    if steps is not None:
        checks.integer("steps", steps)
    rho = checks.number("rho", rho)
    factory = None if schedule == LEVELS else _schedule_factory(schedule)

    if factory is None:
        if steps not in (None, len(levels)):
            raise ConfigError(
                f"steps must be None or {len(levels)} (the model's number of levels) with "
                f"schedule='levels', got {steps!r}; choose another schedule for other step counts."
            )
        if sigma_max is not None or sigma_min is not None:
            raise ConfigError(
                "sigma_max and sigma_min must be None with schedule='levels' (the grid is the "
                "model's own levels); choose another schedule to change the range."
            )
        return levels

    top, bottom = grid_range(levels, sigma_max, sigma_min)
    if steps is None:
        steps = len(levels) if default_steps is None else default_steps
    if steps == 1:
        return [top]
    kwargs = {"sigma_max": top, "sigma_min": bottom, "num_levels": steps}
    if "rho" in inspect.signature(factory).parameters:
        kwargs["rho"] = rho
    grid = check_levels(factory(**kwargs).sigmas(dtype=torch.float64), f"schedule {schedule!r}")
    if len(grid) != steps:
        raise ConfigError(f"schedule {schedule!r} gave {len(grid)} levels for {steps} steps.")
    return grid


def _grid_parameters(schedule: str) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("steps", keyword, default=None, annotation="int | None"),
        inspect.Parameter("schedule", keyword, default=schedule, annotation="str"),
        inspect.Parameter("sigma_max", keyword, default=None, annotation="float | None"),
        inspect.Parameter("sigma_min", keyword, default=None, annotation="float | None"),
        inspect.Parameter("rho", keyword, default=7.0, annotation="float"),
    ]


def walks_grid(default_steps: int | None, schedule: str) -> Callable[[Callable], Callable]:
    """Make ``body(score, x, grid, *, noise, callback, **own)`` a sampler that builds its
    own grid: the sampler takes ``sigmas`` and the grid parameters ``steps``, ``schedule``
    (default ``schedule``), ``sigma_max``, ``sigma_min`` and ``rho``, and hands ``body`` the
    checked state and :func:`sampling_grid`'s levels (``steps=None``: ``default_steps``).

    The sampler's signature lists the grid parameters before ``body``'s own, so its spec and
    its parameter checks are those of a hand-written signature.
    """

    def wrap(body: Callable) -> Callable:
        body_signature = inspect.signature(body)
        body_parameters = list(body_signature.parameters.values())
        own = [p for p in body_parameters if p.kind is p.KEYWORD_ONLY]
        own = [p for p in own if p.name not in ("noise", "callback")]
        head = [
            body_parameters[0],
            body_parameters[1],
            inspect.Parameter("sigmas", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            body_signature.parameters["noise"],
            body_signature.parameters["callback"],
        ]

        @functools.wraps(body)
        def sampler(
            score,
            x,
            sigmas,
            *,
            noise,
            callback=None,
            steps=None,
            schedule=schedule,
            sigma_max=None,
            sigma_min=None,
            rho=7.0,
            **params,
        ):
            grid = sampling_grid(
                sigmas,
                steps,
                default_steps,
                schedule=schedule,
                sigma_max=sigma_max,
                sigma_min=sigma_min,
                rho=rho,
            )
            x = checks.sampler_state(x, noise)
            return body(score, x, grid, noise=noise, callback=callback, **params)

        sampler.__signature__ = body_signature.replace(  # type: ignore[attr-defined]
            parameters=[*head, *_grid_parameters(schedule), *own]
        )
        del sampler.__wrapped__  # the signature above is the sampler's, not the body's
        return sampler

    return wrap
