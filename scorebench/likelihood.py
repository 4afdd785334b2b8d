"""Log-likelihood of a score model through its probability-flow ODE (Song et al. 2021,
"Score-Based Generative Modeling through Stochastic Differential Equations", section 4.3).

For the VE SDE the probability-flow ODE, written in tau = log sigma, is
``dx/dtau = -sigma^2 s(x, sigma)``, and along its solution
``d log p_sigma(x(tau)) / dtau = -div f`` with ``f = -sigma^2 s``. Integrating from sigma_min
(the data end) to sigma_max::

    log p_sigma_min(x) = log N(x(sigma_max); 0, sigma_max^2 I) + int div f dtau

The prior N(0, sigma_max^2 I) stands for p_sigma_max, as in the paper. ``div f`` is
``-sigma^2 tr(ds/dx)``: exact (one vector-Jacobian product per dimension) or the
Hutchinson-Skilling estimate ``eps^T (ds/dx) eps`` with Rademacher probes ``eps`` drawn once
per solve and averaged over ``probes`` of them. A kept library solves the ODE: torchdiffeq's
``dopri5`` or scipy's ``RK45``, with relative and absolute tolerances ``rtol`` and ``atol``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torchdiffeq
from scipy.integrate import solve_ivp

from scorebench.errors import ConfigError

#: Solver name -> the library that solves it.
SOLVERS = {"dopri5": "torchdiffeq", "rk45": "scipy"}
DIVERGENCES = ("auto", "exact", "hutchinson")
#: ``divergence="auto"`` takes the exact divergence up to this dimension (D backward passes
#: per evaluation), Hutchinson's estimate above it.
EXACT_DIVERGENCE_MAX_DIM = 16

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FlowLikelihood:
    """One solve, per sample (nats): ``log_p = prior + delta`` estimates log p_sigma_min(x)."""

    log_p: torch.Tensor
    prior: torch.Tensor  # log N(x_end; 0, sigma_max^2 I)
    delta: torch.Tensor  # int div f dtau
    x_end: torch.Tensor  # x at sigma_max
    nfe: int  # score evaluations


def divergence_kind(divergence: str, dim: int) -> str:
    """What ``divergence`` means in dimension ``dim`` ("auto" resolved)."""
    if divergence not in DIVERGENCES:
        raise ConfigError(f"unknown divergence {divergence!r}; choose one of {DIVERGENCES}")
    if divergence == "auto":
        return "exact" if dim <= EXACT_DIVERGENCE_MAX_DIM else "hutchinson"
    return divergence


def check_solver(solver: str, rtol: float, atol: float, probes: int) -> None:
    if solver not in SOLVERS:
        raise ConfigError(f"unknown ODE solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(tol, float | int) and math.isfinite(tol) and tol > 0):
            raise ConfigError(f"{name} must be a finite number > 0, got {tol!r}")
    if not (isinstance(probes, int) and probes >= 1):
        raise ConfigError(f"probes must be an integer >= 1, got {probes!r}")


def flow_log_likelihood(
    score: Score,
    x: torch.Tensor,
    *,
    sigma_min: float,
    sigma_max: float,
    solver: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    divergence: str = "auto",
    probes: int = 1,
    generator: torch.Generator | None = None,
) -> FlowLikelihood:
    """log p_sigma_min(x) of the model whose score is ``score(x, sigma)``, per sample of
    ``x`` [B, ...]. The ODE runs in x's dtype (float64 for analytic scores gives the
    tolerance its full meaning); probes come from ``generator``."""
    check_solver(solver, rtol, atol, probes)
    if not 0 < sigma_min < sigma_max:
        raise ConfigError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    batch, shape = x.shape[0], tuple(x.shape[1:])
    dim = math.prod(shape)
    kind = divergence_kind(divergence, dim)
    if kind == "hutchinson":
        signs = torch.randint(0, 2, (probes, batch, *shape), generator=generator)
        vectors = (2.0 * signs - 1.0).to(device=x.device, dtype=x.dtype)
    else:
        vectors = torch.eye(dim, device=x.device, dtype=x.dtype)
        vectors = vectors.reshape(dim, 1, *shape).expand(dim, batch, *shape)
    nfe = 0

    def field(tau: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        nonlocal nfe
        nfe += 1
        sigma = torch.exp(tau).to(x.dtype)
        with torch.enable_grad():
            xt = state[: batch * dim].reshape(batch, *shape).detach().requires_grad_(True)
            s = score(xt, sigma.expand(batch)).to(x.dtype)
            trace = torch.zeros(batch, device=x.device, dtype=x.dtype)
            for k, v in enumerate(vectors):
                (vjp,) = torch.autograd.grad(s, xt, v, retain_graph=k + 1 < len(vectors))
                trace = trace + (vjp * v).flatten(1).sum(1)
        if kind == "hutchinson":
            trace = trace / len(vectors)
        dx = -(sigma**2) * s.detach()
        return torch.cat([dx.reshape(-1), -(sigma**2) * trace])

    start = torch.cat([x.reshape(-1), torch.zeros(batch, device=x.device, dtype=x.dtype)])
    span = (math.log(sigma_min), math.log(sigma_max))
    end = _solve(field, start, span, solver, rtol, atol)
    x_end, delta = end[: batch * dim].reshape(batch, *shape), end[batch * dim :]
    prior = gaussian_log_prob(x_end, sigma_max)
    return FlowLikelihood(prior + delta, prior, delta, x_end, nfe)


def _solve(field, start: torch.Tensor, span, solver: str, rtol: float, atol: float):
    if solver == "dopri5":
        times = torch.tensor(span, dtype=torch.float64, device=start.device)
        with torch.no_grad():
            path = torchdiffeq.odeint(field, start, times, rtol=rtol, atol=atol, method="dopri5")
        return path[-1]

    def numpy_field(tau: float, y: np.ndarray) -> np.ndarray:
        state = torch.from_numpy(y).to(device=start.device, dtype=start.dtype)
        with torch.no_grad():
            out = field(torch.tensor(tau, dtype=torch.float64), state)
        return out.detach().cpu().to(torch.float64).numpy()

    y0 = start.detach().cpu().to(torch.float64).numpy()
    solution = solve_ivp(numpy_field, span, y0, method="RK45", rtol=rtol, atol=atol)
    if not solution.success:
        raise ConfigError(
            f"scipy's RK45 did not finish the probability-flow ODE: {solution.message}"
        )
    return torch.from_numpy(solution.y[:, -1]).to(device=start.device, dtype=start.dtype)


def gaussian_log_prob(x: torch.Tensor, std: float) -> torch.Tensor:
    """log N(x; 0, std^2 I) per sample."""
    dim = x[0].numel()
    sq = x.flatten(1).to(torch.float64).pow(2).sum(1)
    out = -0.5 * dim * math.log(2 * math.pi * std**2) - sq / (2 * std**2)
    return out.to(x.dtype)


def bits_per_dim(log_p: torch.Tensor, dim: int, *, offset_bits: float = 0.0) -> torch.Tensor:
    """-log2 p / dim, plus ``offset_bits`` (8 for 8-bit images dequantized into [0, 1])."""
    return -log_p / (dim * math.log(2)) + offset_bits
