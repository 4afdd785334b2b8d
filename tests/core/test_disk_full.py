"""A full disk (issue 15): training on a small tmpfs that fills up ends with a message that
says how much space was needed and where, exit 2, no traceback; the last checkpoint stays
intact, no temporary file is left, and the run continues once space is freed.

The tmpfs is mounted in a private user and mount namespace (``unshare``), so the test needs
no root; where the platform forbids that, it is skipped with the reason."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

DRIVER = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys

    mount = sys.argv[1]
    os.makedirs(mount, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount], check=True)
    run = os.path.join(mount, "run")

    def train(steps):
        return subprocess.run(
            [sys.executable, "-m", "scorebench.cli", "train", "ncsn", "-d", "toy-gmm",
             "--run-dir", run, "--set", f"train.steps={steps}",
             "--set", "train.checkpoint_every=2",
             "--set", "sample.sampler.params.steps_per_level=2"],
            capture_output=True, text=True,
        )

    first = train(2)
    filler = os.path.join(mount, "filler")
    with open(filler, "wb") as fh:  # leave ~100 kB: a log line fits, a checkpoint does not
        fh.write(b"\\0" * max(shutil.disk_usage(mount).free - 100_000, 0))
    full = train(4)
    temps = [str(p) for p in __import__("pathlib").Path(run).rglob(".*.tmp")]
    import torch
    kept = torch.load(os.path.join(run, "checkpoints", "step-00000002.pt"), weights_only=True)
    os.remove(filler)
    after = train(4)
    print(json.dumps({
        "first": first.returncode, "first_err": first.stderr[-2000:],
        "full": full.returncode, "full_err": full.stderr,
        "temps": temps, "kept_step": kept["step"],
        "after": after.returncode, "after_err": after.stderr[-2000:],
        "checkpoints": sorted(os.listdir(os.path.join(run, "checkpoints"))),
    }))
    """
)


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path):
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        pytest.skip("needs Linux and unshare(1) to mount a private tmpfs")
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"this platform forbids user namespaces: {probe.stderr.strip()}")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", sys.executable, str(driver)]
        + [str(tmp_path / "small")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0 and "mount" in out.stderr and "permission" in out.stderr.lower():
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()[-300:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["first"] == 0, result["first_err"]
    assert result["full"] == 2, result["full_err"]
    message = " ".join(result["full_err"].split())
    assert "no space left on the device holding" in message and "needs at least" in message
    assert "MB free" in message and "Traceback" not in message
    assert result["temps"] == [] and result["kept_step"] == 2
    assert result["after"] == 0, result["after_err"]
    assert result["checkpoints"][-1] == "step-00000004.pt"
