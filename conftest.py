"""Test setup shared by tests/ and every plugin's tests: one torch thread per process (the
cores are shared), an isolated cache and data directory, and a fresh plugin manager."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Caches (reference statistics) are shared across tests of one session but never touch
    # the user's real cache.
    root = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(root))
    monkeypatch.setenv("SCOREBENCH_DATA_DIR", str(root / "data"))


@pytest.fixture(autouse=True)
def _fresh_plugins():
    from scorebench.plugins import reset_plugin_manager

    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails like an offline machine (tests never touch the network)."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled in scorebench tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
