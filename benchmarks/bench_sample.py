"""Sampling throughput of the ncsn recipe: annealed Langevin steps per second.

Runs the project's own sampling path: ``scorebench.sample.draw`` with the recipe's
``annealed_langevin`` sampler (``scorebench.components.build_sampler``), the network from the
registry seen as ``score(x, sigma)`` through ``scorebench.components.network_score`` (the
chain in fp32; for bf16 the network under autocast, its output cast back; with ``--compile``
``torch.compile`` with frozen weights), as sampling does. The network's weights are its
initial ones: speed does not depend on their values.

One timed step is one Langevin update ``x <- x + a s(x, sigma) + sqrt(2a) z`` of the whole
batch (one score evaluation per sample). The draw runs with ``steps_per_level`` just large
enough for warm-up + timed steps and stops once they are measured, so a CIFAR-10 config does
not pay for a full 1000-step chain. Reported: seconds per step (median), NFE/s (score
evaluations of single samples per second: batch / step time, as ``scorebench sample``
counts them) and samples/s for a full chain of the preset's sampler settings
(batch / (step time * NFE per sample)).

    OMP_NUM_THREADS=1 python benchmarks/bench_sample.py --threads 1
    python benchmarks/bench_sample.py --device cuda

Configurations: the full CIFAR-10 NCSN (ngf 128) at batch 100 and the ``digits`` preset at its
own sampling batch size (``sample.batch_size``), in fp32 and bf16 (and torch.compile with ``--compile``). Every configuration
runs in its own child process. Prints a table and merges one record per configuration into
benchmarks/results/sample.json (same configuration and machine: replaced).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

RESULTS = h.RESULTS_DIR / "sample.json"
# (preset, batch): None keeps the preset's own sampling batch size (sample.batch_size).
SIZES = [("cifar10", 100), ("digits", None)]


class _Measured(Exception):
    """Raised from the sampler's callback once every step to time has been timed."""


def cases(compile_too: bool) -> list[h.Case]:
    out = []
    for preset, batch in SIZES:
        label = f"{preset}-b{batch}" if batch else preset
        for compiled in (False, True) if compile_too else (False,):
            for precision in ("fp32", "bf16"):
                mode = "compiled" if compiled else "eager"
                out.append(
                    h.Case(f"{label}/{precision}/{mode}", preset, precision, compiled, batch)
                )
    return out


def default_counts(case: h.Case, device_type: str) -> tuple[int, int]:
    """(warm-up, timed) Langevin steps; a CPU run of a CIFAR-10 config takes 1-2 minutes."""
    if case.preset == "digits":
        return (5, 50) if device_type == "cuda" else (2, 20)
    return (5, 30) if device_type == "cuda" else (1, 3)


def counts(case: h.Case, args, device_type: str) -> tuple[int, int]:
    """The (warm-up, timed) steps this run uses (the first call compiles when compiled)."""
    return h.step_counts(args, default_counts(case, device_type), case.compiled, 1)


def _config(case: h.Case, device, extra: list[str] = ()):
    from scorebench.recipes import resolve_config

    overrides = [f"runtime.precision={case.precision}", f"runtime.device={device}", *extra]
    if case.batch is not None:
        overrides.append(f"sample.batch_size={case.batch}")
    return resolve_config("ncsn", case.preset, overrides=overrides)


def time_case(case: h.Case, args, device) -> dict[str, Any]:
    import torch

    from scorebench.components import build_network, build_sampler, build_sigmas, network_score
    from scorebench.sample import draw

    warmup, steps = counts(case, args, device.type)
    config = _config(case, device)
    preset_params = dict(config.sample.sampler.params)
    torch.manual_seed(config.runtime.seed)
    memory = h.PeakMemory(device)
    memory.start()
    network = build_network(config, device)
    network.eval()
    sigmas = build_sigmas(config, device)
    levels = len(sigmas)
    # Enough steps per level for warm-up + timed; the callback stops the chain after them.
    wanted = warmup + steps
    config.sample.sampler.params = {
        **preset_params,
        "steps_per_level": max(1, math.ceil(wanted / levels)),
    }
    sampler = build_sampler(config)
    score = network_score(network, sigmas, config, device, compile_network=case.compiled)

    params = config.network.params
    shape = (params["channels"], params["image_size"], params["image_size"])
    batch = config.sample.batch_size
    times: list[float] = []
    last = [0.0]

    def callback(info: dict) -> None:  # called once per update, after it
        h.sync(device)
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now
        if len(times) >= wanted:
            raise _Measured

    h.sync(device)
    last[0] = time.perf_counter()
    try:
        draw(score, sampler, config, sigmas, shape, range(batch), callback=callback)
    except _Measured:
        pass
    peak = memory.peak_mb()
    summary = h.summarize(times, warmup)
    nfe_per_sample = levels * preset_params.get("steps_per_level", 100) + int(
        bool(preset_params.get("denoise", False))
    )
    return {
        "benchmark": "sample",
        "what": case.name,
        "preset": case.preset,
        "network": {"name": config.network.name, **params},
        "parameters": sum(p.numel() for p in network.parameters()),
        "sampler": {"name": config.sample.sampler.name, **preset_params},
        "precision": case.precision,
        "chain_dtype": "float32",
        "compiled": case.compiled,
        "batch": batch,
        **summary,
        "nfe_per_s": round(batch / summary["median_s"], 3),
        "nfe_per_sample": nfe_per_sample,
        "samples_per_s": round(batch / (summary["median_s"] * nfe_per_sample), 5),
        "peak_mem_mb": round(peak, 1),
        "peak_mem_kind": memory.kind,
        "status": "ok",
    }


def child(args) -> int:
    device = h.setup_torch(args)
    case = next(c for c in cases(True) if c.name == args.child)
    record = time_case(case, args, device)
    record.update(h.environment(device))
    record["note"] = args.note
    args.child_out.write_text(json.dumps(record))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = h.common_parser(__doc__.split("\n\n")[0])
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    h.check_args(args)
    if args.child:
        return child(args)
    chosen = h.select(cases(args.compile), args.only)
    if args.list:
        print("\n".join(c.name for c in chosen))
        return 0
    device = h.setup_torch(args)
    env = h.environment(device)

    def base(case: h.Case) -> dict[str, Any]:
        return {
            "benchmark": "sample",
            "what": case.name,
            "preset": case.preset,
            "precision": case.precision,
            "compiled": case.compiled,
            "batch": case.batch or _config(case, device).sample.batch_size,
            **env,
            "note": args.note,
        }

    def describe(case: h.Case) -> str:
        warmup, steps = counts(case, args, device.type)
        return f"warm-up {warmup}, timed {steps} Langevin steps"

    records = h.run_cases(
        Path(__file__).resolve(), chosen, args, h.child_argv(argv), describe, base
    )
    h.print_table(
        "scorebench annealed Langevin sampling (ncsn recipe)",
        [
            ("config", "what", ""),
            ("status", "status", ""),
            ("batch", "batch", "d"),
            ("thr", "threads", "d"),
            ("warm/timed", "_counts", ""),
            ("s/step", "median_s", ".3f"),
            ("min s", "min_s", ".3f"),
            ("NFE/s", "nfe_per_s", ".1f"),
            ("NFE/sample", "nfe_per_sample", "d"),
            ("samples/s", "samples_per_s", ".3g"),
            ("peak MiB", "peak_mem_mb", ".0f"),
        ],
        [{**r, "_counts": f"{r.get('warmup', '-')}/{r.get('steps', '-')}"} for r in records],
        f"{env['device_name']}, torch {env['torch']}, {env['threads']} thread(s); one step = "
        "one Langevin update of the batch; samples/s for a full chain of the preset's sampler",
    )
    if not args.no_save:
        out = args.out or RESULTS
        count = h.merge_results(out, records)
        print(f"merged {count} record(s) into {out}")
    failed = [r["what"] for r in records if r.get("status") != "ok"]
    return 1 if failed and len(failed) == len(records) else 0


if __name__ == "__main__":
    sys.exit(main())
