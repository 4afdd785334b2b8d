"""Training-step throughput of the ncsn recipe (seconds per step, images per second).

Times the trainer's own step (``scorebench.train.train_step``: preprocessing, the loss under
the configured precision, backward, Adam as ``scorebench.components.build_optimizer`` makes
it) with the network, noise levels and DSM loss from the registries. Data loading is left out: the
batches are made before timing (the digits themselves; CIFAR-10-sized batches are random
8-bit images when CIFAR-10 is not on disk, as speed does not depend on pixel values).

Configurations: the full CIFAR-10 NCSN (ngf 128, 3x32x32) at batch 16 and the ``digits``
preset at its own batch (128), each in fp32 and bf16, eager (and torch.compile with
``--compile``), plus ``digits/loss-check``: the digits preset trained by
``scorebench.train.train`` for ``--loss-check-steps`` steps in fp32, in bf16 and (with
``--compile``) in bf16 compiled, from the same seed, to see that the fast paths' loss tracks
fp32's.

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --threads 1
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --only digits --compile
    python benchmarks/bench_train.py --device cuda --compile

Every configuration runs in its own child process. Prints a table and merges one record per
configuration into benchmarks/results/train.json (same configuration and machine: replaced).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

RESULTS = h.RESULTS_DIR / "train.json"
# (preset, batch): None keeps the preset's own batch size (digits: 128).
SIZES = [("cifar10", 16), ("digits", None)]


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
    precision = "fp32+bf16" + ("+bf16 compiled" if compile_too else "")
    out.append(h.Case("digits/loss-check", "digits", precision, compile_too, None, "loss-check"))
    return out


def default_counts(case: h.Case, device_type: str) -> tuple[int, int]:
    """(warm-up, timed) steps sized so a CPU run of a CIFAR-10 config takes about a minute."""
    if case.preset == "digits":
        return (5, 50) if device_type == "cuda" else (3, 20)
    return (5, 30) if device_type == "cuda" else (1, 3)


def counts(case: h.Case, args, device_type: str) -> tuple[int, int]:
    """The (warm-up, timed) steps this run uses (compiles forward, then backward when compiled)."""
    return h.step_counts(args, default_counts(case, device_type), case.compiled, 2)


def _config(case: h.Case, device, precision: str, extra: list[str] = ()):
    from scorebench.recipes import resolve_config

    overrides = [f"runtime.precision={precision}", f"runtime.device={device}", *extra]
    if case.batch is not None:
        overrides.append(f"data.batch_size={case.batch}")
    return resolve_config("ncsn", case.preset, overrides=overrides)


def _batches(config, count: int, device) -> tuple[list, str]:
    """``count`` training batches in [0, 1] on ``device`` and where they came from."""
    import torch

    from scorebench.components import build_dataset
    from scorebench.errors import ScorebenchError

    params = config.network.params
    shape = (params["channels"], params["image_size"], params["image_size"])
    batch = config.data.batch_size
    g = torch.Generator().manual_seed(0)
    dataset = None
    if config.data.name == "digits":  # ships with scikit-learn: always available offline
        dataset = build_dataset(config, "train")
    else:
        try:
            config.data.params = {**config.data.params, "download": False}
            dataset = build_dataset(config, "train")
        except ScorebenchError:
            dataset = None
    if dataset is None:
        out = [
            (torch.randint(0, 256, (batch, *shape), generator=g) / 255.0).to(device)
            for _ in range(count)
        ]
        return out, "synthetic 8-bit images"
    out = []
    for _ in range(count):
        idx = torch.randint(0, len(dataset), (batch,), generator=g).tolist()
        items = [dataset[i] for i in idx]
        items = [i[0] if isinstance(i, (tuple, list)) else i for i in items]
        out.append(torch.stack(items).to(device))
    return out, f"{config.data.name} train split"


def time_case(case: h.Case, args, device) -> dict[str, Any]:
    import torch

    from scorebench.components import build_loss, build_network, build_optimizer, build_sigmas
    from scorebench.train import train_step

    warmup, steps = counts(case, args, device.type)
    config = _config(case, device, case.precision)
    torch.manual_seed(config.runtime.seed)
    batches, data = _batches(config, warmup + steps, device)
    memory = h.PeakMemory(device)  # from here: weights, Adam state, activations, workspace
    memory.start()
    network = build_network(config, device)
    sigmas = build_sigmas(config, device)
    loss_fn = build_loss(config)
    optimizer = build_optimizer(config, network, device)
    model = torch.compile(network) if case.compiled else network
    model.train()
    generator = torch.Generator(device).manual_seed(config.runtime.seed)

    def step(x: torch.Tensor) -> torch.Tensor:  # the trainer's own step
        return train_step(
            model, network, optimizer, None, loss_fn, x, sigmas, generator, config
        ).loss.detach()

    times, losses = [], []
    for x in batches:
        h.sync(device)
        start = time.perf_counter()
        losses.append(step(x))
        h.sync(device)
        times.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    losses = [float(v) for v in losses]
    summary = h.summarize(times, warmup)
    batch = config.data.batch_size
    return {
        "benchmark": "train",
        "what": case.name,
        "preset": case.preset,
        "network": {"name": config.network.name, **config.network.params},
        "parameters": sum(p.numel() for p in network.parameters()),
        "loss": config.loss.name,
        "data": data,
        "precision": case.precision,
        "compiled": case.compiled,
        "batch": batch,
        **summary,
        "images_per_s": round(batch / summary["median_s"], 3),
        "peak_mem_mb": round(peak, 1),
        "peak_mem_kind": memory.kind,
        "losses_finite": all(v == v and abs(v) != float("inf") for v in losses),
        "status": "ok",
    }


def loss_check(case: h.Case, args, device) -> dict[str, Any]:
    """The digits preset trained by the real trainer in fp32, in bf16 and (with
    ``--compile``) in bf16 compiled, each from the same seed."""
    from scorebench.files import read_jsonl
    from scorebench.runs import RunDir
    from scorebench.train import train

    steps = args.loss_check_steps
    log_every = max(steps // 4, 1)
    setups = {"fp32": ("fp32", []), "bf16": ("bf16", [])}
    if case.compiled:
        setups["bf16_compiled"] = ("bf16", ["runtime.compile=true"])
    curves, finals, seconds = {}, {}, {}
    for tag, (precision, switches) in setups.items():
        extra = [
            f"train.steps={steps}",
            f"train.log_every={log_every}",
            f"train.checkpoint_every={steps}",
            "train.grid_size=16",
            "runtime.seed=0",
            *switches,
        ]
        config = _config(case, device, precision, extra)
        with tempfile.TemporaryDirectory(prefix="scorebench-losscheck-") as tmp:
            run = RunDir(Path(tmp) / "run")
            start = time.perf_counter()
            result = train(config, run, resume=False, quiet=True)
            seconds[tag] = round(time.perf_counter() - start, 2)
            logged = [r for r in read_jsonl(run.metrics) if "loss" in r]
        curves[tag] = {r["step"]: round(r["loss"], 5) for r in logged}
        finals[tag] = result.final_loss
    fp32 = finals["fp32"]
    record = {
        "benchmark": "train",
        "what": case.name,
        "preset": case.preset,
        "network": {"name": config.network.name, **config.network.params},
        "precision": case.precision.replace("+", " vs "),
        "compiled": case.compiled,
        "batch": config.data.batch_size,
        "train_steps": steps,
        "final_loss_window": log_every,
        "status": "ok",
    }
    for tag in setups:
        record[f"final_loss_{tag}"] = finals[tag]
        record[f"loss_curve_{tag}"] = curves[tag]
        record[f"wall_s_{tag}"] = seconds[tag]
        if tag != "fp32":
            diff = abs(finals[tag] - fp32) / abs(fp32) if fp32 else None
            record["relative_difference" + tag.removeprefix("bf16")] = diff
    return record


def child(args) -> int:
    device = h.setup_torch(args)
    case = next(c for c in cases(True) if c.name == args.child)
    record = (
        loss_check(case, args, device)
        if case.kind == "loss-check"
        else time_case(case, args, device)
    )
    record.update(h.environment(device))
    record["note"] = args.note
    args.child_out.write_text(json.dumps(record))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = h.common_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--loss-check-steps",
        type=int,
        default=200,
        help="steps of the fp32-vs-bf16 loss check on digits (default 200)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    h.check_args(args)
    if args.loss_check_steps < 1:
        raise SystemExit(f"error: --loss-check-steps must be >= 1, got {args.loss_check_steps}")
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
            "benchmark": "train",
            "what": case.name,
            "preset": case.preset,
            "precision": case.precision,
            "compiled": case.compiled,
            "batch": case.batch or _config(case, device, "fp32").data.batch_size,
            **env,
            "note": args.note,
        }

    def describe(case: h.Case) -> str:
        if case.kind == "loss-check":
            return f"{args.loss_check_steps} training steps each: {case.precision}"
        warmup, steps = counts(case, args, device.type)
        return f"warm-up {warmup}, timed {steps}"

    records = h.run_cases(
        Path(__file__).resolve(), chosen, args, h.child_argv(argv), describe, base
    )
    timed = [r for r in records if r.get("what") != "digits/loss-check"]
    checks = [r for r in records if r.get("what") == "digits/loss-check"]
    caption = (
        f"{env['device_name']}, torch {env['torch']}, {env['threads']} thread(s); "
        "median over the timed steps"
    )
    if timed:
        h.print_table(
            "scorebench train step (ncsn recipe)",
            [
                ("config", "what", ""),
                ("status", "status", ""),
                ("batch", "batch", "d"),
                ("thr", "threads", "d"),
                ("warm/timed", "_counts", ""),
                ("s/step", "median_s", ".3f"),
                ("min s", "min_s", ".3f"),
                ("img/s", "images_per_s", ".1f"),
                ("peak MiB", "peak_mem_mb", ".0f"),
                ("1st step s", "first_step_s", ".2f"),
            ],
            [{**r, "_counts": f"{r.get('warmup', '-')}/{r.get('steps', '-')}"} for r in timed],
            caption,
        )
    if checks:
        h.print_table(
            f"bf16 (and compiled) vs fp32: digits preset, {args.loss_check_steps} steps, same seed",
            [
                ("config", "what", ""),
                ("status", "status", ""),
                ("final loss fp32", "final_loss_fp32", ".4f"),
                ("final loss bf16", "final_loss_bf16", ".4f"),
                ("rel. diff", "relative_difference", ".2%"),
                ("bf16 compiled", "final_loss_bf16_compiled", ".4f"),
                ("rel. diff", "relative_difference_compiled", ".2%"),
                ("fp32 s", "wall_s_fp32", ".1f"),
                ("bf16 s", "wall_s_bf16", ".1f"),
                ("compiled s", "wall_s_bf16_compiled", ".1f"),
            ],
            checks,
            "final loss: mean over the last logging interval (a quarter of the steps)",
        )
    if not args.no_save:
        out = args.out or RESULTS
        count = h.merge_results(out, records)
        print(f"merged {count} record(s) into {out}")
    failed = [r["what"] for r in records if r.get("status") != "ok"]
    return 1 if failed and len(failed) == len(records) else 0


if __name__ == "__main__":
    sys.exit(main())
