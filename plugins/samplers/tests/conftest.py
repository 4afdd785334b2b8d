"""The exact score of a Gaussian, for the samplers' exactness tests (the shared setup is in
the repository's conftest.py)."""

import pytest


@pytest.fixture
def gaussian_score():
    """``gaussian_score(mu, s)``: the exact score of N(mu, s^2 I) perturbed by N(0, sigma^2 I),
    ``-(x - mu) / (s^2 + sigma^2)`` (``s=0``: a point mass at mu)."""

    def make(mu, s: float):
        def score(x, sigma):
            return -(x - mu) / (s**2 + sigma[:, None] ** 2)

        return score

    return make
