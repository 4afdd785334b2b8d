"""The ``score-sde-ve`` recipe: Song et al. 2021 with the VE SDE, NCSN taken to continuous time.

``cifar10`` is the paper's NCSN++ cont. (VE) configuration (score_sde_pytorch
``configs/ve/cifar10_ncsnpp_continuous.py`` over ``configs/default_cifar10_configs.py``):
sigma in [0.01, 50], continuous DSM, NCSN++ with nf 128, ch_mult (1, 2, 2, 2), 4 residual
blocks per resolution, attention at 16x16, dropout 0.1, Fourier scale 16; Adam 2e-4 with
5000 warm-up steps, gradient clipping at 1, EMA 0.999, batch 128, 1.3M steps, random flips,
no dequantization; PC sampling with the reverse-diffusion predictor and one Langevin
corrector step at snr 0.16 over N = 1000 levels, with the final denoising step.

``digits`` and ``toy-gmm`` are sized for 2 CPU cores, with the budget of the ncsn presets for
the same data (steps, batch, samples, 200 score evaluations per digits sample).

Training draws sigma from the whole interval; the schedule's levels only bin the training
log per noise level and give the samplers that walk a model's own levels their grid.
"""

from __future__ import annotations

from scorebench.api import Recipe

PAPER = {
    "schedule": {
        "name": "geometric",
        "params": {"sigma_max": 50.0, "sigma_min": 0.01, "num_levels": 10},
    },
    "loss": {"name": "dsm-continuous", "params": {}},
    "network": {"name": "ncsnpp", "params": {}},
    "data": {"batch_size": 128, "dequantize": False, "hflip": False, "logit_transform": False},
    "train": {
        "steps": 1_300_000,
        "lr": 2e-4,
        "betas": [0.9, 0.999],
        "weight_decay": 0.0,
        "warmup": 5000,
        "grad_clip": 1.0,
        "ema": 0.999,
        "checkpoint_every": 50_000,
        "log_every": 100,
    },
    "sample": {
        "sampler": {
            "name": "pc",
            "params": {"steps": 1000, "corrector_steps": 1, "snr": 0.16, "denoise": True},
        },
    },
}

PRESETS = {
    "cifar10": {
        "network": {
            "params": {
                "channels": 3,
                "image_size": 32,
                "nf": 128,
                "ch_mult": [1, 2, 2, 2],
                "num_res_blocks": 4,
                "attn_resolutions": [16],
                "dropout": 0.1,
                "fourier_scale": 16.0,
            }
        },
        "data": {"name": "cifar10", "hflip": True},
        "sample": {"n": 50_000, "batch_size": 1000},
        "eval": {"metrics": ["isc", "fid", "kid", "prc"], "extractor": "inception-v3"},
    },
    # 2 CPU cores: the ncsn digits budget (1500 steps of 128, 360 samples at 200 NFE).
    # sigma_max 5 ~ the largest distance between two digits, as the ncsn preset; lr 1e-3 and
    # EMA 0.99 as the ncsnv2 preset (a 1500-step run; see its recipe).
    "digits": {
        "schedule": {"params": {"sigma_max": 5.0}},
        "network": {
            "params": {
                "channels": 1,
                "image_size": 8,
                "nf": 32,
                "ch_mult": [1, 2],
                "num_res_blocks": 2,
                "attn_resolutions": [4],
            }
        },
        "data": {"name": "digits", "batch_size": 128, "dequantize": True},
        "train": {
            "steps": 1500,
            "lr": 1e-3,
            "warmup": 100,
            "ema": 0.99,
            "checkpoint_every": 500,
            "log_every": 50,
        },
        "sample": {"n": 360, "batch_size": 360, "sampler": {"params": {"steps": 100}}},
        "eval": {"metrics": ["isc", "fid", "kid", "nll"], "extractor": "digits-cnn"},
    },
    # The paper's 2-D mixture with the ncsn toy preset's budget and sigma range.
    "toy-gmm": {
        "schedule": {"params": {"sigma_max": 20.0, "sigma_min": 0.1}},
        "network": {"name": "ncsnpp-toy-mlp", "params": {"dim": 2, "hidden": 128, "layers": 3}},
        "data": {"name": "toy-gmm", "batch_size": 256, "dequantize": False},
        "train": {
            "steps": 8000,
            "lr": 1e-3,
            "warmup": 0,
            "grad_clip": None,
            "ema": None,
            "checkpoint_every": 2000,
            "log_every": 100,
        },
        "sample": {"n": 2000, "batch_size": 1000, "sampler": {"params": {"steps": 100}}},
        "eval": {"metrics": ["swd", "mmd", "mode-weights"]},
    },
}

BASELINES = {
    "cifar10": ["later-work"],  # holds the paper's NCSN++ cont. (VE) rows
    "digits": ["digits-measured"],
    "toy-gmm": ["toy-gmm-measured"],
}


def recipe() -> Recipe:
    return Recipe(
        name="score-sde-ve",
        summary="Score SDE, VE (Song et al. 2021): continuous DSM, NCSN++ network, PC sampler",
        base=PAPER,
        presets=PRESETS,
        baselines=BASELINES,
    )
