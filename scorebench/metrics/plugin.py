"""Built-in plugin ``scorebench.metrics``: feature extractors and point-set metrics.

Factories are ``"module:attr"`` strings so that listing components never imports torch.
``meta["type"]`` tells the evaluator what a component is:

* ``"feature-extractor"``: ``factory(**params)`` -> an object with ``prepare(...)`` (see
  :class:`scorebench.metrics.extractors.ExtractorSpec`), used for IS/FID/KID/PRC through
  torch-fidelity;
* ``"point-metric"``: ``factory(samples, reference, **params) -> dict[str, float]`` for
  2-D point datasets.
"""

from __future__ import annotations

from scorebench import hookimpl
from scorebench.registry import Component


@hookimpl
def register_metrics() -> list[Component]:
    return [
        Component(
            "inception-v3",
            "scorebench.metrics.extractors:InceptionV3Spec",
            "torch-fidelity's TF-exact Inception-v3 (2015-12-05 weights): IS, FID, KID, PRC",
            meta={"type": "feature-extractor"},
        ),
        Component(
            "digits-cnn",
            "scorebench.metrics.digits_cnn:DigitsCNNSpec",
            "small CNN trained by scorebench on sklearn digits: IS, FID, KID, PRC for digits",
            meta={"type": "feature-extractor"},
        ),
        Component(
            "swd",
            "scorebench.metrics.points:sliced_wasserstein",
            "sliced 2-Wasserstein distance between point sets",
            meta={"type": "point-metric"},
        ),
        Component(
            "mmd",
            "scorebench.metrics.points:mmd_rbf",
            "squared MMD with a Gaussian kernel (unbiased estimate)",
            meta={"type": "point-metric"},
        ),
        Component(
            "mode-weights",
            "scorebench.metrics.points:mode_weight_error",
            "per-mode weight error against a known Gaussian mixture (nearest-mode assignment)",
            meta={"type": "point-metric"},
        ),
    ]
