"""The paper's toy experiment (section 3.2, appendix B.1): Langevin dynamics with the exact
score recovers the modes of ``0.2 N((-5,-5), I) + 0.8 N((5,5), I)`` but not their weights;
annealed Langevin dynamics recovers both.
"""

from __future__ import annotations

import torch
from rich.table import Table

from scorebench.api import ConfigError, SampleNoise
from scorebench.checks import integer

from .gmm import toy_gmm
from .samplers import annealed_langevin, langevin
from .schedules import GeometricSchedule

#: The settings of the paper's experiment (appendix B.1).
TOY_SETTINGS = {
    "init_low": -8.0,
    "init_high": 8.0,
    "langevin_steps": 1000,
    "langevin_step_size": 0.1,
    "sigma_max": 20.0,
    "sigma_min": 1.0,
    "num_levels": 10,
    "steps_per_level": 100,
    "step_lr": 0.1,
}

METHODS = {
    "iid": "i.i.d. samples",
    "langevin": "Langevin dynamics",
    "annealed_langevin": "annealed Langevin dynamics",
}


def _mode_label(mean: list[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in mean) + ")"


def _mode_fractions(samples: torch.Tensor, means: torch.Tensor, labels: list[str]) -> dict:
    """Fraction of samples nearer to each mode (scorebench's mode-weight metric)."""
    from scorebench.api import mode_weight_error

    found = mode_weight_error(samples, means=means.tolist(), weights=[1.0] * len(labels))
    return dict(zip(labels, found["mode_weights"], strict=True))


def run_toy_experiment(n: int = 1280, seed: int = 0, device: str | torch.device = "cpu") -> dict:
    """Run the toy experiment with ``n`` points and return the fraction of each method's samples
    nearer to each mode.

    Methods: i.i.d. draws from p; plain Langevin (exact score of p, step 0.1, 1000 steps); and
    annealed Langevin (10 geometric sigmas 20 -> 1, 100 steps per level,
    ``alpha_i = 0.1 sigma_i^2 / sigma_L^2`` in the paper's ``x + (alpha/2) s + sqrt(alpha) z``
    form, with mixture components of std sigma_i). Both chains start from independent uniform
    draws on ``[-8, 8]^2``.

    Returns ``{"n", "seed", "weights": {mode: true weight}, "fractions": {method: {mode:
    fraction}}, "settings"}`` with modes labelled like ``"(5, 5)"`` and methods ``"iid"``,
    ``"langevin"``, ``"annealed_langevin"``.
    """
    integer("n", n)
    integer("seed", seed, minimum=0)
    device = torch.device(device)
    s = TOY_SETTINGS
    # "sigma" components: at sigma = 1 the score is exactly that of p (std 1).
    gmm = toy_gmm(component_std="sigma")
    labels = [_mode_label(m) for m in gmm.means.tolist()]
    means = gmm.means.to(device=device, dtype=torch.float32)
    # Each method's chains are samples of their own: 0..n-1, then n..2n-1.
    plain_noise = SampleNoise(seed, range(n), device)
    annealed_noise = SampleNoise(seed, range(n, 2 * n), device)

    def uniform_init(noise: SampleNoise) -> torch.Tensor:
        u = noise.uniform(torch.empty(n, gmm.dim, device=device))
        return s["init_low"] + (s["init_high"] - s["init_low"]) * u

    iid = gmm.sample(n, torch.Generator(device=device).manual_seed(seed))
    plain = langevin(
        gmm,
        uniform_init(plain_noise),
        torch.tensor([gmm.std]),
        noise=plain_noise,
        steps=s["langevin_steps"],
        step_size=s["langevin_step_size"],
    )
    sigmas = GeometricSchedule(s["sigma_max"], s["sigma_min"], s["num_levels"]).sigmas(device)
    annealed = annealed_langevin(
        gmm,
        uniform_init(annealed_noise),
        sigmas,
        noise=annealed_noise,
        steps_per_level=s["steps_per_level"],
        step_lr=s["step_lr"],
        convention="paper",
    )
    return {
        "n": n,
        "seed": seed,
        "weights": dict(zip(labels, gmm.weights.tolist(), strict=True)),
        "fractions": {
            "iid": _mode_fractions(iid, means, labels),
            "langevin": _mode_fractions(plain, means, labels),
            "annealed_langevin": _mode_fractions(annealed, means, labels),
        },
        "settings": dict(s),
    }


def toy_table(result: dict) -> Table:
    """The result of :func:`run_toy_experiment` as a rich table: one row per method, one column
    per mode (fraction of samples nearest to it), the true weights first."""
    try:
        weights = result["weights"]
        fractions = result["fractions"]
    except (KeyError, TypeError) as err:
        raise ConfigError(
            "toy_table expects the dict returned by run_toy_experiment "
            "(with 'weights' and 'fractions')."
        ) from err
    modes = list(weights)
    table = Table(
        title=f"Toy experiment: fraction of samples per mode (n={result.get('n')}, "
        f"seed={result.get('seed')})"
    )
    table.add_column("method")
    for mode in modes:
        table.add_column(f"mode {mode}", justify="right")
    table.add_row("true weight", *(f"{weights[m]:.3f}" for m in modes))
    for key, frac in fractions.items():
        table.add_row(METHODS.get(key, key), *(f"{frac[m]:.3f}" for m in modes))
    return table
