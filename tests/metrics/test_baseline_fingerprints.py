"""The committed measured baselines share the protocol of a run made on any machine: their
fingerprints are recomputed here, from nothing but this checkout, and must be equal."""

import json

import pytest

from scorebench.components import build_dataset
from scorebench.evaluate import plan_config
from scorebench.recipes import resolve_config
from scorebench.report.baselines import baselines_dir

MEASURED = sorted(
    p for p in baselines_dir().glob("*.json") if '"origin": "scorebench"' in p.read_text()
)


def test_there_are_measured_baselines_to_check():
    assert {p.stem for p in MEASURED} >= {"digits-measured", "toy-gmm-measured"}


@pytest.mark.parametrize("path", MEASURED, ids=lambda p: p.stem)
def test_measured_baselines_have_the_protocol_this_checkout_computes(path):
    table = json.loads(path.read_text())
    source = table["source"]
    config = resolve_config(source["recipe"], source["dataset"], overrides=source["overrides"])
    shape = tuple(build_dataset(config).shape)
    for row in table["rows"]:
        plan = plan_config(config, row["n_samples"], shape)
        assert plan.protocol == row["protocol"], row["model"]
        assert plan.fingerprint == row["fingerprint"]
