"""The cost of per-sample noise (scorebench.noise.SampleNoise): one generator per sample
against one generator for the whole batch (what a sample's independence of its batch
costs).

    OMP_NUM_THREADS=1 python benchmarks/bench_noise.py --threads 1
    python benchmarks/bench_noise.py --device cuda

Two measurements, each interleaved (per-sample and batch generator in turn, rounds of
each), medians and their ratio:

- ``draw``: one ``noise(x)`` for a batch of rows of a size (2-D points, 64-D digits, MNIST
  and CIFAR-10 images);
- ``chain``: a whole chain of the zoo's ``pc`` sampler (1000 levels, one corrector step:
  2000 draws) on the exact score of the NCSN 2-D mixture, the oracle bench's cheapest
  score, where the noise is the largest part of the work.

Prints a table and merges its records into benchmarks/results/noise.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

from scorebench.noise import SampleNoise  # noqa: E402

DRAWS = [("2-D points", 1000, (2,)), ("digits 64-D", 1000, (64,)),
         ("MNIST 1x28x28", 128, (1, 28, 28)), ("CIFAR-10 3x32x32", 128, (3, 32, 32))]  # fmt: skip


DRAWS_PER_ROUND = 256


class BatchNoise:
    """The batch-generator alternative: ``noise(x)`` from one generator for all rows."""

    def __init__(self, n: int, device: torch.device):
        self.generator = torch.Generator(device).manual_seed(0)
        self.device, self.n = device, n

    def __len__(self) -> int:
        return self.n

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)


def _median_s(make, rounds: int) -> float:
    """Median seconds of ``make()()`` over ``rounds``, each round on a fresh ``make()``."""
    times = []
    for _ in range(rounds):
        fn = make()
        h.sync(DEVICE)
        start = time.perf_counter()
        fn()
        h.sync(DEVICE)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _pair(make_a, make_b, rounds: int, repeats: int) -> tuple[float, float]:
    """Medians of A and B, measured A B A B ...: drift hits both alike."""
    a, b = [], []
    for _ in range(repeats):
        a.append(_median_s(make_a, rounds))
        b.append(_median_s(make_b, rounds))
    return statistics.median(a), statistics.median(b)


def draws(rounds: int) -> list[dict]:
    """Each round: a fresh noise and 256 draws (whole blocks: the cost per draw includes
    drawing ahead)."""
    records = []
    for label, batch, shape in DRAWS:
        x = torch.empty((batch, *shape), device=DEVICE)

        def per_sample(x=x, batch=batch):
            noise = SampleNoise(0, range(batch), DEVICE)
            return lambda: [noise(x) for _ in range(DRAWS_PER_ROUND)]

        def one_generator(x=x, batch=batch):
            noise = BatchNoise(batch, DEVICE)
            return lambda: [noise(x) for _ in range(DRAWS_PER_ROUND)]

        a, b = _pair(per_sample, one_generator, rounds, repeats=3)
        records.append(_record("draw", label, batch, a / DRAWS_PER_ROUND, b / DRAWS_PER_ROUND))
    return records


def chain(rounds: int) -> dict:
    from scorebench_ncsn.gmm import toy_gmm
    from scorebench_samplers.langevin import pc

    score = toy_gmm(component_std="sigma")
    levels = torch.tensor([20.0, 1.0])
    n = 2000
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))

    def run(noise_of):
        return lambda: lambda: pc(score, x, levels, noise=noise_of(), steps=1000)

    a, b = _pair(
        run(lambda: SampleNoise(0, range(n), DEVICE)),
        run(lambda: BatchNoise(n, DEVICE)),
        rounds,
        repeats=3,
    )
    return _record("chain", "pc, 1000 levels, 2-D mixture", n, a, b)


def _record(what: str, label: str, batch: int, per_sample: float, one: float) -> dict:
    return {
        "benchmark": "noise",
        "what": f"{what}: {label}",
        "batch": batch,
        "per_sample_ms": round(per_sample * 1e3, 4),
        "one_generator_ms": round(one * 1e3, 4),
        "ratio": round(per_sample / one, 2),
        **h.environment(DEVICE),
    }


def main(argv: list[str] | None = None) -> int:
    global DEVICE
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per measurement")
    p.add_argument("--no-save", action="store_true", help="print the table, write nothing")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    DEVICE = torch.device(args.device)
    records = [*draws(args.rounds), chain(max(1, args.rounds // 2))]
    h.print_table(
        "per-sample noise against one batch generator",
        [
            ("what", "what", ""),
            ("batch", "batch", "d"),
            ("per sample ms", "per_sample_ms", ".3f"),
            ("one generator ms", "one_generator_ms", ".3f"),
            ("ratio", "ratio", ".2f"),
        ],  # fmt: skip
        records,
        f"{records[0]['device_name']}, {records[0]['threads']} thread(s); medians of "
        "interleaved rounds",
    )
    if not args.no_save:
        h.merge_results(h.RESULTS_DIR / "noise.json", records)
    return 0


DEVICE = torch.device("cpu")

if __name__ == "__main__":
    raise SystemExit(main())
