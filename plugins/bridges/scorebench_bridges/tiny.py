"""Small randomly initialised diffusers pipelines (UNet + scheduler), saved with
``save_pretrained``: what the bridge's tests and its parity preset measure offline.

    python -m scorebench_bridges.tiny DIR [--kind epsilon|v_prediction|sample|ve] [--size 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

KINDS = ("epsilon", "v_prediction", "sample", "ve")


def save_tiny_pipeline(
    out: str | Path, kind: str = "epsilon", *, size: int = 8, channels: int = 1, seed: int = 0
) -> Path:
    """A 2-level UNet2DModel of ``channels x size x size`` and its scheduler under ``out``:
    a DDPM (linear betas, 1000 steps) with ``kind`` prediction, or for ``kind="ve"`` a
    score model with Fourier sigma embedding and a ScoreSdeVeScheduler."""
    from diffusers import DDPMScheduler, ScoreSdeVeScheduler, UNet2DModel

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=8,
        time_embedding_type="fourier" if kind == "ve" else "positional",
    )
    if kind == "ve":
        scheduler = ScoreSdeVeScheduler(num_train_timesteps=2000, sigma_min=0.01, sigma_max=50.0)
    else:
        scheduler = DDPMScheduler(num_train_timesteps=1000, prediction_type=kind)
    out = Path(out)
    unet.save_pretrained(out / "unet", safe_serialization=True)
    scheduler.save_pretrained(out / "scheduler")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--kind", default="epsilon", choices=KINDS)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--channels", type=int, default=1)
    args = parser.parse_args()
    print(save_tiny_pipeline(args.out, args.kind, size=args.size, channels=args.channels))


if __name__ == "__main__":
    main()
