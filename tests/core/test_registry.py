import pytest

from scorebench import hookimpl
from scorebench.errors import ScorebenchError, UnknownComponentError
from scorebench.plugins import PluginManager
from scorebench.registry import Component, Registry


def test_lazy_factory_is_imported_only_on_load():
    component = Component("dumps", "json:dumps", "serialise")
    import json

    assert component.load() is json.dumps


def test_bad_factory_string_is_rejected_at_registration():
    with pytest.raises(TypeError, match="module:attr"):
        Component("x", "no_colon_here")


def test_missing_factory_module_is_a_clear_error():
    component = Component("gone", "no_such_module_xyz:thing", plugin="p")
    with pytest.raises(ScorebenchError, match="could not be loaded.*no_such_module_xyz"):
        component.load()


def test_unknown_name_suggests_closest():
    reg = Registry("samplers")
    for name in ("annealed_langevin", "langevin", "euler"):
        reg.add(Component(name, "json:dumps", plugin="p"))
    with pytest.raises(UnknownComponentError) as info:
        reg.get("annealed_langevn")
    message = str(info.value)
    assert "Did you mean 'annealed_langevin'" in message
    assert "euler" in message  # lists what exists


@pytest.mark.parametrize(
    ("kind", "word"), [("losses", "loss"), ("benches", "bench"), ("samplers", "sampler")]
)
def test_an_unknown_name_is_named_in_the_singular(kind, word):
    with pytest.raises(UnknownComponentError, match=f"^no {word} named 'x'"):
        Registry(kind).get("x")


class _Samplers:
    def __init__(self, *names):
        self.names = names

    @hookimpl
    def register_samplers(self):
        return [Component(n, "json:dumps", f"sampler {n}") for n in self.names]


def test_a_name_clash_keeps_the_first_and_answers_qualified_names():
    manager = PluginManager(autoload=False)
    manager.register(_Samplers("mine"), name="alpha")
    manager.register(_Samplers("mine"), name="beta")
    registry = manager.registry("samplers")
    assert registry.get("mine").plugin == "alpha"
    assert registry.get("beta:mine").plugin == "beta"
    assert registry.get("alpha:mine").plugin == "alpha"
    # One spelling per component, as cells record it: plain where it holds the name.
    assert registry.canonical("alpha:mine") == registry.canonical("mine") == "mine"
    assert registry.canonical("beta:mine") == "beta:mine"
    assert [name for name, _ in registry.listing()] == ["mine", "beta:mine"]  # `list` shows both
    [conflict] = manager.conflicts()
    assert (conflict.kept, conflict.shadowed) == ("alpha", "beta")
    assert "'beta:mine'" in str(conflict)


def test_a_third_party_plugin_never_shadows_a_first_party_name():
    manager = PluginManager()  # the installed first-party plugins
    manager.register(_Samplers("annealed_langevin"), name="evil")
    registry = manager.registry("samplers")
    assert registry.get("annealed_langevin").plugin == "ncsn"
    assert registry.get("evil:annealed_langevin").plugin == "evil"
    assert any(c.shadowed == "evil" for c in manager.conflicts())


class _Broken:
    @hookimpl
    def register_samplers(self):
        raise RuntimeError("boom")


def test_broken_plugin_is_reported_and_others_work():
    manager = PluginManager(autoload=False)
    manager.register(_Broken(), name="broken")
    manager.register(_Samplers("good"), name="fine")
    reg = manager.registry("samplers")
    assert "good" in reg
    assert reg.get("good").plugin == "fine"
    [failure] = [f for f in manager.failures if f.name == "broken"]
    assert failure.stage == "register_samplers" and "boom" in failure.error


def test_wrong_return_type_is_a_plugin_failure():
    class Wrong:
        @hookimpl
        def register_samplers(self):
            return ["not a component"]

    manager = PluginManager(autoload=False)
    manager.register(Wrong(), name="wrong")
    assert len(manager.registry("samplers")) == 0
    assert any(f.name == "wrong" and "Component" in f.error for f in manager.failures)


def test_blocked_plugin_is_absent():
    manager = PluginManager(autoload=False, blocked={"blocked"})
    manager.register(_Samplers("hidden"), name="blocked")
    assert "hidden" not in manager.registry("samplers")
    assert "blocked" not in [p.name for p in manager.plugins]
