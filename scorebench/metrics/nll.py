"""The ``nll`` metric: held-out negative log-likelihood in bits/dim through the
probability-flow ODE (:mod:`scorebench.likelihood`), a metric of the model, not of its samples.

Images are read as 8-bit values k and dequantized uniformly, ``y = (k + u) / 256``, as
score_sde_pytorch does; then ``bpd = -log2 p(y) / D + 8`` bounds the 8-bit data's
negative log-likelihood from above. Points are continuous: ``bpd = -log2 p(x) / D``, which
depends on the data's units, so points are measured only where the dataset knows its exact
density (``log_likelihood``): the record then also has the true density's bits/dim on the
same points (``bpd_data``) and the difference (``bpd_gap``, an estimate of KL(p || q) / D in
bits, 0 for a perfect model up to the estimator's error).

Only a source that answers every sigma can be integrated: a network conditioned on its
trained levels (NCSN) is refused, since between levels it answers with the nearest one and
the ODE would integrate a piecewise-constant field that no density has.
"""

from __future__ import annotations

import math
from importlib.metadata import version
from typing import Any

import torch

from scorebench.contracts import IMAGES
from scorebench.data.base import items
from scorebench.data.transforms import to_uint8
from scorebench.errors import ConfigError
from scorebench.likelihood import (
    SOLVERS,
    bits_per_dim,
    check_solver,
    divergence_kind,
    flow_log_likelihood,
)

DEQUANTIZATION = "uniform: y = (k + u) / 256, u ~ U[0, 1)^D, one draw per item"
PRIOR = "N(0, sigma_max^2 I)"


def answers_every_sigma(sigma_query: str) -> bool:
    """Whether a source, by its spec's ``sigma_query``, answers any sigma exactly."""
    return str(sigma_query).startswith("exact")


class NLL:
    """Held-out bits/dim. Parameters (``eval.nll``): the ODE ``solver`` (``dopri5``,
    torchdiffeq, or ``rk45``, scipy), its tolerances ``rtol`` and ``atol``, the
    ``divergence`` (``exact``, ``hutchinson`` or ``auto``: exact up to 16 dimensions),
    Hutchinson ``probes``, the held-out ``split`` and its first ``n`` items (None: all),
    ``batch_size`` items per solve."""

    def __init__(
        self,
        solver: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        divergence: str = "auto",
        probes: int = 1,
        split: str = "test",
        n: int | None = None,
        batch_size: int = 500,
    ) -> None:
        check_solver(solver, rtol, atol, probes)
        divergence_kind(divergence, 1)
        if n is not None and not (isinstance(n, int) and n >= 1):
            raise ConfigError(f"eval.nll.n must be an integer >= 1 (or null: all), got {n!r}")
        self.solver, self.rtol, self.atol = solver, float(rtol), float(atol)
        self.divergence, self.probes, self.split = divergence, probes, split
        self.n, self.batch_size = n, batch_size

    def check(self, held_out: Any, *, sigma_query: str, logit_transform: bool = False) -> None:
        """Refuse, before any work, what cannot be measured."""
        if not answers_every_sigma(sigma_query):
            raise ConfigError(
                f"nll integrates the probability-flow ODE over every sigma, but this source "
                f"answers sigma by {sigma_query!r} (a network conditioned on its trained "
                "levels, like NCSN's). Measure a sigma-conditioned model (ncsnv2, "
                "score-sde-ve) or leave nll out of eval.metrics."
            )
        if logit_transform:
            raise ConfigError(
                "nll measures densities of data in [0, 1]; this run models logit-transformed "
                "data (data.logit_transform). Leave nll out of eval.metrics."
            )
        if held_out.kind != IMAGES and getattr(held_out, "log_likelihood", None) is None:
            raise ConfigError(
                f"nll on points needs a dataset that knows its density (log_likelihood); "
                f"{held_out.name!r} does not: bits/dim of continuous points depend on their "
                "units and have nothing to be compared with. Use an oracle dataset, or images."
            )

    def count(self, held_out: Any) -> int:
        if self.n is not None and self.n > len(held_out):
            raise ConfigError(
                f"eval.nll.n is {self.n} but the {self.split!r} split of {held_out.name!r} "
                f"has {len(held_out)} items"
            )
        return self.n or len(held_out)

    def settings(self, held_out: Any, seed: int) -> dict[str, Any]:
        images = held_out.kind == IMAGES
        return {
            "estimator": "probability-flow ODE (VE), log sigma time",
            "solver": self.solver,
            "library": f"{SOLVERS[self.solver]} {version(SOLVERS[self.solver])}",
            "rtol": self.rtol,
            "atol": self.atol,
            "divergence": divergence_kind(self.divergence, math.prod(held_out.shape)),
            "probes": self.probes,
            "dequantization": DEQUANTIZATION if images else None,
            "split": self.split,
            "n": self.count(held_out),
            "batch_size": self.batch_size,
            "prior": PRIOR,
            "seed": seed,
        }

    def __call__(self, model: Any, *, held_out: Any, seed: int, analytic: bool) -> dict:
        """``model``: :class:`scorebench.sample.Model` (score, sigmas); ``analytic``: an exact
        score, solved in float64."""
        settings = self.settings(held_out, seed)
        dtype = torch.float64 if analytic else torch.float32
        device = model.sigmas.device
        generator = torch.Generator().manual_seed(seed)
        images = held_out.kind == IMAGES
        sigmas = model.sigmas.to(torch.float64)
        sigma_min, sigma_max = float(sigmas.min()), float(sigmas.max())
        dim = math.prod(held_out.shape)
        bpd, true_bpd, nfe = [], [], 0
        n = settings["n"]
        for start in range(0, n, self.batch_size):
            x = items(held_out, range(start, min(start + self.batch_size, n))).double()
            if images:
                k = to_uint8(x).to(torch.float64)
                x = (k + torch.rand(k.shape, generator=generator, dtype=torch.float64)) / 256
            flow = flow_log_likelihood(
                model.score,
                x.to(device=device, dtype=dtype),
                sigma_min=sigma_min,
                sigma_max=sigma_max,
                solver=self.solver,
                rtol=self.rtol,
                atol=self.atol,
                divergence=self.divergence,
                probes=self.probes,
                generator=generator,
            )
            nfe += flow.nfe
            bpd.append(bits_per_dim(flow.log_p.double().cpu(), dim, offset_bits=8 if images else 0))
            if not images:
                true_bpd.append(bits_per_dim(held_out.log_likelihood(x).double().cpu(), dim))
        values = _mean("bpd", torch.cat(bpd))
        values.update(nll_nfe=nfe, nll_sigma_min=sigma_min, nll_sigma_max=sigma_max)
        if true_bpd:
            truth = torch.cat(true_bpd)
            values.update(_mean("bpd_data", truth))
            values.update(_mean("bpd_gap", torch.cat(bpd) - truth))
        return values


def _mean(key: str, v: torch.Tensor) -> dict[str, float]:
    """The mean and its standard error (over held-out items)."""
    se = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return {key: float(v.mean()), f"{key}_standard_error": se}
