"""What a researcher's first hour with the README runs into (issue 26)."""

import io
import json
import shutil


def test_a_plugin_qualified_sampler_is_the_same_cell(damaged, invoke):
    """`--sampler PLUGIN:NAME:KEY=V` parses, and with the same parameters names the same
    cell as the plain name (a new name starts from the sampler's defaults, so the toy run's
    step_lr is given)."""
    params = "steps_per_level=2:step_lr=0.0005"
    for sampler in ("annealed_langevin", "ncsn:annealed_langevin"):
        code, err = invoke(["bench", "R", "--sampler", f"{sampler}:{params}", "-o", "b"])
        assert code == 0, err
        assert "1 of 1 evaluations cached" in err, sampler


def test_report_of_a_glob_skips_the_history_beside_the_runs(damaged, invoke, workspace):
    """`scorebench report runs/*` expands to the runs and the history.jsonl beside them."""
    root, _ = workspace
    shutil.copy(root / "history.jsonl", damaged.parent / "history.jsonl")
    code, err = invoke(["report", "R", "history.jsonl", "-o", "rep3"])
    assert code == 0, err
    assert "skipped history.jsonl" in err
    assert (damaged.parent / "rep3" / "leaderboard.json").is_file()
    code, err = invoke(["report", "history.jsonl", "-o", "rep4"])  # nothing else: an error
    assert code == 2 and "not a scorebench run directory" in " ".join(err.split())


def test_report_of_a_glob_skips_runs_that_are_trained_but_not_evaluated(damaged, invoke):
    """`scorebench train --run-dir runs/mine` then `scorebench report runs/*`: the new run
    has no evaluations yet; the report is of the others."""
    shutil.copytree(damaged, damaged.parent / "T")
    shutil.rmtree(damaged.parent / "T" / "evals")
    code, err = invoke(["report", "R", "T", "-o", "rep6"])
    assert code == 0, err
    assert "skipped T: no evaluations yet" in " ".join(err.split())
    rows = json.loads((damaged.parent / "rep6" / "leaderboard.json").read_text())["groups"]
    assert {r["model"] for g in rows for r in g["rows"] if r["origin"] == "run"} == {"R"}
    code, err = invoke(["report", "T", "-o", "rep7"])  # nothing evaluated: an error
    assert code == 2 and "no evaluations yet" in err


def test_the_scale_of_the_numbers_is_stated_in_markdown_and_in_the_terminal(damaged, invoke):
    from scorebench.report import leaderboard

    code, err = invoke(["report", "R", "-o", "rep5"])
    assert code == 0, err
    md = (damaged.parent / "rep5" / "leaderboard.md").read_text()
    assert "Scale: Mode weight error is a fraction of the samples" in md
    board = leaderboard.build(
        [json.loads(p.read_text()) for p in damaged.glob("evals/*/results/*.json")], []
    )
    (table,) = leaderboard.rich_tables(board, width=80)
    assert "scale: Mode weight error" in str(table.caption)
    assert "ranked by mode weight err" in str(table.caption)


def test_samples_per_second_are_whole_numbers_not_exponents():
    from scorebench.report import leaderboard

    group = {
        "columns": [],
        "rows": [{"origin": "measured", "model": "m", "samples_per_s": 24820.3}],
    }
    _, [(cells, _)] = leaderboard.table(group)
    assert "24820" in cells and not any("e+" in c for c in cells)


def test_the_bench_table_at_80_and_120_columns_keeps_parameters_and_numbers_whole():
    from rich.console import Console

    from scorebench.report import leaderboard

    def row(model, sampler, params, fid, kid, half):
        return {
            "origin": "run",
            "model": model,
            "step": 1500,
            "sampler": sampler,
            "sampler_params": params,
            "nfe": 200,
            "metrics": {"fid": fid, "kid_mean": kid},
            "intervals": {"fid": half, "kid_mean": 357.0},
            "seeds": [0, 1, 2],
        }

    group = {
        "dataset": "digits",
        "protocol": "digits-cnn features",
        "fingerprint": "f" * 16,
        "rows": [
            row("ncsn-digits", "annealed_langevin", {"steps_per_level": 20}, 221.3, 23750.0, 55),
            row("ncsn-digits", "annealed_langevin", {"steps_per_level": 5}, 250.1, 3687.0, 60),
            row("ncsnv2-digits", "pf_heun", {"steps": 50}, 75.05, 937.1, 27),
        ],
    }
    leaderboard._label_samplers(group["rows"])
    group["columns"] = ["fid", "kid_mean"]
    for width in (80, 120):
        console = Console(width=width, record=True, file=io.StringIO())
        for table in leaderboard.rich_tables({"groups": [group]}, width=width):
            console.print(table)
        text = console.export_text()
        lines = [line.rstrip() for line in text.splitlines()]
        assert max(map(len, lines)) <= width
        assert ")" not in {line.split()[-1] for line in lines if line.split()}
        assert "steps_per_level=20" in text and "± 360" in text and "23750" in text
        assert "e+" not in text


def test_plugins_at_80_columns_never_split_a_name():
    """Plugin, hook and component names stay whole in `scorebench plugins` at 80 columns."""
    import re

    from typer.testing import CliRunner

    from scorebench.cli import app
    from scorebench.plugins import get_plugin_manager

    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "80"}, color=False)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    words = set(re.findall(r"[\w.:-]+", result.output))
    manager = get_plugin_manager()
    names = {p.name for p in manager.plugins} | {h for p in manager.plugins for h in p.hooks}
    for kinds in manager.contributions().values():
        names |= {c.name for components in kinds.values() for c in components}
    assert not names - words, f"split at 80 columns: {sorted(names - words)}"


def test_every_plotted_nfe_has_its_own_tick(monkeypatch):
    """Two budgets, 10 and 19, get two labelled ticks (a log locator gave one, "10")."""
    from scorebench.report import plots

    figures = []
    monkeypatch.setattr(plots, "_png", lambda plt, fig: figures.append(fig) or b"")
    rows = [
        {
            "origin": "run",
            "model": "m",
            "sampler": s,
            "nfe": nfe,
            "metrics": {"fid": v},
            "intervals": {},
        }  # fmt: skip
        for s, nfe, v in (("a", 10, 3.0), ("b", 19, 2.0))
    ]
    plots.quality_vs_nfe({"columns": ["fid"], "ranked_by": "fid", "rows": rows})
    (ax,) = figures[0].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "19"]
    assert plots.nfe_ticks([99, 200, 201]) == ([99, 200], ["99", "200/201"])  # no overlap


def test_plain_metavars_in_help():
    """--help names values TEXT, INT, PATH..., never Python types; flags show none; a
    required argument is written RECIPE, not {recipe}."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "scorebench.cli", "bench", "--help"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "80"},
    )
    assert done.returncode == 0
    assert "<list[str]>" not in done.stdout and "<bool>" not in done.stdout
    assert "<str>" not in done.stdout and "--seeds" in done.stdout
    run = subprocess.run(
        [sys.executable, "-m", "scorebench.cli", "run", "--help"], capture_output=True, text=True
    )
    assert "[OPTIONS] RECIPE" in run.stdout and "{recipe}" not in run.stdout


def test_the_sampling_bar_names_the_sampler_counts_samples_and_evaluations(damaged):
    """The bar of a cell says what it samples with (the parameters asked for), advances per
    batch and shows the score evaluations of the batch in progress; not a hash at 0%."""
    import torch

    from scorebench import distributed
    from scorebench.cells import make_cell
    from scorebench.runs import RunDir
    from scorebench.workflow import sample_cells

    class Bar:
        def __init__(self):
            self.calls = []

        def add_task(self, description, **fields):
            self.calls.append(("add", description, fields))
            return 0

        def advance(self, task, k):
            self.calls.append(("advance", k))

        def update(self, task, **fields):
            self.calls.append(("update", fields))

        def remove_task(self, task):
            pass

    cell = make_cell(
        RunDir(damaged),
        ["sample.sampler.name=pf_heun", "sample.sampler.params.steps=3", "sample.n=6",
         "sample.batch_size=4"],
    )  # fmt: skip
    bar = Bar()
    sample_cells([cell], distributed.Dist(), torch.device("cpu"), bar)
    (add, *rest) = bar.calls
    assert add[:2] == ("add", "sampling pf_heun (steps=3)") and add[2]["total"] == 6
    assert [c[1] for c in rest if c[0] == "advance"] == [4, 2]  # per batch
    assert {"detail": "5 NFE"} in [c[1] for c in rest if c[0] == "update"]  # Heun: 2n - 1
    # The run's own sampler with one parameter changed (a bench's grid): only that one.
    own = make_cell(RunDir(damaged), ["sample.sampler.params.steps_per_level=1", "sample.n=2"])
    bar = Bar()
    sample_cells([own], distributed.Dist(), torch.device("cpu"), bar)
    assert bar.calls[0][1] == "sampling annealed_langevin (steps_per_level=1)"
