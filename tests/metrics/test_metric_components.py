"""Metrics and datasets describe themselves: the evaluator reads which metrics apply from
their declarations (kinds, needs), honours eval.metrics for every kind of data, and takes a
third party's metric into the protocol, the record and checkpoint selection."""

import pytest
import torch

from scorebench import hookimpl
from scorebench.errors import ConfigError, ScorebenchError
from scorebench.evaluate import check_eval_config, evaluate_points, ranking_metric
from scorebench.plugins import get_plugin_manager, reset_plugin_manager
from scorebench.recipes import resolve_config
from scorebench.registry import Component


def _toy(*overrides):
    return resolve_config("ncsn", "toy-gmm", overrides=["data.params.n=400", *overrides])


def test_eval_metrics_is_honoured_for_points():
    x = torch.randn(300, 2) * 5
    record = evaluate_points(x, dataset="toy-gmm", metrics=["swd"], dataset_params={"n": 400})
    assert set(record["metrics"]) == {"swd"} and record["protocol"]["metrics"] == ["swd"]
    every = evaluate_points(x, dataset="toy-gmm", dataset_params={"n": 400})
    assert every["protocol"]["metrics"] == ["mmd", "mode-weights", "swd"]
    assert every["metrics"]["swd"] == record["metrics"]["swd"]  # one seed, one value
    assert every["fingerprint"] != record["fingerprint"]


@pytest.mark.parametrize(
    "metrics,message",
    [
        ("[swdd]", "unknown point metric 'swdd'. Did you mean 'swd'?"),
        ("[fid]", "metric 'fid' measures images; 'toy-gmm' holds points"),
        ("[inception-v3]", "unknown point metric 'inception-v3'"),
        ("[]", "no metric named"),
    ],
)
def test_a_metric_that_cannot_measure_the_data_is_rejected_before_any_work(metrics, message):
    config = _toy(f"eval.metrics={metrics}")
    with pytest.raises(ConfigError, match="eval.metrics: ") as info:
        check_eval_config(config)
    assert message in str(info.value)
    assert "metrics for 'toy-gmm': mmd, mode-weights, swd" in str(info.value) or metrics == "[]"


def test_a_metric_that_needs_what_the_dataset_lacks_says_so():
    config = resolve_config("ncsn", "toy-gmm", overrides=["data.name=moons"])
    with pytest.raises(ConfigError, match="'mode-weights' needs the dataset's mixture"):
        check_eval_config(config)


def test_the_ranking_metric_is_the_first_column_the_metrics_declare():
    assert ranking_metric(_toy()) == ("mode-weights", "mode_weight_error", True)
    assert ranking_metric(_toy("eval.metrics=[swd, mmd]")) == ("swd", "swd", True)
    digits = resolve_config("ncsn", "digits")
    assert ranking_metric(digits) == ("fid", "fid", True)


class _Spread:
    """A third party's sample metric: the samples' mean distance from the origin."""

    def settings(self, dataset, seed):
        return {"statistic": "mean |x|"}

    def __call__(self, samples, *, reference, dataset, seed):
        ref = reference()
        return {
            "spread": float(samples.norm(dim=1).mean()),
            "ref_spread": float(ref.norm(dim=1).mean()),
        }


class _SpreadPlugin:
    @staticmethod
    def register_metrics():
        meta = {
            "type": "sample-metric",
            "kinds": ("points",),
            "values": {"spread": ("spread", "higher")},
            "order": 1,
        }
        return [Component("spread", _Spread, "mean distance from the origin", meta=meta)]


@pytest.fixture
def spread_plugin():
    reset_plugin_manager()
    plugin = _SpreadPlugin()
    hookimpl(plugin.register_metrics)
    get_plugin_manager().register(plugin, name="spread-plugin")
    yield
    reset_plugin_manager()


def test_a_plugin_sample_metric_joins_the_protocol_and_the_ranking(spread_plugin):
    x = torch.randn(200, 2)
    record = evaluate_points(x, dataset="toy-gmm", dataset_params={"n": 400})
    assert "spread" in record["protocol"]["metrics"]
    assert record["protocol"]["settings"]["spread"] == {"statistic": "mean |x|"}
    assert record["metrics"]["spread"] == pytest.approx(float(x.norm(dim=1).mean()))
    assert record["metrics"]["ref_spread"] > 5  # the reference points, read for the metric
    # Its declared order puts it first: it ranks, higher being better.
    assert ranking_metric(_toy("eval.metrics=[spread, swd]")) == ("spread", "spread", False)


class _NoKind(torch.utils.data.Dataset):
    name, split, shape, reference_split = "nokind", "train", (2,), "train"

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return torch.zeros(2)


class _NoKindPlugin:
    @staticmethod
    def register_datasets():
        return [Component("nokind", lambda root, split: _NoKind(), "a dataset without kind")]


def test_a_dataset_that_declares_no_kind_is_a_clear_error():
    reset_plugin_manager()
    try:
        plugin = _NoKindPlugin()
        hookimpl(plugin.register_datasets)
        get_plugin_manager().register(plugin, name="nokind-plugin")
        with pytest.raises(ConfigError, match="declares kind None; a dataset sets kind"):
            evaluate_points(torch.zeros(4, 2), dataset="nokind")
    finally:
        reset_plugin_manager()


def test_compare_gates_come_from_the_metrics():
    from scorebench.report.leaderboard import default_gates

    gates = default_gates()
    assert gates == {"fid": -0.10, "isc_mean": -0.10, "swd": -0.10, "mode_weight_error": -0.10}


class _Broken:
    def __init__(self, fail_in):
        self.fail_in = fail_in

    def settings(self, dataset, seed):
        if self.fail_in == "settings":
            return {"bad": object()}
        return {}

    def __call__(self, samples, *, reference, dataset, seed):
        if self.fail_in == "call":
            raise ZeroDivisionError("oops")
        return [1.0]


@pytest.mark.parametrize(
    "fail_in,message",
    [
        ("settings", "settings\\(\\) gave no plain JSON"),
        ("call", "failed: ZeroDivisionError: oops"),
        ("result", "must return a dict of named values"),
    ],
)
def test_a_misbehaving_plugin_metric_is_named_with_its_plugin(fail_in, message):
    class Plugin:
        @staticmethod
        def register_metrics():
            meta = {"type": "sample-metric", "kinds": ("points",), "values": {"b": ("b", "lower")}}
            return [Component("broken", lambda: _Broken(fail_in), meta=meta)]

    reset_plugin_manager()
    try:
        plugin = Plugin()
        hookimpl(plugin.register_metrics)
        get_plugin_manager().register(plugin, name="broken-plugin")
        with pytest.raises(ScorebenchError, match=message) as info:
            evaluate_points(torch.randn(50, 2), dataset="toy-gmm", metrics=["broken"])
        assert "metric 'broken' (plugin broken-plugin)" in str(info.value)
    finally:
        reset_plugin_manager()
