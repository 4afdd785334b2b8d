"""The NCSN score network: the official ``CondRefineNetDilated`` (Song & Ermon 2019).

A RefineNet with dilated residual encoder blocks, conditioned on the integer noise-level
index through conditional instance normalization++ (every normalization layer holds one
``[gamma, alpha, beta]`` row per level).

Layout (``ngf`` = base width, ``C`` = image channels, H x W input, both even)::

    x -> 2x - 1 (unless logit_transform) -> conv3x3 C->ngf
    res1: 2 residual blocks ngf                               H   x W
    res2: down block ngf->2ngf (mean-pool), block 2ngf        H/2 x W/2
    res3: dilation-2 "down" block (no pooling), block         H/2 x W/2
    res4: dilation-4 "down" block (no pooling), block         H/2 x W/2
    refine1([res4]) -> 2ngf, refine2([res3, .]) -> 2ngf,
    refine3([res2, .]) -> ngf, refine4([res1, .]) -> ngf (3 output RCU blocks)
    norm -> ELU -> conv3x3 ngf->C

The output is the score itself (not divided by sigma: that came with NCSNv2).

Size: CIFAR-10 (C=3, ngf=128, 10 levels) has 30,117,635 parameters; MNIST (C=1, ngf=64,
10 levels) 7,638,657. Forward cost per image (multiply-add = 2 FLOP, convolutions and
embeddings dominate): about 19.8 GFLOP at 3x32x32 / ngf 128 and 3.8 GFLOP at 1x28x28 /
ngf 64; it scales with ngf^2 * H * W.

Sub-modules are created in the same order as the official code, so the same seed gives
the same initial weights as ``CondRefineNetDilated``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scorebench.api import ConfigError
from scorebench.checks import integer


def elu(x: Tensor) -> Tensor:
    """ELU. In bf16 (autocast or a bf16 copy of the network) through exp, which torch
    vectorises, instead of ELU's expm1, which it does not (measured on one CPU, a
    100x128x32x32 bf16 tensor: exp 3.3 ms, expm1 58.6 ms, F.elu 66 ms); its rounding error
    stays below bf16's own. fp32 is F.elu, unchanged bit for bit."""
    if x.dtype == torch.bfloat16:
        return torch.where(x > 0, x, torch.exp(x.clamp(max=0)) - 1)
    return F.elu(x)


__all__ = [
    "NCSN",
    "NCSNConfigError",
    "CondInstanceNormPlus",
    "encoder",
    "instance_norm_plus",
    "ncsn",
]

_EPS = 1e-5


class NCSNConfigError(ConfigError, ValueError):
    """A bad NCSN network argument or input (also a ``ValueError``)."""


def _conv3x3(cin: int, cout: int, bias: bool, dilation: int = 1) -> nn.Conv2d:
    # padding = dilation keeps the spatial size for every dilation.
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=bias)


class CondInstanceNormPlus(nn.Module):
    """Conditional instance normalization++ keyed by an integer level index.

    ``out = gamma_y * (IN(x) + alpha_y * mu~) + beta_y`` where ``IN`` is instance norm
    without affine parameters and ``mu~`` are the per-channel spatial means, standardised
    across channels (unbiased variance, eps 1e-5), which puts back the colour/offset
    information that ``IN`` removes.
    """

    def __init__(self, num_features: int, num_levels: int) -> None:
        super().__init__()
        self.num_features = num_features
        # Row layout [gamma | alpha | beta]; one lookup per call gives all three.
        self.embed = nn.Embedding(num_levels, 3 * num_features)
        with torch.no_grad():
            self.embed.weight[:, : 2 * num_features].normal_(1.0, 0.02)
            self.embed.weight[:, 2 * num_features :].zero_()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gamma, alpha, beta = self.embed(y).chunk(3, dim=1)
        return instance_norm_plus(x, gamma, alpha, beta)


def instance_norm_plus(x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """``gamma * (IN(x) + alpha * mu~) + beta`` with per-channel ``gamma``, ``alpha``,
    ``beta`` of shape [B, C] (conditional) or [1, C] (unconditional)."""
    # Statistics of the channel means in at least fp32: under bf16 autocast their
    # spread across channels can be tiny.
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    means = x.mean(dim=(2, 3), dtype=acc)  # [B, C]
    var, mean = torch.var_mean(means, dim=1, keepdim=True)  # unbiased, across channels
    mu = (means - mean) * torch.rsqrt(var + _EPS)
    h = F.instance_norm(x, eps=_EPS)
    # gamma * (h + alpha * mu) + beta, folded into one scale and one shift per channel.
    scale = gamma.to(acc).expand_as(mu)
    shift = gamma.to(acc) * alpha.to(acc) * mu + beta.to(acc)
    return torch.addcmul(
        shift[:, :, None, None].to(h.dtype), h, scale[:, :, None, None].to(h.dtype)
    )


class _ResBlock(nn.Module):
    """Pre-activation conditional residual block: (norm, ELU, conv) x 2 plus a shortcut.

    ``down`` with ``dilation == 1`` halves the resolution (2x2 mean-pool after the second
    conv and after a 1x1 shortcut conv); with ``dilation > 1`` it keeps the resolution and
    the shortcut is a dilated 3x3 conv. Every conv has a bias. ``norm(features)`` builds a
    normalization layer called as ``norm(x, y)`` (NCSNv2 passes an unconditional one).
    """

    def __init__(
        self, cin: int, cout: int, norm: Callable[[int], nn.Module], down: bool, dilation: int
    ) -> None:
        super().__init__()
        if not down and cin != cout:
            raise NCSNConfigError("internal: a non-down residual block keeps its width")
        mid = cin if down else cout
        self.pool = down and dilation == 1
        self.conv1 = _conv3x3(cin, mid, bias=True, dilation=dilation)
        self.norm2 = norm(mid)
        self.conv2 = _conv3x3(mid, cout, bias=True, dilation=dilation)
        if not down:
            self.shortcut = None
        elif dilation == 1:
            self.shortcut = nn.Conv2d(cin, cout, 1, bias=True)
        else:
            self.shortcut = _conv3x3(cin, cout, bias=True, dilation=dilation)
        self.norm1 = norm(cin)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.conv1(elu(self.norm1(x, y)))
        h = self.conv2(elu(self.norm2(h, y)))
        skip = x if self.shortcut is None else self.shortcut(x)
        if self.pool:
            h = F.avg_pool2d(h, 2)
            skip = F.avg_pool2d(skip, 2)
        return skip + h


class _NormActConv(nn.Module):
    """One RCU stage: conditional norm, ELU, 3x3 conv without bias."""

    def __init__(self, features: int, num_levels: int) -> None:
        super().__init__()
        self.norm = CondInstanceNormPlus(features, num_levels)
        self.conv = _conv3x3(features, features, bias=False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.conv(elu(self.norm(x, y)))


class _RCU(nn.Module):
    """Residual conv unit: ``n_blocks`` residual blocks of ``n_stages`` stages each."""

    def __init__(self, features: int, n_blocks: int, n_stages: int, num_levels: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList(_NormActConv(features, num_levels) for _ in range(n_stages))
            for _ in range(n_blocks)
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        for block in self.blocks:
            h = x
            for stage in block:
                h = stage(h, y)
            x = x + h
        return x


class _FusionPath(nn.Module):
    """One input of multi-resolution fusion: norm, 3x3 conv with bias, bilinear resize."""

    def __init__(self, cin: int, features: int, num_levels: int) -> None:
        super().__init__()
        # The official code creates the conv before the norm.
        self.conv = _conv3x3(cin, features, bias=True)
        self.norm = CondInstanceNormPlus(cin, num_levels)

    def forward(self, x: Tensor, y: Tensor, size: tuple[int, int]) -> Tensor:
        h = self.conv(self.norm(x, y))
        if tuple(h.shape[2:]) != size:  # same-size align_corners resize is the identity
            h = F.interpolate(h, size=size, mode="bilinear", align_corners=True)
        return h


class _CRPStage(nn.Module):
    """One chained-residual-pooling stage: norm, 5x5 average pool (stride 1), 3x3 conv."""

    def __init__(self, features: int, num_levels: int) -> None:
        super().__init__()
        self.norm = CondInstanceNormPlus(features, num_levels)
        self.conv = _conv3x3(features, features, bias=False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.conv(F.avg_pool2d(self.norm(x, y), 5, stride=1, padding=2))


class _RefineBlock(nn.Module):
    """Conditional RefineNet block: adapt RCUs, fusion, chained residual pooling, output RCU."""

    def __init__(
        self, in_planes: list[int], features: int, num_levels: int, end: bool = False
    ) -> None:
        super().__init__()
        self.adapt = nn.ModuleList(_RCU(c, 2, 2, num_levels) for c in in_planes)
        self.output = _RCU(features, 3 if end else 1, 2, num_levels)
        # A single input (the coarsest block) is not fused.
        self.fusion = (
            nn.ModuleList(_FusionPath(c, features, num_levels) for c in in_planes)
            if len(in_planes) > 1
            else None
        )
        self.crp = nn.ModuleList(_CRPStage(features, num_levels) for _ in range(2))

    def forward(self, xs: list[Tensor], y: Tensor, size: tuple[int, int]) -> Tensor:
        hs = [rcu(x, y) for rcu, x in zip(self.adapt, xs, strict=True)]
        if self.fusion is None:
            h = hs[0]
        else:
            h = self.fusion[0](hs[0], y, size)
            for path, x in zip(self.fusion[1:], hs[1:], strict=True):
                h = h + path(x, y, size)
        h = elu(h)
        path = h
        for stage in self.crp:
            path = stage(path, y)
            h = h + path
        return self.output(h, y)


def stage(
    cin: int, cout: int, norm: Callable[[int], nn.Module], dilation: int, down: bool = True
) -> nn.ModuleList:
    """One encoder stage of NCSN and NCSNv2: a (down) residual block, then a plain one."""
    return nn.ModuleList(
        [_ResBlock(cin, cout, norm, down, dilation), _ResBlock(cout, cout, norm, False, dilation)]
    )


def encoder(w: int, norm: Callable[[int], nn.Module]) -> list[nn.ModuleList]:
    """The four residual stages res1..res4 of NCSN and NCSNv2 (base width ``w``)."""
    return [
        stage(w, w, norm, 1, down=False),
        stage(w, 2 * w, norm, 1),
        stage(2 * w, 2 * w, norm, 2),
        stage(2 * w, 2 * w, norm, 4),
    ]


def _check_int(name: str, value: object, minimum: int, why: str) -> int:
    return integer(f"NCSN: {name}", value, minimum, why=why, error=NCSNConfigError)


class NCSN(nn.Module):
    """The NCSN score network (official ``CondRefineNetDilated``), conditioned on level index.

    Args:
        channels: image channels C.
        ngf: base width (128 for CIFAR-10/CelebA, 64 for MNIST in the paper).
        num_levels: number of noise levels L; ``forward`` takes indices in ``0..L-1``.
        image_size: the training resolution. The network is fully convolutional and accepts
            any even height and width >= 4; ``image_size`` is validated and recorded.
        logit_transform: if False (default) the input, in [0, 1], is mapped to ``2x - 1``;
            if True it is used as given (the data are already logit-transformed).

    ``forward(x, y)``: ``x`` is ``[B, C, H, W]``, ``y`` int64 level indices of shape ``[B]``;
    returns the estimated score, shaped like ``x`` (not divided by sigma).
    """

    conditioning = "level"

    def __init__(
        self,
        channels: int = 3,
        ngf: int = 128,
        num_levels: int = 10,
        image_size: int = 32,
        logit_transform: bool = False,
    ) -> None:
        super().__init__()
        _check_int("channels", channels, 1, "images have at least one channel")
        _check_int("ngf", ngf, 2, "instance norm++ standardises channel means across >= 2 channels")
        _check_int("num_levels", num_levels, 1, "one embedding row per noise level")
        _check_int(
            "image_size",
            image_size,
            4,
            "the down block halves it and instance norm needs > 1 pixel",
        )
        if image_size % 2:
            raise NCSNConfigError(
                f"NCSN: image_size must be divisible by 2 for the mean-pool down block, got "
                f"{image_size}; resize or crop the images to an even size"
            )
        if not isinstance(logit_transform, bool):
            raise NCSNConfigError(f"NCSN: logit_transform must be a bool, got {logit_transform!r}")
        self.channels = channels
        self.ngf = ngf
        self.num_levels = num_levels
        self.image_size = image_size
        self.logit_transform = logit_transform

        L, w = num_levels, ngf
        self.begin_conv = nn.Conv2d(channels, w, 3, padding=1)
        self.head_norm = CondInstanceNormPlus(w, L)
        self.end_conv = nn.Conv2d(w, channels, 3, padding=1)
        # The official MNIST (28x28) variant differs only by an "adjust_padding" flag that
        # its dilated block ignores, so one layout serves every size.
        self.res1, self.res2, self.res3, self.res4 = encoder(
            w, partial(CondInstanceNormPlus, num_levels=L)
        )
        self.refine1 = _RefineBlock([2 * w], 2 * w, L)
        self.refine2 = _RefineBlock([2 * w, 2 * w], 2 * w, L)
        self.refine3 = _RefineBlock([2 * w, 2 * w], w, L)
        self.refine4 = _RefineBlock([w, w], w, L, end=True)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, ngf={self.ngf}, num_levels={self.num_levels}, "
            f"image_size={self.image_size}, logit_transform={self.logit_transform}"
        )

    def _check_inputs(self, x: Tensor, y: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise NCSNConfigError(
                f"NCSN: x must be [batch, {self.channels}, height, width], got {tuple(x.shape)}"
            )
        h, w = x.shape[2], x.shape[3]
        if h % 2 or w % 2 or h < 4 or w < 4:
            raise NCSNConfigError(
                f"NCSN: height and width must be even and >= 4 (mean-pool down block), got {h}x{w}"
            )
        if y.shape != (x.shape[0],):
            raise NCSNConfigError(
                f"NCSN: y must hold one level index per sample, shape [{x.shape[0]}], got "
                f"{tuple(y.shape)}"
            )
        if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
            raise NCSNConfigError(
                f"NCSN: y must be integer level indices (this network has conditioning "
                f"'level'), got dtype {y.dtype}"
            )
        # A range check needs the values: free on CPU; on accelerators it would force a
        # sync every call, so there the embedding lookup's own error has to do.
        if y.device.type == "cpu" and y.numel() and not torch.compiler.is_compiling():
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= self.num_levels:
                raise NCSNConfigError(
                    f"NCSN: level indices must lie in 0..{self.num_levels - 1}, got values in "
                    f"{lo}..{hi}"
                )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        self._check_inputs(x, y)
        if not self.logit_transform:
            x = 2 * x - 1.0
        h = self.begin_conv(x)
        layers = []
        for stage in (self.res1, self.res2, self.res3, self.res4):
            for block in stage:
                h = block(h, y)
            layers.append(h)
        l1, l2, l3, l4 = layers

        def size(t: Tensor) -> tuple[int, int]:
            return (t.shape[2], t.shape[3])

        r = self.refine1([l4], y, size(l4))
        r = self.refine2([l3, r], y, size(l3))
        r = self.refine3([l2, r], y, size(l2))
        r = self.refine4([l1, r], y, size(l1))
        return self.end_conv(elu(self.head_norm(r, y)))


def ncsn(**params: object) -> NCSN:
    """Factory for the registry: ``ncsn(channels=3, ngf=128, ...)`` -> :class:`NCSN`."""
    return NCSN(**params)  # type: ignore[arg-type]
