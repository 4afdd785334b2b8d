"""``scorebench bench --source diffusers:DIR``: a saved diffusers UNet benched like any
other score source, on the digits protocol (its 8x8 grayscale shape), offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip(
    "diffusers", reason="the bridge's extra: pip install 'scorebench-bridges[diffusers]'"
)

from scorebench_bridges.tiny import save_tiny_pipeline  # noqa: E402


def bench(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "scorebench.cli", "bench", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def ddpm(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("ddpm") / "ddpm", "epsilon")


MATRIX = ["--sampler", "pf_heun:steps=2,3", "--sampler", "dpmpp_2m:steps=2,3", "--seeds", "2"]


def _cells(out):
    board = json.loads((out / "leaderboard.json").read_text())
    return [r for g in board["groups"] for r in g["rows"] if r.get("cells")]


def test_bench_of_a_diffusers_ddpm_ranks_zoo_samplers_beside_the_protocols_baselines(
    ddpm, tmp_path
):
    out = tmp_path / "board"
    args = ["--source", f"diffusers:{ddpm}", "--dataset", "digits", "-n", "24", *MATRIX]
    result = bench(*args, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _cells(out)
    assert sorted((r["sampler"], r["nfe"]) for r in rows) == [
        ("dpmpp_2m", 2),
        ("dpmpp_2m", 3),
        ("pf_heun", 3),
        ("pf_heun", 5),
    ]
    assert all(len(r["cells"]) == 2 and r["model"] == f"diffusers {ddpm}" for r in rows)
    assert "real data (held-out test split)" in (out / "leaderboard.md").read_text()
    spec = json.loads(next(out.glob("oracles/*/evals/*/spec.json")).read_text())
    assert spec["source"]["prediction_type"] == "epsilon"
    assert spec["source"]["library"].startswith("diffusers ")

    again = bench(*args, "--out", str(out), cwd=tmp_path)  # every cell is cached
    assert again.returncode == 0, again.stderr
    assert [r["metrics"] for r in _cells(out)] == [r["metrics"] for r in rows]


def test_changing_one_weight_changes_the_cell(ddpm, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    copy = shutil.copytree(ddpm, tmp_path / "edited")
    weights = copy / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1e-3
    save_file(tensors, weights)
    keys = []
    for model in (ddpm, copy):
        out = tmp_path / f"out-{model.name}"
        result = bench(
            f"diffusers:{model}",
            "--dataset",
            "digits",
            "-n",
            "4",
            "--sampler",
            "pf_euler:steps=1",
            "--out",
            str(out),
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        spec = json.loads(next(out.glob("oracles/*/evals/*/spec.json")).read_text())
        keys.append(spec["source"]["weights_sha256"])
    assert keys[0] != keys[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "toy-gmm"], "shape [1, 8, 8], but the 'toy-gmm' protocol"),
        ([], "measured under a dataset's protocol"),
        (["--dataset", "digits", "--source-set", "colour=red"], "--source-set 'colour=red'"),
    ],
)
def test_bad_diffusers_sources_exit_2_before_computing(ddpm, tmp_path, extra, message):
    out = tmp_path / "nothing"
    result = bench(f"diffusers:{ddpm}", *extra, "-n", "4", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not list(out.glob("oracles/*/evals/*"))


def test_not_a_model_exits_2(tmp_path):
    result = bench(
        f"diffusers:{tmp_path}", "--dataset", "digits", "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert result.returncode == 2 and "is not a diffusers model" in " ".join(result.stderr.split())
