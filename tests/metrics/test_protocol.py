import json
import subprocess
import sys

import pytest

from scorebench.evaluate import protocol_fingerprint
from scorebench.files import atomic_write, atomic_write_json
from scorebench.metrics.protocol import file_sha256


def test_fingerprint_is_stable_and_order_free():
    a = {"extractor": {"name": "inception-v3", "weights_sha256": "ab"}, "n_samples": 10}
    b = {"n_samples": 10, "extractor": {"weights_sha256": "ab", "name": "inception-v3"}}
    assert protocol_fingerprint(a) == protocol_fingerprint(b)
    assert len(protocol_fingerprint(a)) == 16
    # A pinned value: the fingerprint must not drift between versions/machines.
    assert protocol_fingerprint({"a": 1}) == "015abd7f5cc57a2d"
    assert protocol_fingerprint({**a, "n_samples": 11}) != protocol_fingerprint(a)


def test_fingerprint_rejects_non_json():
    with pytest.raises(TypeError, match="JSON"):
        protocol_fingerprint({"x": object()})
    with pytest.raises(TypeError, match="dict"):
        protocol_fingerprint([1, 2])


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "sub" / "x.json"
    atomic_write_json(target, {"k": 1})
    assert json.loads(target.read_text()) == {"k": 1}

    def boom(f):
        f.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert json.loads(target.read_text()) == {"k": 1}  # old content intact
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]  # no temp left


def test_file_sha256_follows_content(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    assert file_sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    f.write_bytes(b"abcd")
    assert file_sha256(f) != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_plugin_registers_lazily_without_torch():
    code = (
        "import sys\n"
        "from scorebench.plugins import PluginManager\n"
        "pm = PluginManager(autoload=False)\n"
        "names = pm.registry('metrics').names()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print(','.join(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(",") == [
        "digits-cnn",
        "fid",
        "inception-v3",
        "isc",
        "kid",
        "log-likelihood",
        "mmd",
        "mmd-exact",
        "mode-weights",
        "nll",
        "prc",
        "swd",
    ]
