"""A score network in the NCSN++ style (Song et al. 2021, appendix H), written for scorebench.

What it keeps of NCSN++: the noise level enters as random Gaussian Fourier features of
log sigma (scale 16); BigGAN-type residual blocks (GroupNorm, swish, the embedding added
after the first convolution, dropout) whose sum with the shortcut is rescaled by 1/sqrt(2);
resampling inside residual blocks with the FIR kernel [1, 3, 3, 1]; self-attention (DDPM's)
at the listed resolutions and in the middle; a zero-initialised output layer; and the
output divided by sigma (``scale_by_sigma``). What it leaves out: the progressive input and
output pyramids and the exact initialisation; it is not weight-compatible with
score_sde_pytorch checkpoints.

Inputs are images in [0, 1], mapped to [-1, 1] as NCSN++ does for uncentered data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scorebench.api import ConfigError
from scorebench.checks import integer, number

_FIR = torch.tensor([1.0, 3.0, 3.0, 1.0])


class FourierFeatures(nn.Module):
    """``[sin 2 pi W t, cos 2 pi W t]`` with fixed ``W ~ N(0, scale^2)``: 2 ``size`` features."""

    def __init__(self, size: int, scale: float = 16.0) -> None:
        super().__init__()
        self.register_buffer("W", torch.randn(size) * scale)

    def forward(self, t: Tensor) -> Tensor:
        angle = 2 * math.pi * t[:, None] * self.W[None].to(t.dtype)
        return torch.cat([angle.sin(), angle.cos()], dim=1)


def _groups(channels: int) -> int:
    return min(channels // 4, 32) or 1


class _FIRResample(nn.Module):
    """Up- or downsampling by 2 with the separable FIR kernel [1, 3, 3, 1] (per channel)."""

    def __init__(self, up: bool) -> None:
        super().__init__()
        kernel = torch.outer(_FIR, _FIR)
        self.register_buffer("kernel", kernel / kernel.sum() * (4 if up else 1))
        self.up = up

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        weight = self.kernel.to(x.dtype)[None, None].expand(c, 1, 4, 4)
        if self.up:  # zero insertion, then the kernel: size 2H
            return F.conv_transpose2d(x, weight, stride=2, padding=1, groups=c)
        return F.conv2d(x, weight, stride=2, padding=1, groups=c)


class ResBlock(nn.Module):
    """BigGAN-type residual block, optionally resampling both paths."""

    def __init__(
        self, cin: int, cout: int, emb: int, dropout: float, resample: str | None = None
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout, eps=1e-6)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as its shortcut
        self.resample = _FIRResample(resample == "up") if resample else None
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = F.silu(self.norm1(x))
        if self.resample is not None:
            h, x = self.resample(h), self.resample(x)
        h = self.conv1(h) + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.skip is not None:
            x = self.skip(x)
        return (x + h) / math.sqrt(2.0)


class Attention(nn.Module):
    """Single-head self-attention over positions (DDPM's), rescaled like the blocks."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels, eps=1e-6)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        b, c, hgt, wid = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, hgt * wid).unbind(1)
        h = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        h = self.out(h.transpose(1, 2).reshape(b, c, hgt, wid))
        return (x + h) / math.sqrt(2.0)


class NCSNpp(nn.Module):
    """``forward(x, sigma)``: the score at one sigma per sample, divided by sigma.

    Args:
        channels: image channels C.
        image_size: the training resolution, divisible by 2^(len(ch_mult) - 1).
        nf: base width (128 in the paper's CIFAR-10 model).
        ch_mult: width multipliers per resolution, highest first ((1, 2, 2, 2) in the paper).
        num_res_blocks: residual blocks per resolution (4 in the paper).
        attn_resolutions: resolutions with self-attention ((16,) in the paper).
        dropout: 0.1 in the paper.
        fourier_scale: the Fourier features' scale (16 in the paper).
    """

    conditioning = "sigma"

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 32,
        nf: int = 128,
        ch_mult: tuple[int, ...] | list[int] = (1, 2, 2, 2),
        num_res_blocks: int = 4,
        attn_resolutions: tuple[int, ...] | list[int] = (16,),
        dropout: float = 0.1,
        fourier_scale: float = 16.0,
    ) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("image_size", image_size), ("nf", nf)):
            integer(f"NCSNpp: {name}", value)
        integer("NCSNpp: num_res_blocks", num_res_blocks)
        number("NCSNpp: fourier_scale", fourier_scale)
        if not (isinstance(dropout, int | float) and 0 <= dropout < 1):
            raise ConfigError(f"NCSNpp: dropout must be in [0, 1), got {dropout!r}")
        ch_mult, attn = list(ch_mult), list(attn_resolutions)
        if not ch_mult or not all(isinstance(m, int) and m >= 1 for m in ch_mult):
            raise ConfigError(f"NCSNpp: ch_mult must be a list of integers >= 1, got {ch_mult}")
        if image_size % 2 ** (len(ch_mult) - 1):
            raise ConfigError(
                f"NCSNpp: image_size {image_size} must be divisible by 2^{len(ch_mult) - 1} "
                f"(one halving per extra ch_mult entry)"
            )
        resolutions = [image_size // 2**i for i in range(len(ch_mult))]
        unknown = [r for r in attn if r not in resolutions]
        if unknown:
            raise ConfigError(
                f"NCSNpp: attn_resolutions {unknown} are not among the resolutions {resolutions}"
            )
        self.channels, self.image_size = channels, image_size
        emb = 4 * nf
        self.embed = nn.Sequential(
            FourierFeatures(nf, fourier_scale),
            nn.Linear(2 * nf, emb),
            nn.SiLU(),
            nn.Linear(emb, emb),
        )
        self.conv_in = nn.Conv2d(channels, nf, 3, padding=1)
        self.down = nn.ModuleList()
        widths, width = [nf], nf
        for i, mult in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(width, nf * mult, emb, dropout))
                width = nf * mult
                if resolutions[i] in attn:
                    self.down.append(Attention(width))
                widths.append(width)
            if i + 1 < len(ch_mult):
                self.down.append(ResBlock(width, width, emb, dropout, resample="down"))
                widths.append(width)
        self.mid = nn.ModuleList(
            [
                ResBlock(width, width, emb, dropout),
                Attention(width),
                ResBlock(width, width, emb, dropout),
            ]
        )
        self.up = nn.ModuleList()
        for i, mult in reversed(list(enumerate(ch_mult))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(width + widths.pop(), nf * mult, emb, dropout))
                width = nf * mult
                if resolutions[i] in attn:
                    self.up.append(Attention(width))
            if i > 0:
                self.up.append(ResBlock(width, width, emb, dropout, resample="up"))
        self.norm_out = nn.GroupNorm(_groups(width), width, eps=1e-6)
        self.conv_out = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ConfigError(
                f"NCSNpp: x must be [batch, {self.channels}, height, width], got {tuple(x.shape)}"
            )
        if sigma.shape != (x.shape[0],):
            raise ConfigError(
                f"NCSNpp: sigma must hold one value per sample, shape [{x.shape[0]}], got "
                f"{tuple(sigma.shape)}"
            )
        sigma = sigma.to(x.dtype)
        emb = self.embed(sigma.log())
        h = self.conv_in(2 * x - 1)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb)
            if isinstance(layer, Attention):  # attends to the block before it: same skip
                skips[-1] = h
            else:
                skips.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock) and layer.resample is None:
                h = torch.cat([h, skips.pop()], dim=1)
            h = layer(h, emb)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out / sigma.view(-1, 1, 1, 1)
