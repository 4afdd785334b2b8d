"""The nll estimator against exact densities (shared by tests/metrics/test_nll.py and
benchmarks/nll_oracle.py).

On a Gaussian-mixture oracle log p_sigma is exact at every sigma, so the estimate
``log N(x_T; 0, sigma_max^2 I) + delta`` (scorebench.likelihood) splits into

* the estimator's own error ``r = delta - (log p_sigma_min(x) - log p_sigma_max(x_T))``: the
  ODE solver's and Hutchinson's, what the tolerances and probes control;
* the prior term ``log N(x_T; 0, sigma_max^2 I) - log p_sigma_max(x_T)``;
* the smoothing term ``log p_sigma_min(x) - log p_0(x)``: the ODE starts at sigma_min.

The bound on ``r``: Hutchinson's estimate with probes fixed along the path is ``v^T M v`` with
``M = -int sigma^2 J dtau`` (J = ds/dx, symmetric), whose Rademacher variance is
``2 (||M||_F^2 - sum_i M_ii^2)`` per probe; :func:`hutchinson_variance` integrates M along the
path. The solver's share is bounded by its local error control (first order: errors summed
over steps, not amplified): dopri5 keeps the RMS over the state's B (D + 1) components of
``error / (atol + rtol |y|)`` under 1 per step, so the mean over the B log-density components
is at most ``sqrt(D + 1) (atol + rtol max |delta|)`` per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchdiffeq

from scorebench.likelihood import flow_log_likelihood, gaussian_log_prob


@dataclass
class OracleError:
    """Per point (nats): the estimator's error and the two terms it leaves out."""

    estimate: torch.Tensor  # log N(x_T) + delta
    exact: torch.Tensor  # log p_0(x)
    estimator: torch.Tensor  # r
    prior: torch.Tensor
    smoothing: torch.Tensor
    nfe: int
    delta_max: float
    dim: int

    @property
    def total(self) -> torch.Tensor:
        return self.estimate - self.exact


def oracle_error(truth, x, sigma_min, sigma_max, **options) -> OracleError:
    """Run the estimator on points ``x`` of the mixture ``truth`` (float64) and split its
    error."""
    flow = flow_log_likelihood(truth, x, sigma_min=sigma_min, sigma_max=sigma_max, **options)
    at_min = truth.log_prob(x, sigma_min)
    at_max = truth.log_prob(flow.x_end, sigma_max)
    return OracleError(
        estimate=flow.log_p,
        exact=truth.log_prob(x, 0.0),
        estimator=flow.delta - (at_min - at_max),
        prior=gaussian_log_prob(flow.x_end, sigma_max) - at_max,
        smoothing=at_min - truth.log_prob(x, 0.0),
        nfe=flow.nfe,
        delta_max=float(flow.delta.abs().max()),
        dim=x[0].numel(),
    )


def hutchinson_variance(truth, x, sigma_min, sigma_max) -> torch.Tensor:
    """Per point, the variance of one Rademacher probe's estimate of the integrated
    divergence: ``2 (||M||_F^2 - sum_i M_ii^2)``, M integrated along the path (float64)."""
    batch, dim = x.shape

    def jacobian(xs, sigma):
        def one(xi):
            return truth(xi[None], sigma.expand(1))[0]

        return torch.func.vmap(torch.func.jacrev(one))(xs)

    def field(tau, state):
        sigma = torch.exp(tau)
        xs = state[: batch * dim].reshape(batch, dim)
        dx = -(sigma**2) * truth(xs, sigma.expand(batch))
        dm = -(sigma**2) * jacobian(xs, sigma)
        return torch.cat([dx.reshape(-1), dm.reshape(-1)])

    start = torch.cat([x.reshape(-1), torch.zeros(batch * dim * dim, dtype=x.dtype)])
    times = torch.tensor([math.log(sigma_min), math.log(sigma_max)], dtype=torch.float64)
    end = torchdiffeq.odeint(field, start, times, rtol=1e-6, atol=1e-6, method="dopri5")[-1]
    m = end[batch * dim :].reshape(batch, dim, dim)
    m = (m + m.transpose(1, 2)) / 2
    return 2 * (m.pow(2).sum((1, 2)) - torch.diagonal(m, dim1=1, dim2=2).pow(2).sum(1))


def solver_bound(err: OracleError, rtol: float, atol: float) -> float:
    """The solver's share of |mean r| (module docstring): dopri5 spends 6 evaluations per
    step, accepted or rejected, so nfe / 6 bounds the steps."""
    steps = math.ceil(err.nfe / 6)
    return steps * math.sqrt(err.dim + 1) * (atol + rtol * err.delta_max)
