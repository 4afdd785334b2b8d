"""Training-step time of several recipes on one dataset, interleaved in one process, so
that their ratio holds on a shared machine whose speed drifts between runs.

    OMP_NUM_THREADS=2 python benchmarks/bench_recipe_steps.py --dataset digits ncsn ncsnv2

For each round, each recipe trains ``--steps`` steps of its own preset (network, noise
levels, loss, Adam, batch) on batches drawn from the dataset; prints seconds per step
(median, min, max over rounds) and each recipe's ratio to the first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def setup(recipe: str, dataset: str) -> tuple:
    """The arguments of ``train_step`` for one recipe's preset (EMA included if it has one)."""
    from scorebench.components import (
        build_dataset,
        build_loss,
        build_network,
        build_optimizer,
        build_sigmas,
    )
    from scorebench.recipes import resolve_config

    config = resolve_config(recipe, dataset)
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    network = build_network(config, cpu)
    ema = None
    if config.train.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(config.train.ema))
    data = build_dataset(config)
    batch = data.batch(torch.randint(len(data), (config.data.batch_size,)))
    optimizer = build_optimizer(config, network, cpu)
    loss, sigmas = build_loss(config), build_sigmas(config, cpu)
    generator = torch.Generator().manual_seed(0)
    return network, network, optimizer, ema, loss, batch, sigmas, generator, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from scorebench.train import train_step

    states = {recipe: setup(recipe, args.dataset) for recipe in args.recipes}
    for state in states.values():
        train_step(*state)  # warm-up
    times: dict[str, list[float]] = {r: [] for r in args.recipes}
    for _ in range(args.rounds):
        for recipe in args.recipes:  # interleaved: drift hits every recipe alike
            start = time.perf_counter()
            for _ in range(args.steps):
                train_step(*states[recipe])
            times[recipe].append((time.perf_counter() - start) / args.steps)
    first = statistics.median(times[args.recipes[0]])
    result = {
        r: {
            "s_per_step_median": round(statistics.median(t), 5),
            "min": round(min(t), 5),
            "max": round(max(t), 5),
            "ratio_to_first": round(statistics.median(t) / first, 3),
        }
        for r, t in times.items()
    }
    print(
        json.dumps(
            {"dataset": args.dataset, "threads": torch.get_num_threads(), **result}, indent=2
        )
    )


if __name__ == "__main__":
    main()
