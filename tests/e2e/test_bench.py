"""scorebench bench: a matrix of samplers x budgets x seeds, cached per cell, one leaderboard."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from scorebench.recipes import resolve_config
from scorebench.runs import RunDir
from scorebench.train import train

DIGITS_TINY = [
    "network.params.ngf=4",
    "train.steps=2",
    "train.log_every=1",
    "data.batch_size=8",
    "sample.n=24",
    "sample.batch_size=12",
    "runtime.precision=fp32",
]
TOY_TINY = ["train.steps=60", "train.log_every=20", "sample.n=200", "sample.batch_size=100"]

#: A third party's sampler with an NFE budget: annealed Langevin, `steps` per level, then one
#: Tweedie denoising step (NFE = levels * steps + 1).
ACME = """
from scorebench import hookimpl
from scorebench.registry import Component


def tweedie_langevin(score, x, sigmas, *, noise, callback=None, steps=1, step=0.05):
    for sigma in sigmas:
        s = sigma.expand(x.shape[0])
        for _ in range(steps):
            a = step * sigma**2
            x = x + a * score(x, s) + (2 * a).sqrt() * noise(x)
    s = sigmas[-1].expand(x.shape[0])
    return x + sigmas[-1] ** 2 * score(x, s)


@hookimpl
def register_samplers():
    return [Component("tweedie_langevin", tweedie_langevin, "Langevin then Tweedie denoising")]
"""


@pytest.fixture(scope="module")
def site(install_plugins):
    return install_plugins(("acme-tweedie", "acme", "acme_tweedie", ACME))


def _train(root, dataset, overrides):
    run = RunDir(root / f"{dataset}-run")
    train(resolve_config("ncsn", dataset, overrides=overrides), run, quiet=True)
    return run


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("bench"), "digits", DIGITS_TINY)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("bench"), "toy-gmm", TOY_TINY)


def bench(*args, site=None, cwd, env=None, wait=True):
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if site is not None:
        full_env["PYTHONPATH"] = str(site)
    command = [sys.executable, "-m", "scorebench.cli", "bench", *args]
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=full_env, stderr=subprocess.PIPE, text=True)
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=full_env, timeout=600
    )


def _copy(run, tmp_path):
    target = tmp_path / run.path.name
    shutil.copytree(run.path, target)
    return target


def _results(run_dir):
    return {
        p.parent.parent.name: json.loads(p.read_text())
        for p in run_dir.glob("evals/*/results/*.json")
    }


MATRIX = [
    "--sampler",
    "annealed_langevin:steps_per_level=1,2",
    "--sampler",
    "tweedie_langevin:steps=1,2",
    "--seeds",
    "2",
]


def test_digits_bench_puts_a_third_party_sampler_beside_annealed_langevin(digits, site, tmp_path):
    run = _copy(digits, tmp_path)
    result = bench(str(run), *MATRIX, "--out", "out", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(_results(run)) == 8  # 2 samplers x 2 budgets x 2 seeds
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    (group,) = [g for g in board["groups"] if any(r["origin"] == "run" for r in g["rows"])]
    rows = [r for r in group["rows"] if r["origin"] == "run"]
    assert sorted((r["sampler"], r["nfe"]) for r in rows) == [
        ("annealed_langevin", 10),
        ("annealed_langevin", 20),
        ("tweedie_langevin", 11),
        ("tweedie_langevin", 21),
    ]
    for r in rows:
        assert r["seeds"] == [0, 1] and r["intervals"]["fid"] > 0
        assert r["samples_per_s"] > 0 and r["wall_s"] > 0
    labels = {r["sampler_label"] for r in rows}
    assert (
        "annealed_langevin (steps_per_level=1)" in labels and "tweedie_langevin (steps=2)" in labels
    )
    plots = list((tmp_path / "out").glob("quality-vs-nfe-*.png"))
    assert len(plots) == 1 and plots[0].stat().st_size > 1000
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 1 + 4  # the plot and a grid per row
    assert "quality vs NFE" in page and "tweedie_langevin (steps=2)" in page
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert " ± " in md and "tweedie_langevin" in md
    # A finished bench, rerun, computes nothing and prints the same table.
    again = bench(str(run), *MATRIX, "--out", "out2", site=site, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "8 of 8 evaluations cached" in again.stderr
    rerun = (tmp_path / "out2" / "leaderboard.md").read_text()
    assert rerun.replace("--out out2", "--out out") == md  # its command names its own --out


def test_toy_bench_from_a_spec_file(toy, tmp_path):
    run = _copy(toy, tmp_path)
    (tmp_path / "spec.yaml").write_text(
        f"sources: [{run}]\n"
        "samplers:\n"
        "  - name: annealed_langevin\n"
        "    grid: {steps_per_level: [5, 10]}\n"
        "  - name: langevin\n"
        "    grid: {steps: [20, 40]}\n"
        "    params: {step_size: 0.5}\n"
        "seeds: [0, 3]\n"
        "n: 2000\n"  # the size of the measured baselines: one protocol with them
    )
    result = bench("--spec", "spec.yaml", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = _results(run)
    assert len(records) == 8
    assert {r["kind"] for r in records.values()} == {"points"}
    assert len({r["fingerprint"] for r in records.values()}) == 1  # one protocol, every seed
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    group = board["groups"][0]
    assert group["ranked_by"] == "mode_weight_error"
    assert {r["nfe"] for r in group["rows"] if r["origin"] == "run"} == {50, 100, 20, 40}
    assert any(r["origin"] == "measured" for r in group["rows"])  # the recipe's baselines
    assert "data:image/png;base64," in (tmp_path / "out" / "report.html").read_text()


def _uninterrupted(digits, tmp_path, matrix):
    """The metrics per cell of the same bench run whole in one process."""
    reference = tmp_path / "reference"
    reference.mkdir()
    whole = bench(str(_copy(digits, reference)), *matrix, cwd=reference)
    assert whole.returncode == 0, whole.stderr[-3000:]
    return {k: r["metrics"] for k, r in _results(reference / digits.path.name).items()}


def test_a_killed_bench_resumes_with_the_missing_cells_only(digits, tmp_path):
    matrix = ["--sampler", "annealed_langevin:steps_per_level=2,4", "--seeds", "3", "--n", "32"]
    expected = _uninterrupted(digits, tmp_path, matrix)
    killed = tmp_path / "killed"
    killed.mkdir()
    run = _copy(digits, killed)
    process = bench(str(run), *matrix, cwd=killed, wait=False)
    deadline = time.monotonic() + 300
    while not _results(run) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(_results(run))
    assert 1 <= finished < 6, "the bench should have been killed mid-matrix"
    again = bench(str(run), *matrix, cwd=killed)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{finished} of 6 evaluations cached" in again.stderr
    assert {k: r["metrics"] for k, r in _results(run).items()} == expected


def _snapshot(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sampler", "nosuch"], "no sampler named 'nosuch'"),
        (["--sampler", "annealed_langevin:stepz_per_level=1"], "Did you mean 'steps_per_level'"),
        (["--sampler", "annealed_langevin:steps_per_level="], "empty"),
        (["--seeds", "0,1,1"], "listed twice"),
        (["--seeds", "zero"], "give a count"),
        (["--sampler", "annealed_langevin:steps_per_level"], "expected NAME[:KEY=V1,V2,...]"),
        (["--spec", "broken.yaml"], "could not be parsed"),
        (["--spec", "typo.yaml"], "samplerz"),
        (["--set", "train.lr=0.1"], "train another run"),
        # values, not only names, are checked before the first cell is drawn
        (["--sampler", "annealed_langevin:steps_per_level=1,-1"], "steps_per_level must be"),
        (["--sampler", "pf_heun:schedule=levels:steps=50"], "with schedule='levels'"),
        (["--sampler", "edm_stochastic:S_churn=-1"], "S_churn"),
    ],
)
def test_bad_bench_input_is_refused_before_anything_is_computed(digits, tmp_path, args, message):
    run = _copy(digits, tmp_path)
    (tmp_path / "broken.yaml").write_text("samplers: [ {name: x\n")
    (tmp_path / "typo.yaml").write_text("samplerz: []\n")
    before = _snapshot(run)
    result = bench(str(run), *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr
    assert _snapshot(run) == before and not (tmp_path / "bench").exists()


def test_a_run_without_checkpoints_is_refused(digits, tmp_path):
    run = _copy(digits, tmp_path)
    shutil.rmtree(run / "checkpoints")
    result = bench(str(run), cwd=tmp_path)
    assert result.returncode == 2 and "has no intact checkpoint" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and not (run / "evals").exists()


@pytest.mark.slow
def test_a_bench_under_two_gloo_ranks_gives_the_single_process_results(digits, tmp_path, torchrun):
    matrix = [
        "--sampler",
        "annealed_langevin:steps_per_level=1,2",
        "--seeds",
        "2",
        "--device",
        "cpu",
    ]
    expected = _uninterrupted(digits, tmp_path, matrix)
    double = tmp_path / "double"
    double.mkdir()
    run = _copy(digits, double)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run(
        [*torchrun, "-m", "scorebench.cli", "bench", str(run), *matrix],
        capture_output=True,
        text=True,
        cwd=double,
        env=env,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert {k: r["metrics"] for k, r in _results(run).items()} == expected
    assert {r["cell"]["sampling"]["world_size"] for r in _results(run).values()} == {2}


ORACLE_TOY = """
sources:
  - score_function: toy-gmm
    config:
      schedule: {name: geometric, params: {sigma_max: 20.0, sigma_min: 0.1, num_levels: 10}}
      sample: {n: 1000, batch_size: 1000, init_low: -8.0, init_high: 8.0}
samplers:
  - name: annealed_langevin
    grid: {steps_per_level: [100]}
    params: {step_lr: 5.0e-4}
  - name: langevin
    grid: {steps: [1000]}
seeds: 2
"""


def test_an_oracle_source_is_measured_against_exact_samples(tmp_path):
    (tmp_path / "spec.yaml").write_text(ORACLE_TOY)
    result = bench("--spec", "spec.yaml", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (oracle_dir,) = [p for p in (tmp_path / "out" / "oracles").iterdir() if p.is_dir()]
    records = _results(oracle_dir)
    assert len(records) == 4
    spec = next(iter(records.values()))["cell"]["spec"]
    assert spec["source"]["kind"] == "score_function" and spec["source"]["sigma_query"] == "exact"
    assert len(spec["source"]["levels"]) == 10
    (group,) = json.loads((tmp_path / "out" / "leaderboard.json").read_text())["groups"]
    reference = group["rows"][0]["metrics"]  # the protocol's reference: exact samples of n
    rows = {r["sampler"]: r for r in group["rows"] if r["origin"] == "run"}
    exact = next(r for r in group["rows"] if r["model"] == "exact samples (5 draws)")
    assert exact["metrics"]["mode_weight_error"] < 0.05 and reference
    # Against the exact density, exact samples sit at 0 within their own band.
    assert abs(exact["metrics"]["mmd2_exact"]) < 2 * exact["intervals"]["mmd2_exact"]
    assert group["ranked_by"] == "mmd2_exact"
    # The paper's section 3.2 with exact scores: annealing recovers the mode weights,
    # plain Langevin does not (0.8 / 0.2 -> about 0.5 / 0.5).
    assert rows["annealed_langevin"]["metrics"]["mode_weight_error"] < 0.05
    assert rows["langevin"]["metrics"]["mode_weight_error"] > 0.2
    assert "log_likelihood" in rows["langevin"]["metrics"]  # the oracle knows its density
    # Weights 0.5 / 0.5 instead of 0.2 / 0.8: the gap is 0.3 log(0.2 / 0.8) = -0.42.
    assert -0.6 < rows["langevin"]["metrics"]["loglik_gap"] < -0.2
    assert rows["annealed_langevin"]["model"] == "oracle toy-gmm"
    again = bench("--spec", "spec.yaml", "--out", "out", cwd=tmp_path)
    assert "4 of 4 evaluations cached" in again.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["train", "ncsn", "-d", "digits", *[f"--set={o}" for o in DIGITS_TINY], "--run-dir"],
        ["sample"],
        ["bench"],
    ],
    ids=["train", "sample", "bench"],
)
def test_a_second_process_on_a_run_directory_is_refused(digits, tmp_path, command):
    from scorebench.runs import locked

    run = _copy(digits, tmp_path)
    before = _snapshot(run)
    with locked(RunDir(run), "test"):
        result = subprocess.run(
            [sys.executable, "-m", "scorebench.cli", *command, str(run)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            timeout=300,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"is in use by scorebench test (pid {os.getpid()})" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert {p: t for p, t in _snapshot(run).items() if p.name != ".lock"} == {
        p: t for p, t in before.items() if p.name != ".lock"
    }
    with locked(RunDir(run), "the next command"):  # the refused process left no lock behind
        pass


def _board_metrics(out):
    board = json.loads((out / "leaderboard.json").read_text())
    return [[(r["model"], r["metrics"]) for r in g["rows"]] for g in board["groups"]]


def test_kills_while_a_bench_writes_its_output_lose_nothing(tmp_path):
    """SIGKILL at points across a whole oracle bench, the --out writes included: every file
    left there is whole, and the rerun gives the uninterrupted bench's board."""
    spec = (
        "sources:\n  - score_function: toy-gmm\nsamplers:\n  - name: annealed_langevin\n"
        "    grid: {steps_per_level: [2, 4]}\nseeds: 2\nn: 200\n"
    )
    (tmp_path / "spec.yaml").write_text(spec)
    start = time.monotonic()
    whole = bench("--spec", "spec.yaml", "--out", "whole", cwd=tmp_path)
    took = time.monotonic() - start
    assert whole.returncode == 0, whole.stderr[-3000:]
    out = tmp_path / "killed"
    for fraction in (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98):
        process = bench("--spec", "spec.yaml", "--out", "killed", cwd=tmp_path, wait=False)
        time.sleep(took * fraction)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path in out.rglob("*.json") if out.is_dir() else []:
            json.loads(path.read_text())  # whole: written atomically or not at all
    again = bench("--spec", "spec.yaml", "--out", "killed", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not list(out.glob(".*.scorebench.tmp"))
    assert _board_metrics(out) == _board_metrics(tmp_path / "whole")


PAIRED = """
sources:
  - score_function: toy-gmm
    config:
      schedule: {name: geometric, params: {sigma_max: 20.0, sigma_min: 0.1, num_levels: 10}}
      sample: {n: 1000, batch_size: 1000}
samplers:
  - name: pf_heun
    grid: {steps: [5, 10]}
  - name: edm_stochastic  # S_churn = 0: the same chain as pf_heun
    grid: {steps: [10]}
    params: {S_churn: 0.0}
seeds: 3
"""


def test_identical_samplers_tie_and_half_the_steps_is_separated(tmp_path):
    (tmp_path / "spec.yaml").write_text(PAIRED)
    result = bench("--spec", "spec.yaml", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (group,) = json.loads((tmp_path / "out" / "leaderboard.json").read_text())["groups"]
    runs = {r["sampler_label"]: r for r in group["rows"] if r["origin"] == "run"}
    same, twin, half = runs["pf_heun (steps=10)"], runs["edm_stochastic"], runs["pf_heun (steps=5)"]
    assert same["rank"] == twin["rank"] and same["rank"].endswith("=")
    assert "=" not in half["rank"] and int(half["rank"]) > int(same["rank"].rstrip("="))
    (at_20,) = [b for b in group["budgets"] if b["nfe"] == 20]
    assert at_20["margin"] == 0 and not at_20["significant"]
