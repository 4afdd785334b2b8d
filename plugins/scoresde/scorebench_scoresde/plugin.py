"""Registers the score-SDE (VE) components through the same hooks a third-party plugin
uses. The schedule (the sampling grid) is the ncsn plugin's and the PC sampler the samplers
plugin's; factories are "module:attr" strings (no torch import here)."""

from scorebench.api import Component, hookimpl

PKG = "scorebench_scoresde"


@hookimpl
def register_networks():
    return [
        Component(
            "ncsnpp",
            f"{PKG}.network:NCSNpp",
            "U-Net in the NCSN++ style: Fourier features of log sigma, BigGAN residual blocks, "
            "skip rescaling, attention; output divided by sigma",
        ),
        Component(
            "ncsnpp-toy-mlp",
            f"{PKG}.toy_network:FourierMLP",
            "MLP for 2-D points conditioned on Fourier features of log sigma (toy preset)",
        ),
    ]


@hookimpl
def register_losses():
    return [
        Component(
            "dsm-continuous",
            f"{PKG}.loss:dsm_continuous",
            "denoising score matching with sigma log-uniform on [sigma_min, sigma_max], "
            "sigma^2 weight (the VE SDE's continuous objective)",
        )
    ]


@hookimpl
def register_recipes():
    return [
        Component(
            "score-sde-ve",
            f"{PKG}.recipe:recipe",
            "Song et al. 2021, VE SDE: continuous DSM, NCSN++ network, PC sampling",
        )
    ]
