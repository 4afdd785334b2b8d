"""A self-contained HTML report (Jinja2 template ``templates/report.html.j2``): per protocol
the leaderboard, the quality-vs-NFE plot and a sample grid per cell; per run its training
curves."""

from __future__ import annotations

import base64
import json
import math
import warnings
from pathlib import Path
from typing import Any

from scorebench.files import read_jsonl
from scorebench.report import leaderboard, plots


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _group_view(g: dict[str, Any]) -> dict[str, Any]:
    heads, rows = leaderboard.table(g)
    nfe_plot = plots.quality_vs_nfe(g)
    grids = []
    for r in g["rows"]:
        grid = Path(r["grid"]) if r.get("grid") else None
        if grid is not None and grid.is_file():
            label = f"{leaderboard.row_label(r)} / {r.get('sampler_label', r['sampler'])}"
            grids.append({"label": label, "src": data_uri(plots.upscaled(grid.read_bytes()))})
    return {
        "group": g,
        "heads": heads,
        "rows": rows,
        "nfe_plot": data_uri(nfe_plot) if nfe_plot else None,
        "grids": grids,
    }


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _run_view(run: Path) -> dict[str, Any]:
    """A run's training-loss curve and checkpoint-selection curve; rows or files a reader
    cannot plot are left out with a warning (the report is derived, the run is not touched)."""
    view: dict[str, Any] = {"path": str(run), "plots": []}
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if "loss" in r]
    records = [r for r in rows if _number(r.get("step")) and _number(r["loss"]) and r["loss"] > 0]
    if len(records) < len(rows):
        warnings.warn(
            f"{run / 'metrics.jsonl'}: left {len(rows) - len(records)} bad row(s) out of the loss plot",
            stacklevel=2,
        )
    if records:
        png = plots.curve(
            [r["step"] for r in records], [r["loss"] for r in records], "training loss", log=True
        )
        view["plots"].append(("training loss", data_uri(png)))
    selection = run / "selection.json"
    if selection.is_file():  # metric vs training step from checkpoint selection
        try:
            chosen = json.loads(selection.read_bytes())
            steps = sorted(chosen["values"], key=int)
            values = [float(chosen["values"][s]) for s in steps]
            title = f"{chosen['metric']} (n={chosen['n']})"
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            warnings.warn(f"{selection} is damaged ({exc}); its plot is left out", stacklevel=2)
        else:
            png = plots.curve([int(s) for s in steps], values, title, log=False)
            view["plots"].append((f"{chosen['metric']} vs training step", data_uri(png)))
    return view


def render(board: dict[str, Any], run_dirs: list[Path]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("scorebench.report", "templates"),
        autoescape=select_autoescape(default=True),
    )
    return env.get_template("report.html.j2").render(
        groups=[_group_view(g) for g in board["groups"]],
        runs=[_run_view(Path(r)) for r in run_dirs],
    )


def nfe_plots(board: dict[str, Any]) -> dict[str, bytes]:
    """``quality-vs-nfe-<fingerprint>.png`` files for the groups that have one."""
    out = {}
    for g in board["groups"]:
        png = plots.quality_vs_nfe(g)
        if png:
            out[f"quality-vs-nfe-{g['fingerprint'].replace(':', '-')}.png"] = png
    return out
