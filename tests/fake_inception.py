"""A weights file with the shapes of torch-fidelity's Inception-v3 and random values, for
tests and throughput benchmarks (nothing downloads; the metrics it gives mean nothing)."""

from __future__ import annotations

from pathlib import Path


def write_random_inception_weights(path: str | Path, seed: int = 0) -> Path:
    """Write a state dict with the keys and shapes of torch-fidelity's Inception-v3 and
    random values (He-normal weights drawn with ``seed``; batch norms left at identity),
    written atomically.

    For tests and throughput benchmarks only: the metrics it gives mean nothing, but the
    pipeline, caching, fingerprinting and speed are those of the real weights.
    """
    from unittest import mock

    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as fe_module

    from scorebench.files import atomic_save_torch

    cls = fe_module.FeatureExtractorInceptionV3
    # The constructor always loads weights; skip that step to get the fresh module.
    with (
        mock.patch.object(fe_module, "load_state_dict_from_url", return_value={}),
        mock.patch.object(cls, "load_state_dict", lambda self, *a, **k: None),
    ):
        model = cls("inception-v3-compat", ["2048"])
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().clone()
        if value.is_floating_point() and value.dim() >= 2:
            # He-normal (fan-in) keeps activations alive through ~100 ReLU layers, so the
            # features differ between images (PyTorch's default init lets them vanish).
            fan_in = value[0].numel()
            value = torch.randn(value.shape, generator=generator) * (2.0 / fan_in) ** 0.5
        state[key] = value
    return atomic_save_torch(state, path)
