"""scorebench: train, sample and fairly evaluate score-based generative models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scorebench")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

import pluggy

#: Decorate a plugin's hook functions with this (``@scorebench.hookimpl``).
hookimpl = pluggy.HookimplMarker("scorebench")
