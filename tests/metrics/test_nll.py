"""The nll metric: the closed form of a Gaussian, both oracles' exact densities within a bound
derived from the tolerances and Hutchinson's variance, and every misuse refused with exit 2."""

import math
import subprocess
import sys

import pytest
import torch
from nll_oracle import hutchinson_variance, oracle_error, solver_bound
from scorebench_ncsn.gmm import toy_gmm
from scorebench_samplers.oracles import digits_gmm

from scorebench.errors import ConfigError
from scorebench.likelihood import bits_per_dim, flow_log_likelihood, gaussian_log_prob
from scorebench.metrics.nll import NLL


def test_gaussian_data_under_its_own_score_give_the_closed_form():
    """N(0, s^2 I): x(sigma) = x sqrt((s^2 + sigma^2) / (s^2 + sigma_min^2)) and the
    integrated divergence is D/2 log((s^2 + sigma_max^2) / (s^2 + sigma_min^2)), in closed form."""
    s, dim, lo, hi = 0.7, 8, 0.01, 50.0
    x = torch.randn(64, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * s

    def score(x, sigma):
        return -x / (s**2 + sigma[:, None] ** 2)

    for solver in ("dopri5", "rk45"):
        flow = flow_log_likelihood(score, x, sigma_min=lo, sigma_max=hi, solver=solver)
        x_end = x * math.sqrt((s**2 + hi**2) / (s**2 + lo**2))
        delta = dim / 2 * math.log((s**2 + hi**2) / (s**2 + lo**2))
        closed = gaussian_log_prob(x_end, hi) + delta
        tolerance = math.ceil(flow.nfe / 6) * math.sqrt(dim + 1) * (1e-5 + 1e-5 * abs(delta))
        assert float((flow.log_p - closed).abs().max()) < tolerance, solver
        # and against the data's own density, up to the prior's and sigma_min's terms
        exact = gaussian_log_prob(x, s)
        bpd, truth = bits_per_dim(flow.log_p, dim), bits_per_dim(exact, dim)
        assert abs(float(bpd.mean() - truth.mean())) < 1e-3


@pytest.mark.parametrize(("rtol", "atol"), [(1e-3, 1e-3), (1e-5, 1e-5)])
def test_toy_oracle_exact_divergence_within_the_solver_bound(rtol, atol):
    truth = toy_gmm()
    x = truth.sample(200, torch.Generator().manual_seed(1)).double()
    err = oracle_error(truth, x, 0.1, 20.0, rtol=rtol, atol=atol, divergence="exact")
    assert abs(float(err.estimator.mean())) <= solver_bound(err, rtol, atol)
    assert float(err.estimator.abs().max()) > 0  # an estimate, not the exact value copied


@pytest.mark.slow
def test_digits_oracle_hutchinson_within_its_variance_and_the_solver_bound():
    """64-D: the error of K probes is within 4 standard errors, the variance integrated along
    each point's path, plus the solver's share; exact divergence leaves the solver's alone."""
    truth = digits_gmm(points=True)
    x = truth.sample(12, torch.Generator().manual_seed(2)).double()
    lo, hi, tol = 0.01, 5.0, 1e-5
    variance = hutchinson_variance(truth, x, lo, hi)
    exact = oracle_error(truth, x, lo, hi, rtol=tol, atol=tol, divergence="exact")
    assert abs(float(exact.estimator.mean())) <= solver_bound(exact, tol, tol)
    for probes in (1, 4):
        err = oracle_error(
            truth,
            x,
            lo,
            hi,
            rtol=tol,
            atol=tol,
            divergence="hutchinson",
            probes=probes,
            generator=torch.Generator().manual_seed(3),
        )
        standard_error = math.sqrt(float(variance.sum()) / probes) / len(x)
        bound = 4 * standard_error + solver_bound(err, tol, tol)
        assert abs(float(err.estimator.mean())) <= bound, (probes, bound)
        assert float((err.estimator - exact.estimator).abs().max()) > 1e-6  # it is stochastic


class _Points:
    kind, name, shape = "points", "plain", (2,)

    def __len__(self):
        return 10


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rtol": 0.0}, "rtol must be"),
        ({"atol": -1e-5}, "atol must be"),
        ({"probes": 0}, "probes must be"),
        ({"solver": "euler"}, "unknown ODE solver 'euler'"),
        ({"divergence": "trace"}, "unknown divergence"),
    ],
)
def test_bad_estimator_settings_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        NLL(**options)


def test_level_conditioned_sources_and_points_without_density_are_refused():
    metric = NLL()
    with pytest.raises(ConfigError, match="conditioned on its trained"):
        metric.check(_Points(), sigma_query="nearest trained level in log sigma")
    with pytest.raises(ConfigError, match="knows its density"):
        metric.check(_Points(), sigma_query="exact")


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "scorebench.cli", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("recipe", "dataset", "sets", "message"),
    [
        ("ncsn", "digits", ["eval.metrics=[fid,nll]"], "trained levels"),
        ("ncsnv2", "toy-gmm", ["eval.metrics=[nll]"], "log_likelihood"),
        ("ncsnv2", "digits", ["eval.metrics=[nll]", "eval.nll.rtol=0"], "eval.nll.rtol"),
        ("ncsnv2", "digits", ["eval.metrics=[nll]", "eval.nll.probes=0"], "eval.nll.probes"),
        ("ncsnv2", "digits", ["eval.metrics=[nll]", "eval.nll.solver=euler"], "eval.nll.solver"),
    ],
)
def test_the_cli_refuses_misuse_with_exit_2_before_any_work(
    tmp_path, recipe, dataset, sets, message
):
    args = ["run", recipe, "-d", dataset, "--run-dir", str(tmp_path / "run")]
    done = _run(*args, *[a for s in sets for a in ("--set", s)])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # refused before training


def test_nll_is_measured_once_per_model_and_a_damaged_cache_is_measured_again(tmp_path):
    """Two samplers' cells of one oracle share one nll measurement (and one model
    fingerprint); a damaged stored measurement is measured again, to the same values."""
    import json

    import yaml
    from scorebench_samplers.benches import oracle_toy

    spec = oracle_toy()  # the preset's source, smaller and with nll
    config = spec["sources"][0]["config"]
    config["sample"] = {**config["sample"], "n": 100, "batch_size": 100}
    config["eval"] = {"metrics": ["mmd-exact", "nll"], "nll": {"n": 50}}
    spec["samplers"] = [
        {"name": "pf_heun", "grid": {"steps": [5]}},
        {"name": "cas", "grid": {"steps": [10]}},
    ]
    spec["seeds"] = 1
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    args = ["bench", "--spec", str(tmp_path / "spec.yaml"), "-o", str(tmp_path / "out")]
    first = _run(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    (stored,) = tmp_path.glob("out/oracles/*/evals/model/*.json")
    records = [
        json.loads(p.read_text()) for p in tmp_path.glob("out/oracles/*/evals/*/results/*.json")
    ]
    assert len(records) == 2
    assert len({r["model_metrics"]["fingerprint"] for r in records}) == 1
    assert records[0]["metrics"]["bpd"] == records[1]["metrics"]["bpd"]
    assert abs(records[0]["metrics"]["bpd_gap"]) < 0.05  # the exact score: about 0
    stored.write_text("{ damaged")
    for path in tmp_path.glob("out/oracles/*/evals/*/results/*.json"):
        path.unlink()
    again = _run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    redone = json.loads(stored.read_text())
    assert redone["metrics"]["bpd"] == records[0]["metrics"]["bpd"]
