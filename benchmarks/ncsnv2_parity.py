"""Output parity of scorebench's NCSNv2 network with the official one (ermongroup/ncsnv2).

    python benchmarks/ncsnv2_parity.py --reference-src PATH/TO/ncsnv2 [--config cifar10]

The official code is GPL-3.0 and is not vendored: give a checkout. The tool builds the
official ``NCSNv2`` from its own config file, copies its weights into scorebench's network
parameter by parameter (same creation order, shapes checked), runs both on the same noisy
inputs at several sigmas and prints the parameter counts and the largest output difference
as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import torch


def _namespace(tree):
    if isinstance(tree, dict):
        return types.SimpleNamespace(**{k: _namespace(v) for k, v in tree.items()})
    return tree


def official_model(source: Path, config_name: str):
    import yaml

    sys.path.insert(0, str(source))
    from models.ncsnv2 import NCSNv2, NCSNv2Deeper  # the official module

    config = _namespace(yaml.safe_load((source / "configs" / f"{config_name}.yml").read_text()))
    config.device = torch.device("cpu")
    deeper = config.data.dataset == "LSUN"  # the official get_model's choice
    if config.data.dataset == "FFHQ":
        raise SystemExit("FFHQ uses NCSNv2Deepest, which scorebench does not implement")
    return (NCSNv2Deeper if deeper else NCSNv2)(config).eval(), config, deeper


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-src", required=True, type=Path)
    parser.add_argument("--config", default="cifar10")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args(argv)
    from scorebench_ncsnv2.network import NCSNv2

    torch.manual_seed(0)
    theirs, config, deeper = official_model(args.reference_src, args.config)
    ours = NCSNv2(config.data.channels, config.model.ngf, config.data.image_size, deeper=deeper)
    ours.eval()
    their_params, our_params = list(theirs.parameters()), list(ours.parameters())
    if len(their_params) != len(our_params):
        raise SystemExit(f"parameter lists differ: {len(their_params)} vs {len(our_params)}")
    with torch.no_grad():
        for a, b in zip(their_params, our_params, strict=True):
            if a.shape != b.shape:
                raise SystemExit(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
            b.copy_(a)
    size, channels = config.data.image_size, config.data.channels
    x = torch.rand(args.batch, channels, size, size)
    levels = torch.linspace(0, len(theirs.sigmas) - 1, args.batch).long()
    sigma = theirs.sigmas[levels]
    noisy = x + torch.randn_like(x) * sigma.view(-1, 1, 1, 1)
    with torch.no_grad():
        want = theirs(noisy, levels)
        got = ours(noisy, sigma)
    result = {
        "config": args.config,
        "official_parameters": sum(p.numel() for p in their_params),
        "scorebench_parameters": sum(p.numel() for p in our_params),
        "sigmas_checked": [round(float(s), 6) for s in sigma],
        "max_abs_difference": float((want - got).abs().max()),
        # Per sample ||theirs - ours|| / ||theirs||: float32 summation order, not a scale.
        "max_relative_l2": float(
            ((want - got).flatten(1).norm(dim=1) / want.flatten(1).norm(dim=1)).max()
        ),
        "output_scale": float(want.abs().max()),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
