"""The nll estimator against exact densities: its error per solver tolerance and probe count.

    python benchmarks/nll_oracle.py            # both oracles, writes results/nll_oracle.json

On the two Gaussian-mixture oracles (the NCSN toy in 2-D, the digits mixture in 64-D) log p
is exact at every sigma, so each row splits the estimate's error (tests/nll_oracle.py):
``r``, the estimator's own (solver and Hutchinson), with the bound the tests assert (4
standard errors from Hutchinson's variance integrated along each path, plus the solver's
local-error bound); the prior term (N(0, sigma_max^2 I) for p_sigma_max) and the smoothing
term (the ODE starts at sigma_min). Everything in bits/dim, as the metric reports it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from nll_oracle import hutchinson_variance, oracle_error, solver_bound  # noqa: E402
from scorebench_ncsn.gmm import toy_gmm  # noqa: E402
from scorebench_samplers.oracles import digits_gmm  # noqa: E402

TOLERANCES = (1e-3, 1e-4, 1e-5)
#: (name, mixture, sigma_min, sigma_max, points, divergences): the oracle boards' ranges.
ORACLES = (
    ("toy (2-D)", toy_gmm, 0.1, 20.0, 1000, ("exact", 1, 4)),
    ("digits (64-D)", lambda: digits_gmm(points=True), 0.01, 5.0, 100, ("exact", 1, 4, 16)),
)


def rows(n_scale: float = 1.0) -> list[dict]:
    out = []
    for name, make, lo, hi, n, divergences in ORACLES:
        truth = make()
        x = truth.sample(max(2, int(n * n_scale)), torch.Generator().manual_seed(0)).double()
        dim, bits = x.shape[1], x.shape[1] * math.log(2)
        variance = hutchinson_variance(truth, x, lo, hi)
        for tol in TOLERANCES:
            for probes in divergences:
                options = (
                    {"divergence": "exact"}
                    if probes == "exact"
                    else {
                        "divergence": "hutchinson",
                        "probes": probes,
                        "generator": torch.Generator().manual_seed(1),
                    }
                )
                started = time.perf_counter()
                err = oracle_error(truth, x, lo, hi, rtol=tol, atol=tol, **options)
                seconds = time.perf_counter() - started
                hutch = (
                    0.0 if probes == "exact" else math.sqrt(float(variance.sum()) / probes) / len(x)
                )
                bound = 4 * hutch + solver_bound(err, tol, tol)
                out.append(
                    {
                        "oracle": name,
                        "dim": dim,
                        "points": len(x),
                        "tolerance": tol,
                        "divergence": probes if probes == "exact" else f"{probes} probes",
                        "nfe": err.nfe,
                        "estimator_error_bpd": -float(err.estimator.mean()) / bits,
                        "bound_bpd": bound / bits,
                        "hutchinson_se_bpd": hutch / bits,
                        "prior_term_bpd": -float(err.prior.mean()) / bits,
                        "smoothing_term_bpd": -float(err.smoothing.mean()) / bits,
                        "total_error_bpd": -float(err.total.mean()) / bits,
                        "true_bpd": -float(err.exact.mean()) / bits,
                        "seconds": round(seconds, 2),
                    }
                )
                print(_line(out[-1]), flush=True)
    return out


def _line(r: dict) -> str:
    return (
        f"| {r['oracle']} | {r['tolerance']:g} | {r['divergence']} | {r['nfe']} | "
        f"{r['estimator_error_bpd']:+.2e} | {r['bound_bpd']:.2e} | {r['prior_term_bpd']:+.2e} | "
        f"{r['smoothing_term_bpd']:+.2e} | {r['total_error_bpd']:+.2e} | {r['seconds']} |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=HERE / "results" / "nll_oracle.json")
    p.add_argument("--quick", action="store_true", help="a tenth of the points")
    args = p.parse_args(argv)
    print(
        "| oracle | rtol = atol | divergence | NFE | estimator error | bound | prior term | "
        "smoothing term | total error | s |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    found = rows(0.1 if args.quick else 1.0)
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        )
        if Path("/proc/cpuinfo").is_file()
        else "?"
    )
    record = {"cpu": cpu, "threads": torch.get_num_threads(), "unit": "bits/dim", "rows": found}
    if not args.quick:
        args.out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
