"""A third party's plugin, built and pip-installed by the test, plugs in without forking."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

GOOD_PLUGIN = """
from scorebench import hookimpl
from scorebench.registry import Component


def euler_maruyama(score, x, sigmas, *, generator, callback=None):
    return x


@hookimpl
def register_samplers():
    return [Component("my_euler", euler_maruyama, "a third-party sampler")]
"""

BROKEN_PLUGIN = "raise ImportError('this plugin is broken on purpose')\n"

CLASHING_PLUGIN = """
from scorebench import hookimpl
from scorebench.registry import Component


def annealed_langevin(score, x, sigmas, *, generator, callback=None):
    return x


@hookimpl
def register_samplers():
    return [Component("annealed_langevin", annealed_langevin, "the reference sampler's name")]
"""


@pytest.fixture(scope="module")
def site(install_plugins):
    """Two plugin distributions pip-installed into a private target directory."""
    return install_plugins(
        ("acme-sampler", "acme", "acme_sampler", GOOD_PLUGIN),
        ("broken-plugin", "broken", "broken_plugin", BROKEN_PLUGIN),
        ("clash-plugin", "clash", "clash_plugin", CLASHING_PLUGIN),
    )


def _scorebench(site, *args, env=None):
    code = textwrap.dedent(
        """
        import sys
        from scorebench.cli import main
        sys.argv = ["scorebench", *sys.argv[1:]]
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        else:
            code = 0
        print("TORCH_IMPORTED=%s" % ("torch" in sys.modules), file=sys.stderr)
        sys.exit(code)
        """
    )
    full_env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=full_env
    )


def test_third_party_sampler_is_listed_with_its_plugin(site):
    result = _scorebench(site, "list", "samplers", "--json")
    assert result.returncode == 0, result.stderr
    samplers = {c["name"]: c for c in json.loads(result.stdout)["samplers"]}
    assert samplers["my_euler"]["plugin"] == "acme"
    assert samplers["my_euler"]["summary"] == "a third-party sampler"
    assert "TORCH_IMPORTED=False" in result.stderr


def test_registry_returns_the_third_party_sampler(site):
    code = (
        "from scorebench.plugins import load; f = load('samplers', 'my_euler'); "
        "print(f.__module__, f.__name__)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.split() == ["acme_sampler.plugin", "euler_maruyama"], result.stderr


def test_broken_plugin_is_reported_and_the_rest_works(site):
    result = _scorebench(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    names = {p["name"]: p for p in payload["plugins"]}
    assert names["acme"]["version"] == "1.2.3"
    assert names["acme"]["hooks"] == ["register_samplers"]
    assert names["acme"]["components"] == {"samplers": ["my_euler"]}
    [failure] = [f for f in payload["failures"] if f["name"] == "broken"]
    assert "broken on purpose" in failure["error"]
    assert "plugin 'broken' failed" in result.stderr  # also said on stderr
    assert "TORCH_IMPORTED=False" in result.stderr


def test_blocked_and_autoload_switches(site):
    blocked = _scorebench(
        site, "plugins", "--json", env={"SCOREBENCH_BLOCK_PLUGINS": "broken,acme"}
    )
    payload = json.loads(blocked.stdout)
    assert not {"acme", "broken"} & {p["name"] for p in payload["plugins"]}
    assert not payload["failures"] or all(f["name"] != "broken" for f in payload["failures"])
    off = _scorebench(site, "plugins", "--json", env={"SCOREBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"})
    names = {p["name"] for p in json.loads(off.stdout)["plugins"]}
    assert "acme" not in names and "ncsn" not in names
    assert "scorebench.data" in names  # built-ins still load


def test_listing_everything_and_help_do_not_import_torch(site):
    for args in (["list"], ["plugins"], ["--help"], ["list", "--help"]):
        result = _scorebench(site, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "TORCH_IMPORTED=False" in result.stderr, args


def test_unknown_kind_is_a_clear_error_without_traceback(site):
    result = _scorebench(site, "list", "samplerz")
    assert result.returncode == 2
    assert "unknown component kind 'samplerz'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_name_clash_keeps_the_reference_sampler_and_is_shown(site):
    listed = _scorebench(site, "list", "samplers", "--json")
    assert listed.returncode == 0, listed.stderr
    owners = {c["name"]: c["plugin"] for c in json.loads(listed.stdout)["samplers"]}
    assert owners["annealed_langevin"] == "ncsn"
    shown = _scorebench(site, "plugins", "--json")
    conflicts = json.loads(shown.stdout)["conflicts"]
    [conflict] = [c for c in conflicts if c["shadowed"] == "clash"]
    assert (conflict["kept"], conflict["shadowed"]) == ("ncsn", "clash")
    assert "'clash:annealed_langevin'" in conflict["message"]
    table = _scorebench(site, "plugins")
    assert "name conflict" in table.stdout and "clash:annealed_langevin" in table.stdout
