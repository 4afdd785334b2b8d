"""scorebench's metrics: feature extractors registered into torch-fidelity, the cached
reference statistics, and hand-written metrics for 2-D point datasets.

The public entry points are in :mod:`scorebench.evaluate`. This package is a built-in plugin
(``scorebench.metrics.plugin``); importing it does not import torch.
"""
