"""``--preset diffusers-parity``: scorebench's samplers and diffusers' own on two small
random diffusers UNets (a DDPM epsilon model and a VE score model, 8x8 grey, the digits
protocol), side by side at two NFE budgets.

Twins start from the same noise and walk the same grid, so their rows agree to float32
round-off: ``pf_euler``, ``euler`` and ``edm_euler``; ``pf_heun`` and ``heun``;
``samplers:dpmpp_2m`` and ``diffusers:dpmpp_2m``; ``pc`` and ``sde_ve_pc`` (which differ
by ``sampling_eps`` in their last levels). The models are random: the metrics say nothing
of quality, only whether two implementations draw the same samples.

The pipelines are built once (seeded) under the cache, ``cache_dir()/diffusers-parity``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from scorebench.api import cache_dir

#: Steps per budget: Heun-type samplers spend 2 steps - 1 evaluations, PC with one
#: corrector step 2 steps; the rest one evaluation per step.
BUDGETS = (10, 20)


def _pipeline(kind: str) -> Path:
    """The tiny pipeline of ``kind`` under the cache, built on first use (atomically: a
    concurrent bench finds it whole or builds its own copy)."""
    from scorebench_bridges.diffusers_source import _diffusers
    from scorebench_bridges.tiny import save_tiny_pipeline

    _diffusers()  # the extra's install command, not an ImportError
    final = cache_dir() / "diffusers-parity" / kind
    if (final / "unet" / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{kind}-"))
    save_tiny_pipeline(scratch, kind)
    try:
        os.replace(scratch, final)
    except OSError:  # another process renamed its copy first
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def diffusers_parity() -> dict[str, Any]:
    steps = list(BUDGETS)
    half = [n // 2 for n in BUDGETS]
    twin = {"snr": 0.16}  # pc's default; ScoreSdeVeScheduler's own is 0.15
    return {
        "sources": [
            {"diffusers": str(_pipeline(kind)), "dataset": "digits"} for kind in ("epsilon", "ve")
        ],
        "samplers": [
            {"name": "pf_euler", "grid": {"steps": steps}},
            {"name": "diffusers:euler", "grid": {"steps": steps}},
            {"name": "diffusers:edm_euler", "grid": {"steps": steps}},
            {"name": "pf_heun", "grid": {"steps": half}},
            {"name": "diffusers:heun", "grid": {"steps": half}},
            {"name": "samplers:dpmpp_2m", "grid": {"steps": steps}},
            {"name": "diffusers:dpmpp_2m", "grid": {"steps": steps}},
            {"name": "pc", "grid": {"steps": half}, "params": twin},
            {"name": "diffusers:sde_ve_pc", "grid": {"steps": half}, "params": twin},
        ],
        "n": 200,
        "seeds": 1,
    }
