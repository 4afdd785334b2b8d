"""Feature-extraction throughput of the metric engine (images per second).

Measures torch-fidelity's Inception-v3 (the FID/IS/KID network) on CIFAR-sized 32x32 RGB
inputs (TF resize to 299 included) and scorebench's digits-cnn on 8x8 digits, through the
same extraction loop the evaluator uses. The Inception weights are generated (random values,
right shapes): speed does not depend on the values, and the benchmark stays offline.

    OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py --n 64
    python benchmarks/bench_metrics.py --device cuda --n 2048 --batch-size 256

Prints a table and appends one record per extractor to benchmarks/results/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))  # fake_inception.py

import _harness as h  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "metrics.json"


def _time_extraction(prepared, images, *, device: str, batch_size: int, repeats: int) -> dict:
    import torch
    from torch_fidelity.utils import create_feature_extractor

    from scorebench.metrics import engine

    cuda, ctx = engine._fidelity_device(device)
    layers = engine.reference_layers(prepared)
    with ctx:
        t0 = time.perf_counter()
        fe = create_feature_extractor(
            prepared.fidelity_name,
            layers,
            cuda=cuda,
            feature_extractor_weights_path=prepared.weights_argument(),
            verbose=False,
        )
        load_s = time.perf_counter() - t0
        data = engine.ImagesDataset(images, prepared.channels)
        batches = [
            torch.stack([data[i] for i in range(s, min(s + batch_size, len(data)))])
            for s in range(0, len(data), batch_size)
        ]
        with torch.no_grad():
            fe(batches[0].cuda() if cuda else batches[0])  # warm-up (allocator, kernels)
            best = float("inf")
            for _ in range(repeats):
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for b in batches:
                    fe(b.cuda(non_blocking=True) if cuda else b)
                if cuda:
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
    return {
        "load_s": round(load_s, 3),
        "seconds": round(best, 4),
        "images_per_s": round(len(images) / best, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=64, help="Inception images (default 64)")
    parser.add_argument("--n-digits", type=int, default=4096, help="digits-cnn images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1, help="timed passes; best is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--weights", default=None, help="real Inception weights (optional)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    import torch
    from fake_inception import write_random_inception_weights

    from scorebench.files import atomic_write_json
    from scorebench.metrics.digits_cnn import DigitsCNNSpec
    from scorebench.metrics.extractors import InceptionV3Spec, InceptionWeights
    from scorebench.paths import cache_dir

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or write_random_inception_weights(Path(tmp) / "inception.pth")
        # random weights are not the standard file: trusted here, they only time the network
        choice = InceptionWeights(weights, trusted=args.weights is None)
        inception = InceptionV3Spec().prepare(weights=choice, cache_dir=cache_dir())
        images = torch.randint(0, 256, (args.n, 3, 32, 32), dtype=torch.uint8, generator=g)
        rows.append(
            (
                "inception-v3",
                "3x32x32 -> 299",
                args.n,
                _time_extraction(
                    inception,
                    images,
                    device=args.device,
                    batch_size=args.batch_size,
                    repeats=args.repeats,
                ),
            )
        )
    digits = DigitsCNNSpec().prepare(cache_dir=cache_dir())
    images = torch.randint(0, 256, (args.n_digits, 1, 8, 8), dtype=torch.uint8, generator=g)
    rows.append(
        (
            "digits-cnn",
            "1x8x8",
            args.n_digits,
            _time_extraction(
                digits,
                images,
                device=args.device,
                batch_size=args.batch_size,
                repeats=max(args.repeats, 3),
            ),
        )
    )

    env = {
        "device": args.device,
        "cpu": h.cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if args.device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name()
    print(f"device {args.device} ({env['cpu']}), torch threads {env['torch_threads']}")
    print(f"{'extractor':<14}{'input':<18}{'N':>6}{'batch':>7}{'seconds':>10}{'images/s':>11}")
    records = []
    for name, shape, n, r in rows:
        print(
            f"{name:<14}{shape:<18}{n:>6}{args.batch_size:>7}{r['seconds']:>10.3f}"
            f"{r['images_per_s']:>11.1f}"
        )
        records.append(
            {
                "benchmark": "feature-throughput",
                "extractor": name,
                "input": shape,
                "n": n,
                "batch_size": args.batch_size,
                **r,
                **env,
            }
        )
    if not args.no_save:
        old = json.loads(args.output.read_text()) if args.output.is_file() else []
        atomic_write_json(args.output, old + records)
        print(f"appended {len(records)} records to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
