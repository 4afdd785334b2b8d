"""Bridges from public model libraries to scorebench's ``score(x, sigma)`` contract."""

__version__ = "0.1.0"
