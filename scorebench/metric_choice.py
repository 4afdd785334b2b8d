"""Which metrics measure a dataset, read from what the components declare.

A metric component's meta (:class:`scorebench.contracts.MetricMeta`) says the kinds of data it measures (``kinds``) and what it
needs from the dataset (``needs``, an attribute such as ``mixture``); a dataset says its
``kind`` (:class:`scorebench.contracts.Dataset`). From these, :func:`choose_metrics` takes ``eval.metrics``
(or every metric that applies) and refuses, before any work, a name that cannot measure the
data. :func:`sample_metrics` and :func:`sample_values` run the sample metrics, a plugin's
included, and name the plugin when one misbehaves.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from scorebench.errors import ConfigError, ScorebenchError
from scorebench.plugins import registry

#: The metric component types an evaluation computes (the others are feature networks).
FEATURE_METRIC, SAMPLE_METRIC, MODEL_METRIC = "feature-metric", "sample-metric", "model-metric"
METRIC_TYPES = (FEATURE_METRIC, SAMPLE_METRIC, MODEL_METRIC)


def choose_metrics(requested: Any, ds: Any) -> tuple[tuple[str, ...], ...]:
    """The (feature, sample, model) metrics of ``requested`` that measure ``ds`` (None: every
    registered feature and sample metric that applies to it; model metrics, costly, only
    when named), in registration order. A name that is not a metric, measures another kind
    of data or needs what the dataset lacks is an error."""
    metrics = [c for c in registry("metrics") if c.meta.type in METRIC_TYPES]
    applies = {c.name: c for c in metrics if _applies(c, ds)}
    if requested is None:
        chosen = [name for name, c in applies.items() if c.meta.type != MODEL_METRIC]
    else:
        requested = [requested] if isinstance(requested, str) else list(requested)
        if not requested:
            raise ConfigError("no metric named: name at least one (or none: all that apply)")
        for name in requested:
            if name not in applies:
                raise ConfigError(_why_not(name, {c.name: c for c in metrics}, applies, ds))
        chosen = [name for name in applies if name in requested]
    return tuple(tuple(n for n in chosen if applies[n].meta.type == t) for t in METRIC_TYPES)


def _applies(component: Any, ds: Any) -> bool:
    needs = component.meta.needed(ds.kind)
    has = needs is None or getattr(ds, needs, None) is not None
    return ds.kind in component.meta.kinds and has


def _why_not(name: str, metrics: dict, applies: dict, ds: Any) -> str:
    allowed = f"metrics for {ds.name!r}: {', '.join(applies) or '(none)'}"
    component = metrics.get(name)
    if component is None:
        import difflib

        close = difflib.get_close_matches(str(name), list(applies), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {ds.kind[:-1]} metric {name!r}.{hint} The {allowed}"
    if ds.kind not in component.meta.kinds:
        kinds = " and ".join(component.meta.kinds) or "nothing"
        return f"metric {name!r} measures {kinds}; {ds.name!r} holds {ds.kind}. The {allowed}"
    return (
        f"metric {name!r} needs the dataset's {component.meta.needed(ds.kind)}, which {ds.name!r} "
        f"does not have. The {allowed}"
    )


def sample_metrics(names: tuple[str, ...], ds: Any, seed: int) -> dict[str, Any]:
    """The sample-metric objects by name, and their protocol settings (plain JSON)."""
    out = {}
    for name in names:
        component = registry("metrics").get(name)
        metric = _guarded(component, "could not be made", lambda c=component: c.load()())
        settings = _guarded(component, "settings() failed", lambda m=metric: m.settings(ds, seed))
        try:
            json.dumps(settings, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problem = f"settings() gave no plain JSON ({exc})"
            raise ScorebenchError(_blame(component, problem)) from None
        if not isinstance(settings, dict):
            raise ScorebenchError(_blame(component, "settings() must return a dict"))
        out[name] = (metric, settings)
    return out


def model_metrics(
    names: tuple[str, ...], options: Callable[[str], dict], held_out: Callable[[str], Any]
) -> dict[str, tuple[Any, Any]]:
    """The model-metric objects by name, made with their ``eval.<name>`` options, each with
    its held-out dataset (``held_out(split)``)."""
    out = {}
    for name in names:
        component = registry("metrics").get(name)
        kwargs = options(name)
        metric = _guarded(
            component, "could not be made", lambda c=component, k=kwargs: c.load()(**k)
        )
        out[name] = (metric, held_out(metric.split))
    return out


def sample_values(
    metrics: dict[str, Any], x: Any, reference: Callable[[], Any], ds: Any, seed: int
) -> dict[str, Any]:
    """The values of the sample metrics; the reference items are read once, if asked for."""
    reference = functools.cache(reference)
    values: dict[str, Any] = {}
    for name, metric in metrics.items():
        call = functools.partial(metric, x, reference=reference, dataset=ds, seed=seed)
        values.update(_named_values(name, call))
    return values


def model_values(
    metrics: dict[str, tuple[Any, Any]], model: Any, seed: int, analytic: bool
) -> dict[str, Any]:
    """The values of the model metrics (name -> (metric, held-out dataset)) of ``model``."""
    values: dict[str, Any] = {}
    for name, (metric, held_out) in metrics.items():
        call = functools.partial(metric, model, held_out=held_out, seed=seed, analytic=analytic)
        values.update(_named_values(name, call))
    return values


def _named_values(name: str, call: Callable[[], Any]) -> dict[str, Any]:
    component = registry("metrics").get(name)
    out = _guarded(component, "failed", call)
    if not isinstance(out, dict) or not all(isinstance(k, str) for k in out):
        raise ScorebenchError(_blame(component, "must return a dict of named values"))
    return out


def _guarded(component: Any, what: str, call: Callable[[], Any]) -> Any:
    """A plugin's metric code, whose own errors name the plugin (scorebench's pass through)."""
    try:
        return call()
    except ScorebenchError:
        raise
    except Exception as exc:
        raise ScorebenchError(_blame(component, f"{what}: {type(exc).__name__}: {exc}")) from exc


def _blame(component: Any, problem: str) -> str:
    return (
        f"metric {component.name!r} (plugin {component.plugin or '?'}) {problem}. Fix or update "
        "that plugin, or leave the metric out of eval.metrics."
    )
