"""Every performance benchmark on one device, one after the other (never two at once).

    python benchmarks/run_all.py --device cuda
    python benchmarks/run_all.py --device cuda --reference-src ~/src/ncsn
    OMP_NUM_THREADS=2 python benchmarks/run_all.py --device cpu --threads 2

Runs bench_train.py and bench_sample.py (eager and ``--compile``), bench_metrics.py and, with
``--reference-src`` (a checkout of ermongroup/ncsn), bench_reference.py; each merges its
records into benchmarks/results/. Exits non-zero if any of them failed, after running all.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commands(args: argparse.Namespace) -> list[list[str]]:
    device = ["--device", args.device]
    threads = ["--threads", str(args.threads)] if args.threads else []
    out = [
        ["bench_train.py", *device, *threads, "--compile"],
        ["bench_sample.py", *device, *threads, "--compile"],
        ["bench_metrics.py", *device, *threads],
    ]
    if args.reference_src:
        out.append(
            [
                "bench_reference.py",
                *device,
                *threads,
                "--reference-src",
                str(args.reference_src),
                "--profile",
            ]
        )
    return [[sys.executable, str(HERE / script), *rest] for script, *rest in out]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads of CPU runs")
    p.add_argument("--reference-src", type=Path, default=None, help="ermongroup/ncsn checkout")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = p.parse_args(argv)
    failed = []
    for command in commands(args):
        print("$", " ".join(command), flush=True)
        if args.dry_run:
            continue
        start = time.perf_counter()
        code = subprocess.run(command).returncode
        print(f"exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(Path(command[1]).name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
