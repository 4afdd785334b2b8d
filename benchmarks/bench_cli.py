"""How fast the CLI answers when nothing heavy is needed (`--help`, `plugins`, `list`).

Listing must not import torch; this measures the wall time a user waits (target: --help
under 2 s on the 2-core CPU) and appends the numbers to benchmarks/results/cli.json.

    python benchmarks/bench_cli.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

COMMANDS = [["--help"], ["plugins"], ["list"], ["list", "samplers"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "cli.json"))
    args = parser.parse_args()
    table = Table(title="scorebench CLI start-up (wall seconds)")
    for column in ("command", "median", "min", "max"):
        table.add_column(column)
    rows = []
    for command in COMMANDS:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "scorebench.cli", *command], check=True, capture_output=True
            )
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "command": "scorebench " + " ".join(command),
                "median_s": round(statistics.median(times), 3),
                "min_s": round(min(times), 3),
                "max_s": round(max(times), 3),
                "repeat": args.repeat,
                "date": time.strftime("%Y-%m-%d"),
            }
        )
        table.add_row(
            rows[-1]["command"], *(f"{rows[-1][k]:.3f}" for k in ("median_s", "min_s", "max_s"))
        )
    Console().print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.is_file() else []
    out.write_text(json.dumps(previous + rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
