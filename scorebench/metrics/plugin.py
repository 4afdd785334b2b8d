"""Built-in plugin ``scorebench.metrics``: feature extractors and point-set metrics.

Factories are ``"module:attr"`` strings so that listing components never imports torch.
``meta["type"]`` tells the evaluator what a component is:

* ``"feature-extractor"``: ``factory(**params)`` -> an object with ``prepare(...)`` (see
  :class:`scorebench.api.FeatureExtractor`), used for IS/FID/KID/PRC through torch-fidelity;
* ``"point-metric"``: ``factory(samples, reference, **params) -> dict[str, float]`` for
  point datasets (:class:`scorebench.api.PointMetric`);
* ``"density-metric"``: ``factory(samples, dataset) -> dict[str, float]`` for datasets that
  know their exact density.

``meta["values"]`` describes the values a component produces, for every table and plot:
``{key: (label, "lower" or "higher" is better)}``; ``meta["order"]`` places them among the
columns (lower first; the first column a table has ranks it); ``meta["scale"]`` says what
scale the values are on, for the report. A third party's metric declares its own.
"""

from __future__ import annotations

from scorebench import hookimpl
from scorebench.registry import Component

#: What IS/FID/KID/precision-recall through a feature network produce (torch-fidelity).
FEATURE_VALUES = {
    "fid": ("FID", "lower"),
    "isc_mean": ("IS", "higher"),
    "kid_mean": ("KID", "lower"),
    "precision": ("precision", "higher"),
    "recall": ("recall", "higher"),
}


@hookimpl
def register_metrics() -> list[Component]:
    return [
        Component(
            "inception-v3",
            "scorebench.metrics.extractors:InceptionV3Spec",
            "torch-fidelity's TF-exact Inception-v3 (2015-12-05 weights): IS, FID, KID, PRC",
            meta={"type": "feature-extractor", "values": FEATURE_VALUES, "order": 0},
        ),
        Component(
            "digits-cnn",
            "scorebench.metrics.digits_cnn:DigitsCNNSpec",
            "small CNN trained by scorebench on sklearn digits: IS, FID, KID, PRC for digits",
            meta={
                "type": "feature-extractor",
                "values": FEATURE_VALUES,
                "order": 0,
                "scale": "FID, IS, KID and precision/recall use digits-cnn features: their scale "
                "is that network's (KID can be large or negative), not Inception's. Compare only "
                "inside this table.",
            },
        ),
        Component(
            "mode-weights",
            "scorebench.metrics.points:mode_weight_error",
            "per-mode weight error against a known Gaussian mixture (nearest-mode assignment)",
            meta={
                "type": "point-metric",
                "values": {"mode_weight_error": ("mode weight err", "lower")},
                "order": 10,
                "scale": "Mode weight error is a fraction of the samples.",
            },
        ),
        Component(
            "swd",
            "scorebench.metrics.points:sliced_wasserstein",
            "sliced 2-Wasserstein distance between point sets",
            meta={
                "type": "point-metric",
                "values": {"swd": ("SWD", "lower")},
                "order": 11,
                "scale": "SWD is in the data's own units.",
            },
        ),
        Component(
            "mmd",
            "scorebench.metrics.points:mmd_rbf",
            "squared MMD with a Gaussian kernel (unbiased estimate)",
            meta={
                "type": "point-metric",
                "values": {"mmd2": ("MMD^2", "lower")},
                "order": 12,
                "scale": "MMD^2 is unbiased and may be slightly negative.",
            },
        ),
        Component(
            "log-likelihood",
            "scorebench.metrics.points:mean_log_likelihood",
            "mean exact log-density of the samples, for datasets that know their density",
            meta={
                "type": "density-metric",
                "values": {"log_likelihood": ("log-lik", "higher")},
                "order": 13,
            },
        ),
    ]
