"""Fixtures of the metric tests: offline always, generated Inception weights, real digits."""

import pytest


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Any code path that would download fails loudly instead of touching the network.
    monkeypatch.setenv("SCOREBENCH_OFFLINE", "1")
    monkeypatch.delenv("SCOREBENCH_INCEPTION_WEIGHTS", raising=False)


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory):
    """A weights file with the keys and shapes of torch-fidelity's Inception and random
    values (~95 MB, written once per session)."""
    from scorebench.metrics.extractors import write_random_inception_weights

    return write_random_inception_weights(tmp_path_factory.mktemp("w") / "inception-a.pth", 0)


@pytest.fixture(scope="session")
def digits_test_images():
    import torch

    from scorebench.plugins import load

    ds = load("datasets", "digits")(None, "test")
    return torch.stack([ds[i] for i in range(len(ds))])
