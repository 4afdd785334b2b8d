"""The plugin registers through its entry point, and listing it does not import torch."""

import json
import subprocess
import sys
import textwrap

from scorebench.plugins import get_plugin_manager

SAMPLERS = [
    "cas",
    "dpmpp_2m",
    "edm_stochastic",
    "pc",
    "pc_corrector",
    "pc_predictor",
    "pf_euler",
    "pf_heun",
]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )


def test_cli_lists_the_samplers_with_their_plugin():
    result = _python(
        """
        import sys
        from scorebench.cli import main
        sys.argv = ["scorebench", "list", "samplers", "--json"]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        """
    )
    assert result.returncode == 0, result.stderr
    listed = {c["name"]: c for c in json.loads(result.stdout)["samplers"]}
    for name in SAMPLERS:
        assert listed[name]["plugin"] == "samplers"
        assert listed[name]["summary"]


def test_listing_does_not_import_torch():
    result = _python(
        """
        import sys
        from scorebench.plugins import get_plugin_manager
        pm = get_plugin_manager()
        names = pm.registry("samplers").names() + pm.registry("schedules").names()
        names += pm.registry("score_functions").names()
        print(",".join(names))
        print("torch" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    names, torch_imported = result.stdout.split()
    assert set(SAMPLERS) | {"karras", "digits-gmm"} <= set(names.split(","))
    assert torch_imported == "False"


def test_registry_loads_each_sampler_and_the_karras_schedule():
    pm = get_plugin_manager()
    samplers = pm.registry("samplers")
    for name in SAMPLERS:
        component = samplers.get(name)
        assert component.plugin == "samplers"
        assert component.load().__name__ == name
    karras = pm.registry("schedules").load("karras")(num_levels=5)
    assert len(karras.sigmas()) == 5
    oracle = pm.registry("score_functions").get("digits-gmm")
    assert oracle.factory == "scorebench_samplers.oracles:digits_gmm"
