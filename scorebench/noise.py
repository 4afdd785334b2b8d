"""Per-sample randomness: sample ``i`` of a cell draws all of its noise (its initial state
and every draw of its chain) from its own generator, seeded by ``(cell seed, i)``. Sample
``i`` is then the same at any batch size, on any number of ranks, and a cell drawn partly on
one machine and finished on another is one consistent sample set (EDM's ``generate.py``
keeps one generator per seed the same way; diffusers' schedulers take such a list).

A sampler receives this as ``noise`` (:class:`scorebench.api.Noise`). A sampler written for
the older contract (a ``generator`` parameter, no ``noise``) still runs: it gets one
``torch.Generator`` per batch, seeded by ``(cell seed, first sample of the batch)``, and its
cells record the batch layout, since its samples depend on it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

_MASK = 0xFFFFFFFF


def _fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finaliser: a bijection of [0, 2^32) that scatters its bits."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a cell seeded by ``seed`` (both below 2^32).

    torch's CPU generator (mt19937) keeps only the low 32 bits of a seed, so the pair is
    folded into 32 bits by a bijection of the index for each cell seed: no two samples of a
    cell share a stream, and two cells of n samples with different seeds share one only if
    their seeds' hashes agree above the lowest log2(n) bits (probability about 2n / 2^32)."""
    return _fmix32((index ^ _fmix32(seed & _MASK)) & _MASK)


def row_width(numel: int, device: torch.device) -> int:
    """How many values one draw of a row of ``numel`` takes from a sample's generator: on the
    CPU, ``numel`` rounded up to a multiple of 16 (the extra values are drawn and dropped),
    so that a block of rows has exactly the values of the rows drawn one by one (mt19937
    fills draws of 16 values or more in chunks of 16, and smaller ones value by value); on
    a GPU, ``numel``."""
    return -(-numel // 16) * 16 if device.type == "cpu" else numel


def block_rows(width: int, device: torch.device) -> int:
    """How many rows of ``width`` values a sample's generator draws at once (one on a GPU,
    where a block would not give the rows' values)."""
    return max(1, min(256, 4096 // width)) if device.type == "cpu" else 1


class SampleNoise:
    """Standard normal (``noise(x)``) and uniform (``noise.uniform(x)``) draws of x's shape:
    row ``j`` is the next draw of the generator of sample ``indices[j]``.

    Drawing row by row from thousands of generators is slow, so each generator draws
    :func:`block_rows` rows at once (the values of those rows drawn one by one, see
    :func:`row_width`) and hands them out in order; before another kind of draw (or before
    ``generators`` is handed to a library) the generators are put back where drawing one
    row at a time would have left them. A sample's values therefore depend only on
    (seed, i) and on the draws its sampler makes."""

    def __init__(self, seed: int, indices: Sequence[int], device: torch.device | str = "cpu"):
        self.seed, self.indices, self.device = seed, indices, torch.device(device)
        self._generators = [
            torch.Generator(self.device).manual_seed(sample_seed(seed, i)) for i in indices
        ]
        self._block: _Block | None = None

    def __len__(self) -> int:
        return len(self._generators)

    @property
    def generators(self) -> list[torch.Generator]:
        """One generator per sample, each at its next draw (for diffusers' schedulers)."""
        self._settle()
        return self._generators

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._rows(torch.randn, x.shape, x.dtype)

    def uniform(self, x: torch.Tensor) -> torch.Tensor:
        return self._rows(torch.rand, x.shape, x.dtype)

    def normal(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``[len(self), *shape]`` standard normal values (a chain's start)."""
        return self._rows(torch.randn, (len(self), *shape), dtype)

    def _rows(self, draw: Callable, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        if shape[0] != len(self):
            raise ValueError(
                f"noise for {shape[0]} rows asked of the noise of {len(self)} samples: draw it "
                "for the whole batch (x's first dimension)."
            )
        kind = (draw, dtype, math.prod(shape[1:]))
        if self._block is not None and self._block.kind != kind:
            self._settle()
        if self._block is None:
            self._block = _Block.draw(kind, self._generators, self.device)
        numel = kind[2]
        out = self._block.rows[self._block.used, :, :numel].reshape(tuple(shape))
        self._block.used += 1
        if self._block.used == len(self._block.rows):  # the generators are where they belong
            self._block = None
        return out

    def _settle(self) -> None:
        """Rewind each generator to the start of the current block and draw only the rows
        already handed out."""
        block, self._block = self._block, None
        if block is None:
            return
        draw, dtype, _ = block.kind
        width = block.rows.shape[2]
        for g, state in zip(self._generators, block.states, strict=True):
            g.set_state(state)
            draw((block.used, width), generator=g, device=self.device, dtype=dtype)

    def batch_generator(self) -> torch.Generator:
        """One generator for the whole batch (samplers of the older contract)."""
        first = self.indices[0] if len(self) else 0
        return torch.Generator(self.device).manual_seed(sample_seed(self.seed, first))


def takes_noise(sampler: Callable) -> bool:
    """Whether the sampler draws through ``noise`` (else it takes a batch ``generator``)."""
    try:
        return "noise" in inspect.signature(sampler).parameters
    except (TypeError, ValueError):  # no signature to read: the older contract
        return False


def depends_on_batch(sampler: Callable, params: dict[str, Any]) -> bool:
    """Whether a sample depends on the others of its batch: a sampler of the older contract
    (one generator per batch), or one whose ``couples_batch(params)`` says its update reads
    the whole batch (the batch-mean step rule of score_sde's corrector)."""
    couples = getattr(sampler, "couples_batch", None)
    return not takes_noise(sampler) or bool(couples and couples(params))


def randomness(sampler: Callable, noise: SampleNoise) -> dict[str, Any]:
    """The keyword a sampler draws its randomness from."""
    return {"noise": noise} if takes_noise(sampler) else {"generator": noise.batch_generator()}


@dataclass
class _Block:
    """Rows drawn ahead for one kind of draw: ``rows[t]`` is the batch's t-th draw."""

    kind: tuple[Callable, torch.dtype, int]  # (torch.randn or torch.rand, dtype, row size)
    rows: torch.Tensor  # [k, batch, row width]
    states: list[torch.Tensor]  # each generator's state before the block
    used: int = 0

    @classmethod
    def draw(cls, kind, generators: list[torch.Generator], device: torch.device) -> _Block:
        draw, dtype, numel = kind
        width = row_width(numel, device)
        size = (block_rows(width, device), width)
        states = [g.get_state() for g in generators] if size[0] > 1 else []
        rows = [draw(size, generator=g, device=device, dtype=dtype) for g in generators]
        return cls(kind, torch.stack(rows, dim=1), states)
