"""Fixtures of the metric tests: offline always, real digits."""

import pytest


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Any code path that would download fails loudly instead of touching the network.
    monkeypatch.setenv("SCOREBENCH_OFFLINE", "1")
    monkeypatch.delenv("SCOREBENCH_INCEPTION_WEIGHTS", raising=False)


@pytest.fixture(scope="session")
def digits_test_images():
    import torch

    from scorebench.plugins import load

    ds = load("datasets", "digits")(None, "test")
    return torch.stack([ds[i] for i in range(len(ds))])
