"""Batch-level training preprocessing (what the trainer applies to each batch).

All randomness comes from the ``torch.Generator`` passed in, on the device of ``x``: same
generator state, same output, so a resumed run (which restores the generator) continues
exactly. ``preprocess`` applies, in the official NCSN order: horizontal flips (the official
code flips in the dataset transform, before anything else), uniform dequantization
``x * 255/256 + U[0, 1)/256``, then the optional logit transform.
"""

from __future__ import annotations

import torch

from scorebench.errors import ConfigError, ScorebenchError

__all__ = [
    "dequantize",
    "inverse_logit_transform",
    "logit_transform",
    "preprocess",
    "random_hflip",
    "to_uint8",
]


def _check_generator(x: torch.Tensor, generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise ScorebenchError(f"expected a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != x.device.type:
        raise ScorebenchError(
            f"the generator is on {generator.device} but the batch is on {x.device}; create "
            f"it with torch.Generator(device=x.device)"
        )


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as 8-bit values (clamped, rounded): how samples are stored."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def dequantize(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform dequantization of images in [0, 1] with 256 levels: ``x*255/256 + u/256``,
    ``u ~ U[0, 1)``. The result stays in [0, 1)."""
    _check_generator(x, generator)
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x * (255.0 / 256.0) + noise / 256.0


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of a ``(N, C, H, W)`` batch left-right with probability 1/2."""
    _check_generator(x, generator)
    if x.ndim != 4:
        raise ConfigError(
            f"horizontal flips need a batch of images (N, C, H, W), got shape {tuple(x.shape)}"
        )
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def logit_transform(x: torch.Tensor, lam: float = 1e-6) -> torch.Tensor:
    """``logit(lam + (1 - 2 lam) x)``: maps [0, 1] onto the real line (official option)."""
    y = lam + (1.0 - 2.0 * lam) * x
    return torch.log(y) - torch.log1p(-y)


def inverse_logit_transform(y: torch.Tensor, lam: float = 1e-6) -> torch.Tensor:
    """The exact inverse of :func:`logit_transform`. (The official code applies only the
    sigmoid, leaving the ``lam`` squeeze in: an error below ``2 * lam``.)"""
    return (torch.sigmoid(y) - lam) / (1.0 - 2.0 * lam)


_dequantize = dequantize  # preprocess's keyword arguments shadow the function names


def preprocess(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    dequantize: bool,
    hflip: bool,
    logit: bool,
) -> torch.Tensor:
    """Flip (if ``hflip``), then dequantize (if ``dequantize``), then logit (if ``logit``)."""
    if hflip:
        x = random_hflip(x, generator)
    if dequantize:
        x = _dequantize(x, generator)
    if logit:
        x = logit_transform(x)
    return x
