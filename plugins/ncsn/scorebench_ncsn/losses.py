"""NCSN training objectives over all noise levels at once.

Each factory returns ``loss(model, x, sigmas, generator) -> LossOutput``: every sample of the
batch gets its own uniformly drawn level index, and the model is called as
``model(x_noisy, network_condition(model, levels, sigmas))`` (level indices for NCSN, sigmas for
sigma-conditioned networks). All randomness comes from ``generator``, so a loss is a pure
function of the generator state. ``LossOutput.per_sample`` is detached (it is for logging the
loss per level); ``LossOutput.loss`` carries the graph.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from scorebench.api import ConfigError, LossOutput, network_condition
from scorebench.checks import finite, integer

LossFn = Callable[
    [torch.nn.Module, torch.Tensor, torch.Tensor, "torch.Generator | None"], LossOutput
]


def _check_anneal_power(anneal_power: float) -> float:
    return finite("anneal_power", anneal_power)


def _check_inputs(x: torch.Tensor, sigmas: torch.Tensor, generator) -> torch.Tensor:
    """Validate the batch and levels; return the levels on x's device and dtype."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise ConfigError(
            "the loss expects a floating-point batch x of shape [batch, ...], got "
            f"{type(x).__name__ if not isinstance(x, torch.Tensor) else tuple(x.shape)}."
        )
    if x.shape[0] == 0:
        raise ConfigError("the loss got an empty batch.")
    sigmas = torch.as_tensor(sigmas)
    if sigmas.dim() != 1 or sigmas.numel() == 0:
        raise ConfigError(
            f"sigmas must be a non-empty 1-D tensor, got shape {tuple(sigmas.shape)}."
        )
    # Checked only for CPU levels: on an accelerator the check would sync every step.
    if sigmas.device.type == "cpu" and not bool((sigmas > 0).all()):
        raise ConfigError("every noise level in sigmas must be > 0.")
    if generator is not None and generator.device.type != x.device.type:
        raise ConfigError(
            f"the generator is on {generator.device} but the batch is on {x.device}; "
            "create the generator on the batch's device (torch.Generator(device=...))."
        )
    return sigmas.to(device=x.device, dtype=x.dtype)


def _draw_levels(x: torch.Tensor, sigmas: torch.Tensor, generator) -> torch.Tensor:
    return torch.randint(
        0, sigmas.numel(), (x.shape[0],), generator=generator, device=x.device, dtype=torch.long
    )


def _check_output(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if out.shape != x.shape:
        raise ConfigError(
            f"the score network returned shape {tuple(out.shape)} for input {tuple(x.shape)}; "
            "a score network must return a tensor of its input's shape."
        )
    # Networks may run under autocast; the objective itself is computed in x's precision.
    return out.to(x.dtype)


def _per_sample_view(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.view(x.shape[0], *([1] * (x.dim() - 1)))


def dsm(anneal_power: float = 2.0) -> LossFn:
    """Annealed denoising score matching (the paper's eq. 6; official
    ``anneal_dsm_score_estimation``).

    Per sample: a uniform level i, ``x~ = x + sigma_i z``, target ``-(x~ - x) / sigma_i^2``, and
    ``1/2 * sum((s(x~, i) - target)^2) * sigma_i^anneal_power``; the loss is the batch mean.
    With ``anneal_power=2`` every level contributes on the same scale.
    """
    anneal_power = _check_anneal_power(anneal_power)

    def dsm_loss(model: torch.nn.Module, x: torch.Tensor, sigmas: torch.Tensor, generator=None):
        sigmas = _check_inputs(x, sigmas, generator)
        levels = _draw_levels(x, sigmas, generator)
        used = sigmas[levels]
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        sig = _per_sample_view(used, x)
        perturbed = x + sig * noise
        # -(x~ - x) / sigma^2 written as -z / sigma: the same value without the cancellation.
        target = -noise / sig
        scores = _check_output(model(perturbed, network_condition(model, levels, sigmas)), x)
        sq = (scores - target).pow(2).flatten(1).sum(dim=1)
        per_sample = 0.5 * sq * used.pow(anneal_power)
        return LossOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), levels=levels)

    dsm_loss.__qualname__ = dsm_loss.__name__ = f"dsm(anneal_power={anneal_power})"
    return dsm_loss


def ssm(anneal_power: float = 2.0, n_particles: int = 1) -> LossFn:
    """Annealed sliced score matching with variance reduction (official
    ``anneal_sliced_score_estimation_vr``).

    Per sample: a uniform level i, ``x~ = x + sigma_i z``; for each of ``n_particles`` Gaussian
    projection vectors v, ``1/2 ||s(x~, i)||^2 + v^T d(v^T s(x~, i)) / dx~``, averaged over the
    particles and weighted by ``sigma_i^anneal_power``; the loss is the batch mean. (The official
    code always weights by ``sigma_i^2``, the default here.) The Jacobian-vector term is built
    with ``create_graph=True`` when gradients are enabled, so the loss trains the network.
    """
    anneal_power = _check_anneal_power(anneal_power)
    integer("n_particles", n_particles)

    def ssm_loss(model: torch.nn.Module, x: torch.Tensor, sigmas: torch.Tensor, generator=None):
        sigmas = _check_inputs(x, sigmas, generator)
        batch = x.shape[0]
        levels = _draw_levels(x, sigmas, generator)
        used = sigmas[levels]
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        perturbed = (x + _per_sample_view(used, x) * noise).detach()
        # Particle p of sample b sits at row p * batch + b.
        dup = perturbed.repeat(n_particles, *([1] * (x.dim() - 1)))
        dup_levels = levels.repeat(n_particles)
        vectors = torch.randn(dup.shape, generator=generator, device=x.device, dtype=x.dtype)
        # Only train when the caller trains; an evaluation under no_grad still needs autograd
        # for the Jacobian term, but not a graph of it.
        train = torch.is_grad_enabled()
        with torch.enable_grad():
            dup.requires_grad_(True)
            scores = _check_output(model(dup, network_condition(model, dup_levels, sigmas)), dup)
            if scores.requires_grad:
                (jvp,) = torch.autograd.grad(
                    (scores * vectors).sum(), dup, create_graph=train, allow_unused=True
                )
            else:  # a score that ignores its input has a zero Jacobian
                jvp = None
            if jvp is None:
                jvp = torch.zeros_like(dup)
        if not train:
            scores = scores.detach()
        half_norm = 0.5 * scores.pow(2).flatten(1).sum(dim=1)
        trace_term = (vectors * jvp).flatten(1).sum(dim=1)
        per_particle = (half_norm + trace_term).view(n_particles, batch)
        per_sample = per_particle.mean(dim=0) * used.pow(anneal_power)
        return LossOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), levels=levels)

    ssm_loss.__qualname__ = ssm_loss.__name__ = (
        f"ssm(anneal_power={anneal_power}, n_particles={n_particles})"
    )
    return ssm_loss
