"""Every command fed invalid input (issue 15): each of the ~290 invocations below must exit 2
with a message, print no traceback, and change no file under the directory it ran in (nor
the baseline tables, where `baselines compute` writes).

The invocations run in-process through the console entry point (``cli.main``), so an
exception that would print a traceback to a user fails the test with that traceback."""

import json
import traceback

from bad_inputs import SPEC_FILES

from scorebench.report.baselines import baselines_dir

DEEP_VALUE = "[" * 3000 + "]" * 3000

SAMPLE_EVAL_SETS = [
    "sample.n=-1",
    "sample.n=0",
    "sample.n=1e12",
    "sample.n=1e23",
    "sample.n=abc",
    "sample.n=.nan",
    "sample.n=true",
    "sample.n=[1]",
    "sample.n=1.5",
    "sample.batch_size=0",
    "sample.batch_size=-3",
    "sample.batch_size=x",
    "sample.batch_size=1e12",
    "sample.seed=-1",
    f"sample.seed={2**64}",
    "sample.seed=x",
    "sample.seed=1.5",
    "sample.init=bogus",
    "sample.init_low=.nan",
    "sample.init_low=x",
    "sample.init_high=.inf",
    "sample.checkpoint=7",
    "sample.checkpoint=best",
    "sample.checkpoint=x",
    "sample.checkpoint=-1",
    "sample.sampler.name=nope",
    "sample.sampler.name=[/x]",
    "sample.sampler.params.step_lr=abc",
    "sample.sampler.params.step_lr=-1",
    "sample.sampler.params.step_lr=.nan",
    "sample.sampler.params.steps_per_level=0",
    "sample.sampler.params.steps_per_level=-1",
    "sample.sampler.params.steps_per_level=1.5",
    "sample.sampler.params.foo=1",
    "sample.sampler=3",
    "eval.metrics=[bogus]",
    "eval.metrics=5",
    "eval.split=bogus",
    "eval.reference_count=1",
    "eval.reference_count=0",
    "eval.reference_count=x",
    "eval.extractor=nope",
    "eval.seed=-1",
    f"eval.seed={2**64}",
    "train.lr=1",
    "network.params.ngf=3",
    "runtime.seed=1",
    "sample.nn=1",
    "evall.x=1",
    "[/x]=1",
    "noequals",
    "=1",
    "sample..n=1",
    "sample.n",
]
SAMPLE_ARGS = [
    ["--n", "-1"],
    ["--n", "0"],
    ["--n", "abc"],
    ["--n", "1e23"],
    ["--device", "tpu"],
    ["--device", "cuda:x"],
    ["--sampler", "nope"],
    ["--sampler", "[/b]"],
    ["--bogus"],
]
RUN_PATHS = ["nonexistent", "afile", "untrained", "/proc", "/proc/self/fd", "[/b]"]

TRAIN_SETS = [
    "train.lr=.nan",
    "train.lr=1e308",
    "train.lr=-1",
    "train.lr=0",
    "train.weight_decay=.nan",
    "train.weight_decay=-1",
    f"runtime.seed={2**64}",
    "runtime.seed=-1",
    "train.steps=1e30",
    "train.steps=0",
    "train.steps=-5",
    "train.steps=1.5",
    "network.params.num_levels=3",
    "data.name=digits",
    "data.name=nope",
    "data.batch_size=0",
    "data.batch_size=1e12",
    "train.grad_clip=-1",
    "train.ema=1.5",
    "train.betas=[1,2]",
    "train.betas=x",
    "runtime.precision=fp16",
    "runtime.device=tpu",
    "recipe=x",
    "dataset=x",
    "schedule.params.num_levels=0",
    "loss.name=nope",
    "sample.sampler.params.step_lr=abc",
    "eval.split=bogus",
    "eval.reference_count=1",
    "sample.init_low=.nan",
]
TRAIN_ARGS = [
    ["--config", "binary.yaml"],
    ["--config", "missing.yaml"],
    ["--config", "afile"],
    ["--config", "list.yaml"],
    ["--config", "bad.toml"],
    ["--config", "R"],
    ["--run-dir", "afile"],
    ["--run-dir", "/proc/scorebench-run"],
    ["--run-dir", "a" * 300],
    ["--run-dir", "afile/below"],
    ["--device", "tpu"],
]


def cases():
    for command in ("sample", "eval"):
        for value in SAMPLE_EVAL_SETS:
            yield [command, "R", "--set", value]
        for args in SAMPLE_ARGS:
            yield [command, "R", *args]
        for path in RUN_PATHS:
            yield [command, path]
    for command in ("train", "run"):
        base = [command, "ncsn", "-d", "toy-gmm", "--run-dir", "new", "--set", "train.steps=3"]
        for value in TRAIN_SETS:
            yield [*base, "--set", value]
        for args in TRAIN_ARGS:
            yield [*base, *args]
        yield [command, "nope", "-d", "toy-gmm"]
        yield [command, "ncsn", "-d", "nope"]
        yield [command, "ncsn", "-d", "[/b]"]
        yield [command, "ncsn"]
    yield from (
        ["report", "nonexistent"],
        ["report", "afile"],
        ["report", "untrained"],
        ["report", "R", "-b", "nonexistent"],
        ["report", "R", "-o", "/proc/scorebench-report"],
        ["report", "R", "-o", "afile"],
        ["report", "[/b]"],
        ["compare", "R", "nonexistent"],
        ["compare", "nonexistent", "R"],
        ["compare", "R", "R", "-t", "swd=nan"],
        ["compare", "R", "R", "-t", "swd=-1"],
        ["compare", "R", "R", "-t", "x"],
        ["compare", "R", "R", "-t", "[/x]=1"],
        ["compare", "R", "R", "-t", "nosuchmetric=1"],
        ["compare", "R", "R", "--row", "nosuchrow"],
        ["compare", "afile", "R"],
        ["compare", "binary.yaml", "R"],
        ["compare", "notjson.json", "R"],
        ["compare", "untrained", "R"],
        ["bench", "R", "--sampler", "nope"],
        ["bench", "R", "--sampler", "annealed_langevin:steps_per_level=0"],
        ["bench", "R", "--sampler", "annealed_langevin:steps_per_level="],
        ["bench", "R", "--sampler", "annealed_langevin:=1"],
        ["bench", "R", "--sampler", ":x"],
        ["bench", "R", "--sampler", "annealed_langevin:step_lr=abc"],
        ["bench", "R", "--seeds", "-1"],
        ["bench", "R", "--seeds", "x"],
        ["bench", "R", "--seeds", "0,0"],
        ["bench", "R", "--seeds", "0"],
        ["bench", "R", "--seeds", f"{2**64}"],
        ["bench", "R", "--n", "0"],
        ["bench", "R", "--n", "1"],
        ["bench", "R", "--seeds", "1_000"],
        ["bench", "R", "--seeds", "\u0663"],  # an Arabic-Indic digit three
        ["bench", "R", "--seeds", "0,\u0663"],
        ["bench", "R", "--sampler", "annealed_langevin:steps_per_level=5:steps_per_level=10"],
        ["bench", "R", "--set", "sample.n=1"],
        ["bench", "R", "--set", "sample.sampler.params.x=" + DEEP_VALUE],
        *(["bench", "--spec", name] for name in SPEC_FILES),
        ["compare", "R", "R", "-t", "mode_weights=5%"],
        ["sample", "R", "--set", "sample.sampler.params.x=" + DEEP_VALUE],
        [
            "config",
            "show",
            "ncsn",
            "-d",
            "toy-gmm",
            "--set",
            "sample.sampler.params.x=" + DEEP_VALUE,
        ],
        ["run", "ncsn", "-d", "toy-gmm", "--run-dir", "R", "--set", "sample.n=1"],
        ["bench", "R", "--n", "-5"],
        ["bench", "R", "--preset", "nope"],
        ["bench", "--spec", "missing.yaml"],
        ["bench", "--spec", "binary.yaml"],
        ["bench", "--spec", "list.yaml"],
        ["bench", "nonexistent"],
        ["bench", "afile"],
        ["bench", "untrained"],
        ["bench", "R", "--device", "tpu"],
        ["bench", "R", "--set", "train.lr=1"],
        ["bench", "R", "--set", "sample.n=-1"],
        ["bench"],
        ["bench", "R", "-o", "/proc/scorebench-bench"],
        ["export", "R", "--png", "out"],  # 2-D points: nothing to write as PNG
        ["export", "R", "--png", "out", "--reference", "ref"],
        ["export", "R", "--png", "out", "--set", "sample.n=7"],  # never sampled
        ["export", "R", "--png", "out", "--sampler", "nope"],
        ["export", "R", "--png", "out", "--set", "sample.n=-1"],
        ["export", "nonexistent", "--png", "out"],
        ["export", "afile", "--png", "out"],
        ["export", "R"],
        ["config", "show", "nope", "-d", "toy-gmm"],
        ["config", "show", "ncsn", "-d", "nope"],
        ["config", "show", "ncsn", "-d", "toy-gmm", "--set", "train.lr=-1"],
        ["config", "show", "ncsn", "-d", "toy-gmm", "--set", "[/x]=1"],
        ["config", "show", "ncsn", "-d", "toy-gmm", "-c", "binary.yaml"],
        ["config", "show", "ncsn", "-d", "toy-gmm", "-c", "missing.yaml"],
        ["config", "show", "ncsn"],
        ["config", "bogus"],
        ["config", "schema", "-o", "/proc/scorebench.schema.json"],
        ["config", "schema", "-o", "afile/below.json"],
        ["compare", "R", "R", "-t", "swd=offf"],
        ["list", "presets", "--bogus"],
        ["list", "bogus"],
        ["list", "[/x]"],
        ["plugins", "--bogus"],
        ["baselines", "compute", "--dataset", "nope"],
        ["baselines", "compute", "--recipe", "nope", "-d", "digits"],
        ["baselines", "compute", "-d", "toy-gmm", "--set", "eval.split=bogus"],
        ["baselines", "compute", "-d", "toy-gmm", "--set", "eval.metrics=[bogus]"],
        ["baselines", "compute", "-d", "toy-gmm", "--out", "/proc/x.json"],
        ["toy", "--n", "-1"],
        ["toy", "--n", "0"],
        ["toy", "--n", "abc"],
        ["toy", "--seed", "-1"],
        ["nosuchcommand"],
        ["train"],
        ["sample"],
        ["--bogus"],
    )


CASES = list(cases())


def test_the_table_is_large_enough():
    assert len(CASES) >= 200


def test_invalid_input_exits_2_with_a_message_and_changes_nothing(
    workspace, invoke, snapshot, monkeypatch
):
    root, cache = workspace
    monkeypatch.chdir(root)
    monkeypatch.setenv("SCOREBENCH_CACHE_DIR", str(cache))
    monkeypatch.setenv("SCOREBENCH_DATA_DIR", str(cache / "data"))
    watched = {"run": root, "baselines": baselines_dir()}  # baselines compute writes there

    def state():
        return {name: snapshot(path) for name, path in watched.items()}

    before = state()
    failures = []
    for argv in CASES:
        try:
            code, err = invoke(argv)
        except Exception as exc:  # what a user would see as a traceback
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            code, err = "raised", f"Traceback: {exc!r} at {frame.filename}:{frame.lineno}"
        after = state()
        changed = sorted(
            f"{name}/{f}"
            for name in after
            for f in after[name].keys() ^ before[name].keys()
            | {
                f
                for f in after[name].keys() & before[name].keys()
                if after[name][f] != before[name][f]
            }
        )
        if code != 2 or not err.strip() or "Traceback" in err or changed:
            failures.append(f"{argv}: exit {code}, changed={changed}: {err.strip()[-300:]}")
            before = state()
    print(json.dumps({"invocations": len(CASES), "failures": len(failures)}))
    assert not failures, "\n".join(failures)
