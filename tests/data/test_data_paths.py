"""scorebench.paths: cache and data directories from the environment."""

from __future__ import annotations

from pathlib import Path

from scorebench.paths import cache_dir, data_dir


def test_defaults(monkeypatch, tmp_path):
    for var in ("SCOREBENCH_CACHE_DIR", "SCOREBENCH_DATA_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "scorebench"
    assert data_dir() == tmp_path / ".cache" / "scorebench" / "data"


def test_xdg_and_explicit(monkeypatch, tmp_path):
    monkeypatch.delenv("SCOREBENCH_CACHE_DIR", raising=False)
    monkeypatch.delenv("SCOREBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "scorebench"
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    assert data_dir() == tmp_path / "cache" / "data"
    monkeypatch.setenv("SCOREBENCH_DATA_DIR", "~/datasets")
    assert data_dir() == Path.home() / "datasets"


def test_empty_variable_counts_as_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SCOREBENCH_DATA_DIR", "  ")
    assert data_dir() == tmp_path / "data"
