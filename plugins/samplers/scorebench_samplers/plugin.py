"""Registers the sampler zoo through the same hooks a third-party plugin uses.

Factories are "module:attr" strings: nothing here imports torch.
"""

from scorebench.api import Component, hookimpl

PKG = "scorebench_samplers"


@hookimpl
def register_samplers():
    return [
        Component(
            "cas",
            f"{PKG}.langevin:cas",
            "consistent annealed sampling, one step per level (Jolicoeur-Martineau et al. 2021)",
        ),
        Component(
            "pc",
            f"{PKG}.langevin:pc",
            "predictor-corrector for the VE SDE: reverse diffusion + Langevin (Song et al. 2021)",
        ),
        Component(
            "pc_predictor",
            f"{PKG}.langevin:pc_predictor",
            "reverse-diffusion predictor only, VE SDE (Song et al. 2021)",
        ),
        Component(
            "pc_corrector",
            f"{PKG}.langevin:pc_corrector",
            "Langevin corrector only with the SNR step rule, VE SDE (Song et al. 2021)",
        ),
        Component(
            "pf_euler",
            f"{PKG}.edm:pf_euler",
            "probability-flow ODE, Euler steps (first order)",
        ),
        Component(
            "pf_heun",
            f"{PKG}.edm:pf_heun",
            "probability-flow ODE, Heun steps: EDM's deterministic sampler (Karras et al. 2022)",
        ),
        Component(
            "edm_stochastic",
            f"{PKG}.edm:edm_stochastic",
            "EDM's stochastic sampler with churn (Karras et al. 2022, Algorithm 2)",
        ),
        Component(
            "dpmpp_2m",
            f"{PKG}.dpm:dpmpp_2m",
            "DPM-Solver++(2M), multistep second order in data prediction (Lu et al. 2022)",
        ),
    ]


@hookimpl
def register_schedules():
    return [
        Component(
            "karras",
            f"{PKG}.grids:KarrasSchedule",
            "EDM levels, equally spaced in sigma^(1/rho) (default 80 -> 0.002, 18 levels, rho 7)",
        )
    ]


@hookimpl
def register_score_functions():
    return [
        Component(
            "digits-gmm",
            f"{PKG}.oracles:digits_gmm",
            "64-D full-covariance Gaussian mixture fitted to the digits train split: exact score "
            "at every sigma, exact samples",
        )
    ]


@hookimpl
def register_benches():
    return [
        Component(
            "oracle-toy",
            f"{PKG}.benches:oracle_toy",
            "every sampler x NFE 10..1000 x 3 seeds on the exact score of the NCSN 2-D mixture",
        ),
        Component(
            "oracle-digits",
            f"{PKG}.benches:oracle_digits",
            "every sampler x NFE 10..200 x 3 seeds on the exact score of a 64-D digits mixture",
        ),
    ]
