"""Langevin samplers for NCSN: annealed Langevin dynamics (the paper's Algorithm 1) and
plain Langevin at one level.

They follow the sampler rules of :mod:`scorebench.api`; their ``callback`` info adds
``step_size``. The chain runs under ``torch.no_grad()`` and stays in x's dtype even when the
score runs in lower precision (its output is cast). A score function that needs autograd
internally must enable it itself (``torch.enable_grad()``). No iterates are kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from scorebench import checks
from scorebench.api import ConfigError, Noise, ScoreFn

Callback = Callable[[dict[str, Any]], None]

#: Step-size conventions of annealed Langevin dynamics.
#: "code": x + a s + sqrt(2a) z with a = step_lr sigma_i^2 / sigma_L^2 (official NCSN code and
#: score_sde); "paper": Algorithm 1, x + (alpha/2) s + sqrt(alpha) z with
#: alpha = step_lr sigma_i^2 / sigma_L^2, i.e. half the code's step for the same step_lr.
CONVENTIONS = ("code", "paper")


def _check_convention(convention: object) -> str:
    if convention not in CONVENTIONS:
        raise ConfigError(
            f"unknown Langevin step-size convention {convention!r}; choose one of "
            f"{', '.join(repr(c) for c in CONVENTIONS)} ('code': x + a s + sqrt(2a) z as in the "
            "official code; 'paper': x + (a/2) s + sqrt(a) z as in Algorithm 1)."
        )
    return convention  # type: ignore[return-value]


def _check_sigmas(sigmas: object) -> list[float]:
    sig = torch.as_tensor(sigmas)
    if sig.dim() != 1 or sig.numel() == 0:
        raise ConfigError(f"sigmas must be a non-empty 1-D tensor, got shape {tuple(sig.shape)}.")
    values = [float(s) for s in sig.detach().cpu().double()]  # one device sync, up front
    if not all(math.isfinite(s) and s > 0 for s in values):
        raise ConfigError(f"every noise level must be finite and > 0, got {values}.")
    if any(b > a for a, b in zip(values, values[1:], strict=False)):
        raise ConfigError(
            f"sigmas must be ordered from largest to smallest (annealing goes down), got {values}."
        )
    return values


def annealed_step_sizes(
    sigmas: torch.Tensor, step_lr: float, convention: str = "code"
) -> torch.Tensor:
    """The effective step size ``a_i`` of each level in the form ``x + a_i s + sqrt(2 a_i) z``.

    ``a_i = step_lr * sigma_i^2 / sigma_L^2`` for the "code" convention and half that for the
    "paper" convention (Algorithm 1 writes ``x + (alpha_i/2) s + sqrt(alpha_i) z``).
    Returned in float64 on the CPU.
    """
    values = _check_sigmas(sigmas)
    step_lr = checks.number("step_lr", step_lr)
    convention = _check_convention(convention)
    sig = torch.tensor(values, dtype=torch.float64)
    sizes = step_lr * (sig / sig[-1]) ** 2
    return sizes if convention == "code" else sizes / 2


def _langevin_step(
    score: ScoreFn,
    x: torch.Tensor,
    sigma: torch.Tensor,
    step: float,
    noise: Noise,
) -> None:
    """One update ``x <- x + a s(x, sigma) + sqrt(2a) z``, in place on the chain's own copy."""
    grad = score(x, sigma).to(x.dtype)
    x.add_(grad, alpha=step).add_(noise(x), alpha=math.sqrt(2.0 * step))


def annealed_langevin(
    score: ScoreFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    steps_per_level: int = 100,
    step_lr: float = 2e-5,
    convention: str = "code",
    denoise: bool = False,
) -> torch.Tensor:
    """Annealed Langevin dynamics (NCSN's sampler, Algorithm 1 of the paper).

    For each level i (largest sigma first), ``steps_per_level`` times
    ``x <- x + a_i s(x, sigma_i) + sqrt(2 a_i) z`` with ``a_i`` from
    :func:`annealed_step_sizes`. The defaults (``step_lr=2e-5``, "code") are the official code's
    CIFAR-10 setting; the paper's text with the same ``eps`` takes half these steps
    (``convention="paper"``). ``denoise=True`` adds the final step
    ``x <- x + sigma_L^2 s(x, sigma_L)`` (one more score evaluation; not in the original NCSN).

    Score evaluations: ``len(sigmas) * steps_per_level`` (+1 with ``denoise``).
    """
    sigma_values = _check_sigmas(sigmas)
    steps_per_level = checks.integer("steps_per_level", steps_per_level)
    step_lr = checks.number("step_lr", step_lr)
    convention = _check_convention(convention)
    if not isinstance(denoise, bool):
        raise ConfigError(f"denoise must be true or false, got {denoise!r}.")
    x = checks.sampler_state(x, noise)
    step_sizes = annealed_step_sizes(torch.tensor(sigma_values), step_lr, convention).tolist()

    with torch.no_grad():
        x = x.detach().clone()
        batch = x.shape[0]
        for level, (sigma, step) in enumerate(zip(sigma_values, step_sizes, strict=True)):
            sigma_t = torch.full((batch,), sigma, device=x.device, dtype=x.dtype)
            for t in range(steps_per_level):
                _langevin_step(score, x, sigma_t, step, noise)
                if callback is not None:
                    callback({"level": level, "step": t, "sigma": sigma, "step_size": step})
        if denoise:
            # Tweedie's formula: the posterior mean E[x_0 | x] at the smallest level.
            sigma = sigma_values[-1]
            sigma_t = torch.full((batch,), sigma, device=x.device, dtype=x.dtype)
            x.add_(score(x, sigma_t).to(x.dtype), alpha=sigma**2)
            if callback is not None:
                callback(
                    {
                        "level": len(sigma_values) - 1,
                        "step": steps_per_level,
                        "sigma": sigma,
                        "step_size": sigma**2,
                    }
                )
    return x


def langevin(
    score: ScoreFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    noise: Noise | None,
    callback: Callback | None = None,
    steps: int = 1000,
    step_size: float = 0.1,
    sigma: float | None = None,
) -> torch.Tensor:
    """Plain (unannealed) Langevin dynamics at a single noise level.

    ``steps`` times ``x <- x + (step_size/2) s(x, sigma) + sqrt(step_size) z``, the update of the
    paper's toy experiment. ``sigma`` defaults to the smallest level ``sigmas[-1]``. The callback
    reports ``level=0`` (the chain has one level) and ``step_size`` in the
    ``x + a s + sqrt(2a) z`` form, i.e. ``step_size / 2``.

    Score evaluations: ``steps``.
    """
    sigma_values = _check_sigmas(sigmas)
    steps = checks.integer("steps", steps)
    step_size = checks.number("step_size", step_size)
    sigma = sigma_values[-1] if sigma is None else checks.number("sigma", sigma)
    x = checks.sampler_state(x, noise)
    step = step_size / 2  # x + (eps/2) s + sqrt(eps) z  ==  x + a s + sqrt(2a) z with a = eps/2

    with torch.no_grad():
        x = x.detach().clone()
        sigma_t = torch.full((x.shape[0],), sigma, device=x.device, dtype=x.dtype)
        for t in range(steps):
            _langevin_step(score, x, sigma_t, step, noise)
            if callback is not None:
                callback({"level": 0, "step": t, "sigma": sigma, "step_size": step})
    return x
