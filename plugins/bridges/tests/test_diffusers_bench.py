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


def scorebench(*args, cwd, **env):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **env}
    command = [sys.executable, "-m", "scorebench.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def bench(*args, cwd, **env):
    return scorebench("bench", *args, cwd=cwd, **env)


@pytest.fixture(scope="module")
def ddpm(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("ddpm") / "ddpm", "epsilon")


MATRIX = ["--sampler", "pf_heun:steps=2,3", "--sampler", "dpmpp_2m:steps=2,3", "--seeds", "2"]


def _cells(out):
    board = json.loads((out / "leaderboard.json").read_text())
    return [r for g in board["groups"] for r in g["rows"] if r.get("cells")]


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "ve"])
def test_bench_of_a_diffusers_model_ranks_zoo_samplers_beside_the_protocols_baselines(
    kind, tmp_path
):
    ddpm = save_tiny_pipeline(tmp_path / "ddpm", kind)
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
    assert all(len(r["cells"]) == 2 and r["model"] == "diffusers ddpm" for r in rows)
    assert "real data (held-out test split)" in (out / "leaderboard.md").read_text()
    spec = json.loads(next(out.glob("oracles/*/evals/*/spec.json")).read_text())
    assert spec["source"]["prediction_type"] == {"ve": "score"}.get(kind, kind)
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


#: Rows that draw the same samples: scorebench's sampler and diffusers' scheduler.
TWINS = [
    ("pf_euler", "euler"),
    ("pf_euler", "edm_euler"),
    ("pf_heun", "heun"),
    ("dpmpp_2m", "diffusers:dpmpp_2m"),
    ("pc", "sde_ve_pc"),
]


def test_parity_preset_puts_diffusers_schedulers_beside_their_twins_with_equal_metrics(
    tmp_path,
):
    out = tmp_path / "parity"
    cache = tmp_path / "cache"
    result = bench(
        "--preset",
        "diffusers-parity",
        "-n",
        "32",
        "--out",
        str(out),
        cwd=tmp_path,
        SCOREBENCH_CACHE_DIR=str(cache),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (cache / "diffusers-parity").iterdir()) == ["epsilon", "ve"]
    rows = {(r["model"], r["sampler"], r["nfe"]): r["metrics"] for r in _cells(out)}
    assert {m for m, _, _ in rows} == {"diffusers epsilon", "diffusers ve"}
    assert len(rows) == 2 * 9 * 2  # 2 models x 9 samplers x 2 budgets
    for model, sampler, nfe in rows:
        for ours, theirs in TWINS:
            if sampler != theirs:
                continue
            a, b = rows[model, ours, nfe], rows[model, theirs, nfe]
            for metric in ("fid", "isc_mean", "kid_mean"):
                assert b[metric] == pytest.approx(a[metric], rel=1e-3), (model, sampler, metric)


def test_sample_eval_and_export_take_a_diffusers_source(ddpm, tmp_path):
    source = ["diffusers:" + str(ddpm), "--dataset", "digits", "--sampler", "euler", "-n", "8"]
    drawn = scorebench("sample", *source, "--json", cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    record = json.loads(drawn.stdout)
    assert record["drawn_now"] and record["path"].startswith("runs/diffusers-")
    evaluated = scorebench("eval", *source, "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["cell"]["sampling_key"] == record["cell"]
    png = tmp_path / "png"
    exported = scorebench("export", *source, "--png", str(png), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert len(list(png.glob("*.png"))) == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diffusers:{ddpm}"], "measured under a dataset's protocol"),
        (["runs", "--dataset", "digits"], "apply to a diffusers:PATH_OR_HUB_ID source"),
        (["diffusers:{ddpm}", "--dataset", "digits", "--source-set", "x=1"], "--source-set 'x=1'"),
        (["diffusers:{ddpm}", "--dataset", "toy-gmm"], "shape [1, 8, 8]"),
    ],
)
def test_sample_with_a_bad_diffusers_source_exits_2(ddpm, tmp_path, args, message):
    args = [a.format(ddpm=ddpm) for a in args]
    result = scorebench("sample", *args, "-n", "4", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("runs/*/evals/*"))


def test_a_32x32_ddpm_on_the_cifar10_protocol_with_trusted_weights(tmp_path):
    """The Inception protocol end to end, offline: generated CIFAR-10 files in the official
    format (not the official files: verify off in the source's config) and a random
    Inception file passed with --trust-weights, which reaches the protocol's measured
    baseline rows too (they share the cells' fingerprint)."""
    import yaml
    from fake_datasets import write_cifar10
    from fake_inception import write_random_inception_weights

    write_cifar10(tmp_path / "data", n_per_batch=8)
    weights = write_random_inception_weights(tmp_path / "inception.pth")
    model = save_tiny_pipeline(tmp_path / "ddpm32", "epsilon", size=32, channels=3)
    source = {"diffusers": str(model), "dataset": "cifar10"}
    source["config"] = {"data": {"params": {"verify": False}}}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"sources": [source]}))
    out = tmp_path / "board"
    args = ["--spec", str(spec), "--sampler", "diffusers:dpmpp_2m:steps=3", "-n", "8"]
    result = bench(
        *args,
        "--inception-weights",
        str(weights),
        "--trust-weights",
        "--out",
        str(out),
        cwd=tmp_path,
        SCOREBENCH_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr
    board = json.loads((out / "leaderboard.json").read_text())
    [group] = board["groups"]
    rows = group["rows"]
    assert {r["sampler"] for r in rows if r.get("cells")} == {"diffusers:dpmpp_2m"}
    assert "real data (held-out test split)" in {r["model"] for r in rows}
    assert "weights_sha256" in json.dumps(group)
