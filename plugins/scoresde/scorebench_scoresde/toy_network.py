"""The toy preset's network: an MLP for 2-D points conditioned on random Fourier features of
log sigma (as the image network), its output divided by sigma."""

from __future__ import annotations

import torch
from torch import nn

from scorebench.checks import integer, number
from scorebench_scoresde.network import FourierFeatures


class FourierMLP(nn.Module):
    conditioning = "sigma"

    def __init__(
        self, dim: int = 2, hidden: int = 128, layers: int = 3, fourier_scale: float = 16.0
    ) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden), ("layers", layers)):
            integer(f"FourierMLP: {name}", value)
        number("FourierMLP: fourier_scale", fourier_scale)
        self.embed = nn.Sequential(FourierFeatures(hidden // 2, fourier_scale), nn.SiLU())
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = sigma.to(x.dtype)
        h = self.inp(x) + self.embed(sigma.log())
        for block in self.blocks:
            h = h + block(torch.nn.functional.silu(h))
        return self.out(torch.nn.functional.silu(h)) / sigma.view(-1, 1)
