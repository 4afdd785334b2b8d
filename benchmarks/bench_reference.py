"""scorebench against the official NCSN code, side by side in one process.

    python benchmarks/bench_reference.py --reference-src ~/src/ncsn          # 3 rounds
    python benchmarks/bench_reference.py --reference-src ~/src/ncsn --profile
    python benchmarks/bench_reference.py --roofline-only                      # no checkout

``--reference-src`` is a checkout of https://github.com/ermongroup/ncsn, which you provide:
scorebench does not ship it (GPL-3.0). Its ``CondRefineNetDilated`` (CIFAR-10: ngf 128,
3x32x32), ``anneal_dsm_score_estimation`` and the annealed Langevin update of
``AnnealRunner.anneal_Langevin_dynamics`` are timed unmodified, as written there (fp32,
eager), against scorebench's trainer step (``scorebench.train.train_step``) and its
sampling path (``scorebench.sample.draw`` with the recipe's ``annealed_langevin`` and the
network seen through ``scorebench.components.network_score``) on identical shapes:

* a training step at batch 16 (dequantisation, the loss, backward, Adam);
* an annealed Langevin step at batch 100 (one score evaluation of the batch and the update).

The sides are interleaved (reference, ours in each variant, reference, ...) for ``--rounds``
rounds, because absolute times on a shared machine drift between runs: only ratios taken in
one run mean something. Each cell prints min/median/max seconds per step over the rounds and
the ratio reference/ours (median, with the min and max of the per-round ratios).

The roofline part measures this machine's own peak (a large GEMM, and the best of a large
3x3 convolution and the network's own at the sampling batch; fp32 and bf16) and states each
step's achieved GFLOP/s as a fraction of the bf16 peak; FLOPs are counted by
``torch.utils.flop_counter`` on scorebench's network (the official one has the same layers).
``--profile`` adds a ``torch.profiler`` breakdown of one step per side: convolutions,
normalisation/activation/elementwise, copies/casts, other, and the rest of the step's wall
time (fused kernels of compiled code, framework overhead).
``--compile-cache`` times the first compiled step in fresh processes, with an empty compile
cache and then with the one the first left. ``--work train|sample`` times only that work.

Results are merged into benchmarks/results/reference.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

RESULTS = h.RESULTS_DIR / "reference.json"
TRAIN_BATCH, SAMPLE_BATCH = 16, 100
#: scorebench's variants: name -> config overrides (the recipe's cifar10 preset otherwise).
#: bf16 runs under autocast; "bf16 weights" samples a bf16 copy of the network; compile
#: compiles the training step and (with frozen weights) the sampling step.
VARIANTS = {
    "fp32": ["runtime.precision=fp32"],
    "bf16": ["runtime.precision=bf16"],
    "bf16 weights": ["runtime.precision=bf16", "sample.bf16_weights=true"],
    "bf16+channels_last": ["runtime.precision=bf16", "runtime.channels_last=true"],
    "bf16+fused_adam": ["runtime.precision=bf16", "runtime.fused_adam=true"],
    "bf16+compile": ["runtime.precision=bf16", "runtime.compile=true"],
    "bf16+compile+channels_last": [
        "runtime.precision=bf16",
        "runtime.compile=true",
        "runtime.channels_last=true",
    ],
    "bf16+compile+fused_adam": [
        "runtime.precision=bf16",
        "runtime.compile=true",
        "runtime.fused_adam=true",
    ],
}
#: The work a variant leaves as another variant does it: not timed twice.
UNCHANGED = {
    "bf16 weights": "train",
    "bf16+fused_adam": "sample",
    "bf16+compile+fused_adam": "sample",
}
#: Profiler op names -> category (first match of a prefix; the rest is "other").
CATEGORIES = {
    "convolution": (
        "aten::conv",
        "aten::_conv",
        "aten::mkldnn_conv",
        "aten::cudnn_conv",
        "aten::_slow_conv",
        "aten::thnn_conv",
        "aten::convolution",
    ),
    "copies/casts": (
        "aten::to",
        "aten::_to_copy",
        "aten::copy_",
        "aten::clone",
        "aten::contiguous",
        "aten::empty_like",
    ),
    "norm/activation/elementwise": (
        "aten::mean",
        "aten::var",
        "aten::std",
        "aten::add",
        "aten::sub",
        "aten::mul",
        "aten::div",
        "aten::elu",
        "aten::relu",
        "aten::sqrt",
        "aten::rsqrt",
        "aten::pow",
        "aten::instance_norm",
        "aten::batch_norm",
        "aten::native",
        "aten::avg_pool",
        "aten::max_pool",
        "aten::upsample",
        "aten::cat",
        "aten::sum",
        "aten::neg",
        "aten::exp",
        "aten::clamp",
        "aten::randn",
        "aten::normal",
        "aten::lerp",
        "aten::addcmul",
        "aten::addcdiv",
        "aten::_foreach",
    ),
}


# --------------------------------------------------------------------------- the two sides


def reference_side(src: Path, device) -> dict[str, Callable[[], float]]:
    """The official code's training step and Langevin step, each returning seconds/step."""
    import numpy as np
    import torch

    sys.path.insert(0, str(src))
    from losses.dsm import anneal_dsm_score_estimation
    from models.cond_refinenet_dilated import CondRefineNetDilated

    config = types.SimpleNamespace(  # configs/anneal.yml with its CIFAR-10 lines
        model=types.SimpleNamespace(ngf=128, num_classes=10, sigma_begin=1, sigma_end=0.01),
        data=types.SimpleNamespace(channels=3, image_size=32, logit_transform=False),
        device=device,
    )
    torch.manual_seed(0)
    net = CondRefineNetDilated(config).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=0, betas=(0.9, 0.999))
    sigmas = torch.tensor(np.exp(np.linspace(np.log(1), np.log(0.01), 10))).float().to(device)
    batch = torch.randint(0, 256, (TRAIN_BATCH, 3, 32, 32), device=device).float() / 255

    def train() -> float:  # AnnealRunner.train's body for one batch
        start = time.perf_counter()
        x = batch / 256.0 * 255.0 + torch.rand_like(batch) / 256.0
        labels = torch.randint(0, len(sigmas), (x.shape[0],), device=device)
        loss = anneal_dsm_score_estimation(net, x, labels, sigmas, 2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        h.sync(device)
        return time.perf_counter() - start

    state = {"x": torch.rand(SAMPLE_BATCH, 3, 32, 32, device=device)}

    def sample(steps: int) -> float:  # AnnealRunner.anneal_Langevin_dynamics, step by step
        x_mod, images = state["x"], []
        start = time.perf_counter()
        with torch.no_grad():
            for c, sigma in list(enumerate(sigmas))[:steps]:
                labels = (torch.ones(x_mod.shape[0], device=device) * c).long()
                step_size = 2e-5 * (sigma / sigmas[-1]) ** 2
                images.append(torch.clamp(x_mod, 0.0, 1.0).to("cpu"))
                noise = torch.randn_like(x_mod) * np.sqrt(step_size.item() * 2)
                grad = net(x_mod, labels)
                x_mod = x_mod + step_size * grad + noise
        h.sync(device)
        return (time.perf_counter() - start) / steps

    return {"train": train, "sample": sample, "works": ("train", "sample")}


def our_side(overrides: list[str], device, works=("train", "sample")) -> dict[str, Any]:
    """scorebench's trainer step and sampling path under ``overrides``."""
    import torch

    from scorebench.components import (
        build_loss,
        build_network,
        build_optimizer,
        build_sampler,
        build_sigmas,
        compiled,
        network_score,
    )
    from scorebench.recipes import resolve_config
    from scorebench.sample import draw
    from scorebench.train import train_step

    config = resolve_config("ncsn", "cifar10", overrides=[f"runtime.device={device}", *overrides])
    config.data.batch_size = TRAIN_BATCH
    torch.manual_seed(0)
    network = build_network(config, device)
    sigmas = build_sigmas(config, device)
    loss_fn, optimizer = build_loss(config), build_optimizer(config, network, device)
    generator = torch.Generator(device).manual_seed(0)
    batch = torch.randint(0, 256, (TRAIN_BATCH, 3, 32, 32), device=device, dtype=torch.uint8)
    batch = batch.float() / 255

    model = compiled(network, inference=False) if config.runtime.compile else network

    def train() -> float:
        network.train()
        start = time.perf_counter()
        train_step(model, network, optimizer, None, loss_fn, batch, sigmas, generator, config)
        h.sync(device)
        return time.perf_counter() - start

    config.sample.sampler.params = {**config.sample.sampler.params, "steps_per_level": 1}
    sampler = build_sampler(config)
    scores: list = []  # made at the first call: a compiled score compiles once

    def sample(steps: int) -> float:  # `steps` levels, one update each: the chain's cost
        network.eval()
        if not scores:
            compile_network = config.runtime.compile
            scores.append(
                network_score(network, sigmas, config, device, compile_network=compile_network)
            )
        score = scores[0]
        start = time.perf_counter()
        draw(score, sampler, config, sigmas[:steps], (3, 32, 32), range(SAMPLE_BATCH))
        h.sync(device)
        return (time.perf_counter() - start) / steps

    return {
        "train": train,
        "sample": sample,
        "works": works,
        "network": network,
        "config": config,
        "sigmas": sigmas,
        "loss": loss_fn,
        "optimizer": optimizer,
    }


# --------------------------------------------------------------------------- measurement


def interleaved(
    sides: dict[str, dict], works: list[str], rounds: int, sample_steps: int, log
) -> dict[str, dict[str, list[float]]]:
    """Seconds per step of every side, alternating sides within each round. A side times
    only the works it lists (a variant does not repeat work another variant does)."""
    times = {n: {w: [] for w in works if w in side["works"]} for n, side in sides.items()}

    def once(side: dict, work: str, steps: int) -> float:
        return side[work]() if work == "train" else side[work](steps)

    for name, side in sides.items():  # warm-up: first calls allocate, tune and compile
        for work in times[name]:
            once(side, work, 1)
        log(f"warm: {name}")
    for r in range(rounds):
        for work in works:
            for name, side in sides.items():
                if work in times[name]:
                    times[name][work].append(t := once(side, work, sample_steps))
                    log(f"round {r + 1}/{rounds} {work:6s} {name:26s} {t:7.3f} s/step")
    return times


def ratios(times: dict[str, dict[str, list[float]]], reference: str) -> list[dict[str, Any]]:
    rows = []
    for work in ("train", "sample"):
        ref = times[reference].get(work)
        for name, per in times.items():
            own = per.get(work)
            if not own or not ref:
                continue
            per_round = [a / b for a, b in zip(ref, own, strict=True)]
            rows.append(
                {
                    "work": work,
                    "batch": TRAIN_BATCH if work == "train" else SAMPLE_BATCH,
                    "side": name,
                    "min_s": min(own),
                    "median_s": statistics.median(own),
                    "max_s": max(own),
                    "speedup_median": statistics.median(ref) / statistics.median(own),
                    "speedup_min": min(per_round),
                    "speedup_max": max(per_round),
                    "rounds": len(own),
                }
            )
    return rows


def step_flops(ours: dict[str, Any]) -> dict[str, float]:
    """FLOPs of one training step (forward + backward, batch 16) and one sampling step
    (forward, batch 100) of scorebench's network, counted by torch's FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from scorebench.score import NetworkScore

    network, sigmas = ours["network"], ours["sigmas"]
    device = sigmas.device
    counter = FlopCounterMode(display=False)
    with counter:
        x = torch.rand(TRAIN_BATCH, 3, 32, 32, device=device)
        ours["loss"](network, x, sigmas, None).loss.backward()
    train = counter.get_total_flops()
    network.zero_grad(set_to_none=True)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        x = torch.rand(SAMPLE_BATCH, 3, 32, 32, device=device)
        NetworkScore(network, sigmas)(x, sigmas[:1].expand(SAMPLE_BATCH))
    return {"train": float(train), "sample": float(counter.get_total_flops())}


#: 3x3 convolutions timed for the conv peak (batch, channels, size, dilation): a large one
#: and the network's own at the sampling batch; their best is the peak.
PEAK_CONVS = ((16, 256, 32, 1), (100, 128, 32, 1), (100, 256, 16, 1), (100, 256, 16, 4))


def peaks(device, repeats: int = 3) -> dict[str, float]:
    """This machine's GFLOP/s on a large GEMM and on 3x3 convolutions (the best of
    :data:`PEAK_CONVS`, channels_last), fp32 and bf16."""
    import torch

    out = {}
    for dtype, tag in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        n = 4096
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        out[f"gemm_{tag}"] = _best(lambda a=a, b=b: a @ b, 2 * n**3, device, repeats)
        best = 0.0
        for batch, channels, size, dilation in PEAK_CONVS:
            x = torch.randn(batch, channels, size, size, device=device, dtype=dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            conv = torch.nn.Conv2d(
                channels, channels, 3, padding=dilation, dilation=dilation, bias=False
            )
            conv = conv.to(device, dtype, memory_format=torch.channels_last)
            flops = 2 * batch * channels**2 * 9 * size**2
            with torch.no_grad():
                best = max(best, _best(lambda x=x, c=conv: c(x), flops, device, repeats))
        out[f"conv3x3_{tag}"] = best
    return out


def _best(fn: Callable[[], Any], flops: float, device, repeats: int) -> float:
    fn()
    h.sync(device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        h.sync(device)
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def profile(side: dict[str, Any], work: str) -> dict[str, float]:
    """Seconds of one step by category (profiler self time of each aten op)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        seconds = side[work]() if work == "train" else side[work](1)
    totals = {c: 0.0 for c in (*CATEGORIES, "other")}
    for event in prof.key_averages():
        if not event.key.startswith("aten::"):
            continue
        category = next(
            (c for c, prefixes in CATEGORIES.items() if event.key.startswith(prefixes)), "other"
        )
        totals[category] += event.self_cpu_time_total / 1e6
    # Compiled code runs fused kernels the profiler does not name as aten ops.
    totals["fused/unattributed"] = max(0.0, seconds - sum(totals.values()))
    return {k: round(v, 3) for k, v in totals.items()}


def compile_start(device, threads: int | None, works: list[str]) -> dict[str, float]:
    """Seconds to the first compiled step (training, sampling) of the bf16 CIFAR-10 network
    in a fresh process, with an empty compile cache and then with the cache the first one
    left."""
    import subprocess
    import tempfile

    out = {}
    for work in works:
        with tempfile.TemporaryDirectory() as tmp:
            for state in ("cold", "warm"):
                command = [sys.executable, __file__, "--child-compile", tmp, "--work", work]
                command += ["--device", str(device)]
                command += ["--threads", str(threads)] if threads else []
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                seconds = json.loads(done.stdout.strip().splitlines()[-1])
                out[f"{work}_{state}_first_step_s"] = seconds
    return out


def _child_compile(cache: str, work: str, device) -> float:
    """Build the side with runtime.compile in this process; time its first ``work`` step."""
    import os

    os.environ["SCOREBENCH_CACHE_DIR"] = cache
    ours = our_side(VARIANTS["bf16+compile"], device, (work,))
    start = time.perf_counter()
    ours["train"]() if work == "train" else ours["sample"](1)
    return round(time.perf_counter() - start, 2)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference-src", type=Path, default=None, help="a checkout of ermongroup/ncsn")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--sample-steps", type=int, default=2, help="Langevin steps per measurement")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        choices=list(VARIANTS),
        help="scorebench variants to time (repeatable; default: all)",
    )
    p.add_argument(
        "--work",
        action="append",
        choices=("train", "sample"),
        help="time only this work (repeatable; default: both)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:i]")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    p.add_argument("--profile", action="store_true", help="add a torch.profiler breakdown")
    p.add_argument("--roofline-only", action="store_true", help="measure only the peaks")
    p.add_argument(
        "--compile-cache",
        action="store_true",
        help="also time the first compiled step (of each --work) in fresh processes, cold and warm",
    )
    p.add_argument("--child-compile", default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-save", action="store_true", help="print, write nothing")
    p.add_argument("--note", default=None, help="free text stored in the record")
    args = p.parse_args(argv)
    args.work = [w for w in ("train", "sample") if w in (args.work or ("train", "sample"))]
    if args.child_compile:
        device = h.setup_torch(args)
        print(json.dumps(_child_compile(args.child_compile, args.work[0], device)))
        return 0
    if args.rounds < 1 or args.sample_steps < 1 or not 1 <= args.sample_steps <= 10:
        raise SystemExit("error: --rounds must be >= 1 and --sample-steps in 1..10")
    src = args.reference_src
    if (
        src is not None
        and not (src.expanduser() / "models" / "cond_refinenet_dilated.py").is_file()
    ):
        raise SystemExit(
            f"error: --reference-src {src}: no models/cond_refinenet_dilated.py there; give a "
            "checkout of https://github.com/ermongroup/ncsn"
        )
    if src is None and not args.roofline_only:
        raise SystemExit(
            "error: give --reference-src DIR (a checkout of ermongroup/ncsn), or --roofline-only"
        )
    device = h.setup_torch(args)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    record: dict[str, Any] = {
        "benchmark": "reference",
        "what": "roofline" if args.roofline_only else "side-by-side",
        "note": args.note,
        **h.environment(device),
    }
    record["peak_gflops"] = {k: round(v, 1) for k, v in peaks(device).items()}
    log(f"peaks (GFLOP/s): {record['peak_gflops']}")
    if not args.roofline_only:
        sides = {"official": reference_side(args.reference_src.expanduser(), device)}
        variants = args.variant or list(VARIANTS)
        for name in variants:
            works = [w for w in args.work if w != UNCHANGED.get(name)]
            sides[name] = our_side(VARIANTS[name], device, works)
        flops = step_flops(sides[variants[0]])
        times = interleaved(sides, args.work, args.rounds, args.sample_steps, log)
        rows = ratios(times, "official")
        bf16_peak = max(v for k, v in record["peak_gflops"].items() if k.endswith("bf16"))
        for row in rows:
            row["gflops"] = flops[row["work"]] / row["median_s"] / 1e9
            row["fraction_of_bf16_peak"] = row["gflops"] / bf16_peak
        record.update(step_gflop={k: round(v / 1e9, 2) for k, v in flops.items()}, rows=rows)
        if args.profile:
            measured = {(r["side"], r["work"]) for r in rows}
            record["profile_s"] = {
                name: {w: profile(side, w) for w in ("train", "sample") if (name, w) in measured}
                for name, side in sides.items()
            }
        _print(record)
    if args.compile_cache:
        record["compile_start"] = compile_start(device, args.threads, args.work)
        print(f"first compiled step: {record['compile_start']}")
    if not args.no_save:
        h.merge_results(RESULTS, [record])
    print(json.dumps({"peak_gflops": record["peak_gflops"]}))
    return 0


def _print(record: dict[str, Any]) -> None:
    print(f"step GFLOP: {record['step_gflop']}  peak GFLOP/s: {record['peak_gflops']}")
    print(
        "| work | batch | side | min s | median s | max s | speed-up vs official (median "
        "[min, max] of rounds) | GFLOP/s | of bf16 peak |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in record["rows"]:
        print(
            f"| {r['work']} | {r['batch']} | {r['side']} | {r['min_s']:.3f} | "
            f"{r['median_s']:.3f} | {r['max_s']:.3f} | {r['speedup_median']:.2f}x "
            f"[{r['speedup_min']:.2f}, {r['speedup_max']:.2f}] | {r['gflops']:.0f} | "
            f"{r['fraction_of_bf16_peak']:.1%} |"
        )
    for name, works in record.get("profile_s", {}).items():
        for work, cats in works.items():
            total = sum(cats.values()) or 1
            parts = ", ".join(f"{c} {v:.2f} s ({v / total:.0%})" for c, v in cats.items())
            print(f"profile {name} {work}: {parts}")


if __name__ == "__main__":
    sys.exit(main())
