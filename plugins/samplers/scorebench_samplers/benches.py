"""Oracle benchmarks: every sampler of the zoo over an NFE grid, on exact scores.

With an analytic score (exact at every sigma) and exact samples of the true distribution as
the reference, every difference between rows is the sampler's, not a network's.

* ``oracle-toy``: the NCSN paper's 2-D mixture 0.2 N((-5,-5), I) + 0.8 N((5,5), I);
* ``oracle-digits``: the 64-D full-covariance mixture fitted to the digits train split
  (``digits-gmm``), as 64-D points: stored as 8-bit images, 29% of its coordinates would be
  clamped, and the samples would no longer be draws of the density they are measured against.

Both rank by MMD^2 to the exact density (closed form in p: only the samples' own noise is
left) and show the log-likelihood gap to exact samples, the mode-weight error, sliced
Wasserstein and a two-sample MMD^2 beside it. ``N_SAMPLES`` resolves them: at 50 NFE the
exact samples' 95% band is hundreds of times narrower than the gap between the best and the
worst sampler (measured in docs/design.md).

Each sampler's budget parameter is chosen so that its NFE formula lands on (or next to) the
grid: Heun-type samplers spend 2 steps - 1 evaluations (so they get n - 1), PC with one
corrector step 2 steps.
"""

from __future__ import annotations

from typing import Any

#: Score evaluations per sample that every sampler is run at.
NFE_GRID = (10, 20, 50, 100, 200, 1000)
#: Samples per cell (and per exact draw of the reference rows).
N_SAMPLES = 5000


def _zoo(nfe: tuple[int, ...], annealed_step_lr: float) -> list[dict[str, Any]]:
    """Every sampler with the budget parameter that gives each NFE of ``nfe`` (10 levels)."""
    heun = [n // 2 for n in nfe]  # 2 steps - 1 = n - 1
    return [
        {
            "name": "annealed_langevin",  # NFE = 10 levels x steps_per_level
            "grid": {"steps_per_level": [max(1, n // 10) for n in nfe]},
            "params": {"step_lr": annealed_step_lr},
        },
        {"name": "cas", "grid": {"steps": list(nfe)}},
        {"name": "pc", "grid": {"steps": [n // 2 for n in nfe]}},  # one corrector step
        {"name": "pc_predictor", "grid": {"steps": list(nfe)}},
        {"name": "pc_corrector", "grid": {"steps": list(nfe)}},
        {"name": "pf_euler", "grid": {"steps": list(nfe)}},
        {"name": "pf_heun", "grid": {"steps": heun}},
        {"name": "edm_stochastic", "grid": {"steps": heun}, "params": {"S_churn": 10.0}},
        {"name": "dpmpp_2m", "grid": {"steps": list(nfe)}},
    ]


def oracle_toy() -> dict[str, Any]:
    return {
        "sources": [
            {
                "score_function": "toy-gmm",
                "config": {
                    "schedule": {
                        "name": "geometric",
                        "params": {"sigma_max": 20.0, "sigma_min": 0.1, "num_levels": 10},
                    },
                    "sample": {
                        "n": N_SAMPLES,
                        "batch_size": 1000,
                        "init_low": -8.0,
                        "init_high": 8.0,
                    },
                },
            }
        ],
        # The toy preset's annealed Langevin step (scorebench_ncsn.recipe).
        "samplers": _zoo(NFE_GRID, annealed_step_lr=5e-4),
        "seeds": 3,
    }


def oracle_digits() -> dict[str, Any]:
    return {
        "sources": [
            {
                "score_function": "digits-gmm",
                "params": {"points": True},
                "config": {
                    # sigma_1 about the largest distance between two digits (as the digits
                    # preset of the ncsn recipe).
                    "schedule": {
                        "name": "geometric",
                        "params": {"sigma_max": 5.0, "sigma_min": 0.01, "num_levels": 10},
                    },
                    "sample": {"n": N_SAMPLES, "batch_size": 1000},
                },
            }
        ],
        # NFE up to 200: the 64-D score costs about 1000 times the 2-D one (the toy preset
        # covers 1000).
        "samplers": _zoo(NFE_GRID[:-1], annealed_step_lr=1e-4),
        "seeds": 3,
    }
