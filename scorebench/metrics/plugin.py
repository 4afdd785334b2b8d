"""Built-in plugin ``scorebench.metrics``: feature extractors and metrics.

Factories are ``"module:attr"`` strings so that listing components never imports torch.
Each component declares :class:`scorebench.api.MetricMeta`: its ``type`` tells the evaluator
what it is (a feature network, one of torch-fidelity's IS, FID, KID and precision/recall, or
a metric of the samples themselves), the rest what it measures and how tables rank it.
"""

from __future__ import annotations

from typing import Any

from scorebench import hookimpl
from scorebench.contracts import MetricMeta
from scorebench.registry import Component

IMAGES, POINTS = ("images",), ("points",)
ENGINE = "scorebench.metrics.engine"


def _sample_metric(
    name: str, cls: str, summary: str, *, kinds: tuple = POINTS, **meta: Any
) -> Component:
    meta = MetricMeta("sample-metric", kinds, **meta)
    return Component(name, f"scorebench.metrics.points:{cls}", summary, meta=meta)


def _feature_metric(name: str, summary: str, order: int, values: dict, gates: dict) -> Component:
    meta = MetricMeta("feature-metric", IMAGES, values=values, order=order, gates=gates)
    return Component(name, f"{ENGINE}:{name}_metric", summary, meta=meta)


_COMPONENTS = (
    Component(
        "inception-v3",
        "scorebench.metrics.extractors:InceptionV3Spec",
        "torch-fidelity's TF-exact Inception-v3 (2015-12-05 weights): IS, FID, KID, PRC",
        meta=MetricMeta("feature-extractor"),
    ),
    Component(
        "digits-cnn",
        "scorebench.metrics.digits_cnn:DigitsCNNSpec",
        "small CNN trained by scorebench on sklearn digits: IS, FID, KID, PRC for digits",
        meta=MetricMeta(
            "feature-extractor",
            scale="FID, IS, KID and precision/recall use digits-cnn features: their scale "
            "is that network's (KID can be large or negative), not Inception's. Compare only "
            "inside this table.",
        ),
    ),
    # Registered in torch-fidelity's order: an image protocol lists them in this order.
    _feature_metric(
        "isc",
        "Inception score (torch-fidelity)",
        1,
        {"isc_mean": ("IS", "higher")},
        {"isc_mean": -0.10},
    ),
    _feature_metric(
        "fid",
        "Frechet distance of features (torch-fidelity)",
        0,
        {"fid": ("FID", "lower")},
        {"fid": -0.10},
    ),
    _feature_metric(
        "kid",
        "kernel distance of features (torch-fidelity)",
        2,
        {"kid_mean": ("KID", "lower")},
        {},
    ),
    _feature_metric(
        "prc",
        "precision and recall of features, k = 3 (torch-fidelity)",
        3,
        {"precision": ("precision", "higher"), "recall": ("recall", "higher")},
        {},
    ),
    _sample_metric(
        "mode-weights",
        "ModeWeights",
        "per-mode weight error against a known Gaussian mixture (nearest-mode assignment)",
        values={"mode_weight_error": ("mode weight err", "lower")},
        order=10,
        needs="mixture",
        gates={"mode_weight_error": -0.10},
        scale="Mode weight error is a fraction of the samples.",
    ),
    _sample_metric(
        "swd",
        "SlicedWasserstein",
        "sliced 2-Wasserstein distance between point sets",
        values={"swd": ("SWD", "lower")},
        order=11,
        gates={"swd": -0.10},
        scale="SWD is in the data's own units.",
    ),
    _sample_metric(
        "mmd",
        "MMD",
        "squared MMD with a Gaussian kernel (unbiased estimate)",
        values={"mmd2": ("MMD^2", "lower")},
        order=12,
        scale="MMD^2 is unbiased and may be slightly negative.",
    ),
    _sample_metric(
        "log-likelihood",
        "LogLikelihood",
        "gap between the samples' mean exact log-density and the true distribution's, for "
        "datasets that know their density",
        values={"abs_loglik_gap": ("log-lik gap (abs)", "lower")},
        order=13,
        kinds=("images", "points"),
        needs="log_likelihood",
        scale="The log-lik gap is |E_q[log p] - E_p[log p]| in nats: about 0 for exact "
        "samples; the signed gap (loglik_gap in the JSON) is positive when samples crowd "
        "the modes.",
    ),
    Component(
        "nll",
        "scorebench.metrics.nll:NLL",
        "held-out negative log-likelihood in bits/dim through the probability-flow ODE "
        "(models that answer every sigma; named in eval.metrics, options in eval.nll)",
        meta=MetricMeta(
            "model-metric",
            ("images", "points"),
            needs={"points": "log_likelihood"},  # continuous points: only against the truth
            values={
                "bpd": ("NLL (bits/dim)", "lower"),
                "bpd_gap": ("NLL gap to p (bits/dim)", "lower"),
            },
            order=20,
            scale="NLL is held-out bits/dim through the probability-flow ODE (solver, "
            "tolerances, probes and dequantization in the protocol); for images an upper "
            "bound on the 8-bit data's, for oracle points the gap to the true density's is "
            "KL(p || q) per dimension in bits. Blank for a network conditioned on its trained "
            "levels (NCSN's): the ODE needs every sigma.",
        ),
    ),
    Component(
        "mmd-exact",
        "scorebench.metrics.exact:ExactMMD",
        "squared MMD to the true density of a Gaussian-mixture dataset (closed form in p)",
        # Points only: images are stored clamped to [0, 1] and 8-bit, no longer draws of p.
        meta=MetricMeta(
            "sample-metric",
            POINTS,
            values={"mmd2_exact": ("MMD² to p", "lower")},
            order=-1,  # where the exact density is known, it ranks the table
            needs="gaussian_mixture",
            scale="MMD² to p is against the exact density (Gaussian kernel, bandwidth in the "
            "protocol): only the samples' own noise is left, and exact samples score about 0.",
        ),
    ),
)


@hookimpl
def register_metrics() -> list[Component]:
    return list(_COMPONENTS)
