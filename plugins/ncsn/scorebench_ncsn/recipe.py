"""The ``ncsn`` recipe: Song & Ermon 2019 with the paper's hyper-parameters per dataset.

``cifar10``, ``mnist`` and ``celeba`` are the paper's experiment (GPU work); ``digits`` and
``toy-gmm`` are sized for 2 CPU cores and run the same code paths.
"""

from __future__ import annotations

from scorebench.api import Recipe

# The paper's training and sampling setup (official code: anneal_dsm, Adam 1e-3, batch 128,
# 200k iterations, checkpoints every 5k, annealed Langevin T=100, step_lr 2e-5, uniform init).
PAPER = {
    "schedule": {
        "name": "geometric",
        "params": {"sigma_max": 1.0, "sigma_min": 0.01, "num_levels": 10},
    },
    "loss": {"name": "dsm", "params": {"anneal_power": 2.0}},
    "data": {"batch_size": 128, "dequantize": True, "hflip": False, "logit_transform": False},
    "train": {
        "steps": 200_000,
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "weight_decay": 0.0,
        "grad_clip": None,
        "ema": None,
        "checkpoint_every": 5000,
        "log_every": 100,
    },
    "sample": {
        "sampler": {
            "name": "annealed_langevin",
            "params": {
                "steps_per_level": 100,
                "step_lr": 2e-5,
                "convention": "code",
                "denoise": False,
            },
        },
        "init": "uniform",
        "init_low": 0.0,
        "init_high": 1.0,
    },
}


def _ncsn(channels: int, ngf: int, size: int) -> dict:
    return {
        "name": "ncsn",
        "params": {"channels": channels, "ngf": ngf, "image_size": size, "num_levels": 10},
    }


PRESETS = {
    "cifar10": {
        "network": _ncsn(3, 128, 32),
        "data": {"name": "cifar10", "hflip": True},
        "sample": {"n": 50_000, "batch_size": 1000},
        "eval": {"metrics": ["isc", "fid", "kid", "prc"], "extractor": "inception-v3"},
    },
    "celeba": {
        "network": _ncsn(3, 128, 32),
        "data": {"name": "celeba", "hflip": True, "params": {"image_size": 32, "crop": 140}},
        "sample": {"n": 50_000, "batch_size": 1000},
        "eval": {"metrics": ["fid", "kid", "prc"], "extractor": "inception-v3"},
    },
    "mnist": {
        "network": _ncsn(1, 64, 28),
        "data": {"name": "mnist"},
        "sample": {"n": 10_000, "batch_size": 1000},
        "eval": {"metrics": ["isc", "fid", "kid"], "extractor": "inception-v3"},
    },
    # 2 CPU cores: a narrow NCSN on 8x8 digits, fewer Langevin steps. fp32: at this width
    # bf16 autocast was slower on a 2-core CPU (benchmarks/results/train.json); it pays off
    # at CIFAR-10 size (benchmarks/README.md).
    "digits": {
        "network": _ncsn(1, 32, 8),
        # sigma_1 = 5 ~ the largest distance between two digits (4.8): with the paper's 1 the
        # chains cannot move between digit classes (FID 390 vs 281 at sigma_1 = 5).
        "schedule": {"params": {"sigma_max": 5.0}},
        "data": {"name": "digits", "batch_size": 128},
        "train": {"steps": 1500, "checkpoint_every": 500, "log_every": 50},
        "sample": {
            "n": 360,
            "batch_size": 360,
            "sampler": {"params": {"steps_per_level": 20, "step_lr": 1e-4}},
        },
        "eval": {"metrics": ["isc", "fid", "kid"], "extractor": "digits-cnn"},
    },
    # The paper's 2-D mixture, learned by DSM with a small MLP (the exact-score experiment
    # of the paper's section 3 is `scorebench toy`).
    "toy-gmm": {
        "network": {
            "name": "ncsn-toy-mlp",
            "params": {"dim": 2, "hidden": 128, "layers": 3, "num_levels": 10},
        },
        "schedule": {"params": {"sigma_max": 20.0, "sigma_min": 0.1}},
        "data": {"name": "toy-gmm", "batch_size": 256, "dequantize": False},
        "train": {"steps": 8000, "checkpoint_every": 2000, "log_every": 100},
        "sample": {
            "n": 2000,
            "batch_size": 1000,
            "init_low": -8.0,
            "init_high": 8.0,
            "sampler": {"params": {"steps_per_level": 100, "step_lr": 5e-4}},
        },
        "eval": {"metrics": ["swd", "mmd", "mode-weights"]},
    },
}

BASELINES = {
    "cifar10": ["ncsn-paper-table1", "later-work"],
    "digits": ["digits-measured"],
    "toy-gmm": ["toy-gmm-measured"],
}


def recipe() -> Recipe:
    return Recipe(
        name="ncsn",
        summary="NCSN (Song & Ermon 2019): annealed DSM + annealed Langevin dynamics",
        base=PAPER,
        presets=PRESETS,
        baselines=BASELINES,
    )
