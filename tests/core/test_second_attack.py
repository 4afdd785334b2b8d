"""Regressions of the second attack on the landed code (issue 27): nothing a user gives is
executed, nothing of the user's is deleted, no NaN passes a gate, and damaged files read
back are clear errors or are computed again, never tracebacks."""

import json
import os
import pickle
import shutil
import traceback
import warnings

import numpy as np
import pytest

from scorebench.errors import ConfigError, ScorebenchError
from scorebench.files import atomic_write_bytes, remove_stale_temps
from scorebench.metrics.extractors import INCEPTION_WEIGHTS_FILE, InceptionV3Spec, InceptionWeights
from scorebench.runs import RunDir, locked


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: proof that code was executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("where", ["cache", "flag"])
@pytest.mark.parametrize("trusted", [False, True])
def test_an_inception_pickle_never_runs(tmp_path, monkeypatch, where, trusted):
    marker = tmp_path / "pwned"
    cache = tmp_path / "cache"
    path = cache / "weights" / INCEPTION_WEIGHTS_FILE if where == "cache" else tmp_path / "w.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"conv.weight": _Payload(marker)}))
    monkeypatch.delenv("SCOREBENCH_INCEPTION_WEIGHTS", raising=False)
    choice = InceptionWeights(None if where == "cache" else path, trusted=trusted)
    with pytest.raises(ConfigError) as info:
        InceptionV3Spec().prepare(weights=choice, cache_dir=cache)
    assert not marker.exists()
    # untrusted: refused by its hash; trusted: refused as not a plain state dict
    assert ("--trust-weights" in str(info.value)) != trusted
    assert str(path) in str(info.value)


def test_weights_of_another_hash_are_refused_unless_trusted(inception_weights, tmp_path):
    cache = tmp_path / "cache"
    standard = cache / "weights" / INCEPTION_WEIGHTS_FILE
    standard.parent.mkdir(parents=True)
    shutil.copy(inception_weights, standard)  # the standard name, other bytes
    with pytest.raises(ConfigError, match="SHA-256 .* not the standard file's 6726825d"):
        InceptionV3Spec().prepare(cache_dir=cache)
    prepared = InceptionV3Spec().prepare(weights=InceptionWeights(trusted=True), cache_dir=cache)
    assert prepared.protocol["weights_trusted"] is True
    assert len(prepared.protocol["weights_sha256"]) == 64
    handed = prepared.weights_argument()  # what torch-fidelity receives: not the user's file
    assert not isinstance(handed, (str, os.PathLike))
    import torch

    again = torch.load(handed, weights_only=True)
    assert again.keys() == prepared.state_dict.keys()


def test_lock_cleanup_removes_only_its_own_temps_in_its_own_directories(tmp_path):
    user = tmp_path / "mine"
    (user / "notes").mkdir(parents=True)
    (user / "checkpoints").mkdir()
    keep = [user / ".session.tmp", user / "notes" / ".draft.tmp"]
    keep.append(user / "notes" / ".x.json.abcd1234.scorebench.tmp")  # not a dir it made
    ours = [
        user / ".config.json.abcd1234.scorebench.tmp",
        user / "checkpoints" / ".step-00000002.pt.zz_9yy8x.scorebench.tmp",
    ]
    for path in keep + ours:
        path.write_text("x")
    with locked(RunDir(user), "test"):
        pass
    assert all(p.exists() for p in keep)
    assert not any(p.exists() for p in ours)
    assert remove_stale_temps(user) == []


def test_an_atomic_writers_temp_has_the_name_cleanup_looks_for(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(a), real(a, b)))
    atomic_write_bytes(tmp_path / "f.json", b"{}")
    (tmp) = seen[0]
    assert os.path.basename(tmp).startswith(".f.json.") and tmp.endswith(".scorebench.tmp")


def test_force_under_a_live_lock_is_refused_and_moves_nothing(damaged, tmp_path, invoke):
    run = damaged
    before = sorted(p.name for p in run.iterdir())
    argv = ["train", "ncsn", "-d", "toy-gmm", "--run-dir", str(run), "--force"]
    with locked(RunDir(run), "sample"):
        code, err = invoke([*argv, "--set", "train.steps=2"])
    assert code == 2 and "in use by scorebench sample" in " ".join(err.split())
    assert sorted(p.name for p in run.iterdir()) == before
    assert not list(tmp_path.glob("R.old-*"))

    code, err = invoke([*argv, "--set", "train.steps=2"])  # free now: moved aside, trained
    assert code == 0, err
    (aside,) = tmp_path.glob("R.old-*")
    assert sorted(p.name for p in aside.iterdir()) == before
    assert (run / "checkpoints" / "step-00000002.pt").is_file()


ORACLE_SPEC = """
sources:
  - score_function: toy-gmm
samplers:
  - name: annealed_langevin
    params: {steps_per_level: 2}
n: 40
"""


def test_bench_out_refuses_a_foreign_directory_and_cleans_its_own(tmp_path, invoke, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "spec.yaml").write_text(ORACLE_SPEC)
    foreign = tmp_path / "papers"
    foreign.mkdir()
    (foreign / "leaderboard.json").write_text('{"mine": 1}')
    code, err = invoke(["bench", "--spec", "spec.yaml", "--out", "papers"])
    assert code == 2 and "not a scorebench bench's output" in err
    assert sorted(p.name for p in foreign.iterdir()) == ["leaderboard.json"]
    assert (foreign / "leaderboard.json").read_text() == '{"mine": 1}'

    code, err = invoke(["bench", "--spec", "spec.yaml", "--out", "out"])
    assert code == 0, err
    stale = tmp_path / "out" / ".leaderboard.json.k1ll3d_x.scorebench.tmp"
    stale.write_text("torn")
    board = (tmp_path / "out" / "leaderboard.json").read_bytes()
    code, err = invoke(["bench", "--spec", "spec.yaml", "--out", "out"])  # its own: rerun
    assert code == 0, err
    assert not stale.exists()
    assert (tmp_path / "out" / "leaderboard.json").read_bytes() == board
    with locked(RunDir(tmp_path / "out"), "bench"):  # a second bench on the same --out
        code, err = invoke(["bench", "--spec", "spec.yaml", "--out", "out"])
    assert code == 2 and "in use by scorebench bench" in err


def test_too_few_samples_fail_before_anything_is_written(damaged, invoke, snapshot):
    before = snapshot(damaged)
    for argv in (
        ["bench", "R", "--n", "1", "--out", "b"],
        ["bench", "R", "--set", "sample.n=1", "--out", "b"],
        ["sample", "R", "--set", "sample.n=1"],
        ["run", "ncsn", "-d", "toy-gmm", "--run-dir", "R", "--set", "sample.n=1"],
    ):
        code, err = invoke(argv)
        said = " ".join(err.split())
        assert code == 2 and (">= 2" in said or "greater than or equal to 2" in said), argv
    assert snapshot(damaged) == before
    assert not (damaged.parent / "b").exists()


def _board_with(board, value):
    board = json.loads(json.dumps(board))
    for group in board["groups"]:
        for row in group["rows"]:
            row["metrics"] = {k: value for k in row["metrics"]}
    return board


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "missing"])
def test_compare_fails_a_gate_on_a_missing_or_non_finite_value(damaged, invoke, value):
    base = json.loads((damaged.parent / "rep" / "leaderboard.json").read_text())
    new = _board_with(base, value)
    if value == "missing":
        new = _board_with(base, None)
        for group in new["groups"]:
            for row in group["rows"]:
                row["metrics"] = {}
    (damaged.parent / "new.json").write_text(json.dumps(new))
    code, err = invoke(["compare", "rep/leaderboard.json", "new.json"])
    assert code == 1, err


def test_compare_fails_when_nothing_can_be_gated(damaged, invoke):
    base = json.loads((damaged.parent / "rep" / "leaderboard.json").read_text())
    (damaged.parent / "null.json").write_text(json.dumps(_board_with(base, None)))
    code, err = invoke(["compare", "null.json", "rep/leaderboard.json"])
    assert code == 2 and "nothing to gate" in err
    code, err = invoke(["compare", "rep/leaderboard.json", "R", "-t", "mode_weights=5%"])
    assert code == 2 and "not a numeric metric" in err


@pytest.mark.parametrize(
    "replace",
    [
        lambda a: np.zeros(a.shape, np.int64),
        lambda a: np.zeros(a.shape, np.uint8),
        lambda a: a[:, :1],
        lambda a: a[:, 0],
        lambda a: np.zeros((a.shape[0], 3), np.float32),
        lambda a: a.astype(np.float64),
    ],
    ids=["int64", "uint8", "(N,1)", "(N,)", "(N,3)", "float64"],
)
def test_a_replaced_shard_is_not_counted_as_done(damaged, invoke, replace):
    (cell,) = (damaged / "evals").iterdir()
    shard = cell / "samples" / "shard-00000.npy"
    original = np.load(shard)
    np.save(shard, replace(original))
    for result in (cell / "results").iterdir():
        result.unlink()  # evaluated again from what is on disk
    code, err = invoke(["eval", "R"])
    assert code == 2 and "damaged" in err and "scorebench sample" in err
    code, err = invoke(["report", "R", "-o", "rep2"])
    assert code == 2 and "Traceback" not in err
    code, err = invoke(["sample", "R"])
    assert code == 0, err
    assert np.array_equal(np.load(shard), original)  # redrawn: the same chains


def test_an_object_shard_is_redrawn_without_unpickling(damaged, invoke):
    (cell,) = (damaged / "evals").iterdir()
    shard = cell / "samples" / "shard-00000.npy"
    original = np.load(shard)
    np.save(shard, np.array([object()] * len(original), dtype=object), allow_pickle=True)
    code, err = invoke(["report", "R", "-o", "rep2"])
    assert code in (0, 2) and "Traceback" not in err  # the result is whole: report works
    code, err = invoke(["sample", "R"])
    assert code == 0, err
    assert np.array_equal(np.load(shard), original)


DEEP = "[" * 3000 + "]" * 3000

#: Structurally wrong JSON for every JSON file scorebench reads back (FP: the file's own
#: fingerprint, so a record that only claims it is tested too).
WRONG_JSON = {
    "list": "[]",
    "null": "null",
    "string": '"x"',
    "number": "5",
    "empty": "{}",
    "fingerprint only": '{"fingerprint": "FP"}',
    "metrics a string": '{"fingerprint": "FP", "metrics": "x", "protocol": {}}',
    "cell a list": '{"fingerprint": "FP", "metrics": {}, "protocol": {}, "cell": []}',
    "run null": '{"fingerprint": "FP", "metrics": {}, "protocol": {}, "run": null}',
    "groups a number": '{"groups": 5}',
    "group without rows": '{"groups": [{"fingerprint": "x"}]}',
    "empty row": '{"groups": [{"fingerprint": "x", "rows": [{}]}]}',
    "list of one": "[1]",
    "deep": DEEP,
}


def _targets(run):
    (cell,) = (run / "evals").iterdir()
    (result,) = (cell / "results").iterdir()
    return {
        "result": result,
        "manifest": run / "manifest.json",
        "config": run / "config.json",
        "sampling record": cell / "samples" / "samples.json",
        "shard record": cell / "samples" / "shard-00000.json",
        "spec": cell / "spec.json",
    }


@pytest.mark.parametrize(
    "target", ["result", "manifest", "config", "sampling record", "shard record", "spec"]
)
def test_structurally_wrong_json_is_never_a_traceback(damaged, invoke, target):
    """Every wrong shape in every file: exit 0 (derived files are computed again, a damaged
    manifest is left out of the report) or 2 with a message; the config is never changed."""
    pristine = damaged.parent / "pristine"
    shutil.copytree(damaged, pristine)
    failures = []
    for name, text in WRONG_JSON.items():
        shutil.rmtree(damaged)
        shutil.copytree(pristine, damaged)
        path = _targets(damaged)[target]
        text = text.replace("FP", path.stem)
        path.write_text(text)
        for argv in (["report", "R", "-o", "rep2"], ["eval", "R"], ["sample", "R"]):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    code, err = invoke(argv)
            except Exception as exc:  # what a user would see as a traceback
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                code, err = "raised", f"{exc!r} at {frame.filename}:{frame.lineno}"
            if code not in (0, 2) or "Traceback" in err or (code == 2 and not err.strip()):
                failures.append(f"{target}={name} {argv}: exit {code}: {err.strip()[-300:]}")
        if target == "config":
            assert path.read_text() == text  # the user's file: named, never rewritten
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", list(WRONG_JSON))
def test_compare_on_a_wrong_board_is_a_clear_error(damaged, invoke, name):
    (damaged.parent / "bad.json").write_text(WRONG_JSON[name].replace("FP", "x"))
    for argv in (["compare", "R", "bad.json"], ["compare", "bad.json", "R"]):
        code, err = invoke(argv)
        assert code == 2 and err.strip() and "Traceback" not in err, (name, argv, err)


def test_a_damaged_result_is_computed_again_by_eval(damaged, invoke):
    (cell,) = (damaged / "evals").iterdir()
    (result,) = (cell / "results").iterdir()
    good = json.loads(result.read_text())
    result.write_text(json.dumps({"fingerprint": result.stem}))  # matches, but is no record
    code, err = invoke(["eval", "R"])
    assert code == 0, err
    assert json.loads(result.read_text())["metrics"] == good["metrics"]


def test_the_alias_bomb_is_refused_at_once(tmp_path, invoke, monkeypatch):
    import resource
    import time

    monkeypatch.chdir(tmp_path)
    levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, this = chr(ord("a") + i - 1), chr(ord("a") + i)
        levels.append(f"{this}: &{this} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    bomb = "samplers:\n  - name: annealed_langevin\n    params:\n"
    bomb += "".join(f"      {line}\n" for line in levels)
    bomb += "sources: [R]\n"
    (tmp_path / "bomb.yaml").write_text(bomb)
    assert len(bomb) < 800
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    code, err = invoke(["bench", "--spec", "bomb.yaml"])
    seconds = time.perf_counter() - start
    assert code == 2 and "alias" in err
    assert seconds < 1.0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown_mb < 100


def test_strict_yaml_refuses_repeated_keys_and_deep_values():
    from scorebench import safe_yaml

    with pytest.raises(Exception, match="appears twice"):
        safe_yaml.load("n: 1\nn: 2\n")
    with pytest.raises(safe_yaml.TooDeep):
        safe_yaml.load("x: " + "[" * 200 + "]" * 200)
    assert safe_yaml.load("a: {b: [1, 2]}") == {"a": {"b": [1, 2]}}


def test_record_models_reject_what_readers_would_crash_on():
    from scorebench.records import Board, ResultRecord, checked

    good = {"fingerprint": "f", "metrics": {"fid": 1.0}, "protocol": {}}
    assert checked(ResultRecord, good, "r.json", "fix") is good
    for bad in ([], None, {"fingerprint": "f"}, {**good, "metrics": "x"}, {**good, "cell": []}):
        with pytest.raises(ScorebenchError, match="r.json is damaged"):
            checked(ResultRecord, bad, "r.json", "fix")
    for bad in ({"groups": 5}, {"groups": [1]}, {"groups": [{"fingerprint": "x", "rows": []}]}):
        with pytest.raises(ScorebenchError, match="not a leaderboard"):
            checked(Board, bad, "b.json", "fix")
