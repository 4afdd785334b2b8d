"""End to end through the CLI: run -> results -> report; compare gates; stages are skipped."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wandb_records import offline_runs, wandb_offline

TOY = [
    "--set",
    "train.steps=300",
    "--set",
    "sample.n=500",
    "--set",
    "sample.batch_size=250",
    "--set",
    "sample.sampler.params.steps_per_level=20",
]
DIGITS = [
    "--set",
    "network.params.ngf=4",
    "--set",
    "train.steps=4",
    "--set",
    "train.log_every=2",
    "--set",
    "sample.sampler.params.steps_per_level=1",
    "--set",
    "sample.n=40",
    "--set",
    "sample.batch_size=20",
    "--set",
    "runtime.precision=fp32",
]


def result_of(run_dir):
    """The one evaluation record of a run directory."""
    (path,) = (run_dir / "evals").glob("*/results/*.json")
    return path, json.loads(path.read_text())


def scorebench(*args, cwd):
    """``scorebench ARGS`` in ``cwd``; W&B, which the digits run turns on, logs offline."""
    return subprocess.run(
        [sys.executable, "-m", "scorebench.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env=wandb_offline(Path(cwd)),
    )


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    result = scorebench("run", "ncsn", "--dataset", "toy-gmm", "--run-dir", "toy", *TOY, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result


def test_toy_run_writes_results_and_a_leaderboard(toy_run):
    root, result = toy_run
    _, record = result_of(root / "toy")
    assert record["kind"] == "points" and record["n_samples"] == 500
    assert 0 <= record["metrics"]["mode_weight_error"] <= 1
    assert record["cell"]["sampling"]["nfe_per_sample"] == 10 * 20
    assert record["cell"]["spec"]["sampler"]["name"] == "annealed_langevin"
    assert record["run"]["manifest"]["seed"] == 0
    md = (root / "toy" / "report" / "leaderboard.md").read_text()
    assert "| 1 |" in md and "**toy @300**" in md and "annealed_langevin" in md
    assert "real data (held-out test split)" in md  # measured baselines, same protocol
    assert "mode weight err" in md
    page = (root / "toy" / "report" / "report.html").read_text()
    assert "data:image/png;base64," in page and "training loss" in page
    assert "toy @300" in result.stdout  # the rich table at the end
    assert "stages" in result.stdout and "sample and eval" in result.stdout
    history = (root / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["fingerprint"] == record["fingerprint"]


def test_rerunning_skips_finished_stages(toy_run):
    root, _ = toy_run
    results, _ = result_of(root / "toy")
    before = results.stat().st_mtime_ns
    time.sleep(0.01)
    again = scorebench("run", "ncsn", "--dataset", "toy-gmm", "--run-dir", "toy", *TOY, cwd=root)
    assert again.returncode == 0, again.stderr
    for stage in ("train:", "sample and eval:"):
        assert f"{stage} done" in again.stderr
    assert results.stat().st_mtime_ns == before
    assert again.stdout.count("skipped (done)") == 2  # the stage table says so too


def test_sample_and_eval_print_summaries_and_json_on_request(toy_run):
    root, _ = toy_run
    cell = ["--set", "sample.n=500", "--set", "sample.batch_size=250"]
    cell += ["--set", "sample.sampler.params.steps_per_level=20"]
    sampled = scorebench("sample", "toy", *cell, cwd=root)
    assert sampled.returncode == 0, sampled.stderr
    assert "500 samples with annealed_langevin" in sampled.stdout
    assert "200 NFE per sample" in sampled.stdout and "samples.png" in sampled.stdout
    assert "next: scorebench eval toy" in sampled.stdout
    evaluated = scorebench("eval", "toy", *cell, cwd=root)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "SWD ↓" in evaluated.stdout and "mode weight err ↓" in evaluated.stdout
    assert len(evaluated.stdout.splitlines()) < 20
    record = json.loads(scorebench("eval", "toy", *cell, "--json", cwd=root).stdout)
    assert record["metrics"] == result_of(root / "toy")[1]["metrics"]


def test_compare_passes_on_equal_and_fails_on_an_injected_regression(toy_run):
    root, _ = toy_run
    same = scorebench("compare", "toy", "toy", cwd=root)
    assert same.returncode == 0, same.stdout + same.stderr
    worse = result_of(root / "toy")[1]
    worse["metrics"]["mode_weight_error"] += 0.2
    (root / "worse.json").write_text(json.dumps(worse))
    gated = scorebench(
        "compare", "toy", "worse.json", "--threshold", "mode_weight_error=0.05", cwd=root
    )
    assert gated.returncode == 1 and "REGRESSED" in gated.stdout
    # A threshold for one metric keeps the default gates of the others ...
    kept = scorebench("compare", "toy", "worse.json", "--threshold", "swd=1%", cwd=root)
    assert kept.returncode == 1 and "REGRESSED" in kept.stdout
    # ... and `off` lifts one.
    lifted = ["--threshold", "mode_weight_error=off"]
    assert scorebench("compare", "toy", "worse.json", *lifted, cwd=root).returncode == 0
    board = scorebench("compare", "toy/report/leaderboard.json", "toy", cwd=root)
    assert board.returncode == 0, board.stdout + board.stderr


def test_compare_refuses_results_of_different_protocols(toy_run, tmp_path):
    root, _ = toy_run
    other = result_of(root / "toy")[1]
    other["fingerprint"] = "0000000000000000"
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = scorebench("compare", str(root / "toy"), str(tmp_path / "other.json"), cwd=root)
    assert result.returncode == 2 and "not comparable" in result.stderr


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    trackers = ["--set", "train.tensorboard=true", "--set", "train.wandb=true"]
    result = scorebench(
        "run",
        "ncsn",
        "--dataset",
        "digits",
        "--run-dir",
        "d",
        *DIGITS,
        *trackers,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_tiny_digits_run_end_to_end(digits_run):
    tmp_path = digits_run
    _, record = result_of(tmp_path / "d")
    assert {"isc_mean", "fid", "kid_mean"} <= set(record["metrics"])
    assert record["protocol"]["extractor"]["name"] == "digits-cnn"
    grid = tmp_path / "d" / "evals" / record["cell"]["sampling_key"] / "samples.png"
    assert grid.stat().st_size > 0
    page = (tmp_path / "d" / "report" / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert "real data (digits train)" in page  # once: the run's own section does not repeat it
    assert "training data (digits)" not in page


def test_an_evaluation_is_an_hparams_session_in_tensorboard(digits_run):
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    _, record = result_of(digits_run / "d")
    sessions = digits_run / "d" / "evals" / "tensorboard"
    name = (
        "annealed_langevin convention=code denoise=false step_lr=0.0001 steps_per_level=1 "
        "seed=0 n=40 step=4"
    )
    assert name in [p.name for p in sessions.iterdir()]  # named by sampler, not by hash
    events = EventAccumulator(str(sessions / name))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    experiment = metadata.parse_experiment_plugin_data(content["_hparams_/experiment"])
    order = [info.name for info in experiment.hparam_infos]
    assert order[:8] == [
        "sampler",
        "sampler.convention",
        "sampler.denoise",
        "sampler.step_lr",
        "sampler.steps_per_level",
        "seed",
        "n",
        "step",
    ]
    assert {k for k in order if k.startswith(("data.", "eval.", "sample."))} == {"data.batch_size"}
    session = metadata.parse_session_start_info_plugin_data(content["_hparams_/session_start_info"])
    assert session.hparams["sampler.denoise"].WhichOneof("kind") == "bool_value"
    assert session.hparams["train.steps"].number_value == 4
    (fid,) = events.Tensors("eval/fid")
    assert float(fid.tensor_proto.float_val[0]) == pytest.approx(record["metrics"]["fid"])
    assert fid.step == 4


def test_training_and_each_evaluation_are_wandb_runs(digits_run):
    _, record = result_of(digits_run / "d")
    runs = offline_runs(digits_run / "d")  # later tests may evaluate the run again
    (train,) = [r for r in runs if r.job_type == "train"]
    evaluation = next(r for r in runs if r.job_type == "eval")
    assert (train.job_type, train.name, train.group) == ("train", "d", "d")
    logged = [json.loads(line) for line in (digits_run / "d" / "metrics.jsonl").open()]
    rows = [r for r in train.history if "train/loss" in r]
    assert [(r["train/step"], r["train/loss"]) for r in rows] == [
        (r["step"], pytest.approx(r["loss"])) for r in logged
    ]
    assert [r["train/step"] for r in train.history if "train/samples/path" in r] == [4]
    assert train.config["train"]["steps"] == 4 and train.config["recipe"] == "ncsn"
    assert (evaluation.job_type, evaluation.group) == ("eval", "d")
    assert evaluation.name.startswith("annealed_langevin ") and "seed=0" in evaluation.name
    assert evaluation.summary["eval/fid"] == pytest.approx(record["metrics"]["fid"])
    assert any("eval/samples/path" in r for r in evaluation.history)
    assert evaluation.config["sampler"] == "annealed_langevin"
    assert evaluation.config["config"]["dataset"] == "digits"


def test_cifar10_offline_fails_fast_and_says_what_to_fetch(tmp_path):
    start = time.perf_counter()
    result = scorebench(
        "run",
        "ncsn",
        "--dataset",
        "cifar10",
        "--data-dir",
        str(tmp_path / "data"),
        "--run-dir",
        "c",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    message = " ".join(result.stderr.split())
    assert "cifar-10" in message.lower() and str(tmp_path / "data") in message
    assert "Traceback" not in result.stderr
    assert time.perf_counter() - start < 120
    assert not (tmp_path / "c" / "checkpoints").exists()


def test_checkpoint_selection_picks_the_best_step_and_samples_from_it(tmp_path):
    select = [
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "eval.select_every=2",
        "--set",
        "eval.select_n=20",
        "--set",
        "sample.checkpoint=best",
    ]
    result = scorebench(
        "run", "ncsn", "--dataset", "digits", "--run-dir", "d", *DIGITS, *select, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    selection = json.loads((tmp_path / "d" / "selection.json").read_text())
    assert selection["metric"] == "fid" and selection["n"] == 20
    assert set(selection["values"]) == {"2", "4"}
    best = min(selection["values"], key=selection["values"].get)
    assert selection["best_step"] == int(best)
    sampled = result_of(tmp_path / "d")[1]["cell"]["sampling"]
    assert sampled["checkpoint_step"] == selection["best_step"]
    assert "fid vs training step" in (tmp_path / "d" / "report" / "report.html").read_text()


def test_exported_pngs_give_torch_fidelity_the_same_fid(digits_run, inception_weights):
    """`scorebench export` writes what was evaluated: torch-fidelity's own calculate_metrics
    on the PNG folders finds scorebench's FID."""
    import torch_fidelity

    protocol = ["--set", "eval.extractor=inception-v3", "--set", "eval.metrics=[fid]"]
    protocol += ["--set", "eval.reference_count=30"]
    result = scorebench(
        "eval",
        "d",
        *protocol,
        "--json",
        "--inception-weights",
        str(inception_weights),
        "--trust-weights",  # random weights of the right shapes
        cwd=digits_run,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    fid = json.loads(result.stdout)["metrics"]["fid"]
    result = scorebench(
        "export", "d", "--png", "png", "--reference", "ref", *protocol, cwd=digits_run
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((digits_run / "png").glob("*.png"))) == 40
    assert len(list((digits_run / "ref").glob("*.png"))) == 30
    theirs = torch_fidelity.calculate_metrics(
        input1=str(digits_run / "png"),
        input2=str(digits_run / "ref"),
        fid=True,
        feature_extractor_weights_path=str(inception_weights),
        cuda=False,
        verbose=False,
        cache=False,
        save_cpu_ram=True,  # no DataLoader workers
    )["frechet_inception_distance"]
    assert theirs == pytest.approx(fid, rel=1e-4)

    again = scorebench("export", "d", "--png", "png", *protocol, cwd=digits_run)
    assert again.returncode == 2 and "already holds PNG files" in again.stderr
    onto_a_file = scorebench("export", "d", "--png", "d/config.json", *protocol, cwd=digits_run)
    assert onto_a_file.returncode == 2 and "d/config.json" in onto_a_file.stderr
