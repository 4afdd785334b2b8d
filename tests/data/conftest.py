"""Fixtures for the dataset tests: no network, and writers of the real on-disk formats."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fake_datasets import write_celeba, write_cifar10, write_mnist


@pytest.fixture(autouse=True)
def _offline(no_network):
    """Dataset tests never touch the network (the fixture is in the repository's conftest)."""


@pytest.fixture
def formats() -> SimpleNamespace:
    """The writers of ``fake_datasets`` (a fixture, as the dataset tests have always used them)."""
    return SimpleNamespace(cifar10=write_cifar10, mnist=write_mnist, celeba=write_celeba)
