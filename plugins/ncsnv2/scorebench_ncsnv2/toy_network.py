"""Technique 3 on 2-D points (the toy preset): an unconditional MLP whose output is divided
by sigma. It knows sigma only through that division, as the image network does."""

from __future__ import annotations

import torch
from torch import nn

from scorebench.checks import integer


class ToyScoreNetV2(nn.Module):
    conditioning = "sigma"

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden), ("layers", layers)):
            integer(f"ToyScoreNetV2: {name}", value)
        widths = [dim] + [hidden] * layers
        body: list[nn.Module] = []
        for cin, cout in zip(widths, widths[1:], strict=False):
            body += [nn.Linear(cin, cout), nn.SiLU()]
        self.body = nn.Sequential(*body, nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.body(x) / sigma.to(x.dtype).view(-1, 1)
