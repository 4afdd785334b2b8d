"""The NCSNv2 score network: the official ``NCSNv2`` (Song & Ermon 2020), technique 3.

The NCSN RefineNet made unconditional: the residual encoder (shared with
:mod:`scorebench_ncsn.network`) uses plain instance norm++, the RefineNet blocks have no
normalization and pool with 5x5 max-pooling, and the output is divided by sigma, so one
network serves any number of noise levels and any sigma (it is sigma-conditioned: samplers
that query off the training grid get an exact answer).

``deeper=True`` is the official ``NCSNv2Deeper`` (its LSUN models: a fifth stage, width
4 ngf).

Size (the official counts): CIFAR-10 and CelebA 64x64 (C=3, ngf=128) 29,694,083
parameters; deeper (C=3, ngf=128) 83,445,379. Digits (C=1, ngf=32): 1,858,977.

Sub-modules are created in the official order, so parameters map one to one onto the
official model's (``benchmarks/ncsnv2_parity.py`` checks the outputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scorebench_ncsn.network import NCSNConfigError, elu, encoder, instance_norm_plus, stage
from torch import Tensor, nn

from scorebench.checks import boolean, integer

__all__ = ["NCSNv2", "InstanceNormPlus"]


class InstanceNormPlus(nn.Module):
    """Unconditional instance norm++: ``gamma * (IN(x) + alpha * mu~) + beta``. Called as
    ``norm(x, y)`` like the conditional one; ``y`` is ignored."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.empty(num_features).normal_(1.0, 0.02))
        self.gamma = nn.Parameter(torch.empty(num_features).normal_(1.0, 0.02))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return instance_norm_plus(x, self.gamma[None], self.alpha[None], self.beta[None])


def _conv3x3(cin: int, cout: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


class _RCU(nn.Module):
    """Residual conv units without normalization: ``n_blocks`` x (ELU, conv) x ``n_stages``."""

    def __init__(self, features: int, n_blocks: int, n_stages: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList(_conv3x3(features, features, False) for _ in range(n_stages))
            for _ in range(n_blocks)
        )

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            h = x
            for conv in block:
                h = conv(elu(h))
            x = x + h
        return x


class _RefineBlock(nn.Module):
    """RefineNet block: adapt RCUs, multi-resolution fusion (3x3 conv + bilinear resize),
    chained residual max-pooling, output RCU."""

    def __init__(self, in_planes: list[int], features: int, end: bool = False) -> None:
        super().__init__()
        self.adapt = nn.ModuleList(_RCU(c, 2, 2) for c in in_planes)
        self.output = _RCU(features, 3 if end else 1, 2)
        self.fusion = (
            nn.ModuleList(_conv3x3(c, features, True) for c in in_planes)
            if len(in_planes) > 1
            else None
        )
        self.crp = nn.ModuleList(_conv3x3(features, features, False) for _ in range(2))

    def forward(self, xs: list[Tensor], size: tuple[int, int]) -> Tensor:
        hs = [rcu(x) for rcu, x in zip(self.adapt, xs, strict=True)]
        if self.fusion is None:
            h = hs[0]
        else:
            h = 0
            for conv, x in zip(self.fusion, hs, strict=True):
                fused = conv(x)
                if tuple(fused.shape[2:]) != size:
                    fused = F.interpolate(fused, size=size, mode="bilinear", align_corners=True)
                h = h + fused
        h = elu(h)
        path = h
        for conv in self.crp:
            path = conv(F.max_pool2d(path, 5, stride=1, padding=2))
            h = h + path
        return self.output(h)


class NCSNv2(nn.Module):
    """The NCSNv2 score network (official ``NCSNv2``): ``forward(x, sigma)`` with one sigma
    per sample returns the score, already divided by sigma.

    Args:
        channels: image channels C.
        ngf: base width (128 for CIFAR-10 in the paper).
        image_size: the training resolution (even, >= 4); the network is fully convolutional.
        logit_transform: if False (default) the input, in [0, 1], is mapped to ``2x - 1``.
    """

    conditioning = "sigma"

    def __init__(
        self,
        channels: int = 3,
        ngf: int = 128,
        image_size: int = 32,
        logit_transform: bool = False,
        deeper: bool = False,
    ) -> None:
        super().__init__()
        for name, value, minimum in (
            ("channels", channels, 1),
            ("ngf", ngf, 2),
            ("image_size", image_size, 4),
        ):
            integer(f"NCSNv2: {name}", value, minimum, error=NCSNConfigError)
        if image_size % 2:
            raise NCSNConfigError(f"NCSNv2: image_size must be even, got {image_size}")
        self.channels, self.ngf, self.image_size = channels, ngf, image_size
        self.logit_transform = bool(logit_transform)
        self.deeper = boolean("NCSNv2: deeper", deeper, error=NCSNConfigError)
        w, norm = ngf, InstanceNormPlus
        self.begin_conv = nn.Conv2d(channels, w, 3, padding=1)
        self.head_norm = InstanceNormPlus(w)
        self.end_conv = nn.Conv2d(w, channels, 3, padding=1)
        if deeper:  # official NCSNv2Deeper (64x64 and up): one more stage, width 4 ngf
            stages = [
                stage(w, w, norm, 1, down=False),
                stage(w, 2 * w, norm, 1),
                stage(2 * w, 2 * w, norm, 1),
                stage(2 * w, 4 * w, norm, 2),
                stage(4 * w, 4 * w, norm, 4),
            ]
            refine = [([4 * w], 4 * w), ([4 * w] * 2, 2 * w), ([2 * w] * 2, 2 * w)]
            refine += [([2 * w] * 2, w), ([w, w], w)]
        else:
            stages = encoder(w, norm)
            refine = [([2 * w], 2 * w), ([2 * w] * 2, 2 * w), ([2 * w] * 2, w), ([w, w], w)]
        # Named res1.., refine1.. as in the official code (and in checkpoints).
        self.depth = len(stages)
        for i, blocks in enumerate(stages, 1):
            setattr(self, f"res{i}", blocks)
        for i, (planes, out) in enumerate(refine, 1):
            setattr(self, f"refine{i}", _RefineBlock(planes, out, end=i == len(refine)))

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, ngf={self.ngf}, image_size={self.image_size}, "
            f"deeper={self.deeper}"
        )

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise NCSNConfigError(
                f"NCSNv2: x must be [batch, {self.channels}, height, width], got {tuple(x.shape)}"
            )
        if sigma.shape != (x.shape[0],) or not sigma.dtype.is_floating_point:
            raise NCSNConfigError(
                f"NCSNv2: sigma must hold one float per sample, shape [{x.shape[0]}], got "
                f"{tuple(sigma.shape)} {sigma.dtype}"
            )
        h = x if self.logit_transform else 2 * x - 1.0
        h = self.begin_conv(h)
        layers = []
        for i in range(1, self.depth + 1):
            for block in getattr(self, f"res{i}"):
                h = block(h, None)
            layers.append(h)
        r = None
        for i, layer in enumerate(reversed(layers), 1):
            inputs = [layer] if r is None else [layer, r]
            r = getattr(self, f"refine{i}")(inputs, tuple(layer.shape[2:]))
        out = self.end_conv(elu(self.head_norm(r)))
        return out / sigma.to(out.dtype).view(-1, 1, 1, 1)
