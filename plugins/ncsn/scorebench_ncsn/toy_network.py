"""A noise-conditional MLP score network for 2-D point data (the toy presets).

Like NCSN it is conditioned on the integer level index and its output is not divided by
sigma: each level learns its own scale through a per-level embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from scorebench.api import ConfigError


class ToyScoreNet(nn.Module):
    conditioning = "level"

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, num_levels: int = 10):
        super().__init__()
        if min(dim, hidden, layers, num_levels) < 1:
            raise ConfigError(
                f"ToyScoreNet needs positive dim, hidden, layers and num_levels; got "
                f"{dim}, {hidden}, {layers}, {num_levels}"
            )
        self.inp = nn.Linear(dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        # Per level and layer a scale and shift (FiLM), as conditional norms do in NCSN.
        self.film = nn.Embedding(num_levels, 2 * hidden * layers)
        nn.init.normal_(self.film.weight[:, : hidden * layers], 1.0, 0.02)
        nn.init.zeros_(self.film.weight[:, hidden * layers :])
        self.out = nn.Linear(hidden, dim)
        self.layers, self.width = layers, hidden

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(y).chunk(2, dim=1)
        scale = scale.view(-1, self.layers, self.width)
        shift = shift.view(-1, self.layers, self.width)
        h = self.inp(x)
        for i, layer in enumerate([None, *self.hidden]):
            if layer is not None:
                h = layer(h)
            h = nn.functional.silu(h * scale[:, i] + shift[:, i])
        return self.out(h)
