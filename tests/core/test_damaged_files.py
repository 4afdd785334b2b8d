"""Damaged files in a run directory (issue 15): derived data (shards, sampling records,
specs, results) is drawn or computed again; the user's own files (config, manifest) give a
message naming the file and what to do, exit 2, and are never deleted."""

import json

import numpy as np
import pytest

RUN = ["run", "ncsn", "-d", "toy-gmm", "--run-dir", "R"]


def cell_dir(run):
    (cell,) = (run / "evals").iterdir()
    return cell


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "R"],
        ["eval", "R"],
        ["report", "R"],
        ["train", "ncsn", "-d", "toy-gmm", "--run-dir", "R"],
    ],
)
def test_a_damaged_config_is_named_and_kept(damaged, invoke, argv):
    (damaged / "config.json").write_bytes(b'{"recipe": "ncsn", "data": ')
    code, err = invoke(argv)
    assert code == 2 and "Traceback" not in err
    assert "config.json" in err and "--force" in err
    assert (damaged / "config.json").read_bytes() == b'{"recipe": "ncsn", "data": '


def test_a_damaged_manifest_is_named_and_kept(damaged, invoke):
    (damaged / "manifest.json").write_bytes(b"\x00\xff garbage")
    code, err = invoke(["eval", "R", "--set", "eval.seed=5"])  # a protocol not yet evaluated
    assert code == 2 and "manifest.json" in err and "Traceback" not in err
    assert (damaged / "manifest.json").read_bytes() == b"\x00\xff garbage"


def test_damaged_sampling_files_are_drawn_again_identically(damaged, invoke):
    cell = cell_dir(damaged)
    shard = cell / "samples" / "shard-00001.npy"
    original = np.load(shard)
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    (cell / "samples" / "shard-00000.json").write_text("{")
    (cell / "samples" / "samples.json").write_text("[]")
    (cell / "spec.json").write_text("{torn")

    code, err = invoke(["eval", "R", "--set", "eval.seed=5"])  # eval does not draw
    assert code == 2 and "shard" in err and "scorebench sample" in err

    code, err = invoke(["sample", "R"])
    assert code == 0, err
    assert np.array_equal(np.load(shard), original)  # the same chains, seeded per shard
    assert json.loads((cell / "samples" / "samples.json").read_text())["n"] == 50
    assert json.loads((cell / "spec.json").read_text())["n"] == 50


def test_a_damaged_result_is_named_by_report_and_recomputed_by_run(damaged, invoke, toy_overrides):
    (result,) = (cell_dir(damaged) / "results").iterdir()
    good = json.loads(result.read_text())
    result.write_text('{"fingerprint": ')
    code, err = invoke(["report", "R"])
    assert code == 2 and result.name in err and "evaluate again" in " ".join(err.split())

    code, err = invoke([*RUN, *toy_overrides])
    assert code == 0, err
    assert json.loads(result.read_text())["metrics"] == good["metrics"]


def test_bad_log_rows_are_left_out_of_the_report_with_a_warning(damaged, invoke):
    with open(damaged / "metrics.jsonl", "a") as fh:
        fh.write('{"step": "x", "loss": "y"}\n{"step": 3, "loss": -1}\n{"torn": ')
    with pytest.warns(UserWarning) as warned:
        code, err = invoke(["report", "R", "-o", "rep"])
    assert code == 0, err
    messages = " ".join(str(w.message) for w in warned)
    assert "skipped 1 damaged line" in messages and "left 2 bad row(s) out" in messages


def test_a_truncated_newest_checkpoint_falls_back_everywhere(damaged, invoke, toy_overrides):
    newest = damaged / "checkpoints" / "step-00000004.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    code, err = invoke(["sample", "R", "--set", "sample.seed=3"])
    assert code == 0, err  # sampled from step 2, the newest intact checkpoint
    sampled = [json.loads(p.read_text()) for p in damaged.glob("evals/*/spec.json")]
    assert sorted(s["source"]["step"] for s in sampled) == [2, 4]

    code, err = invoke([*RUN, *toy_overrides])  # trains steps 3-4 again instead of skipping
    assert code == 0, err
    import torch

    assert torch.load(newest, weights_only=True)["step"] == 4
