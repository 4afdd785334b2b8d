"""The VE SDE's training objective: denoising score matching over a continuum of noise levels.

Per sample, ``sigma = sigma_min (sigma_max / sigma_min)^u`` with ``u ~ U[0, 1)`` (sigma is
log-uniform: the VE SDE's sigma(t) at a uniform time t), ``x~ = x + sigma z`` and
``1/2 sigma^2 ||s(x~, sigma) + z / sigma||^2 = 1/2 ||sigma s(x~, sigma) + z||^2``: NCSN's loss
with the sigma^2 weight, its 10 levels replaced by the interval they span. The interval is
the run's schedule's (its largest and smallest level); the schedule's other levels are only
the sampling grid. The network is asked at sigma itself, so it must be sigma-conditioned.
score_sde_pytorch's VE loss has no 1/2 (the same gradient direction, twice the scale);
scorebench keeps NCSN's 1/2 so that the recipes' losses read on one scale.
"""

from __future__ import annotations

import torch

from scorebench.api import ConfigError, LossOutput, unwrap


def dsm_continuous():
    """The loss factory (no parameters: the interval comes from the schedule)."""

    def loss(model: torch.nn.Module, x: torch.Tensor, sigmas: torch.Tensor, generator=None):
        if getattr(unwrap(model), "conditioning", "sigma") != "sigma":
            raise ConfigError(
                "dsm-continuous draws sigma anywhere in [sigma_min, sigma_max], but this "
                "network is conditioned on level indices (like NCSN's): use a "
                "sigma-conditioned network (ncsnpp, ncsnv2) or the dsm loss."
            )
        if x.dim() < 2 or x.shape[0] == 0 or not x.is_floating_point():
            raise ConfigError(f"the loss expects a float batch [batch, ...], got {tuple(x.shape)}")
        sigmas = torch.as_tensor(sigmas).to(device=x.device, dtype=x.dtype)
        log_levels = sigmas.log()
        lo, hi = log_levels.min(), log_levels.max()
        u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
        log_sigma = lo + u * (hi - lo)
        sigma = log_sigma.exp()
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        view = sigma.view(-1, *([1] * (x.dim() - 1)))
        out = model(x + view * z, sigma)
        if out.shape != x.shape:
            raise ConfigError(
                f"the score network returned shape {tuple(out.shape)} for input "
                f"{tuple(x.shape)}; it must return its input's shape."
            )
        per_sample = 0.5 * (view * out.to(x.dtype) + z).pow(2).flatten(1).sum(1)
        # For the per-level log: the nearest level of the schedule, in log sigma.
        levels = (log_sigma[:, None] - log_levels[None]).abs().argmin(1)
        return LossOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), levels=levels)

    loss.__qualname__ = loss.__name__ = "dsm_continuous()"
    return loss
