"""Shared machinery of bench_train.py and bench_sample.py (not a benchmark itself).

Each configuration runs in its own child process: its peak memory is its own, a
``torch.compile`` that takes too long can be stopped by a timeout, and one configuration's
compile caches and allocator state do not leak into the next one's numbers.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Records with equal values for these keys describe the same measurement: a new run replaces
# the old record instead of piling up duplicates.
RECORD_KEY = ("benchmark", "what", "device", "device_name", "threads", "batch", "torch")


@dataclass(frozen=True)
class Case:
    """One benchmark configuration; ``name`` is what ``--only`` matches."""

    name: str
    preset: str
    precision: str
    compiled: bool
    batch: int | None  # None: the preset's own batch size
    kind: str = "time"  # "time" or "loss-check"


def common_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:i]")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: per config)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default: per config)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only configurations whose name matches (substring or glob); repeatable",
    )
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    p.add_argument("--out", type=Path, default=None, help="results JSON to merge into")
    p.add_argument("--no-save", action="store_true", help="print the table, write nothing")
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    p.add_argument(
        "--compile-timeout",
        type=float,
        default=300.0,
        help="seconds a compiled configuration may take in all before it is stopped",
    )
    p.add_argument("--note", default=None, help="free text stored in every record")
    p.add_argument("--list", action="store_true", help="list the configuration names and exit")
    # Internal: run one configuration in this process and write its record to a file.
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    return p


def check_args(args: argparse.Namespace) -> None:
    for flag in ("steps", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise SystemExit(f"error: --{flag} must be >= 1, got {value}")
    if args.warmup is not None and args.warmup < 0:
        raise SystemExit(f"error: --warmup must be >= 0, got {args.warmup}")
    if args.compile_timeout <= 0:
        raise SystemExit(f"error: --compile-timeout must be > 0, got {args.compile_timeout}")


def select(cases: Sequence[Case], patterns: Sequence[str]) -> list[Case]:
    if not patterns:
        return list(cases)
    chosen = [
        c
        for c in cases
        if any(p == c.name or p in c.name or fnmatch.fnmatchcase(c.name, p) for p in patterns)
    ]
    if not chosen:
        names = ", ".join(c.name for c in cases)
        raise SystemExit(f"error: --only {' '.join(patterns)} matched nothing. Names: {names}")
    return chosen


# --------------------------------------------------------------------------- environment


def setup_torch(args: argparse.Namespace):
    """Threads and device as asked (in the child); returns the torch.device."""
    import torch

    from scorebench.distributed import Dist, resolve_device
    from scorebench.errors import ScorebenchError

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return resolve_device(args.device, Dist())
    except ScorebenchError as exc:
        raise SystemExit(f"error: --device {args.device}: {exc}") from exc


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_counts(
    args, defaults: tuple[int, int], compiled: bool, min_compiled_warmup: int
) -> tuple[int, int]:
    """(warm-up, timed) steps: the flags, else the defaults; compiled runs never time the
    calls that compile."""
    warmup = args.warmup if args.warmup is not None else defaults[0]
    steps = args.steps if args.steps is not None else defaults[1]
    if compiled:
        warmup = max(warmup, min_compiled_warmup)
    return warmup, steps


def _cpuinfo(field: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


#: CPU features that decide bf16 matrix speed (AMX tiles, AVX-512 BF16 dot products).
MATRIX_FLAGS = ("amx_tile", "amx_bf16", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


def cpu_matrix_flags() -> list[str] | None:
    """Which of :data:`MATRIX_FLAGS` this CPU reports (None where /proc/cpuinfo is absent)."""
    flags = _cpuinfo("flags")
    return None if flags is None else [f for f in MATRIX_FLAGS if f in flags.split()]


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def git_commit() -> dict[str, Any]:
    def git(*cmd: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *cmd], capture_output=True, text=True, timeout=10, cwd=ROOT
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def environment(device) -> dict[str, Any]:
    import torch

    return {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "cpu_matrix_flags": cpu_matrix_flags(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **git_commit(),
    }


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory of what runs between ``start()`` and ``peak_mb()``.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors only, absolute). CPU: growth of the
    process's peak resident set over its size at ``start()``; Linux's high-water mark is
    reset first (``/proc/self/clear_refs``) when allowed, else ``getrusage`` maxrss is used,
    which only sees growth above the process's earlier peak (fine in a fresh child).
    """

    def __init__(self, device) -> None:
        self.device = device
        self.kind = ""
        self.base_kib = 0

    def start(self) -> None:
        import gc

        import torch

        gc.collect()
        if self.device.type == "cuda":
            sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.kind = "cuda max_memory_allocated"
            return
        self.base_kib = _status_kib("VmRSS") or 0
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.kind = "cpu peak RSS growth (VmHWM)"
        except OSError:
            self.base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.kind = "cpu maxrss growth (getrusage)"

    def peak_mb(self) -> float:
        import torch

        if self.device.type == "cuda":
            sync(self.device)
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if "VmHWM" in self.kind:
            peak = _status_kib("VmHWM") or 0
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return max(peak - self.base_kib, 0) / 1024


# --------------------------------------------------------------------------- timing


def summarize(times: Sequence[float], warmup: int) -> dict[str, Any]:
    """Median, min and max of the timed steps (those after ``warmup``)."""
    timed = list(times[warmup:])
    if not timed:
        raise RuntimeError("no timed steps were recorded")
    return {
        "warmup": warmup,
        "steps": len(timed),
        "median_s": round(statistics.median(timed), 6),
        "min_s": round(min(timed), 6),
        "max_s": round(max(timed), 6),
        "first_step_s": round(times[0], 4),
        "step_times_s": [round(t, 5) for t in timed],
    }


# --------------------------------------------------------------------------- processes


def run_cases(
    script: Path,
    cases: Sequence[Case],
    args: argparse.Namespace,
    argv: Sequence[str],
    describe: Callable[[Case], str],
    base: Callable[[Case], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Run every case in a child process of ``script``; returns their records in order.

    A child that fails or times out gets the record ``base(case)`` with its status, so the
    results file says that this configuration did not finish."""
    records = []
    for case in cases:
        print(f"[{time.strftime('%H:%M:%S')}] {case.name}: {describe(case)}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="scorebench-bench-") as tmp:
            out = Path(tmp) / "record.json"
            cmd = [
                sys.executable,
                str(script),
                *argv,
                "--child",
                case.name,
                "--child-out",
                str(out),
            ]
            timeout = args.compile_timeout if case.compiled else None
            # Own session: a timeout stops the child and its compile workers, nothing else.
            proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
            started = time.perf_counter()
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = None
            wall = time.perf_counter() - started
            if code == 0 and out.is_file():
                record = json.loads(out.read_text())
            else:
                status = (
                    f"timeout: stopped after {timeout:.0f} s (--compile-timeout)"
                    if code is None
                    else f"failed: exit code {code}"
                )
                record = {**base(case), "status": status}
            record["wall_s"] = round(wall, 2)
            records.append(record)
            print(f"[{time.strftime('%H:%M:%S')}] {case.name}: {record['status']}", file=sys.stderr)
    return records


def child_argv(argv: Sequence[str]) -> list[str]:
    """The parent's arguments minus the ones only the parent uses."""
    drop_with_value = {"--only", "--out", "--child", "--child-out"}
    drop_flag = {"--no-save", "--list"}
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        head = item.split("=", 1)[0]
        if head in drop_with_value:
            skip = "=" not in item
            continue
        if head in drop_flag:
            continue
        out.append(item)
    return out


# --------------------------------------------------------------------------- output


def merge_results(path: Path, records: Sequence[dict[str, Any]]) -> int:
    """Merge ``records`` into the JSON list at ``path`` (same key: replaced); returns count."""
    from scorebench.files import atomic_write_json

    old: list[dict[str, Any]] = []
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SystemExit(
                f"error: {path} is not valid JSON ({exc}); move it aside or pass --out FILE"
            ) from exc
        if not isinstance(old, list):
            raise SystemExit(f"error: {path} holds a {type(old).__name__}, expected a list")

    def key(r: dict[str, Any]) -> tuple:
        return tuple(json.dumps(r.get(k)) for k in RECORD_KEY)

    new = list(records)
    replaced = {key(r) for r in new}
    merged = [r for r in old if key(r) not in replaced] + new
    merged.sort(key=lambda r: (r.get("benchmark", ""), r.get("what", ""), r.get("device", "")))
    atomic_write_json(path, merged)
    return len(new)


def fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def print_table(title: str, columns: Sequence[tuple[str, str, str]], records, caption: str):
    """``columns``: (header, record key, format spec)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption)
    for header, _, _ in columns:
        left = header in ("config", "status")
        table.add_column(header, justify="left" if left else "right", no_wrap=header == "config")
    for r in records:
        table.add_row(*(fmt(r.get(key), spec) for _, key, spec in columns))
    console = Console()
    if not console.is_terminal:  # a log file: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
