"""User mistakes on the command line: a clear message, exit code 2, never a traceback."""

import subprocess
import sys

import pytest


def scorebench(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "scorebench.cli", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "train.lrr=1"], "unknown key 'train.lrr'. Did you mean 'lr'?"),
        (["--set", "train.steps=many"], "train.steps: expected an integer"),
        (["--set", "runtime.precision=fp16"], "runtime.precision must be one of fp32, bf16"),
        (
            ["--set", "network.params.ngff=3"],
            "'ncsn' takes no parameter 'ngff'. Did you mean 'ngf'?",
        ),
        (["--set", "sample.sampler.name=annealed_langevn"], "Did you mean 'annealed_langevin'"),
        (["--dataset", "digitz"], "no preset for dataset 'digitz'. Did you mean 'digits'?"),
        (["--config", "missing.yaml"], "config file 'missing.yaml' does not exist"),
    ],
)
def test_bad_training_input_is_a_clear_error(tmp_path, args, message):
    base = ["train", "ncsn", "--run-dir", str(tmp_path / "run")]
    if "--dataset" not in args:
        base += ["--dataset", "digits"]
    result = scorebench(*base, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_recipe_suggests_the_closest(tmp_path):
    result = scorebench("train", "ncsm", "--dataset", "digits", cwd=tmp_path)
    assert result.returncode == 2
    assert "Did you mean 'ncsn'" in result.stderr and "Traceback" not in result.stderr


def test_sampling_a_directory_that_is_not_a_run(tmp_path):
    result = scorebench("sample", str(tmp_path))
    assert result.returncode == 2
    assert "not a scorebench run directory" in " ".join(result.stderr.split())


def test_a_misspelt_feature_extractor_is_caught_before_training(tmp_path):
    result = scorebench(
        "train",
        "ncsn",
        "--dataset",
        "digits",
        "--run-dir",
        str(tmp_path / "r"),
        "--set",
        "eval.extractor=digits-cn",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "eval.extractor" in result.stderr and "Did you mean 'digits-cnn'" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["list", "[/x]"],
        ["train", "ncsn", "-d", "[/x]"],
        ["train", "ncsn", "-d", "digits", "--set", "[/x]=1"],
        ["compare", "a", "b", "-t", "[/x]=1"],
        ["report", "[/b]"],
        ["bench", "[/b]", "--sampler", "[red]x"],
    ],
)
def test_user_text_is_never_read_as_rich_markup(tmp_path, args):
    (tmp_path / "[/b]").mkdir(parents=True)  # a run directory name that is rich markup
    result = scorebench(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr
    assert "error:" in result.stderr


@pytest.mark.parametrize("command", ["train", "run"])
def test_a_bad_sampler_value_fails_before_training(tmp_path, command):
    result = scorebench(
        command,
        "ncsn",
        "-d",
        "digits",
        "--run-dir",
        str(tmp_path / "r"),
        "--set",
        "sample.sampler.params.step_lr=abc",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "step_lr" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r").exists()
